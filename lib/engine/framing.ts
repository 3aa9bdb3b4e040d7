/**
 * Framing: bytes in, frames out, no sockets anywhere.
 *
 * A {@link Framer} holds the bytes a channel has received but not yet handed to `on_read`,
 * and cuts frames out of them according to a read delimiter:
 *
 * | delimiter            | frame                                                          |
 * |----------------------|----------------------------------------------------------------|
 * | `null`               | everything buffered                                            |
 * | string / bytes       | the bytes before the delimiter (the delimiter is dropped)     |
 * | integer N            | exactly N bytes                                                |
 * | `RegExp`, search     | the bytes before the first match (the match is dropped)       |
 * | `RegExp`, match      | the match array of a match at the very start                  |
 * | `Struct`             | the unpacked fields of `struct.size` bytes                     |
 *
 * The delimiter is passed to every {@link Framer.next} call, so a channel may change it
 * between two frames and the change applies to bytes already buffered.
 *
 * Cost model (why it is built this way):
 * - received bytes stay in a list of chunks plus an offset into the first one; a frame that
 *   lies inside one chunk is a zero-copy view of it, and only frames that span chunks are
 *   copied, once;
 * - tiny chunks arriving behind bytes already held (a peer writing byte by byte) are appended
 *   to an append-only accumulator, so the chunk list stays short; the accumulator is dropped
 *   as soon as nothing is buffered, so an idle connection holds no buffer at all;
 * - a delimiter search resumes where the previous one stopped, so a long line arriving in
 *   small pieces is scanned once: linear time, never a rescan of the whole buffer;
 * - bytes handed out are never written again (accumulators are only appended to), so a
 *   frame stays valid and unchanged for as long as the user keeps it.
 *
 * RegExp delimiters match over the buffered bytes read as latin1 (one character per byte),
 * and rescan the buffer on each attempt; the channel's `buffer_size` bounds that cost.
 * Empty matches are ignored (they would otherwise produce an endless run of empty frames).
 *
 * When a RegExp match reaches the end of the bytes buffered so far, the next byte might
 * still change it (`/;+/` on `a;` could become `a;;`). The rule:
 *
 * - A match that ends before the last buffered byte is final: delivered.
 * - A match that reaches the end is delivered at once when no single further byte could
 *   change it: the match text followed by each of the 256 byte values, matched at the match's
 *   start, gives the same match (same text, same groups) every time. `/\r?\n/`, `/\n/`,
 *   `/END\r\n/`, `/(\w+)=(\d+);/` pass, so a typed line is delivered as soon as its newline
 *   arrives. The verdict is cached per RegExp and match text (a line protocol pays once).
 * - Otherwise (`/;+/`, `/\s+/`, `/\n(?!\.)/`, or a match over 64 bytes, or one that the probe
 *   cannot judge alone, e.g. behind a lookbehind) it is held until more bytes arrive or the
 *   stream ends.
 *
 * So frames do not depend on how the bytes were split, for every RegExp whose match can only
 * change by one more byte at a time. The limits: a match that only a tail of two or more
 * bytes could change (`/;(?:xy)?/` on `a;`: `;x` still matches `;`) is delivered before the
 * tail arrives; and an alternative that would start earlier but needs more bytes
 * (`/a\w*z|b/` on `ab`) is not waited for. Such RegExps frame differently when those bytes
 * arrive split; give them a delimiter that ends unambiguously, or frame them yourself.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import type { Struct } from './struct.js';

/** What `next` returns when no complete frame is buffered. */
export const NO_FRAME: unique symbol = Symbol('trousers.no_frame');

/** Small chunks are copied into an accumulator instead of being kept one by one. */
const SMALL_CHUNK = 512;
/** Accumulators start small (an idle connection keeps none) and double up to this size. */
const ACCUMULATOR_FIRST = 1024;
const ACCUMULATOR_MAX = 16384;

interface CompiledRegex {
  source: RegExp;
  search: RegExp;
  match: RegExp;
  /** Verdicts of {@link is_final} by match text (bounded). */
  final: Map<string, boolean>;
}

/** Matches longer than this reaching the end of the buffer are held, never probed. */
const PROBE_MAX = 64;
/** Verdicts cached per RegExp. */
const FINAL_CACHE = 64;

/** Whether two match arrays have the same text and the same groups. */
function same_match(a: RegExpExecArray, b: RegExpExecArray): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Whether no single further byte could change `m`, a match that reaches the end of the
 * buffered bytes: `m[0]` followed by each byte value, matched at its start, must give `m`
 * again every time (see the module docs).
 */
function is_final(re: CompiledRegex, m: RegExpExecArray): boolean {
  const text = m[0];
  if (text.length > PROBE_MAX) return false;
  const cached = re.final.get(text);
  if (cached !== undefined) return cached;
  const probe = re.match;
  let final = true;
  for (let byte = 0; byte < 256 && final; byte++) {
    probe.lastIndex = 0;
    const p = probe.exec(text + String.fromCharCode(byte));
    if (p === null || !same_match(p, m)) final = false;
  }
  if (re.final.size < FINAL_CACHE) re.final.set(text, final);
  return final;
}

/**
 * How far a delimiter search walks in JavaScript before it calls `Buffer.indexOf`: the
 * native call costs about as much as walking this many bytes, and lines are often shorter.
 */
const SHORT_SCAN = 64;

/** Cuts frames out of a byte stream. One instance per stream (or per datagram). */
export class Framer {
  /** Unconsumed bytes, oldest first; `head` bytes of the first are already consumed. */
  private chunks: Buffer[] = [];
  private head = 0;
  private total = 0;

  private acc: Buffer | undefined;
  private acc_start = 0;
  private acc_fill = 0;

  /** Byte-delimiter search state: positions before `scanned` cannot start `scan_for`. */
  private scan_for: Buffer | undefined;
  private scanned = 0;
  /** The chunk holding position `scanned` and that chunk's position: where a search resumes. */
  private scan_index = 0;
  private scan_base = 0;

  /** latin1 view of the buffered bytes, for RegExp delimiters; dropped on every change. */
  private text: string | undefined;
  private regex: CompiledRegex | undefined;

  /** Bytes buffered and not yet framed. */
  get length(): number {
    return this.total;
  }

  /** Appends received bytes. The framer keeps a reference to `chunk`: do not modify it. */
  feed(chunk: Buffer): void {
    const n = chunk.length;
    if (n === 0) return;
    this.text = undefined;
    if (n < SMALL_CHUNK && this.total > 0) {
      let acc = this.acc;
      if (acc === undefined || acc.length - this.acc_fill < n) {
        const size = Math.max(this.acc_size, n);
        this.acc_size = Math.min(ACCUMULATOR_MAX, size * 2);
        acc = this.acc = Buffer.allocUnsafe(size);
        this.acc_fill = 0;
        this.acc_start = 0;
        this.open_accumulator = false;
      }
      chunk.copy(acc, this.acc_fill);
      this.acc_fill += n;
      if (this.open_accumulator) {
        // The last chunk is a view of the accumulator: widen it.
        this.chunks[this.chunks.length - 1] = acc.subarray(this.acc_start, this.acc_fill);
      } else {
        this.acc_start = this.acc_fill - n;
        this.chunks.push(acc.subarray(this.acc_start, this.acc_fill));
        this.open_accumulator = true;
      }
    } else {
      this.chunks.push(chunk);
      this.open_accumulator = false;
    }
    this.total += n;
  }

  /** Whether the last chunk is a view of the accumulator that later small chunks extend. */
  private open_accumulator = false;
  /** Size of the next accumulator. */
  private acc_size = ACCUMULATOR_FIRST;

  /** Removes and returns everything buffered (a view when it is one chunk). */
  take_all(): Buffer {
    return this.take(this.total);
  }

  /** Drops everything buffered. */
  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.total = 0;
    this.drop_accumulator();
    this.reset_scan();
  }

  /**
   * The next frame for `delimiter`, or {@link NO_FRAME} when none is complete yet.
   * @param delimiter - a validated read delimiter (see the module table)
   * @param regex_search - for RegExp delimiters: search (true) or match at the start (false)
   * @param ended - no more bytes will come: RegExp matches may reach the end of the buffer
   * @returns a `Buffer` frame; for `Struct` the array of fields; for RegExp match mode the match
   */
  next(delimiter: Buffer | number | RegExp | Struct | null, regex_search: boolean, ended: boolean): Buffer | unknown[] | typeof NO_FRAME {
    if (delimiter === null) return this.total > 0 ? this.take_all() : NO_FRAME;
    if (typeof delimiter === 'number') return this.total >= delimiter ? this.cut(delimiter) : NO_FRAME;
    if (Buffer.isBuffer(delimiter)) return this.next_delimited(delimiter);
    if (delimiter instanceof RegExp) return this.next_regex(delimiter, regex_search, ended);
    return this.next_struct(delimiter);
  }

  /**
   * @internal For a Struct of one integer field (`struct._single`): the next record's value
   * itself, not an array of one, or {@link NO_FRAME}.
   */
  next_single(struct: Struct): number | typeof NO_FRAME {
    const size = struct.size;
    if (this.total < size) return NO_FRAME;
    const first = this.chunks[0]!;
    const head = this.head;
    const avail = first.length - head;
    if (avail >= size) {
      const value = struct._read_single(first, head);
      this.consume_in_first(size, avail);
      return value;
    }
    return struct._read_single(this.cut(size), 0);
  }

  private next_struct(struct: Struct): unknown[] | typeof NO_FRAME {
    const size = struct.size;
    if (this.total < size) return NO_FRAME;
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= size) {
      const values = struct.unpack_from(first, this.head);
      this.skip(size);
      return values;
    }
    return struct.unpack(this.cut(size));
  }

  private next_delimited(delimiter: Buffer): Buffer | typeof NO_FRAME {
    if (this.scan_for !== delimiter) {
      this.scan_for = delimiter;
      this.reset_scan();
    }
    if (this.scanned === 0 && this.chunks.length === 1) {
      // The common case, in one step: everything buffered is one chunk, searched afresh.
      const first = this.chunks[0]!;
      const head = this.head;
      const dlen = delimiter.length;
      const hit = this.index_in(first, delimiter, head);
      if (hit < 0) {
        // What find() would remember: positions before the last dlen-1 bytes are done.
        this.scanned = Math.max(0, this.total - dlen + 1);
        return NO_FRAME;
      }
      const frame = first.subarray(head, hit);
      const end = hit + dlen;
      if (end < first.length) {
        this.total -= end - head;
        this.head = end;
        this.text = undefined;
      } else {
        this.clear();
      }
      return frame;
    }
    const at = this.find(delimiter);
    if (at < 0) return NO_FRAME;
    const first = this.chunks[0]!;
    const head = this.head;
    const end = at + delimiter.length;
    if (first.length - head > end) {
      // The common case: frame and delimiter inside the first chunk, bytes left after them.
      const frame = first.subarray(head, head + at);
      this.head = head + end;
      this.total -= end;
      this.text = undefined;
      this.reset_scan();
      return frame;
    }
    const frame = this.cut(at);
    this.skip(delimiter.length);
    return frame;
  }

  /** Position of `d` relative to the unconsumed start, or -1; remembers how far it looked. */
  private find(d: Buffer): number {
    const dlen = d.length;
    if (this.total - this.scanned < dlen) return -1;
    const chunks = this.chunks;
    // Resume at the chunk where the last search stopped: chunks before it are done with,
    // so a long frame arriving in many chunks is walked once, not once per arrival.
    let base = this.scan_base; // position of the current chunk's first unconsumed byte
    for (let i = this.scan_index; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      const start = i === 0 ? this.head : 0;
      const clen = chunk.length - start;
      const end = base + clen;
      if (end <= this.scanned) {
        base = end;
        continue;
      }
      const from = Math.max(this.scanned, base);
      // Matches wholly inside this chunk.
      const hit = this.index_in(chunk, d, start + (from - base));
      if (hit >= 0) return base + hit - start;
      // Matches that start in this chunk's last dlen-1 bytes and run into the next ones.
      if (dlen > 1) {
        const span_from = Math.max(from, end - dlen + 1);
        for (let p = span_from; p < end; p++) {
          if (p + dlen > this.total) break;
          if (this.matches_at(i, start + (p - base), d)) return p;
        }
      }
      base = end;
    }
    const scanned = Math.max(0, this.total - dlen + 1);
    this.scanned = scanned;
    // Find the chunk that holds `scanned` (one of the last few: dlen is small).
    let index = chunks.length - 1;
    let at = this.total - (chunks[index]!.length - (index === 0 ? this.head : 0));
    while (index > 0 && at > scanned) {
      index--;
      at -= chunks[index]!.length - (index === 0 ? this.head : 0);
    }
    this.scan_index = index;
    this.scan_base = at;
    return -1;
  }

  /** Frames have been short: search in JavaScript first (see SHORT_SCAN). */
  private short_frames = true;

  /**
   * `chunk.indexOf(d, from)`. While frames are short the first bytes are walked here (a
   * native call would cost more); a long frame switches to the native search, and a short
   * one found by it switches back.
   */
  private index_in(chunk: Buffer, d: Buffer, from: number): number {
    if (!this.short_frames) {
      const hit = chunk.indexOf(d, from);
      if (hit >= 0 && hit - from < SHORT_SCAN) this.short_frames = true;
      return hit;
    }
    const dlen = d.length;
    const last = chunk.length - dlen; // the last position where d can start
    const stop = Math.min(last, from + SHORT_SCAN);
    const b0 = d[0];
    let i = from;
    for (; i <= stop; i++) {
      if (chunk[i] !== b0) continue;
      let k = 1;
      while (k < dlen && chunk[i + k] === d[k]) k++;
      if (k === dlen) return i;
    }
    if (i > last) return -1;
    this.short_frames = false;
    return chunk.indexOf(d, i);
  }

  /** Whether `d` occurs at byte `offset` of chunk `index`, continuing into later chunks. */
  private matches_at(index: number, offset: number, d: Buffer): boolean {
    let chunk = this.chunks[index]!;
    let pos = offset;
    for (let k = 0; k < d.length; k++) {
      while (pos >= chunk.length) {
        index++;
        const next = this.chunks[index];
        if (next === undefined) return false;
        chunk = next;
        pos = 0;
      }
      if (chunk[pos] !== d[k]) return false;
      pos++;
    }
    return true;
  }

  private compiled(source: RegExp): CompiledRegex {
    const cached = this.regex;
    if (cached !== undefined && cached.source === source) return cached;
    const flags = source.flags.replace(/[gy]/g, '');
    const compiled = { source, search: new RegExp(source.source, flags + 'g'), match: new RegExp(source.source, flags + 'y'), final: new Map<string, boolean>() };
    this.regex = compiled;
    return compiled;
  }

  private next_regex(source: RegExp, search: boolean, ended: boolean): Buffer | unknown[] | typeof NO_FRAME {
    if (this.total === 0) return NO_FRAME;
    const compiled = this.compiled(source);
    const { search: rs, match: rm } = compiled;
    const text = (this.text ??= this.peek_text());
    if (search) {
      rs.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = rs.exec(text)) !== null && m[0].length === 0) rs.lastIndex = m.index + 1;
      if (m === null) return NO_FRAME;
      const end = m.index + m[0].length;
      if (end === text.length && !ended && !is_final(compiled, m)) return NO_FRAME;
      const frame = this.take(m.index);
      this.skip(m[0].length);
      return frame;
    }
    rm.lastIndex = 0;
    const m = rm.exec(text);
    if (m === null || m[0].length === 0) return NO_FRAME;
    if (m[0].length === text.length && !ended && !is_final(compiled, m)) return NO_FRAME;
    this.skip(m[0].length);
    return m;
  }

  /** The buffered bytes as a latin1 string, without consuming them. */
  private peek_text(): string {
    if (this.chunks.length === 1) return this.chunks[0]!.toString('latin1', this.head);
    let text = '';
    for (let i = 0; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      text += c.toString('latin1', i === 0 ? this.head : 0);
    }
    return text;
  }

  /** Removes and returns the next `n` bytes: a view when they lie in one chunk, else a copy. */
  take(n: number): Buffer {
    this.check_count(n);
    return this.cut(n);
  }

  /** `take` for a count already known to be an integer from 0 to `length`. */
  private cut(n: number): Buffer {
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    const avail = first.length - this.head;
    if (avail >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.consume_in_first(n, avail);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const cavail = c.length - this.head;
      const want = Math.min(cavail, n - filled);
      c.copy(out, filled, this.head, this.head + want);
      filled += want;
      this.consume_in_first(want, cavail);
    }
    return out;
  }

  /** Drops the next `n` bytes. */
  skip(n: number): void {
    this.check_count(n);
    while (n > 0) {
      const c = this.chunks[0]!;
      const cavail = c.length - this.head;
      const want = Math.min(cavail, n);
      this.consume_in_first(want, cavail);
      n -= want;
    }
  }

  private check_count(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.total) {
      throw new RangeError(`byte count must be an integer from 0 to ${this.total}, got ${n}`);
    }
  }

  private consume_in_first(n: number, avail: number): void {
    this.total -= n;
    this.text = undefined;
    this.reset_scan();
    if (n === avail) {
      this.chunks.shift();
      this.head = 0;
      if (this.chunks.length === 0) this.drop_accumulator();
    } else {
      this.head += n;
    }
  }

  /** Nothing is buffered: forget the accumulator (frames cut from it stay valid). */
  private drop_accumulator(): void {
    this.open_accumulator = false;
    this.acc = undefined;
    this.acc_size = ACCUMULATOR_FIRST;
  }

  private reset_scan(): void {
    this.scanned = 0;
    this.scan_index = 0;
    this.scan_base = 0;
  }
}
