"""
The Python producer of examples/csp_worker_pool.ts: feeds jobs into a channel hosted by a
Node process and collects the results from another, with pycsp 0.9.2.

    PYTHONPATH=<pycsp> PYCSP_HOST=127.0.0.1 python3 csp_producer.py <host> <port> [jobs]
"""
from __future__ import print_function
import sys
from pycsp.parallel import *

host, port = sys.argv[1], int(sys.argv[2])
count = int(sys.argv[3]) if len(sys.argv) > 3 else 20


@process
def feed(jobs, n):
    for i in range(n):
        jobs((i, u'job number %d' % i))
    retire(jobs)


@process
def collect(results, n, box):
    for _ in range(n):
        box.append(results())
    retire(results)


jobs = Channel('jobs', connect=(host, port))
results = Channel('results', connect=(host, port))
box = []
Parallel(feed(jobs.writer(), count), collect(results.reader(), count, box))
workers = set(r[2] for r in box)
print('python: %d results from %d Node worker processes; first: %r' % (len(box), len(workers), sorted(box)[0][1]))
shutdown()
