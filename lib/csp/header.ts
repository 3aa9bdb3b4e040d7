/**
 * PyCSP's wire format: the 240-byte ctypes `Header` of pycsp.parallel 0.9.2 on Linux x86-64
 * (LP64, little-endian), its commands and flag bits, and a pure message reader. No sockets,
 * no timers: encode to bytes, decode from bytes.
 *
 * | offset | size | field         | type                               |
 * |--------|------|---------------|------------------------------------|
 * | 0      | 2    | `cmd`         | int16: command plus flag bits       |
 * | 2      | 64   | `id`          | char[64], NUL-padded: destination   |
 * | 66     | 6    | padding       |                                    |
 * | 72     | 8    | `seq_number`  | int64                              |
 * | 80     | 8    | `arg`         | int64: payload length, or a state  |
 * | 88     | 16   | `_source_host`| char[16]: the sender's server IP    |
 * | 104    | 4    | `_source_port`| int32                              |
 * | 108    | 64   | `_source_id`  | char[64]: requesting process / channel |
 * | 172    | 64   | `_result_id`  | char[64]: the channel or guard that completed |
 * | 236    | 4    | padding       |                                    |
 *
 * A message is one header, followed by `arg` payload bytes when the command has
 * {@link HAS_PAYLOAD} (a pickle, protocol 2, of a one-item list).
 *
 * Names and ids are handled as "byte strings": each character is one byte (latin1), so any
 * bytes a peer sends round-trip exactly. {@link wire_name} turns a user's name into one.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { CspProtocolError } from './errors.js';

/** Size of a header on the wire. */
export const HEADER_SIZE = 240;

// Flag bits.
/** The destination is a guard. */
export const GUARD_CMD = 1 << 13;
/** The destination is a process (its lock). */
export const PROCESS_CMD = 1 << 12;
/** The destination is a channel home. */
export const CHANNEL_CMD = 1 << 11;
/** `arg` payload bytes follow the header. */
export const HAS_PAYLOAD = 1 << 10;
/** An unknown destination must be answered with LOCKTHREAD_UNAVAILABLE. */
export const REQ_REPLY = 1 << 9;
/** A reply: it goes to the destination's reply queue. */
export const IS_REPLY = 1 << 8;
/** The receiving connection is also the way back to the sender (NAT traversal). */
export const NATFIX = 1 << 7;
/** Drop silently when the destination is unknown. */
export const IGN_UNKNOWN = 1 << 6;

// Commands.
/** home -> process: request the process's lock. */
export const LOCKTHREAD_ACQUIRE_LOCK = PROCESS_CMD | 0 | REQ_REPLY;
/** process -> home (reply): granted; `seq` = the process's sequence number, `arg` = its state. */
export const LOCKTHREAD_ACCEPT_LOCK = CHANNEL_CMD | GUARD_CMD | 1 | IS_REPLY;
/** dispatcher -> home (reply): the process is unknown. */
export const LOCKTHREAD_UNAVAILABLE = CHANNEL_CMD | GUARD_CMD | 2 | IS_REPLY;
/** home -> process: committed; payload = the message (for a reader), `result_id` = the channel. */
export const LOCKTHREAD_NOTIFY_SUCCESS = PROCESS_CMD | 3 | IS_REPLY | HAS_PAYLOAD;
/** home -> process: poisoned, if still READY. */
export const LOCKTHREAD_POISON = PROCESS_CMD | 4 | IS_REPLY;
/** home -> process: retired, if still READY. */
export const LOCKTHREAD_RETIRE = PROCESS_CMD | 5 | IS_REPLY;
/** home -> process: release the lock. */
export const LOCKTHREAD_RELEASE_LOCK = PROCESS_CMD | 6 | IS_REPLY | IGN_UNKNOWN;
/** home -> process: answer to LEAVE, the last message from that home. */
export const LOCKTHREAD_QUIT = PROCESS_CMD | 30;
/** home -> process: a posted request was checked (PriSelect). */
export const LOCKTHREAD_ACK = PROCESS_CMD | 42;
/** To one's own server only: stop the socket thread. */
export const SOCKETTHREAD_SHUTDOWN = PROCESS_CMD | CHANNEL_CMD | 7;
/** To one's own server only: re-read the socket list. */
export const SOCKETTHREAD_PING = PROCESS_CMD | CHANNEL_CMD | 20;
/** `reader()`. */
export const CHANTHREAD_JOIN_READER = CHANNEL_CMD | 8;
/** `writer()`. */
export const CHANTHREAD_JOIN_WRITER = CHANNEL_CMD | 9;
/** Retire a reading end. */
export const CHANTHREAD_RETIRE_READER = CHANNEL_CMD | 12;
/** Retire a writing end. */
export const CHANTHREAD_RETIRE_WRITER = CHANNEL_CMD | 13;
/** Poison through a reading end. */
export const CHANTHREAD_POISON_READER = CHANNEL_CMD | 14;
/** Poison through a writing end. */
export const CHANTHREAD_POISON_WRITER = CHANNEL_CMD | 15;
/** Add a channel reference. */
export const CHANTHREAD_REGISTER = CHANNEL_CMD | 16;
/** Remove a channel reference. */
export const CHANTHREAD_DEREGISTER = CHANNEL_CMD | 17;
/** Post a read request. */
export const CHANTHREAD_POST_READ = CHANNEL_CMD | 18;
/** Post a write request (with the message as payload). */
export const CHANTHREAD_POST_WRITE = CHANNEL_CMD | 19 | HAS_PAYLOAD;
/** Post a read request and ask for LOCKTHREAD_ACK once it was checked. */
export const CHANTHREAD_POST_ACK_READ = CHANNEL_CMD | 40;
/** Post a write request and ask for LOCKTHREAD_ACK once it was checked. */
export const CHANTHREAD_POST_ACK_WRITE = CHANNEL_CMD | 41 | HAS_PAYLOAD;
/** A process's first use of a channel; the connection becomes the way back (NATFIX). */
export const CHANTHREAD_ENTER = CHANNEL_CMD | 24 | NATFIX;
/** The process is done with the channel. */
export const CHANTHREAD_LEAVE = CHANNEL_CMD | 26;

/**
 * The `_result_id` trousers puts on a POST of a plain read or write (never on an
 * alternation's): a trousers home may then commit the request without taking the poster's
 * lock, naming the request's sequence number in NOTIFY_SUCCESS's `seq`. pycsp ignores
 * `_result_id` on posts, and its own posts never carry it.
 */
export const EXCLUSIVE_MARK = 'trousers.exclusive';

/** Process states carried in ACCEPT_LOCK's `arg`. */
export const READY = 0, FAIL = 1, SUCCESS = 2, POISON = 3, RETIRE = 4;

/** Every command a header may carry, by value, with its name. */
export const COMMANDS: ReadonlyMap<number, string> = new Map([
  [LOCKTHREAD_ACQUIRE_LOCK, 'LOCKTHREAD_ACQUIRE_LOCK'],
  [LOCKTHREAD_ACCEPT_LOCK, 'LOCKTHREAD_ACCEPT_LOCK'],
  [LOCKTHREAD_UNAVAILABLE, 'LOCKTHREAD_UNAVAILABLE'],
  [LOCKTHREAD_NOTIFY_SUCCESS, 'LOCKTHREAD_NOTIFY_SUCCESS'],
  [LOCKTHREAD_POISON, 'LOCKTHREAD_POISON'],
  [LOCKTHREAD_RETIRE, 'LOCKTHREAD_RETIRE'],
  [LOCKTHREAD_RELEASE_LOCK, 'LOCKTHREAD_RELEASE_LOCK'],
  [LOCKTHREAD_QUIT, 'LOCKTHREAD_QUIT'],
  [LOCKTHREAD_ACK, 'LOCKTHREAD_ACK'],
  [SOCKETTHREAD_SHUTDOWN, 'SOCKETTHREAD_SHUTDOWN'],
  [SOCKETTHREAD_PING, 'SOCKETTHREAD_PING'],
  [CHANTHREAD_JOIN_READER, 'CHANTHREAD_JOIN_READER'],
  [CHANTHREAD_JOIN_WRITER, 'CHANTHREAD_JOIN_WRITER'],
  [CHANTHREAD_RETIRE_READER, 'CHANTHREAD_RETIRE_READER'],
  [CHANTHREAD_RETIRE_WRITER, 'CHANTHREAD_RETIRE_WRITER'],
  [CHANTHREAD_POISON_READER, 'CHANTHREAD_POISON_READER'],
  [CHANTHREAD_POISON_WRITER, 'CHANTHREAD_POISON_WRITER'],
  [CHANTHREAD_REGISTER, 'CHANTHREAD_REGISTER'],
  [CHANTHREAD_DEREGISTER, 'CHANTHREAD_DEREGISTER'],
  [CHANTHREAD_POST_READ, 'CHANTHREAD_POST_READ'],
  [CHANTHREAD_POST_WRITE, 'CHANTHREAD_POST_WRITE'],
  [CHANTHREAD_POST_ACK_READ, 'CHANTHREAD_POST_ACK_READ'],
  [CHANTHREAD_POST_ACK_WRITE, 'CHANTHREAD_POST_ACK_WRITE'],
  [CHANTHREAD_ENTER, 'CHANTHREAD_ENTER'],
  [CHANTHREAD_LEAVE, 'CHANTHREAD_LEAVE'],
]);

/** A decoded header. Strings are byte strings (one latin1 character per byte). */
export interface Header {
  /** Command plus flag bits. */
  cmd: number;
  /** Destination: a channel name, process id or guard id. */
  id: string;
  /** The requesting process's sequence number. */
  seq: bigint;
  /** Payload length (HAS_PAYLOAD), or the process state (ACCEPT_LOCK). */
  arg: bigint;
  /** The sender's advertised server IP. */
  source_host: string;
  /** The sender's server port. */
  source_port: number;
  /** The requesting process id, or the sending channel's name. */
  source_id: string;
  /** In NOTIFY_SUCCESS: the channel or guard that completed. */
  result_id: string;
}

/** A header with every field but `cmd` defaulted (empty strings, zeros). */
export function header(cmd: number, fields: Partial<Header> = {}): Header {
  return {
    cmd,
    id: fields.id ?? '',
    seq: fields.seq ?? 0n,
    arg: fields.arg ?? 0n,
    source_host: fields.source_host ?? '',
    source_port: fields.source_port ?? 0,
    source_id: fields.source_id ?? '',
    result_id: fields.result_id ?? '',
  };
}

/** A user's string as a byte string (its UTF-8 bytes, one character each). */
export function wire_name(name: string): string {
  return Buffer.from(name, 'utf8').toString('latin1');
}

/** A byte string back to the user's string (UTF-8). */
export function user_name(wire: string): string {
  return Buffer.from(wire, 'latin1').toString('utf8');
}

function put_chars(buf: Buffer, offset: number, size: number, value: string, field: string): void {
  if (value.length > size) throw new RangeError(`header field ${field} holds at most ${size} bytes, got ${value.length}`);
  buf.fill(0, offset, offset + size);
  buf.write(value, offset, 'latin1');
}

function get_chars(buf: Buffer, offset: number, size: number): string {
  let end = buf.indexOf(0, offset);
  if (end < 0 || end > offset + size) end = offset + size;
  return buf.toString('latin1', offset, end);
}

/**
 * Writes `h` as 240 bytes into `buf` at `offset` (a fresh buffer when none is given).
 * @throws RangeError when a string field is longer than its char array or a number is out of range
 */
export function encode_header(h: Header, buf: Buffer = Buffer.allocUnsafe(HEADER_SIZE), offset = 0): Buffer {
  if (!Number.isInteger(h.cmd) || h.cmd < -32768 || h.cmd > 32767) throw new RangeError(`cmd must be an int16, got ${h.cmd}`);
  if (!Number.isInteger(h.source_port) || h.source_port < -2147483648 || h.source_port > 2147483647) {
    throw new RangeError(`source_port must be an int32, got ${h.source_port}`);
  }
  buf.writeInt16LE(h.cmd, offset);
  put_chars(buf, offset + 2, 64, h.id, 'id');
  buf.fill(0, offset + 66, offset + 72);
  buf.writeBigInt64LE(BigInt.asIntN(64, h.seq), offset + 72);
  buf.writeBigInt64LE(BigInt.asIntN(64, h.arg), offset + 80);
  put_chars(buf, offset + 88, 16, h.source_host, 'source_host');
  buf.writeInt32LE(h.source_port, offset + 104);
  put_chars(buf, offset + 108, 64, h.source_id, 'source_id');
  put_chars(buf, offset + 172, 64, h.result_id, 'result_id');
  buf.fill(0, offset + 236, offset + 240);
  return buf;
}

/**
 * Reads a header from 240 bytes of `buf` at `offset`. Any 240 bytes decode (as ctypes
 * would read them); {@link check_header} says whether the result makes sense.
 * @throws RangeError when fewer than 240 bytes are there
 */
export function decode_header(buf: Uint8Array, offset = 0): Header {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length - offset < HEADER_SIZE) throw new RangeError(`a header needs ${HEADER_SIZE} bytes, got ${b.length - offset}`);
  return {
    cmd: b.readInt16LE(offset),
    id: get_chars(b, offset + 2, 64),
    seq: b.readBigInt64LE(offset + 72),
    arg: b.readBigInt64LE(offset + 80),
    source_host: get_chars(b, offset + 88, 16),
    source_port: b.readInt32LE(offset + 104),
    source_id: get_chars(b, offset + 108, 64),
    result_id: get_chars(b, offset + 172, 64),
  };
}

/**
 * Checks a received header: a known command, a payload length within `max_payload`, a
 * sane source port. Returns the problem, or null when the header is acceptable.
 */
export function check_header(h: Header, max_payload: number): CspProtocolError | null {
  if (h.cmd === 0) return new CspProtocolError('ERR_CSP_BAD_HEADER', 'a header with command 0 (ERROR_CMD): not a PyCSP message');
  if (!COMMANDS.has(h.cmd)) {
    return new CspProtocolError('ERR_CSP_UNKNOWN_COMMAND', `unknown PyCSP command 0x${(h.cmd & 0xffff).toString(16)}`);
  }
  if (h.source_port < 0 || h.source_port > 65535) {
    return new CspProtocolError('ERR_CSP_BAD_HEADER', `source port ${h.source_port} is out of range`);
  }
  if (h.cmd & HAS_PAYLOAD) {
    if (h.arg < 0n) return new CspProtocolError('ERR_CSP_PAYLOAD', `negative payload length ${h.arg}`);
    if (h.arg > BigInt(max_payload)) {
      return new CspProtocolError('ERR_CSP_PAYLOAD', `payload of ${h.arg} bytes is over the limit of ${max_payload}`);
    }
  }
  return null;
}

/** A whole message: a header and its payload (empty without HAS_PAYLOAD). */
export interface Message {
  /** The header. */
  header: Header;
  /** The payload bytes. */
  payload: Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * Cuts a byte stream into messages. It says how many bytes it needs next ({@link
 * MessageReader.need}: 240 for a header, then the payload length) and takes exactly that
 * many; a stream's `read_delimiter` follows `need`. Pure: a spec feeds it any chunking.
 */
export class MessageReader {
  /** Bytes the next {@link MessageReader.take} wants. */
  need = HEADER_SIZE;
  private pending: Header | null = null;

  /** @param max_payload - the longest payload accepted */
  constructor(readonly max_payload: number) {}

  /**
   * Takes exactly `need` bytes. Returns a whole message, or null when a payload must follow.
   * @throws CspProtocolError for a header that is garbage, of an unknown command or
   *   announcing a payload over the limit (the stream must then be closed)
   */
  take(frame: Buffer): Message | null {
    if (frame.length !== this.need) throw new RangeError(`take() wants ${this.need} bytes, got ${frame.length}`);
    const pending = this.pending;
    if (pending !== null) {
      this.pending = null;
      this.need = HEADER_SIZE;
      return { header: pending, payload: frame };
    }
    const h = decode_header(frame);
    const problem = check_header(h, this.max_payload);
    if (problem !== null) throw problem;
    if (h.cmd & HAS_PAYLOAD && h.arg > 0n) {
      this.pending = h;
      this.need = Number(h.arg);
      return null;
    }
    return { header: h, payload: EMPTY };
  }

  /** True when the reader stopped between messages (not inside one). */
  get at_boundary(): boolean {
    return this.pending === null;
  }
}

/** Encodes a whole message (header and payload) into one buffer. */
export function encode_message(h: Header, payload: Uint8Array | null = null): Buffer {
  if (payload === null || payload.length === 0) {
    if (h.cmd & HAS_PAYLOAD) h.arg = 0n;
    return encode_header(h);
  }
  h.arg = BigInt(payload.length);
  const buf = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  encode_header(h, buf, 0);
  buf.set(payload, HEADER_SIZE);
  return buf;
}
