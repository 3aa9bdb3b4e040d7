"""The modern (Python >= 3.12) multiprocessing.connection handshake, spoken by
hand with `hmac` over a raw socket, so that trousers meets it even where the
machine's Python is older. Python 3 only.

    modern_peer.py listen  ADDR KEY CHALLENGE REPLY
    modern_peer.py connect ADDR KEY CHALLENGE REPLY

CHALLENGE is the digest named in our challenge ('{sha256}' + 40 random bytes),
or 'legacy' for a bare 20-byte challenge. REPLY is the digest used to answer
the other side's challenge: a digest name, 'named' (the digest the challenge
names, as Python 3.12 does) or 'bare-md5' (a bare 16-byte HMAC-MD5, as Python
<= 3.11 does). After the handshake: echo messages until the peer closes.

A listener does: deliver challenge, answer challenge; a client the reverse.
Prints READY, then AUTHOK or AUTHFAIL <why>, then ECHOED <n> and exits.
"""
import hmac
import os
import socket
import struct
import sys
import threading

ALLOWED = {'md5', 'sha256', 'sha384', 'sha3_256', 'sha3_384'}


class AuthFail(Exception):
    pass


def say(*words):
    print(*words, flush=True)


def recv_exact(sock, n):
    data = b''
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError('end of stream after %d of %d bytes' % (len(data), n))
        data += chunk
    return data


def recv_msg(sock, maxlength=None):
    size, = struct.unpack('!i', recv_exact(sock, 4))
    if size == -1:
        size, = struct.unpack('!Q', recv_exact(sock, 8))
    if maxlength is not None and size > maxlength:
        raise AuthFail('message too long: %d' % size)
    return recv_exact(sock, size)


def send_msg(sock, data):
    sock.sendall(struct.pack('!i', len(data)) + data)


def split(message):
    if len(message) in (16, 20):
        return '', message
    if message.startswith(b'{'):
        end = message.find(b'}', 1, 10)
        if end > 1 and message[1:end].decode('ascii') in ALLOWED:
            return message[1:end].decode('ascii'), message[end + 1:]
    raise AuthFail('bad digest prefix')


def deliver(sock, key, challenge):
    if challenge == 'legacy':
        message = os.urandom(20)
    else:
        message = b'{' + challenge.encode('ascii') + b'}' + os.urandom(40)
    send_msg(sock, b'#CHALLENGE#' + message)
    reply = recv_msg(sock, 256)
    digest, mac = split(reply)
    if challenge not in ('legacy', digest or 'md5'):
        # trousers must answer with the digest our challenge named
        send_msg(sock, b'#FAILURE#')
        raise AuthFail('reply used %s, challenge named %s' % (digest or 'bare-md5', challenge))
    expected = hmac.new(key, message, digest or 'md5').digest()
    if not hmac.compare_digest(expected, mac):
        send_msg(sock, b'#FAILURE#')
        raise AuthFail('wrong digest')
    send_msg(sock, b'#WELCOME#')


def answer(sock, key, reply):
    message = recv_msg(sock, 256)
    if not message.startswith(b'#CHALLENGE#'):
        raise AuthFail('no challenge')
    message = message[len(b'#CHALLENGE#'):]
    named, _ = split(message)
    if named == '':
        raise AuthFail('trousers sent a legacy challenge')
    if reply == 'bare-md5':
        response = hmac.new(key, message, 'md5').digest()
    else:
        digest = named if reply == 'named' else reply
        response = b'{' + digest.encode('ascii') + b'}' + hmac.new(key, message, digest).digest()
    send_msg(sock, response)
    if recv_msg(sock, 256) != b'#WELCOME#':
        raise AuthFail('digest sent was rejected')


def echo(sock):
    n = 0
    while True:
        try:
            msg = recv_msg(sock)
        except EOFError:
            return n
        send_msg(sock, msg)
        n += 1


def main(argv):
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(3)), daemon=True).start()
    t = threading.Timer(60.0, lambda: os._exit(4))
    t.daemon = True
    t.start()
    mode, addr, key, challenge, reply = argv
    key = bytes.fromhex(key)
    family = socket.AF_UNIX if addr.startswith('/') else socket.AF_INET
    if family == socket.AF_INET:
        host, port = addr.rsplit(':', 1)
        addr = (host, int(port))
    sock = socket.socket(family, socket.SOCK_STREAM)
    if mode == 'listen':
        sock.bind(addr)
        sock.listen(1)
        bound = sock.getsockname()
        say('READY', *(bound if isinstance(bound, tuple) else (bound,)))
        conn, _ = sock.accept()
    else:
        say('READY')
        sock.connect(addr)
        conn = sock
    try:
        if mode == 'listen':
            deliver(conn, key, challenge)
            answer(conn, key, reply)
        else:
            answer(conn, key, reply)
            deliver(conn, key, challenge)
    except (AuthFail, EOFError) as e:
        say('AUTHFAIL', type(e).__name__, str(e).replace('\n', ' '))
        conn.close()
        os._exit(0)
    say('AUTHOK')
    say('ECHOED', echo(conn))
    conn.close()
    os._exit(0)


if __name__ == '__main__':
    main(sys.argv[1:])
