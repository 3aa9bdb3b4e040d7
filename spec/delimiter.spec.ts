/**
 * compile_delimiter and read_limit: what `read_delimiter` accepts, and what it becomes.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compile_delimiter, read_limit } from '../lib/engine/delimiter.js';
import { Struct } from '../lib/engine/struct.js';
import { StructError } from '../lib/engine/errors.js';

function throws_exactly(value: unknown, Kind: typeof TypeError | typeof RangeError, label: string): void {
  try {
    compile_delimiter(value);
  } catch (err) {
    assert.ok(err instanceof Error, `${label}: throws an Error`);
    assert.is((err as Error).constructor, Kind, `${label}: throws ${Kind.name}, got ${(err as Error).constructor.name}`);
    assert.not.instance(err, StructError, label);
    assert.ok((err as Error).message.includes('read_delimiter'), `${label}: the message names read_delimiter`);
    return;
  }
  assert.unreachable(`${label}: expected ${Kind.name}`);
}

const compile = suite('delimiter: compile_delimiter');

compile('RangeError for empty or out-of-range values of an accepted type', () => {
  const cases: Array<[string, unknown]> = [
    ['empty string', ''],
    ['empty Buffer', Buffer.alloc(0)],
    ['empty Uint8Array', new Uint8Array(0)],
    ['empty view of a non-empty buffer', Buffer.from('abc').subarray(1, 1)],
    ['0', 0],
    ['-0', -0],
    ['-1', -1],
    ['1.5', 1.5],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['2**53 (not a safe integer)', 2 ** 53],
    ["new Struct('0s') (size 0)", new Struct('0s')],
    ["new Struct('') (size 0)", new Struct('')],
  ];
  assert.is(new Struct('0s').size, 0, "Struct('0s') constructs, with size 0");
  for (const [label, value] of cases) throws_exactly(value, RangeError, label);
});

compile('TypeError for values of any other type', () => {
  const cases: Array<[string, unknown]> = [
    ['{}', {}],
    ['undefined', undefined],
    ['true', true],
    ['false', false],
    ['5n', 5n],
    ['[]', []],
    ['[10, 13]', [10, 13]],
    ['a function', () => '\n'],
    ['a symbol', Symbol('x')],
    ["new String('x')", new String('x')],
    ['new Number(5)', new Number(5)],
    ['an ArrayBuffer', new ArrayBuffer(2)],
    ['a Uint16Array', new Uint16Array([10])],
    ['a DataView', new DataView(new ArrayBuffer(2))],
  ];
  for (const [label, value] of cases) throws_exactly(value, TypeError, label);
});

compile('null compiles to null', () => {
  assert.is(compile_delimiter(null), null);
});

compile('a string compiles to its UTF-8 bytes as a Buffer', () => {
  for (const s of ['\n', '\r\n', ';', '\u00e9', '\u2192', '\u{1F600}', 'END']) {
    const d = compile_delimiter(s);
    assert.ok(Buffer.isBuffer(d), JSON.stringify(s));
    assert.ok((d as Buffer).equals(Buffer.from(s, 'utf8')), JSON.stringify(s));
  }
});

compile('a Buffer compiles to an equal Buffer that later changes to the original do not affect', () => {
  const original = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
  const d = compile_delimiter(original) as Buffer;
  assert.ok(Buffer.isBuffer(d));
  assert.is.not(d, original);
  assert.equal([...d], [0xde, 0xad, 0xbe, 0xef]);
  original.fill(0);
  assert.equal([...d], [0xde, 0xad, 0xbe, 0xef]);
});

compile('a Uint8Array (or a view into a larger buffer) compiles to a Buffer of exactly its bytes, copied', () => {
  const backing = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const view = backing.subarray(2, 4);
  const d = compile_delimiter(view) as Buffer;
  assert.ok(Buffer.isBuffer(d));
  assert.equal([...d], [3, 4]);
  backing.fill(9);
  assert.equal([...d], [3, 4]);
  assert.equal([...(compile_delimiter(new Uint8Array([0])) as Buffer)], [0]);
});

compile('positive safe integers compile to themselves', () => {
  for (const n of [1, 4, 7, 65536, 2 ** 31, Number.MAX_SAFE_INTEGER]) assert.is(compile_delimiter(n), n);
});

compile('a RegExp compiles to the same RegExp, flags untouched', () => {
  for (const re of [/;+/, /\r?\n/, /(\w+)=(\d+);/, /x/giu, /(?:)/]) {
    assert.is(compile_delimiter(re), re);
    assert.is(re.lastIndex, 0);
  }
});

compile('a Struct of size > 0 compiles to the same Struct', () => {
  for (const format of ['!HI', '<q', 'x', 'B', '@4s']) {
    const s = new Struct(format);
    assert.is(compile_delimiter(s), s, format);
  }
});

compile.run();

const limit = suite('delimiter: read_limit');

limit('an integer delimiter raises the limit to the frame size, never lowers it', () => {
  assert.is(read_limit(65536, 100), 65536);
  assert.is(read_limit(65536, 65536), 65536);
  assert.is(read_limit(65536, 1_000_000), 1_000_000);
  assert.is(read_limit(1, 2), 2);
});

limit('a Struct delimiter raises the limit to struct.size, never lowers it', () => {
  assert.is(read_limit(65536, new Struct('!HI')), 65536);
  assert.is(read_limit(4, new Struct('!HI')), 6);
  assert.is(read_limit(10, new Struct('100s')), 100);
});

limit('null, byte and RegExp delimiters keep buffer_size as the limit', () => {
  assert.is(read_limit(1000, null), 1000);
  assert.is(read_limit(1000, compile_delimiter('\r\n')), 1000);
  assert.is(read_limit(1000, compile_delimiter(Buffer.alloc(5000, 1))), 1000);
  assert.is(read_limit(1000, /;+/), 1000);
});

limit.run();
