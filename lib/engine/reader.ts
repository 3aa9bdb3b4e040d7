/**
 * The reader: one channel's read delimiter, framer and decoding, shared by Stream and
 * Datagram so that both frame and deliver exactly alike.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import { compile_delimiter, type CompiledDelimiter, type ReadDelimiter } from './delimiter.js';
import { Framer, NO_FRAME } from './framing.js';
import { Struct } from './struct.js';

/** What a reader delivers to: a channel's `on_read`, and its invoker's error path. @internal */
export interface ReadTarget {
  on_read(...args: unknown[]): void;
  _callback_threw(name: 'on_read', thrown: unknown): void;
}

/** @internal */
export type Frame = Buffer | unknown[] | number;

/** @internal Delimiter, framer and decoding state of one channel. */
export class Reader {
  /** The value the user assigned (returned by the `read_delimiter` getter). */
  value: ReadDelimiter = null;
  /** The compiled delimiter the framer uses. */
  delimiter: CompiledDelimiter = null;
  /** RegExp mode: search (true) or match at the start (false). */
  regex_search = true;
  /** Decoding of delivered bytes, or null for Buffers. */
  private enc: BufferEncoding | null = null;
  private decoder: StringDecoder | null = null;
  /** Buffered, unframed bytes (made on first use: a raw-mode stream may never need one). */
  private buffer: Framer | undefined;

  /** The framer holding buffered, unframed bytes. */
  get framer(): Framer {
    return (this.buffer ??= new Framer());
  }

  /** Bytes buffered and not yet framed. */
  get buffered(): number {
    const buffer = this.buffer;
    return buffer === undefined ? 0 : buffer.length;
  }
  /** The delimiter is a Struct of one integer: frames are its values, not arrays. */
  private single = false;

  /** Validates and installs a delimiter; throws and keeps the old one when invalid. */
  set(value: unknown): void {
    const compiled = compile_delimiter(value);
    this.value = value as ReadDelimiter;
    this.delimiter = compiled;
    this.single = compiled instanceof Struct && compiled._single;
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

  /** The next complete frame, or NO_FRAME. */
  next(ended: boolean): Frame | typeof NO_FRAME {
    if (this.single) return this.framer.next_single(this.delimiter as Struct);
    return this.framer.next(this.delimiter, this.regex_search, ended);
  }

  /**
   * Calls `on_read` for one frame, with the invoker's rules (a throw goes to the target's
   * `on_error` path). This is the per-frame hot path of every channel: no argument arrays
   * are built for the common shapes (one Buffer, one Struct field).
   * @param raw_stream - null-delimiter frames are pieces of a stream: decode across pieces
   * @param extra - an extra trailing argument (a datagram's sender address)
   */
  deliver(target: ReadTarget, frame: Frame, raw_stream: boolean, extra?: unknown): void {
    try {
      let first: unknown;
      if (Buffer.isBuffer(frame)) {
        if (this.enc === null) {
          first = frame;
        } else {
          first = this.decode(frame, this.delimiter === null && raw_stream);
          if (first === '') return; // a decoder waiting for the rest of a character
        }
      } else if (typeof frame === 'number') {
        // A Struct of one integer field (a length prefix, say): its value.
        if (extra === undefined) target.on_read(frame);
        else target.on_read(frame, extra);
        return;
      } else if (this.delimiter instanceof Struct) {
        if (extra !== undefined) target.on_read(...frame, extra);
        else if (frame.length === 1) target.on_read(frame[0]);
        else target.on_read(...frame);
        return;
      } else {
        first = this.decode_match(frame as RegExpExecArray);
      }
      if (extra === undefined) target.on_read(first);
      else target.on_read(first, extra);
    } catch (thrown) {
      target._callback_threw('on_read', thrown);
    }
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
