/**
 * The endpoint: Python's message framing driven by a trousers {@link Stream}.
 *
 * The stream's `read_delimiter` walks through the framing: `Struct('!i')` for the header,
 * `Struct('!Q')` after a `-1` long-header mark, then the integer N for the payload, then
 * the header again. Whole messages go to whoever waits in `recv()`, or into a small inbox.
 *
 * Memory stays bounded:
 * - messages up to `buffer_size` bytes are read ahead; once the inbox holds `buffer_size`
 *   bytes, reading pauses until the program takes messages;
 * - a longer message is read only when a `recv(maxlength)` asks for it and its announced
 *   length fits `maxlength` (checked on the header, before a byte of the payload is held);
 * - nothing over `max_message_size` is ever read.
 *
 * Errors are terminal and sticky: after the first (end of stream, protocol error, close),
 * messages already complete in the inbox are still handed out, then every `recv()` rejects
 * with that error. Nothing half-read is ever delivered.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import {
  ChannelClosedError,
  SocketError,
  Stream,
  type BufferOverflowError,
  type ConnectError,
  type StreamOptions,
} from '../index.js';
import { ConnectionEOFError, ProtocolError } from './errors.js';
import { encode_message, HEADER, LONG_HEADER, LONG_MARK } from './wire.js';

/** Limits of an {@link Endpoint}. */
export interface EndpointLimits {
  /** Read-ahead and inbox bound in bytes. */
  buffer_size: number;
  /** The longest message ever read. */
  max_message_size: number;
}

type ReadState = 'header' | 'long' | 'body' | 'await_body';

interface Waiter {
  resolve(data: Buffer): void;
  reject(err: Error): void;
  maxlength: number;
}

/** Inbox accounting per message, so that many tiny messages also pause reading. */
const MESSAGE_OVERHEAD = 64;
const RESOLVED: Promise<void> = Promise.resolve();

/**
 * The stream of one message connection, outgoing or accepted: its callbacks are the
 * endpoint's, by class (nothing is assigned to an instance). Not exported by the package.
 */
export class MessageStream extends Stream {
  /** The framing this stream feeds. */
  readonly endpoint: Endpoint;

  /**
   * @param options - `{ engine, socket }` as for any Stream
   * @param limits - the endpoint's limits
   */
  constructor(options: StreamOptions, limits: EndpointLimits) {
    super(options);
    this.endpoint = new Endpoint(this, limits);
  }

  override on_read(...args: unknown[]): void {
    this.endpoint._on_frame(args[0]);
  }

  override on_incomplete(rest: Buffer): void {
    this.endpoint.fail(new ProtocolError(`the stream ended inside a message (${rest.length} bytes of it had arrived)`), false);
  }

  override on_overflow_error(err: BufferOverflowError): void {
    this.endpoint.fail(new ProtocolError('read buffer overflow', { cause: err }), false);
  }

  override on_error(err: Error): void {
    this.endpoint.fail(err, false);
  }

  /** The connect promise (see `connect()`) reports the failure; nothing is printed. */
  override on_connect_error(_err: ConnectError): void {}

  override on_resume_writing(): void {
    this.endpoint._wake_writers();
  }

  override on_close(): void {
    this.endpoint._on_close();
  }
}

/** Python-compatible message framing over one stream. Not exported by the package. */
export class Endpoint {
  /** The stream carrying the messages. */
  readonly stream: Stream;
  private readonly limits: EndpointLimits;
  private state: ReadState = 'header';
  /** Announced length of the message being read (body / await_body). */
  private pending = 0;
  private inbox: Buffer[] = [];
  private inbox_head = 0;
  private inbox_bytes = 0;
  private waiters: Waiter[] = [];
  private readonly watchers = new Set<() => void>();
  private writers: (() => void)[] = [];
  private end: Error | null = null;
  private paused = false;
  private user_closed = false;

  /**
   * Sets up the framing on the stream; the stream's class ({@link MessageStream}) hands its
   * callbacks here.
   * @param stream - a connected (or connecting) stream
   * @param limits - see {@link EndpointLimits}
   */
  constructor(stream: Stream, limits: EndpointLimits) {
    this.stream = stream;
    this.limits = limits;
    stream.read_delimiter = HEADER;
    stream.buffer_size = limits.buffer_size;
  }

  // ------------------------------------------------------------------ receiving

  /** True when `recv()` would not wait for the network: a message, a long header, or the end. */
  get readable(): boolean {
    return this.inbox.length > this.inbox_head || this.state === 'await_body' || this.end !== null;
  }

  /** The terminal error, once there is one. */
  get error(): Error | null {
    return this.end;
  }

  /**
   * The next whole message.
   * @param maxlength - a longer message is a {@link ProtocolError} and closes the connection
   */
  recv(maxlength: number): Promise<Buffer> {
    if (this.inbox.length > this.inbox_head) {
      const data = this.take();
      if (data.length > maxlength) return Promise.reject(this.too_long(data.length, maxlength));
      return Promise.resolve(data);
    }
    if (this.end !== null) return Promise.reject(this.end);
    return new Promise<Buffer>((resolve, reject) => {
      this.waiters.push({ resolve, reject, maxlength });
      if (this.state === 'await_body' && this.waiters.length === 1) {
        if (this.pending > maxlength) this.too_long(this.pending, maxlength);
        else this.read_body();
      }
    });
  }

  /** Calls `fn` (until removed) whenever the endpoint may have become readable. */
  watch(fn: () => void): void {
    this.watchers.add(fn);
  }

  /** Stops calling `fn`. */
  unwatch(fn: () => void): void {
    this.watchers.delete(fn);
  }

  // ------------------------------------------------------------------ sending

  /**
   * Queues one message (a copy of `payload`).
   * @returns a promise that resolves at once while the write buffer has room, else once it
   *   has drained (or the connection has closed)
   * @throws ChannelClosedError once the stream is closing or closed
   */
  send(payload: Uint8Array): Promise<void> {
    const parts = encode_message(payload);
    let room = true;
    for (const part of parts) room = this.stream.write(part);
    if (room) return RESOLVED;
    return new Promise<void>((resolve) => this.writers.push(resolve));
  }

  // ------------------------------------------------------------------ closing

  /** Closes the connection gracefully: queued messages are still sent. Idempotent. */
  close(): void {
    if (!this.user_closed) {
      this.user_closed = true;
      this.terminate(new ChannelClosedError('recv'));
    }
    this.stream.close(true);
  }

  /**
   * Ends the endpoint with `err` (the first error wins) and closes the stream: at once
   * (`flush` false) for errors, gracefully for handshake failures that still have to send.
   */
  fail(err: Error, flush: boolean): void {
    this.terminate(err);
    this.stream.close(flush);
  }

  // ------------------------------------------------------------------ internals

  /** @internal A frame of the stream (a header value or a payload). */
  _on_frame(value: unknown): void {
    switch (this.state) {
      case 'header': {
        const n = value as number;
        if (n === LONG_MARK) {
          this.state = 'long';
          this.stream.read_delimiter = LONG_HEADER;
        } else if (n < 0) {
          this.fail(new ProtocolError(`negative message length ${n}`, { length: n }), false);
        } else {
          this.announced(n);
        }
        return;
      }
      case 'long': {
        const n = value as bigint;
        if (n > BigInt(this.limits.max_message_size)) {
          this.fail(this.over_max(Number(n)), false);
          return;
        }
        this.announced(Number(n));
        return;
      }
      case 'body': {
        const data = value as Buffer;
        this.to_header();
        this.deliver(data);
        return;
      }
      default:
        return; // await_body: reading is paused; nothing is delivered
    }
  }

  private over_max(n: number): ProtocolError {
    const max = this.limits.max_message_size;
    return new ProtocolError(`a message of ${n} bytes is over max_message_size (${max})`, { length: n, limit: max });
  }

  /** A header announced `n` bytes. */
  private announced(n: number): void {
    if (n > this.limits.max_message_size) {
      this.fail(this.over_max(n), false);
      return;
    }
    if (n === 0) {
      this.to_header();
      this.deliver(Buffer.alloc(0));
      return;
    }
    const waiter = this.waiters[0];
    if (waiter !== undefined && n > waiter.maxlength) {
      this.too_long(n, waiter.maxlength);
      return;
    }
    this.pending = n;
    if (waiter !== undefined || n <= this.limits.buffer_size) {
      this.read_body();
    } else {
      this.state = 'await_body';
      this.update_pause();
      this.notify();
    }
  }

  private read_body(): void {
    const stream = this.stream;
    this.state = 'body';
    if (this.pending > stream.buffer_size) stream.buffer_size = this.pending;
    stream.read_delimiter = this.pending;
    this.update_pause();
  }

  private to_header(): void {
    const stream = this.stream;
    this.state = 'header';
    stream.read_delimiter = HEADER;
    if (stream.buffer_size !== this.limits.buffer_size) stream.buffer_size = this.limits.buffer_size;
  }

  private deliver(data: Buffer): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      if (data.length > waiter.maxlength) {
        this.waiters.unshift(waiter);
        this.too_long(data.length, waiter.maxlength);
      } else {
        waiter.resolve(data);
      }
      return;
    }
    this.inbox.push(data);
    this.inbox_bytes += data.length + MESSAGE_OVERHEAD;
    this.update_pause();
    this.notify();
  }

  private take(): Buffer {
    const data = this.inbox[this.inbox_head]!;
    this.inbox_head++;
    if (this.inbox_head === this.inbox.length) {
      this.inbox = [];
      this.inbox_head = 0;
    } else if (this.inbox_head > 1024 && this.inbox_head * 2 > this.inbox.length) {
      this.inbox = this.inbox.slice(this.inbox_head);
      this.inbox_head = 0;
    }
    this.inbox_bytes -= data.length + MESSAGE_OVERHEAD;
    this.update_pause();
    return data;
  }

  /** A message longer than the reader's `maxlength`: like Python, the connection is done. */
  private too_long(n: number, limit: number): ProtocolError {
    const err = new ProtocolError(`a message of ${n} bytes is longer than maxlength ${limit}`, { length: n, limit });
    this.inbox = [];
    this.inbox_head = 0;
    this.inbox_bytes = 0;
    this.end = null; // this error replaces any earlier end: the reader asked, the reader is told
    this.fail(err, false);
    return err;
  }

  private update_pause(): void {
    const want = this.end === null && (this.state === 'await_body' || this.inbox_bytes >= this.limits.buffer_size);
    if (want === this.paused) return;
    this.paused = want;
    if (want) this.stream.pause_reading();
    else this.stream.resume_reading();
  }

  private terminate(err: Error): void {
    if (this.end !== null) return;
    this.end = err;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
    this.notify();
    this._wake_writers();
  }

  /** @internal The stream has closed. */
  _on_close(): void {
    if (this.end === null) {
      const reason = this.stream.close_reason;
      if (reason !== null) this.terminate(new SocketError({ cause: reason }));
      else if (this.state !== 'header') this.terminate(new ProtocolError('the stream ended inside a message'));
      else this.terminate(new ConnectionEOFError());
    }
    this._wake_writers();
  }

  private notify(): void {
    for (const fn of [...this.watchers]) fn();
  }

  /** @internal Writers waiting for room may go on. */
  _wake_writers(): void {
    const writers = this.writers;
    if (writers.length === 0) return;
    this.writers = [];
    for (const w of writers) w();
  }
}
