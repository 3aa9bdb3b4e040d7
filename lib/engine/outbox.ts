/**
 * The outbox: a stream's one write queue.
 *
 * Everything a user writes, bytes and files alike, goes through here in order:
 * - bytes written in one burst (one `on_read` dispatch, or one synchronous run of code) are
 *   coalesced and handed to the socket as one write on the next tick: many small replies
 *   cost one system call, not one each;
 * - a `write_file` streams its file in 64 KiB reads with backpressure: the next read waits
 *   while the socket holds more than the high water mark, so a 1 GiB file never sits in
 *   memory; bytes written after it wait their turn behind it;
 * - `size` (the stream's `write_buffer_size`) counts what is queued here plus what the
 *   socket holds; crossing the high water mark pauses the producer, dropping to the low
 *   water mark resumes it;
 * - when everything written so far has been handed to the OS, the host hears `written()`
 *   (the stream's `on_write`).
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { note_lent_write } from './read_buffer.js';

/** What the outbox tells its stream. */
export interface OutboxHost {
  /** Everything written so far has been handed to the OS. */
  written(): void;
  /** The buffered size rose above the high water mark. */
  pause_writing(): void;
  /** The buffered size fell to the low water mark. */
  resume_writing(): void;
  /** A file could not be opened or read; the stream should report it and close. */
  file_failed(err: unknown): void;
}

/** A file to send: a path (opened and closed here), a descriptor or a FileHandle (the caller's). */
export type FileSource = string | number | FileHandle;

interface FileJob {
  source: FileSource;
  offset: number;
  remaining: number; // Infinity: to end of file
  fd: number;
  owned: boolean;
  reading: boolean;
}

const FILE_CHUNK = 65536;
/** Up to this many bytes, a burst of writes is joined into one buffer before the syscall. */
const COALESCE_LIMIT = 16384;

// Bits of Outbox.flags.
const SCHEDULED = 1, PAUSED = 2, WROTE = 4, ABORTED = 8, HOLDING = 16;

function flush_later(outbox: Outbox): void {
  outbox.flush();
}

/**
 * `Buffer.concat` for the small pieces of a burst of replies (a 4-byte header, a 28-byte
 * payload, "\r\n"): tiny pieces are copied byte by byte, which costs less than a call into
 * the native copy each; longer ones with `Uint8Array.set`.
 */
function join(pieces: Buffer[], total: number): Buffer {
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    const len = piece.length;
    if (len <= 16) {
      for (let k = 0; k < len; k++) out[pos + k] = piece[k]!;
    } else {
      out.set(piece, pos);
    }
    pos += len;
  }
  return out;
}

function is_job(item: Buffer | FileJob): item is FileJob {
  return !Buffer.isBuffer(item);
}

/** A stream's write queue. */
export class Outbox {
  /** High water mark in bytes. */
  high = 65536;
  /** Low water mark in bytes. */
  low = 16384;

  private socket: Socket | null = null;
  private queue: (Buffer | FileJob)[] = [];
  private queued_bytes = 0;
  private file: FileJob | null = null;
  private outstanding = 0;
  /**
   * The outbox's yes/no state in one number (one field per connection instead of five; a
   * server holding many idle connections keeps less): see the accessors below.
   */
  private flags = 0;
  private get flush_scheduled(): boolean {
    return (this.flags & SCHEDULED) !== 0;
  }
  private set flush_scheduled(on: boolean) {
    this.flags = on ? this.flags | SCHEDULED : this.flags & ~SCHEDULED;
  }
  private get paused_flag(): boolean {
    return (this.flags & PAUSED) !== 0;
  }
  private set paused_flag(on: boolean) {
    this.flags = on ? this.flags | PAUSED : this.flags & ~PAUSED;
  }
  private get wrote_since_written(): boolean {
    return (this.flags & WROTE) !== 0;
  }
  private set wrote_since_written(on: boolean) {
    this.flags = on ? this.flags | WROTE : this.flags & ~WROTE;
  }
  private get aborted(): boolean {
    return (this.flags & ABORTED) !== 0;
  }
  private set aborted(on: boolean) {
    this.flags = on ? this.flags | ABORTED : this.flags & ~ABORTED;
  }
  private get holding(): boolean {
    return (this.flags & HOLDING) !== 0;
  }
  private set holding(on: boolean) {
    this.flags = on ? this.flags | HOLDING : this.flags & ~HOLDING;
  }
  /** The socket's write callback (made once per outbox, when first needed). */
  private write_done_fn: ((err?: Error | null) => void) | undefined;
  private get write_done(): (err?: Error | null) => void {
    return (this.write_done_fn ??= (err?: Error | null): void => this.on_write_done(err));
  }

  /** @param host - the stream to report to */
  constructor(private readonly host: OutboxHost) {}

  /** Bytes queued here plus bytes the socket still holds. */
  get size(): number {
    return this.queued_bytes + (this.socket ? this.socket.writableLength : 0);
  }

  /** True between crossing the high water mark and falling back to the low one. */
  get paused(): boolean {
    return this.paused_flag;
  }

  /** Nothing queued, no file streaming, nothing waiting for the OS. */
  get idle(): boolean {
    return this.queue.length === 0 && this.file === null && this.outstanding === 0;
  }

  /** Starts sending to `socket` (at connect); what was queued before goes out first. */
  attach(socket: Socket): void {
    this.socket = socket;
    if (this.queue.length > 0) this.schedule();
  }

  /** Queues bytes. @returns false when the buffered size is above the high water mark */
  write(data: Buffer): boolean {
    if (data.length === 0) return this.size <= this.high;
    note_lent_write(data, this); // (a lent read written back: its buffer waits for this outbox)
    this.queue.push(data);
    this.queued_bytes += data.length;
    const flags = this.flags;
    if ((flags & WROTE) === 0) this.flags = flags | WROTE;
    // (Held for a dispatch, or already scheduled: the flush comes anyway.)
    if ((flags & (SCHEDULED | HOLDING)) === 0) this.schedule();
    // Only look at the socket's own buffer when the queue alone could be near the mark.
    if (this.queued_bytes + this.socket_held <= this.high && !this.paused_flag) return true;
    const socket = this.socket;
    if (socket !== null && !this.paused_flag && this.file === null && this.jobs === 0) {
      // Above the mark: hand the queue to the socket before deciding, as asyncio's write
      // tries to send before it buffers. The kernel usually takes it all, and then no pause
      // is reported (a pause and a resume per bulk read would cost the reader two epoll_ctl
      // calls and two callbacks). Bursts below the mark are still joined into one write.
      this.flush();
      this.socket_held = socket.writableLength;
    }
    return this.check_high();
  }

  /** What the socket held at the last flush or write completion (a cheap estimate). */
  private socket_held = 0;

  /** Queues a file. */
  write_file(source: FileSource, offset: number, nbytes: number): void {
    this.queue.push({ source, offset, remaining: nbytes, fd: -1, owned: typeof source === 'string', reading: false });
    this.jobs++;
    this.wrote_since_written = true;
    this.schedule();
  }

  /**
   * Calls `fn` once no file is queued or streaming any more (at once when none is): what is
   * left is already in the socket's hands. Used to start a STARTTLS upgrade.
   */
  when_files_done(fn: () => void): void {
    if (this.file === null && !this.queue.some(is_job)) {
      fn();
      return;
    }
    this.files_done = fn;
  }

  private files_done: (() => void) | null = null;

  /** Drops everything queued; files opened here are closed. Used by an immediate close. */
  abort(): void {
    this.aborted = true;
    for (const item of this.queue) if (is_job(item)) this.release(item);
    this.queue = [];
    this.queued_bytes = 0;
    this.jobs = 0;
    const file = this.file;
    if (file && !file.reading) this.release(file);
    this.file = null;
  }

  /**
   * Holds writes back from the next-tick flush while the stream delivers a read: the
   * stream flushes once at the end of the dispatch (`release`), saving a tick per batch.
   */
  hold(): void {
    this.holding = true;
  }

  /** Ends a `hold`, flushing what was written meanwhile. */
  unhold(): void {
    this.holding = false;
    if (this.queue.length > 0 && !this.flush_scheduled) this.flush();
  }

  /** File jobs in the queue: while 0, every queued item is bytes. */
  private jobs = 0;

  private schedule(): void {
    if (this.flush_scheduled || this.socket === null || this.holding) return;
    this.flush_scheduled = true;
    process.nextTick(flush_later, this);
  }

  private check_high(): boolean {
    const size = this.size;
    if (size > this.high) {
      if (!this.paused_flag) {
        this.paused_flag = true;
        this.host.pause_writing();
      }
      return false;
    }
    return true;
  }

  /** Hands queued bytes to the socket, up to the next file; then starts that file. */
  flush(): void {
    this.flush_scheduled = false;
    const socket = this.socket;
    if (socket === null || this.file !== null || this.aborted || socket.destroyed) return;
    const queue = this.queue;
    while (queue.length > 0) {
      const first = queue[0]!;
      if (is_job(first)) {
        queue.shift();
        this.jobs--;
        this.file = first;
        this.start_file(first);
        return;
      }
      // Coalesce the run of byte chunks up to the next file into one write.
      let n: number;
      let bytes: number;
      if (this.jobs === 0) {
        n = queue.length;
        bytes = this.queued_bytes;
      } else {
        n = 1;
        bytes = first.length;
        while (n < queue.length && !is_job(queue[n]!)) {
          bytes += (queue[n] as Buffer).length;
          n++;
        }
      }
      this.queued_bytes -= bytes;
      this.socket_held += bytes;
      if (n === 1) {
        this.outstanding++;
        if (queue.length === 1) {
          // The last piece: a new empty array, so an idle connection keeps no storage
          // (cheaper than shortening this one in place); nothing is left to send.
          this.queue = [];
          socket.write(first, this.write_done);
          return;
        }
        queue.shift();
        socket.write(first, this.write_done);
      } else if (bytes <= COALESCE_LIMIT) {
        // Many small pieces: one copy into one buffer is cheaper than a writev of many.
        this.outstanding++;
        if (n === queue.length) {
          // All of it: take the array itself (no splice copy); nothing is left to send.
          this.queue = [];
          socket.write(join(queue as Buffer[], bytes), this.write_done);
          return;
        }
        socket.write(join(queue.splice(0, n) as Buffer[], bytes), this.write_done);
      } else {
        // Large pieces: hand them over as they are, in one corked batch (a writev).
        socket.cork();
        for (const piece of queue.splice(0, n) as Buffer[]) {
          this.outstanding++;
          socket.write(piece, this.write_done);
        }
        socket.uncork();
      }
    }
  }

  private on_write_done(err?: Error | null): void {
    // Nothing else in flight: let the callback go, so an idle connection does not keep it
    // (the next flush makes a new one).
    if (--this.outstanding === 0) this.write_done_fn = undefined;
    this.socket_held = this.socket ? this.socket.writableLength : 0;
    if (err) return; // the socket reports the error itself
    this.after_progress();
  }

  private after_progress(): void {
    if (this.paused_flag && this.size <= this.low) {
      this.paused_flag = false;
      this.host.resume_writing();
    }
    if (this.wrote_since_written && this.idle && !this.aborted) {
      this.wrote_since_written = false;
      this.host.written();
    }
  }

  // ------------------------------------------------------------------ files

  private start_file(job: FileJob): void {
    const source = job.source;
    if (typeof source === 'string') {
      job.reading = true;
      fs.open(source, 'r', (err, fd) => {
        job.reading = false;
        if (err) return this.file_error(job, err);
        job.fd = fd;
        if (this.aborted) return this.release(job);
        this.read_file(job);
      });
      return;
    }
    job.fd = typeof source === 'number' ? source : source.fd;
    this.read_file(job);
  }

  private read_file(job: FileJob): void {
    if (this.aborted) return this.release(job);
    if (job.remaining <= 0) return this.file_done(job);
    const size = Math.min(FILE_CHUNK, job.remaining);
    const buffer = Buffer.allocUnsafe(size);
    job.reading = true;
    fs.read(job.fd, buffer, 0, size, job.offset, (err, n) => {
      job.reading = false;
      if (this.aborted) return this.release(job);
      if (err) return this.file_error(job, err);
      if (n === 0) return this.file_done(job);
      job.offset += n;
      job.remaining -= n;
      const socket = this.socket!;
      if (socket.destroyed) return this.release(job);
      this.outstanding++;
      const below = socket.write(n === size ? buffer : buffer.subarray(0, n), (werr) => {
        this.outstanding--;
        if (werr || this.aborted) return this.release(job);
        if (!below) this.read_file(job);
        this.after_progress();
      });
      if (below) this.read_file(job);
    });
  }

  private file_done(job: FileJob): void {
    this.release(job);
    this.file = null;
    if (this.queue.length > 0) this.flush();
    else this.after_progress();
    const done = this.files_done;
    if (done !== null && this.file === null && !this.queue.some(is_job)) {
      this.files_done = null;
      done();
    }
  }

  private file_error(job: FileJob, err: unknown): void {
    this.release(job);
    this.file = null;
    this.host.file_failed(err);
  }

  private release(job: FileJob): void {
    if (job.owned && job.fd >= 0) {
      const fd = job.fd;
      job.fd = -1;
      fs.close(fd, () => {});
    }
  }
}
