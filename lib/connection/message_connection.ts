/**
 * MessageConnection: whole messages over a stream, the equivalent of Python's
 * `multiprocessing.connection.Connection`.
 *
 * ```ts
 * const conn = await connect(['127.0.0.1', 6000], { authkey: 'secret' });
 * await conn.send_bytes(Buffer.from('hello'));
 * const reply = await conn.recv_bytes();     // a Buffer
 * await conn.send({ when: new Date(), ids: new Set([1, 2]) });   // Node <-> Node only
 * conn.close();
 * ```
 *
 * `send_bytes` / `recv_bytes` speak Python's wire format byte for byte. `send` / `recv`
 * encode values with a codec: `v8.serialize` by default, JSON, or `codec: 'pickle'`, which is
 * what Python's own `send` / `recv` speak.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import type { ReportedAddress } from '../index.js';
import type { Codec } from './codec.js';
import type { Endpoint } from './endpoint.js';
import { ConnectionEOFError } from './errors.js';

function check_timeout(timeout: unknown): number | null {
  if (timeout === null || timeout === undefined) return null;
  if (typeof timeout !== 'number') throw new TypeError('timeout must be a number of milliseconds or null');
  if (Number.isNaN(timeout) || timeout < 0) throw new RangeError(`timeout must be >= 0 or null, got ${timeout}`);
  return timeout === Infinity ? null : timeout;
}

function check_int(name: string, value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number`);
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be an integer >= 0, got ${value}`);
  return value;
}

function as_bytes(buf: unknown): Uint8Array {
  if (buf instanceof Uint8Array) return buf;
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf instanceof ArrayBuffer || buf instanceof SharedArrayBuffer) return new Uint8Array(buf);
  throw new TypeError(`send_bytes takes bytes (a Buffer, typed array, DataView or ArrayBuffer), got ${buf === null ? 'null' : typeof buf}`);
}

/**
 * A connection that carries whole messages. Get one from `Listener.accept()` or `connect()`.
 */
export class MessageConnection implements AsyncIterable<Buffer> {
  /** @internal */
  readonly _endpoint: Endpoint;
  private readonly codec: Codec;
  private user_closed = false;

  /** @internal Built by `connect()` and `Listener`, after the handshake. */
  constructor(endpoint: Endpoint, codec: Codec) {
    this._endpoint = endpoint;
    this.codec = codec;
  }

  /**
   * Sends one message of bytes: `size` bytes of `buf` from byte `offset` (default: all of
   * it). The bytes are copied at once, so `buf` may be reused right away.
   * @returns a promise that resolves at once while the write buffer has room and otherwise
   *   when it has drained (or the connection has closed): `await` it to respect backpressure.
   *   It never rejects.
   * @throws ChannelClosedError once the connection is closed or closing
   * @throws TypeError / RangeError for bad arguments (like Python's ValueError)
   */
  send_bytes(buf: ArrayBufferView | ArrayBuffer | SharedArrayBuffer, offset = 0, size?: number): Promise<void> {
    const bytes = as_bytes(buf);
    const n = bytes.length;
    check_int('offset', offset);
    if (offset > n) throw new RangeError(`buffer length (${n}) < offset (${offset})`);
    const length = size === undefined ? n - offset : check_int('size', size);
    if (offset + length > n) throw new RangeError(`buffer length (${n}) < offset + size (${offset + length})`);
    const view = offset === 0 && length === n ? bytes : bytes.subarray(offset, offset + length);
    return this._endpoint.send(view);
  }

  /**
   * Receives the next message, whole.
   * @param maxlength - the longest message accepted (default: `max_message_size`). A longer
   *   one rejects with a {@link ProtocolError} and closes the connection, like Python; it is
   *   detected on the message's header, so none of it is held in memory.
   * @returns a promise of the message's bytes. It rejects with {@link ConnectionEOFError}
   *   when the peer has closed at a message boundary (and for every call after that), with
   *   {@link ProtocolError} when the stream ended inside a message, with
   *   `ChannelClosedError` after `close()`, with `SocketError` after a reset.
   */
  recv_bytes(maxlength?: number): Promise<Buffer> {
    const limit = maxlength === undefined ? Infinity : check_int('maxlength', maxlength);
    return this._endpoint.recv(limit);
  }

  /**
   * Sends a value encoded with the connection's codec (`v8.serialize` by default). A Python
   * peer's `recv()` expects a pickle: use `codec: 'pickle'` with Python.
   * @throws whatever the codec throws for values it cannot encode (functions, symbols...)
   */
  send(value: unknown): Promise<void> {
    return this._endpoint.send(this.codec.encode(value));
  }

  /** Receives a message and decodes it with the connection's codec. Rejects like {@link MessageConnection.recv_bytes}. */
  async recv(): Promise<unknown> {
    return this.codec.decode(await this._endpoint.recv(Infinity));
  }

  /**
   * Whether a message (or the end of the stream, or an error) is waiting to be received.
   * @param timeout - milliseconds to wait for one: `0` (default) answers at once, `null`
   *   waits as long as it takes. (Python's `poll` counts in seconds; trousers in ms.)
   */
  poll(timeout: number | null = 0): Promise<boolean> {
    const ms = check_timeout(timeout);
    const ep = this._endpoint;
    if (ep.readable) return Promise.resolve(true);
    if (ms === 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const ready = (): void => {
        if (!ep.readable) return;
        ep.unwatch(ready);
        if (timer !== undefined) clearTimeout(timer);
        resolve(true);
      };
      ep.watch(ready);
      if (ms !== null) {
        timer = setTimeout(() => {
          ep.unwatch(ready);
          resolve(ep.readable);
        }, ms);
      }
    });
  }

  /**
   * Closes the connection. Messages already sent still go out; pending and later receives
   * reject with `ChannelClosedError`. Idempotent.
   */
  close(): void {
    this.user_closed = true;
    this._endpoint.close();
  }

  /**
   * True once `close()` was called or the underlying socket has closed (peer end, reset,
   * protocol error). Messages that had fully arrived can still be received after that.
   */
  get closed(): boolean {
    return this.user_closed || this._endpoint.stream.closed || this._endpoint.stream.closing;
  }

  /** This end's address: `{ host, port, family }` for TCP, the path for a Unix socket. */
  get local_address(): ReportedAddress | null {
    return this._endpoint.stream.local_address;
  }

  /** The peer's address: `{ host, port, family }` for TCP, the listener's path for a Unix socket. */
  get remote_address(): ReportedAddress | null {
    return this._endpoint.stream.remote_address;
  }

  /**
   * Iterates over incoming messages until the peer closes: `for await (const msg of conn)`.
   * The loop ends quietly at end of stream (and after `close()`); other errors are thrown.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      let data: Buffer;
      try {
        data = await this._endpoint.recv(Infinity);
      } catch (err) {
        if (err instanceof ConnectionEOFError || this.user_closed) return;
        throw err;
      }
      yield data;
    }
  }

  /** A short description for logs. */
  toString(): string {
    return `MessageConnection(${this._endpoint.stream.toString()})`;
  }
}
