"""asyncio Protocol bench servers (stdlib only).

    python3 asyncio_servers.py echo|line|frame|udp PORT|PATH [HOST]

Prints ``LISTENING <port>`` (or ``LISTENING <path>``) when ready; runs until SIGTERM /
SIGINT or until stdin is closed.

Written the way a competent asyncio user would: ``asyncio.Protocol`` (no streams layer),
partial lines/frames buffered across ``data_received`` calls, the replies produced by one
``data_received`` call joined into one ``transport.write``, reading paused while the
transport's write buffer is over its high-water mark. asyncio already sets TCP_NODELAY on
TCP transports.
"""

import asyncio
import os
import signal
import struct
import sys

MAX_LINE = 64 * 1024
MAX_FRAME = 16 * 1024 * 1024
HEADER = struct.Struct("!I")


class _Backpressure(asyncio.Protocol):
    transport = None

    def connection_made(self, transport):
        self.transport = transport

    def pause_writing(self):
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()


class Echo(_Backpressure):
    def data_received(self, data):
        self.transport.write(data)


class Line(_Backpressure):
    def connection_made(self, transport):
        super().connection_made(transport)
        self.buffer = b""

    def on_line(self, line, replies):
        replies.append(line)
        replies.append(b"\r\n")

    def data_received(self, data):
        buf = self.buffer + data if self.buffer else data
        replies = []
        start = 0
        i = buf.find(b"\r\n")
        while i != -1:
            self.on_line(buf[start:i], replies)
            start = i + 2
            i = buf.find(b"\r\n", start)
        self.buffer = buf[start:]
        if len(self.buffer) > MAX_LINE:
            self.transport.abort()
            return
        if replies:
            self.transport.write(b"".join(replies))


class Frame(_Backpressure):
    def connection_made(self, transport):
        super().connection_made(transport)
        self.buffer = b""

    def on_frame(self, payload, replies):
        replies.append(HEADER.pack(len(payload)))
        replies.append(payload)

    def data_received(self, data):
        buf = self.buffer + data if self.buffer else data
        replies = []
        off = 0
        n = len(buf)
        while n - off >= 4:
            (length,) = HEADER.unpack_from(buf, off)
            if length > MAX_FRAME:
                self.transport.abort()
                return
            if n - off - 4 < length:
                break
            self.on_frame(buf[off + 4 : off + 4 + length], replies)
            off += 4 + length
        self.buffer = buf[off:]
        if replies:
            self.transport.write(b"".join(replies))


class UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)

    def error_received(self, exc):
        pass


PROTOCOLS = {"echo": Echo, "line": Line, "frame": Frame}


async def main(kind, target, host):
    loop = asyncio.get_running_loop()
    if kind == "udp":
        transport, _ = await loop.create_datagram_endpoint(UdpEcho, local_addr=(host, int(target)))
        where = transport.get_extra_info("sockname")[1]
        closer = transport.close
    elif target.isdigit():
        server = await loop.create_server(PROTOCOLS[kind], host, int(target), backlog=4096)
        where = server.sockets[0].getsockname()[1]
        closer = server.close
    else:
        server = await loop.create_unix_server(PROTOCOLS[kind], target, backlog=4096)
        where = target
        closer = server.close
    sys.stdout.write(f"LISTENING {where}\n")
    sys.stdout.flush()
    stop = loop.create_future()

    def done(*_):
        if not stop.done():
            stop.set_result(None)

    loop.add_signal_handler(signal.SIGTERM, done)
    loop.add_signal_handler(signal.SIGINT, done)

    def stdin_readable():
        try:
            if not os.read(0, 4096):
                loop.remove_reader(0)
                done()
        except OSError:
            loop.remove_reader(0)
            done()

    try:
        loop.add_reader(0, stdin_readable)
    except (OSError, ValueError, PermissionError):
        pass  # stdin is a regular file or closed: signals only
    await stop
    closer()


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("echo", "line", "frame", "udp"):
        sys.stderr.write("usage: asyncio_servers.py echo|line|frame|udp PORT|PATH [HOST]\n")
        sys.exit(2)
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"))
