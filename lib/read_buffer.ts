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
 *   fill them and the stream holds nothing unframed: fewer, larger system calls. A read that fills at least a quarter of its private
 *   buffer is handed on without a copy and the socket gets a new buffer; a smaller one is
 *   copied out and the buffer is read into again (so a view never pins more than four times
 *   its size). A read under 16 KiB returns the socket to the shared buffer, so idle
 *   connections hold no buffer of their own.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import type * as net from 'node:net';

/** Size of the shared buffer (Node's own read size), and of a socket's first private one. */
const READ_SIZE = 65536;
/** Largest private buffer: asyncio reads up to this much at a time too. */
const PRIVATE_MAX = 262144;
/** A private read smaller than this sends the socket back to the shared buffer. */
const PRIVATE_MIN = 16384;

/** The shared read buffer (one per thread; reads never overlap, they run one at a time). */
const shared = Buffer.allocUnsafeSlow(READ_SIZE);

const PRIVATE: unique symbol = Symbol('trousers.read_buffer');
const SINK: unique symbol = Symbol('trousers.read_sink');

/** What receives a socket's bytes: a Stream. */
export interface ReadSink {
  _on_data(chunk: Buffer): void;
  /** Bytes it holds unframed: while it holds any, reads do not grow past 64 KiB. */
  readonly read_buffer_size: number;
}

type Reading = net.Socket & { [PRIVATE]?: Buffer; [SINK]?: ReadSink };

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

function on_bytes(this: Reading, n: number, buf: Buffer): boolean {
  let chunk: Buffer;
  let next: number; // the next private buffer's size; 0: the shared buffer; -1: this one again
  if (buf === shared) {
    chunk = Buffer.allocUnsafe(n);
    shared.copy(chunk, 0, 0, n);
    next = n === READ_SIZE ? READ_SIZE : 0;
  } else if (n >= PRIVATE_MIN && n * 4 >= buf.length) {
    // Handed on as it is; a full buffer means more is waiting: read more at a time.
    chunk = n === buf.length ? buf : buf.subarray(0, n);
    next = n === buf.length ? Math.min(buf.length * 2, PRIVATE_MAX) : buf.length;
  } else {
    chunk = Buffer.allocUnsafe(n);
    buf.copy(chunk, 0, 0, n);
    // Small: back to the shared buffer. Otherwise the private one is free to read into again.
    next = n < PRIVATE_MIN ? 0 : -1;
  }
  const sink = this[SINK];
  // Without a sink (a STARTTLS bridge reads the socket now) the bytes go out as 'data'.
  if (sink !== undefined) sink._on_data(chunk);
  else this.emit('data', chunk);
  if (next === 0) {
    this[PRIVATE] = undefined;
  } else if (next > 0) {
    // A stream holding unframed bytes (a frame in progress, a peer that never sends the
    // delimiter) reads 64 KiB at a time, so buffer_size is overshot by one such read at most.
    if (next > READ_SIZE && sink !== undefined && sink.read_buffer_size > 0) next = READ_SIZE;
    this[PRIVATE] = Buffer.allocUnsafeSlow(next);
  }
  chosen = this[PRIVATE] ?? shared; // last: the callbacks above may set up other sockets
  return true;
}

/** `onread` options for a new `net.Socket`; one object serves every socket. */
export const READ_OPTIONS: net.OnReadOpts = Object.freeze({ buffer: next_buffer, callback: on_bytes as (n: number, buf: Uint8Array) => boolean });

const MARK: unique symbol = Symbol('trousers.onread');

/** Marks a socket created with {@link READ_OPTIONS} (its bytes never arrive as 'data' events). */
export function mark_onread(socket: net.Socket): void {
  (socket as net.Socket & { [MARK]?: true })[MARK] = true;
}

/** True for a socket created with {@link READ_OPTIONS}. */
export function reads_onread(socket: net.Socket): boolean {
  return (socket as net.Socket & { [MARK]?: true })[MARK] === true;
}

/** Sets (or with null, removes) the receiver of an onread socket's bytes. */
export function set_read_sink(socket: net.Socket, sink: ReadSink | null): void {
  (socket as Reading)[SINK] = sink ?? undefined;
}
