"""The Python side of bench/connection_bench.ts: multiprocessing.connection
moving messages as fast as it can, standard library only.

    connection_bench_peer.py recv                  listen on 127.0.0.1, print READY <port>,
                                                    count messages until an empty one,
                                                    print RESULT <count> <bytes> <seconds>
    connection_bench_peer.py send PORT SIZE SECONDS  send SIZE-byte messages for SECONDS,
                                                    then an empty message
"""
import os
import sys
import time
from multiprocessing.connection import Client, Listener


def recv():
    listener = Listener(('127.0.0.1', 0))
    print('READY %d' % listener.address[1])
    sys.stdout.flush()
    conn = listener.accept()
    first = conn.recv_bytes()
    start = time.perf_counter()
    count, nbytes = 1, len(first)
    while True:
        m = conn.recv_bytes()
        if not m:
            break
        count += 1
        nbytes += len(m)
    elapsed = time.perf_counter() - start
    conn.send_bytes(b'ok')
    print('RESULT %d %d %.6f' % (count, nbytes, elapsed))
    sys.stdout.flush()
    conn.close()
    listener.close()


def send(port, size, seconds):
    conn = Client(('127.0.0.1', port))
    payload = os.urandom(size)
    end = time.perf_counter() + seconds
    batch = 256 if size <= 4096 else 1
    while time.perf_counter() < end:
        for _ in range(batch):
            conn.send_bytes(payload)
    conn.send_bytes(b'')
    conn.recv_bytes()
    conn.close()


if __name__ == '__main__':
    if sys.argv[1] == 'recv':
        recv()
    else:
        send(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
