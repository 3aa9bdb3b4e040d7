"""The channel package of van Steen & Tanenbaum's Distributed Systems, for Python 3 and
redis-py >= 3, written from its documented Redis layout (DS3 channel.py; the vs2lab port's
atomic join). trousers' Node Channel shares groups with it.

Layout: 'members' (set), one set per subgroup, "['<sender>', '<receiver>']" lists of pickled
messages (RPUSH, then one BLPOP over the ordered keys), 'xchan' pickled pairs on join.
"""

import pickle
import random

import redis


class Channel(object):
    def __init__(self, nBits=5, hostIP='localhost', portNo=6379, unix=None):
        if unix:
            self.channel = redis.StrictRedis(unix_socket_path=unix)
        else:
            self.channel = redis.StrictRedis(host=hostIP, port=portNo)
        self.MAXPROC = 2 ** nBits
        self.pid = None

    def join(self, subgroup):
        with self.channel.pipeline() as p:
            while True:
                try:
                    p.watch('members')
                    members = [m.decode() for m in p.smembers('members')]
                    free = sorted(set(str(i) for i in range(self.MAXPROC)) - set(members))
                    if not free:
                        raise RuntimeError('group full')
                    new = random.choice(free)
                    p.multi()
                    for other in members:
                        p.rpush('xchan', pickle.dumps([new, other]))
                        p.rpush('xchan', pickle.dumps([other, new]))
                    p.sadd('members', new)
                    p.sadd(subgroup, new)
                    p.execute()
                    if self.pid is None:
                        self.pid = new
                    return new
                except redis.WatchError:
                    continue

    def bind(self, pid):
        self.pid = str(pid)

    def exists(self, pid):
        return bool(self.channel.sismember('members', str(pid)))

    def subgroup(self, name):
        return [m.decode() for m in self.channel.smembers(name)]

    def leave(self, subgroup):
        me = self.pid
        for entry in self.channel.lrange('xchan', 0, -1):
            if me in pickle.loads(entry):
                self.channel.lrem('xchan', 0, entry)
        self.channel.srem('members', me)
        self.channel.srem(subgroup, me)
        self.pid = None

    def sendTo(self, destinationSet, message):
        assert self.channel.sismember('members', self.pid), 'caller not joined'
        data = pickle.dumps(message)
        for i in destinationSet:
            assert self.channel.sismember('members', str(i)), 'destination not joined'
            self.channel.rpush(str([self.pid, str(i)]), data)

    def sendToAll(self, message):
        assert self.channel.sismember('members', self.pid), 'caller not joined'
        data = pickle.dumps(message)
        for i in self.channel.smembers('members'):
            self.channel.rpush(str([self.pid, i.decode()]), data)

    def _recv(self, senders, timeout):
        keys = [str([str(s), self.pid]) for s in senders]
        reply = self.channel.blpop(keys, timeout)
        if reply is None:
            return None
        return [reply[0].decode().split("'")[1], pickle.loads(reply[1])]

    def recvFromAny(self, timeout=0):
        assert self.channel.sismember('members', self.pid), 'caller not joined'
        return self._recv([m.decode() for m in self.channel.smembers('members')], timeout)

    def recvFrom(self, senderSet, timeout=0):
        assert self.channel.sismember('members', self.pid), 'caller not joined'
        for s in senderSet:
            assert self.channel.sismember('members', str(s)), 'sender not joined'
        return self._recv(senderSet, timeout)
