/**
 * Stream: a TCP or Unix stream socket driven by callbacks.
 *
 * How to use: subclass, override the callbacks you need, connect (or let a server accept).
 *
 * ```ts
 * class Greeter extends Stream {
 *   override on_connect() { this.read_delimiter = '\r\n'; this.write('HELLO\r\n'); }
 *   override on_read(line: Buffer) { console.log('got', line.toString()); this.close(); }
 *   override on_connect_error(err: ConnectError) { console.error(err.message); }
 * }
 * new Greeter().connect(['127.0.0.1', 4000]);
 * ```
 *
 * The life of a stream, as a grammar of callbacks (each at most where shown):
 *
 * ```
 * stream  := connect_ok | connect_failed | tls_failed | closed_early
 * connect_failed := on_connect_error on_close
 * tls_failed := on_ssl_handshake_error on_close
 * closed_early := on_close                  (closed before on_connect was due)
 * connect_ok := [on_ssl_handshake] on_connect body* [on_incomplete] on_close
 * body := on_read | on_write | on_pause_writing | on_resume_writing | on_overflow_error
 *       | on_timeout | on_error | on_ssl_handshake (after start_tls)
 * ```
 *
 * and of its {@link Stream.state}:
 *
 * ```
 * state := idle (connecting [handshaking] | handshaking) open (upgrading open)* closing closed
 * ```
 *
 * (an accepted stream starts at `connecting`, `handshaking` or `open`; any state may end early
 * in `closing` or `closed`: a refused connect, a failed handshake or upgrade, a reset).
 *
 * - `idle`: made, not connected. `connecting`: TCP (or Unix) connect in progress.
 *   `handshaking`: the first TLS handshake (a TLS client after TCP connected, or the server
 *   side of an accepted TLS connection). `open`: established; `on_connect` was due.
 *   `upgrading`: `start_tls()` was called and its handshake is not done; still connected,
 *   writes are queued and go out encrypted. `closing`: `close()` was called or the socket is
 *   going away, `on_close` is due. `closed`: `on_close` has run.
 * - `on_connect` runs before any `on_read`; `on_close` runs exactly once, last.
 * - No callback runs inside the call that caused it: `connect`, `write`, `write_file` and
 *   `close` return first.
 * - End of stream from the peer: complete frames are delivered, then bytes that do not make
 *   a whole frame go to `on_incomplete(rest)`, then the stream closes gracefully, so replies
 *   written in those callbacks are still sent.
 * - A peer reset (`ECONNRESET`, `EPIPE`) closes the stream without `on_error`;
 *   `close_reason` then holds the error. Other socket errors go to `on_error`.
 *
 * The Stream is the public face. Its socket, state, reader (the one owner of the framer),
 * outbox and TLS lifecycle live in a private core object (`stream_core.ts`), which is what
 * the socket's listeners and those parts talk to: none of their hooks is a member of Stream,
 * so a subclass can never override one by accident.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import * as net from 'node:net';
import type { FileHandle } from 'node:fs/promises';
import type * as tls from 'node:tls';
import { format_reported, inet_address, parse_address, type Address, type ReportedAddress } from './address.js';
import { Channel, type ChannelOptions } from './channel.js';
import type { ReadDelimiter } from './delimiter.js';
import { TrousersError, type BufferOverflowError, type ConnectError, type TlsError } from './errors.js';
import { StreamCore } from './stream_core.js';
import { Struct } from './struct.js';
import { node_tls, tls_info, type TlsInfo, type TlsOptions } from './tls.js';

/** Options of a {@link Stream}. */
export interface StreamOptions extends ChannelOptions {
  /** An existing `net.Socket` to drive (connected, or connecting). */
  socket?: net.Socket;
  /**
   * TLS: with `connect()`, the stream is a TLS client (verification on unless
   * `rejectUnauthorized: false`); with `socket`, the stream is the TLS server side of an
   * accepted connection (give `key` and `cert`).
   */
  tls?: TlsOptions;
  /** A prepared secure context for `tls` server sides (a `Server` shares one). */
  secure_context?: tls.SecureContext;
}

/** Options of {@link Stream.connect}. */
export interface ConnectOptions {
  /** Milliseconds to wait for the connection; default none (the OS's own limit applies). */
  timeout?: number;
}

/** Options of {@link Stream.write_file}. */
export interface WriteFileOptions {
  /** First byte of the file to send. Default 0. */
  offset?: number;
  /** How many bytes to send; default (and at most) up to the end of the file. */
  nbytes?: number;
}

/** A stream's state; see the grammar in the module docs and {@link Stream.state}. */
export type StreamState = 'idle' | 'connecting' | 'handshaking' | 'open' | 'upgrading' | 'closing' | 'closed';

/** A TCP or Unix stream socket. Subclass it and override the `on_*` callbacks. */
export class Stream extends Channel {
  /** The private host that drives the socket (see `stream_core.ts`). */
  readonly #core: StreamCore;

  /** @internal The socket the stream drives now. */
  protected get _socket(): net.Socket | null {
    return this.#core.sock;
  }

  /**
   * @param options - `{ engine, socket, tls, secure_context }`; with `socket`, the stream
   *   drives that socket and `on_connect` follows on a later tick (or when it finishes
   *   connecting).
   */
  constructor(options: StreamOptions = {}) {
    super(options);
    if (options.tls !== undefined && (options.tls === null || typeof options.tls !== 'object')) {
      throw new TypeError('options.tls must be an object of TLS options');
    }
    this.#core = new StreamCore(this, options.tls, options.secure_context);
    const socket = options.socket;
    if (socket !== undefined) {
      if (!(socket instanceof net.Socket)) throw new TypeError('options.socket must be a net.Socket');
      this.#core.adopt(socket);
    }
  }

  // ------------------------------------------------------------------ state

  /**
   * Where the stream is in its life: `idle`, `connecting`, `handshaking`, `open`,
   * `upgrading`, `closing` or `closed` (see the grammar in the module docs). `closed` means
   * `on_close` has run.
   */
  get state(): StreamState {
    const st = this.#core.st;
    return st === 'closed' && !this._closed ? 'closing' : st;
  }

  /** True while the connection is established and not closing (`open`, or `upgrading` to TLS). */
  get connected(): boolean {
    return this.#core.st === 'open' || this.#core.st === 'upgrading';
  }

  /** True while the connection is being made (`connecting`, or its first TLS `handshaking`). */
  get connecting(): boolean {
    return this.#core.st === 'connecting' || this.#core.st === 'handshaking';
  }

  /** True after `close()` was called, until `on_close`. */
  get closing(): boolean {
    return this.#core.st === 'closing' || (this.#core.st === 'closed' && !this._closed);
  }

  /** The error that ended the stream (a peer reset, say), or null. */
  get close_reason(): Error | null {
    return this.#core.reason;
  }

  /** True once TLS is in place (after its handshake). */
  get secure(): boolean {
    return this.#core.tls !== null && this.#core.tls.secure;
  }

  /** The TLS session's details (protocol, cipher, ALPN, peer certificate), or null without TLS. */
  get tls_info(): TlsInfo | null {
    const s = this.#core.sock;
    return this.secure && s instanceof node_tls().TLSSocket ? tls_info(s) : null;
  }

  /**
   * Milliseconds a graceful close waits, after our FIN has gone out, for the peer to close
   * its side before the socket is closed anyway (default 1000; 0 closes right after FIN).
   */
  get linger(): number {
    return this.#core.linger_ms;
  }

  set linger(ms: number) {
    if (typeof ms !== 'number') throw new TypeError('linger must be a number');
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`linger must be a finite number >= 0, got ${ms}`);
    this.#core.linger_ms = ms;
  }

  /** The peer's address: `{ host, port, family }` for IP, the socket path for Unix. */
  get remote_address(): ReportedAddress | null {
    const s = this.#core.net_socket;
    if (s === null) return null;
    if (this.#core.unix_path !== null) return this.#core.unix_path;
    return inet_address(s.remoteAddress, s.remotePort, s.remoteFamily);
  }

  /** This end's address: `{ host, port, family }` for IP, the socket path for Unix. */
  get local_address(): ReportedAddress | null {
    const s = this.#core.net_socket;
    if (s === null) return null;
    if (this.#core.unix_path !== null) return this.#core.unix_path;
    return inet_address(s.localAddress, s.localPort, s.localFamily);
  }

  /** TCP_NODELAY, on by default (small writes go out at once). */
  get no_delay(): boolean {
    return this.#core.nodelay;
  }

  set no_delay(value: boolean) {
    if (typeof value !== 'boolean') throw new TypeError('no_delay must be a boolean');
    this.#core.nodelay = value;
    if (this.#core.sock !== null && this.#core.unix_path === null && this.#core.st === 'open') this.#core.sock.setNoDelay(value);
  }

  // ------------------------------------------------------------------ reading

  /**
   * How incoming bytes are cut into `on_read` calls (see {@link ReadDelimiter}). May be
   * changed at any time, even inside `on_read`; the change applies at once to bytes already
   * buffered. Invalid values throw and leave the old value in place.
   */
  get read_delimiter(): ReadDelimiter {
    return this.#core.reader.value;
  }

  set read_delimiter(value: ReadDelimiter) {
    this.#core.reader.set(value); // (inside on_read the running loop re-reads it)
  }

  /** RegExp delimiters: search for the first match (true, default) or match at the start. */
  get regex_search(): boolean {
    return this.#core.reader.regex_search;
  }

  set regex_search(value: boolean) {
    if (typeof value !== 'boolean') throw new TypeError('regex_search must be a boolean');
    this.#core.reader.regex_search = value;
    this.#core.reader.schedule();
  }

  /** When set (e.g. `'utf8'`), `on_read` receives strings instead of Buffers. Default null. */
  get encoding(): BufferEncoding | null {
    return this.#core.reader.encoding;
  }

  set encoding(value: BufferEncoding | null) {
    this.#core.reader.encoding = value;
  }

  /**
   * Most unframed bytes to hold (default 65536; at least the size of an integer or Struct
   * delimiter). Above it, reading pauses and `on_overflow_error` runs.
   */
  get buffer_size(): number {
    return this.#core.reader.size_limit;
  }

  set buffer_size(value: number) {
    if (typeof value !== 'number') throw new TypeError('buffer_size must be a number');
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`buffer_size must be a positive integer, got ${value}`);
    this.#core.reader.size_limit = value;
    this.#core.reader.schedule();
  }

  /**
   * Opt-in for bulk protocols (an echo, a proxy, a checksum): `on_read`'s Buffer is only
   * **lent** for the duration of the call. Copy what you keep (`Buffer.from(data)`): once
   * `on_read` returns, the engine may read the next bytes into the same memory, which is
   * still warm in the CPU cache (no fresh buffer, no copy out of the read buffer per read).
   * Default false: every Buffer `on_read` gets is yours to keep.
   *
   * Set it as a class field (`override lend_reads = true`) or in the constructor.
   *
   * Safe without copying:
   * - reading the bytes, decoding or parsing them inside `on_read`;
   * - `write()` of the Buffer (or a view of it) on this or any other trousers Stream: the
   *   memory is read into again only once every such write was taken whole by the kernel;
   *   while a write still holds it, the next read goes into other memory.
   *
   * Not safe: keeping the Buffer (or a view) after `on_read` returns, in a field, a list, a
   * Promise, a timer, a `Datagram` send or a plain `net.Socket` write. Copy first.
   *
   * Only plaintext sockets that trousers reads itself (accepted by a plaintext `Server`, or
   * connected out) lend; only raw-mode reads (`read_delimiter` null, nothing buffered) are
   * lent; frames cut by a delimiter are still the user's. TLS streams ignore it.
   */
  declare lend_reads: boolean;

  /** Bytes received and not yet delivered to `on_read`. */
  get read_buffer_size(): number {
    return this.#core.reader.buffered;
  }

  /** Stops reading (and delivering buffered frames) until {@link Stream.resume_reading}. */
  pause_reading(): void {
    if (this.#core.user_paused) return;
    this.#core.user_paused = true;
    this.#core.sock?.pause();
  }

  /** Resumes reading; frames already buffered are delivered on a later tick. */
  resume_reading(): void {
    if (!this.#core.user_paused) return;
    this.#core.user_paused = false;
    // (Not the plain socket of a STARTTLS upgrade still waiting for its TLS layer: its bytes
    // are the handshake's, and the TLS bridge resumes it when it reads.)
    const waiting_for_tls = this.#core.tls !== null && this.#core.tls.upgrading && this.#core.plain_outbox !== null;
    if (!this.#core.reader.overflowed && !waiting_for_tls) this.#core.sock?.resume();
    this.#core.reader.schedule();
  }

  /** True while reading is paused by {@link Stream.pause_reading}. */
  get reading_paused(): boolean {
    return this.#core.user_paused;
  }

  /** Idle timeout in ms (0 = off, the default): no data either way for that long calls `on_timeout`. */
  get idle_timeout(): number {
    return this.#core.idle_ms;
  }

  set idle_timeout(ms: number) {
    if (typeof ms !== 'number') throw new TypeError('idle_timeout must be a number');
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`idle_timeout must be a finite number >= 0, got ${ms}`);
    this.#core.idle_ms = ms;
    if (this.#core.sock !== null && this.#core.st !== 'closed') this.#core.arm_idle(this.#core.sock);
  }

  // ------------------------------------------------------------------ writing

  /**
   * Queues bytes (a string is sent as UTF-8), in order with earlier writes and files.
   * Before the connection is up, data is queued and sent once connected.
   * @returns false when the write buffer is above its high water mark: stop until `on_resume_writing`
   * @throws ChannelClosedError after `close()`
   */
  write(data: string | Uint8Array): boolean {
    const state = this.#core.st;
    if (state === 'closing' || state === 'closed' || this._closed) this._check_open('write', true);
    if (Buffer.isBuffer(data)) return this.#core.outbox.write(data);
    if (typeof data === 'string') return this.#core.outbox.write(Buffer.from(data, 'utf8'));
    if (data instanceof Uint8Array) {
      return this.#core.outbox.write(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    }
    throw new TypeError(`write() takes a string or bytes, got ${data === null ? 'null' : typeof data}`);
  }

  /**
   * Packs `values` with the current `Struct` read delimiter and writes them.
   * @throws TypeError when `read_delimiter` is not a Struct
   */
  write_packed(...values: unknown[]): boolean {
    const d = this.#core.reader.delimiter;
    if (!(d instanceof Struct)) throw new TypeError('write_packed needs a Struct read_delimiter');
    return this.write(d.pack(...values));
  }

  /**
   * Streams a file, in order with `write()`, in bounded memory. `file` is a path (opened and
   * always closed again here), a descriptor or a `FileHandle` (both stay yours to close).
   * Errors go to `on_error` and close the stream.
   */
  write_file(file: string | number | FileHandle, options: WriteFileOptions = {}): void {
    this._check_open('write_file', this.#core.st === 'closing' || this.#core.st === 'closed');
    const ok_source =
      (typeof file === 'string' && file.length > 0) ||
      (typeof file === 'number' && Number.isInteger(file) && file >= 0) ||
      (file !== null && typeof file === 'object' && typeof (file as FileHandle).fd === 'number');
    if (!ok_source) throw new TypeError('write_file takes a path, a file descriptor or a FileHandle');
    const offset = options.offset ?? 0;
    const nbytes = options.nbytes ?? Infinity;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`offset must be an integer >= 0, got ${offset}`);
    if (typeof nbytes !== 'number' || !(nbytes === Infinity || (Number.isSafeInteger(nbytes) && nbytes >= 0))) {
      throw new RangeError(`nbytes must be an integer >= 0, got ${nbytes}`);
    }
    this.#core.outbox.write_file(file, offset, nbytes);
  }

  /** Bytes waiting to go out: queued here plus held by the socket. */
  get write_buffer_size(): number {
    return this.#core.outbox.size;
  }

  /**
   * Sets the write buffer's water marks (defaults 64 KiB / 16 KiB): above `high`, `write()`
   * returns false and `on_pause_writing` runs; at or below `low`, `on_resume_writing` runs.
   */
  set_write_buffer_limits(high = 65536, low = Math.floor(high / 4)): void {
    for (const [name, v] of [['high', high], ['low', low]] as const) {
      if (typeof v !== 'number') throw new TypeError(`${name} must be a number`);
      if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be an integer >= 0, got ${v}`);
    }
    if (low > high) throw new RangeError(`low (${low}) must not exceed high (${high})`);
    this.#core.outbox.high = high;
    this.#core.outbox.low = low;
  }

  // ------------------------------------------------------------------ connect / close

  /**
   * Connects to `address` (a port on localhost, `[host, port]`, `{ host, port }` or a Unix
   * socket path). Host names resolve without blocking. Success: `on_connect`; failure:
   * `on_connect_error(err)` then `on_close`. Both come on a later tick.
   * @returns this
   */
  connect(address: Address, options: ConnectOptions = {}): this {
    const parsed = parse_address(address, false);
    const timeout = options.timeout;
    if (timeout !== undefined) {
      if (typeof timeout !== 'number') throw new TypeError('timeout must be a number of milliseconds');
      if (!Number.isFinite(timeout) || timeout <= 0) throw new RangeError(`timeout must be a finite number > 0, got ${timeout}`);
    }
    if (this.#core.st !== 'idle' || this._closed) {
      this._check_open('connect', this.#core.st === 'closing' || this.#core.st === 'closed');
      throw new TrousersError('ERR_ALREADY_CONNECTED', `${this.toString()} is already ${this.#core.st}`);
    }
    this.#core.connect(parsed, timeout);
    return this;
  }

  /**
   * Closes the stream. Graceful by default: everything queued (files included) is sent,
   * then FIN, then `on_close`. `close(false)` closes at once and drops queued output.
   * Idempotent; no `on_read` is delivered after it.
   */
  close(flush = true): void {
    this.#core.close(flush);
  }

  /**
   * Upgrades this connected plaintext stream to TLS in place (STARTTLS); the stream is
   * `upgrading` until the handshake is done, then `open` again. Writes made before the call
   * go out in plaintext first; writes after it are queued and sent encrypted once the
   * handshake is done. Bytes already received behind the current frame go to TLS, not to
   * `on_read`. The role follows the channel (accepted: TLS server; connected out: TLS
   * client) unless `options.isServer` says otherwise. A client verifies the server's
   * certificate and host name unless `rejectUnauthorized: false`. `on_ssl_handshake`
   * follows (not `on_connect`), or `on_ssl_handshake_error` and close.
   * @throws ChannelClosedError after `close()`; TrousersError `ERR_TLS_ACTIVE` when TLS is on already
   */
  start_tls(options: TlsOptions = {}): void {
    if (options === null || typeof options !== 'object') throw new TypeError('start_tls options must be an object');
    this._check_open('start_tls', this.#core.st === 'closing' || this.#core.st === 'closed');
    if (this.#core.tls !== null) throw new TrousersError('ERR_TLS_ACTIVE', `${this.toString()} already uses TLS`);
    if (this.#core.st !== 'open') throw new TrousersError('ERR_NOT_CONNECTED', 'start_tls needs a connected stream');
    this.#core.start_tls(options, options.isServer ?? this.#core.target === '');
  }

  // ------------------------------------------------------------------ callbacks

  /** The connection is up (for accepted connections: the server has accepted it). */
  on_connect(): void {}

  /** The TLS handshake is done (from the start: `on_connect` follows; after `start_tls`: it does not). */
  on_ssl_handshake(): void {}

  /**
   * The TLS handshake failed (bad or expired certificate, wrong host name, a peer that does
   * not speak TLS). Default: a line on stderr and close at once; `on_close` follows.
   */
  on_ssl_handshake_error(err: TlsError): void {
    process.stderr.write(`trousers: ${this.toString()}: ${err.message}\n`);
    this.close(false);
  }

  /**
   * A frame arrived; the arguments depend on `read_delimiter`: one `Buffer` (or string with
   * `encoding`), the fields of a `Struct`, or a RegExp match array.
   */
  on_read(..._args: unknown[]): void {}

  /** Everything written so far has been handed to the OS. */
  on_write(): void {}

  /** The connection attempt failed; `on_close` follows. Default: a line on stderr. */
  on_connect_error(err: ConnectError): void {
    process.stderr.write(`trousers: ${this.toString()}: ${err.message}\n`);
  }

  /** More unframed bytes than allowed are buffered; reading is paused. Default: close at once. */
  on_overflow_error(err: BufferOverflowError): void {
    process.stderr.write(`trousers: ${this.toString()}: ${err.message}\n`);
    this.close(false);
  }

  /** The write buffer rose above its high water mark: stop producing. */
  on_pause_writing(): void {}

  /** The write buffer fell to its low water mark: produce again. */
  on_resume_writing(): void {}

  /**
   * The peer ended the stream with `rest` left over: bytes that do not complete a frame.
   * Default: a line on stderr saying how many bytes were dropped.
   */
  on_incomplete(rest: Buffer): void {
    process.stderr.write(`trousers: ${this.toString()}: stream ended inside a frame; ${rest.length} bytes dropped\n`);
  }

  /** No data either way for `idle_timeout` ms. Default: close at once. */
  on_timeout(): void {
    this.close(false);
  }

  // ------------------------------------------------------------------ internals

  /** @internal */
  protected override _describe(): string {
    if (this.#core.sock === null) return this.state;
    return `${format_reported(this.local_address)} -> ${this.#core.target || format_reported(this.remote_address)}`;
  }
}

// Streams keep their reads unless a subclass opts in (on the prototype: no field per stream).
Stream.prototype.lend_reads = false;
