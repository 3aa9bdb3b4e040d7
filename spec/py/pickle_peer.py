"""The Python side of trousers' pickle interop spec. Runs unchanged on Python 2.7 and 3.x.

One process per interpreter does both directions:

1. It prints `PROTOCOLS <highest>`, then one line `P <name> <protocol> <hex>` per corpus
   item and protocol this interpreter writes with the C pickler, and one `Q ...` line with
   the pure-Python pickler (pickle on 2.7), then `DUMPED`.
2. It reads lines `<name> <protocol> <hex>` (pickles Node made) from stdin until `END`,
   unpickles each with the C unpickler and the pure-Python one (cPickle and pickle on 2.7),
   compares with its own corpus item (types, values, NaN and -0.0, shared and recursive
   references) and prints `OK <name> <protocol>` or `FAIL <name> <protocol> <why>`; then
   `CHECKED <count>` and exits. A line `R <index> <protocol> <hex>` instead is loaded and
   pickled again in <protocol>, printed as `R <index> <hex>` (a round trip of Node's random
   values through Python).

The corpus here and CORPUS in spec/pickle_live.spec.ts are the same values in the same order.
"""
from __future__ import print_function, unicode_literals

import binascii
import collections
import math
import os
import pickle
import sys
import threading

PY2 = sys.version_info[0] == 2
if PY2:
    import cPickle
    text_type = unicode  # noqa: F821
    bytes_type = str
    int_types = (int, long)  # noqa: F821
    c_loads = cPickle.loads
    py_loads = pickle.loads
    dumps = cPickle.dumps
    py_dumps = pickle.dumps
else:
    text_type = str
    bytes_type = bytes
    int_types = (int,)
    c_loads = pickle.loads
    py_loads = pickle._loads
    dumps = pickle.dumps
    py_dumps = pickle._dumps


def b(*codes):
    return bytes_type(bytearray(codes))


def corpus():
    items = []

    def add(name, value):
        items.append((name, value))

    add('none', None)
    add('true', True)
    add('false', False)
    ints = [0, 1, -1, 127, 128, 255, 256, -128, -129, -256, -257, 65535, 65536, -32768, -32769,
            2 ** 31 - 1, 2 ** 31, -2 ** 31, -2 ** 31 - 1, 2 ** 32, 2 ** 48 - 1, 2 ** 48, -2 ** 48,
            2 ** 53 - 1, 2 ** 53, -(2 ** 53 - 1), -(2 ** 53), 2 ** 63 - 1, 2 ** 63, -2 ** 63, -2 ** 63 - 1,
            2 ** 64, 10 ** 30, -10 ** 100, 2 ** 2039 - 1, 2 ** 2039, -2 ** 2039, -2 ** 2039 - 1, 2 ** 2400]
    for i, n in enumerate(ints):
        add('int%d' % i, n)
    floats = [0.0, -0.0, 1.5, -2.25, 0.1, 1e-7, 1e22, 1e300, 5e-324, 1.7976931348623157e308,
              float('nan'), float('inf'), float('-inf'), 3.0, 1e16, -123456.789]
    for i, f in enumerate(floats):
        add('float%d' % i, f)
    strs = ['', 'a', 'hello world', '\xe9', '\xff\x80', '\u20ac', '\U0001F600', 'a\\b\nc\r\x00\x1a"\'',
            'x' * 300, '\xe9' * 200, '\ud800', '\udc80x', 'mixed \u2603 \U0001F600 text', 'u' * 70000]
    for i, s in enumerate(strs):
        add('str%d' % i, s)
    byts = [b'', b(0), b(255), b'abc', bytes_type(bytearray(range(256))), b'x' * 300, b(0x80) * 70000]
    for i, x in enumerate(byts):
        add('bytes%d' % i, x)
    add('bytearray0', bytearray())
    add('bytearray1', bytearray(b(0, 97, 98, 255)))
    add('list0', [])
    add('list1', [1, 'a', None, True, 2.5])
    add('list2', [[1, [2, [3, []]]]])
    add('list3', list(range(1500)))
    add('list4', ['s%d' % i for i in range(300)])
    add('tuple0', ())
    add('tuple1', (1,))
    add('tuple2', (1, 2))
    add('tuple3', (1, 2, 3))
    add('tuple4', (1, 2, 3, 4))
    add('tuple5', ((1,), ((2,),), ()))
    add('tuple6', (None, 'x', b'y'))
    add('dict0', {})
    add('dict1', {'a': 1})
    add('dict2', {'a': 1, 'b': [1, 2], 'c': {'d': None}})
    add('dict3', {(1, 2): 'tuple key', 1: 'int', None: 'none', 2.5: 'float', b'bk': 'bytes',
                  frozenset([1, 2]): 'frozenset', 'k': 'str'})
    add('dict4', dict(('k%d' % i, i) for i in range(1500)))
    add('dict5', {'__proto__': 1, 'constructor': 2, 'prototype': 3, 'hasOwnProperty': 4, 'toString': {'__proto__': None}})
    add('set0', set())
    add('set1', set([1, 2, 3]))
    add('set2', set([(1, 2), 'a', b'b']))
    add('set3', frozenset())
    add('set4', frozenset([1, frozenset([2])]))
    add('set5', set(range(1500)))
    add('odict', collections.OrderedDict([('b', 1), ('a', 2)]))
    a = [1, 2]
    add('shared0', [a, a])
    d = {'k': 1}
    add('shared1', (d, d, [d]))
    s = 'a shared string'
    add('shared2', [s, s, (s,)])
    l1 = []
    l1.append(l1)
    add('rec0', l1)
    d1 = {}
    d1['self'] = d1
    add('rec1', d1)
    l2 = []
    t = (l2, 1)
    l2.append(t)
    add('rec2', l2)
    d2 = {'x': []}
    d2['x'].append(d2)
    add('rec3', d2)
    add('message', {'id': 12345, 'method': 'update',
                    'params': [{'name': 'x', 'value': 1.5, 'tags': ('a', 'b')}],
                    'ok': True, 'data': b(0, 1), 'when': 1700000000.25})
    deep = []
    for _ in range(50):
        deep = [deep]
    add('deep', deep)
    return items


def kind(v):
    if v is None:
        return 'none'
    if isinstance(v, bool):
        return 'bool'
    if isinstance(v, int_types):
        return 'int'
    if isinstance(v, float):
        return 'float'
    if isinstance(v, text_type):
        return 'str'
    if isinstance(v, bytearray):
        return 'bytearray'
    if isinstance(v, bytes_type):
        return 'bytes'
    if isinstance(v, tuple):
        return 'tuple'
    if isinstance(v, list):
        return 'list'
    if isinstance(v, dict):
        return 'dict'
    if isinstance(v, frozenset):
        return 'frozenset'
    if isinstance(v, set):
        return 'set'
    return type(v).__name__


MUTABLE = ('list', 'dict', 'set', 'bytearray')


def same(got, want, fwd, rev):
    """None when equal, else a reason. fwd/rev map ids of mutable containers both ways."""
    kg, kw = kind(got), kind(want)
    if kg != kw:
        return 'type %s, expected %s' % (kg, kw)
    if kg == 'float':
        if math.isnan(want):
            return None if math.isnan(got) else '%r, expected nan' % got
        if got != want or math.copysign(1, got) != math.copysign(1, want):
            return '%r, expected %r' % (got, want)
        return None
    if kg in ('none', 'bool', 'int', 'str', 'bytes', 'bytearray'):
        return None if got == want else '%r, expected %r' % (got[:80] if hasattr(got, '__getitem__') else got, want[:80] if hasattr(want, '__getitem__') else want)
    if kg in MUTABLE:
        if id(got) in fwd or id(want) in rev:
            if fwd.get(id(got)) is not want or rev.get(id(want)) is not got:
                return 'shared reference structure differs'
            return None
        fwd[id(got)] = want
        rev[id(want)] = got
    if kg in ('list', 'tuple'):
        if len(got) != len(want):
            return 'length %d, expected %d' % (len(got), len(want))
        for i in range(len(want)):
            why = same(got[i], want[i], fwd, rev)
            if why:
                return '[%d]: %s' % (i, why)
        return None
    if kg == 'dict':
        if len(got) != len(want):
            return 'size %d, expected %d' % (len(got), len(want))
        for k in want:
            if k not in got:
                return 'missing key %r' % (k,)
            why = same(got[k], want[k], fwd, rev)
            if why:
                return '[%r]: %s' % (k, why)
        if not PY2 and isinstance(want, collections.OrderedDict) and list(got.keys()) != list(want.keys()):
            return 'order of keys differs'
        return None
    if kg in ('set', 'frozenset'):
        return None if got == want else '%r, expected %r' % (got, want)
    return 'unexpected type %s' % kg


def say(*words):
    sys.stdout.write(' '.join(str(w) for w in words) + '\n')


def watchdog():
    timer = threading.Timer(120.0, lambda: os._exit(4))
    timer.daemon = True
    timer.start()


def main():
    watchdog()
    items = corpus()
    table = dict(items)
    highest = pickle.HIGHEST_PROTOCOL
    say('PROTOCOLS', highest)
    for proto in range(highest + 1):
        for name, value in items:
            data = dumps(value, proto)
            say('P', name, proto, binascii.hexlify(data).decode('ascii'))
            # the pure-Python pickler frames and memoizes its own way
            data = py_dumps(value, proto)
            say('Q', name, proto, binascii.hexlify(data).decode('ascii'))
    say('DUMPED')
    sys.stdout.flush()
    count = 0
    while True:
        line = sys.stdin.readline()
        if not line or line.strip() == 'END':
            break
        if line.startswith('R '):
            # a round trip: load Node's pickle, pickle it again in the protocol asked
            _, index, out_proto, hexdata = line.split()
            value = c_loads(binascii.unhexlify(hexdata.encode('ascii')))
            say('R', index, binascii.hexlify(dumps(value, int(out_proto))).decode('ascii'))
            continue
        name, proto, hexdata = line.split()
        data = binascii.unhexlify(hexdata.encode('ascii'))
        want = table[name]
        why = None
        for label, loads in (('C', c_loads), ('pure', py_loads)):
            try:
                got = loads(data)
            except Exception as e:  # noqa: BLE001
                why = '%s unpickler raised %s: %s' % (label, type(e).__name__, e)
                break
            why = same(got, want, {}, {})
            if why:
                why = '%s unpickler: %s' % (label, why)
                break
        count += 1
        if why:
            say('FAIL', name, proto, why)
        else:
            say('OK', name, proto)
    say('CHECKED', count)
    sys.stdout.flush()
    os._exit(0)


if __name__ == '__main__':
    main()
