"""
The real pycsp 0.9.2 (pycsp.parallel) as a peer of trousers/csp specs.

    python csp_peer.py <mode> <node_host> <node_port>

Prints `READY <host> <port>` once its own channels exist, `RESULT <name> <value>` lines,
and `DONE` after shutdown(). Modes:

  host  (any Python): hosts PA (read) and PB (buffered, write) and doubles PA into PB until
        retired; three writer processes write into the Node-hosted NA; a stage reads the
        Node-hosted NP and forwards into the Node-hosted NQ until poisoned (the poison
        propagates to NQ); sends a writing end of its PM over the Node-hosted NE and prints
        what Node wrote through it; takes a Node end from NR and writes through it.
  alt   (Python 2.7 or 3.6-3.9): hosts XA and XB, written by two writer processes, which
        Node reads by alternation; alternates itself over the Node-hosted YA and YB; offers
        an output guard on the Node-hosted YC against a skip guard.
"""
from __future__ import print_function
import sys
from pycsp.parallel import *

mode = sys.argv[1]
node = (sys.argv[2], int(sys.argv[3]))


def out(*words):
    print(*words)
    sys.stdout.flush()


def addr_of(ch):
    host = ch.address[0]
    if isinstance(host, bytes):
        host = host.decode()
    return host, ch.address[1]


@process
def doubler(cin, cout):
    while True:
        cout(cin() * 2)


@process
def writer(cout, start, n):
    for i in range(start, start + n):
        cout({'from': 'python', 'i': i, 'tuple': (i, float(i) / 2), 'text': u'\u00e6\u00f8\u00e5'})
    retire(cout)


@process
def stage(cin, cout):
    while True:
        cout(cin() + 1)


@process
def mobile(ne, pm, pm_in):
    ne(pm.writer())  # a PyCSP channel end, pickled, to a channel hosted by Node
    out('RESULT mobile', pm_in())
    retire(ne, pm_in)


@process
def mobile_back(nr):
    end = nr()  # a Node channel end, pickled by trousers as pycsp pickles one
    end('from python through a node end')
    retire(end, nr)


@process
def py_alt(ya, yb, n):
    got = []
    for _ in range(n):
        g, msg = AltSelect(InputGuard(ya), InputGuard(yb))
        got.append(msg)
    out('RESULT altcount', len(got), len(set(got)), sum(got))
    retire(ya, yb)


@process
def py_outguard(yc):
    skipped = 0
    while True:
        g, msg = PriSelect(OutputGuard(yc, 'offered'), SkipGuard())
        if g == yc:
            break
        skipped += 1
        import time
        time.sleep(0.01)
    out('RESULT outguard ok')
    retire(yc)


if mode == 'host':
    PA = Channel('PA')
    PB = Channel('PB', buffer=2)
    h, p = addr_of(PA)
    out('READY', h, p)
    NA = Channel('NA', connect=node)
    NP = Channel('NP', connect=node)
    NQ = Channel('NQ', connect=node)
    NE = Channel('NE', connect=node)
    PM = Channel('PM')
    NR = Channel('NR', connect=node)
    Parallel(
        mobile_back(NR.reader()),
        mobile(NE.writer(), PM, PM.reader()),
        doubler(PA.reader(), PB.writer()),
        writer(NA.writer(), 0, 10),
        writer(NA.writer(), 100, 10),
        writer(NA.writer(), 200, 10),
        stage(NP.reader(), NQ.writer()),
    )
    out('RESULT host finished')
elif mode == 'alt':
    XA = Channel('XA')
    XB = Channel('XB')
    h, p = addr_of(XA)
    out('READY', h, p)
    YA = Channel('YA', connect=node)
    YB = Channel('YB', connect=node)
    YC = Channel('YC', connect=node)

    @process
    def ints(cout, start, n):
        for i in range(start, start + n):
            cout(i)
        retire(cout)

    Parallel(
        ints(XA.writer(), 0, 30),
        ints(XB.writer(), 1000, 30),
        py_alt(YA.reader(), YB.reader(), 40),
        py_outguard(YC.writer()),
    )
    out('RESULT alt finished')
shutdown()
out('DONE')
