/**
 * trousers/pickle as a pure codec: the type table both ways in every protocol, pickles
 * captured from Python 2.7 (its 8-bit str under each `encoding`, protocol 0 text opcodes),
 * shared and recursive references, `dict: 'object'`, the allow-list and `find_class`, the
 * errors `dumps` throws (with the value's path), and each `UnpicklingError` code.
 */

import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import {
  ALLOWED_GLOBALS,
  ByteArray,
  Float,
  FrozenSet,
  PicklingError,
  PyGlobal,
  Tuple,
  UnpicklingError,
  dumps,
  float,
  loads,
  pickle_codec,
  tuple,
  type LoadOptions,
} from '../lib/pickle/index.js';
import { TrousersError } from '../lib/index.js';
import { corpus, random_value, same } from './pickle_corpus.js';
import { rng } from './_helpers.js';

const PROTOCOLS = [0, 1, 2, 3, 4, 5] as const;
const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const bin = (s: string): Buffer => Buffer.from(s, 'latin1');

function rejects(data: Uint8Array, code: string, options?: LoadOptions): UnpicklingError {
  try {
    const v = loads(data, options);
    assert.unreachable(`expected ${code}, got a value: ${String(v)}`);
  } catch (err) {
    if (!(err instanceof UnpicklingError)) throw err;
    assert.instance(err, TrousersError);
    assert.is(err.code, code, err.message);
    return err;
  }
  throw new Error('unreachable');
}

const types = suite('pickle: the type table, every protocol');

types('every corpus value round-trips through dumps/loads in every protocol', () => {
  for (const p of PROTOCOLS) {
    for (const [name, value] of corpus()) {
      const why = same(loads(dumps(value, { protocol: p })), value);
      assert.is(why, undefined, `${name}, protocol ${p}: ${why}`);
    }
  }
});

types('1000 seeded random values round-trip in every protocol (identity of shared containers included)', () => {
  const r = rng(1234);
  for (let i = 0; i < 1000; i++) {
    const value = random_value(r, 5);
    const protocol = (i % 6) as 0 | 1 | 2 | 3 | 4 | 5;
    const why = same(loads(dumps(value, { protocol })), value);
    assert.is(why, undefined, `value ${i}, protocol ${protocol}: ${why}`);
  }
});

types('numbers: integers are ints, others floats; float() forces a float; -0, NaN, inf stay floats', () => {
  assert.equal([...dumps(3)], [0x80, 2, 0x4b, 3, 0x2e]);
  assert.equal([...dumps(float(3))], [0x80, 2, 0x47, 0x40, 0x08, 0, 0, 0, 0, 0, 0, 0x2e]);
  assert.is(dumps(-0)[2], 0x47);
  assert.is(dumps(NaN)[2], 0x47);
  assert.is(dumps(Infinity)[2], 0x47);
  assert.is(dumps(1.5, { protocol: 0 }).toString('latin1'), 'F1.5\n.');
  assert.is(dumps(float(3), { protocol: 0 }).toString('latin1'), 'F3.0\n.');
  assert.is(dumps(-0, { protocol: 0 }).toString('latin1'), 'F-0.0\n.');
  assert.is(dumps(NaN, { protocol: 0 }).toString('latin1'), 'Fnan\n.');
  assert.is(dumps(1e-7, { protocol: 0 }).toString('latin1'), 'F1e-07\n.');
  // an integral number beyond 2**53 is written as the exact int it is
  assert.is(loads(dumps(1e300)), BigInt(1e300));
  assert.is(loads(dumps(2 ** 53)), 2n ** 53n);
  assert.is(loads(dumps(2 ** 53 - 1)), 2 ** 53 - 1);
  assert.is(loads(dumps(10n)), 10);
  assert.is(loads(dumps(-(2n ** 100n))), -(2n ** 100n));
  assert.ok(Object.is(loads(dumps(-0)), -0));
  assert.is(String(float(3)), '3.0');
  assert.throws(() => new Float('3' as unknown as number), TypeError);
});

types('strings: astral characters and lone surrogates (UTF-8 surrogatepass as Python writes)', () => {
  for (const p of PROTOCOLS) {
    for (const s of ['\u{1F600}', '\ud800', 'a\udc80b', '\udbff\udfff', 'é€', 'x'.repeat(100), 'é'.repeat(100)]) {
      assert.is(loads(dumps(s, { protocol: p })), s, `protocol ${p}`);
    }
  }
  // Python 3: pickle.dumps('\ud800', 2)
  assert.is(loads(hex('8002 5803000000 eda080 7100 2e')), '\ud800');
  assert.equal([...dumps('\ud800').subarray(7, 10)], [0xed, 0xa0, 0x80]);
  // malformed UTF-8 is an error, not U+FFFD
  rejects(hex('8002 5802000000 c328 2e'), 'ERR_PICKLE_VALUE');
  // a real U+FFFD is fine
  assert.is(loads(dumps('\ufffd')), '\ufffd');
});

types('bytes, bytearray, Uint8Array input and views with an offset', () => {
  const u = new Uint8Array([9, 0x80, 0x4e, 0x2e, 7]);
  assert.is(loads(u.subarray(2, 4)), null);
  const b = loads(dumps(new Uint8Array([1, 2, 255]))) as Buffer;
  assert.ok(Buffer.isBuffer(b));
  assert.equal([...b], [1, 2, 255]);
  const ba = loads(dumps(new ByteArray([1, 2]), { protocol: 5 }));
  assert.instance(ba, ByteArray);
  // the bytes read are a copy, not a view on the input
  const data = dumps(Buffer.from('abc'), { protocol: 3 });
  const read = loads(data) as Buffer;
  data.fill(0);
  assert.is(read.toString(), 'abc');
});

types('dumps writes protocol 2 by default and each protocol as asked', () => {
  assert.equal([...dumps(null)], [0x80, 2, 0x4e, 0x2e]);
  assert.equal([...dumps(null, { protocol: 0 })], [0x4e, 0x2e]);
  assert.equal([...dumps(null, { protocol: 3 })], [0x80, 3, 0x4e, 0x2e]);
  // protocol 4: one frame around the body once it is 4 bytes or more
  assert.equal([...dumps(null, { protocol: 4 })], [0x80, 4, 0x4e, 0x2e]);
  const framed = dumps([1, 2], { protocol: 4 });
  assert.is(framed[2], 0x95);
  assert.is(framed.readUInt32LE(3), framed.length - 11);
  assert.throws(() => dumps(1, { protocol: 6 as 5 }), RangeError);
});

types('containers: Tuple, list, Map with any keys, Set, FrozenSet, plain objects as dicts', () => {
  for (const p of PROTOCOLS) {
    const t = loads(dumps(tuple<unknown>(1, 'a'), { protocol: p }));
    assert.instance(t, Tuple);
    assert.equal([...(t as Tuple)], [1, 'a']);
    const m = loads(dumps({ a: 1, b: [2] }, { protocol: p })) as Map<string, unknown>;
    assert.instance(m, Map);
    assert.equal([...m.keys()], ['a', 'b']);
    const fs = loads(dumps(new FrozenSet([1]), { protocol: p }));
    assert.instance(fs, FrozenSet);
    const s = loads(dumps(new Set([1]), { protocol: p }));
    assert.ok(s instanceof Set && !(s instanceof FrozenSet));
    // Object.create(null) objects are dicts too
    const bare = Object.create(null) as Record<string, number>;
    bare['x'] = 1;
    assert.equal([...(loads(dumps(bare, { protocol: p })) as Map<string, number>)], [['x', 1]]);
  }
});

types('shared references and cycles keep their identity in every protocol', () => {
  for (const p of PROTOCOLS) {
    const a = [1];
    const v = loads(dumps([a, a, tuple(a)], { protocol: p })) as unknown[][];
    assert.ok(v[0] === v[1] && (v[2] as unknown[])[0] === v[0], `protocol ${p}`);
    const l: unknown[] = [];
    l.push(l);
    const rl = loads(dumps(l, { protocol: p })) as unknown[];
    assert.ok(rl[0] === rl, `list in itself, protocol ${p}`);
    const m = new Map<string, unknown>();
    m.set('me', m);
    const rm = loads(dumps(m, { protocol: p })) as Map<string, unknown>;
    assert.ok(rm.get('me') === rm);
    // a tuple reached again through a list inside it
    const inner: unknown[] = [];
    const t = tuple<unknown>(inner, 2);
    inner.push(t);
    const rt = loads(dumps(t, { protocol: p })) as Tuple;
    assert.ok((rt[0] as unknown[])[0] === rt, `tuple cycle, protocol ${p}`);
    const ft = tuple<unknown>(1, 2, 3, 4, inner);
    const rft = loads(dumps([ft, ft], { protocol: p })) as Tuple[];
    assert.ok(rft[0] === rft[1]);
  }
});

types('PyGlobal values write back as the global they name', () => {
  const g = loads(hex('8002 63 636f6c6c656374696f6e730a4f726465726564446963740a 2e'));
  assert.instance(g, PyGlobal);
  assert.is(String(g), 'collections.OrderedDict');
  for (const p of PROTOCOLS) assert.is(String(loads(dumps(g, { protocol: p }))), 'collections.OrderedDict');
});

const py2 = suite('pickle: pickles from Python 2.7 (captured), text opcodes');

const PY2_STR = { 0: '532761625c786666270a70310a2e', 1: '55036162ff71012e', 2: '800255036162ff71012e' } as const;

py2("Python 2 str follows `encoding`: ASCII by default (error if not), latin1, utf8, bytes", () => {
  for (const h of Object.values(PY2_STR)) {
    rejects(hex(h), 'ERR_PICKLE_VALUE');
    assert.is(loads(hex(h), { encoding: 'latin1' }), 'ab\xff');
    assert.equal([...(loads(hex(h), { encoding: 'bytes' }) as Buffer)], [0x61, 0x62, 0xff]);
    rejects(hex(h), 'ERR_PICKLE_VALUE', { encoding: 'utf8' }); // \xff alone is not UTF-8
  }
  assert.is(loads(bin("S'caf\\xc3\\xa9'\n."), { encoding: 'utf8' }), 'café');
  assert.is(loads(bin('U\x05hello.')), 'hello');
  assert.throws(() => loads(bin('N.'), { encoding: 'utf16' as 'utf8' }), RangeError);
});

py2('a dict of str and unicode keys, longs and floats, protocols 0-2', () => {
  const captured = [
    '286470310a53276b270a56765c75323061630a70320a7353276e270a286c70330a49310a614c324c0a614c313138303539313632303731373431313330333432344c0a6146312e350a614930310a614e61732e',
    '7d71012855016b580400000076e282ac710255016e5d7103284b014c324c0a4c313138303539313632303731373431313330333432344c0a473ff80000000000004930310a4e65752e',
    '80027d71012855016b580400000076e282ac710255016e5d7103284b018a01028a09000000000000000040473ff8000000000000884e65752e',
  ];
  for (const h of captured) {
    const m = loads(hex(h)) as Map<string, unknown>;
    assert.is(m.get('k'), 'v\u20ac');
    assert.equal(m.get('n'), [1, 2, 2n ** 70n, 1.5, true, null]);
  }
});

py2('OrderedDict, set and bytearray the way Python 2 reduces them', () => {
  const od = ['63636f6c6c656374696f6e730a4f726465726564446963740a70310a28286c70320a286c70330a532762270a6149310a6161286c70340a532761270a6149320a6161745270350a2e',
    '63636f6c6c656374696f6e730a4f726465726564446963740a7101285d7102285d7103285501624b01655d7104285501614b026565745271052e',
    '800263636f6c6c656374696f6e730a4f726465726564446963740a71015d7102285d7103285501624b01655d7104285501614b026565855271052e'];
  for (const h of od) assert.equal([...(loads(hex(h)) as Map<string, number>)], [['b', 1], ['a', 2]]);
  for (const h of ['635f5f6275696c74696e5f5f0a7365740a70310a28286c70320a49310a61745270330a2e', '8002635f5f6275696c74696e5f5f0a7365740a71015d71024b0161855271032e']) {
    assert.equal([...(loads(hex(h)) as Set<number>)], [1]);
  }
  const ba = ['635f5f6275696c74696e5f5f0a6279746561727261790a70310a285661ff620a53276c6174696e2d31270a745270320a2e',
    '635f5f6275696c74696e5f5f0a6279746561727261790a710128580400000061c3bf6255076c6174696e2d31745271022e',
    '8002635f5f6275696c74696e5f5f0a6279746561727261790a7101580400000061c3bf6255076c6174696e2d31865271022e'];
  for (const h of ba) {
    for (const encoding of ['ascii', 'bytes'] as const) {
      const v = loads(hex(h), { encoding });
      assert.instance(v, ByteArray);
      assert.equal([...(v as ByteArray)], [0x61, 0xff, 0x62]);
    }
  }
});

py2('protocol 0 text: raw-unicode-escape, repr-style STRING escapes, INT booleans, LONG with L', () => {
  // Python 2.7: cPickle.dumps(u'a\\\n\x00\r\x1a\u20ac\U0001f600\ud800', 0)
  assert.is(loads(bin('Va\\u005c\\u000a\x00\r\x1a\\u20ac\\U0001f600\\ud800\np1\n.')), 'a\\\n\x00\r\x1a€\u{1F600}\ud800');
  // an even number of backslashes does not escape
  assert.is(loads(bin('Va\\\\u0041\n.')), 'a\\\\u0041');
  rejects(bin('V\\u12\n.'), 'ERR_PICKLE_VALUE');
  rejects(bin('V\\U00110000\n.'), 'ERR_PICKLE_VALUE');
  assert.is(loads(bin(`S'a\\'"\\n\\xff\\t\\101\\\\'\n.`), { encoding: 'latin1' }), `a'"\n\xff\tA\\`);
  assert.is(loads(bin('S"dq"\n.')), 'dq');
  rejects(bin("S'unquoted\n."), 'ERR_PICKLE_VALUE');
  rejects(bin("S'bad\\x4'\n."), 'ERR_PICKLE_VALUE');
  assert.is(loads(bin('I01\n.')), true);
  assert.is(loads(bin('I00\n.')), false);
  assert.is(loads(bin('I-12\n.')), -12);
  assert.is(loads(bin('I9223372036854775807\n.')), 2n ** 63n - 1n);
  assert.is(loads(bin('L123L\n.')), 123);
  assert.is(loads(bin('L-99999999999999999999L\n.')), -99999999999999999999n);
  rejects(bin('I12x\n.'), 'ERR_PICKLE_VALUE');
  rejects(bin(`L${'9'.repeat(5000)}L\n.`), 'ERR_PICKLE_VALUE');
  assert.is(loads(bin(`L${'9'.repeat(5000)}L\n.`), { max_digits: 6000 }), 10n ** 5000n - 1n);
  assert.ok(Number.isNaN(loads(bin('Fnan\n.')) as number));
  assert.is(loads(bin('F-inf\n.')), -Infinity);
  assert.is(loads(bin('F1e+16\n.')), 1e16);
  rejects(bin('F1.5.5\n.'), 'ERR_PICKLE_VALUE');
  rejects(bin(`F${'1'.repeat(100000)}x\n.`), 'ERR_PICKLE_VALUE');
  const l = loads(bin('(lp0\nI1\naI2\nag0\na.')) as unknown[];
  assert.equal(l.slice(0, 2), [1, 2]);
  assert.ok(l[2] === l);
});

const objects = suite("pickle: dict: 'object' and prototype safety");

objects("dict: 'object' gives plain objects when all keys are strings; __proto__ and constructor are data", () => {
  const data = dumps(new Map<unknown, unknown>([['__proto__', new Map([['polluted', true]])], ['constructor', 1], ['n', new Map([[1, 'int key']])]]));
  const v = loads(data, { dict: 'object' }) as Record<string, unknown>;
  assert.is(Object.getPrototypeOf(v), Object.prototype);
  assert.ok(Object.hasOwn(v, '__proto__'));
  assert.equal(Object.keys(v), ['__proto__', 'constructor', 'n']);
  assert.is((v['__proto__'] as Record<string, unknown>)['polluted'], true);
  assert.is(v['constructor'], 1);
  assert.instance(v['n'], Map); // an int key: stays a Map
  assert.is(({} as Record<string, unknown>)['polluted'], undefined);
  // cycles and shared dicts survive the conversion
  const m = new Map<string, unknown>();
  m.set('self', m);
  const shared = new Map([['x', 1]]);
  const r = loads(dumps([m, shared, shared]), { dict: 'object' }) as Record<string, unknown>[];
  assert.ok(r[0]!['self'] === r[0]);
  assert.ok(r[1] === r[2]);
  assert.is(r[1]!['x'], 1);
});

objects('BUILD never assigns onto an object; a state on a data type is refused', () => {
  // collections.OrderedDict() then BUILD {'__proto__': {'polluted': True}}
  const build = bin('\x80\x02ccollections\nOrderedDict\n)R}X\x09\x00\x00\x00__proto__}X\x08\x00\x00\x00pollutedI01\nssb.');
  const err = rejects(build, 'ERR_PICKLE_GLOBAL');
  assert.match(err.message, /BUILD/);
  assert.is(({} as Record<string, unknown>)['polluted'], undefined);
  rejects(bin('\x80\x02]K\x01b.'), 'ERR_PICKLE_GLOBAL');
  // an empty state (what CPython writes for a plain OrderedDict subclass) is fine
  assert.instance(loads(bin('\x80\x02ccollections\nOrderedDict\n)RNb.')), Map);
});

const globals = suite('pickle: globals, the allow-list and find_class');

globals('globals off the allow-list are refused, by name, in every spelling', () => {
  const evil = [
    bin("cos\nsystem\n(S'echo hi'\ntR."),
    bin("(S'echo hi'\nios\nsystem\n."),
    bin("\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R."),
    bin("cbuiltins\neval\n(S'1'\ntR."),
    bin("c__builtin__\ngetattr\n."),
    bin("\x80\x02cposix\nsystem\nq\x00)\x81."),
    bin("(cos\nsystem\nS'id'\no."),
    bin("csubprocess\nPopen\n."),
  ];
  for (const e of evil) {
    const err = rejects(e, 'ERR_PICKLE_GLOBAL');
    assert.match(err.message, /not allowed/);
  }
  assert.match(rejects(evil[0]!, 'ERR_PICKLE_GLOBAL').message, /'os\.system'/);
  assert.ok(ALLOWED_GLOBALS.includes('_codecs.encode'));
  assert.ok(ALLOWED_GLOBALS.includes('__builtin__.bytes'));
});

globals('allow-listed constructors refuse argument shapes CPython does not write', () => {
  rejects(bin('\x80\x02c__builtin__\nbytes\nJ\x00\xca\x9a\x3b\x85R.'), 'ERR_PICKLE_GLOBAL'); // bytes(10**9)
  rejects(bin('\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xe2\x82X\x06\x00\x00\x00latin1\x86R.'), 'ERR_PICKLE_VALUE');
  rejects(bin('\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00\xe2\x82\xacX\x06\x00\x00\x00latin1\x86R.'), 'ERR_PICKLE_GLOBAL'); // € is not latin-1
  rejects(bin('\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.'), 'ERR_PICKLE_GLOBAL');
  rejects(bin('\x80\x02c__builtin__\nset\nK\x01\x85R.'), 'ERR_PICKLE_GLOBAL');
  rejects(bin('\x80\x02K\x01)R.'), 'ERR_PICKLE_STACK'); // calling an int
  rejects(bin('\x80\x02c__builtin__\nset\nK\x01R.'), 'ERR_PICKLE_STACK'); // arguments not a tuple
  assert.equal([...(loads(bin('\x80\x02c__builtin__\nbytes\n]K\x01a\x85R.')) as Buffer)], [1]);
});

globals('find_class: accepts more globals, runs __setstate__ on BUILD, and its errors are wrapped', () => {
  class Point {
    x = 0;
    y = 0;
    __setstate__(state: unknown): void {
      const m = state as Map<string, number>;
      this.x = m.get('x')!;
      this.y = m.get('y')!;
    }
  }
  // Python 3: pickle.dumps(Point(1, 2), 2) for a plain class Point in __main__
  const data = bin('\x80\x02c__main__\nPoint\nq\x00)\x81q\x01}q\x02(X\x01\x00\x00\x00xq\x03K\x01X\x01\x00\x00\x00yq\x04K\x02ub.');
  rejects(data, 'ERR_PICKLE_GLOBAL');
  const seen: string[] = [];
  const p = loads(data, {
    find_class: (module, name) => {
      seen.push(`${module}.${name}`);
      return module === '__main__' && name === 'Point' ? () => new Point() : undefined;
    },
  }) as Point;
  assert.instance(p, Point);
  assert.is(p.x, 1);
  assert.is(p.y, 2);
  assert.equal(seen, ['__main__.Point']);
  // falling through to the allow-list
  assert.instance(loads(dumps(new Set([1])), { find_class: () => undefined }), Set);
  const err = rejects(data, 'ERR_PICKLE_GLOBAL', {
    find_class: () => {
      throw new Error('no thanks');
    },
  });
  assert.is((err.cause as Error).message, 'no thanks');
  rejects(data, 'ERR_PICKLE_GLOBAL', { find_class: () => 42 as never });
});

globals('find_class globals are called by INST, OBJ, NEWOBJ and NEWOBJ_EX (keywords as a last Map)', () => {
  const calls: unknown[][] = [];
  const find_class = (module: string, name: string) => (module === 'm' && name === 'f' ? (...args: unknown[]) => (calls.push(args), tuple<unknown>('made', args.length)) : undefined);
  assert.equal([...(loads(bin('(K\x01K\x02im\nf\n.'), { find_class }) as Tuple)], ['made', 2]);
  assert.equal([...(loads(bin('(cm\nf\nK\x03o.'), { find_class }) as Tuple)], ['made', 1]);
  assert.equal([...(loads(bin('\x80\x02cm\nf\nK\x04\x85\x81.'), { find_class }) as Tuple)], ['made', 1]);
  loads(bin('\x80\x04\x8c\x01m\x8c\x01f\x93K\x05\x85}\x8c\x01kK\x06s\x92.'), { find_class });
  loads(bin('\x80\x04\x8c\x01m\x8c\x01f\x93K\x07\x85}\x92.'), { find_class });
  assert.equal(calls.slice(0, 3), [[1, 2], [3], [4]]);
  assert.equal(calls[3]![0], 5);
  assert.equal([...(calls[3]![1] as Map<string, number>)], [['k', 6]]);
  assert.equal(calls[4], [7]);
});

const errors = suite('pickle: UnpicklingError codes');

errors('truncation: every strict prefix of a valid pickle is an UnpicklingError', () => {
  for (const p of PROTOCOLS) {
    const data = dumps(corpus().find(([n]) => n === 'message')![1], { protocol: p });
    for (let n = 0; n < data.length; n++) {
      try {
        loads(data.subarray(0, n));
        assert.unreachable(`prefix ${n} of ${data.length} gave a value (protocol ${p})`);
      } catch (err) {
        assert.instance(err, UnpicklingError, `prefix ${n}: ${String(err)}`);
      }
    }
  }
  assert.is(rejects(Buffer.alloc(0), 'ERR_PICKLE_TRUNCATED').offset, 0);
});

errors('length fields beyond the input, up to 2**64-1, fail before allocating', () => {
  const eight = (op: number, hi: number): Buffer => Buffer.concat([Buffer.from([0x80, 5, op]), Buffer.from([0xff, 0xff, 0xff, 0xff, hi, 0xff, 0xff, 0xff]), Buffer.from('abc.')]);
  for (const op of [0x8d, 0x8e, 0x96, 0x95]) {
    for (const hi of [0xff, 0x7f, 0x00]) rejects(eight(op, hi), 'ERR_PICKLE_TRUNCATED');
  }
  for (const op of ['X', 'B', 'T']) rejects(bin(`\x80\x03${op}\xff\xff\xff\x7fabc.`), 'ERR_PICKLE_TRUNCATED');
  rejects(bin('\x80\x02T\xff\xff\xff\xffabc.'), 'ERR_PICKLE_VALUE'); // negative BINSTRING length
  rejects(bin('\x80\x02\x8b\xff\xff\xff\x7fabc.'), 'ERR_PICKLE_TRUNCATED'); // LONG4
  rejects(bin('\x80\x02\x8b\xff\xff\xff\xffabc.'), 'ERR_PICKLE_VALUE');
  rejects(bin('\x80\x02\x8a\xffabc.'), 'ERR_PICKLE_TRUNCATED'); // LONG1
  rejects(bin('\x80\x02U\xffabc.'), 'ERR_PICKLE_TRUNCATED');
});

errors('stack, memo, opcode and protocol misuse', () => {
  rejects(bin('\xff.'), 'ERR_PICKLE_OPCODE');
  assert.is(rejects(bin('\x80\x02N\x00.'), 'ERR_PICKLE_OPCODE').offset, 3);
  rejects(bin('\x80\x06N.'), 'ERR_PICKLE_PROTOCOL');
  rejects(bin('.'), 'ERR_PICKLE_STACK');
  rejects(bin('(.'), 'ERR_PICKLE_STACK');
  rejects(bin('a.'), 'ERR_PICKLE_STACK');
  rejects(bin('Na.'), 'ERR_PICKLE_STACK'); // append to None... needs two: one missing
  rejects(bin('NNa.'), 'ERR_PICKLE_STACK'); // append to a None
  rejects(bin(')Na.'), 'ERR_PICKLE_STACK'); // append to a tuple
  rejects(bin(']Ns.'), 'ERR_PICKLE_STACK'); // SETITEM with too few
  rejects(bin(']NNs.'), 'ERR_PICKLE_STACK'); // SETITEM on a list
  rejects(bin('}(Nu.'), 'ERR_PICKLE_STACK'); // odd SETITEMS
  rejects(bin('t.'), 'ERR_PICKLE_STACK'); // TUPLE without a mark
  rejects(bin('e.'), 'ERR_PICKLE_STACK');
  rejects(bin('\x80\x02\x85.'), 'ERR_PICKLE_STACK');
  rejects(bin('\x80\x02(N\x86.'), 'ERR_PICKLE_STACK'); // TUPLE2 across a mark
  rejects(bin('(N]a.'), 'ERR_PICKLE_STACK'); // APPEND's target is the None
  rejects(bin('h\x05.'), 'ERR_PICKLE_MEMO');
  rejects(bin('g5\n.'), 'ERR_PICKLE_MEMO');
  rejects(bin('Np-1\n.'), 'ERR_PICKLE_MEMO');
  rejects(bin('Np99999999999\n.'), 'ERR_PICKLE_MEMO');
  rejects(bin('q\x00.'), 'ERR_PICKLE_STACK');
  rejects(bin('\x94.'), 'ERR_PICKLE_STACK');
  rejects(bin('0.'), 'ERR_PICKLE_STACK');
  rejects(bin('1.'), 'ERR_PICKLE_STACK');
  rejects(bin('2.'), 'ERR_PICKLE_STACK');
  rejects(bin('PN\n.'), 'ERR_PICKLE_UNSUPPORTED');
  rejects(bin('NQ.'), 'ERR_PICKLE_UNSUPPORTED');
  rejects(bin('\x80\x02\x82\x01.'), 'ERR_PICKLE_UNSUPPORTED');
  rejects(bin('\x80\x05\x97.'), 'ERR_PICKLE_UNSUPPORTED');
  rejects(bin('\x80\x04NN\x93.'), 'ERR_PICKLE_STACK');
  rejects(bin('I1'), 'ERR_PICKLE_TRUNCATED');
  // memo slots can be overwritten and read back; POP with a mark on top pops the mark
  assert.is(loads(bin('Np1\n0I2\np1\n0g1\n.')), 2);
  assert.is(loads(bin('N(0.')), null);
  // trailing bytes after STOP are ignored, as by Python
  assert.is(loads(bin('N.garbage')), null);
  // LONG_BINPUT at the largest index
  assert.is(loads(bin('Nr\xff\xff\xff\xff0j\xff\xff\xff\xff.')), null);
});

errors('nothing of one pickle is visible to the next (the reader is reused)', () => {
  assert.is(loads(bin('K\x07q\x05.')), 7);
  rejects(bin('h\x05.'), 'ERR_PICKLE_MEMO');
  assert.is(loads(bin('K\x08r\xff\xff\xff\xff.')), 8);
  rejects(bin('j\xff\xff\xff\xff.'), 'ERR_PICKLE_MEMO');
  assert.is(loads(bin('K\x09p70000\n.')), 9);
  rejects(bin('g70000\n.'), 'ERR_PICKLE_MEMO');
  // after an error half-way, too
  rejects(bin('K\x0aq\x06(\xff'), 'ERR_PICKLE_OPCODE');
  rejects(bin('h\x06.'), 'ERR_PICKLE_MEMO');
  assert.is(loads(bin('(K\x01.')), 1); // a mark left open
  rejects(bin('t.'), 'ERR_PICKLE_STACK');
  // a find_class that calls loads gets a reader of its own
  const inner = loads(bin('cm\nf\n)R.'), { find_class: () => () => loads(bin('K\x03q\x00h\x00.')) });
  assert.is(inner, 3);
});

errors('max_bytes and max_depth', () => {
  const big = dumps('x'.repeat(1000));
  rejects(big, 'ERR_PICKLE_TOO_LARGE', { max_bytes: 999 });
  assert.is((loads(big, { max_bytes: big.length }) as string).length, 1000);
  rejects(Buffer.alloc(10, 0x28), 'ERR_PICKLE_TOO_DEEP', { max_depth: 5 });
  let nested: unknown = 1;
  for (let i = 0; i < 20; i++) nested = [nested];
  for (const p of PROTOCOLS) {
    rejects(dumps(nested, { protocol: p }), 'ERR_PICKLE_TOO_DEEP', { max_depth: 10 });
    assert.equal(loads(dumps(nested, { protocol: p }), { max_depth: 20 }), nested);
  }
  let t: unknown = 1;
  for (let i = 0; i < 20; i++) t = tuple(t);
  rejects(dumps(t), 'ERR_PICKLE_TOO_DEEP', { max_depth: 10 });
  let d: unknown = 1;
  for (let i = 0; i < 20; i++) d = new Map([['k', d]]);
  rejects(dumps(d), 'ERR_PICKLE_TOO_DEEP', { max_depth: 10 });
  assert.throws(() => loads(big, { max_depth: 0 }), RangeError);
  assert.throws(() => loads('N.' as unknown as Uint8Array), TypeError);
});

const writing = suite('pickle: what dumps refuses');

writing('values of no Python type throw a PicklingError (a TypeError) naming their path', () => {
  const cases: [unknown, string][] = [
    [undefined, 'value'],
    [[1, undefined], 'value[1]'],
    [{ a: [1, { b: () => 1 }] }, 'value.a[1].b'],
    [new Map<unknown, unknown>([['k', Symbol('s')]]), 'value.get("k")'],
    [new Map<unknown, unknown>([[2, new Date()]]), 'value.get(2)'],
    [tuple<unknown>(1, 2, new Int32Array(1)), 'value[2]'],
    [{ 'a key': new (class Thing {})() }, 'value["a key"]'],
    [new Set([1, () => 2]), 'value item 1'],
  ];
  for (const [v, path] of cases) {
    for (const p of PROTOCOLS) {
      try {
        dumps(v, { protocol: p });
        assert.unreachable(`${path}: no error`);
      } catch (err) {
        assert.instance(err, PicklingError);
        assert.instance(err, TypeError);
        assert.is((err as PicklingError).code, 'ERR_PICKLE_UNSUPPORTED_TYPE');
        assert.is((err as PicklingError).path, path, String(err));
        assert.ok((err as Error).message.startsWith(`${path}: `));
      }
    }
  }
});

writing('nesting beyond max_depth, and a tuple holding itself, throw ERR_PICKLE_TOO_DEEP', () => {
  let v: unknown = 1;
  for (let i = 0; i < 50; i++) v = [v];
  try {
    dumps(v, { max_depth: 10 });
    assert.unreachable();
  } catch (err) {
    assert.is((err as PicklingError).code, 'ERR_PICKLE_TOO_DEEP');
  }
  const t = new Tuple<unknown>();
  t.push(t);
  assert.throws(() => dumps(t), (e: unknown) => (e as PicklingError).code === 'ERR_PICKLE_TOO_DEEP');
  // the default depth is within the stack
  let deep: unknown = 1;
  for (let i = 0; i < 999; i++) deep = [deep];
  assert.ok(loads(dumps(deep)));
});

writing('pickle_codec: options checked up front; encode/decode use them', () => {
  const c = pickle_codec({ protocol: 4, dict: 'object' });
  const data = c.encode({ a: 1 });
  assert.is(data[1], 4);
  assert.equal(c.decode(data), { a: 1 });
  assert.throws(() => pickle_codec({ protocol: 9 as 5 }), RangeError);
  assert.throws(() => pickle_codec({ encoding: 'x' as 'utf8' }), RangeError);
});

types.run();
py2.run();
objects.run();
globals.run();
errors.run();
writing.run();
