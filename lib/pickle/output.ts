/**
 * The bytes side of `dumps`: one growing buffer written byte by byte, the memo, and the
 * scalars (ints of any size, floats, str with surrogatepass UTF-8, bytes and bytearray the way
 * each protocol writes them, globals). `writer.ts` adds the dispatch and the containers.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import * as op from './opcodes.js';
import { encode_raw_unicode_escape, encode_utf8_surrogatepass, fast, float_repr, has_lone_surrogate } from './text.js';
import type { ByteArray } from './types.js';

/** Dict keys written before keys are memoized; keys longer than KEY_MEMO_MAX never are. */
const KEYS_BEFORE_MEMO = 64;
const KEY_MEMO_MAX = 64;
/** Places in a dict whose last key is remembered (see `slot_keys`). */
const KEY_SLOTS = 32;

/** How many memoized containers are kept in an array, searched linearly, before a Map. */
const SMALL_MEMO = 16;

/**
 * Thrown (never seen outside `dump`) when a pickle written without the memo meets a container
 * a second time: `dump` starts again with the memo on. Not an Error: no stack is captured.
 * (not part of the public API) */
export const REPEAT: { readonly repeat: true } = Object.freeze({ repeat: true });

const f64 = new Float64Array(1);
const f64_bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The buffer, the memo and the scalars. (not part of the public API) */
export class Output {
  buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  pos = 0;
  protected protocol = 2;
  protected bin = true;
  protected max_depth = 0;
  protected depth = 0;
  /**
   * Whether containers are memoized (`PUT` after each, `GET` when met again). Off in the first
   * attempt at every pickle: containers are then only recorded as seen (`sight`), one Set
   * insert each and no bytes, and meeting one twice (a shared reference or a cycle) throws
   * {@link REPEAT} so that `dump` writes the value again with the memo on.
   */
  protected memo_on = false;
  /**
   * The memo: the first SMALL_MEMO containers in `few` (a linear scan beats hashing there, and
   * most messages hold a handful), the rest in `many`, made on first need. Without the memo,
   * `few` and then `seen` hold the containers met.
   */
  protected readonly few: object[] = [];
  protected readonly few_ids: number[] = [];
  protected many: Map<object, number> | null = null;
  protected seen: Set<object> | null = null;
  protected global_memo: Map<string, number> | null = null;
  /**
   * Dict keys memoized by value once a pickle has written KEYS_BEFORE_MEMO of them (so records
   * with the same keys name each key once, as Python's memo of interned strings does, and
   * small messages pay nothing).
   */
  private key_memo: Map<string, number> | null = null;
  private keys_written = 0;
  /**
   * The last key memoized at each of the first KEY_SLOTS places in a dict, and its memo
   * index: records of one shape find their keys here by identity, without hashing.
   */
  private readonly slot_keys: (string | undefined)[] = new Array<string | undefined>(KEY_SLOTS).fill(undefined);
  private readonly slot_ids: number[] = new Array<number>(KEY_SLOTS).fill(0);
  protected next_memo = 0;

  start(protocol: number, max_depth: number, memo_on: boolean): void {
    this.memo_on = memo_on;
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
    const buf = this.buf;
    const out = Buffer.allocUnsafe(n);
    if (n <= 64) for (let i = 0; i < n; i++) out[i] = buf[i]!;
    else buf.copy(out, 0, 0, n);
    return out;
  }

  /** Forgets the value written; true when this writer is fit for reuse (its buffer not huge). */
  finish(): boolean {
    this.few.length = 0;
    this.few_ids.length = 0;
    this.many = null;
    this.seen = null;
    this.global_memo = null;
    if (this.key_memo !== null) this.slot_keys.fill(undefined);
    this.key_memo = null;
    this.keys_written = 0;
    if (this.buf.length > 16 * 1024 * 1024) return false;
    return true;
  }

  protected ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  protected byte(b: number): void {
    if (this.pos >= this.buf.length) this.ensure(1);
    this.buf[this.pos++] = b;
  }

  protected ascii(text: string): void {
    this.ensure(text.length);
    for (let i = 0; i < text.length; i++) this.buf[this.pos++] = text.charCodeAt(i);
  }

  protected u32(n: number): void {
    const buf = this.buf, p = this.pos;
    buf[p] = n & 0xff;
    buf[p + 1] = (n >>> 8) & 0xff;
    buf[p + 2] = (n >>> 16) & 0xff;
    buf[p + 3] = (n >>> 24) & 0xff;
    this.pos = p + 4;
  }

  protected u64(n: number): void {
    this.u32(n % 0x100000000);
    this.u32(Math.floor(n / 0x100000000));
  }

  /** Without the memo: records container `v` as met, throws {@link REPEAT} when it was already. */
  protected sight(v: object): void {
    const seen = this.seen;
    if (seen !== null) {
      const n = seen.size;
      seen.add(v);
      if (seen.size === n) throw REPEAT;
      return;
    }
    const few = this.few;
    for (let k = 0; k < few.length; k++) if (few[k] === v) throw REPEAT;
    if (few.length < SMALL_MEMO) {
      few.push(v);
    } else {
      const all = new Set<object>(few);
      all.add(v);
      this.seen = all;
    }
  }

  protected memo_get(v: object): number | undefined {
    if (!this.memo_on) return undefined;
    if (this.many !== null) return this.many.get(v);
    const few = this.few;
    for (let k = 0; k < few.length; k++) if (few[k] === v) return this.few_ids[k];
    return undefined;
  }

  protected memoize(v: object): void {
    if (!this.memo_on) return;
    const i = this.next_memo++;
    if (this.many !== null) {
      this.many.set(v, i);
    } else if (this.few.length < SMALL_MEMO) {
      this.few.push(v);
      this.few_ids.push(i);
    } else {
      // past SMALL_MEMO: everything moves to a Map
      const many = new Map<object, number>();
      for (let k = 0; k < this.few.length; k++) many.set(this.few[k]!, this.few_ids[k]!);
      many.set(v, i);
      this.many = many;
    }
    this.put(i);
  }

  protected put(i: number): void {
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

  protected get(i: number): void {
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

  protected int32(v: number): void {
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
  protected long_number(v: number): void {
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

  protected long_bigint(v: bigint): void {
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

  protected float(v: number): void {
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

  /** A dict key, the `slot`-th of its dict: a str, memoized by value in large pickles. */
  protected key(k: string, slot: number): void {
    if (slot < KEY_SLOTS && this.slot_keys[slot] === k) {
      this.get(this.slot_ids[slot]!);
      return;
    }
    if (k.length > KEY_MEMO_MAX) {
      this.str(k);
      return;
    }
    let memo = this.key_memo;
    if (memo === null) {
      if (++this.keys_written <= KEYS_BEFORE_MEMO) {
        this.str(k);
        return;
      }
      memo = this.key_memo = new Map();
    }
    let i = memo.get(k);
    if (i !== undefined) {
      this.get(i);
    } else {
      this.str(k);
      i = this.next_memo++;
      memo.set(k, i);
      this.put(i);
    }
    if (slot < KEY_SLOTS) {
      this.slot_keys[slot] = k;
      this.slot_ids[slot] = i;
    }
  }

  protected str(s: string): void {
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
  protected utf8_at(s: string, at: number): number {
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

  protected bytes(b: Uint8Array): void {
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
  protected latin1_text(b: Uint8Array): void {
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

  protected bytearray(b: ByteArray): void {
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

  protected builtins(): string {
    return this.protocol >= 3 ? 'builtins' : '__builtin__';
  }

  protected empty_tuple(): void {
    if (this.bin) this.byte(op.EMPTY_TUPLE);
    else this.ascii('(t');
  }

  protected global(module: string, name: string): void {
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
}
