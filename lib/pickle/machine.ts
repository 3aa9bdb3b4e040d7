/**
 * The pickle machine's state (stack, depths, marks, memo) and its cold paths: error helpers,
 * memo and mark bookkeeping, text literals, Python 2 strings, globals, calls and `BUILD`.
 * The hot loop (`reader.ts`) extends it.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { UnpicklingError, type UnpicklingErrorCode } from './errors.js';
import { GlobalArgumentError, PyGlobal, py_type, resolve_global, type FindClass } from './globals.js';
import { decode_raw_unicode_escape, decode_string_repr, decode_utf8, fast, parse_float } from './text.js';
import { Tuple } from './types.js';

/** A failure inside an opcode, before its offset is known. @internal */
export class Fail extends Error {
  constructor(readonly code: UnpicklingErrorCode, message: string, readonly cause_?: unknown) {
    super(message);
  }
}

/** Throws a {@link Fail}; the reader adds the opcode and its offset. @internal */
export const fail = (code: UnpicklingErrorCode, message: string, cause?: unknown): never => {
  throw new Fail(code, message, cause);
};

/** 2**32, for 8-byte lengths read as two halves. @internal */
export const TWO32 = 4294967296;

/** A name as shown in messages: at most 100 characters. */
const clip = (name: string): string => (name.length > 100 ? `${name.slice(0, 100)}...` : name);

/** Drops the stack (and its depths) to `m` items: pops, which V8 inlines, beat setting length. @internal */
export function truncate(stack: unknown[], depths: number[], m: number): void {
  while (stack.length > m) {
    stack.pop();
    depths.pop();
  }
}

const EMPTY = Buffer.alloc(0);

/** A reader whose arrays grew to this many slots (or memo keys) is dropped, not reused. */
const KEEP = 1 << 16;

/** State and cold paths of the reader. @internal */
export class Machine {
  protected buf: Buffer = EMPTY;
  protected encoding = 'ascii';
  protected find_class: FindClass | undefined = undefined;
  protected max_depth = 0;
  protected max_digits = 0;
  /** The highest memo key written: a reader that saw a large one is not reused. */
  protected memo_high = 0;
  /** The position of the opcode being run, for error messages. */
  protected at = 0;
  protected pos = 0;
  protected stack: unknown[] = [];
  /** The nesting depth of each stack slot (0 for scalars). */
  protected depths: number[] = [];
  /** Stack heights at each open MARK. */
  protected marks: number[] = [];
  protected memo: unknown[] = [];
  protected memo_depths: number[] = [];
  protected memo_count = 0;

  /** Takes the next pickle and its options. */
  protected reset(buf: Buffer, encoding: string, find_class: FindClass | undefined, max_depth: number, max_digits: number): void {
    this.buf = buf;
    this.encoding = encoding;
    this.find_class = find_class;
    this.max_depth = max_depth;
    this.max_digits = max_digits;
  }

  /**
   * Forgets the last pickle, so that none of its values stays reachable and none of its memo
   * slots reads as written; true when this reader may be reused (false after a pickle that
   * grew its arrays or used a large memo key, which only hostile pickles do).
   */
  release(): boolean {
    this.buf = EMPTY;
    this.find_class = undefined;
    if (this.memo_high >= KEEP || this.stack.length >= KEEP || this.marks.length >= KEEP) return false;
    const memo = this.memo;
    if (memo.length > 256) {
      memo.length = 0;
      this.memo_depths.length = 0;
    } else {
      // a few slots are cleared rather than the length (cheaper): a cleared slot reads as never written
      for (let i = 0; i < memo.length; i++) memo[i] = undefined;
    }
    if (this.stack.length > 0) truncate(this.stack, this.depths, 0);
    if (this.marks.length > 0) this.marks.length = 0;
    this.memo_count = 0;
    this.memo_high = 0;
    this.at = 0;
    return true;
  }


  protected truncated(n: number): never {
    throw new Fail('ERR_PICKLE_TRUNCATED', `the pickle ends inside the opcode (needs ${n} more bytes)`);
  }

  protected too_long(n: number, left: number): never {
    throw new Fail('ERR_PICKLE_TRUNCATED', `length ${n} is longer than the ${left} bytes left`);
  }

  /** An 8-byte length at `pos`, checked against what is left after it. */
  protected len8(pos: number): number {
    const buf = this.buf;
    if (pos + 8 > buf.length) this.truncated(8);
    const hi = buf.readUInt32LE(pos + 4);
    const n = buf.readUInt32LE(pos) + hi * TWO32;
    const left = buf.length - pos - 8;
    if (hi >= 0x200000 || n > left) this.too_long(hi >= 0x200000 ? Number(buf.readBigUInt64LE(pos)) : n, left);
    return n;
  }

  /** The index of the `\n` ending the line starting at `pos`. */
  protected line(pos: number): number {
    const nl = this.buf.indexOf(0x0a, pos);
    if (nl < 0) throw new Fail('ERR_PICKLE_TRUNCATED', 'the pickle ends inside a text line');
    return nl;
  }

  protected mark_floor(): number {
    const marks = this.marks;
    return marks.length === 0 ? 0 : marks[marks.length - 1]!;
  }

  protected pop_mark(): number {
    const m = this.marks.pop();
    if (m === undefined) fail('ERR_PICKLE_STACK', 'could not find MARK');
    return m!;
  }

  /** Moves the stack items above `m` into `into`; returns the depth of the container. */
  protected collect(m: number, into: unknown[]): number {
    const stack = this.stack, depths = this.depths;
    let d = 1;
    for (let i = m; i < stack.length; i++) {
      into.push(stack[i]);
      if (depths[i]! >= d) d = depths[i]! + 1;
    }
    if (d > this.max_depth) this.too_deep();
    truncate(stack, depths, m);
    return d;
  }

  protected args_depth(from: number): number {
    let d = 1;
    for (let i = from; i < this.depths.length; i++) if (this.depths[i]! >= d) d = this.depths[i]! + 1;
    if (d > this.max_depth) this.too_deep();
    return d;
  }

  protected too_deep(): never {
    throw new Fail('ERR_PICKLE_TOO_DEEP', `nesting deeper than max_depth (${this.max_depth})`);
  }

  protected put(key: number): void {
    const n = this.stack.length;
    if (n === 0 || n <= this.mark_floor()) fail('ERR_PICKLE_STACK', 'memo PUT on an empty stack');
    if (this.memo[key] === undefined) this.memo_count++;
    if (key > this.memo_high) this.memo_high = key;
    this.memo[key] = this.stack[n - 1];
    this.memo_depths[key] = this.depths[n - 1]!;
  }

  protected get(key: number): void {
    const value = this.memo[key];
    if (value === undefined) fail('ERR_PICKLE_MEMO', `memo key ${key} has not been written`);
    this.stack.push(value);
    this.depths.push(this.memo_depths[key]!);
  }

  protected memo_key(text: string): number {
    if (!/^\d{1,10}$/.test(text)) fail('ERR_PICKLE_MEMO', 'memo key must be a decimal number below 2**32');
    const key = Number(text);
    if (key >= TWO32) fail('ERR_PICKLE_MEMO', 'memo key must be below 2**32');
    return key;
  }

  /** The decimal text of `INT` / `LONG` (`long`: a trailing `L` is allowed). */
  protected decimal(text: string, long: boolean): number | bigint {
    let t = text;
    if (long && t.endsWith('L')) t = t.slice(0, -1);
    if (t.length > this.max_digits + 1) fail('ERR_PICKLE_VALUE', `an integer of more than max_digits (${this.max_digits}) digits`);
    if (!/^[+-]?\d+$/.test(t)) fail('ERR_PICKLE_VALUE', `invalid literal for int(): ${JSON.stringify(t.slice(0, 40))}`);
    if (t.length <= 15) return Number(t);
    const big = BigInt(t);
    return big >= -9007199254740991n && big <= 9007199254740991n ? Number(big) : big;
  }

  /** A Python 2 `str`, read as the `encoding` option says. */
  protected py2str(bytes: Uint8Array, start: number, end: number): string | Buffer {
    const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    switch (this.encoding) {
      case 'bytes':
        return Buffer.copyBytesFrom(b, start, end - start);
      case 'latin1':
        return fast(b).latin1Slice(start, end);
      case 'utf8':
        return decode_utf8(b, start, end);
      default:
        for (let i = start; i < end; i++) {
          if (b[i]! >= 0x80) fail('ERR_PICKLE_VALUE', "a Python 2 str that is not ASCII (read it with encoding: 'latin1', 'utf8' or 'bytes')");
        }
        return fast(b).latin1Slice(start, end);
    }
  }

  protected global(module: string, name: string): PyGlobal {
    const shown = `${clip(module)}.${clip(name)}`;
    let g: PyGlobal | undefined;
    try {
      g = resolve_global(module, name, this.find_class);
    } catch (err) {
      throw new Fail('ERR_PICKLE_GLOBAL', `find_class refused global '${shown}'`, err);
    }
    if (g === undefined) fail('ERR_PICKLE_GLOBAL', `global '${shown}' is not allowed`);
    return g!;
  }

  protected call(callable: unknown, args: unknown[]): unknown {
    if (!(callable instanceof PyGlobal)) return fail('ERR_PICKLE_STACK', `a ${py_type(callable)} is not callable`);
    try {
      const value = callable.call(...args);
      if (value === undefined) return fail('ERR_PICKLE_GLOBAL', `${callable} returned undefined`);
      return value;
    } catch (err) {
      if (err instanceof Fail) throw err;
      const why = err instanceof GlobalArgumentError ? `: ${err.message}` : '';
      return fail('ERR_PICKLE_GLOBAL', `calling ${callable} failed${why}`, err);
    }
  }

  protected build(target: unknown, state: unknown): void {
    const setstate = target !== null && typeof target === 'object' && !(target instanceof PyGlobal)
      ? (target as { __setstate__?: unknown }).__setstate__
      : undefined;
    if (typeof setstate === 'function') {
      try {
        setstate.call(target, state);
      } catch (err) {
        fail('ERR_PICKLE_GLOBAL', 'BUILD: __setstate__ failed', err);
      }
      return;
    }
    // the allow-listed types carry no state; an empty one (None, {}) is accepted as CPython writes it
    const empty = state === null || (state instanceof Map && state.size === 0) || (state instanceof Tuple && state.length === 2 && state.every((s) => s === null || (s instanceof Map && s.size === 0)));
    if (!empty) fail('ERR_PICKLE_GLOBAL', `BUILD on a ${py_type(target)}, which takes no state`);
  }

  // ------------------------------------------------------------------ protocol 0 text opcodes

  /** INT, LONG, FLOAT, STRING, UNICODE at `pos` (after the opcode): pushes the value, returns the next position. */
  protected text_scalar(op: number, pos: number): number {
    const buf = this.buf;
    const nl = this.line(pos);
    let value: unknown;
    switch (op) {
      case 0x49: { // INT: I01 / I00 are True / False (protocol 0 and 1 booleans)
        const text = fast(buf).latin1Slice(pos, nl);
        value = text === '01' ? true : text === '00' ? false : this.decimal(text, false);
        break;
      }
      case 0x4c: // LONG
        value = this.decimal(fast(buf).latin1Slice(pos, nl), true);
        break;
      case 0x46: // FLOAT
        value = parse_float(fast(buf).latin1Slice(pos, nl));
        break;
      case 0x53: { // STRING: Python strips trailing whitespace before checking the quotes
        let stop = nl;
        while (stop > pos && (buf[stop - 1] === 0x20 || buf[stop - 1] === 0x0d || buf[stop - 1] === 0x09)) stop--;
        const bytes = decode_string_repr(buf, pos, stop);
        value = this.py2str(bytes, 0, bytes.length);
        break;
      }
      default: // UNICODE
        value = decode_raw_unicode_escape(buf, pos, nl);
    }
    this.stack.push(value);
    this.depths.push(0);
    return nl + 1;
  }

  /** PUT / GET with a decimal key at `pos`; returns the next position. */
  protected text_memo(op: number, pos: number): number {
    const nl = this.line(pos);
    const key = this.memo_key(fast(this.buf).latin1Slice(pos, nl));
    if (op === 0x70) this.put(key);
    else this.get(key);
    return nl + 1;
  }

  /** GLOBAL / INST (`module\nname\n` at `pos`); returns the next position. */
  protected text_global(op: number, pos: number): number {
    const buf = this.buf, stack = this.stack, depths = this.depths;
    const nl1 = this.line(pos);
    const nl2 = this.line(nl1 + 1);
    const g = this.global(decode_utf8(buf, pos, nl1), decode_utf8(buf, nl1 + 1, nl2));
    if (op === 0x63) {
      stack.push(g);
      depths.push(0);
    } else {
      // INST: the arguments are above the last mark
      const m = this.pop_mark();
      const args = stack.slice(m);
      const d = this.args_depth(m);
      truncate(stack, depths, m);
      stack.push(this.call(g, args));
      depths.push(d);
    }
    return nl2 + 1;
  }
}
