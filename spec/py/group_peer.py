"""A Python member of a trousers group, driven by group_python.spec.ts and redis_bench.ts.

usage: group_peer.py MODE ADDRESS [ARGS]   (ADDRESS: host:port or a Unix socket path)
  echo             join 'python', greet every 'node' member, echo ('echo', msg) until 'stop'
  race N           wait for the list 'go', then join N times, print the pids
  recv N           join 'recv', print the pid, wait for the list 'go', receive N messages, print the seconds
  send N PID       join 'send', send N messages to PID (waits for the list 'go' first)
"""

import sys
import time

import redis

from group_channel import Channel


def make(address):
    if ':' in address:
        host, port = address.rsplit(':', 1)
        return Channel(hostIP=host, portNo=int(port))
    return Channel(unix=address)


def main():
    mode, address = sys.argv[1], sys.argv[2]
    chan = make(address)
    if mode == 'echo':
        pid = chan.join('python')
        print('PID', pid, flush=True)
        greeting = {'from': 'python', 'big': 2 ** 70, 'bytes': b'\x00\xff', 'float': 1.5,
                    'tuple': (1, 'two'), 'none': None, 'flag': True, 'text': u'h\xe9llo'}
        chan.sendTo(chan.subgroup('node'), greeting)
        while True:
            sender, message = chan.recvFromAny()
            if message == 'stop':
                print('STOP', flush=True)
                return
            chan.sendTo([sender], ('echo', message))
    elif mode == 'race':
        n = int(sys.argv[3])
        print('READY', flush=True)
        chan.channel.blpop(['go'], 0)
        pids = [make(address).join('py') for _ in range(n)]
        print('PIDS', ' '.join(pids), flush=True)
    elif mode == 'recv':
        n = int(sys.argv[3])
        pid = chan.join('recv')
        print('PID', pid, flush=True)
        # Start receiving once the sender has joined: this channel, like the original,
        # snapshots the members when recvFromAny is called.
        chan.channel.blpop(['go'], 0)
        t0 = None
        for _ in range(n):
            chan.recvFromAny()
            if t0 is None:
                t0 = time.perf_counter()
        print('SECONDS', time.perf_counter() - t0, flush=True)
    elif mode == 'send':
        n, dest = int(sys.argv[3]), sys.argv[4]
        chan.join('send')
        print('READY', flush=True)
        chan.channel.blpop(['go'], 0)
        for i in range(n):
            chan.sendTo([dest], i)
        print('SENT', flush=True)
    else:
        sys.exit('unknown mode ' + mode)


if __name__ == '__main__':
    main()
