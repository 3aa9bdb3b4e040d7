/**
 * RespParser: the RESP state machine of `resp.ts` fed arbitrary chunks instead of frames.
 * Pure: no sockets, no timers. Streams do not need it (their `read_delimiter` cuts the
 * frames); it serves byte-level users and the specs that prove the decoder at every split.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { RedisProtocolError } from './errors.js';
import { INCOMPLETE, RespDecoder, type RedisReply, type RespDecoderOptions } from './resp.js';

/**
 * A RESP decoder fed arbitrary chunks: it cuts lines and bulk payloads itself, keeping
 * received bytes as a list of chunks and resuming a line search where the last one stopped
 * (no copy per chunk; at most one copy per frame that spans chunks).
 */
export class RespParser {
  private readonly decoder: RespDecoder;
  private chunks: Buffer[] = [];
  /** Offset of the first unconsumed byte in chunks[0]. */
  private head = 0;
  /** Unconsumed bytes in all. */
  private length = 0;
  /** Line search: chunk index and position to continue from, bytes before it. */
  private scan_chunk = 0;
  private scan_pos = 0;
  private scanned = 0;

  /** @param options - as for {@link RespDecoder} */
  constructor(options: RespDecoderOptions = {}) {
    this.decoder = new RespDecoder(options);
  }

  /** Bytes received and not yet decoded into a value. */
  get buffered(): number {
    return this.length;
  }

  /** True when no value is partly received. */
  get idle(): boolean {
    return this.length === 0 && this.decoder.idle;
  }

  /**
   * Feeds a chunk; returns every value it completes, in order.
   * @throws RedisProtocolError (the parser is then unusable)
   */
  feed(chunk: Uint8Array): RedisReply[] {
    const out: RedisReply[] = [];
    if (chunk.length > 0) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      this.chunks.push(buf);
      this.length += buf.length;
    }
    for (;;) {
      const want = this.decoder.want;
      let frame: Buffer;
      if (want > 0) {
        if (this.length < want) break;
        frame = this.take(want);
      } else {
        const at = this.find_crlf();
        if (at < 0) {
          if (this.length > this.decoder.line_limit + 1) {
            throw new RedisProtocolError(`a line longer than ${this.decoder.line_limit} bytes`);
          }
          break;
        }
        frame = this.take(at);
        this.take(2);
      }
      const value = this.decoder.frame(frame);
      if (value !== INCOMPLETE) out.push(value);
    }
    return out;
  }

  /** Position of the next CRLF from the first unconsumed byte, or -1 (the search resumes). */
  private find_crlf(): number {
    const chunks = this.chunks;
    while (this.scan_chunk < chunks.length) {
      const c = chunks[this.scan_chunk]!;
      const start = this.scan_chunk === 0 ? Math.max(this.scan_pos, this.head) : this.scan_pos;
      const base = this.scan_chunk === 0 ? -this.head : 0;
      const i = c.indexOf(13, start);
      if (i >= 0) {
        // A CR: is the next byte (maybe in the next chunk) an LF?
        const next = i + 1 < c.length ? c[i + 1] : chunks[this.scan_chunk + 1]?.[0];
        if (next === undefined) {
          // Wait for the next byte; resume at this CR.
          this.scan_pos = i;
          return -1;
        }
        if (next === 10) {
          const at = this.scanned + base + i;
          this.scan_chunk = 0;
          this.scan_pos = 0;
          this.scanned = 0;
          return at;
        }
        this.scan_pos = i + 1;
        continue;
      }
      this.scanned += c.length + base;
      this.scan_chunk++;
      this.scan_pos = 0;
    }
    return -1;
  }

  /** Removes and returns the next n bytes (a view when they lie in one chunk). */
  private take(n: number): Buffer {
    this.length -= n;
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first !== undefined && first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const avail = c.length - this.head;
      const k = Math.min(avail, n - filled);
      c.copy(out, filled, this.head, this.head + k);
      filled += k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return out;
  }
}
