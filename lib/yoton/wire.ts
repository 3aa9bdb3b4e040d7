/**
 * Yoton's wire format, pure (no sockets, no timers): the text handshake line, the 56-byte
 * package header and a {@link WireReader} that cuts a byte stream into handshake line and
 * packages however the bytes arrive.
 *
 * After the handshake (`YOTON!<id as 16 lowercase hex digits>.<pid>\r\n` each way) every
 * package is a header of seven little-endian u64 followed by `length` payload bytes:
 *
 * | offset | field | meaning |
 * |---|---|---|
 * | 0 | control | `b"YOTON   "`; anything else: `Lost track of the stream.` |
 * | 8 | slot | slot hash; 1 = connection control, 2 = context messages |
 * | 16 | source_id | the context that made the package |
 * | 24 | source_seq | its sequence number (duplicate suppression) |
 * | 32 | dest_id | 0 = everyone, else one context (req/rep) |
 * | 40 | dest_seq | request id, or request id + 2^63 for pre-requests |
 * | 48 | length | payload bytes that follow |
 *
 * A package of length 0 is connection control: source_seq 0 a heartbeat, 1 "close".
 *
 * @module
 */

import { Buffer } from 'node:buffer';

/** Bytes in a package header. */
export const HEADER_SIZE = 56;
/** The header's control word, `"YOTON   "` read as a little-endian u64. */
export const CONTROL_BYTES = 0x2020204e4f544f59n;
/** The slot of connection-control packages (heartbeat, close). */
export const SLOT_DUMMY = 1n;
/** The slot of context-to-context messages (`NEW_CONNECTION`). */
export const SLOT_CONTEXT = 2n;
/** Default largest payload accepted from a peer: 64 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;
/** Longest handshake line accepted (yoton's own lines are about 30 bytes). */
export const MAX_HANDSHAKE_LINE = 1024;

/** The reasons a connection stops, exactly as yoton words them. */
export const STOP = {
  DEFAULT: 'Closed on command.',
  CONTEXT: 'Closed by the context.',
  UNSPECIFIED: 'Unspecified problem',
  INVALID_REASON: 'Invalid stop reason specified (must be string).',
  TIMEOUT: 'Connection timed out.',
  HANDSHAKE_TIMEOUT: 'Handshake timed out.',
  HANDSHAKE_FAILED: 'Handshake failed.',
  HANDSHAKE_SELF: 'Handshake failed (context cannot connect to self).',
  CLOSED_FROM_THERE: 'Closed from other end.',
  EOF: 'Other end dropped the connection.',
  LOST_TRACK: 'Lost track of the stream.',
  SOCKET_ERROR: 'Socket error.',
  /** Not in yoton (which tries to read any length): a payload over `max_message_size`. */
  TOO_LARGE: 'Package too large.',
} as const;

/** One package: the header fields (64-bit as bigint) and its payload. */
export interface Package {
  /** Slot hash of the receiving channels. */
  slot: bigint;
  /** Context that created the package. */
  source_id: bigint;
  /** Its per-context sequence number (set by the context when it sends). */
  source_seq: bigint;
  /** 0 for everyone, else the one context it is for. */
  dest_id: bigint;
  /** Request id (req/rep), else 0. */
  dest_seq: bigint;
  /** Payload bytes. */
  data: Buffer;
  /** Local receive order (never sent). */
  recv_seq: number;
  /** @internal The encoded package, once made (shared by every connection it goes to). */
  wire?: Buffer;
}

/** Makes a package (source_seq 0 until the context numbers it). */
export function make_package(data: Buffer, slot: bigint, source_id: bigint, dest_id = 0n, dest_seq = 0n): Package {
  return { slot, source_id, source_seq: 0n, dest_id, dest_seq, data, recv_seq: 0 };
}

/** Writes a 56-byte header into `buf` at `offset`. */
export function write_header(buf: Buffer, offset: number, p: Package, length: number): void {
  buf.writeBigUInt64LE(CONTROL_BYTES, offset);
  buf.writeBigUInt64LE(p.slot, offset + 8);
  buf.writeBigUInt64LE(p.source_id, offset + 16);
  buf.writeBigUInt64LE(p.source_seq, offset + 24);
  buf.writeBigUInt64LE(p.dest_id, offset + 32);
  buf.writeBigUInt64LE(p.dest_seq, offset + 40);
  buf.writeBigUInt64LE(BigInt(length), offset + 48);
}

/**
 * The package as one buffer, header and payload together (so it goes out in one write; yoton
 * uses two sends, which with Nagle costs a delayed ACK per message). Cached on the package.
 */
export function encode_package(p: Package): Buffer {
  if (p.wire !== undefined) return p.wire;
  const n = p.data.length;
  const buf = Buffer.allocUnsafe(HEADER_SIZE + n);
  write_header(buf, 0, p, n);
  p.data.copy(buf, HEADER_SIZE);
  p.wire = buf;
  return buf;
}

/** A connection-control package: heartbeat (`seq` 0) or close (`seq` 1). */
export function control_package(seq: 0n | 1n): Buffer {
  const buf = Buffer.alloc(HEADER_SIZE);
  write_header(buf, 0, make_package(Buffer.alloc(0), SLOT_DUMMY, 0n), 0);
  buf.writeBigUInt64LE(seq, 24);
  return buf;
}

/** The heartbeat package. */
export const HEARTBEAT: Buffer = control_package(0n);
/** The close package. */
export const CLOSE: Buffer = control_package(1n);

/** A decoded header, or why it is not one. */
export type Header =
  | { ok: true; slot: bigint; source_id: bigint; source_seq: bigint; dest_id: bigint; dest_seq: bigint; length: bigint }
  | { ok: false };

/** Decodes the 56 bytes at `offset`. A wrong control word gives `{ ok: false }`. */
export function decode_header(buf: Uint8Array, offset = 0): Header {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length - offset < HEADER_SIZE) throw new RangeError('a header needs 56 bytes');
  if (b.readBigUInt64LE(offset) !== CONTROL_BYTES) return { ok: false };
  return {
    ok: true,
    slot: b.readBigUInt64LE(offset + 8),
    source_id: b.readBigUInt64LE(offset + 16),
    source_seq: b.readBigUInt64LE(offset + 24),
    dest_id: b.readBigUInt64LE(offset + 32),
    dest_seq: b.readBigUInt64LE(offset + 40),
    length: b.readBigUInt64LE(offset + 48),
  };
}

/** The handshake line a context sends: `YOTON!<16 lowercase hex>.<pid>\r\n`. */
export function handshake_line(id: bigint, pid: number): string {
  return `YOTON!${id.toString(16).padStart(16, '0')}.${pid}\r\n`;
}

/** What a handshake line says: a yoton peer's id and pid, not yoton, or unparsable. */
export type HandshakeInfo = { kind: 'yoton'; id: bigint; pid: number } | { kind: 'not_yoton' } | { kind: 'bad_id' };

const HEX = /^\s*(?:0x)?([0-9a-f]+)\s*$/i;
const DEC = /^\s*[+-]?\d+\s*$/;

/**
 * Parses a handshake line (without or with its CRLF) as yoton does: it must start with
 * `YOTON!`, then the id in hex and the pid in decimal, split on the first `.`.
 */
export function parse_handshake(line: string): HandshakeInfo {
  if (!line.startsWith('YOTON!')) return { kind: 'not_yoton' };
  const body = line.slice(6);
  const dot = body.indexOf('.');
  if (dot < 0) return { kind: 'bad_id' };
  const hex = HEX.exec(body.slice(0, dot));
  const pid_text = body.slice(dot + 1);
  if (hex === null || !DEC.test(pid_text)) return { kind: 'bad_id' };
  const id = BigInt(`0x${hex[1]}`);
  if (id >= 2n ** 64n) return { kind: 'bad_id' };
  return { kind: 'yoton', id, pid: Number.parseInt(pid_text.trim(), 10) };
}

/** Where a {@link WireReader} sends what it finds. */
export interface WireSink {
  /** The handshake line (CRLF removed), decoded as UTF-8 ignoring bad bytes. */
  on_line(line: string): void;
  /** A package with a payload. */
  on_package(p: Package): void;
  /** A zero-length package: `0n` heartbeat, `1n` close, anything else is ignored by yoton. */
  on_control(source_seq: bigint): void;
  /** The stream broke the format; nothing more is read. `reason` is yoton's wording. */
  on_problem(reason: string): void;
}

/**
 * Cuts a byte stream into the handshake line and then packages, whatever the chunking.
 * Limits are checked before anything is buffered: a handshake line over
 * {@link MAX_HANDSHAKE_LINE} bytes and a payload over `max_message_size` are problems.
 */
export class WireReader {
  private chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  private buffered = 0;
  private mode: 'line' | 'header' | 'body' | 'stopped';
  private pending: Header & { ok: true } = { ok: true, slot: 0n, source_id: 0n, source_seq: 0n, dest_id: 0n, dest_seq: 0n, length: 0n };
  private body_length = 0;
  private feeding = false;

  /**
   * @param sink - receives lines, packages and problems
   * @param max_message_size - largest payload accepted
   * @param with_handshake - start by reading the handshake line (default true)
   */
  constructor(
    private readonly sink: WireSink,
    readonly max_message_size = DEFAULT_MAX_MESSAGE_SIZE,
    with_handshake = true,
  ) {
    this.mode = with_handshake ? 'line' : 'header';
  }

  /** Bytes held, not yet part of a whole line or package. */
  get buffered_bytes(): number {
    return this.buffered;
  }

  /** True when a header has arrived and not one byte of its payload yet. */
  get header_only(): boolean {
    return this.mode === 'body' && this.buffered === 0;
  }

  /** Stops reading: nothing more is delivered (used once a handshake fails or on close). */
  stop(): void {
    this.mode = 'stopped';
    this.chunks = [];
    this.head = 0;
    this.buffered = 0;
  }

  /** Feeds bytes; the sink is called for each whole line or package in them. */
  feed(chunk: Uint8Array): void {
    if (this.mode === 'stopped' || chunk.length === 0) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.chunks.push(buf);
    this.buffered += buf.length;
    if (this.feeding) return; // a sink call fed us: the loop below takes it
    this.feeding = true;
    try {
      this.drain();
    } finally {
      this.feeding = false;
    }
  }

  private drain(): void {
    for (;;) {
      const mode = this.mode;
      if (mode === 'line') {
        if (!this.read_line()) return;
      } else if (mode === 'header') {
        if (this.buffered < HEADER_SIZE) return;
        const h = decode_header(this.take(HEADER_SIZE));
        if (!h.ok) {
          this.problem(STOP.LOST_TRACK);
          return;
        }
        if (h.length === 0n) {
          this.sink.on_control(h.source_seq);
          continue;
        }
        if (h.length > BigInt(this.max_message_size)) {
          this.problem(STOP.TOO_LARGE);
          return;
        }
        this.pending = h;
        this.body_length = Number(h.length);
        this.mode = 'body';
      } else if (mode === 'body') {
        if (this.buffered < this.body_length) return;
        const h = this.pending;
        const data = this.take(this.body_length);
        this.mode = 'header';
        this.sink.on_package({
          slot: h.slot,
          source_id: h.source_id,
          source_seq: h.source_seq,
          dest_id: h.dest_id,
          dest_seq: h.dest_seq,
          data,
          recv_seq: 0,
        });
      } else {
        return;
      }
    }
  }

  private problem(reason: string): void {
    this.stop();
    this.sink.on_problem(reason);
  }

  /** Finds CRLF in what is buffered; delivers the line, or fails when it grows too long. */
  private read_line(): boolean {
    // Lines are short: search a joined copy of at most MAX_HANDSHAKE_LINE + 1 bytes.
    const window = Math.min(this.buffered, MAX_HANDSHAKE_LINE + 1);
    const joined = this.peek(window);
    const at = joined.indexOf('\r\n');
    if (at < 0) {
      if (this.buffered > MAX_HANDSHAKE_LINE) this.problem(STOP.HANDSHAKE_FAILED);
      return false;
    }
    this.take(at + 2);
    this.mode = 'header';
    this.sink.on_line(new TextDecoder('utf-8', { fatal: false }).decode(joined.subarray(0, at)));
    return true;
  }

  /** The first `n` buffered bytes, without consuming them. */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let off = this.head;
    for (const c of this.chunks) {
      const k = Math.min(c.length - off, n - filled);
      c.copy(out, filled, off, off + k);
      filled += k;
      off = 0;
      if (filled === n) break;
    }
    return out;
  }

  /** Consumes and returns the first `n` buffered bytes (no copy when they lie in one chunk). */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length - this.head >= n) {
      // A view pins its whole chunk: copy small parts of big chunks (a queued 32-byte
      // message must not hold a 256 KiB read buffer), hand big parts on without a copy.
      out = n * 4 < first.length ? Buffer.from(first.subarray(this.head, this.head + n)) : first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length - this.head, n - filled);
        c.copy(out, filled, this.head, this.head + k);
        filled += k;
        this.head += k;
        if (this.head === c.length) {
          this.chunks.shift();
          this.head = 0;
        }
      }
    }
    this.buffered -= n;
    return out;
  }
}
