/**
 * `dumps`: values to pickles, protocols 0 to 5, opcode for opcode as CPython 3's C pickler
 * writes them (so every Python from 2.7 reads protocol 2 and below, and Python 3 reads the
 * rest), into one growing buffer written byte by byte.
 *
 * Every container is memoized (`PUT` / `MEMOIZE`), so a value that appears twice is written
 * once and read back as one object, and a container holding itself ends in a `GET`.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { PicklingError } from './errors.js';
import { PyGlobal } from './globals.js';
import * as op from './opcodes.js';
import { encode_raw_unicode_escape, encode_utf8_surrogatepass, fast, float_repr, has_lone_surrogate } from './text.js';
import { ByteArray, Float, FrozenSet, Tuple } from './types.js';

/** Options of {@link dumps}. */
export interface DumpOptions {
  /**
   * The pickle protocol, 0 to 5 (default 2: Python 2.7 and every Python 3 read it; Python 3.0
   * to 3.7 write 3 by default, 3.8 and later 4). Protocols 3 and up need Python 3, 4 needs
   * Python 3.4, 5 needs Python 3.8.
   */
  protocol?: 0 | 1 | 2 | 3 | 4 | 5;
  /**
   * The deepest nesting written (default 1000, about Python's own recursion limit: Python 2.7
   * to 3.12 cannot pickle 900 nested lists); deeper values throw a `PicklingError`.
   */
  max_depth?: number;
}

/** Defaults of {@link DumpOptions}. */
export const DUMP_DEFAULTS = { protocol: op.DEFAULT_PROTOCOL, max_depth: 1000 } as const;

/** How many memoized containers are kept in an array, searched linearly, before a Map. */
const SMALL_MEMO = 16;

/** Items per `APPENDS` / `SETITEMS` / `ADDITEMS`, as CPython batches them. */
const BATCH = 1000;

const f64 = new Float64Array(1);
const f64_bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const IDENT = /^[A-Za-z_$][\w$]*$/;

function describe(value: unknown): string {
  if (value === undefined) return 'undefined has no Python type (use null for None)';
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'}) cannot be pickled`;
  if (typeof value === 'symbol') return 'a symbol cannot be pickled';
  if (typeof value === 'object' && value !== null) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    return `an instance of ${name ?? 'a class'} cannot be pickled (only plain data: see the type table)`;
  }
  return `a ${typeof value} cannot be pickled`;
}

/** The writer reused by consecutive `dumps` calls (null while in use: a getter calling dumps gets its own). */
let pooled: Writer | null = null;

/** Writes `value` as a pickle; see {@link DumpOptions}. @internal */
export function dump(value: unknown, options: DumpOptions | undefined): Buffer {
  let protocol: number = DUMP_DEFAULTS.protocol;
  let max_depth: number = DUMP_DEFAULTS.max_depth;
  if (options !== undefined) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    protocol = options.protocol ?? protocol;
    if (typeof protocol !== 'number' || !Number.isInteger(protocol) || protocol < 0 || protocol > op.HIGHEST_PROTOCOL) {
      throw new RangeError(`protocol must be an integer from 0 to ${op.HIGHEST_PROTOCOL}`);
    }
    max_depth = options.max_depth ?? max_depth;
    if (typeof max_depth !== 'number' || !Number.isSafeInteger(max_depth) || max_depth < 1) throw new RangeError('max_depth must be a positive integer');
  }
  const w = pooled ?? new Writer();
  pooled = null;
  try {
    w.start(protocol, max_depth);
    w.pickle(value);
    return w.result();
  } catch (err) {
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      throw new PicklingError('ERR_PICKLE_TOO_DEEP', `nesting too deep for the JavaScript stack (${err.message})`);
    }
    throw err;
  } finally {
    if (w.finish()) pooled = w;
  }
}

/** @internal */
class Writer {
  buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  pos = 0;
  private protocol = 2;
  private bin = true;
  private max_depth = 0;
  private depth = 0;
  /**
   * The memo: the first SMALL_MEMO containers in `few` (a linear scan beats hashing there, and
   * most messages hold a handful), the rest in `many`, made on first need.
   */
  private readonly few: object[] = [];
  private readonly few_ids: number[] = [];
  private many: Map<object, number> | null = null;
  private global_memo: Map<string, number> | null = null;
  private next_memo = 0;

  start(protocol: number, max_depth: number): void {
    this.protocol = protocol;
    this.bin = protocol >= 1;
    this.max_depth = max_depth;
    this.pos = 0;
    this.depth = 0;
    this.next_memo = 0;
  }

  /** A copy of what was written: small results come from Node's Buffer pool. */
  result(): Buffer {
    const n = this.pos;
    const out = Buffer.allocUnsafe(n);
    const buf = this.buf;
    if (n <= 64) for (let i = 0; i < n; i++) out[i] = buf[i]!;
    else buf.copy(out, 0, 0, n);
    return out;
  }

  /** Forgets the value written; true when this writer is fit for reuse (its buffer not huge). */
  finish(): boolean {
    this.few.length = 0;
    this.few_ids.length = 0;
    this.many = null;
    this.global_memo = null;
    if (this.buf.length > 16 * 1024 * 1024) return false;
    return true;
  }

  pickle(value: unknown): void {
    let frame_at = -1;
    if (this.protocol >= 2) {
      this.ensure(11);
      this.buf[this.pos++] = op.PROTO;
      this.buf[this.pos++] = this.protocol;
      if (this.protocol >= 4) {
        frame_at = this.pos;
        this.pos += 9;
      }
    }
    this.save(value);
    this.ensure(1);
    this.buf[this.pos++] = op.STOP;
    if (frame_at >= 0) {
      const n = this.pos - frame_at - 9;
      if (n >= 4) {
        // one frame holding the whole pickle (CPython's frames are <= 64 KiB, but any size reads)
        this.buf[frame_at] = op.FRAME;
        this.buf.writeUInt32LE(n % 0x100000000, frame_at + 1);
        this.buf.writeUInt32LE(Math.floor(n / 0x100000000), frame_at + 5);
      } else {
        this.buf.copyWithin(frame_at, frame_at + 9, this.pos);
        this.pos -= 9;
      }
    }
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private byte(b: number): void {
    if (this.pos >= this.buf.length) this.ensure(1);
    this.buf[this.pos++] = b;
  }

  private ascii(text: string): void {
    this.ensure(text.length);
    for (let i = 0; i < text.length; i++) this.buf[this.pos++] = text.charCodeAt(i);
  }

  private u32(n: number): void {
    const buf = this.buf, p = this.pos;
    buf[p] = n & 0xff;
    buf[p + 1] = (n >>> 8) & 0xff;
    buf[p + 2] = (n >>> 16) & 0xff;
    buf[p + 3] = (n >>> 24) & 0xff;
    this.pos = p + 4;
  }

  private u64(n: number): void {
    this.u32(n % 0x100000000);
    this.u32(Math.floor(n / 0x100000000));
  }

  // ------------------------------------------------------------------ dispatch

  private save(v: unknown): void {
    switch (typeof v) {
      case 'string':
        this.str(v);
        return;
      case 'number':
        if (Number.isInteger(v) && !(v === 0 && 1 / v < 0)) {
          if (v >= -0x80000000 && v <= 0x7fffffff) this.int32(v);
          else if (Number.isSafeInteger(v)) this.long_number(v);
          else this.long_bigint(BigInt(v));
        } else {
          this.float(v);
        }
        return;
      case 'boolean':
        if (this.protocol >= 2) this.byte(v ? op.NEWTRUE : op.NEWFALSE);
        else this.ascii(v ? 'I01\n' : 'I00\n');
        return;
      case 'bigint':
        if (v >= -0x80000000n && v <= 0x7fffffffn) this.int32(Number(v));
        else this.long_bigint(v);
        return;
      case 'object':
        if (v === null) this.byte(op.NONE);
        else this.object(v);
        return;
      default:
        throw new PicklingError('ERR_PICKLE_UNSUPPORTED_TYPE', describe(v));
    }
  }

  private object(v: object): void {
    const seen = this.memo_get(v);
    if (seen !== undefined) {
      this.get(seen);
      return;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto === Array.prototype) return this.list(v as unknown[]);
    if (proto === Map.prototype) return this.dict(v as Map<unknown, unknown>);
    if (proto === Object.prototype || proto === null) return this.plain(v as Record<string, unknown>);
    if (v instanceof Tuple) return this.tuple(v);
    if (Array.isArray(v)) return this.list(v);
    if (v instanceof Map) return this.dict(v);
    if (v instanceof FrozenSet) return this.frozenset(v);
    if (v instanceof Set) return this.set(v);
    if (v instanceof ByteArray) return this.bytearray(v);
    if (v instanceof Uint8Array) return this.bytes(v);
    if (v instanceof Float) return this.float(v.value);
    if (v instanceof PyGlobal) return this.global(v.module, v.name);
    throw new PicklingError('ERR_PICKLE_UNSUPPORTED_TYPE', describe(v));
  }

  private enter(): void {
    if (++this.depth > this.max_depth) throw new PicklingError('ERR_PICKLE_TOO_DEEP', `nesting deeper than max_depth (${this.max_depth})`);
  }

  private memo_get(v: object): number | undefined {
    const few = this.few;
    for (let k = 0; k < few.length; k++) if (few[k] === v) return this.few_ids[k];
    return this.many === null ? undefined : this.many.get(v);
  }

  private memoize(v: object): void {
    const i = this.next_memo++;
    if (this.few.length < SMALL_MEMO) {
      this.few.push(v);
      this.few_ids.push(i);
    } else {
      (this.many ??= new Map()).set(v, i);
    }
    this.put(i);
  }

  private put(i: number): void {
    if (this.protocol >= 4) {
      this.byte(op.MEMOIZE);
    } else if (!this.bin) {
      this.ascii(`p${i}\n`);
    } else if (i < 256) {
      this.ensure(2);
      this.buf[this.pos++] = op.BINPUT;
      this.buf[this.pos++] = i;
    } else {
      this.ensure(5);
      this.buf[this.pos++] = op.LONG_BINPUT;
      this.u32(i);
    }
  }

  private get(i: number): void {
    if (!this.bin) {
      this.ascii(`g${i}\n`);
    } else if (i < 256) {
      this.ensure(2);
      this.buf[this.pos++] = op.BINGET;
      this.buf[this.pos++] = i;
    } else {
      this.ensure(5);
      this.buf[this.pos++] = op.LONG_BINGET;
      this.u32(i);
    }
  }

  // ------------------------------------------------------------------ scalars

  private int32(v: number): void {
    if (!this.bin) {
      this.ascii(`I${v}\n`);
      return;
    }
    this.ensure(5);
    const buf = this.buf;
    if (v >= 0 && v <= 0xff) {
      buf[this.pos++] = op.BININT1;
      buf[this.pos++] = v;
    } else if (v >= 0 && v <= 0xffff) {
      buf[this.pos++] = op.BININT2;
      buf[this.pos++] = v & 0xff;
      buf[this.pos++] = v >> 8;
    } else {
      buf[this.pos++] = op.BININT;
      this.u32(v);
    }
  }

  /** A safe integer outside int32. */
  private long_number(v: number): void {
    if (this.protocol < 2) {
      this.ascii(`L${v}L\n`);
      return;
    }
    this.ensure(10);
    const buf = this.buf;
    buf[this.pos++] = op.LONG1;
    const len_at = this.pos++;
    let x = v, n = 0;
    for (;;) {
      const b = ((x % 256) + 256) % 256;
      buf[this.pos++] = b;
      n++;
      x = (x - b) / 256;
      if ((x === 0 && b < 0x80) || (x === -1 && b >= 0x80)) break;
    }
    buf[len_at] = n;
  }

  private long_bigint(v: bigint): void {
    if (this.protocol < 2) {
      this.ascii(`L${v}L\n`);
      return;
    }
    // two's complement, little-endian, as few bytes as hold the sign
    const negative = v < 0n;
    const magnitude = negative ? -v - 1n : v;
    let hex = magnitude.toString(16);
    if (hex.length & 1) hex = `0${hex}`;
    let bytes = Buffer.from(hex, 'hex').reverse();
    if (bytes[bytes.length - 1]! >= 0x80) bytes = Buffer.concat([bytes, Buffer.from([0])]);
    if (negative) for (let i = 0; i < bytes.length; i++) bytes[i] = ~bytes[i]! & 0xff;
    const n = bytes.length;
    this.ensure(n + 5);
    if (n < 256) {
      this.buf[this.pos++] = op.LONG1;
      this.buf[this.pos++] = n;
    } else {
      this.buf[this.pos++] = op.LONG4;
      this.u32(n);
    }
    bytes.copy(this.buf, this.pos);
    this.pos += n;
  }

  private float(v: number): void {
    if (!this.bin) {
      this.ascii(`F${float_repr(v)}\n`);
      return;
    }
    this.ensure(9);
    const buf = this.buf;
    buf[this.pos++] = op.BINFLOAT;
    f64[0] = v;
    if (LITTLE_ENDIAN) for (let i = 7; i >= 0; i--) buf[this.pos++] = f64_bytes[i]!;
    else for (let i = 0; i < 8; i++) buf[this.pos++] = f64_bytes[i]!;
  }

  private str(s: string): void {
    if (!this.bin) {
      const body = encode_raw_unicode_escape(s);
      this.ensure(body.length + 2);
      this.buf[this.pos++] = op.UNICODE;
      body.copy(this.buf, this.pos);
      this.pos += body.length;
      this.buf[this.pos++] = 0x0a;
      return;
    }
    const n = s.length;
    this.ensure(9 + 3 * n);
    const buf = this.buf;
    if (this.protocol >= 4 && n < 86) {
      // at most 255 bytes of UTF-8: SHORT_BINUNICODE
      buf[this.pos] = op.SHORT_BINUNICODE;
      const start = this.pos + 2;
      const len = this.utf8_at(s, start);
      buf[this.pos + 1] = len;
      this.pos = start + len;
      return;
    }
    const start = this.pos + 5;
    const len = this.utf8_at(s, start);
    if (this.protocol >= 4 && len < 256) {
      buf[this.pos] = op.SHORT_BINUNICODE;
      buf[this.pos + 1] = len;
      buf.copyWithin(this.pos + 2, start, start + len);
      this.pos += 2 + len;
      return;
    }
    buf[this.pos] = op.BINUNICODE;
    this.pos++;
    this.u32(len);
    this.pos += len;
  }

  /** Writes `s` as UTF-8 (surrogatepass) at `at` (room made by the caller); returns its length. */
  private utf8_at(s: string, at: number): number {
    const buf = this.buf;
    const n = s.length;
    if (n < 32) {
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + i] = c;
      }
      if (i === n) return n;
    }
    const len = fast(buf).utf8Write(s, at);
    if (len === n || !has_lone_surrogate(s)) return len;
    return encode_utf8_surrogatepass(s, buf, at);
  }

  private bytes(b: Uint8Array): void {
    const n = b.length;
    if (this.protocol >= 3) {
      this.ensure(n + 9);
      if (n < 256) {
        this.buf[this.pos++] = op.SHORT_BINBYTES;
        this.buf[this.pos++] = n;
      } else if (n <= 0xffffffff) {
        this.buf[this.pos++] = op.BINBYTES;
        this.u32(n);
      } else {
        this.buf[this.pos++] = op.BINBYTES8;
        this.u64(n);
      }
      this.buf.set(b, this.pos);
      this.pos += n;
      this.memoize(b);
      return;
    }
    // protocols 0-2, as Python 3 writes them: bytes() or _codecs.encode(latin-1 text, 'latin1')
    if (n === 0) {
      this.global(this.builtins(), 'bytes');
      this.empty_tuple();
    } else {
      this.global('_codecs', 'encode');
      if (this.protocol < 2) this.byte(op.MARK);
      this.latin1_text(b);
      this.str('latin1');
      this.byte(this.protocol >= 2 ? op.TUPLE2 : op.TUPLE);
    }
    this.byte(op.REDUCE);
    this.memoize(b);
  }

  /** `b` decoded as Latin-1, written as a str (UTF-8 built straight from the bytes). */
  private latin1_text(b: Uint8Array): void {
    if (!this.bin) {
      this.str(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1'));
      return;
    }
    const n = b.length;
    this.ensure(5 + 2 * n);
    const buf = this.buf;
    buf[this.pos] = op.BINUNICODE;
    let p = this.pos + 5;
    for (let i = 0; i < n; i++) {
      const c = b[i]!;
      if (c < 0x80) {
        buf[p++] = c;
      } else {
        buf[p++] = 0xc0 | (c >> 6);
        buf[p++] = 0x80 | (c & 0x3f);
      }
    }
    const len = p - this.pos - 5;
    this.pos++;
    this.u32(len);
    this.pos = p;
  }

  private bytearray(b: ByteArray): void {
    const n = b.length;
    if (this.protocol >= 5) {
      this.ensure(n + 9);
      this.buf[this.pos++] = op.BYTEARRAY8;
      this.u64(n);
      this.buf.set(b, this.pos);
      this.pos += n;
    } else {
      this.global(this.builtins(), 'bytearray');
      if (n === 0) {
        this.empty_tuple();
      } else if (this.protocol >= 3) {
        this.bytes(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
        this.byte(op.TUPLE1);
      } else {
        if (this.protocol < 2) this.byte(op.MARK);
        this.latin1_text(b);
        this.str('latin-1');
        this.byte(this.protocol >= 2 ? op.TUPLE2 : op.TUPLE);
      }
      this.byte(op.REDUCE);
    }
    this.memoize(b);
  }

  private builtins(): string {
    return this.protocol >= 3 ? 'builtins' : '__builtin__';
  }

  private empty_tuple(): void {
    if (this.bin) this.byte(op.EMPTY_TUPLE);
    else this.ascii('(t');
  }

  private global(module: string, name: string): void {
    const key = `${module}\n${name}`;
    this.global_memo ??= new Map();
    const seen = this.global_memo.get(key);
    if (seen !== undefined) {
      this.get(seen);
      return;
    }
    if (this.protocol >= 4) {
      this.str(module);
      this.str(name);
      this.byte(op.STACK_GLOBAL);
    } else {
      this.byte(op.GLOBAL);
      this.ascii(`${module}\n${name}\n`);
    }
    const i = this.next_memo++;
    this.global_memo.set(key, i);
    this.put(i);
  }

  // ------------------------------------------------------------------ containers

  private list(l: unknown[]): void {
    this.enter();
    if (this.bin) this.byte(op.EMPTY_LIST);
    else this.ascii('(l');
    this.memoize(l);
    this.items(l, l.length, op.APPEND, op.APPENDS, 'list');
    this.depth--;
  }

  /** Writes `count` items appended (`one` / `many` opcodes) in batches, as CPython does. */
  private items(items: Iterable<unknown>, count: number, one: number, many: number, kind: 'list' | 'set'): void {
    let i = 0;
    try {
      if (!this.bin) {
        for (const x of items) {
          this.save(x);
          this.byte(one);
          i++;
        }
        return;
      }
      if (count === 1 && one !== 0) {
        for (const x of items) this.save(x);
        this.byte(one);
        return;
      }
      let in_batch = 0;
      for (const x of items) {
        if (in_batch === 0) this.byte(op.MARK);
        this.save(x);
        i++;
        if (++in_batch === BATCH) {
          this.byte(many);
          in_batch = 0;
        }
      }
      if (in_batch > 0) this.byte(many);
    } catch (err) {
      if (err instanceof PicklingError) err.prefix(kind === 'list' ? `[${i}]` : ` item ${i}`);
      throw err;
    }
  }

  private tuple(t: Tuple<unknown>): void {
    const n = t.length;
    if (n === 0) {
      this.empty_tuple();
      return;
    }
    this.enter();
    let i = 0;
    try {
      if (n <= 3 && this.protocol >= 2) {
        for (; i < n; i++) this.save(t[i]);
        const seen = this.memo_get(t);
        if (seen !== undefined) {
          // the tuple was reached through its own items: drop them and fetch it
          for (let k = 0; k < n; k++) this.byte(op.POP);
          this.get(seen);
        } else {
          this.byte(op.TUPLE1 + n - 1);
          this.memoize(t);
        }
      } else {
        this.byte(op.MARK);
        for (; i < n; i++) this.save(t[i]);
        const seen = this.memo_get(t);
        if (seen !== undefined) {
          if (this.bin) this.byte(op.POP_MARK);
          else for (let k = 0; k <= n; k++) this.byte(op.POP);
          this.get(seen);
        } else {
          this.byte(op.TUPLE);
          this.memoize(t);
        }
      }
    } catch (err) {
      if (err instanceof PicklingError) err.prefix(`[${i}]`);
      throw err;
    }
    this.depth--;
  }

  private dict(m: Map<unknown, unknown>): void {
    this.enter();
    if (this.bin) this.byte(op.EMPTY_DICT);
    else this.ascii('(d');
    this.memoize(m);
    const n = m.size;
    if (n === 0) {
      this.depth--;
      return;
    }
    // one SETITEM per item in protocol 0 and for a single item, else batches of SETITEMS
    const batched = this.bin && n > 1;
    let i = 0;
    let at: unknown;
    try {
      m.forEach((v, k) => {
        at = k;
        if (batched && i % BATCH === 0) this.byte(op.MARK);
        if (typeof k === 'string') this.str(k);
        else this.save(k);
        this.save(v);
        i++;
        if (!batched) this.byte(op.SETITEM);
        else if (i % BATCH === 0 || i === n) this.byte(op.SETITEMS);
      });
    } catch (err) {
      if (err instanceof PicklingError) {
        const key = typeof at === 'string' ? JSON.stringify(at) : typeof at === 'number' || typeof at === 'boolean' || at === null ? String(at) : typeof at === 'bigint' ? `${at}n` : `<key ${i}>`;
        err.prefix(`.get(${key})`);
      }
      throw err;
    }
    this.depth--;
  }


  private plain(o: Record<string, unknown>): void {
    this.enter();
    if (this.bin) this.byte(op.EMPTY_DICT);
    else this.ascii('(d');
    this.memoize(o);
    const keys = Object.keys(o);
    const n = keys.length;
    let i = 0;
    try {
      if (!this.bin || n === 1) {
        for (; i < n; i++) {
          this.str(keys[i]!);
          this.save(o[keys[i]!]);
          this.byte(op.SETITEM);
        }
      } else {
        for (let start = 0; start < n; start += BATCH) {
          this.byte(op.MARK);
          const stop = Math.min(n, start + BATCH);
          for (i = start; i < stop; i++) {
            this.str(keys[i]!);
            this.save(o[keys[i]!]);
          }
          this.byte(op.SETITEMS);
        }
      }
    } catch (err) {
      if (err instanceof PicklingError) {
        const k = keys[i]!;
        err.prefix(IDENT.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`);
      }
      throw err;
    }
    this.depth--;
  }

  private set(s: Set<unknown>): void {
    this.enter();
    if (this.protocol >= 4) {
      this.byte(op.EMPTY_SET);
      this.memoize(s);
      if (s.size > 0) this.items(s, s.size, 0, op.ADDITEMS, 'set');
    } else {
      this.reduce_with_list('set', s);
      this.memoize(s);
    }
    this.depth--;
  }

  private frozenset(s: FrozenSet<unknown>): void {
    this.enter();
    if (this.protocol >= 4) {
      this.byte(op.MARK);
      let i = 0;
      try {
        for (const x of s) {
          this.save(x);
          i++;
        }
      } catch (err) {
        if (err instanceof PicklingError) err.prefix(` item ${i}`);
        throw err;
      }
      const seen = this.memo_get(s);
      if (seen !== undefined) {
        this.byte(op.POP_MARK);
        this.get(seen);
      } else {
        this.byte(op.FROZENSET);
        this.memoize(s);
      }
    } else {
      this.reduce_with_list('frozenset', s);
      this.memoize(s);
    }
    this.depth--;
  }

  /** `name([items])`: how protocols 0-3 write sets. */
  private reduce_with_list(name: string, items: Set<unknown>): void {
    this.global(this.builtins(), name);
    if (this.protocol < 2) this.byte(op.MARK);
    if (this.bin) this.byte(op.EMPTY_LIST);
    else this.ascii('(l');
    this.put(this.next_memo++);
    this.items(items, items.size, op.APPEND, op.APPENDS, 'set');
    this.byte(this.protocol >= 2 ? op.TUPLE1 : op.TUPLE);
    this.byte(op.REDUCE);
  }
}
