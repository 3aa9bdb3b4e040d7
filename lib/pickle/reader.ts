/**
 * `loads`: the pickle machine, protocols 0 to 5, as a pure decoder.
 *
 * One loop, one `switch` on the opcode byte, a value stack with a parallel stack of nesting
 * depths, the memo as an array. No opcode runs code: globals resolve through `globals.ts`.
 * Every length is checked against the bytes left before anything is allocated, so the memory
 * a pickle can make us use is a small multiple of its own length (as for CPython), and its
 * length is bounded by `max_bytes`.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { UnpicklingError } from './errors.js';
import { py_type, type FindClass } from './globals.js';
import { Fail, Machine, TWO32, fail, truncate } from './machine.js';
import { to_objects } from './objects.js';
import { opcode_name } from './opcodes.js';
import { TextError, decode_raw_unicode_escape, decode_string_repr, decode_utf8, fast, parse_float } from './text.js';
import { ByteArray, FrozenSet, Tuple } from './types.js';

/** Options of {@link loads}. */
export interface LoadOptions {
  /**
   * How a Python 2 `str` (the `STRING`, `BINSTRING`, `SHORT_BINSTRING` opcodes) is read, as
   * the `encoding` argument of Python 3's `pickle.loads`: `'ascii'` (default; non-ASCII
   * bytes are an error), `'latin1'`, `'utf8'` text, or `'bytes'` for a `Buffer`.
   */
  encoding?: 'ascii' | 'latin1' | 'utf8' | 'bytes';
  /**
   * `'map'` (default): every dict is a `Map`. `'object'`: a dict whose keys are all strings
   * is a plain object instead (keys such as `__proto__` become own properties, never the
   * prototype); other dicts stay `Map`s.
   */
  dict?: 'map' | 'object';
  /** Accepts globals beyond the allow-list; see {@link FindClass}. */
  find_class?: FindClass;
  /** The longest pickle accepted, in bytes (default 64 MiB). */
  max_bytes?: number;
  /** The deepest nesting of containers accepted (default 3000). */
  max_depth?: number;
  /**
   * The most decimal digits in a protocol 0/1 `INT`/`LONG` (default 4300, Python's own
   * `sys.int_info.default_max_str_digits`): parsing decimal text is quadratic.
   */
  max_digits?: number;
}

/** Defaults of {@link LoadOptions}. */
export const LOAD_DEFAULTS = { max_bytes: 64 * 1024 * 1024, max_depth: 3000, max_digits: 4300 } as const;

const ENCODINGS = new Set(['ascii', 'latin1', 'utf8', 'bytes']);

function limit(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}

/** Reads a whole pickle; see {@link LoadOptions}. @internal */
export function load(data: Uint8Array, options: LoadOptions | undefined): unknown {
  if (!(data instanceof Uint8Array)) throw new TypeError('loads() takes a Uint8Array (or Buffer)');
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (options === undefined) {
    if (data.length > LOAD_DEFAULTS.max_bytes) too_large(data.length, LOAD_DEFAULTS.max_bytes);
    return read(buf, 'ascii', undefined, LOAD_DEFAULTS.max_depth, LOAD_DEFAULTS.max_digits);
  }
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const encoding = options.encoding ?? 'ascii';
  if (!ENCODINGS.has(encoding)) throw new RangeError("encoding must be 'ascii', 'latin1', 'utf8' or 'bytes'");
  if (options.dict !== undefined && options.dict !== 'map' && options.dict !== 'object') throw new RangeError("dict must be 'map' or 'object'");
  if (options.find_class !== undefined && typeof options.find_class !== 'function') throw new TypeError('find_class must be a function');
  const max_bytes = limit('max_bytes', options.max_bytes, LOAD_DEFAULTS.max_bytes);
  const max_depth = limit('max_depth', options.max_depth, LOAD_DEFAULTS.max_depth);
  const max_digits = limit('max_digits', options.max_digits, LOAD_DEFAULTS.max_digits);
  if (data.length > max_bytes) too_large(data.length, max_bytes);
  const value = read(buf, encoding, options.find_class, max_depth, max_digits);
  return options.dict === 'object' ? to_objects(value) : value;
}

/** The reader kept between calls (taken while in use: a find_class calling loads gets a new one). */
let pooled: Reader | null = null;

function read(buf: Buffer, encoding: string, find_class: FindClass | undefined, max_depth: number, max_digits: number): unknown {
  const reader = pooled ?? new Reader();
  pooled = null;
  try {
    return reader.run(buf, encoding, find_class, max_depth, max_digits);
  } finally {
    if (reader.release()) pooled = reader;
  }
}

function too_large(length: number, max_bytes: number): never {
  throw new UnpicklingError('ERR_PICKLE_TOO_LARGE', `the pickle is ${length} bytes, over max_bytes (${max_bytes})`);
}

class Reader extends Machine {
  run(buf: Buffer, encoding: string, find_class: FindClass | undefined, max_depth: number, max_digits: number): unknown {
    this.reset(buf, encoding, find_class, max_depth, max_digits);
    try {
      return this.loop();
    } catch (err) {
      if (err instanceof UnpicklingError) throw err;
      if (err instanceof Fail) throw new UnpicklingError(err.code, `${opcode_name(this.buf[this.at] ?? 0)}: ${err.message}`, this.at, err.cause_);
      if (err instanceof TextError) throw new UnpicklingError('ERR_PICKLE_VALUE', `${opcode_name(this.buf[this.at] ?? 0)}: ${err.message}`, this.at, err);
      if (err instanceof RangeError) {
        // V8 refusing an allocation (a BigInt over its size limit, say): the pickle asked too much
        throw new UnpicklingError('ERR_PICKLE_TOO_LARGE', `${opcode_name(this.buf[this.at] ?? 0)}: ${err.message}`, this.at, err);
      }
      throw err;
    }
  }

  private loop(): unknown {
    const buf = this.buf;
    const end = buf.length;
    const stack = this.stack;
    const depths = this.depths;
    const max_depth = this.max_depth;
    let pos = 0;
    // where the opcode being run starts: kept in a local, stored only when something throws
    let at = 0;
    try {
      for (;;) {
        if (pos >= end) {
          throw new UnpicklingError('ERR_PICKLE_TRUNCATED', 'the pickle ends before STOP', pos);
        }
        at = pos;
        const op = buf[pos++]!;
        switch (op) {
          case 0x80: { // PROTO
            if (pos >= end) this.truncated(1);
            const proto = buf[pos++]!;
            if (proto > 5) fail('ERR_PICKLE_PROTOCOL', `unsupported pickle protocol: ${proto}`);
            break;
          }
          case 0x95: { // FRAME: the bytes are all here already; only check the length
            if (pos + 8 > end) this.truncated(8);
            const n = u32(buf, pos) + u32(buf, pos + 4) * TWO32;
            pos += 8;
            if (n > end - pos) this.too_long(n, end - pos);
            break;
          }
          case 0x2e: { // STOP
            if (stack.length <= this.mark_floor()) fail('ERR_PICKLE_STACK', 'STOP with an empty stack');
            this.pos = pos;
            return stack[stack.length - 1];
          }
          // ------------------------------------------------------------------ scalars
          case 0x4e: // NONE
            stack.push(null);
            depths.push(0);
            break;
          case 0x88: // NEWTRUE
            stack.push(true);
            depths.push(0);
            break;
          case 0x89: // NEWFALSE
            stack.push(false);
            depths.push(0);
            break;
          case 0x4b: // BININT1
            if (pos >= end) this.truncated(1);
            stack.push(buf[pos++]!);
            depths.push(0);
            break;
          case 0x4d: // BININT2
            if (pos + 2 > end) this.truncated(2);
            stack.push(buf[pos] | (buf[pos + 1]! << 8));
            depths.push(0);
            pos += 2;
            break;
          case 0x4a: // BININT
            if (pos + 4 > end) this.truncated(4);
            stack.push(buf[pos] | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24));
            depths.push(0);
            pos += 4;
            break;
          case 0x8a: { // LONG1
            if (pos >= end) this.truncated(1);
            const n = buf[pos++]!;
            if (pos + n > end) this.too_long(n, end - pos);
            stack.push(decode_long(buf, pos, n));
            depths.push(0);
            pos += n;
            break;
          }
          case 0x8b: { // LONG4
            if (pos + 4 > end) this.truncated(4);
            const n = i32(buf, pos);
            pos += 4;
            if (n < 0) fail('ERR_PICKLE_VALUE', 'LONG pickle has negative byte count');
            if (pos + n > end) this.too_long(n, end - pos);
            stack.push(decode_long(buf, pos, n));
            depths.push(0);
            pos += n;
            break;
          }
          case 0x47: // BINFLOAT
            if (pos + 8 > end) this.truncated(8);
            stack.push(f64be(buf, pos));
            depths.push(0);
            pos += 8;
            break;
          case 0x8c: { // SHORT_BINUNICODE
            if (pos >= end) this.truncated(1);
            const n = buf[pos++]!;
            if (pos + n > end) this.too_long(n, end - pos);
            stack.push(utf8(buf, pos, n));
            depths.push(0);
            pos += n;
            break;
          }
          case 0x58: { // BINUNICODE
            if (pos + 4 > end) this.truncated(4);
            const n = u32(buf, pos);
            pos += 4;
            if (pos + n > end) this.too_long(n, end - pos);
            stack.push(utf8(buf, pos, n));
            depths.push(0);
            pos += n;
            break;
          }
          case 0x8d: { // BINUNICODE8
            const n = this.len8(pos);
            pos += 8;
            stack.push(utf8(buf, pos, n));
            depths.push(0);
            pos += n;
            break;
          }
          case 0x43: { // SHORT_BINBYTES
            if (pos >= end) this.truncated(1);
            const n = buf[pos++]!;
            if (pos + n > end) this.too_long(n, end - pos);
            stack.push(Buffer.copyBytesFrom(buf, pos, n));
            depths.push(0);
            pos += n;
            break;
          }
          case 0x42: { // BINBYTES
            if (pos + 4 > end) this.truncated(4);
            const n = u32(buf, pos);
            pos += 4;
            if (pos + n > end) this.too_long(n, end - pos);
            stack.push(Buffer.copyBytesFrom(buf, pos, n));
            depths.push(0);
            pos += n;
            break;
          }
          case 0x8e: { // BINBYTES8
            const n = this.len8(pos);
            pos += 8;
            stack.push(Buffer.copyBytesFrom(buf, pos, n));
            depths.push(0);
            pos += n;
            break;
          }
          case 0x96: { // BYTEARRAY8
            const n = this.len8(pos);
            pos += 8;
            const ba = new ByteArray(n);
            ba.set(buf.subarray(pos, pos + n));
            stack.push(ba);
            depths.push(0);
            pos += n;
            break;
          }
          case 0x55: { // SHORT_BINSTRING
            if (pos >= end) this.truncated(1);
            const n = buf[pos++]!;
            if (pos + n > end) this.too_long(n, end - pos);
            stack.push(this.py2str(buf, pos, pos + n));
            depths.push(0);
            pos += n;
            break;
          }
          case 0x54: { // BINSTRING
            if (pos + 4 > end) this.truncated(4);
            const n = i32(buf, pos);
            pos += 4;
            if (n < 0) fail('ERR_PICKLE_VALUE', 'BINSTRING pickle has negative byte count');
            if (pos + n > end) this.too_long(n, end - pos);
            stack.push(this.py2str(buf, pos, pos + n));
            depths.push(0);
            pos += n;
            break;
          }
          // ------------------------------------------------------------------ protocol 0 text
          case 0x49: // INT
          case 0x4c: // LONG
          case 0x46: // FLOAT
          case 0x53: // STRING
          case 0x56: // UNICODE
            pos = this.text_scalar(op, pos);
            break;
          // ------------------------------------------------------------------ containers
          case 0x5d: // EMPTY_LIST
            stack.push([]);
            depths.push(1);
            break;
          case 0x7d: // EMPTY_DICT
            stack.push(new Map());
            depths.push(1);
            break;
          case 0x8f: // EMPTY_SET
            stack.push(new Set());
            depths.push(1);
            break;
          case 0x29: // EMPTY_TUPLE
            stack.push(as_tuple([]));
            depths.push(1);
            break;
          case 0x28: // MARK
            this.marks.push(stack.length);
            if (this.marks.length > max_depth) this.too_deep();
            break;
          case 0x61: { // APPEND
            const n = stack.length;
            if (n < 2 || n - 1 <= this.mark_floor()) fail('ERR_PICKLE_STACK', 'APPEND needs a list and an item');
            const list = stack[n - 2];
            if (!Array.isArray(list) || list instanceof Tuple) fail('ERR_PICKLE_STACK', `APPEND to a ${py_type(list)}`);
            (list as unknown[]).push(stack.pop());
            const d = depths.pop()! + 1;
            if (d > depths[n - 2]!) {
              if (d > max_depth) this.too_deep();
              depths[n - 2] = d;
            }
            break;
          }
          case 0x65: { // APPENDS
            const m = this.pop_mark();
            if (m === 0) fail('ERR_PICKLE_STACK', 'APPENDS with no list below the mark');
            const list = stack[m - 1];
            if (!Array.isArray(list) || list instanceof Tuple) fail('ERR_PICKLE_STACK', `APPENDS to a ${py_type(list)}`);
            const l = list as unknown[];
            let d = depths[m - 1]!;
            for (let i = m; i < stack.length; i++) {
              l.push(stack[i]);
              if (depths[i]! >= d) d = depths[i]! + 1;
            }
            if (d > max_depth) this.too_deep();
            depths[m - 1] = d;
            truncate(stack, depths, m);
            break;
          }
          case 0x73: { // SETITEM
            const n = stack.length;
            if (n < 3 || n - 2 <= this.mark_floor()) fail('ERR_PICKLE_STACK', 'SETITEM needs a dict, a key and a value');
            const dict = stack[n - 3];
            if (!(dict instanceof Map)) fail('ERR_PICKLE_STACK', `SETITEM on a ${py_type(dict)}`);
            (dict as Map<unknown, unknown>).set(stack[n - 2], stack[n - 1]);
            const d = Math.max(depths[n - 2]!, depths[n - 1]!) + 1;
            if (d > depths[n - 3]!) {
              if (d > max_depth) this.too_deep();
              depths[n - 3] = d;
            }
            truncate(stack, depths, n - 2);
            break;
          }
          case 0x75: { // SETITEMS
            const m = this.pop_mark();
            if (m === 0) fail('ERR_PICKLE_STACK', 'SETITEMS with no dict below the mark');
            const dict = stack[m - 1];
            if (!(dict instanceof Map)) fail('ERR_PICKLE_STACK', `SETITEMS on a ${py_type(dict)}`);
            if ((stack.length - m) & 1) fail('ERR_PICKLE_STACK', 'odd number of items for SETITEMS');
            const map = dict as Map<unknown, unknown>;
            let d = depths[m - 1]!;
            for (let i = m; i < stack.length; i += 2) {
              map.set(stack[i], stack[i + 1]);
              if (depths[i]! >= d) d = depths[i]! + 1;
              if (depths[i + 1]! >= d) d = depths[i + 1]! + 1;
            }
            if (d > max_depth) this.too_deep();
            depths[m - 1] = d;
            truncate(stack, depths, m);
            break;
          }
          case 0x90: { // ADDITEMS
            const m = this.pop_mark();
            if (m === 0) fail('ERR_PICKLE_STACK', 'ADDITEMS with no set below the mark');
            const set = stack[m - 1];
            if (!(set instanceof Set) || set instanceof FrozenSet) fail('ERR_PICKLE_STACK', `ADDITEMS on a ${py_type(set)}`);
            let d = depths[m - 1]!;
            for (let i = m; i < stack.length; i++) {
              (set as Set<unknown>).add(stack[i]);
              if (depths[i]! >= d) d = depths[i]! + 1;
            }
            if (d > max_depth) this.too_deep();
            depths[m - 1] = d;
            truncate(stack, depths, m);
            break;
          }
          case 0x85: { // TUPLE1
            const n = stack.length;
            if (n < 1 || n - 1 < this.mark_floor()) fail('ERR_PICKLE_STACK', 'TUPLE1 on an empty stack');
            const t = as_tuple([stack[n - 1]]);
            stack[n - 1] = t;
            const d = depths[n - 1]! + 1;
            if (d > max_depth) this.too_deep();
            depths[n - 1] = d;
            break;
          }
          case 0x86: { // TUPLE2
            const n = stack.length;
            if (n < 2 || n - 2 < this.mark_floor()) fail('ERR_PICKLE_STACK', 'TUPLE2 needs two items');
            const t = as_tuple([stack[n - 2], stack[n - 1]]);
            const d = Math.max(depths[n - 2]!, depths[n - 1]!) + 1;
            if (d > max_depth) this.too_deep();
            truncate(stack, depths, n - 1);
            stack[n - 2] = t;
            depths[n - 2] = d;
            break;
          }
          case 0x87: { // TUPLE3
            const n = stack.length;
            if (n < 3 || n - 3 < this.mark_floor()) fail('ERR_PICKLE_STACK', 'TUPLE3 needs three items');
            const t = as_tuple([stack[n - 3], stack[n - 2], stack[n - 1]]);
            const d = Math.max(depths[n - 3]!, depths[n - 2]!, depths[n - 1]!) + 1;
            if (d > max_depth) this.too_deep();
            truncate(stack, depths, n - 2);
            stack[n - 3] = t;
            depths[n - 3] = d;
            break;
          }
          case 0x74: { // TUPLE
            const m = this.pop_mark();
            const items: unknown[] = [];
            const d = this.collect(m, items);
            stack.push(as_tuple(items));
            depths.push(d);
            break;
          }
          case 0x6c: { // LIST
            const m = this.pop_mark();
            const l: unknown[] = [];
            const d = this.collect(m, l);
            stack.push(l);
            depths.push(d);
            break;
          }
          case 0x91: { // FROZENSET
            const m = this.pop_mark();
            const items: unknown[] = [];
            const d = this.collect(m, items);
            stack.push(Object.setPrototypeOf(new Set(items), FrozenSet.prototype) as FrozenSet);
            depths.push(d);
            break;
          }
          case 0x64: { // DICT
            const m = this.pop_mark();
            if ((stack.length - m) & 1) fail('ERR_PICKLE_STACK', 'odd number of items for DICT');
            const map = new Map<unknown, unknown>();
            let d = 1;
            for (let i = m; i < stack.length; i += 2) {
              map.set(stack[i], stack[i + 1]);
              if (depths[i]! >= d) d = depths[i]! + 1;
              if (depths[i + 1]! >= d) d = depths[i + 1]! + 1;
            }
            if (d > max_depth) this.too_deep();
            truncate(stack, depths, m);
            stack.push(map);
            depths.push(d);
            break;
          }
          // ------------------------------------------------------------------ stack and memo
          case 0x30: // POP
            if (stack.length > this.mark_floor()) {
              stack.pop();
              depths.pop();
            } else if (this.marks.length > 0) {
              this.marks.pop(); // Python: POP with a mark on top discards the mark
            } else {
              fail('ERR_PICKLE_STACK', 'POP from an empty stack');
            }
            break;
          case 0x31: { // POP_MARK
            const m = this.pop_mark();
            truncate(stack, depths, m);
            break;
          }
          case 0x32: { // DUP
            const n = stack.length;
            if (n === 0 || n <= this.mark_floor()) fail('ERR_PICKLE_STACK', 'DUP on an empty stack');
            stack.push(stack[n - 1]);
            depths.push(depths[n - 1]!);
            break;
          }
          case 0x71: // BINPUT
            if (pos >= end) this.truncated(1);
            this.put(buf[pos++]!);
            break;
          case 0x72: // LONG_BINPUT
            if (pos + 4 > end) this.truncated(4);
            this.put(u32(buf, pos));
            pos += 4;
            break;
          case 0x70: // PUT
          case 0x67: // GET
            pos = this.text_memo(op, pos);
            break;
          case 0x94: // MEMOIZE
            this.put(this.memo_count);
            break;
          case 0x68: // BINGET
            if (pos >= end) this.truncated(1);
            this.get(buf[pos++]!);
            break;
          case 0x6a: // LONG_BINGET
            if (pos + 4 > end) this.truncated(4);
            this.get(u32(buf, pos));
            pos += 4;
            break;
          // ------------------------------------------------------------------ globals
          case 0x63: // GLOBAL
          case 0x69: // INST
            pos = this.text_global(op, pos);
            break;
          case 0x93: { // STACK_GLOBAL
            const n = stack.length;
            if (n < 2 || n - 2 < this.mark_floor()) fail('ERR_PICKLE_STACK', 'STACK_GLOBAL needs a module and a name');
            const module = stack[n - 2], name = stack[n - 1];
            if (typeof module !== 'string' || typeof name !== 'string') fail('ERR_PICKLE_STACK', 'STACK_GLOBAL requires str');
            const g = this.global(module as string, name as string);
            truncate(stack, depths, n - 1);
            stack[n - 2] = g;
            depths[n - 2] = 0;
            break;
          }
          case 0x6f: { // OBJ
            const m = this.pop_mark();
            if (stack.length === m) fail('ERR_PICKLE_STACK', 'OBJ with nothing after the mark');
            const g = stack[m];
            const args = stack.slice(m + 1);
            const d = this.args_depth(m + 1);
            truncate(stack, depths, m);
            stack.push(this.call(g, args));
            depths.push(d);
            break;
          }
          case 0x52: // REDUCE
          case 0x81: { // NEWOBJ
            const n = stack.length;
            if (n < 2 || n - 2 < this.mark_floor()) fail('ERR_PICKLE_STACK', `${opcode_name(op)} needs a callable and arguments`);
            const args = stack[n - 1];
            if (!(args instanceof Tuple)) fail('ERR_PICKLE_STACK', `${opcode_name(op)} arguments must be a tuple, not ${py_type(args)}`);
            const d = depths[n - 1]!;
            const value = this.call(stack[n - 2], args as unknown[]);
            truncate(stack, depths, n - 1);
            stack[n - 2] = value;
            depths[n - 2] = d;
            break;
          }
          case 0x92: { // NEWOBJ_EX
            const n = stack.length;
            if (n < 3 || n - 3 < this.mark_floor()) fail('ERR_PICKLE_STACK', 'NEWOBJ_EX needs a class, arguments and keywords');
            const args = stack[n - 2], kwargs = stack[n - 1];
            if (!(args instanceof Tuple)) fail('ERR_PICKLE_STACK', 'NEWOBJ_EX arguments must be a tuple');
            if (!(kwargs instanceof Map)) fail('ERR_PICKLE_STACK', 'NEWOBJ_EX keywords must be a dict');
            const all = (kwargs as Map<unknown, unknown>).size === 0 ? (args as unknown[]) : [...(args as unknown[]), kwargs];
            const d = Math.max(depths[n - 2]!, depths[n - 1]!);
            const value = this.call(stack[n - 3], all);
            truncate(stack, depths, n - 2);
            stack[n - 3] = value;
            depths[n - 3] = d;
            break;
          }
          case 0x62: { // BUILD
            const n = stack.length;
            if (n < 2 || n - 2 < this.mark_floor()) fail('ERR_PICKLE_STACK', 'BUILD needs an object and a state');
            this.build(stack[n - 2], stack[n - 1]);
            stack.pop();
            depths.pop();
            break;
          }
          // ------------------------------------------------------------------ unsupported
          case 0x50: // PERSID
          case 0x51: // BINPERSID
            fail('ERR_PICKLE_UNSUPPORTED', 'persistent ids are not supported (there is no persistent_load)');
            break;
          case 0x82: // EXT1
          case 0x83: // EXT2
          case 0x84: // EXT4
            fail('ERR_PICKLE_UNSUPPORTED', 'the copyreg extension registry is not supported');
            break;
          case 0x97: // NEXT_BUFFER
            fail('ERR_PICKLE_UNSUPPORTED', 'out-of-band buffers are not supported');
            break;
          case 0x98: // READONLY_BUFFER
            if (stack.length === 0) fail('ERR_PICKLE_STACK', 'READONLY_BUFFER on an empty stack');
            break;
          default:
            throw new UnpicklingError('ERR_PICKLE_OPCODE', `invalid load key, 0x${op.toString(16).padStart(2, '0')}`, pos - 1);
        }
      }
    } catch (err) {
      this.at = at;
      throw err;
    }
  }
}

/**
 * Makes `items` a {@link Tuple} in place. Cheaper than `new Tuple()` + `push` and, unlike it,
 * lets V8 keep the reader's loop optimized (constructing the Array subclass inside the loop
 * made TurboFan abandon it on an unstable map, over and over).
 */
function as_tuple(items: unknown[]): Tuple {
  return Object.setPrototypeOf(items, Tuple.prototype) as Tuple;
}

/** Short strings: a loop beats crossing into C++; anything not ASCII goes to the full decoder. */
function utf8(buf: Buffer, start: number, n: number): string {
  if (n <= 8) {
    let or = 0;
    for (let i = start, e = start + n; i < e; i++) or |= buf[i]!;
    if (or < 0x80) {
      // one allocation, however short the string (V8 caches the one-character ones)
      const f = String.fromCharCode;
      const b = start;
      switch (n) {
        case 0: return '';
        case 1: return f(buf[b]!);
        case 2: return f(buf[b]!, buf[b + 1]!);
        case 3: return f(buf[b]!, buf[b + 1]!, buf[b + 2]!);
        case 4: return f(buf[b]!, buf[b + 1]!, buf[b + 2]!, buf[b + 3]!);
        case 5: return f(buf[b]!, buf[b + 1]!, buf[b + 2]!, buf[b + 3]!, buf[b + 4]!);
        case 6: return f(buf[b]!, buf[b + 1]!, buf[b + 2]!, buf[b + 3]!, buf[b + 4]!, buf[b + 5]!);
        case 7: return f(buf[b]!, buf[b + 1]!, buf[b + 2]!, buf[b + 3]!, buf[b + 4]!, buf[b + 5]!, buf[b + 6]!);
        default: return f(buf[b]!, buf[b + 1]!, buf[b + 2]!, buf[b + 3]!, buf[b + 4]!, buf[b + 5]!, buf[b + 6]!, buf[b + 7]!);
      }
    }
    return decode_utf8(buf, start, start + n);
  }
  if (n < 24) {
    let s = '';
    for (let i = start, e = start + n; i < e; i++) {
      const c = buf[i]!;
      if (c >= 0x80) return decode_utf8(buf, start, start + n);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return decode_utf8(buf, start, start + n);
}

/** Two's complement little-endian `buf[pos, pos + n)` as a number when safe, else a bigint. */
function decode_long(buf: Buffer, pos: number, n: number): number | bigint {
  if (n === 0) return 0;
  if (n <= 6) {
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + buf[pos + i]!;
    if (buf[pos + n - 1]! >= 0x80) v -= 2 ** (8 * n);
    return v;
  }
  const hex = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) hex[i] = buf[pos + n - 1 - i]!;
  let v = BigInt(`0x${hex.toString('hex')}`);
  if (buf[pos + n - 1]! >= 0x80) v -= 1n << BigInt(8 * n);
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/** The unsigned 32-bit little-endian int at `pos` (checked by the caller): Buffer's reader validates again. */
function u32(buf: Buffer, pos: number): number {
  return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16)) + buf[pos + 3]! * 0x1000000;
}

/** The signed 32-bit little-endian int at `pos` (checked by the caller). */
function i32(buf: Buffer, pos: number): number {
  return buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24);
}

const f64 = new Float64Array(1);
const f64_bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The big-endian double at `pos` (checked by the caller). */
function f64be(buf: Buffer, pos: number): number {
  if (LITTLE_ENDIAN) {
    f64_bytes[0] = buf[pos + 7]!;
    f64_bytes[1] = buf[pos + 6]!;
    f64_bytes[2] = buf[pos + 5]!;
    f64_bytes[3] = buf[pos + 4]!;
    f64_bytes[4] = buf[pos + 3]!;
    f64_bytes[5] = buf[pos + 2]!;
    f64_bytes[6] = buf[pos + 1]!;
    f64_bytes[7] = buf[pos]!;
  } else {
    for (let i = 0; i < 8; i++) f64_bytes[i] = buf[pos + i]!;
  }
  return f64[0]!;
}
