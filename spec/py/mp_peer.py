"""A peer for trousers' connection specs: the standard library's
multiprocessing.connection, as a Listener or a Client, answering commands.

Runs unchanged on Python 2.7 and 3.x. Synchronises with the spec through stdout
lines (READY, AUTHFAIL, EOF, DONE, ...), never through sleeps; exits when stdin
closes (the spec died) or after 120 s whatever happens.

    mp_peer.py listen  ADDR KEY          one Listener; serve connections until 'X'
    mp_peer.py connect ADDR KEY [ADDR KEY ...]   one Client after the other

ADDR is host:port (port 0: any) or a Unix socket path; KEY is the authkey in
hex, or '-' for none.

Commands, by a message's first byte (any other message, the empty one
included, is echoed):
    E<payload>   send <payload> back
    H<payload>   send the sha256 hex digest of <payload>
    G<!II count, size>   send count random messages of size bytes, then one
                 message with their sha256 digests end to end
    K            close the connection (an end of stream at a message boundary)
    X            send BYE, close, and exit
"""
from __future__ import print_function

import binascii
import hashlib
import os
import struct
import sys
import threading

from multiprocessing.connection import Client, Listener

try:
    from multiprocessing import AuthenticationError
except ImportError:  # pragma: no cover
    from multiprocessing.connection import AuthenticationError


def say(*words):
    sys.stdout.write(' '.join(str(w) for w in words) + '\n')
    sys.stdout.flush()


def watchdog():
    def on_stdin_closed():
        try:
            sys.stdin.read()
        finally:
            os._exit(3)
    t = threading.Thread(target=on_stdin_closed)
    t.daemon = True
    t.start()
    timer = threading.Timer(120.0, lambda: os._exit(4))
    timer.daemon = True
    timer.start()


def parse_addr(text):
    if not text.startswith('/') and ':' in text:
        host, port = text.rsplit(':', 1)
        return (host, int(port))
    return text


def parse_key(text):
    return None if text == '-' else binascii.unhexlify(text.encode('ascii'))


def show_addr(addr):
    if isinstance(addr, tuple):
        return '%s %d' % (addr[0], addr[1])
    return addr


def serve(conn):
    """Answers commands until the peer closes; returns why it stopped."""
    while True:
        try:
            msg = conn.recv_bytes()
        except EOFError:
            conn.close()
            return 'EOF'
        cmd, body = msg[:1], msg[1:]
        if cmd == b'E':
            conn.send_bytes(body)
        elif cmd == b'H':
            conn.send_bytes(hashlib.sha256(body).hexdigest().encode('ascii'))
        elif cmd == b'G':
            count, size = struct.unpack('!II', body[:8])
            digests = []
            for _ in range(count):
                data = os.urandom(size)
                digests.append(hashlib.sha256(data).digest())
                conn.send_bytes(data)
            conn.send_bytes(b''.join(digests))
        elif cmd == b'K':
            conn.close()
            return 'CLOSED'
        elif cmd == b'X':
            conn.send_bytes(b'BYE')
            conn.close()
            return 'EXIT'
        else:
            conn.send_bytes(msg)


def run_listener(addr, key):
    listener = Listener(addr, authkey=key)
    say('READY', sys.version.split()[0], show_addr(listener.address))
    while True:
        try:
            conn = listener.accept()
        except AuthenticationError as e:
            say('AUTHFAIL', type(e).__name__)
            continue
        except (EOFError, IOError, OSError) as e:
            say('ACCEPTFAIL', type(e).__name__)
            continue
        say('ACCEPTED')
        why = serve(conn)
        say(why)
        if why == 'EXIT':
            break
    listener.close()


def run_clients(pairs):
    say('READY', sys.version.split()[0])
    for addr, key in pairs:
        try:
            conn = Client(addr, authkey=key)
        except AuthenticationError as e:
            say('AUTHFAIL', type(e).__name__)
            continue
        say('CONNECTED')
        say(serve(conn))
    say('DONE')


def main(argv):
    watchdog()
    mode, rest = argv[0], argv[1:]
    if mode == 'listen':
        run_listener(parse_addr(rest[0]), parse_key(rest[1]))
    elif mode == 'connect':
        pairs = [(parse_addr(rest[i]), parse_key(rest[i + 1])) for i in range(0, len(rest), 2)]
        run_clients(pairs)
    else:
        raise SystemExit('usage: mp_peer.py listen|connect ...')
    sys.stdout.flush()
    os._exit(0)


if __name__ == '__main__':
    main(sys.argv[1:])
