"""Python's C pickle on the bytes trousers' pickle benchmark made (bench/pickle_bench.ts).

    python3 pickle_bench_peer.py FILE SECONDS

FILE holds pickles, each as a 4-byte big-endian length and the bytes: first the count of
small messages as one pickle (an int), then the small messages, then the large message.
The peer first prints one JSON line describing itself and the data:
{"version": ..., "executable": ..., "small": {"count": n, "bytes": b, "dumps_bytes": b2}, "large": {...}}
then serves rounds, so that the benchmark can interleave them with its own and both sides
run under the same load: for each line read from stdin (`small loads`, `small dumps`,
`large loads`, `large dumps`) it times one round of about SECONDS of pickle.loads of the
same bytes, or pickle.dumps (protocol 2) of the values loaded, and prints the items per
second. It exits at the end of its input. Works on Python 2.7 and 3.
"""
import json
import pickle
import struct
import sys
import time

clock = getattr(time, 'perf_counter', time.time)


def read_all(path):
    with open(path, 'rb') as f:
        data = f.read()
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from('!I', data, pos)
        out.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def one_round(fn, items, seconds):
    """Items per second over one round repeating fn over items for about `seconds`."""
    done, start = 0, clock()
    while True:
        fn(items)
        done += len(items)
        elapsed = clock() - start
        if elapsed >= seconds:
            return done / elapsed


def main():
    path, seconds = sys.argv[1], float(sys.argv[2])
    pickles = read_all(path)
    count = pickle.loads(pickles[0])
    raw = {'small': pickles[1:1 + count], 'large': pickles[1 + count:]}
    loads, dumps = pickle.loads, pickle.dumps
    values = dict((name, [loads(p) for p in items]) for name, items in raw.items())

    def load_all(items):
        for p in items:
            loads(p)

    def dump_all(items):
        for v in items:
            dumps(v, 2)

    info = {'version': sys.version.split()[0], 'executable': sys.executable}
    for name in ('small', 'large'):
        info[name] = {
            'count': len(raw[name]),
            'bytes': sum(len(p) for p in raw[name]),
            'dumps_bytes': sum(len(dumps(v, 2)) for v in values[name]),
        }
        load_all(raw[name])  # warm up
        dump_all(values[name])
    sys.stdout.write(json.dumps(info) + '\n')
    sys.stdout.flush()
    for line in iter(sys.stdin.readline, ''):
        name, what = line.split()
        if what == 'loads':
            rate = one_round(load_all, raw[name], seconds)
        else:
            rate = one_round(dump_all, values[name], seconds)
        sys.stdout.write('%r\n' % rate)
        sys.stdout.flush()


if __name__ == '__main__':
    main()
