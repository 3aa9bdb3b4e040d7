# -*- coding: utf-8 -*-
"""A Python yoton peer for spec/yoton_python.spec.ts (Python 2.7 and 3.x).

    yoton_peer.py <yoton_dir> peer <node_port> <raw_port>
        connects to a Node context; echoes pub/sub (text, binary, object); serves req/rep;
        obeys commands sent on the 'ctl' text channel; prints what it sees.
    yoton_peer.py <yoton_dir> host <port>
        binds (at port, or port+1 for Debian's yoton), waits for a Node context, echoes.

Every line printed is one observation: "WORD value...". The event loop runs in the main
thread (signals, sync mode); the work runs in a thread.
"""
import os
import sys
import threading
import time

sys.path.insert(0, sys.argv[1])
import yoton  # noqa: E402

MODE = sys.argv[2]
LOCK = threading.Lock()


def say(*parts):
    with LOCK:
        text = u" ".join(u"%s" % (p,) for p in parts) + u"\n"
        if sys.version_info[0] == 2:
            sys.stdout.write(text.encode("utf-8"))
        else:
            sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.flush()


def hexid(n):
    return "%016x" % n


class Calc(yoton.RepChannel):
    def add(self, a, b):
        return a + b

    def boom(self):
        raise ValueError("python says no")

    def who(self):
        time.sleep(0.02)
        return "python"


def echo_loop(pairs, stop):
    while not stop.is_set():
        idle = True
        for sub, pub in pairs:
            m = sub.recv(False)
            if m:
                idle = False
                pub.send(m)
        if idle:
            time.sleep(0.003)


def peer():
    node_port, raw_port = int(sys.argv[3]), int(sys.argv[4])
    ct = yoton.Context()
    st = yoton.StateChannel(ct, "state")
    pairs = [
        (yoton.SubChannel(ct, "n2p"), yoton.PubChannel(ct, "p2n")),
        (yoton.SubChannel(ct, "n2p", yoton.BINARY), yoton.PubChannel(ct, "p2n", yoton.BINARY)),
        (yoton.SubChannel(ct, "n2p", yoton.OBJECT), yoton.PubChannel(ct, "p2n", yoton.OBJECT)),
    ]
    ctl = yoton.SubChannel(ct, "ctl")
    chain = yoton.SubChannel(ct, "chain")
    sync_sub = yoton.SubChannel(ct, "sync")
    sync_sub.set_sync_mode(True)
    sync_pub = yoton.PubChannel(ct, "sync2")
    rep = Calc(ct, "py-calc")
    rep.set_mode("thread")
    lb = Calc(ct, "lb")
    lb.set_mode("thread")
    req = yoton.ReqChannel(ct, "node-calc")
    late = yoton.ReqChannel(ct, "late")
    conn = ct.connect("localhost:%i" % node_port)

    def on_closed(c, reason):
        say("CLOSED", reason)
        yoton.stop_event_loop()

    conn.closed.bind(on_closed)
    say("CONNECTED", hexid(conn.id2), hexid(ct.id))
    pairs[0][1].send(u"Gr\u00fc\u00dfe aus Python \u2713")
    pairs[1][1].send(b"\x00\xffpy")
    pairs[2][1].send({u"name": u"Zo\u00eb", u"nums": [1, -2, 2 ** 40, 1.5], u"tup": (None, True, False), (1, 2): u"tuple key"})
    stop = threading.Event()
    threading.Thread(target=echo_loop, args=(pairs, stop)).start()

    def work():
        while True:
            cmd = ctl.recv(True)
            if cmd == "reqs":
                say("PYREQ add", req.add(3, 4).result(5.0))
                try:
                    req.boom().result(5.0)
                except Exception as e:
                    say("PYREQ boom", str(e).strip())
                try:
                    req.nosuch().result(5.0)
                except Exception as e:
                    say("PYREQ nosuch", str(e).strip())
            elif cmd == "late":
                f = late.add(20, 22)
                say("LATE_SENT")
                say("LATE", f.result(8.0))
            elif cmd == "state":
                say("STATE", st.recv())
            elif cmd == "syncsub":
                time.sleep(0.3)
                got = []
                while len(got) < 100:
                    m = sync_sub.recv(2.0)
                    if not m:
                        break
                    got.append(m)
                    time.sleep(0.002)
                say("SYNCSUB", len(got), got == [u"s%i" % i for i in range(100)])
            elif cmd == "syncpub":
                t0 = time.time()
                locked = False
                for i in range(100):
                    locked = locked or bool(sync_pub._is_send_locked)
                    sync_pub.send(u"q%i" % i)
                    time.sleep(0.005)
                say("SYNCPUB", locked, "%.2f" % (time.time() - t0))
            elif cmd == "bind":
                probe = __import__("socket").socket()
                probe.bind(("127.0.0.1", 0))
                free = probe.getsockname()[1]
                probe.close()
                c2 = ct.bind("localhost:%i" % (free - 1), max_tries=3)
                say("BOUND", c2.port1)
            elif cmd == "chain":
                got = []
                while True:
                    m = chain.recv(3.0)
                    if not m or m == "end":
                        break
                    got.append(m)
                say("CHAIN", len(got), len(set(got)))
            elif cmd == "raw":
                ct2 = yoton.Context()
                c3 = ct2.connect("localhost:%i" % raw_port)
                c3.timedout.bind(lambda c, v: say("TIMEDOUT", v))
                c3.closed.bind(lambda c, r: say("RAWCLOSED", r))
                say("RAWCONNECTED")
            elif cmd == "bye" or not cmd:
                break
        stop.set()

    t = threading.Thread(target=work)
    t.daemon = True
    t.start()
    yoton.start_event_loop()
    stop.set()


def host():
    port = int(sys.argv[3])
    ct = yoton.Context()
    st = yoton.StateChannel(ct, "hstate")
    st.send(u"python-state")
    pub = yoton.PubChannel(ct, "hp2n")
    sub = yoton.SubChannel(ct, "hn2p")
    c = ct.bind("localhost:%i" % (port - 1), max_tries=3)
    say("BOUND", c.port1)

    def on_closed(conn, reason):
        say("CLOSED", reason)
        yoton.stop_event_loop()

    c.closed.bind(on_closed)

    def work():
        while not c.is_connected:
            time.sleep(0.005)
        say("HOSTED", hexid(c.id2))
        rs = yoton.RequestServer("localhost:0")
        rs.start()
        say("RS", rs._bsd_socket.getsockname()[1])
        pub.send(u"from the Python host \u2713")
        while c.is_connected:
            m = sub.recv(0.5)
            if m == "state?":
                say("STATE", st.recv())
            elif m.startswith("dorequest "):
                reply = yoton.do_request("localhost:%s" % m.split(" ")[1], "from python", 2.0)
                say("DOREQ", (reply or "").strip())
            elif m:
                pub.send(m[::-1])

    t = threading.Thread(target=work)
    t.daemon = True
    t.start()
    yoton.start_event_loop()


if MODE == "peer":
    peer()
elif MODE == "host":
    host()
say("EXIT")
os._exit(0)
