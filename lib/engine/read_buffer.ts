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

/** The shared read buffer (one per thread; reads never overlap, they run one at a time). */
const shared = Buffer.allocUnsafeSlow(READ_SIZE);
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
  on_data(chunk: Buffer): void;
  /** Bytes it holds unframed: while it holds any, reads do not grow past 64 KiB. */
  unframed(): number;
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
    // Full: more is waiting, read more at a time. At least half full: still busy. Still half
    // of a shared read or more: busy, but less, so one private buffer of the first size (a
    // shared read of that size would be copied). Less: the burst is over, back to the shared
    // buffer (so a quiet connection holds nothing).
    next =
      n === buf.length ? Math.min(buf.length * 2, PRIVATE_MAX) : n * 2 >= buf.length ? buf.length : n * 2 >= READ_SIZE ? READ_SIZE : 0;
  }
  const sink = this[SINK];
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
    if (next > READ_SIZE && sink !== undefined && sink !== null && sink.unframed() > 0) {
      // A stream holding unframed bytes (a frame in progress, a peer that never sends the
      // delimiter) reads 64 KiB at a time, so buffer_size is overshot by one such read at most.
      next = READ_SIZE;
    }
    if (next > 0 && private_bytes + next <= PRIVATE_BUDGET && !this.destroyed) {
      this[PRIVATE] = Buffer.allocUnsafeSlow(next);
      private_bytes += next;
      if (this[WATCHED] !== true) {
        this[WATCHED] = true;
        this.once('close', forget_private);
      }
    }
    chosen = this[PRIVATE] ?? shared; // last: the callbacks above may set up other sockets
  }
  return more;
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
