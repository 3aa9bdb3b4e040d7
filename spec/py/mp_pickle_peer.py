"""A peer for trousers' `codec: 'pickle'` spec: multiprocessing.connection's own send/recv
(pickle) as a Listener or a Client. Runs unchanged on Python 2.7 and 3.x.

    mp_pickle_peer.py listen  ADDR KEY     accept one connection, serve it, exit
    mp_pickle_peer.py connect ADDR KEY     connect, serve, exit

ADDR is host:port (port 0: any) or a Unix socket path; KEY is the authkey in hex or '-'.
Prints `READY <version> <address>` (listen) / `READY <version>` (connect), then `DONE`.

Requests are Python objects received with conn.recv(); every reply goes out with conn.send()
(so in the interpreter's own default protocol: 2 on 2.7, 3 on 3.0-3.7, 4 on 3.8+):
    ('check', name, value)  -> ('ok', name) or ('fail', name, reason): value compared with
                               corpus item `name` (spec/py/pickle_peer.py)
    ('echo', value)         -> value
    ('corpus', name)        -> corpus item `name`
    ('all', name, value)    -> (the 'check' reply, value, corpus item `name`) in one message
    ('bye',)                -> 'bye', then close and exit
"""
from __future__ import print_function, unicode_literals

import binascii
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from multiprocessing.connection import Client, Listener  # noqa: E402

from pickle_peer import corpus, same  # noqa: E402
from mp_peer import say, watchdog  # noqa: E402  (the plain peer's stdout and watchdog helpers)


def parse_addr(text):
    if not text.startswith('/') and ':' in text:
        host, port = text.rsplit(':', 1)
        return (str(host), int(port))
    return str(text)


def parse_key(text):
    return None if text == '-' else binascii.unhexlify(text.encode('ascii'))


def serve(conn):
    table = dict(corpus())
    while True:
        request = conn.recv()
        verb = request[0]
        if verb == 'check':
            name, value = request[1], request[2]
            why = same(value, table[name], {}, {})
            conn.send(('fail', name, why) if why else ('ok', name))
        elif verb == 'all':
            name, value = request[1], request[2]
            why = same(value, table[name], {}, {})
            conn.send((('fail', name, why) if why else ('ok', name), value, table[name]))
        elif verb == 'echo':
            conn.send(request[1])
        elif verb == 'corpus':
            conn.send(table[request[1]])
        elif verb == 'bye':
            conn.send('bye')
            conn.close()
            return
        else:
            conn.send(('fail', 'request', 'unknown verb %r' % (verb,)))


def main(argv):
    watchdog()
    mode, addr, key = argv[0], parse_addr(argv[1]), parse_key(argv[2])
    version = sys.version.split()[0]
    if mode == 'listen':
        listener = Listener(addr, authkey=key)
        a = listener.address
        say('READY', version, '%s %d' % a if isinstance(a, tuple) else a)
        conn = listener.accept()
        serve(conn)
        listener.close()
    else:
        say('READY', version)
        conn = Client(addr, authkey=key)
        serve(conn)
    say('DONE')
    os._exit(0)


if __name__ == '__main__':
    main(sys.argv[1:])
