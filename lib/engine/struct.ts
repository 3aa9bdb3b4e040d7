/**
 * Binary records described by Python `struct`-style format strings.
 *
 * How to use: compile a format once, then pack and unpack as often as you like.
 *
 * ```ts
 * const header = new Struct('!HHI');            // network order: u16, u16, u32
 * header.size;                                  // 8
 * const bytes = header.pack(1, 2, 3);           // <Buffer 00 01 00 02 00 00 00 03>
 * const [kind, flags, length] = header.unpack(bytes) as [number, number, number];
 * header.unpack_from(frame, 4);                 // read a record in the middle of a buffer
 * ```
 *
 * A format starts with an optional byte-order character, then a sequence of codes,
 * each optionally preceded by a decimal repeat count (`4h` is `hhhh`; for `s` and `p`
 * the count is a byte length and gives a single value). Whitespace between codes is
 * ignored.
 *
 * | prefix      | byte order | sizes    | alignment |
 * |-------------|------------|----------|-----------|
 * | `@` or none | native     | standard | native    |
 * | `=`         | native     | standard | none      |
 * | `<`         | little     | standard | none      |
 * | `>` / `!`   | big        | standard | none      |
 *
 * | code | value                      | size | code | value             | size |
 * |------|----------------------------|------|------|-------------------|------|
 * | `x`  | (pad byte, no value)       | 1    | `q`  | bigint, int64     | 8    |
 * | `c`  | Buffer of length 1         | 1    | `Q`  | bigint, uint64    | 8    |
 * | `b`  | number, int8               | 1    | `e`  | number, binary16  | 2    |
 * | `B`  | number, uint8              | 1    | `f`  | number, binary32  | 4    |
 * | `?`  | boolean                    | 1    | `d`  | number, binary64  | 8    |
 * | `h`  | number, int16              | 2    | `s`  | Buffer (count = length)  | n |
 * | `H`  | number, uint16             | 2    | `p`  | Buffer, Pascal string    | n |
 * | `i` `l` | number, int32           | 4    | `I` `L` | number, uint32 | 4    |
 *
 * Differences from Python: native mode (`@`) uses the standard sizes above (Python
 * uses the platform's C sizes, e.g. an 8-byte `l` on 64-bit Unix), aligns each field
 * to its own size, and has no `n`, `N` or `P` codes. Unpacked `s`, `p` and `c` values
 * are fresh copies, never views into the input.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { endianness } from 'node:os';
import { StructError } from './errors.js';

/** A value produced by {@link Struct.unpack}: ints and floats as `number`, `q`/`Q` as `bigint`, `?` as `boolean`, `c`/`s`/`p` as `Buffer`. */
export type StructValue = number | bigint | boolean | Buffer;

// Field kinds. `x` (PAD) never becomes a field: it only advances the offset.
const PAD = 0, CHAR = 1, I8 = 2, U8 = 3, BOOL = 4, I16 = 5, U16 = 6, I32 = 7, U32 = 8;
const I64 = 9, U64 = 10, F16 = 11, F32 = 12, F64 = 13, STR = 14, PSTR = 15;

/** code -> [kind, item size (also its native alignment)] */
const CODES: Readonly<Record<string, readonly [number, number]>> = {
  x: [PAD, 1], c: [CHAR, 1], b: [I8, 1], B: [U8, 1], '?': [BOOL, 1],
  h: [I16, 2], H: [U16, 2], i: [I32, 4], I: [U32, 4], l: [I32, 4], L: [U32, 4],
  q: [I64, 8], Q: [U64, 8], e: [F16, 2], f: [F32, 4], d: [F64, 8], s: [STR, 1], p: [PSTR, 1],
};

const NATIVE_LE = endianness() === 'LE';
const MAX_SIZE = 0x7fffffff;
const WHITESPACE = ' \t\n\r\v\f';
const I64_MIN = -(2n ** 63n), I64_MAX = 2n ** 63n - 1n, U64_MAX = 2n ** 64n - 1n;

// Scratch space for floats and 64-bit ints; safe to share because every use is synchronous.
const SCRATCH = new DataView(new ArrayBuffer(8));
const SCRATCH_BYTES = new Uint8Array(SCRATCH.buffer);

/** Reader and writer of a lone integer field (the common length prefix). */
interface OneInt {
  min: number;
  max: number;
  read(buffer: Buffer, offset: number): number;
  write(buffer: Buffer, value: number): void;
}

// (A Uint8Array store keeps the low 8 bits, so negative values come out in two's complement.)
function write_32be(b: Buffer, v: number): void {
  b[0] = v >>> 24;
  b[1] = v >>> 16;
  b[2] = v >>> 8;
  b[3] = v;
}
function write_32le(b: Buffer, v: number): void {
  b[0] = v;
  b[1] = v >>> 8;
  b[2] = v >>> 16;
  b[3] = v >>> 24;
}

function one_int(kind: number, le: boolean): OneInt | null {
  switch (kind) {
    case I8: return { min: -128, max: 127, read: (b, o) => b.readInt8(o), write: (b, v) => void b.writeInt8(v, 0) };
    case U8: return { min: 0, max: 255, read: (b, o) => b.readUInt8(o), write: (b, v) => void b.writeUInt8(v, 0) };
    // Byte by byte: the callers have checked the bounds and the range already, so Node's
    // checking readers and writers would only repeat it (this is the per-frame length prefix).
    case I16: return le
      ? { min: -32768, max: 32767, read: (b, o) => (((b[o + 1]! << 8) | b[o]!) << 16) >> 16, write: (b, v) => { b[0] = v; b[1] = v >>> 8; } }
      : { min: -32768, max: 32767, read: (b, o) => (((b[o]! << 8) | b[o + 1]!) << 16) >> 16, write: (b, v) => { b[0] = v >>> 8; b[1] = v; } };
    case U16: return le
      ? { min: 0, max: 65535, read: (b, o) => (b[o + 1]! << 8) | b[o]!, write: (b, v) => { b[0] = v; b[1] = v >>> 8; } }
      : { min: 0, max: 65535, read: (b, o) => (b[o]! << 8) | b[o + 1]!, write: (b, v) => { b[0] = v >>> 8; b[1] = v; } };
    case I32: return le
      ? { min: -2147483648, max: 2147483647, read: (b, o) => (b[o + 3]! << 24) | (b[o + 2]! << 16) | (b[o + 1]! << 8) | b[o]!, write: write_32le }
      : { min: -2147483648, max: 2147483647, read: (b, o) => (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!, write: write_32be };
    case U32: return le
      ? { min: 0, max: 4294967295, read: (b, o) => b[o + 3]! * 0x1000000 + ((b[o + 2]! << 16) | (b[o + 1]! << 8) | b[o]!), write: write_32le }
      : { min: 0, max: 4294967295, read: (b, o) => b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!), write: write_32be };
    default: return null;
  }
}

/**
 * A compiled binary record layout, the equivalent of Python's `struct.Struct`.
 *
 * Construction parses and validates the format once; {@link Struct.pack} and
 * {@link Struct.unpack} then walk a precompiled field list.
 */
export class Struct {
  /** The format string this struct was compiled from, as given. */
  readonly format: string;
  /** Number of bytes {@link Struct.pack} produces and {@link Struct.unpack} consumes (Python's `calcsize`). */
  readonly size: number;
  /** Number of values {@link Struct.pack} expects and {@link Struct.unpack} returns. */
  readonly count: number;

  readonly #le: boolean;
  readonly #kinds: Uint8Array;
  readonly #offsets: Uint32Array;
  readonly #lens: Uint32Array;
  readonly #codes: string;
  /** For a record of one 8/16/32-bit integer (a length prefix, say): its reader and writer. */
  readonly #one: OneInt | null;

  /**
   * Compiles `format`.
   * @param format - a Python `struct` format string, e.g. `'<HHI'` or `'!4s2xq'`
   * @throws TypeError if `format` is not a string
   * @throws StructError if the format is invalid: unknown code, repeat count without a
   *   code, byte-order character anywhere but first, or a total size over 2^31 - 1
   */
  constructor(format: string) {
    if (typeof format !== 'string') throw new TypeError(`struct format must be a string, got ${typeof format}`);
    this.format = format;
    let i = 0;
    let le = NATIVE_LE, aligned = false;
    switch (format[0]) {
      case '<': le = true; i = 1; break;
      case '>': case '!': le = false; i = 1; break;
      case '=': i = 1; break;
      case '@': i = 1; aligned = true; break;
      default: aligned = true;
    }
    const kinds: number[] = [], offsets: number[] = [], lens: number[] = [];
    let codes = '';
    let size = 0;
    while (i < format.length) {
      let c = format[i++]!;
      if (WHITESPACE.includes(c)) continue;
      let num = 1;
      if (c >= '0' && c <= '9') {
        num = c.charCodeAt(0) - 48;
        while (i < format.length && format[i]! >= '0' && format[i]! <= '9') {
          num = num * 10 + format.charCodeAt(i++) - 48;
          if (num > MAX_SIZE) throw new StructError('total struct size too long');
        }
        if (i >= format.length) throw new StructError('repeat count given without format specifier');
        c = format[i++]!;
      }
      const entry = Object.hasOwn(CODES, c) ? CODES[c] : undefined;
      if (entry === undefined) throw new StructError(`bad char in struct format: ${JSON.stringify(c)} at index ${i - 1}`);
      const [kind, itemSize] = entry;
      if (aligned && itemSize > 1) size = Math.ceil(size / itemSize) * itemSize;
      if (size + num * itemSize > MAX_SIZE) throw new StructError('total struct size too long');
      if (kind === STR || kind === PSTR) {
        kinds.push(kind); offsets.push(size); lens.push(num); codes += c;
        size += num;
      } else if (kind === PAD) {
        size += num;
      } else {
        for (let k = 0; k < num; k++, size += itemSize) {
          kinds.push(kind); offsets.push(size); lens.push(itemSize); codes += c;
        }
      }
    }
    this.size = size;
    this.count = kinds.length;
    this.#le = le;
    this.#kinds = Uint8Array.from(kinds);
    this.#offsets = Uint32Array.from(offsets);
    this.#lens = Uint32Array.from(lens);
    this.#codes = codes;
    this.#one = kinds.length === 1 && offsets[0] === 0 && size === lens[0] ? one_int(kinds[0]!, le) : null;
  }

  /**
   * Packs `values` into a new zero-initialised Buffer of {@link Struct.size} bytes.
   *
   * Integer codes take a `number` (an integer) or a `bigint`; `q`/`Q` take a `bigint` or a
   * safe-integer `number`. Float codes take a `number` (or `bigint`). `?` takes any value
   * and stores its truthiness. `s`/`p` take a Uint8Array/Buffer or a string (UTF-8),
   * truncated or zero-padded to fit; `c` takes a 1-byte Uint8Array or a 1-character ASCII string.
   * @param values - exactly {@link Struct.count} values, in format order
   * @throws StructError if the number of values is not {@link Struct.count}
   * @throws TypeError if a value has the wrong type (including a non-integer number for an integer code)
   * @throws RangeError if a value does not fit its code
   */
  pack(...values: unknown[]): Buffer {
    const one = this.#one;
    if (one !== null && values.length === 1) {
      const v = values[0];
      if (typeof v === 'number' && Number.isInteger(v) && v >= one.min && v <= one.max) {
        const out = Buffer.allocUnsafe(this.size);
        one.write(out, v);
        return out;
      }
    }
    this.#checkCount(values.length, 'pack');
    // A pooled allocation, zeroed (pad bytes and short strings rely on zeros): small records
    // are packed per message, so this path matters.
    const out = Buffer.allocUnsafe(this.size).fill(0);
    this.#write(out, 0, values);
    return out;
  }

  /**
   * Packs `values` into `buffer` at `offset`, zeroing the {@link Struct.size} bytes first.
   * A negative offset counts from the end of the buffer. On a bad value the region may be
   * partly written.
   * @param buffer - destination
   * @param offset - byte offset into `buffer`
   * @param values - exactly {@link Struct.count} values, as for {@link Struct.pack}
   * @throws StructError on a wrong value count or if the record does not fit at `offset`
   * @throws TypeError / RangeError as for {@link Struct.pack}
   */
  pack_into(buffer: Uint8Array, offset: number, ...values: unknown[]): void {
    this.#checkCount(values.length, 'pack_into');
    const off = this.#resolve(buffer, offset, 'pack_into');
    buffer.fill(0, off, off + this.size);
    this.#write(buffer, off, values);
  }

  /**
   * Unpacks a record that is exactly {@link Struct.size} bytes long.
   * @param buffer - the record's bytes
   * @returns {@link Struct.count} values, in format order
   * @throws TypeError if `buffer` is not a Uint8Array
   * @throws StructError if `buffer.length` is not {@link Struct.size}
   */
  unpack(buffer: Uint8Array): StructValue[] {
    if (!(buffer instanceof Uint8Array)) throw new TypeError('unpack requires a Uint8Array or Buffer');
    if (buffer.length !== this.size) throw new StructError(`unpack requires a buffer of ${this.size} bytes (got ${buffer.length})`);
    return this.#read(buffer, 0);
  }

  /**
   * Unpacks a record starting at `offset`; `buffer` may extend beyond it. A negative offset
   * counts from the end of the buffer.
   * @param buffer - bytes holding the record
   * @param offset - byte offset of the record, default 0
   * @returns {@link Struct.count} values, in format order
   * @throws TypeError if `buffer` is not a Uint8Array or `offset` is not an integer
   * @throws StructError if fewer than {@link Struct.size} bytes are available at `offset`
   */
  unpack_from(buffer: Uint8Array, offset = 0): StructValue[] {
    const one = this.#one;
    if (one !== null && Buffer.isBuffer(buffer) && Number.isInteger(offset) && offset >= 0 && offset + this.size <= buffer.length) {
      return [one.read(buffer, offset)];
    }
    return this.#read(buffer, this.#resolve(buffer, offset, 'unpack_from'));
  }

  /**
   * @internal True for a record of one 8, 16 or 32-bit integer: {@link Struct._read_single}
   * reads it without building an array (the framer's path for length prefixes).
   */
  get _single(): boolean {
    return this.#one !== null;
  }

  /** @internal The lone integer at `offset`; the caller has checked `_single` and the bounds. */
  _read_single(buffer: Buffer, offset: number): number {
    return this.#one!.read(buffer, offset);
  }

  /**
   * Unpacks consecutive records filling the whole of `buffer`, lazily, one per iteration.
   * @param buffer - a multiple of {@link Struct.size} bytes
   * @throws TypeError if `buffer` is not a Uint8Array
   * @throws StructError (immediately) if the size is 0 or `buffer.length` is not a multiple of it
   */
  iter_unpack(buffer: Uint8Array): IterableIterator<StructValue[]> {
    if (!(buffer instanceof Uint8Array)) throw new TypeError('iter_unpack requires a Uint8Array or Buffer');
    if (this.size === 0) throw new StructError('cannot iteratively unpack with a struct of length 0');
    if (buffer.length % this.size !== 0) {
      throw new StructError(`iterative unpacking requires a buffer of a multiple of ${this.size} bytes (got ${buffer.length})`);
    }
    return this.#iterate(buffer);
  }

  *#iterate(buffer: Uint8Array): IterableIterator<StructValue[]> {
    for (let off = 0; off < buffer.length; off += this.size) yield this.#read(buffer, off);
  }

  #checkCount(got: number, what: string): void {
    if (got !== this.count) throw new StructError(`${what} expected ${this.count} items for packing (got ${got})`);
  }

  #resolve(buffer: Uint8Array, offset: number, what: string): number {
    if (!(buffer instanceof Uint8Array)) throw new TypeError(`${what} requires a Uint8Array or Buffer`);
    if (!Number.isInteger(offset)) throw new TypeError(`${what} offset must be an integer, got ${String(offset)}`);
    let off = offset;
    if (off < 0) {
      if (off + buffer.length < 0) throw new StructError(`offset ${offset} out of range for ${buffer.length}-byte buffer`);
      off += buffer.length;
    }
    if (off > buffer.length || buffer.length - off < this.size) {
      throw new StructError(`${what} requires a buffer of at least ${this.size + off} bytes for ${this.size} bytes at offset ${off} (actual buffer size is ${buffer.length})`);
    }
    return off;
  }

  #write(b: Uint8Array, base: number, values: readonly unknown[]): void {
    const kinds = this.#kinds, offsets = this.#offsets, le = this.#le;
    for (let j = 0; j < kinds.length; j++) {
      const v = values[j], o = base + offsets[j]!;
      switch (kinds[j]) {
        case CHAR: b[o] = this.#char(v, j); break;
        case I8: b[o] = this.#int(v, j, -0x80, 0x7f); break;
        case U8: b[o] = this.#int(v, j, 0, 0xff); break;
        case BOOL: b[o] = v ? 1 : 0; break;
        case I16: putInt(b, o, this.#int(v, j, -0x8000, 0x7fff), 2, le); break;
        case U16: putInt(b, o, this.#int(v, j, 0, 0xffff), 2, le); break;
        case I32: putInt(b, o, this.#int(v, j, -0x80000000, 0x7fffffff), 4, le); break;
        case U32: putInt(b, o, this.#int(v, j, 0, 0xffffffff), 4, le); break;
        case I64: SCRATCH.setBigInt64(0, this.#big(v, j, I64_MIN, I64_MAX), le); b.set(SCRATCH_BYTES, o); break;
        case U64: SCRATCH.setBigUint64(0, this.#big(v, j, 0n, U64_MAX), le); b.set(SCRATCH_BYTES, o); break;
        case F16: putInt(b, o, this.#half(this.#float(v, j), j), 2, le); break;
        case F32: {
          const x = this.#float(v, j);
          if (Number.isFinite(x) && !Number.isFinite(Math.fround(x))) throw this.#fail(RangeError, j, 'float too large to pack with f format');
          SCRATCH.setFloat32(0, x, le);
          b.set(SCRATCH_BYTES.subarray(0, 4), o);
          break;
        }
        case F64: SCRATCH.setFloat64(0, this.#float(v, j), le); b.set(SCRATCH_BYTES, o); break;
        case STR: {
          const bytes = this.#bytes(v, j), n = Math.min(bytes.length, this.#lens[j]!);
          b.set(n === bytes.length ? bytes : bytes.subarray(0, n), o);
          break;
        }
        case PSTR: {
          const bytes = this.#bytes(v, j), len = this.#lens[j]!;
          if (len === 0) break;
          const n = Math.min(bytes.length, len - 1);
          b.set(bytes.subarray(0, n), o + 1);
          b[o] = Math.min(n, 255);
          break;
        }
      }
    }
  }

  #read(b: Uint8Array, base: number): StructValue[] {
    const kinds = this.#kinds, offsets = this.#offsets, le = this.#le;
    const out = new Array<StructValue>(kinds.length);
    for (let j = 0; j < kinds.length; j++) {
      const o = base + offsets[j]!;
      switch (kinds[j]) {
        case CHAR: out[j] = Buffer.copyBytesFrom(b, o, 1); break;
        case I8: out[j] = (b[o]! << 24) >> 24; break;
        case U8: out[j] = b[o]!; break;
        case BOOL: out[j] = b[o] !== 0; break;
        case I16: out[j] = (getU16(b, o, le) << 16) >> 16; break;
        case U16: out[j] = getU16(b, o, le); break;
        case I32: out[j] = getU32(b, o, le) | 0; break;
        case U32: out[j] = getU32(b, o, le); break;
        case I64: load(b, o, 8); out[j] = SCRATCH.getBigInt64(0, le); break;
        case U64: load(b, o, 8); out[j] = SCRATCH.getBigUint64(0, le); break;
        case F16: out[j] = halfToNumber(getU16(b, o, le)); break;
        case F32: load(b, o, 4); out[j] = SCRATCH.getFloat32(0, le); break;
        case F64: load(b, o, 8); out[j] = SCRATCH.getFloat64(0, le); break;
        case STR: out[j] = Buffer.copyBytesFrom(b, o, this.#lens[j]!); break;
        case PSTR: {
          const len = this.#lens[j]!;
          out[j] = len === 0 ? Buffer.alloc(0) : Buffer.copyBytesFrom(b, o + 1, Math.min(b[o]!, len - 1));
          break;
        }
      }
    }
    return out;
  }

  #fail(Ctor: new (message: string) => Error, j: number, message: string): Error {
    return new Ctor(`struct argument ${j + 1} ('${this.#codes[j]}' format): ${message}`);
  }

  #int(v: unknown, j: number, min: number, max: number): number {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw this.#fail(TypeError, j, `required argument is not an integer (got ${v})`);
      if (v < min || v > max) throw this.#fail(RangeError, j, `requires ${min} <= number <= ${max} (got ${v})`);
      return v;
    }
    if (typeof v === 'bigint') {
      if (v < min || v > max) throw this.#fail(RangeError, j, `requires ${min} <= number <= ${max} (got ${v})`);
      return Number(v);
    }
    throw this.#fail(TypeError, j, `required argument is not an integer (got ${typeof v})`);
  }

  #big(v: unknown, j: number, min: bigint, max: bigint): bigint {
    let n: bigint;
    if (typeof v === 'bigint') n = v;
    else if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw this.#fail(TypeError, j, `required argument is not an integer (got ${v})`);
      if (!Number.isSafeInteger(v)) throw this.#fail(RangeError, j, `number ${v} is not a safe integer; pass a bigint`);
      n = BigInt(v);
    } else throw this.#fail(TypeError, j, `required argument is not an integer (got ${typeof v})`);
    if (n < min || n > max) throw this.#fail(RangeError, j, `requires ${min} <= number <= ${max} (got ${n})`);
    return n;
  }

  #float(v: unknown, j: number): number {
    if (typeof v === 'number') return v;
    if (typeof v === 'bigint') return Number(v);
    throw this.#fail(TypeError, j, `required argument is not a number (got ${typeof v})`);
  }

  #bytes(v: unknown, j: number): Uint8Array {
    if (v instanceof Uint8Array) return v;
    if (typeof v === 'string') return Buffer.from(v, 'utf8');
    throw this.#fail(TypeError, j, `argument must be a Uint8Array, Buffer or string (got ${typeof v})`);
  }

  #char(v: unknown, j: number): number {
    if (v instanceof Uint8Array || typeof v === 'string') {
      const code = typeof v === 'string' ? v.charCodeAt(0) : v[0]!;
      if (v.length !== 1 || code > (typeof v === 'string' ? 0x7f : 0xff)) {
        throw this.#fail(RangeError, j, 'char format requires a bytes object of length 1 (or a 1-character ASCII string)');
      }
      return code;
    }
    throw this.#fail(TypeError, j, `char format requires a Uint8Array, Buffer or string (got ${typeof v})`);
  }

  /** IEEE 754 binary16 bits of `x`, rounding half to even. NaN packs as 0x7e00. */
  #half(x: number, j: number): number {
    let sign = 0;
    if (x < 0 || Object.is(x, -0)) { sign = 0x8000; x = -x; }
    if (x !== x) return 0x7e00;
    if (x === Infinity) return sign | 0x7c00;
    // 65520 is halfway between 65504 (max half) and 65536: rounds (to even) out of range.
    if (x >= 65520) throw this.#fail(RangeError, j, 'float too large to pack with e format');
    if (x < 2 ** -14) return sign | roundHalfEven(x * 2 ** 24); // subnormal (may round up to 0x0400)
    let e = Math.floor(Math.log2(x));
    if (2 ** e > x) e--;
    else if (2 ** (e + 1) <= x) e++;
    let m = roundHalfEven((x / 2 ** e - 1) * 1024);
    if (m === 1024) { m = 0; e++; }
    return sign | ((e + 15) << 10) | m;
  }
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x), d = x - f;
  return d > 0.5 || (d === 0.5 && (f & 1) === 1) ? f + 1 : f;
}

function halfToNumber(h: number): number {
  const exp = (h >>> 10) & 0x1f, frac = h & 0x3ff;
  const mag = exp === 0 ? frac * 2 ** -24 : exp === 0x1f ? (frac === 0 ? Infinity : NaN) : (frac + 0x400) * 2 ** (exp - 25);
  return h & 0x8000 ? -mag : mag;
}

/** Writes the low `n` bytes of the 32-bit integer `v`. */
function putInt(b: Uint8Array, o: number, v: number, n: number, le: boolean): void {
  for (let k = 0; k < n; k++) b[le ? o + k : o + n - 1 - k] = (v >>> (8 * k)) & 0xff;
}

function getU16(b: Uint8Array, o: number, le: boolean): number {
  return le ? b[o]! | (b[o + 1]! << 8) : (b[o]! << 8) | b[o + 1]!;
}

function getU32(b: Uint8Array, o: number, le: boolean): number {
  return (le
    ? b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)
    : (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Copies `n` bytes at `o` into the scratch space. */
function load(b: Uint8Array, o: number, n: number): void {
  for (let k = 0; k < n; k++) SCRATCH_BYTES[k] = b[o + k]!;
}
