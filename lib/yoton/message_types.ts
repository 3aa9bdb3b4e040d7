/**
 * Message types: how a channel turns messages into bytes and back. The type's name is part
 * of the slot (`chat.txt.pub-sub`), so only channels of the same type meet.
 *
 * - {@link TEXT} (`txt`): strings, as UTF-8. Empty message `''`.
 * - {@link BINARY} (`bin`): bytes, unchanged. Empty message: an empty Buffer.
 * - {@link OBJECT} (`obj`): yoton's tagged binary encoding of None, bool, int, float, str,
 *   list, tuple and dict. Empty message `null`.
 *
 * OBJECT in JavaScript (the same types as `trousers/pickle`):
 *
 * | Python | tag | JavaScript (sending) | JavaScript (receiving) |
 * |---|---|---|---|
 * | `None` | `n` | `null` or `undefined` | `null` |
 * | `bool` | `b` | `boolean` | `boolean` |
 * | `int` (int64) | `i` | an integer `number`, or a `bigint` | `number` when safe, else `bigint` |
 * | `float` | `f` | a non-integer `number`, or `Float` (`float(3)`) | `number` |
 * | `str` | `s` | `string` | `string` |
 * | `list` | `l` | `Array` | `Array` |
 * | `tuple` | `t` | `Tuple` | `Tuple` |
 * | `dict` | `d` | `Map`, or a plain object (string keys) | `Map` |
 *
 * A custom type extends {@link MessageType} and implements its three methods.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { Float, Tuple } from '../pickle/types.js';
import { YotonDecodeError } from './errors.js';

/** How messages of one kind become bytes and back. Extend it for custom types. */
export abstract class MessageType<M = unknown> {
  /** Encodes a message; throws TypeError for a message of the wrong kind. */
  abstract message_to_bytes(message: M): Buffer;
  /** Decodes bytes (an empty Buffer gives the type's empty message). */
  abstract message_from_bytes(bytes: Buffer): M;
  /** The name put in slot names, e.g. `'txt'`. */
  abstract message_type_name(): string;
}

/** Unicode text as UTF-8. */
export class TextMessageType extends MessageType<string> {
  /** @throws TypeError `Text channel requires string messages.` */
  message_to_bytes(message: string): Buffer {
    if (typeof message !== 'string') throw new TypeError('Text channel requires string messages.');
    return Buffer.from(message, 'utf8');
  }
  /** UTF-8 decoding (invalid bytes become U+FFFD, where Python would raise). */
  message_from_bytes(bytes: Buffer): string {
    return bytes.toString('utf8');
  }
  /** `'txt'` */
  message_type_name(): string {
    return 'txt';
  }
}

/** Bytes, passed through. */
export class BinaryMessageType extends MessageType<Buffer> {
  // accepts any Uint8Array when sending
  /** @throws TypeError `Binary channel requires byte messages.` */
  message_to_bytes(message: Uint8Array): Buffer {
    if (!(message instanceof Uint8Array)) throw new TypeError('Binary channel requires byte messages.');
    return Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  }
  /** The bytes themselves. */
  message_from_bytes(bytes: Buffer): Buffer {
    return bytes;
  }
  /** `'bin'` */
  message_type_name(): string {
    return 'bin';
  }
}

const T_NONE = 0x6e; // n
const T_BOOL = 0x62; // b
const T_INT = 0x69; // i
const T_FLOAT = 0x66; // f
const T_STR = 0x73; // s
const T_LIST = 0x6c; // l
const T_TUPLE = 0x74; // t
const T_DICT = 0x64; // d

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Deepest nesting accepted when decoding (and encoding). */
export const MAX_OBJECT_DEPTH = 512;

class Packer {
  private parts: Buffer[] = [];
  private small = Buffer.allocUnsafe(4096);
  private used = 0;
  private total = 0;

  private room(n: number): void {
    if (this.used + n > this.small.length) {
      this.parts.push(this.small.subarray(0, this.used));
      this.small = Buffer.allocUnsafe(Math.max(4096, n));
      this.used = 0;
    }
  }
  byte(b: number): void {
    this.room(1);
    this.small[this.used++] = b;
    this.total++;
  }
  count(n: number): void {
    if (n < 255) {
      this.byte(n);
    } else {
      this.byte(255);
      this.room(8);
      this.small.writeBigUInt64LE(BigInt(n), this.used);
      this.used += 8;
      this.total += 8;
    }
  }
  int(v: bigint): void {
    this.byte(T_INT);
    this.room(8);
    this.small.writeBigInt64LE(v, this.used);
    this.used += 8;
    this.total += 8;
  }
  float(v: number): void {
    this.byte(T_FLOAT);
    this.room(8);
    this.small.writeDoubleLE(v, this.used);
    this.used += 8;
    this.total += 8;
  }
  bytes(b: Buffer): void {
    if (b.length <= 256) {
      this.room(b.length);
      b.copy(this.small, this.used);
      this.used += b.length;
    } else {
      this.parts.push(this.small.subarray(0, this.used));
      this.parts.push(b);
      this.small = Buffer.allocUnsafe(4096);
      this.used = 0;
    }
    this.total += b.length;
  }
  finish(): Buffer {
    this.parts.push(this.small.subarray(0, this.used));
    return this.parts.length === 1 ? Buffer.from(this.parts[0]!) : Buffer.concat(this.parts, this.total);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

function pack(p: Packer, value: unknown, depth: number, seen: Set<object>): void {
  if (depth > MAX_OBJECT_DEPTH) throw new RangeError(`OBJECT values nest at most ${MAX_OBJECT_DEPTH} deep`);
  if (value === null || value === undefined) {
    p.byte(T_NONE);
  } else if (typeof value === 'boolean') {
    p.byte(T_BOOL);
    p.byte(value ? 1 : 0);
  } else if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && !Object.is(value, -0)) p.int(BigInt(value));
    else p.float(value);
  } else if (typeof value === 'bigint') {
    if (value < INT64_MIN || value > INT64_MAX) throw new RangeError(`OBJECT ints are 64-bit; ${value} is out of range`);
    p.int(value);
  } else if (value instanceof Float) {
    p.float(value.value);
  } else if (typeof value === 'string') {
    const b = Buffer.from(value, 'utf8');
    p.byte(T_STR);
    p.count(b.length);
    p.bytes(b);
  } else if (Array.isArray(value)) {
    if (seen.has(value)) throw new TypeError('OBJECT cannot encode a value that contains itself');
    seen.add(value);
    p.byte(value instanceof Tuple ? T_TUPLE : T_LIST);
    p.count(value.length);
    for (const item of value) pack(p, item, depth + 1, seen);
    seen.delete(value);
  } else if (value instanceof Map) {
    if (seen.has(value)) throw new TypeError('OBJECT cannot encode a value that contains itself');
    seen.add(value);
    p.byte(T_DICT);
    p.count(value.size);
    for (const [k, v] of value) {
      pack(p, k, depth + 1, seen);
      pack(p, v, depth + 1, seen);
    }
    seen.delete(value);
  } else if (typeof value === 'object' && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)) {
    if (seen.has(value)) throw new TypeError('OBJECT cannot encode a value that contains itself');
    seen.add(value);
    const keys = Object.keys(value);
    p.byte(T_DICT);
    p.count(keys.length);
    for (const k of keys) {
      pack(p, k, depth + 1, seen);
      pack(p, (value as Record<string, unknown>)[k], depth + 1, seen);
    }
    seen.delete(value);
  } else {
    throw new TypeError(`Unsupported type: ${describe(value)}`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Unpacker {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new YotonDecodeError('OBJECT message ends early');
  }
  count(): number {
    this.need(1);
    const n = this.buf[this.pos++]!;
    if (n < 255) return n;
    this.need(8);
    const big = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    // Every item takes at least one byte: a count beyond what is left cannot be honest.
    if (big > BigInt(this.buf.length - this.pos)) throw new YotonDecodeError('OBJECT count larger than the message');
    return Number(big);
  }
  value(depth: number): unknown {
    if (depth > MAX_OBJECT_DEPTH) throw new YotonDecodeError(`OBJECT values nest more than ${MAX_OBJECT_DEPTH} deep`);
    this.need(1);
    const tag = this.buf[this.pos++]!;
    switch (tag) {
      case T_NONE:
        return null;
      case T_BOOL:
        this.need(1);
        return this.buf[this.pos++] !== 0;
      case T_INT: {
        this.need(8);
        const v = this.buf.readBigInt64LE(this.pos);
        this.pos += 8;
        return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
      }
      case T_FLOAT: {
        this.need(8);
        const v = this.buf.readDoubleLE(this.pos);
        this.pos += 8;
        return v;
      }
      case T_STR: {
        const n = this.count();
        this.need(n);
        const s = this.buf.subarray(this.pos, this.pos + n);
        this.pos += n;
        try {
          return utf8.decode(s);
        } catch (err) {
          throw new YotonDecodeError('OBJECT string is not valid UTF-8', { cause: err });
        }
      }
      case T_LIST:
      case T_TUPLE: {
        const n = this.count();
        const out: unknown[] = tag === T_TUPLE ? new Tuple<unknown>() : [];
        for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
        return out;
      }
      case T_DICT: {
        const n = this.count();
        const out = new Map<unknown, unknown>();
        for (let i = 0; i < n; i++) {
          const k = this.value(depth + 1);
          out.set(k, this.value(depth + 1));
        }
        return out;
      }
      default:
        throw new YotonDecodeError(`Unsupported type: ${tag}`);
    }
  }
}

/** Encodes a value in yoton's OBJECT format. @throws TypeError for unsupported values */
export function encode_object(value: unknown): Buffer {
  const p = new Packer();
  pack(p, value, 0, new Set());
  return p.finish();
}

/**
 * Decodes yoton's OBJECT format (empty bytes give `null`; bytes after the value are ignored,
 * as yoton does). @throws YotonDecodeError for bytes that are not a value
 */
export function decode_object(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return null;
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return new Unpacker(buf).value(0);
}

/** Values of None, bool, int, float, str, list, tuple and dict, in yoton's tagged format. */
export class ObjectMessageType extends MessageType<unknown> {
  /** @throws TypeError `Unsupported type: ...` */
  message_to_bytes(message: unknown): Buffer {
    return encode_object(message);
  }
  /** @throws YotonDecodeError */
  message_from_bytes(bytes: Buffer): unknown {
    return decode_object(bytes);
  }
  /** `'obj'` */
  message_type_name(): string {
    return 'obj';
  }
}

/** Text messages (the default type of channels). */
export const TEXT: TextMessageType = new TextMessageType();
/** Binary messages. */
export const BINARY: BinaryMessageType = new BinaryMessageType();
/** Object messages (always used by req/rep). */
export const OBJECT: ObjectMessageType = new ObjectMessageType();
