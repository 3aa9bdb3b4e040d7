/**
 * Reading without Node's stream machinery: sockets that trousers creates (connected out, or
 * accepted by a plaintext server) read through Node's `onread` option into one buffer that
 * every socket shares, instead of a fresh 64 KiB allocation per read and a trip through
 * `Readable.push` and a `'data'` event.
 *
 * The rule that keeps this safe: bytes handed on from a read never alias a buffer that a
 * later read may overwrite.
 * - A read into the shared buffer is copied out (into Node's pooled small allocations
 *   when it is small), so `on_read` owns what it gets.
 * - A socket whose read fills the shared buffer is carrying bulk data: it moves to private
 *   buffers, which grow (64 KiB, 128 KiB, up to 256 KiB, like asyncio's reads) while reads
 *   fill them and the stream holds nothing unframed: fewer, larger system calls. A private
 *   read is handed on without a copy when it fills at least a quarter of its buffer (a view
 *   never pins more than four times its size), else copied; either way the next read goes
 *   into a new buffer. A read that leaves its buffer less than half full ends the burst: the
 *   socket goes back to the shared buffer, so a quiet connection holds nothing. Private
 *   buffers waiting for reads are capped at 32 MiB in all; past that, sockets share.
 * - A socket that no Stream drives (yet) gets its bytes pushed into Node's own stream
 *   buffer, exactly as without onread.
 * - A Stream that opted in to lent reads (`lend_reads = true`: what `on_read` gets is only
 *   lent for the call) gets a view of the buffer the kernel just filled, with no copy. After
 *   the call the buffer is read into again (the shared one, or the socket's private one,
 *   still warm in the cache), unless something may still hold it: the stream kept bytes
 *   unframed, or a stream's `write()` of it was not taken whole by the kernel at once (its
 *   outbox or socket still holds bytes). Then that buffer is left to its holder and the next
 *   read goes into a new one.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import type * as net from 'node:net';

/** Size of the shared buffer (Node's own read size), and of a socket's first private one. */
const READ_SIZE = 65536;
/** Largest private buffer: asyncio reads up to this much at a time too. */
const PRIVATE_MAX = 262144;
/**
 * Most bytes of private buffers waiting for reads, over all sockets. A connection that goes
 * quiet right after a full read keeps its next buffer until it reads again; this bounds what
 * many such connections can hold. Over it, sockets read into the shared buffer.
 */
const PRIVATE_BUDGET = 32 * 1024 * 1024;

/**
 * Most bytes of spare private buffers: lent buffers that are free again when their socket
 * goes back to the shared buffer, kept (warm) for the next socket that needs one of that
 * size instead of being left to the garbage collector.
 */
const SPARE_BUDGET = 1024 * 1024;
/** Spare private buffers (never handed to a user to keep: only lent ones that came back). */
const spares: Buffer[] = [];
let spare_bytes = 0;

function take_spare(size: number): Buffer | undefined {
  for (let i = spares.length - 1; i >= 0; i--) {
    const buf = spares[i]!;
    if (buf.length === size) {
      spares[i] = spares[spares.length - 1]!;
      spares.pop();
      spare_bytes -= size;
      return buf;
    }
  }
  return undefined;
}

function give_spare(buf: Buffer): void {
  if (spare_bytes + buf.length > SPARE_BUDGET) return;
  spares.push(buf);
  spare_bytes += buf.length;
}

/** The shared read buffer (one per thread; reads never overlap, they run one at a time). */
let shared = Buffer.allocUnsafeSlow(READ_SIZE);
/** Bytes of private buffers currently waiting for a read. */
let private_bytes = 0;

const PRIVATE: unique symbol = Symbol('trousers.read_buffer');
/**
 * On a socket made with {@link READ_OPTIONS}: its sink, or null while it has none (its bytes
 * then go into Node's own stream buffer). Absent on every other socket. (One property, not a
 * mark and a sink: an accepted socket carries as few extra properties as it can.)
 */
const SINK: unique symbol = Symbol('trousers.read_sink');
const WATCHED: unique symbol = Symbol('trousers.read_buffer_watched');

/** What receives a socket's bytes: a Stream's private host. */
export interface ReadSink {
  /**
   * Takes a read. @returns true when it delivered `chunk` whole and kept no reference to it
   * (what `on_read` did with it aside)
   */
  on_data(chunk: Buffer): boolean;
  /** Bytes it holds unframed: while it holds any, reads do not grow past 64 KiB. */
  unframed(): number;
  /** The stream's `on_read` only borrows what it gets (`lend_reads`). */
  lends(): boolean;
}

/** Something that may hold written bytes: an outbox (queued bytes plus the socket's). */
export interface WriteHolder {
  readonly size: number;
}

/**
 * @internal The read being lent, while a lending stream's `on_read` runs: its memory, and
 * the outboxes that were given bytes of it (`note_lent_write`). Outside a lent read,
 * `memory` is null.
 */
export const lent: { memory: ArrayBufferLike | null; writers: WriteHolder[] } = { memory: null, writers: [] };

/**
 * @internal Called by an outbox for every write: a write of the buffer being lent is noted,
 * so the buffer is read into again only once the kernel has taken every such write.
 */
export function note_lent_write(data: Buffer, holder: WriteHolder): void {
  if (data.buffer === lent.memory) lent.writers.push(holder);
}

/** Whether every outbox that was given bytes of the lent buffer has handed them all to the kernel. */
function writers_done(): boolean {
  const writers = lent.writers;
  let done = true;
  for (let i = 0; i < writers.length; i++) if (writers[i]!.size > 0) done = false;
  writers.length = 0;
  return done;
}

type Reading = net.Socket & { [PRIVATE]?: Buffer; [SINK]?: ReadSink | null; [WATCHED]?: true };

/**
 * The buffer for a socket's next read. Node calls the generator without the socket, right
 * after the read callback (which leaves its choice here), and once when a socket is set up.
 */
let chosen: Buffer = shared;

function next_buffer(): Buffer {
  const buf = chosen;
  chosen = shared;
  return buf;
}

function rethrow(err: unknown): never {
  throw err;
}

/** A closed socket's waiting private buffer no longer counts against the budget. */
function forget_private(this: Reading): void {
  const buf = this[PRIVATE];
  if (buf !== undefined) private_bytes -= buf.length;
  this[PRIVATE] = undefined;
}

function on_bytes(this: Reading, n: number, buf: Buffer): boolean {
  const sink = this[SINK];
  if (sink !== undefined && sink !== null && sink.lends()) return lend(this, sink, n, buf);
  let chunk: Buffer;
  let next: number; // the next private buffer's size, or 0 for the shared buffer
  if (buf === shared) {
    chunk = Buffer.allocUnsafe(n);
    shared.copy(chunk, 0, 0, n);
    next = n === READ_SIZE ? READ_SIZE : 0;
  } else {
    if (this[PRIVATE] === buf) {
      private_bytes -= buf.length; // read into: no longer waiting
      this[PRIVATE] = undefined;
    }
    if (n * 4 >= buf.length) {
      chunk = n === buf.length ? buf : buf.subarray(0, n); // handed on as it is
    } else {
      chunk = Buffer.allocUnsafe(n); // a view would pin four times its size or more
      buf.copy(chunk, 0, 0, n);
    }
    next = next_size(n, buf.length);
  }
  let more = true;
  try {
    if (sink !== undefined && sink !== null) sink.on_data(chunk);
    // No Stream drives this socket (yet): the bytes go through Node's own stream buffer, as
    // without onread, for whoever reads the socket (a STARTTLS bridge, a deferred adoption).
    else more = this.push(chunk);
  } catch (err) {
    // A throwing 'data' listener: Node would skip choosing the next buffer and read again
    // into the one just handed on. Throw it a little later instead (still uncaught), after
    // Node has taken the next buffer: not on the next tick, which Node runs before that.
    setImmediate(rethrow, err);
  } finally {
    choose_next(this, sink, next, null);
  }
  return more;
}

/**
 * The size of a socket's next private buffer after a read of `n` bytes into one of `size`,
 * or 0 for the shared buffer. Full: more is waiting, read more at a time. At least half
 * full: still busy. Still half of a shared read or more: busy, but less, so one private
 * buffer of the first size (a shared read of that size would be copied). Less: the burst is
 * over, back to the shared buffer (so a quiet connection holds nothing).
 */
function next_size(n: number, size: number): number {
  return n === size ? Math.min(size * 2, PRIVATE_MAX) : n * 2 >= size ? size : n * 2 >= READ_SIZE ? READ_SIZE : 0;
}

/**
 * Sets up the buffer of the socket's next read: a private one of `next` bytes, or the shared
 * one. `reuse`: a lent private buffer that is free again: read into again when it is that
 * size, else kept as a spare.
 */
function choose_next(socket: Reading, sink: ReadSink | null | undefined, next: number, reuse: Buffer | null): void {
  if (next > READ_SIZE && sink !== undefined && sink !== null && sink.unframed() > 0) {
    // A stream holding unframed bytes (a frame in progress, a peer that never sends the
    // delimiter) reads 64 KiB at a time, so buffer_size is overshot by one such read at most.
    next = READ_SIZE;
  }
  if (next > 0 && private_bytes + next <= PRIVATE_BUDGET && !socket.destroyed) {
    let buf: Buffer;
    if (reuse !== null && reuse.length === next) {
      buf = reuse;
      reuse = null;
    } else {
      buf = take_spare(next) ?? Buffer.allocUnsafeSlow(next);
    }
    socket[PRIVATE] = buf;
    private_bytes += next;
    if (socket[WATCHED] !== true) {
      socket[WATCHED] = true;
      socket.once('close', forget_private);
    }
  }
  if (reuse !== null) give_spare(reuse); // a free lent buffer that this socket no longer reads into
  chosen = socket[PRIVATE] ?? shared; // last: the callbacks above may set up other sockets
}

/**
 * A read for a stream that borrows its reads: a view of `buf` (no copy), and afterwards `buf`
 * is read into again unless the stream or an outbox may still hold it.
 */
function lend(socket: Reading, sink: ReadSink, n: number, buf: Buffer): boolean {
  const is_shared = buf === shared;
  if (!is_shared && socket[PRIVATE] === buf) {
    private_bytes -= buf.length; // read into: no longer waiting
    socket[PRIVATE] = undefined;
  }
  const size = buf.length;
  const chunk = n === size ? buf : buf.subarray(0, n);
  let free = false;
  lent.memory = buf.buffer;
  lent.writers.length = 0;
  try {
    free = sink.on_data(chunk);
  } catch (err) {
    setImmediate(rethrow, err); // (see on_bytes)
  } finally {
    lent.memory = null;
    // (Always called: it also forgets the writers.)
    if (!writers_done()) free = false;
    if (!free && is_shared) shared = Buffer.allocUnsafeSlow(READ_SIZE); // the old one is the holder's now
    // A lent buffer pins nothing: a private one stays while the socket is busy, at its size or
    // larger (no shrinking to shared reads for a mere half-full read).
    const next = is_shared ? (n === READ_SIZE ? READ_SIZE : 0) : n === size ? Math.min(size * 2, PRIVATE_MAX) : n * 2 >= READ_SIZE ? size : 0;
    choose_next(socket, sink, next, free && !is_shared ? buf : null);
  }
  return true;
}

/** @internal Bytes of private read buffers waiting for reads (for specs). */
export function private_read_bytes(): number {
  return private_bytes;
}

/** `onread` options for a new `net.Socket`; one object serves every socket. */
export const READ_OPTIONS: net.OnReadOpts = Object.freeze({ buffer: next_buffer, callback: on_bytes as (n: number, buf: Uint8Array) => boolean });

/**
 * Marks a socket created with {@link READ_OPTIONS}: its bytes reach the Stream set with
 * {@link set_read_sink}, or without one go into Node's own stream buffer.
 */
export function mark_onread(socket: net.Socket): void {
  (socket as Reading)[SINK] = null;
}

/** True for a socket created with {@link READ_OPTIONS}. */
export function reads_onread(socket: net.Socket): boolean {
  return (socket as Reading)[SINK] !== undefined;
}

/** Sets (or with null, removes) the receiver of an onread socket's bytes; other sockets are left alone. */
export function set_read_sink(socket: net.Socket, sink: ReadSink | null): void {
  const s = socket as Reading;
  if (s[SINK] !== undefined) s[SINK] = sink;
}
