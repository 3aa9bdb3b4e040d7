"""Twisted bench servers, used only when ``import twisted`` works (the runner skips them
otherwise).

    python3 twisted_servers.py echo|line|frame|udp PORT [HOST]

Prints ``LISTENING <port>`` when ready; runs until SIGTERM / SIGINT or stdin EOF.
Idiomatic Twisted: ``Protocol`` for echo, ``LineReceiver`` for lines, ``Int32StringReceiver``
(4-byte big-endian length prefix) for frames, ``DatagramProtocol`` for UDP; the epoll reactor.
"""

import sys

from twisted.internet import epollreactor

epollreactor.install()

from twisted.internet import protocol, reactor  # noqa: E402
from twisted.internet.stdio import StandardIO  # noqa: E402
from twisted.protocols.basic import Int32StringReceiver, LineReceiver  # noqa: E402


class Echo(protocol.Protocol):
    def connectionMade(self):
        self.transport.setTcpNoDelay(True)

    def dataReceived(self, data):
        self.transport.write(data)


class Line(LineReceiver):
    delimiter = b"\r\n"
    MAX_LENGTH = 64 * 1024

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)

    def lineReceived(self, line):
        self.sendLine(line)


class Frame(Int32StringReceiver):
    MAX_LENGTH = 16 * 1024 * 1024

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)

    def stringReceived(self, string):
        self.sendString(string)


class UdpEcho(protocol.DatagramProtocol):
    def datagramReceived(self, data, addr):
        self.transport.write(data, addr)


class StopOnEOF(protocol.Protocol):
    def connectionLost(self, reason):
        if reactor.running:
            reactor.stop()


def main(kind, port, host):
    if kind == "udp":
        listening = reactor.listenUDP(port, UdpEcho(), interface=host)
    else:
        factory = protocol.Factory.forProtocol({"echo": Echo, "line": Line, "frame": Frame}[kind])
        listening = reactor.listenTCP(port, factory, backlog=4096, interface=host)
    sys.stdout.write(f"LISTENING {listening.getHost().port}\n")
    sys.stdout.flush()
    StandardIO(StopOnEOF(), stdout=2)
    reactor.run()  # installs SIGTERM / SIGINT handlers that stop the reactor


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("echo", "line", "frame", "udp"):
        sys.stderr.write("usage: twisted_servers.py echo|line|frame|udp PORT [HOST]\n")
        sys.exit(2)
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1")
