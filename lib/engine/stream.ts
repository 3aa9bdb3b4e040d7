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
 * and of its {@link Stream.state} (any state may also go straight to `closing` or `closed`):
 *
 * ```
 * state := idle (connecting [handshaking] | handshaking) open (upgrading open)* closing closed
 * ```
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
 * Reading goes through a {@link Reader} (the one owner of the framer), writing through an
 * {@link Outbox}, TLS through a {@link StreamTls}: each talks to the stream through one
 * private host object, so none of their hooks is part of the Stream's API.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import * as net from 'node:net';
import type { FileHandle } from 'node:fs/promises';
import type * as tls from 'node:tls';
import { format_address, format_reported, inet_address, parse_address, type Address, type ParsedAddress, type ReportedAddress } from './address.js';
import { Channel, type ChannelOptions } from './channel.js';
import type { ReadDelimiter } from './delimiter.js';
import { ConnectError, ConnectTimeoutError, FileError, SocketError, TlsError, TrousersError, type BufferOverflowError } from './errors.js';
import { Outbox, type OutboxHost } from './outbox.js';
import { mark_onread, READ_OPTIONS, reads_onread, set_read_sink, type ReadSink } from './read_buffer.js';
import { Reader, type ReadHost } from './reader.js';
import { StreamTls, type TlsHost } from './stream_tls.js';
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

/** What the socket's listeners call: the stream's private host, never the Stream itself. */
interface SocketHooks {
  readonly stream: Stream;
  on_data(chunk: Buffer): void;
  on_end(): void;
  on_error(err: Error): void;
  on_close(): void;
  on_idle(): void;
  abandon(): void;
}

/** Everything a stream lends its parts (reader, outbox, TLS, socket listeners). */
type Core = SocketHooks & ReadSink & ReadHost & OutboxHost & TlsHost;

/** The stream a socket belongs to: one set of listener functions serves every socket. */
const OWNER: unique symbol = Symbol('trousers.stream');
type Owned = net.Socket & { [OWNER]?: SocketHooks };

function on_socket_data(this: Owned, chunk: Buffer): void {
  this[OWNER]?.on_data(chunk);
}
function on_socket_end(this: Owned): void {
  this[OWNER]?.on_end();
}
function on_socket_error(this: Owned, err: Error): void {
  this[OWNER]?.on_error(err);
}
function on_socket_close(this: Owned): void {
  this[OWNER]?.on_close();
}
function on_socket_timeout(this: Owned): void {
  this[OWNER]?.on_idle();
}
function ignore(): void {}

/** What a socket's own stream buffer holds (bytes that came before a Stream took it). */
function take_buffered(socket: net.Socket): Buffer {
  const parts: Buffer[] = [];
  for (let part = socket.read() as Buffer | null; part !== null; part = socket.read() as Buffer | null) parts.push(part);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * @internal The stream that drives `socket` (set as soon as a Stream adopts it, before the
 * subclass constructor has finished), or undefined.
 */
export function stream_of(socket: net.Socket): Stream | undefined {
  return (socket as Owned)[OWNER]?.stream;
}

/**
 * @internal Drops the stream that drives `socket` (one whose construction failed): no
 * callback reaches it any more, it leaves the engine, its socket is destroyed.
 * @returns false when no stream had taken the socket
 */
export function abandon_stream_of(socket: net.Socket): boolean {
  const hooks = (socket as Owned)[OWNER];
  if (hooks === undefined) return false;
  hooks.abandon();
  return true;
}

/** Per listening server: its Unix socket path, or null for TCP (asked once, not per accept). */
const server_paths = new WeakMap<net.Server, string | null>();

/** The Unix socket path of an accepted or connected socket, or null for TCP. */
function unix_path_of(socket: net.Socket): string | null {
  const server = (socket as unknown as { server?: net.Server | null }).server;
  if (server !== undefined && server !== null) {
    let path = server_paths.get(server);
    if (path === undefined) {
      const a = server.address();
      path = typeof a === 'string' ? a : null;
      server_paths.set(server, path);
    }
    return path;
  }
  // A socket made by the user: a connected TCP socket knows its peer's address. One still
  // connecting is taken for TCP until it connects (see connected()).
  if (socket.connecting || socket.remoteAddress !== undefined) return null;
  return '';
}

const PEER_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** A TCP or Unix stream socket. Subclass it and override the `on_*` callbacks. */
export class Stream extends Channel {
  /** @internal */
  protected _socket: net.Socket | null = null;
  private st: StreamState = 'idle';
  /** @internal The private host the stream's parts talk to. */
  private readonly core: Core;
  private readonly reader: Reader;
  private outbox: Outbox;
  /** A STARTTLS upgrade's plaintext outbox, still sending what was written before it. */
  private plain_outbox: Outbox | null = null;
  /** TLS state; null until the stream uses TLS. */
  private tls: StreamTls | null = null;
  private unix_path: string | null = null;
  private nodelay = true;
  private user_paused = false;
  private idle_ms = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Printable target of `connect()`; empty for adopted sockets. */
  private target = '';
  private was_connected = false;
  /** The peer has ended its side (its FIN arrived). */
  private peer_ended = false;
  private reason: Error | null = null;
  private linger_ms = 1000;
  private linger_timer: NodeJS.Timeout | undefined;
  /** The plain socket under TLS: addresses are read from it. */
  private net_socket: net.Socket | null = null;
  private pause_reported = false;
  /** Adopted while still connecting: whether it is a Unix socket is known only once connected. */
  private adopted_connecting = false;
  /** Bytes an adopted socket had received before this stream took it (delivered after on_connect). */
  private early: Buffer | null = null;

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
    this.core = this.make_core();
    this.reader = new Reader(this.core);
    this.outbox = this.new_outbox();
    if (options.tls !== undefined) this.tls = new StreamTls(this.core, options.tls, options.secure_context);
    const socket = options.socket;
    if (socket !== undefined) {
      if (!(socket instanceof net.Socket)) throw new TypeError('options.socket must be a net.Socket');
      this.adopt(socket);
    }
  }

  // ------------------------------------------------------------------ state

  /**
   * Where the stream is in its life: `idle`, `connecting`, `handshaking`, `open`,
   * `upgrading`, `closing` or `closed` (see the grammar in the module docs). `closed` means
   * `on_close` has run.
   */
  get state(): StreamState {
    const st = this.st;
    return st === 'closed' && !this._closed ? 'closing' : st;
  }

  /** True while the connection is established and not closing (`open`, or `upgrading` to TLS). */
  get connected(): boolean {
    return this.st === 'open' || this.st === 'upgrading';
  }

  /** True while the connection is being made (`connecting`, or its first TLS `handshaking`). */
  get connecting(): boolean {
    return this.st === 'connecting' || this.st === 'handshaking';
  }

  /** True after `close()` was called, until `on_close`. */
  get closing(): boolean {
    return this.st === 'closing' || (this.st === 'closed' && !this._closed);
  }

  /** The error that ended the stream (a peer reset, say), or null. */
  get close_reason(): Error | null {
    return this.reason;
  }

  /** True once TLS is in place (after its handshake). */
  get secure(): boolean {
    return this.tls !== null && this.tls.secure;
  }

  /** The TLS session's details (protocol, cipher, ALPN, peer certificate), or null without TLS. */
  get tls_info(): TlsInfo | null {
    const s = this._socket;
    return this.secure && s instanceof node_tls().TLSSocket ? tls_info(s) : null;
  }

  /**
   * Milliseconds a graceful close waits, after our FIN has gone out, for the peer to close
   * its side before the socket is closed anyway (default 1000; 0 closes right after FIN).
   */
  get linger(): number {
    return this.linger_ms;
  }

  set linger(ms: number) {
    if (typeof ms !== 'number') throw new TypeError('linger must be a number');
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`linger must be a finite number >= 0, got ${ms}`);
    this.linger_ms = ms;
  }

  /** The peer's address: `{ host, port, family }` for IP, the socket path for Unix. */
  get remote_address(): ReportedAddress | null {
    const s = this.net_socket;
    if (s === null) return null;
    if (this.unix_path !== null) return this.unix_path;
    return inet_address(s.remoteAddress, s.remotePort, s.remoteFamily);
  }

  /** This end's address: `{ host, port, family }` for IP, the socket path for Unix. */
  get local_address(): ReportedAddress | null {
    const s = this.net_socket;
    if (s === null) return null;
    if (this.unix_path !== null) return this.unix_path;
    return inet_address(s.localAddress, s.localPort, s.localFamily);
  }

  /** TCP_NODELAY, on by default (small writes go out at once). */
  get no_delay(): boolean {
    return this.nodelay;
  }

  set no_delay(value: boolean) {
    if (typeof value !== 'boolean') throw new TypeError('no_delay must be a boolean');
    this.nodelay = value;
    if (this._socket !== null && this.unix_path === null && this.st === 'open') this._socket.setNoDelay(value);
  }

  // ------------------------------------------------------------------ reading

  /**
   * How incoming bytes are cut into `on_read` calls (see {@link ReadDelimiter}). May be
   * changed at any time, even inside `on_read`; the change applies at once to bytes already
   * buffered. Invalid values throw and leave the old value in place.
   */
  get read_delimiter(): ReadDelimiter {
    return this.reader.value;
  }

  set read_delimiter(value: ReadDelimiter) {
    this.reader.set(value); // (inside on_read the running loop re-reads it)
  }

  /** RegExp delimiters: search for the first match (true, default) or match at the start. */
  get regex_search(): boolean {
    return this.reader.regex_search;
  }

  set regex_search(value: boolean) {
    if (typeof value !== 'boolean') throw new TypeError('regex_search must be a boolean');
    this.reader.regex_search = value;
    this.reader.schedule();
  }

  /** When set (e.g. `'utf8'`), `on_read` receives strings instead of Buffers. Default null. */
  get encoding(): BufferEncoding | null {
    return this.reader.encoding;
  }

  set encoding(value: BufferEncoding | null) {
    this.reader.encoding = value;
  }

  /**
   * Most unframed bytes to hold (default 65536; at least the size of an integer or Struct
   * delimiter). Above it, reading pauses and `on_overflow_error` runs.
   */
  get buffer_size(): number {
    return this.reader.size_limit;
  }

  set buffer_size(value: number) {
    if (typeof value !== 'number') throw new TypeError('buffer_size must be a number');
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`buffer_size must be a positive integer, got ${value}`);
    this.reader.size_limit = value;
    this.reader.schedule();
  }

  /** Bytes received and not yet delivered to `on_read`. */
  get read_buffer_size(): number {
    return this.reader.buffered;
  }

  /** Stops reading (and delivering buffered frames) until {@link Stream.resume_reading}. */
  pause_reading(): void {
    if (this.user_paused) return;
    this.user_paused = true;
    this._socket?.pause();
  }

  /** Resumes reading; frames already buffered are delivered on a later tick. */
  resume_reading(): void {
    if (!this.user_paused) return;
    this.user_paused = false;
    // (Not the plain socket of a STARTTLS upgrade still waiting for its TLS layer: its bytes
    // are the handshake's, and the TLS bridge resumes it when it reads.)
    const waiting_for_tls = this.tls !== null && this.tls.upgrading && this.plain_outbox !== null;
    if (!this.reader.overflowed && !waiting_for_tls) this._socket?.resume();
    this.reader.schedule();
  }

  /** True while reading is paused by {@link Stream.pause_reading}. */
  get reading_paused(): boolean {
    return this.user_paused;
  }

  /** Idle timeout in ms (0 = off, the default): no data either way for that long calls `on_timeout`. */
  get idle_timeout(): number {
    return this.idle_ms;
  }

  set idle_timeout(ms: number) {
    if (typeof ms !== 'number') throw new TypeError('idle_timeout must be a number');
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`idle_timeout must be a finite number >= 0, got ${ms}`);
    this.idle_ms = ms;
    if (this._socket !== null && this.st !== 'closed') this.arm_idle(this._socket);
  }

  // ------------------------------------------------------------------ writing

  /**
   * Queues bytes (a string is sent as UTF-8), in order with earlier writes and files.
   * Before the connection is up, data is queued and sent once connected.
   * @returns false when the write buffer is above its high water mark: stop until `on_resume_writing`
   * @throws ChannelClosedError after `close()`
   */
  write(data: string | Uint8Array): boolean {
    const state = this.st;
    if (state === 'closing' || state === 'closed' || this._closed) this._check_open('write', true);
    if (Buffer.isBuffer(data)) return this.outbox.write(data);
    if (typeof data === 'string') return this.outbox.write(Buffer.from(data, 'utf8'));
    if (data instanceof Uint8Array) {
      return this.outbox.write(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    }
    throw new TypeError(`write() takes a string or bytes, got ${data === null ? 'null' : typeof data}`);
  }

  /**
   * Packs `values` with the current `Struct` read delimiter and writes them.
   * @throws TypeError when `read_delimiter` is not a Struct
   */
  write_packed(...values: unknown[]): boolean {
    const d = this.reader.delimiter;
    if (!(d instanceof Struct)) throw new TypeError('write_packed needs a Struct read_delimiter');
    return this.write(d.pack(...values));
  }

  /**
   * Streams a file, in order with `write()`, in bounded memory. `file` is a path (opened and
   * always closed again here), a descriptor or a `FileHandle` (both stay yours to close).
   * Errors go to `on_error` and close the stream.
   */
  write_file(file: string | number | FileHandle, options: WriteFileOptions = {}): void {
    this._check_open('write_file', this.st === 'closing' || this.st === 'closed');
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
    this.outbox.write_file(file, offset, nbytes);
  }

  /** Bytes waiting to go out: queued here plus held by the socket. */
  get write_buffer_size(): number {
    return this.outbox.size;
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
    this.outbox.high = high;
    this.outbox.low = low;
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
    if (this.st !== 'idle' || this._closed) {
      this._check_open('connect', this.st === 'closing' || this.st === 'closed');
      throw new TrousersError('ERR_ALREADY_CONNECTED', `${this.toString()} is already ${this.st}`);
    }
    this.target = format_address(parsed);
    this.st = 'connecting';
    const host = parsed.kind === 'inet' ? (parsed.host ?? 'localhost') : undefined;
    let socket: net.Socket;
    if (this.tls !== null) {
      this.tls.connect_host = host;
      socket = this.tls.connect_client(parsed.kind === 'unix' ? { path: parsed.path } : { host: host!, port: parsed.port }, parsed);
    } else {
      socket = new net.Socket({ allowHalfOpen: true, onread: READ_OPTIONS } as net.SocketConstructorOpts);
      mark_onread(socket);
      this.attach(socket, parsed);
      if (parsed.kind === 'unix') socket.connect({ path: parsed.path });
      else socket.connect({ host: host!, port: parsed.port });
    }
    if (timeout !== undefined) {
      this.arm_timer(timeout, () => {
        const st = this.st;
        if (st !== 'connecting' && st !== 'handshaking' && !(st === 'closing' && !this.was_connected)) return;
        this.st = 'closed';
        this.outbox.abort();
        socket.destroy();
        if (this.was_connected) this._call('on_ssl_handshake_error', new TlsError({ cause: new ConnectTimeoutError(this.target, timeout) }));
        else this._call('on_connect_error', new ConnectTimeoutError(this.target, timeout));
      });
    }
    return this;
  }

  /**
   * Closes the stream. Graceful by default: everything queued (files included) is sent,
   * then FIN, then `on_close`. `close(false)` closes at once and drops queued output.
   * Idempotent; no `on_read` is delivered after it.
   */
  close(flush = true): void {
    const state = this.st;
    if (state === 'closing' && flush) return;
    if (state === 'closed') return;
    const socket = this._socket;
    if (socket === null) {
      this.st = 'closed';
      process.nextTick(() => this._finish_close());
      return;
    }
    if (!flush || ((state === 'connecting' || state === 'handshaking') && this.outbox.idle)) {
      this.st = 'closed';
      this.clear_timer();
      this.outbox.abort();
      this.plain_outbox?.abort();
      socket.destroy();
      this.net_socket?.destroy();
      return;
    }
    this.st = 'closing';
    // Keep reading (and discarding) so the peer's FIN is seen and nothing unread
    // turns our close into a reset.
    this.reader.discard();
    // (A socket reading through onread is reading already unless it was paused.)
    if (!reads_onread(socket) || socket.isPaused()) socket.resume();
    if (state === 'open') this.outbox.flush();
    if (this.outbox.idle) this.finish_flush();
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
    this._check_open('start_tls', this.st === 'closing' || this.st === 'closed');
    if (this.tls !== null) throw new TrousersError('ERR_TLS_ACTIVE', `${this.toString()} already uses TLS`);
    if (this.st !== 'open') throw new TrousersError('ERR_NOT_CONNECTED', 'start_tls needs a connected stream');
    this.tls = new StreamTls(this.core, null, undefined);
    this.tls.start(options, options.isServer ?? this.target === '');
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
    if (this._socket === null) return this.state;
    return `${format_reported(this.local_address)} -> ${this.target || format_reported(this.remote_address)}`;
  }

  /** The private host: what the reader, the outbox, the TLS lifecycle and the socket's listeners may do. */
  private make_core(): Core {
    return {
      stream: this,
      channel: this,
      // socket listeners
      on_data: (chunk) => this.socket_data(chunk),
      on_end: () => this.socket_end(),
      on_error: (err) => this.socket_error(err),
      on_close: () => this.socket_close(),
      on_idle: () => this.idled(),
      unframed: () => this.reader.buffered,
      abandon: () => this.abandon(),
      // reader
      can_read: () => this.st === 'open' && !this.user_paused,
      pause_socket: () => this._socket?.pause(),
      resume_socket: () => this._socket?.resume(),
      ended: () => {
        if (this.st === 'open') this.close(true);
      },
      // outbox
      written: () => this.written(),
      pause_writing: () => process.nextTick(() => this.report_pause()),
      resume_writing: () => this.report_resume(),
      file_failed: (err) => {
        if (this.st === 'closed') return;
        this._error(new FileError({ cause: err }));
        this.close(false);
      },
      // TLS
      state: () => this.st,
      set_state: (state) => {
        this.st = state;
      },
      socket: () => this._socket,
      attach: (socket, address, role) => this.attach(socket, address, role),
      detach: (socket) => this.detach(socket),
      quiet: (socket) => {
        socket.off('data', on_socket_data);
        set_read_sink(socket, null);
        socket.off('end', on_socket_end);
        socket.pause();
      },
      swap_outbox: () => {
        // Plaintext written so far goes out first, on the plain socket.
        this.outbox.flush();
        const plain = this.outbox;
        this.plain_outbox = plain;
        this.outbox = this.new_outbox();
        return plain;
      },
      plain_done: () => {
        this.plain_outbox = null;
      },
      take_unread: () => this.reader.take_all(),
      tcp_up: () => {
        this.was_connected = true;
      },
      connected: () => this.connected_now(true),
      upgraded: (socket) => this.upgraded(socket),
      arm_timer: (ms, fn) => this.arm_timer(ms, fn),
      clear_timer: () => this.clear_timer(),
      abort: (err) => {
        this.st = 'closed';
        this.reason = err;
        this.outbox.abort();
        this._socket?.destroy();
        this.net_socket?.destroy();
      },
    };
  }

  private new_outbox(): Outbox {
    const outbox = new Outbox(this.core);
    if (this.outbox !== undefined) {
      outbox.high = this.outbox.high;
      outbox.low = this.outbox.low;
    }
    return outbox;
  }

  /** The outbox: everything written so far is with the OS. */
  private written(): void {
    if (this.st === 'open') this._call('on_write');
    else if (this.st === 'closing' && !(this.tls !== null && (this.tls.upgrading || this.tls.handshaking))) this.finish_flush();
  }

  /** Delivers `on_pause_writing` once per pause, only on an open stream (else after on_connect). */
  private report_pause(): void {
    if (this.st !== 'open' || this.pause_reported || !this.outbox.paused) return;
    this.pause_reported = true;
    this._call('on_pause_writing');
  }

  /** The outbox is down to its low water mark: never a resume without its pause. */
  private report_resume(): void {
    if (!this.pause_reported) return;
    this.pause_reported = false;
    if (this.st === 'open') this._call('on_resume_writing');
  }

  private adopt(socket: net.Socket): void {
    if (socket.destroyed) throw new TypeError('options.socket is already destroyed');
    (socket as Owned)[OWNER] = this.core; // (under TLS, the TLS socket above gets the mark too)
    const path = unix_path_of(socket);
    const address: ParsedAddress | null = path !== null ? { kind: 'unix', path } : null;
    if (this.tls !== null && !(socket instanceof node_tls().TLSSocket)) {
      // The server side of a connection that is TLS from the start.
      this.net_socket = socket;
      this.was_connected = !socket.connecting;
      this.tls.adopt_server(socket, address);
      return;
    }
    this.st = socket.connecting ? 'connecting' : 'open';
    this.adopted_connecting = socket.connecting;
    this.attach(socket, address);
    if (this.st === 'open') this.connected_now();
  }

  /** Applies `idle_timeout` to `socket`; its 'timeout' listener is added only once one is set. */
  private arm_idle(socket: net.Socket): void {
    if (this.idle_ms > 0 && !socket.listeners('timeout').includes(on_socket_timeout)) socket.on('timeout', on_socket_timeout);
    socket.setTimeout(this.idle_ms);
  }

  /**
   * Puts our listeners on `socket`. `role` says which TLS side it is: the TLS lifecycle
   * watches its handshake.
   */
  private attach(socket: net.Socket, address: ParsedAddress | null, role?: 'server' | 'client'): void {
    this._socket = socket;
    this.net_socket ??= socket;
    if (address?.kind === 'unix') this.unix_path = address.path;
    this._register();
    (socket as Owned)[OWNER] = this.core;
    if (reads_onread(socket)) {
      set_read_sink(socket, this.core);
      // Bytes that arrived before (an on_accept that adopted the socket later) wait in Node's
      // stream buffer: take them, to deliver after on_connect.
      if (socket.readableLength > 0) this.early = take_buffered(socket);
    } else {
      socket.on('data', on_socket_data);
    }
    socket.on('end', on_socket_end);
    socket.on('error', on_socket_error);
    socket.on('close', on_socket_close);
    if (role !== undefined) this.tls!.watch(socket, role);
    else if (this.st === 'connecting') socket.once('connect', () => this.connected_now());
  }

  private detach(socket: net.Socket): void {
    socket.off('data', on_socket_data);
    set_read_sink(socket, null);
    socket.off('end', on_socket_end);
    socket.off('error', on_socket_error);
    socket.off('close', on_socket_close);
    socket.off('timeout', on_socket_timeout);
    socket.on('error', ignore); // the TLS socket above reports failures now
    delete (socket as Owned)[OWNER];
  }

  /** Drops a stream whose construction failed (see `abandon_stream_of`). */
  private abandon(): void {
    const socket = this._socket;
    this.st = 'closed';
    this._closed = true;
    this.clear_timer();
    this.outbox.abort();
    if (socket !== null) {
      this.detach(socket);
      socket.destroy();
    }
    this.net_socket?.destroy();
    this.engine._remove(this);
  }

  /** An adopted socket's on_connect, on the tick after adoption. */
  private connect_later(): void {
    if (this.st !== 'open') return; // closed before it was reported: on_close alone
    this._call('on_connect');
    this.report_pause();
    const early = this.early;
    if (early !== null) {
      this.early = null;
      this.socket_data(early);
    }
  }

  /** The socket idled for `idle_timeout` ms. */
  private idled(): void {
    if (this.st === 'open') this._call('on_timeout');
    else if (this.st !== 'closed') this.close(false); // a graceful close that stalled
  }

  /** A STARTTLS handshake is done: open again (or finish a close requested meanwhile). */
  private upgraded(socket: net.Socket): void {
    const was_closing = this.st === 'closing';
    if (!was_closing) this.st = 'open';
    if (this.idle_ms > 0) this.arm_idle(socket);
    if (this.user_paused) socket.pause();
    this.outbox.attach(socket);
    if (was_closing) {
      this.outbox.flush();
      if (this.outbox.idle) this.finish_flush();
      return;
    }
    this._call('on_ssl_handshake');
    this.reader.schedule();
  }

  /** The connection (and its first TLS handshake, if any) is up. */
  private connected_now(direct = false): void {
    this.clear_timer();
    this.was_connected = true;
    const socket = this._socket!;
    // An adopted socket that was still connecting: only now can a Unix one be told from TCP.
    if (this.adopted_connecting && this.unix_path === null && socket.remoteAddress === undefined) this.unix_path = '';
    if (this.unix_path === null) socket.setNoDelay(this.nodelay);
    if (this.idle_ms > 0) this.arm_idle(socket);
    if (this.user_paused) socket.pause();
    this.outbox.attach(socket);
    const st = this.st;
    if (st === 'closing') {
      this.outbox.flush();
      if (this.outbox.idle) this.finish_flush();
      return;
    }
    if (st !== 'connecting' && st !== 'handshaking' && st !== 'open') return;
    this.st = 'open';
    if (!direct && socket.connecting === false && this.target === '') {
      // Adopted sockets: report on_connect on a later tick, before any data can arrive.
      process.nextTick(() => this.connect_later());
      return;
    }
    this._call('on_connect');
    this.report_pause();
  }

  /** Bytes from the socket. */
  private socket_data(chunk: Buffer): void {
    if (this.st !== 'open') return; // closing: discard
    const outbox = this.outbox;
    outbox.hold();
    try {
      this.reader.feed(chunk);
    } finally {
      // Replies written while handling this read go out as one write, now.
      outbox.unhold();
      if (outbox !== this.outbox) this.outbox.unhold(); // start_tls swapped it meanwhile
    }
  }

  /** The peer ended its side. */
  private socket_end(): void {
    this.peer_ended = true;
    const tls = this.tls;
    if (tls !== null && tls.handshaking && this.st !== 'closed') {
      tls.fail(Object.assign(new Error('the peer closed the connection during the TLS handshake'), { code: 'ECONNRESET' }));
      return;
    }
    if (this.st !== 'open') return;
    this.reader.end();
  }

  private finish_flush(): void {
    const socket = this._socket;
    if (socket === null || socket.destroyed || socket.writableEnded) return;
    socket.end();
    // Wait a little for the peer's FIN (so unread bytes do not turn into a reset), not forever.
    // When the peer has ended already, Node closes the socket as soon as our FIN is out.
    if (this.linger_timer === undefined && !this.peer_ended) {
      this.linger_timer = setTimeout(() => {
        this.linger_timer = undefined;
        if (this.st !== 'closed') {
          this.st = 'closed';
          socket.destroy();
          this.net_socket?.destroy();
        }
      }, this.linger_ms);
    }
  }

  /** A socket error. */
  private socket_error(err: Error): void {
    const code = (err as NodeJS.ErrnoException).code;
    const tls = this.tls;
    if (tls !== null && tls.handshaking && this.was_connected && this.st !== 'closed') {
      tls.fail(err);
      return;
    }
    if (!this.was_connected && this.st !== 'closed') {
      this.clear_timer();
      this.st = 'closed';
      this.reason = err;
      this._call('on_connect_error', new ConnectError(this.target, { cause: err }));
      return;
    }
    this.reason = err;
    if (this.st === 'closed') return;
    if (code !== undefined && PEER_GONE.has(code)) {
      this.st = 'closed';
      this.outbox.abort();
      return;
    }
    this._error(new SocketError({ cause: err }));
  }

  /** The socket has closed. */
  private socket_close(): void {
    this.clear_timer();
    if (this.linger_timer !== undefined) {
      clearTimeout(this.linger_timer);
      this.linger_timer = undefined;
    }
    this.st = 'closed';
    this.outbox.abort();
    this.plain_outbox?.abort();
    this.net_socket?.destroy();
    this._finish_close();
  }

  /** The one connect / handshake timer. */
  private arm_timer(ms: number, fn: () => void): void {
    this.clear_timer();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      fn();
    }, ms);
  }

  private clear_timer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
