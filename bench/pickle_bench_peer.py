"""Python's C pickle on the bytes trousers' pickle benchmark made (bench/pickle_bench.ts).

    python3 pickle_bench_peer.py FILE SECONDS [ROUNDS]

FILE holds pickles, each as a 4-byte big-endian length and the bytes: first the count of
small messages as one pickle (an int), then the small messages, then the large message.
For each case it times pickle.loads of the same bytes, and pickle.dumps (protocol 2) of the
values loaded, best of ROUNDS (default 3) rounds of about SECONDS each, and prints one JSON line:
{"version": ..., "small": {"loads": s_per_round, "dumps": ..., "count": n, "bytes": b}, "large": {...}}
"""
import json
import pickle
import struct
import sys
import time


def read_all(path):
    with open(path, 'rb') as f:
        data = f.read()
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from('!I', data, pos)
        out.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def best_rate(fn, items, seconds, rounds):
    """Items per second: the best of `rounds` rounds, each repeating fn over items for ~seconds."""
    best = 0.0
    for _ in range(rounds):
        done, start = 0, time.perf_counter()
        while True:
            fn(items)
            done += len(items)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        best = max(best, done / elapsed)
    return best


def main():
    path, seconds = sys.argv[1], float(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    pickles = read_all(path)
    count = pickle.loads(pickles[0])
    small, large = pickles[1:1 + count], pickles[1 + count:]
    loads, dumps = pickle.loads, pickle.dumps

    def load_all(items):
        for p in items:
            loads(p)

    small_values = [loads(p) for p in small]
    large_values = [loads(p) for p in large]

    def dump_all(values):
        for v in values:
            dumps(v, 2)

    result = {'version': sys.version.split()[0], 'executable': sys.executable}
    for name, raw, values in (('small', small, small_values), ('large', large, large_values)):
        result[name] = {
            'count': len(raw),
            'bytes': sum(len(p) for p in raw),
            'loads_per_s': best_rate(load_all, raw, seconds, rounds),
            'dumps_per_s': best_rate(dump_all, values, seconds, rounds),
            'dumps_bytes': sum(len(dumps(v, 2)) for v in values),
        }
    print(json.dumps(result))


if __name__ == '__main__':
    main()
