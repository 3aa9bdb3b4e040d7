/**
 * RESP, the Redis serialization protocol (RESP2, and RESP3 after `HELLO 3`): a pure codec,
 * no sockets, no timers.
 *
 * - {@link encode_command}: a command as clients send it, an array of bulk strings.
 * - {@link encode_reply}: any reply, as a server sends it (the embedded hub uses it).
 * - {@link RespDecoder}: the reply state machine, fed one *frame* at a time. It says what
 *   it needs next in `want`: `0` for a line ending in CRLF (given without the CRLF), or a
 *   byte count (a bulk string's payload plus its CRLF). A trousers stream sets its
 *   `read_delimiter` from `want` after every frame, so the engine's framer does the cutting.
 * - `RespParser` (`parser.ts`): the same state machine fed arbitrary chunks (it cuts the
 *   frames itself, resuming where the last chunk stopped), for byte-level use and tests.
 *
 * Values decode to: simple strings as `string`; errors as {@link RedisError} values (the
 * client turns a top-level one into a rejection); integers as `number`, or `bigint` beyond
 * the safe range; bulk strings as `Buffer` (or strings with an `encoding`); nil as `null`;
 * arrays as arrays; RESP3 maps as `Map`, sets as `Set`, doubles as `number`, booleans as
 * `boolean`, big numbers as `bigint`, verbatim strings as their text, pushes as
 * {@link RespPush}; attributes are read and dropped.
 *
 * Limits (every one checked before anything is buffered): a line of at most `max_line` bytes,
 * a bulk string of at most `max_bulk` bytes, aggregates of at most `max_elements` elements,
 * nested at most `max_depth` deep. Anything else closes the connection with a
 * {@link RedisProtocolError}.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { RedisError, RedisProtocolError } from './errors.js';

/** What a command argument may be: strings are sent as UTF-8, numbers in decimal. */
export type RedisArg = string | Uint8Array | number | bigint;

/** A RESP3 out-of-band push (`>`): pub/sub messages, invalidations. */
export class RespPush {
  /** @param data - the push's elements; the first is its kind (`'message'`, ...) */
  constructor(readonly data: RedisReply[]) {}
}

/** A decoded reply. See the module documentation for the mapping. */
export type RedisReply =
  | string
  | Buffer
  | number
  | bigint
  | boolean
  | null
  | RedisError
  | RespPush
  | RedisReply[]
  | Map<RedisReply, RedisReply>
  | Set<RedisReply>;

/** A status reply (`+OK`) for {@link encode_reply}; plain strings encode as bulk strings. */
export class SimpleString {
  /** @param text - the status text (no CR or LF) */
  constructor(readonly text: string) {}
}

/** The shared `+OK` status. */
export const OK: SimpleString = new SimpleString('OK');

/** A RESP2 null *array* (`*-1`), which `BLPOP` answers on timeout; in RESP3 it is `_`. */
export const NULL_ARRAY: unique symbol = Symbol('NULL_ARRAY');

/** What {@link encode_reply} accepts. Non-integer numbers are doubles (RESP2: bulk strings). */
export type RespOut =
  | SimpleString
  | RedisError
  | string
  | Uint8Array
  | number
  | bigint
  | boolean
  | null
  | typeof NULL_ARRAY
  | readonly RespOut[]
  | Map<RespOut, RespOut>
  | Set<RespOut>;

const CRLF = '\r\n';

function arg_text(arg: RedisArg): string | Uint8Array {
  switch (typeof arg) {
    case 'string':
      return arg;
    case 'number':
      if (Number.isNaN(arg)) throw new RangeError('a Redis argument cannot be NaN');
      if (arg === Infinity) return 'inf';
      if (arg === -Infinity) return '-inf';
      return String(arg);
    case 'bigint':
      return arg.toString();
    default:
      if (arg instanceof Uint8Array) return arg;
      throw new TypeError(`a Redis argument is a string, bytes, a number or a bigint; got ${arg === null ? 'null' : typeof arg}`);
  }
}

/**
 * Encodes a command (name and arguments) as a RESP array of bulk strings.
 * @throws TypeError for arguments of other types (null, undefined, objects, booleans)
 * @throws RangeError for NaN
 */
export function encode_command(args: readonly RedisArg[]): Buffer {
  if (args.length === 0) throw new RangeError('a command needs a name');
  let text = `*${args.length}\r\n`;
  let parts: (string | Uint8Array)[] | null = null;
  for (const arg of args) {
    const value = arg_text(arg);
    if (typeof value === 'string') {
      text += `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
    } else {
      parts ??= [];
      parts.push(`${text}$${value.length}\r\n`, value);
      text = CRLF;
    }
  }
  if (parts === null) return Buffer.from(text);
  parts.push(text);
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}

/**
 * Encodes a command as a string when every argument is a string or number (the fast path of
 * the client's pipeline), or returns null when one is bytes.
 * (not part of the public API) */
export function encode_command_text(args: readonly RedisArg[]): string | null {
  let text = `*${args.length}\r\n`;
  for (const arg of args) {
    const value = arg_text(arg);
    if (typeof value !== 'string') return null;
    text += `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
  }
  return text;
}

function check_line(text: string, what: string): string {
  if (/[\r\n]/.test(text)) throw new RangeError(`a ${what} cannot contain CR or LF`);
  return text;
}

function format_double(value: number): string {
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (Number.isNaN(value)) return 'nan';
  return String(value);
}

/**
 * Encodes a reply as a server sends it, in RESP2 (default) or RESP3.
 * In RESP2, maps become flat arrays, sets arrays, booleans `:1`/`:0`, doubles bulk strings.
 * @throws TypeError for values RESP cannot carry
 */
export function encode_reply(value: RespOut, protocol: 2 | 3 = 2): Buffer {
  const parts: (string | Uint8Array)[] = [];
  encode_into(value, protocol, parts);
  if (parts.length === 1 && typeof parts[0] === 'string') return Buffer.from(parts[0]);
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}

function encode_into(value: RespOut, protocol: 2 | 3, out: (string | Uint8Array)[]): void {
  if (value === null) {
    out.push(protocol === 3 ? '_\r\n' : '$-1\r\n');
  } else if (value === NULL_ARRAY) {
    out.push(protocol === 3 ? '_\r\n' : '*-1\r\n');
  } else if (typeof value === 'string') {
    out.push(`$${Buffer.byteLength(value)}\r\n${value}\r\n`);
  } else if (typeof value === 'number') {
    if (Number.isInteger(value)) out.push(`:${value}\r\n`);
    else if (protocol === 3) out.push(`,${format_double(value)}\r\n`);
    else {
      const text = format_double(value);
      out.push(`$${text.length}\r\n${text}\r\n`);
    }
  } else if (typeof value === 'bigint') {
    out.push(`:${value}\r\n`);
  } else if (typeof value === 'boolean') {
    out.push(protocol === 3 ? (value ? '#t\r\n' : '#f\r\n') : value ? ':1\r\n' : ':0\r\n');
  } else if (value instanceof SimpleString) {
    out.push(`+${check_line(value.text, 'status')}\r\n`);
  } else if (value instanceof RedisError) {
    out.push(`-${value.message.replace(/[\r\n]+/g, ' ')}\r\n`);
  } else if (value instanceof Uint8Array) {
    out.push(`$${value.length}\r\n`, value, CRLF);
  } else if (Array.isArray(value)) {
    out.push(`*${value.length}\r\n`);
    for (const item of value) encode_into(item, protocol, out);
  } else if (value instanceof Map) {
    out.push(protocol === 3 ? `%${value.size}\r\n` : `*${value.size * 2}\r\n`);
    for (const [k, v] of value) {
      encode_into(k, protocol, out);
      encode_into(v, protocol, out);
    }
  } else if (value instanceof Set) {
    out.push(protocol === 3 ? `~${value.size}\r\n` : `*${value.size}\r\n`);
    for (const item of value) encode_into(item, protocol, out);
  } else {
    throw new TypeError(`RESP cannot carry ${typeof value}`);
  }
}

/** Limits of a decoder. */
export interface RespLimits {
  /** Longest line (status, error, number, header), in bytes. Default 64 KiB. */
  max_line?: number;
  /** Longest bulk string, in bytes. Default 512 MiB (Redis' own `proto-max-bulk-len`). */
  max_bulk?: number;
  /** Most elements in one aggregate. Default 2^31 - 1. */
  max_elements?: number;
  /** Deepest nesting of aggregates. Default 64. */
  max_depth?: number;
}

/** Options of a {@link RespDecoder}. */
export interface RespDecoderOptions extends RespLimits {
  /** Decode bulk strings with this encoding instead of returning Buffers. */
  encoding?: BufferEncoding | null;
  /**
   * Server side: accept inline commands (a line that does not start with `*` is split on
   * spaces into bulk strings, as Redis does for telnet users). Default false.
   */
  inline?: boolean;
}

/** {@link RespDecoder.frame} returns this while a value is still incomplete. */
export const INCOMPLETE: unique symbol = Symbol('INCOMPLETE');

type AggKind = 0 | 1 | 2 | 3 | 4; // array, map, set, push, attribute

interface Aggregate {
  kind: AggKind;
  items: RedisReply[];
  remaining: number;
}

const PLUS = 0x2b;
const MINUS = 0x2d;
const COLON = 0x3a;
const DOLLAR = 0x24;
const STAR = 0x2a;
const UNDERSCORE = 0x5f;
const HASH = 0x23;
const COMMA = 0x2c;
const LPAREN = 0x28;
const BANG = 0x21;
const EQUALS = 0x3d;
const PERCENT = 0x25;
const TILDE = 0x7e;
const GT = 0x3e;
const PIPE = 0x7c;

function excerpt(line: Buffer): string {
  const s = line.subarray(0, 32).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return line.length > 32 ? `${s}...` : s;
}

/** Parses a decimal integer line body (after the type byte); NaN when malformed. */
function parse_int(line: Buffer, from: number): number {
  const n = line.length;
  if (from >= n) return NaN;
  let i = from;
  let negative = false;
  if (line[i] === MINUS) {
    negative = true;
    i++;
  } else if (line[i] === PLUS) i++;
  if (i >= n || n - i > 18) return parse_long(line, from);
  let v = 0;
  for (; i < n; i++) {
    const d = line[i]! - 48;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  if (v > Number.MAX_SAFE_INTEGER) return NaN;
  return negative ? -v : v;
}

/** Longer integers: a number when safe, else NaN (callers that accept bigints use parse_big). */
function parse_long(line: Buffer, from: number): number {
  const big = parse_big(line, from);
  if (big === null) return NaN;
  const n = Number(big);
  return Number.isSafeInteger(n) ? n : NaN;
}

function parse_big(line: Buffer, from: number): bigint | null {
  const text = line.toString('latin1', from);
  if (!/^[-+]?[0-9]{1,400}$/.test(text)) return null;
  return BigInt(text);
}

/**
 * The RESP state machine, fed whole frames (see the module documentation). Not re-entrant:
 * one decoder per connection.
 */
export class RespDecoder {
  /** What the next frame must be: 0 = a line (CRLF excluded), n > 0 = exactly n bytes. */
  want = 0;
  private readonly encoding: BufferEncoding | null;
  private readonly inline: boolean;
  private readonly max_line: number;
  private readonly max_bulk: number;
  private readonly max_elements: number;
  private readonly max_depth: number;
  private readonly stack: Aggregate[] = [];
  /** The kind of bulk being read (`$`, `!` or `=`). */
  private bulk_type = 0;

  /** @param options - encoding, inline commands and limits */
  constructor(options: RespDecoderOptions = {}) {
    this.encoding = options.encoding ?? null;
    this.inline = options.inline ?? false;
    this.max_line = options.max_line ?? 65536;
    this.max_bulk = options.max_bulk ?? 512 * 1024 * 1024;
    this.max_elements = options.max_elements ?? 2 ** 31 - 1;
    this.max_depth = options.max_depth ?? 64;
  }

  /** The longest line this decoder accepts (a framer's buffer limit for lines). */
  get line_limit(): number {
    return this.max_line;
  }

  /** True between values (nothing partly decoded). */
  get idle(): boolean {
    return this.want === 0 && this.stack.length === 0;
  }

  /**
   * Feeds one frame: a line without its CRLF when `want` was 0, else exactly `want` bytes.
   * @returns a complete top-level value, or {@link INCOMPLETE}
   * @throws RedisProtocolError when the bytes are not RESP or break a limit
   */
  frame(buf: Buffer): RedisReply | typeof INCOMPLETE {
    let value: RedisReply | typeof INCOMPLETE;
    if (this.want > 0) {
      if (buf.length !== this.want || buf[buf.length - 2] !== 0x0d || buf[buf.length - 1] !== 0x0a) {
        throw new RedisProtocolError('a bulk string is not followed by CRLF');
      }
      const body = buf.subarray(0, buf.length - 2);
      this.want = 0;
      value = this.bulk_value(body);
    } else {
      value = this.line(buf);
    }
    if (value === INCOMPLETE) return INCOMPLETE;
    return this.complete(value);
  }

  /** Places a finished value into the open aggregates; returns the top-level value when done. */
  private complete(value: RedisReply): RedisReply | typeof INCOMPLETE {
    let v = value;
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (top === undefined) return v;
      top.items.push(v);
      if (--top.remaining > 0) return INCOMPLETE;
      this.stack.pop();
      const made = this.finish(top);
      if (made === INCOMPLETE) return INCOMPLETE;
      v = made;
    }
  }

  private finish(agg: Aggregate): RedisReply | typeof INCOMPLETE {
    const items = agg.items;
    switch (agg.kind) {
      case 0:
        return items;
      case 1: {
        const map = new Map<RedisReply, RedisReply>();
        for (let i = 0; i < items.length; i += 2) map.set(map_key(items[i]!), items[i + 1]!);
        return map;
      }
      case 2:
        return new Set(items.map(map_key));
      case 3:
        return new RespPush(items);
      default:
        // An attribute: dropped; the value it annotates follows.
        return INCOMPLETE;
    }
  }

  private bulk_value(body: Buffer): RedisReply {
    const type = this.bulk_type;
    if (type === BANG) return new RedisError(body.toString('utf8'));
    if (type === EQUALS) {
      // Verbatim: three bytes of format, a colon, the text.
      if (body.length < 4 || body[3] !== COLON) throw new RedisProtocolError('a verbatim string lacks its format prefix');
      body = body.subarray(4);
    }
    return this.encoding === null ? body : body.toString(this.encoding);
  }

  private line(line: Buffer): RedisReply | typeof INCOMPLETE {
    if (line.length > this.max_line) throw new RedisProtocolError(`a line of ${line.length} bytes is over the limit of ${this.max_line}`);
    if (line.length === 0) {
      if (this.inline && this.stack.length === 0) return INCOMPLETE; // an empty inline line: Redis ignores it
      throw new RedisProtocolError('an empty line where a RESP value was expected');
    }
    const type = line[0]!;
    switch (type) {
      case PLUS:
        return line.toString('utf8', 1);
      case MINUS:
        return new RedisError(line.toString('utf8', 1));
      case COLON: {
        const n = parse_int(line, 1);
        if (!Number.isNaN(n)) return n;
        const big = parse_big(line, 1);
        if (big === null) throw new RedisProtocolError(`a malformed integer: ${excerpt(line)}`);
        return big;
      }
      case DOLLAR:
      case BANG:
      case EQUALS:
        return this.bulk_header(line, type);
      case STAR:
      case PERCENT:
      case TILDE:
      case GT:
      case PIPE:
        return this.aggregate_header(line, type);
      case UNDERSCORE:
        if (line.length !== 1) throw new RedisProtocolError(`a malformed null: ${excerpt(line)}`);
        return null;
      case HASH:
        if (line.length === 2 && line[1] === 0x74) return true;
        if (line.length === 2 && line[1] === 0x66) return false;
        throw new RedisProtocolError(`a malformed boolean: ${excerpt(line)}`);
      case COMMA: {
        const text = line.toString('latin1', 1);
        if (text === 'inf' || text === '+inf') return Infinity;
        if (text === '-inf') return -Infinity;
        if (text === 'nan' || text === '-nan') return NaN;
        const v = Number(text);
        if (text.length === 0 || Number.isNaN(v) || !/^[-+0-9.eE]+$/.test(text)) throw new RedisProtocolError(`a malformed double: ${excerpt(line)}`);
        return v;
      }
      case LPAREN: {
        const big = parse_big(line, 1);
        if (big === null) throw new RedisProtocolError(`a malformed big number: ${excerpt(line)}`);
        return big;
      }
      default:
        if (this.inline && this.stack.length === 0) return inline_command(line, this.encoding);
        throw new RedisProtocolError(`an unknown RESP type byte: ${excerpt(line)}`);
    }
  }

  private bulk_header(line: Buffer, type: number): RedisReply | typeof INCOMPLETE {
    const n = parse_int(line, 1);
    if (n === -1 && type === DOLLAR) return null;
    if (!Number.isSafeInteger(n) || n < 0) throw new RedisProtocolError(`a malformed bulk length: ${excerpt(line)}`);
    if (n > this.max_bulk) throw new RedisProtocolError(`a bulk string of ${n} bytes is over the limit of ${this.max_bulk}`);
    this.bulk_type = type;
    this.want = n + 2;
    return INCOMPLETE;
  }

  private aggregate_header(line: Buffer, type: number): RedisReply | typeof INCOMPLETE {
    if (line.length === 2 && line[1] === 0x3f) throw new RedisProtocolError('streamed aggregates are not supported');
    const n = parse_int(line, 1);
    if (n === -1 && (type === STAR || type === GT)) return null;
    if (!Number.isSafeInteger(n) || n < 0) throw new RedisProtocolError(`a malformed aggregate length: ${excerpt(line)}`);
    if (n > this.max_elements) throw new RedisProtocolError(`an aggregate of ${n} elements is over the limit of ${this.max_elements}`);
    const kind: AggKind = type === STAR ? 0 : type === PERCENT ? 1 : type === TILDE ? 2 : type === GT ? 3 : 4;
    const count = kind === 1 || kind === 4 ? n * 2 : n;
    if (count === 0) {
      const made = this.finish({ kind, items: [], remaining: 0 });
      return made;
    }
    if (this.stack.length >= this.max_depth) throw new RedisProtocolError(`aggregates nested deeper than ${this.max_depth}`);
    this.stack.push({ kind, items: [], remaining: count });
    return INCOMPLETE;
  }
}

/** Map keys and set members that are Buffers become latin1-safe strings so lookups work. */
function map_key(key: RedisReply): RedisReply {
  return Buffer.isBuffer(key) ? key.toString('utf8') : key;
}

function inline_command(line: Buffer, encoding: BufferEncoding | null): RedisReply {
  const words = line.toString('utf8').split(/[ \t]+/).filter((w) => w.length > 0);
  if (words.length === 0) return INCOMPLETE as unknown as RedisReply;
  return words.map((w) => (encoding === null ? Buffer.from(w) : w));
}
