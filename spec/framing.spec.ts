/**
 * The Framer alone: bytes in, frames out, no sockets.
 *
 * The central property: for every delimiter kind, the frames and the leftover do not depend
 * on how the bytes were split into chunks. The reference for each input is the Framer fed
 * the whole input at once (checked against the frames the input was built from), and every
 * other splitting must reproduce it exactly.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Framer, NO_FRAME } from '../lib/engine/framing.js';
import { compile_delimiter, type CompiledDelimiter } from '../lib/engine/delimiter.js';
import { Struct } from '../lib/engine/struct.js';
import { rng } from './_helpers.js';

type Frame = Buffer | unknown[];

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const str = (frame: unknown): string => {
  assert.ok(Buffer.isBuffer(frame), `expected a Buffer frame, got ${String(frame)}`);
  return (frame as Buffer).toString('latin1');
};

/** Calls next() until NO_FRAME; fails instead of spinning if a framer yields endlessly. */
function drain(f: Framer, d: CompiledDelimiter, search: boolean, ended: boolean, out: Frame[], limit = 1e7): void {
  for (let n = 0; ; n++) {
    const frame = f.next(d, search, ended);
    if (frame === NO_FRAME) return;
    if (n >= limit) assert.unreachable(`next() produced more than ${limit} frames in a row`);
    out.push(frame);
  }
}

interface Run {
  frames: Frame[];
  leftover: Buffer;
}

/** Feeds `pieces` one by one (draining after each, as a stream does), then ends the stream. */
function run(pieces: Iterable<Buffer>, d: CompiledDelimiter, search = true): Run {
  const f = new Framer();
  const frames: Frame[] = [];
  for (const p of pieces) {
    f.feed(p);
    drain(f, d, search, false, frames);
  }
  drain(f, d, search, true, frames);
  const leftover = f.take_all();
  assert.is(f.length, 0, 'take_all() empties the framer');
  return { frames, leftover };
}

/** The reference: the whole input fed at once, then next() with ended = true until NO_FRAME. */
function reference(input: Buffer, d: CompiledDelimiter, search = true): Run {
  const f = new Framer();
  f.feed(input);
  const frames: Frame[] = [];
  drain(f, d, search, true, frames);
  return { frames, leftover: f.take_all() };
}

function* fixed_pieces(input: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < input.length; i += size) yield input.subarray(i, i + size);
}

/** Piece sizes mixing tiny (accumulated) and large (kept) chunks. */
function* random_pieces(input: Buffer, seed: number): Generator<Buffer> {
  const r = rng(seed);
  let i = 0;
  while (i < input.length) {
    const x = r();
    const max = x < 0.5 ? 16 : x < 0.8 ? 700 : x < 0.95 ? 5000 : 40000;
    const n = 1 + Math.floor(r() * max);
    yield input.subarray(i, i + n);
    i += n;
  }
}

/** A comparable form of a frame: Buffers as hex, match arrays as their strings. */
function norm(frame: unknown): unknown {
  if (Buffer.isBuffer(frame)) return { bytes: frame.toString('hex') };
  if (Array.isArray(frame)) return frame.map((v) => (Buffer.isBuffer(v) ? { bytes: v.toString('hex') } : v === undefined ? null : v));
  return frame;
}

function same_frame(actual: unknown, expected: unknown): boolean {
  if (Buffer.isBuffer(expected)) return Buffer.isBuffer(actual) && actual.equals(expected);
  if (!Array.isArray(expected) || !Array.isArray(actual) || actual.length !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) {
    const e: unknown = expected[i];
    const a: unknown = actual[i];
    if (Buffer.isBuffer(e)) {
      if (!Buffer.isBuffer(a) || !a.equals(e)) return false;
    } else if (a !== e && !(a === undefined && e === null)) return false;
  }
  return true;
}

function same_run(actual: Run, expected: Run, label: string): void {
  for (let i = 0; i < Math.min(actual.frames.length, expected.frames.length); i++) {
    if (!same_frame(actual.frames[i], expected.frames[i])) {
      const show = (x: unknown): string => JSON.stringify(norm(x), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)).slice(0, 200);
      assert.unreachable(`${label}: frame ${i} differs: got ${show(actual.frames[i])}, expected ${show(expected.frames[i])}`);
    }
  }
  assert.is(actual.frames.length, expected.frames.length, `${label}: number of frames`);
  assert.ok(actual.leftover.equals(expected.leftover), `${label}: leftover differs (${actual.leftover.length} vs ${expected.leftover.length} bytes)`);
}

// ---------------------------------------------------------------------------- input builders

interface Case {
  name: string;
  delimiter: CompiledDelimiter;
  search: boolean;
  input: Buffer;
  /** The frames the input was built from (what whole-input framing must give). */
  frames: Frame[];
  leftover: Buffer;
}

function random_bytes(r: () => number, n: number, alphabet?: Buffer): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = alphabet ? alphabet[Math.floor(r() * alphabet.length)]! : Math.floor(r() * 256);
  return out;
}

/**
 * Frame lengths: mostly short, some empty, `long` frames longer than the 16 KiB accumulator
 * (RegExp cases use one: a RegExp rescans the buffered bytes on every attempt, by design).
 */
function frame_lengths(r: () => number, count: number, allow_empty: boolean, long = 3): number[] {
  const lengths: number[] = [];
  for (let i = 0; i < count; i++) {
    const x = r();
    lengths.push(allow_empty && x < 0.12 ? 0 : 1 + Math.floor(r() * (x < 0.9 ? 40 : 600)));
  }
  for (const at of [count >> 1, count >> 3, count - 5].slice(0, long)) lengths[at] = 16385 + Math.floor(r() * (long > 1 ? 4000 : 100));
  return lengths;
}

/** Frames for a byte delimiter: random content salted with proper prefixes of the delimiter. */
function bytes_case(name: string, delim: string | Buffer, seed: number): Case {
  const d = compile_delimiter(delim) as Buffer;
  const r = rng(seed);
  const prefixes = Array.from({ length: d.length - 1 }, (_, k) => d.subarray(0, k + 1));
  const frames: Buffer[] = [];
  for (const len of frame_lengths(r, 400, true)) {
    const parts: Buffer[] = [];
    let n = 0;
    while (n < len) {
      const piece =
        prefixes.length > 0 && r() < 0.3 ? prefixes[Math.floor(r() * prefixes.length)]! : random_bytes(r, 1 + Math.floor(r() * 8));
      parts.push(piece);
      n += piece.length;
    }
    const frame = Buffer.concat(parts).subarray(0, len);
    // The delimiter must first occur right after the frame: break any occurrence inside it
    // (these delimiters have no borders, so none can straddle the frame's end).
    for (let at = frame.indexOf(d); at >= 0; at = frame.indexOf(d, at)) frame[at + d.length - 1] = 0x41;
    assert.is(Buffer.concat([frame, d]).indexOf(d), frame.length);
    frames.push(frame);
  }
  // Leftover: a tail ending in a partial delimiter.
  const leftover = Buffer.concat([b('tail'), prefixes.length > 0 ? prefixes[prefixes.length - 1]! : b('')]);
  assert.is(leftover.indexOf(d), -1);
  const input = Buffer.concat([...frames.flatMap((f) => [f, d]), leftover]);
  return { name, delimiter: d, search: true, input, frames, leftover };
}

function integer_case(n: number, total: number, seed: number): Case {
  const r = rng(seed);
  const input = random_bytes(r, total);
  const frames: Buffer[] = [];
  let i = 0;
  for (; i + n <= total; i += n) frames.push(input.subarray(i, i + n));
  return { name: `integer ${n}`, delimiter: compile_delimiter(n), search: true, input, frames, leftover: input.subarray(i) };
}

/** Frames for RegExp search: bytes without `avoid`, joined by a delimiter text per frame. */
function regex_search_case(name: string, re: RegExp, avoid: string, join: (frame: Buffer, r: () => number) => string, seed: number, allow_empty: boolean): Case {
  const r = rng(seed);
  const alphabet = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((c) => !avoid.includes(String.fromCharCode(c))));
  const frames: Buffer[] = [];
  const parts: Buffer[] = [];
  for (const len of frame_lengths(r, 300, allow_empty, 1)) {
    const frame = random_bytes(r, len, alphabet);
    frames.push(frame);
    parts.push(frame, b(join(frame, r)));
  }
  const leftover = b('no delimiter after this');
  parts.push(leftover);
  return { name, delimiter: re, search: true, input: Buffer.concat(parts), frames, leftover };
}

function regex_match_case(seed: number): Case {
  const r = rng(seed);
  const word = b('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_');
  const digits = b('0123456789');
  const frames: unknown[][] = [];
  const parts: Buffer[] = [];
  for (const len of frame_lengths(r, 300, false, 1)) {
    const key = random_bytes(r, len, word).toString('latin1');
    const value = random_bytes(r, 1 + Math.floor(r() * 12), digits).toString('latin1');
    const whole = `${key}=${value};`;
    frames.push([whole, key, value]);
    parts.push(b(whole));
  }
  const leftover = b('incomplete=12');
  parts.push(leftover);
  return { name: 'RegExp match /(\\w+)=(\\d+);/', delimiter: /(\w+)=(\d+);/, search: false, input: Buffer.concat(parts), frames, leftover };
}

function struct_case(format: string, values: () => unknown[], count: number): Case {
  const s = new Struct(format);
  const frames: unknown[][] = [];
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const v = values();
    frames.push(v);
    parts.push(s.pack(...v));
  }
  const leftover = Buffer.alloc(s.size - 1, 0xab);
  parts.push(leftover);
  return { name: `Struct('${format}')`, delimiter: compile_delimiter(s), search: true, input: Buffer.concat(parts), frames, leftover };
}

function cases(): Case[] {
  const r = rng(99);
  const u32 = (): number => Math.floor(r() * 2 ** 32);
  const i64 = (): bigint => BigInt.asIntN(64, (BigInt(u32()) << 32n) | BigInt(u32()));
  return [
    bytes_case('string "\\r\\n"', '\r\n', 1),
    bytes_case('1-byte string ";"', ';', 2),
    bytes_case('3-byte UTF-8 string "\u2192"', '\u2192', 3),
    bytes_case('4-byte binary Buffer deadbeef', Buffer.from([0xde, 0xad, 0xbe, 0xef]), 4),
    integer_case(1, 3000, 5),
    integer_case(4, 4003, 6),
    integer_case(7, 7 * 500 + 6, 7),
    integer_case(20000, 20000 * 8 + 123, 8),
    regex_search_case('RegExp search /;+/', /;+/, ';', (_f, rr) => ';'.repeat(1 + Math.floor(rr() * 3)), 9, false),
    regex_search_case('RegExp search /\\r?\\n/', /\r?\n/, '\n', (f, rr) => (f[f.length - 1] === 0x0d || rr() < 0.5 ? '\r\n' : '\n'), 10, true),
    regex_match_case(11),
    struct_case('!HI', () => [Math.floor(r() * 65536), u32()], 600),
    struct_case('<q', () => [i64()], 600),
  ];
}

// ---------------------------------------------------------------------------- 1. examples

const examples = suite('framing: the contract examples');

examples('null delimiter: next() returns everything buffered, then NO_FRAME', () => {
  const f = new Framer();
  assert.is(f.next(null, true, false), NO_FRAME);
  f.feed(b('abc'));
  assert.is(str(f.next(null, true, false)), 'abc');
  f.feed(b('de'));
  f.feed(b('f'));
  assert.is(str(f.next(null, true, false)), 'def');
  assert.is(f.next(null, true, false), NO_FRAME);
  assert.is(f.length, 0);
});

examples('"\\r\\n": "a\\r\\nb\\r\\nc" then "d\\r\\n" gives a, b, cd', () => {
  const f = new Framer();
  const d = compile_delimiter('\r\n');
  f.feed(b('a\r\nb\r\nc'));
  assert.is(str(f.next(d, true, false)), 'a');
  assert.is(str(f.next(d, true, false)), 'b');
  assert.is(f.next(d, true, false), NO_FRAME);
  assert.is(f.length, 1);
  f.feed(b('d\r\n'));
  assert.is(str(f.next(d, true, false)), 'cd');
  assert.is(f.next(d, true, false), NO_FRAME);
  assert.is(f.length, 0);
});

examples('a Uint8Array delimiter frames like the equal Buffer, delimiter removed, empty frames kept', () => {
  const f = new Framer();
  const d = compile_delimiter(new Uint8Array([0, 0xff]));
  f.feed(Buffer.from([1, 0, 0xff, 0, 0xff, 0, 2, 0, 0xff, 0]));
  assert.equal([...(f.next(d, true, false) as Buffer)], [1]);
  assert.equal([...(f.next(d, true, false) as Buffer)], []);
  assert.equal([...(f.next(d, true, false) as Buffer)], [0, 2]);
  assert.is(f.next(d, true, true), NO_FRAME);
  assert.equal([...f.take_all()], [0]);
});

examples('integer 4: "0123456789" gives 0123, 4567 and 89 waits', () => {
  const f = new Framer();
  f.feed(b('0123456789'));
  assert.is(str(f.next(4, true, false)), '0123');
  assert.is(str(f.next(4, true, false)), '4567');
  assert.is(f.next(4, true, false), NO_FRAME);
  assert.is(f.next(4, true, true), NO_FRAME, 'ending does not release a short integer frame');
  assert.is(f.length, 2);
  f.feed(b('ab'));
  assert.is(str(f.next(4, true, false)), '89ab');
});

examples('/;+/ on "a;;b;c" gives a and b, leaving c, for every one of its 32 splittings', () => {
  const input = 'a;;b;c';
  for (let mask = 0; mask < 1 << (input.length - 1); mask++) {
    const pieces: Buffer[] = [];
    let start = 0;
    for (let i = 1; i < input.length; i++) {
      if (mask & (1 << (i - 1))) {
        pieces.push(b(input.slice(start, i)));
        start = i;
      }
    }
    pieces.push(b(input.slice(start)));
    const got = run(pieces, /;+/);
    assert.equal(got.frames.map(str), ['a', 'b'], `split ${pieces.map(String).join('|')}`);
    assert.is(got.leftover.toString(), 'c');
  }
});

examples('a RegExp search match reaching the end of the buffer is held until more bytes or the end', () => {
  const f = new Framer();
  f.feed(b('a;'));
  assert.is(f.next(/;+/, true, false), NO_FRAME, 'the run of ; might continue');
  f.feed(b(';'));
  assert.is(f.next(/;+/, true, false), NO_FRAME);
  assert.is(str(f.next(/;+/, true, true)), 'a', 'at the end the match is final');
  assert.is(f.length, 0, 'the whole match ";;" was removed');
});

examples('RegExp match mode: the frame is the match array, groups included, of a match at the start', () => {
  const f = new Framer();
  const re = /(\w+)=(\d+);/;
  f.feed(b('x=1;y=22;'));
  const m1 = f.next(re, false, false);
  assert.ok(Array.isArray(m1));
  assert.equal(Array.from(m1 as unknown[]), ['x=1;', 'x', '1']);
  // It reaches the end of the buffer, but no further byte could change it: delivered at once.
  assert.equal(Array.from(f.next(re, false, false) as unknown[]), ['y=22;', 'y', '22']);
  assert.is(f.length, 0);
  f.feed(b('junk x=1;'));
  assert.is(f.next(re, false, true), NO_FRAME, 'match mode does not skip to a later match');
  assert.is(f.length, 9);
});

examples('RegExp match mode keeps unmatched optional groups as undefined', () => {
  const f = new Framer();
  f.feed(b('ab;rest'));
  const m = f.next(/(a)(x)?(b);/, false, false) as unknown[];
  assert.equal(Array.from(m), ['ab;', 'a', undefined, 'b']);
  assert.is(f.take_all().toString(), 'rest');
});

examples("Struct('!HI') waits for 6 bytes and yields the unpacked fields", () => {
  const s = new Struct('!HI');
  const f = new Framer();
  const packed = s.pack(0x1234, 0xdeadbeef);
  f.feed(packed.subarray(0, 5));
  assert.is(f.next(s, true, false), NO_FRAME);
  assert.is(f.next(s, true, true), NO_FRAME);
  f.feed(Buffer.concat([packed.subarray(5), packed]));
  assert.equal(f.next(s, true, false), [0x1234, 0xdeadbeef]);
  assert.equal(f.next(s, true, false), [0x1234, 0xdeadbeef]);
  assert.is(f.next(s, true, false), NO_FRAME);
  assert.is(f.length, 0);
});

examples('a string delimiter is matched as its UTF-8 bytes', () => {
  const f = new Framer();
  const d = compile_delimiter('\u00e9');
  assert.equal([...(d as Buffer)], [0xc3, 0xa9]);
  f.feed(Buffer.from('na\u00efve\u00e9caf\u00e9', 'utf8'));
  assert.is((f.next(d, true, false) as Buffer).toString('utf8'), 'na\u00efve');
  assert.is((f.next(d, true, false) as Buffer).toString('utf8'), 'caf');
});

examples('length, take(n), skip(n), take_all() and clear() on the buffered bytes', () => {
  const f = new Framer();
  assert.is(f.length, 0);
  assert.is(f.take_all().length, 0, 'take_all() of nothing is empty');
  f.feed(b('hello'));
  f.feed(Buffer.alloc(0));
  f.feed(b(' world'));
  assert.is(f.length, 11);
  assert.is(f.take(3).toString(), 'hel');
  f.skip(3);
  assert.is(f.length, 5);
  assert.is(f.take(0).length, 0);
  assert.is(f.take_all().toString(), 'world');
  f.feed(b('x'.repeat(1000)));
  f.feed(b('y'));
  f.clear();
  assert.is(f.length, 0);
  assert.is(f.next(1, true, true), NO_FRAME);
  f.feed(b('z\n'));
  assert.is(str(f.next(compile_delimiter('\n'), true, false)), 'z');
});

examples.run();

// ---------------------------------------------------------------------------- 2. splitting

const splitting = suite('framing: frames do not depend on how the bytes were split');

const CHUNK_SIZES = [...Array.from({ length: 64 }, (_, i) => i + 1), 511, 512, 513, 4096, 16384, 65536];
const RANDOM_SPLITTINGS = 300;

for (const c of cases()) {
  splitting(`${c.name}: every chunk size 1..64, 511..65536 and ${RANDOM_SPLITTINGS} random splittings give the whole-input frames and leftover`, () => {
    // The reference: the whole input at once.
    const whole = reference(c.input, c.delimiter, c.search);
    same_run(whole, { frames: c.frames, leftover: c.leftover }, `${c.name}, whole input vs the frames it was built from`);
    same_run(run([c.input], c.delimiter, c.search), whole, `${c.name}, one chunk drained as a stream`);
    for (const size of CHUNK_SIZES) same_run(run(fixed_pieces(c.input, size), c.delimiter, c.search), whole, `${c.name}, chunks of ${size}`);
    for (let seed = 1; seed <= RANDOM_SPLITTINGS; seed++) {
      same_run(run(random_pieces(c.input, seed), c.delimiter, c.search), whole, `${c.name}, random splitting seed ${seed}`);
    }
  });
}

splitting('null delimiter: frames are the chunks (or what is buffered), in order, never empty, concatenating to the input', () => {
  const input = random_bytes(rng(12), 100000);
  for (let seed = 1; seed <= 50; seed++) {
    const got = run(random_pieces(input, seed), null);
    assert.ok(got.frames.every((f) => Buffer.isBuffer(f) && f.length > 0));
    assert.ok(Buffer.concat(got.frames as Buffer[]).equals(input));
    assert.is(got.leftover.length, 0);
  }
});

splitting.run();

// ---------------------------------------------------------------------------- 3. frame lifetime

const lifetime = suite('framing: frames stay valid after more bytes are fed');

interface Kept {
  frame: Frame;
  copy: unknown;
}

function keep(frame: Frame): Kept {
  return { frame, copy: Buffer.isBuffer(frame) ? Buffer.from(frame) : frame.map((v) => (Buffer.isBuffer(v) ? Buffer.from(v) : v)) };
}

function check_kept(kept: Kept[], when: string): void {
  kept.forEach((k, i) => {
    if (!same_frame(k.frame, k.copy)) assert.unreachable(`frame ${i} changed ${when}`);
  });
}

const LIFETIME_DELIMITERS: Array<[string, CompiledDelimiter, boolean]> = [
  ['"\\r\\n"', compile_delimiter('\r\n'), true],
  ['integer 5', 5, true],
  ['null', null, true],
  ['/;+/', /;+/, true],
  ["Struct('<H3s')", new Struct('<H3s'), true],
  ['/([^;]*);/ match', /([^;]*);/, false],
];

for (const [name, d, search] of LIFETIME_DELIMITERS) {
  lifetime(`${name}: frames cut from tiny chunks are unchanged after 65 KB more are fed, across accumulator refills and clear()`, () => {
    const r = rng(13);
    const unit = b('ab;c\r\nd;;xy\r\n');
    const input = Buffer.concat(Array.from({ length: 5000 }, () => unit)); // 65 KB: four accumulators
    const f = new Framer();
    const kept: Kept[] = [];
    let i = 0;
    let fed_since_check = 0;
    while (i < input.length) {
      // Mostly tiny chunks (into the accumulator), sometimes a large one.
      const n = r() < 0.97 ? 1 + Math.floor(r() * 5) : 512 + Math.floor(r() * 2000);
      const piece = Buffer.from(input.subarray(i, i + n)); // a fresh chunk, as a socket gives
      i += n;
      f.feed(piece);
      const out: Frame[] = [];
      drain(f, d, search, false, out);
      for (const frame of out) kept.push(keep(frame));
      fed_since_check += n;
      if (fed_since_check > 50000) {
        check_kept(kept, `after ${i} bytes`);
        fed_since_check = 0;
      }
      if (r() < 0.001) f.clear();
    }
    // take(), take_all() views too.
    f.feed(b('tail-bytes'));
    kept.push(keep(f.take(4)));
    kept.push(keep(f.take_all()));
    f.feed(b('x'.repeat(100)));
    for (let k = 0; k < 20000; k++) f.feed(b('zz'));
    assert.ok(kept.length > 1000);
    check_kept(kept, 'at the end');
  });
}

lifetime.run();

// ---------------------------------------------------------------------------- 4. changing the delimiter

const change = suite('framing: changing the delimiter between frames');

change('feed "3\\r\\nabcREST": a line with "\\r\\n", then integer 3 gives "abc", REST stays buffered', () => {
  const f = new Framer();
  f.feed(b('3\r\nabcREST'));
  assert.is(str(f.next(compile_delimiter('\r\n'), true, false)), '3');
  assert.is(str(f.next(3, true, false)), 'abc');
  assert.is(f.length, 4);
  assert.is(f.take_all().toString(), 'REST');
});

change('a delimiter searched for without success does not hide an earlier occurrence of the next delimiter', () => {
  const f = new Framer();
  const crlf = compile_delimiter('\r\n');
  f.feed(b('ab;cd'));
  f.feed(b('ef;gh\r'));
  assert.is(f.next(crlf, true, false), NO_FRAME);
  assert.is(str(f.next(compile_delimiter(';'), true, false)), 'ab');
  assert.is(f.next(crlf, true, false), NO_FRAME);
  f.feed(b('\nij'));
  assert.is(str(f.next(crlf, true, false)), 'cdef;gh');
  assert.is(str(f.next(null, true, false)), 'ij');
});

change('switching back to a delimiter after other frames were taken finds its next occurrence', () => {
  const f = new Framer();
  const semi = compile_delimiter(';');
  const nl = compile_delimiter('\n');
  f.feed(b('a\nb;c\nd;'));
  assert.is(str(f.next(semi, true, false)), 'a\nb');
  assert.is(str(f.next(nl, true, false)), 'c');
  assert.is(str(f.next(semi, true, false)), 'd');
  assert.is(f.length, 0);
});

change('bytes, integer, Struct, RegExp search, RegExp match and null in turn over one buffer', () => {
  const s = new Struct('>H');
  const f = new Framer();
  f.feed(b('line\r\n'));
  f.feed(b('XYZ'));
  f.feed(Buffer.from([0x01, 0x02]));
  f.feed(b('one;;two;k=9;'));
  f.feed(b('rest'));
  assert.is(str(f.next(compile_delimiter('\r\n'), true, false)), 'line');
  assert.is(str(f.next(3, true, false)), 'XYZ');
  assert.equal(f.next(s, true, false), [0x0102]);
  assert.is(str(f.next(/;+/, true, false)), 'one');
  assert.is(str(f.next(/;+/, true, false)), 'two');
  assert.equal(Array.from(f.next(/(\w)=(\d);/, false, false) as unknown[]), ['k=9;', 'k', '9']);
  assert.is(str(f.next(null, true, false)), 'rest');
});

change('a new delimiter object equal to the old one keeps framing correctly', () => {
  const f = new Framer();
  f.feed(b('abc\r'));
  assert.is(f.next(compile_delimiter('\r\n'), true, false), NO_FRAME);
  f.feed(b('\ndef\r\n'));
  assert.is(str(f.next(compile_delimiter('\r\n'), true, false)), 'abc');
  assert.is(str(f.next(compile_delimiter('\r\n'), true, false)), 'def');
});

change('take(n) and skip(n) between delimiter searches do not confuse the search', () => {
  const f = new Framer();
  const d = compile_delimiter('--');
  for (const ch of 'aa-bb-cc--dd--') f.feed(b(ch));
  assert.is(str(f.next(d, true, false)), 'aa-bb-cc');
  f.feed(b('e-'));
  assert.is(f.take(1).toString(), 'd');
  f.skip(1);
  assert.is(str(f.next(d, true, false)), '');
  f.feed(b('-x'));
  assert.is(str(f.next(d, true, false)), 'e');
  assert.is(f.take_all().toString(), 'x');
});

change.run();

// ---------------------------------------------------------------------------- 5. linear behaviour

const linear = suite('framing: long frames fed byte by byte');

linear('a 1 MiB "\\r\\n" line with lone "\\r" inside, fed 1 byte at a time, comes out whole', () => {
  const line = Buffer.alloc(1 << 20);
  for (let i = 0; i < line.length; i++) line[i] = i % 97 === 0 ? 0x0d : 0x61 + (i % 26);
  const input = Buffer.concat([line, b('\r\nnext')]);
  const d = compile_delimiter('\r\n');
  const f = new Framer();
  const frames: Frame[] = [];
  for (let i = 0; i < input.length; i++) {
    f.feed(input.subarray(i, i + 1));
    const frame = f.next(d, true, false);
    if (frame !== NO_FRAME) frames.push(frame);
  }
  assert.is(frames.length, 1);
  assert.ok((frames[0] as Buffer).equals(line));
  assert.is(f.take_all().toString(), 'next');
});

linear('a 256 KiB frame full of delimiter prefixes, with a 4-byte binary delimiter, fed 1 byte at a time, comes out whole', () => {
  const d = compile_delimiter(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
  const line = Buffer.alloc(1 << 18);
  for (let i = 0; i < line.length; i++) line[i] = [0xde, 0xad, 0xbe, 0x00][i % 4]!;
  const input = Buffer.concat([line, d as Buffer]);
  const f = new Framer();
  const frames: Frame[] = [];
  for (let i = 0; i < input.length; i++) {
    f.feed(input.subarray(i, i + 1));
    const frame = f.next(d, true, false);
    if (frame !== NO_FRAME) frames.push(frame);
  }
  assert.is(frames.length, 1);
  assert.ok((frames[0] as Buffer).equals(line));
});

linear('an integer frame of 1 MiB fed 1 byte at a time comes out whole', () => {
  const input = random_bytes(rng(14), 1 << 20);
  const f = new Framer();
  let frame: Frame | typeof NO_FRAME = NO_FRAME;
  for (let i = 0; i < input.length; i++) {
    f.feed(input.subarray(i, i + 1));
    const got = f.next(1 << 20, true, false);
    if (got !== NO_FRAME) frame = got;
  }
  assert.ok(Buffer.isBuffer(frame) && frame.equals(input));
});

linear.run();

// ---------------------------------------------------------------------------- 6. empty matches

const empty = suite('framing: RegExps that can match the empty string');

empty('/x*/ search: empty matches are skipped, so "abc" yields no frame at all', () => {
  const f = new Framer();
  f.feed(b('abc'));
  assert.is(f.next(/x*/, true, false), NO_FRAME);
  assert.is(f.next(/x*/, true, true), NO_FRAME);
  assert.is(f.length, 3);
});

empty('/x*/ search on "axxbxc" yields a and b, then c is left over', () => {
  const got = run([b('axxbxc')], /x*/);
  assert.equal(got.frames.map(str), ['a', 'b']);
  assert.is(got.leftover.toString(), 'c');
  for (let size = 1; size <= 6; size++) {
    const split = run(fixed_pieces(b('axxbxc'), size), /x*/);
    assert.equal(split.frames.map(str), ['a', 'b'], `chunks of ${size}`);
  }
});

empty('always-empty RegExps (/(?:)/, /^/, /(?=a)/, /\\b/) never produce frames', () => {
  for (const re of [/(?:)/, /^/, /(?=a)/, /\b/, /$/]) {
    for (const search of [true, false]) {
      const frames: Frame[] = [];
      const f = new Framer();
      f.feed(b('aaa bbb'));
      drain(f, re, search, false, frames, 10);
      drain(f, re, search, true, frames, 10);
      assert.is(frames.length, 0, `${re} search=${search}`);
      assert.is(f.length, 7);
    }
  }
});

empty('/x*/ in match mode: a non-empty match at the start is a frame, an empty one is not', () => {
  const f = new Framer();
  f.feed(b('xxab'));
  assert.equal(Array.from(f.next(/x*/, false, false) as unknown[]), ['xx']);
  assert.is(f.next(/x*/, false, false), NO_FRAME);
  assert.is(f.next(/x*/, false, true), NO_FRAME);
  assert.is(f.length, 2);
});

empty('a RegExp with the g or y flag frames like the same RegExp without it', () => {
  for (const re of [/;+/g, /;+/y, /;+/gy]) {
    const got = run([b('a;b;;c;')], re);
    assert.equal(got.frames.map(str), ['a', 'b', 'c'], String(re));
  }
});

empty.run();
