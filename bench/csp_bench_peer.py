"""
pycsp 0.9.2 side of bench/csp_bench.ts. Prints `RESULT <ops> <seconds>`.

    python csp_bench_peer.py local N            # writer and reader processes (threads), one interpreter
    python csp_bench_peer.py host N BUFFER [K]  # hosts and reads with K reader processes; prints READY <port> first
    python csp_bench_peer.py writer PORT N [K]  # writes N into the channel hosted at PORT with K writer processes
    python csp_bench_peer.py alt N              # an alternating reader over two channels, two writers
"""
from __future__ import print_function
import sys
import time
from pycsp.parallel import *

mode = sys.argv[1]


def out(*w):
    print(*w)
    sys.stdout.flush()


@process
def writer(cout, n):
    for i in range(n):
        cout(i)
    retire(cout)


@process
def reader(cin, n, box):
    cin()
    t = time.time()
    for _ in range(n - 1):
        cin()
    box.append(time.time() - t)


@process
def alt_reader(a, b, n, box):
    AltSelect(InputGuard(a), InputGuard(b))
    t = time.time()
    for _ in range(n - 1):
        AltSelect(InputGuard(a), InputGuard(b))
    box.append(time.time() - t)
    retire(a, b)


if mode == 'local':
    n = int(sys.argv[2])
    C = Channel('bench')
    box = []
    Parallel(writer(C.writer(), n), reader(C.reader(), n, box))
    out('RESULT', n - 1, box[0])
elif mode == 'host':
    n = int(sys.argv[2])
    k = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    C = Channel('bench', buffer=int(sys.argv[3]))
    out('READY', C.address[1])
    stamps = []

    @process
    def until_retired(cin):
        try:
            while True:
                cin()
                stamps.append(time.time())
        except ChannelRetireException:
            pass

    Parallel(*[until_retired(C.reader()) for _ in range(k)])
    out('RESULT', len(stamps) - 1, max(stamps) - min(stamps))
elif mode == 'writer':
    C = Channel('bench', connect=('127.0.0.1', int(sys.argv[2])))
    n = int(sys.argv[3])
    k = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    Parallel(*[writer(C.writer(), n // k) for _ in range(k)])
elif mode == 'alt':
    n = int(sys.argv[2])
    A = Channel('a')
    B = Channel('b')
    box = []
    Parallel(writer(A.writer(), n), writer(B.writer(), n), alt_reader(A.reader(), B.reader(), n, box))
    out('RESULT', n - 1, box[0])
shutdown()
