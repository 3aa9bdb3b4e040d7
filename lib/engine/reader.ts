/**
 * The reader: the one owner of a channel's read side. It holds the read delimiter, the
 * framer with the bytes not yet framed, the decoding, and, for streams, the delivery loop:
 * feed bytes in, whole frames come out through the channel's invoker (`Channel._call_read`),
 * never through a try/catch of its own.
 *
 * Stream and Datagram both read through a Reader, so both frame and deliver exactly alike;
 * neither touches the framer.
 *
 * The delivery loop's rules (lessons 2 and 4 of the style guide):
 * - the delimiter is re-read after every frame, so a change inside `on_read` applies at once
 *   to bytes already buffered;
 * - re-entrant parsing is refused: a `read_delimiter` assignment inside `on_read` does not
 *   start a second loop, the running one picks the change up;
 * - delivery stops as soon as the channel cannot take frames (closed, closing or paused);
 * - above the buffered-bytes limit, reading pauses and `on_overflow_error` runs once.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import { compile_delimiter, read_limit, type CompiledDelimiter, type ReadDelimiter } from './delimiter.js';
import { BufferOverflowError } from './errors.js';
import { Framer, NO_FRAME } from './framing.js';
import { Struct } from './struct.js';
import type { Channel } from './channel.js';

/**
 * What a stream's reader needs from its stream (a private object of the Stream, never the
 * Stream's public face).
 * @internal
 */
export interface ReadHost {
  /** The channel whose invoker delivers frames and callbacks. */
  readonly channel: Channel;
  /** Frames may be delivered now: the stream is open and not paused by the user. */
  can_read(): boolean;
  /** Stops the socket reading (overflow). */
  pause_socket(): void;
  /** Lets the socket read again (overflow over). */
  resume_socket(): void;
  /** The peer ended and every whole frame was delivered: close gracefully. */
  ended(): void;
}

/** @internal */
export type Frame = Buffer | unknown[] | number;

// Bits of Reader.flags.
const SINGLE = 1, DISPATCHING = 2, SCHEDULED = 4, OVER = 8, EOF = 16, MATCH = 32;

/** @internal The read side of one channel. */
export class Reader {
  /** The value the user assigned (returned by the `read_delimiter` getter). */
  value: ReadDelimiter = null;
  /** The compiled delimiter the framer uses. */
  delimiter: CompiledDelimiter = null;
  /** RegExp mode: search (true) or match at the start (false). */
  get regex_search(): boolean {
    return (this.flags & MATCH) === 0;
  }
  set regex_search(search: boolean) {
    this.flags = search ? this.flags & ~MATCH : this.flags | MATCH;
  }
  /** The user's `buffer_size`. */
  size_limit = 65536;
  /** Decoding of delivered bytes, or null for Buffers. */
  private enc: BufferEncoding | null = null;
  private decoder: StringDecoder | null = null;
  /** Buffered, unframed bytes (made on first use: a raw-mode stream may never need one). */
  private buffer: Framer | undefined;
  /**
   * The reader's yes/no state in one number (one field per connection instead of six): the
   * delimiter is a Struct of one integer (frames are its values, not arrays); inside the
   * delivery loop (the re-entrancy guard); a drain is scheduled; over the buffer limit; the
   * peer has ended; RegExp match mode.
   */
  private flags = 0;
  private get single(): boolean {
    return (this.flags & SINGLE) !== 0;
  }
  private set single(on: boolean) {
    this.flags = on ? this.flags | SINGLE : this.flags & ~SINGLE;
  }
  private get dispatching(): boolean {
    return (this.flags & DISPATCHING) !== 0;
  }
  private set dispatching(on: boolean) {
    this.flags = on ? this.flags | DISPATCHING : this.flags & ~DISPATCHING;
  }
  private get drain_scheduled(): boolean {
    return (this.flags & SCHEDULED) !== 0;
  }
  private set drain_scheduled(on: boolean) {
    this.flags = on ? this.flags | SCHEDULED : this.flags & ~SCHEDULED;
  }
  private get over(): boolean {
    return (this.flags & OVER) !== 0;
  }
  private set over(on: boolean) {
    this.flags = on ? this.flags | OVER : this.flags & ~OVER;
  }
  private get eof(): boolean {
    return (this.flags & EOF) !== 0;
  }
  private set eof(on: boolean) {
    this.flags = on ? this.flags | EOF : this.flags & ~EOF;
  }

  /** @param host - the stream's read host; null for a datagram channel (see {@link Reader.packet}) */
  constructor(private readonly host: ReadHost | null = null) {}

  private get framer(): Framer {
    return (this.buffer ??= new Framer());
  }

  /** Bytes buffered and not yet framed. */
  get buffered(): number {
    const buffer = this.buffer;
    return buffer === undefined ? 0 : buffer.length;
  }

  /** Raw mode with nothing buffered: the next read goes to `on_read` whole. */
  get raw(): boolean {
    return this.delimiter === null && (this.buffer === undefined || this.buffer.length === 0);
  }

  /** Reading is paused because more than the limit is buffered. */
  get overflowed(): boolean {
    return this.over;
  }

  /** The peer has ended the stream. */
  get ended(): boolean {
    return this.eof;
  }

  /** Validates and installs a delimiter; throws and keeps the old one when invalid. */
  set(value: unknown): void {
    let compiled: CompiledDelimiter;
    let single = false;
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) {
      compiled = value; // a payload length, set per frame by length-prefixed protocols
    } else {
      compiled = compile_delimiter(value);
      single = compiled instanceof Struct && compiled._single;
    }
    this.value = value as ReadDelimiter;
    this.delimiter = compiled;
    this.single = single;
    // Inside on_read the running loop re-reads it; otherwise buffered bytes may frame now.
    if (!this.dispatching) this.schedule();
  }

  get encoding(): BufferEncoding | null {
    return this.enc;
  }

  set encoding(value: BufferEncoding | null) {
    if (value !== null && (typeof value !== 'string' || !Buffer.isEncoding(value))) {
      throw new TypeError(`encoding must be null or a Buffer encoding such as 'utf8', got ${String(value)}`);
    }
    this.enc = value;
    this.decoder = null;
  }

  // ------------------------------------------------------------------ streams

  /**
   * Bytes from the socket: deliver what frames, keep the rest.
   * @returns true when `chunk` went to `on_read` whole and nothing here keeps it (raw mode,
   *   nothing buffered): the read buffer of a stream that lends its reads may be read into again
   */
  feed(chunk: Buffer): boolean {
    const host = this.host!;
    if (this.delimiter === null && this.buffered === 0 && !this.dispatching && host.can_read()) {
      // Raw mode with nothing buffered: the chunk is the frame; no trip through the framer.
      this.dispatching = true;
      try {
        this.deliver(host.channel, chunk, true);
      } finally {
        this.dispatching = false;
      }
      return true;
    }
    this.framer.feed(chunk);
    this.drain();
    return false;
  }

  /** The peer ended its side: deliver what frames, then `on_incomplete(rest)`, then close. */
  end(): void {
    this.eof = true;
    this.drain();
  }

  /** Delivers buffered frames on a later tick (after a setting changed, or on resume). */
  schedule(): void {
    const host = this.host;
    if (host === null || this.dispatching || this.drain_scheduled || !host.can_read()) return;
    if (this.buffered === 0 && !this.over && !this.eof) return;
    this.drain_scheduled = true;
    process.nextTick(() => {
      this.drain_scheduled = false;
      this.drain();
    });
  }

  /** Takes every buffered byte (a STARTTLS upgrade hands them to TLS), or null. */
  take_all(): Buffer | null {
    return this.buffered > 0 ? this.framer.take_all() : null;
  }

  /** Drops every buffered byte (a closing stream reads and discards). */
  discard(): void {
    if (this.buffered > 0) this.framer.clear();
  }

  /** Delivers every complete frame, re-reading the delimiter after each. */
  private drain(): void {
    const host = this.host!;
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      // (No framer yet: nothing was ever buffered, so no frame; none is made just to say so,
      // e.g. at the end of a raw-mode connection.)
      while (this.buffer !== undefined && host.can_read()) {
        const frame = this.next(this.eof);
        if (frame === NO_FRAME) break;
        this.deliver(host.channel, frame, true);
      }
    } finally {
      this.dispatching = false;
    }
    if (!host.can_read()) return;
    const buffered = this.buffered;
    const limit = read_limit(this.size_limit, this.delimiter);
    if (buffered > limit) {
      if (!this.over) {
        this.over = true;
        host.pause_socket();
        host.channel._call('on_overflow_error', new BufferOverflowError(limit, buffered));
        this.schedule();
      }
      return;
    }
    if (this.over) {
      this.over = false;
      host.resume_socket();
    }
    if (this.eof) {
      const rest = this.take_all();
      if (rest !== null) host.channel._call('on_incomplete', rest);
      host.ended();
    }
  }

  // ------------------------------------------------------------------ datagrams

  /**
   * Frames one datagram on its own (nothing is carried over to the next packet): each frame
   * to `on_read(frame, from)`, then what is left to `on_incomplete(rest, from)`.
   * @param closed - whether the channel closed meanwhile (delivery stops)
   */
  packet(channel: Channel, msg: Buffer, from: unknown, closed: () => boolean): void {
    if (this.delimiter === null) {
      this.deliver(channel, msg, false, from);
      return;
    }
    const framer = this.framer;
    try {
      framer.feed(msg);
      while (!closed()) {
        const frame = this.next(true);
        if (frame === NO_FRAME) break;
        this.deliver(channel, frame, false, from);
      }
      if (framer.length > 0) {
        const rest = framer.take_all();
        if (!closed()) channel._call('on_incomplete', rest, from);
      }
    } finally {
      this.discard();
    }
  }

  // ------------------------------------------------------------------ frames

  /** The next complete frame, or NO_FRAME. */
  private next(ended: boolean): Frame | typeof NO_FRAME {
    if (this.single) return this.framer.next_single(this.delimiter as Struct);
    return this.framer.next(this.delimiter, this.regex_search, ended);
  }

  /**
   * Calls `on_read` for one frame through the channel's invoker. This is the per-frame hot
   * path of every channel: no argument arrays are built for the common shapes (one Buffer,
   * one Struct field).
   * @param raw_stream - null-delimiter frames are pieces of a stream: decode across pieces
   * @param extra - an extra trailing argument (a datagram's sender address)
   */
  private deliver(channel: Channel, frame: Frame, raw_stream: boolean, extra?: unknown): void {
    let first: unknown;
    if (typeof frame === 'number') {
      // A Struct of one integer field (a length prefix, say): its value. (Tested first: a
      // typeof is cheaper than the Buffer check, and a length-prefixed protocol has one of
      // these per frame.)
      first = frame;
    } else if (Buffer.isBuffer(frame)) {
      if (this.enc === null) {
        first = frame;
      } else {
        first = this.decode(frame, this.delimiter === null && raw_stream);
        if (first === '') return; // a decoder waiting for the rest of a character
      }
    } else if (this.delimiter instanceof Struct) {
      if (extra !== undefined) channel._call_read(null, undefined, [...frame, extra]);
      else if (frame.length === 1) channel._call_read(frame[0], undefined, null);
      else channel._call_read(null, undefined, frame);
      return;
    } else {
      first = this.decode_match(frame as RegExpExecArray);
    }
    channel._call_read(first, extra, null);
  }

  private decode(frame: Buffer, streaming: boolean): string {
    const enc = this.enc!;
    if (!streaming) return frame.toString(enc);
    this.decoder ??= new StringDecoder(enc);
    return this.decoder.write(frame);
  }

  /** Match arrays are latin1 (one char per byte); with an encoding, re-decode each group. */
  private decode_match(match: RegExpExecArray): RegExpExecArray {
    const enc = this.enc;
    if (enc === null || enc === 'latin1' || enc === 'binary') return match;
    for (let i = 0; i < match.length; i++) {
      const s = match[i];
      if (s !== undefined) match[i] = Buffer.from(s, 'latin1').toString(enc);
    }
    return match;
  }
}
