"""redis-py side of bench/redis_bench.ts (run with /usr/bin/python3, redis-py from Debian).

usage: redis_bench_peer.py MODE PORT N
  pipelined  N SETs in pipelines of 1000 (transaction=False); prints OPS <ops/s>
  single     N SETs one at a time; prints OPS <ops/s>
  pong       N times: BLPOP bench:ping, RPUSH bench:pong; (prints READY first)
  ping       N times: RPUSH bench:ping, BLPOP bench:pong; prints OPS <round trips/s>
"""

import sys
import time

import redis


def main():
    mode, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    r = redis.Redis(host='127.0.0.1', port=port)
    r.ping()
    if mode == 'pipelined':
        t = time.perf_counter()
        done = 0
        while done < n:
            p = r.pipeline(transaction=False)
            for i in range(min(1000, n - done)):
                p.set('bench:key:%d' % (i % 1000), 'value')
            p.execute()
            done += 1000
        print('OPS', n / (time.perf_counter() - t), flush=True)
    elif mode == 'single':
        t = time.perf_counter()
        for i in range(n):
            r.set('bench:key:%d' % (i % 1000), 'value')
        print('OPS', n / (time.perf_counter() - t), flush=True)
    elif mode == 'pong':
        print('READY', flush=True)
        for _ in range(n):
            r.blpop(['bench:ping'], 0)
            r.rpush('bench:pong', 'x')
    elif mode == 'ping':
        t = time.perf_counter()
        for _ in range(n):
            r.rpush('bench:ping', 'x')
            r.blpop(['bench:pong'], 0)
        print('OPS', n / (time.perf_counter() - t), flush=True)


if __name__ == '__main__':
    main()
