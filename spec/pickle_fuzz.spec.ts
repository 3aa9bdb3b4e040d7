/**
 * trousers/pickle under hostile input: seeded mutations and truncations of valid pickles (every
 * corpus value in every protocol, and Python 2.7 captures), and hand-made hostile pickles
 * (huge length fields, deep nesting of every kind, memo and stack bombs, disallowed globals,
 * prototype pollution attempts). Every input must end in a value or an `UnpicklingError`,
 * each within a bounded time and without growing the heap wildly; nothing else may escape.
 */

import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { UnpicklingError, dumps, loads, type LoadOptions } from '../lib/pickle/index.js';
import { corpus } from './pickle_corpus.js';
import { rng } from './_helpers.js';

const bin = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Runs loads; returns 'value' or the error code; fails the spec on anything else or on slowness. */
function attempt(data: Uint8Array, label: string, options?: LoadOptions, ms = 2000): string {
  const start = performance.now();
  let outcome: string;
  try {
    loads(data, options);
    outcome = 'value';
  } catch (err) {
    if (!(err instanceof UnpicklingError)) {
      assert.unreachable(`${label}: threw ${String(err)} (${(err as Error)?.constructor?.name}) for ${Buffer.from(data.subarray(0, 80)).toString('hex')}`);
    }
    outcome = (err as UnpicklingError).code;
  }
  const took = performance.now() - start;
  assert.ok(took < ms, `${label}: took ${took.toFixed(0)} ms`);
  return outcome;
}

const PY2 = [
  '286470310a53276b270a56765c75323061630a70320a7353276e270a286c70330a49310a614c324c0a614c313138303539313632303731373431313330333432344c0a6146312e350a614930310a614e61732e',
  '80027d71012855016b580400000076e282ac710255016e5d7103284b018a01028a09000000000000000040473ff8000000000000884e65752e',
  '63636f6c6c656374696f6e730a4f726465726564446963740a70310a28286c70320a286c70330a532762270a6149310a6161286c70340a532761270a6149320a6161745270350a2e',
  '8002635f5f6275696c74696e5f5f0a6279746561727261790a7101580400000061c3bf6255076c6174696e2d31865271022e',
  '532761625c786666270a70310a2e',
].map((h) => Buffer.from(h, 'hex'));

function seeds(): Buffer[] {
  const out: Buffer[] = [...PY2];
  for (const [name, value] of corpus()) {
    if (name === 'str13' || name === 'bytes6') continue; // 70 kB each: mutated below in a few rounds only
    for (const protocol of [0, 1, 2, 3, 4, 5] as const) out.push(dumps(value, { protocol }));
  }
  return out;
}

const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x28, 0x2e, 0x61, 0x65, 0x75, 0x73, 0x52, 0x62, 0x63, 0x68, 0x6a, 0x71, 0x72, 0x94, 0x95, 0x93, 0x8c, 0x58, 0x0a, 0x30, 0x31, 0x32, 0x85, 0x29, 0x5d, 0x7d];

function mutate(data: Buffer, other: Buffer, r: () => number): Buffer {
  const b = Buffer.from(data);
  const at = Math.floor(r() * Math.max(1, b.length));
  switch (Math.floor(r() * 8)) {
    case 0: // random byte
      if (b.length) b[at] = Math.floor(r() * 256);
      return b;
    case 1: // interesting byte
      if (b.length) b[at] = INTERESTING[Math.floor(r() * INTERESTING.length)]!;
      return b;
    case 2: // truncate
      return b.subarray(0, at);
    case 3: // delete a range
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(r() * 16)))]);
    case 4: { // insert random bytes
      const ins = Buffer.alloc(1 + Math.floor(r() * 8));
      for (let i = 0; i < ins.length; i++) ins[i] = r() < 0.5 ? INTERESTING[Math.floor(r() * INTERESTING.length)]! : Math.floor(r() * 256);
      return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
    }
    case 5: { // duplicate a range
      const len = Math.floor(r() * 32);
      return Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
    }
    case 6: { // splice in part of another pickle
      const from = Math.floor(r() * other.length);
      return Buffer.concat([b.subarray(0, at), other.subarray(from, from + Math.floor(r() * 64))]);
    }
    default: { // 0xff bytes over a length field
      for (let i = at; i < Math.min(b.length, at + 1 + Math.floor(r() * 8)); i++) b[i] = 0xff;
      return b;
    }
  }
}

const fuzz = suite('pickle: seeded fuzzing');

fuzz('20000 seeded mutations of valid pickles end in a value or an UnpicklingError', () => {
  const base = seeds();
  const r = rng(0x9e3779b9);
  const outcomes = new Map<string, number>();
  const options: (LoadOptions | undefined)[] = [undefined, { dict: 'object' }, { encoding: 'bytes' }, { encoding: 'latin1', dict: 'object' }, { max_depth: 8 }];
  for (let i = 0; i < 20000; i++) {
    const seed = base[Math.floor(r() * base.length)]!;
    let data = mutate(seed, base[Math.floor(r() * base.length)]!, r);
    if (r() < 0.3) data = mutate(data, seed, r);
    const o = attempt(data, `mutation ${i}`, options[i % options.length]);
    outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
  }
  // the mutations reach both outcomes and many error kinds
  assert.ok((outcomes.get('value') ?? 0) > 100, JSON.stringify([...outcomes]));
  assert.ok(outcomes.size >= 6, JSON.stringify([...outcomes]));
});

fuzz('every truncation and a few mutations of 70 kB pickles', () => {
  const r = rng(7);
  for (const value of ['u'.repeat(70000), Buffer.alloc(70000, 0x80), 'é'.repeat(40000)]) {
    for (const protocol of [0, 2, 4, 5] as const) {
      const data = dumps(value, { protocol });
      for (let n = 0; n < data.length; n += 997) assert.is(attempt(data.subarray(0, n), `truncated at ${n}`), 'ERR_PICKLE_TRUNCATED');
      for (let i = 0; i < 50; i++) attempt(mutate(data, data, r), `big mutation ${i}`);
    }
  }
});

const hostile = suite('pickle: hand-made hostile pickles');

const repeat = (s: string, n: number): string => s.repeat(n);

hostile('deep nesting of every kind is refused (ERR_PICKLE_TOO_DEEP), quickly', () => {
  const cases: [string, Buffer][] = [
    ['a million MARKs', Buffer.alloc(1_000_000, 0x28)],
    ['nested lists by APPEND', bin(`\x80\x02${repeat(']', 200000)}K\x01${repeat('a', 200000)}.`)],
    ['nested lists by APPENDS', bin(`${repeat('](', 100000)}${repeat('e', 100000)}.`)],
    ['nested tuples by TUPLE1', bin(`\x80\x02N${repeat('\x85', 500000)}.`)],
    ['nested tuples by MARK/TUPLE', bin(`${repeat('(', 100000)}${repeat('t', 100000)}.`)],
    ['nested dicts by SETITEM', bin(`\x80\x02${repeat('}K\x01', 100000)}N${repeat('s', 100000)}.`)],
    ['nested frozensets', bin(`\x80\x04${repeat('(', 5000)}${repeat('\x91', 5000)}.`)],
    ['nested sets by ADDITEMS', bin(`\x80\x04${repeat('\x8f(', 5000)}${repeat('\x90', 5000)}.`)],
    ['nested reduce arguments', bin(`\x80\x02${repeat('c__builtin__\nfrozenset\n', 5000)}N${repeat('\x85\x85R', 5000)}.`)],
  ];
  for (const [label, data] of cases) assert.is(attempt(data, label), 'ERR_PICKLE_TOO_DEEP', label);
  // the same shapes within max_depth are read
  assert.is(attempt(bin(`\x80\x02${repeat(']', 2000)}K\x01${repeat('a', 2000)}.`), 'lists of 2000'), 'value');
  assert.is(attempt(bin(`\x80\x02N${repeat('\x85', 2000)}.`), 'tuples of 2000'), 'value');
});

hostile('length fields of 2**31, 2**32-1 and 2**63 on every sized opcode fail before allocating', () => {
  const lens4 = [[0xff, 0xff, 0xff, 0x7f], [0xff, 0xff, 0xff, 0xff], [0, 0, 0, 0x80]];
  const lens8 = [[0, 0, 0, 0, 0, 0, 0, 0x80], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]];
  for (const op of [0x58, 0x42, 0x54, 0x8b]) {
    for (const l of lens4) {
      const code = attempt(Buffer.from([0x80, 4, op, ...l, 0x4e, 0x2e]), `op ${op.toString(16)}`);
      assert.ok(code === 'ERR_PICKLE_TRUNCATED' || code === 'ERR_PICKLE_VALUE', code);
    }
  }
  for (const op of [0x8d, 0x8e, 0x96, 0x95]) {
    for (const l of lens8) assert.is(attempt(Buffer.from([0x80, 5, op, ...l, 0x4e, 0x2e]), `op ${op.toString(16)}`), 'ERR_PICKLE_TRUNCATED');
  }
  for (const op of [0x55, 0x43, 0x8c, 0x8a]) assert.is(attempt(Buffer.from([0x80, 4, op, 0xff, 0x4e, 0x2e]), `op ${op.toString(16)}`), 'ERR_PICKLE_TRUNCATED');
});

hostile('stack, memo and text bombs stay bounded', () => {
  const before = process.memoryUsage().heapUsed;
  const cases: [string, Buffer, string][] = [
    ['a million DUPs', bin(`N${repeat('2', 1_000_000)}.`), 'value'],
    ['a million GETs', bin(`Nq\x00${repeat('h\x00', 1_000_000)}.`), 'value'],
    ['sparse memo keys', Buffer.concat([bin('N'), ...Array.from({ length: 50000 }, (_, i) => Buffer.from([0x72, i & 0xff, (i * 7) & 0xff, (i * 13) & 0xff, 0xff - (i & 0x7f)])), bin('.')]), 'value'],
    ['a million-digit LONG', bin(`L${repeat('9', 1_000_000)}L\n.`), 'ERR_PICKLE_VALUE'],
    ['a long FLOAT line', bin(`F${repeat('1', 1_000_000)}x\n.`), 'ERR_PICKLE_VALUE'],
    ['a 4 MB LONG4', Buffer.concat([Buffer.from([0x80, 2, 0x8b, 0, 0, 0x40, 0]), Buffer.alloc(0x400000, 0x5a), bin('.')]), 'value'],
    ['encoded surrogates, 1 MB', Buffer.concat([Buffer.from([0x80, 2, 0x58, 0xc0, 0x27, 0x09, 0]), Buffer.alloc(600000, Buffer.from([0xed, 0xa0, 0x80])), bin('.')]), 'value'],
    ['raw-unicode-escape, 100k escapes', bin(`V${repeat('\\u0041', 100000)}\n.`), 'value'],
    ['a 1 MB STRING repr', bin(`S'${repeat('\\x41', 250000)}'\n.`), 'value'],
    ['a million-byte text line without newline', bin(`I${repeat('1', 1_000_000)}`), 'ERR_PICKLE_TRUNCATED'],
    ['POP_MARK cycles', bin(`${repeat('(N1', 300000)}N.`), 'value'],
    ['a huge global name', bin(`c${repeat('m', 1_000_000)}\n${repeat('n', 1_000_000)}\n.`), 'ERR_PICKLE_GLOBAL'],
  ];
  for (const [label, data, expected] of cases) assert.is(attempt(data, label), expected, label);
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 512 * 1024 * 1024, `heap grew ${grown} bytes`);
  // a global's name is cut short in the message
  try {
    loads(bin(`c${repeat('m', 100000)}\nx\n.`));
  } catch (err) {
    assert.ok((err as Error).message.length < 1000, `message of ${(err as Error).message.length} characters`);
  }
});

hostile('disallowed globals, however they are reached, name the global', () => {
  const names = ['os.system', 'posix.system', 'subprocess.Popen', 'builtins.eval', 'builtins.exec', '__builtin__.eval',
    'builtins.getattr', 'builtins.__import__', 'nt.system', 'pickle.loads', 'copyreg._reconstructor', 'copy_reg._reconstructor',
    'builtins.object', 'collections.namedtuple', 'functools.partial', 'types.FunctionType', 'runpy._run_code'];
  for (const full of names) {
    const [module, name] = [full.slice(0, full.lastIndexOf('.')), full.slice(full.lastIndexOf('.') + 1)];
    const forms = [
      bin(`c${module}\n${name}\n(S'x'\ntR.`),
      bin(`(S'x'\ni${module}\n${name}\n.`),
      Buffer.concat([bin('\x80\x04\x8c'), Buffer.from([module.length]), bin(module), bin('\x8c'), Buffer.from([name.length]), bin(name), bin('\x93)\x81.')]),
      bin(`\x80\x02(c${module}\n${name}\no.`),
    ];
    for (const f of forms) {
      try {
        loads(f);
        assert.unreachable(`${full} was accepted`);
      } catch (err) {
        assert.instance(err, UnpicklingError);
        assert.is((err as UnpicklingError).code, 'ERR_PICKLE_GLOBAL');
        assert.ok((err as Error).message.includes(`'${full}'`), (err as Error).message);
      }
    }
  }
});

hostile('no pickle reaches a JavaScript prototype', () => {
  const polluting = [
    dumps(new Map([['__proto__', new Map([['polluted', 1]])]])),
    dumps(new Map([['constructor', new Map([['prototype', new Map([['polluted', 1]])]])]])),
    bin('\x80\x02}X\t\x00\x00\x00__proto__}X\x08\x00\x00\x00pollutedK\x01ssb.'),
    bin('\x80\x02ccollections\nOrderedDict\n)R}X\t\x00\x00\x00__proto__}X\x08\x00\x00\x00pollutedK\x01ssb.'),
    bin('\x80\x02]X\t\x00\x00\x00__proto__a}X\x08\x00\x00\x00pollutedK\x01sb.'),
  ];
  for (const data of polluting) {
    for (const dict of ['map', 'object'] as const) attempt(data, 'polluting', { dict });
  }
  for (const probe of [{}, [], new Map(), Object.create(null) as object]) {
    assert.is((probe as Record<string, unknown>)['polluted'], undefined);
  }
  assert.is((Object.prototype as Record<string, unknown>)['polluted'], undefined);
});

fuzz.run();
hostile.run();
