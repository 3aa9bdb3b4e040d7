/**
 * The pickle interop corpus on the Node side: the same values, in the same order and under the
 * same names, as `corpus()` in spec/py/pickle_peer.py, and a deep comparison that knows
 * Python's types (Tuple vs list, Float vs int, NaN, -0.0) and checks shared and recursive
 * references (mutable containers must map one to one).
 */

import { ByteArray, Float, FrozenSet, Tuple, float, tuple } from '../lib/pickle/index.js';

const SAFE = 9007199254740991n;
/** A Python int as loads returns it: a number when safe, else a bigint. */
export const int = (v: bigint): number | bigint => (v >= -SAFE && v <= SAFE ? Number(v) : v);

/** The corpus, [name, value] in Python's order. */
export function corpus(): [string, unknown][] {
  const items: [string, unknown][] = [];
  const add = (name: string, value: unknown): void => {
    items.push([name, value]);
  };
  add('none', null);
  add('true', true);
  add('false', false);
  const p = (e: number): bigint => 2n ** BigInt(e);
  const ints: bigint[] = [0n, 1n, -1n, 127n, 128n, 255n, 256n, -128n, -129n, -256n, -257n, 65535n, 65536n, -32768n, -32769n,
    p(31) - 1n, p(31), -p(31), -p(31) - 1n, p(32), p(48) - 1n, p(48), -p(48),
    p(53) - 1n, p(53), -(p(53) - 1n), -p(53), p(63) - 1n, p(63), -p(63), -p(63) - 1n,
    p(64), 10n ** 30n, -(10n ** 100n), p(2039) - 1n, p(2039), -p(2039), -p(2039) - 1n, p(2400)];
  ints.forEach((n, i) => add(`int${i}`, int(n)));
  const floats = [0.0, -0.0, 1.5, -2.25, 0.1, 1e-7, 1e22, 1e300, 5e-324, 1.7976931348623157e308, NaN, Infinity, -Infinity, 3.0, 1e16, -123456.789];
  floats.forEach((f, i) => add(`float${i}`, float(f)));
  const strs = ['', 'a', 'hello world', '\xe9', '\xff\x80', '\u20ac', '\u{1F600}', 'a\\b\nc\r\x00\x1a"\'',
    'x'.repeat(300), '\xe9'.repeat(200), '\ud800', '\udc80x', 'mixed \u2603 \u{1F600} text', 'u'.repeat(70000)];
  strs.forEach((s, i) => add(`str${i}`, s));
  const all256 = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all256[i] = i;
  const byts = [Buffer.alloc(0), Buffer.from([0]), Buffer.from([255]), Buffer.from('abc'), all256, Buffer.alloc(300, 'x'), Buffer.alloc(70000, 0x80)];
  byts.forEach((b, i) => add(`bytes${i}`, b));
  add('bytearray0', new ByteArray(0));
  add('bytearray1', new ByteArray([0, 97, 98, 255]));
  add('list0', []);
  add('list1', [1, 'a', null, true, 2.5]);
  add('list2', [[1, [2, [3, []]]]]);
  add('list3', Array.from({ length: 1500 }, (_, i) => i));
  add('list4', Array.from({ length: 300 }, (_, i) => `s${i}`));
  add('tuple0', tuple());
  add('tuple1', tuple(1));
  add('tuple2', tuple(1, 2));
  add('tuple3', tuple(1, 2, 3));
  add('tuple4', tuple(1, 2, 3, 4));
  add('tuple5', tuple<unknown>(tuple(1), tuple(tuple(2)), tuple()));
  add('tuple6', tuple<unknown>(null, 'x', Buffer.from('y')));
  add('dict0', new Map());
  add('dict1', new Map([['a', 1]]));
  add('dict2', new Map<unknown, unknown>([['a', 1], ['b', [1, 2]], ['c', new Map([['d', null]])]]));
  add('dict3', new Map<unknown, unknown>([[tuple(1, 2), 'tuple key'], [1, 'int'], [null, 'none'], [2.5, 'float'],
    [Buffer.from('bk'), 'bytes'], [new FrozenSet([1, 2]), 'frozenset'], ['k', 'str']]));
  add('dict4', new Map(Array.from({ length: 1500 }, (_, i) => [`k${i}`, i] as const)));
  add('dict5', new Map<unknown, unknown>([['__proto__', 1], ['constructor', 2], ['prototype', 3], ['hasOwnProperty', 4], ['toString', new Map([['__proto__', null]])]]));
  add('set0', new Set());
  add('set1', new Set([1, 2, 3]));
  add('set2', new Set<unknown>([tuple(1, 2), 'a', Buffer.from('b')]));
  add('set3', new FrozenSet());
  add('set4', new FrozenSet<unknown>([1, new FrozenSet([2])]));
  add('set5', new Set(Array.from({ length: 1500 }, (_, i) => i)));
  add('odict', new Map([['b', 1], ['a', 2]]));
  const a = [1, 2];
  add('shared0', [a, a]);
  const d = new Map([['k', 1]]);
  add('shared1', tuple<unknown>(d, d, [d]));
  const s = 'a shared string';
  add('shared2', [s, s, tuple(s)]);
  const l1: unknown[] = [];
  l1.push(l1);
  add('rec0', l1);
  const d1 = new Map<string, unknown>();
  d1.set('self', d1);
  add('rec1', d1);
  const l2: unknown[] = [];
  l2.push(tuple<unknown>(l2, 1));
  add('rec2', l2);
  const d2 = new Map<string, unknown>([['x', []]]);
  (d2.get('x') as unknown[]).push(d2);
  add('rec3', d2);
  add('message', new Map<string, unknown>([['id', 12345], ['method', 'update'],
    ['params', [new Map<string, unknown>([['name', 'x'], ['value', 1.5], ['tags', tuple('a', 'b')]])]],
    ['ok', true], ['data', Buffer.from([0, 1])], ['when', 1700000000.25]]));
  let deep: unknown[] = [];
  for (let i = 0; i < 50; i++) deep = [deep];
  add('deep', deep);
  return items;
}

type Kind = 'none' | 'bool' | 'int' | 'float' | 'number' | 'str' | 'bytes' | 'bytearray' | 'tuple' | 'list' | 'dict' | 'set' | 'frozenset' | 'other';

function kind(v: unknown): Kind {
  if (v === null) return 'none';
  switch (typeof v) {
    case 'boolean': return 'bool';
    case 'bigint': return 'int';
    case 'number': return 'number';
    case 'string': return 'str';
    case 'object':
      if (v instanceof Float) return 'float';
      if (v instanceof Tuple) return 'tuple';
      if (Array.isArray(v)) return 'list';
      if (v instanceof Map) return 'dict';
      if (v instanceof FrozenSet) return 'frozenset';
      if (v instanceof Set) return 'set';
      if (v instanceof ByteArray) return 'bytearray';
      if (v instanceof Uint8Array) return 'bytes';
      return 'other';
    default:
      return 'other';
  }
}

const PRIMITIVE = new Set<Kind>(['none', 'bool', 'int', 'number', 'str']);

/** Identity maps for one comparison: mutable containers must pair up one to one. */
export interface Pairs {
  fwd: Map<object, object>;
  rev: Map<object, object>;
}

export const pairs = (): Pairs => ({ fwd: new Map(), rev: new Map() });

/**
 * Compares `got` (a value loads returned) with `want` (a corpus value): undefined when equal,
 * else the reason. A `Float` in `want` matches a number; a plain number matches the same number.
 */
export function same(got: unknown, want: unknown, p: Pairs = pairs()): string | undefined {
  let kw = kind(want);
  const kg = kind(got);
  let w = want;
  if (kw === 'float') {
    w = (want as Float).value;
    kw = 'number';
  }
  if (kg !== kw) return `${kg}, expected ${kw}`;
  switch (kg) {
    case 'none':
    case 'bool':
    case 'int':
    case 'str':
      return got === w ? undefined : `${String(got).slice(0, 60)}, expected ${String(w).slice(0, 60)}`;
    case 'number':
      return Object.is(got, w) ? undefined : `${String(got)}, expected ${String(w)}`;
    case 'bytes':
      return Buffer.compare(got as Uint8Array, w as Uint8Array) === 0 ? undefined : 'bytes differ';
    case 'other':
      return 'unexpected type';
    default:
      break;
  }
  const g = got as object, wo = w as object;
  if (kg === 'list' || kg === 'dict' || kg === 'set' || kg === 'bytearray') {
    if (p.fwd.has(g) || p.rev.has(wo)) return p.fwd.get(g) === wo && p.rev.get(wo) === g ? undefined : 'shared reference structure differs';
    p.fwd.set(g, wo);
    p.rev.set(wo, g);
  }
  if (kg === 'bytearray') return Buffer.compare(got as Uint8Array, w as Uint8Array) === 0 ? undefined : 'bytearray differs';
  if (kg === 'list' || kg === 'tuple') {
    const ga = got as unknown[], wa = w as unknown[];
    if (ga.length !== wa.length) return `length ${ga.length}, expected ${wa.length}`;
    for (let i = 0; i < wa.length; i++) {
      const why = same(ga[i], wa[i], p);
      if (why) return `[${i}]: ${why}`;
    }
    return undefined;
  }
  if (kg === 'dict') {
    const gm = got as Map<unknown, unknown>, wm = w as Map<unknown, unknown>;
    if (gm.size !== wm.size) return `size ${gm.size}, expected ${wm.size}`;
    for (const [k, v] of wm) {
      const found = find_key(gm, k);
      if (found === NOT_FOUND) return `missing key ${String(k)}`;
      const why = same(gm.get(found), v, p);
      if (why) return `.get(${String(k)}): ${why}`;
    }
    return undefined;
  }
  // sets
  const gs = got as Set<unknown>, ws = w as Set<unknown>;
  if (gs.size !== ws.size) return `size ${gs.size}, expected ${ws.size}`;
  for (const x of ws) {
    if (PRIMITIVE.has(kind(x))) {
      if (!gs.has(x)) return `missing item ${String(x)}`;
    } else if (![...gs].some((y) => same(y, x, pairs()) === undefined)) {
      return 'missing item';
    }
  }
  return undefined;
}

const NOT_FOUND = Symbol('not found');

function find_key(m: Map<unknown, unknown>, k: unknown): unknown {
  const kk = kind(k);
  if (PRIMITIVE.has(kk)) return m.has(k) ? k : NOT_FOUND;
  if (kk === 'float') return m.has((k as Float).value) ? (k as Float).value : NOT_FOUND;
  for (const key of m.keys()) if (same(key, k, pairs()) === undefined) return key;
  return NOT_FOUND;
}

/**
 * A random Python-shaped value from a seeded `r`: every type of the table, nesting up to
 * `depth`, shared references. Dict keys and set members are only what Python can hash and
 * never collide in Python (str, int as number, tuples of those, bytes, frozensets of ints;
 * no bool or float keys, since Python's 1 == 1.0 == True would merge them).
 */
export function random_value(r: () => number, depth = 4): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const shared: unknown[] = [];
  const key = (): unknown => {
    switch (Math.floor(r() * 5)) {
      case 0: return random_string(r, 8);
      case 1: return Math.floor(r() * 2000) - 1000;
      case 2: return tuple<unknown>(random_string(r, 4), Math.floor(r() * 100));
      case 3: return Buffer.concat([Buffer.from([0xff]), Buffer.from(random_string(r, 6), 'latin1')]); // never equal to a str, even in Python 2
      default: return new FrozenSet([Math.floor(r() * 10), 10 + Math.floor(r() * 10)]);
    }
  };
  const scalar = (): unknown => {
    switch (Math.floor(r() * 11)) {
      case 0: return null;
      case 1: return r() < 0.5;
      case 2: return Math.floor(r() * 512) - 256;
      case 3: return int(BigInt(Math.floor(r() * 2 ** 30)) ** BigInt(1 + Math.floor(r() * 5)) * (r() < 0.5 ? -1n : 1n));
      case 4: return float(pick([0.5, -1e-300, 1e300 * 7.1, NaN, Infinity, -Infinity, Math.PI, r() * 1e6 - 5e5])); // 7.1e300 is integral: float() keeps it a float
      case 5: return float(pick([0, -0, 3, -(2 ** 60), 1e16]));
      case 6:
      case 7: return random_string(r, 40);
      case 8: return Buffer.from(Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256)));
      case 9: return new ByteArray(Array.from({ length: Math.floor(r() * 10) }, () => Math.floor(r() * 256)));
      default: return 2 ** 31 + Math.floor(r() * 2 ** 20);
    }
  };
  const make = (d: number): unknown => {
    if (d <= 0 || r() < 0.35) return scalar();
    if (shared.length > 0 && r() < 0.1) return pick(shared);
    const n = Math.floor(r() * 6);
    let v: unknown;
    switch (Math.floor(r() * 5)) {
      case 0: v = Array.from({ length: n }, () => make(d - 1)); break;
      case 1: v = tuple(...Array.from({ length: n }, () => make(d - 1))); break;
      case 2: {
        const m = new Map<unknown, unknown>();
        for (let i = 0; i < n; i++) m.set(key(), make(d - 1));
        // keys that are equal in Python (two equal tuples) would merge there: keep one of each
        v = dedupe(m);
        break;
      }
      case 3: v = new Set<unknown>([...Array.from({ length: n }, () => random_string(r, 5)), Math.floor(r() * 50)]); break;
      default: v = new FrozenSet(Array.from({ length: n }, () => Math.floor(r() * 1000)));
    }
    if (!(v instanceof Tuple) && !(v instanceof FrozenSet)) shared.push(v);
    return v;
  };
  return make(depth);
}

function dedupe(m: Map<unknown, unknown>): Map<unknown, unknown> {
  const out = new Map<unknown, unknown>();
  const seen: unknown[] = [];
  for (const [k, v] of m) {
    if (seen.some((s) => same(s, k) === undefined)) continue;
    seen.push(k);
    out.set(k, v);
  }
  return out;
}

/** A random string of up to `max` UTF-16 units: ASCII, Latin-1, BMP, astral pairs, lone surrogates. */
export function random_string(r: () => number, max: number): string {
  let s = '';
  const n = Math.floor(r() * (max + 1));
  for (let i = 0; i < n; i++) {
    const kind = r();
    if (kind < 0.6) s += String.fromCharCode(32 + Math.floor(r() * 95));
    else if (kind < 0.75) s += String.fromCharCode(0x80 + Math.floor(r() * 0x80));
    else if (kind < 0.9) s += String.fromCharCode(0x100 + Math.floor(r() * 0xd700));
    else if (kind < 0.97) s += String.fromCodePoint(0x10000 + Math.floor(r() * 0xfffff));
    else s += String.fromCharCode(0xdc00 + Math.floor(r() * 0x400)); // a lone low surrogate
  }
  return s;
}
