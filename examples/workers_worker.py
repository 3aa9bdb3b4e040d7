"""A Python worker for examples/workers.ts: standard library only.

It connects back to the Node server with multiprocessing.connection, proves it
knows the shared key (the key comes in the environment, never on the command
line), then takes jobs until it is told to stop (an empty message):

    job    (JSON bytes)  {"id": 7, "n": 100000}
    result (JSON bytes)  {"id": 7, "primes": 9592, "worker": 12345}

Runs on Python 2.7 and 3.x.
"""
import binascii
import json
import os
import sys
from multiprocessing.connection import Client


def count_primes(n):
    """Primes below n, by a plain sieve: something worth handing to a worker."""
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0] = sieve[1] = 0
    i = 2
    while i * i < n:
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(range(i * i, n, i)))
        i += 1
    return sum(sieve)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    authkey = binascii.unhexlify(os.environ['WORKER_AUTHKEY'].encode('ascii'))
    conn = Client((host, port), authkey=authkey)
    while True:
        job = conn.recv_bytes()
        if not job:
            break
        task = json.loads(job.decode('utf-8'))
        result = {'id': task['id'], 'primes': count_primes(task['n']), 'worker': os.getpid()}
        conn.send_bytes(json.dumps(result).encode('utf-8'))
    conn.close()


if __name__ == '__main__':
    main()
