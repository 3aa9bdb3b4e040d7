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
 * The life of a stream, as a grammar (each callback at most where shown):
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
 * - `on_connect` runs before any `on_read`; `on_close` runs exactly once, last.
 * - No callback runs inside the call that caused it: `connect`, `write`, `write_file` and
 *   `close` return first.
 * - End of stream from the peer: complete frames are delivered, then bytes that do not make
 *   a whole frame go to `on_incomplete(rest)`, then the stream closes gracefully, so replies
 *   written in those callbacks are still sent.
 * - A peer reset (`ECONNRESET`, `EPIPE`) closes the stream without `on_error`;
 *   `close_reason` then holds the error. Other socket errors go to `on_error`.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import * as net from 'node:net';
import type { FileHandle } from 'node:fs/promises';
import type * as tls from 'node:tls';
import { format_address, format_reported, inet_address, parse_address, type Address, type ParsedAddress, type ReportedAddress } from './address.js';
import { Channel, type ChannelOptions } from './channel.js';
import { read_limit, type ReadDelimiter } from './delimiter.js';
import {
  BufferOverflowError,
  ConnectError,
  ConnectTimeoutError,
  FileError,
  SocketError,
  TlsError,
  TrousersError,
} from './errors.js';
import { NO_FRAME } from './framing.js';
import { Outbox, type OutboxHost } from './outbox.js';
import { mark_onread, READ_OPTIONS, reads_onread, set_read_sink } from './read_buffer.js';
import { Reader } from './reader.js';
import { Struct } from './struct.js';
import { Bridge, node_tls, tls_client_over, tls_connect, tls_info, tls_server, type TlsInfo, type TlsOptions } from './tls.js';

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

type State = 'idle' | 'connecting' | 'open' | 'closing' | 'closed';

/** The stream a socket belongs to: one set of listener functions serves every socket. */
const OWNER: unique symbol = Symbol('trousers.stream');
type Owned = net.Socket & { [OWNER]?: Stream };

function on_socket_data(this: Owned, chunk: Buffer): void {
  this[OWNER]?._on_data(chunk);
}
function on_socket_end(this: Owned): void {
  this[OWNER]?._on_end();
}
function on_socket_error(this: Owned, err: Error): void {
  this[OWNER]?._on_socket_error(err);
}
function on_socket_close(this: Owned): void {
  this[OWNER]?._on_socket_close();
}
function on_socket_timeout(this: Owned): void {
  this[OWNER]?._on_idle();
}
function ignore(): void {}

/** What a socket's own stream buffer holds (bytes that came before a Stream took it). */
function take_buffered(socket: net.Socket): Buffer {
  const parts: Buffer[] = [];
  for (let part = socket.read() as Buffer | null; part !== null; part = socket.read() as Buffer | null) parts.push(part);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** An adopted socket's on_connect, on the tick after adoption. */
function connect_later(stream: Stream): void {
  stream._connect_later();
}

/**
 * @internal The stream that drives `socket` (set as soon as a Stream adopts it, before the
 * subclass constructor has finished), or undefined.
 */
export function stream_of(socket: net.Socket): Stream | undefined {
  return (socket as Owned)[OWNER];
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
  // connecting is taken for TCP until it connects (see on_connected).
  if (socket.connecting || socket.remoteAddress !== undefined) return null;
  return '';
}


/** Milliseconds a server-side TLS handshake may take by default. */
const HANDSHAKE_TIMEOUT = 30000;

const PEER_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** A TCP or Unix stream socket. Subclass it and override the `on_*` callbacks. */
export class Stream extends Channel implements OutboxHost {
  /** @internal */
  protected _socket: net.Socket | null = null;
  private state: State = 'idle';
  private readonly reader = new Reader();
  private outbox: Outbox;
  /** A STARTTLS upgrade's plaintext outbox, still sending what was written before it. */
  private plain_outbox: Outbox | null = null;
  private unix_path: string | null = null;
  private nodelay = true;
  private user_paused = false;
  private overflowed = false;
  private dispatching = false;
  private drain_scheduled = false;
  private eof = false;
  private size_limit = 65536;
  private idle_ms = 0;
  private connect_timer: NodeJS.Timeout | undefined;
  /** Printable target of `connect()`; empty for adopted sockets. */
  private target = '';
  private was_connected = false;
  private reason: Error | null = null;
  private linger_ms = 1000;
  private linger_timer: NodeJS.Timeout | undefined;
  /** The plain socket under TLS: addresses are read from it. */
  private net_socket: net.Socket | null = null;
  private readonly tls_options: TlsOptions | null;
  private readonly secure_context: tls.SecureContext | undefined;
  private handshaking = false;
  private upgrading = false;
  private is_secure = false;
  private connect_host: string | undefined;
  private upgrade_options: TlsOptions | null = null;
  private pause_reported = false;
  /** Adopted while still connecting: whether it is a Unix socket is known only once connected. */
  private adopted_connecting = false;
  /** Bytes an adopted socket had received before this stream took it (delivered after on_connect). */
  private early: Buffer | null = null;

  /**
   * @param options - `{ engine, socket }`; with `socket`, the stream drives that socket and
   *   `on_connect` follows on a later tick (or when it finishes connecting).
   */
  constructor(options: StreamOptions = {}) {
    super(options);
    if (options.tls !== undefined && (options.tls === null || typeof options.tls !== 'object')) {
      throw new TypeError('options.tls must be an object of TLS options');
    }
    this.tls_options = options.tls ?? null;
    this.secure_context = options.secure_context;
    this.outbox = this.new_outbox();
    const socket = options.socket;
    if (socket !== undefined) {
      if (!(socket instanceof net.Socket)) throw new TypeError('options.socket must be a net.Socket');
      this.adopt(socket);
    }
  }

  /** @internal OutboxHost: everything written so far is with the OS. */
  written(): void {
    if (this.state === 'open') this._call('on_write');
    else if (this.state === 'closing' && !this.upgrading && !this.handshaking) this.finish_flush();
  }

  /** @internal OutboxHost: above the high water mark (reported on a later tick). */
  pause_writing(): void {
    process.nextTick(() => this.report_pause());
  }

  /** Delivers `on_pause_writing` once per pause, only on an open stream (else after on_connect). */
  private report_pause(): void {
    if (this.state !== 'open' || this.pause_reported || !this.outbox.paused) return;
    this.pause_reported = true;
    this._call('on_pause_writing');
  }

  /** @internal OutboxHost: down to the low water mark. */
  resume_writing(): void {
    if (!this.pause_reported) return; // never a resume without its pause
    this.pause_reported = false;
    if (this.state === 'open') this._call('on_resume_writing');
  }

  /** @internal OutboxHost: a file could not be sent. */
  file_failed(err: unknown): void {
    if (this.state === 'closed') return;
    this._error(new FileError({ cause: err }));
    this.close(false);
  }

  private new_outbox(): Outbox {
    const outbox = new Outbox(this);
    if (this.outbox !== undefined) {
      outbox.high = this.outbox.high;
      outbox.low = this.outbox.low;
    }
    return outbox;
  }

  // ------------------------------------------------------------------ state

  /** True while the connection is established and not closing. */
  get connected(): boolean {
    return this.state === 'open';
  }

  /** True while a connection attempt is in progress. */
  get connecting(): boolean {
    return this.state === 'connecting';
  }

  /** True after `close()` was called, until `on_close`. */
  get closing(): boolean {
    return this.state === 'closing' || (this.state === 'closed' && !this._closed);
  }

  /** The error that ended the stream (a peer reset, say), or null. */
  get close_reason(): Error | null {
    return this.reason;
  }

  /** True once TLS is in place (after its handshake). */
  get secure(): boolean {
    return this.is_secure;
  }

  /** The TLS session's details (protocol, cipher, ALPN, peer certificate), or null without TLS. */
  get tls_info(): TlsInfo | null {
    const s = this._socket;
    return this.is_secure && s instanceof node_tls().TLSSocket ? tls_info(s) : null;
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
    if (this._socket !== null && this.unix_path === null && this.state === 'open') this._socket.setNoDelay(value);
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
    this.reader.set(value);
    if (!this.dispatching) this.schedule_drain(); // inside on_read the running loop re-reads it
  }

  /** RegExp delimiters: search for the first match (true, default) or match at the start. */
  get regex_search(): boolean {
    return this.reader.regex_search;
  }

  set regex_search(value: boolean) {
    if (typeof value !== 'boolean') throw new TypeError('regex_search must be a boolean');
    this.reader.regex_search = value;
    this.schedule_drain();
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
    return this.size_limit;
  }

  set buffer_size(value: number) {
    if (typeof value !== 'number') throw new TypeError('buffer_size must be a number');
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`buffer_size must be a positive integer, got ${value}`);
    this.size_limit = value;
    this.schedule_drain();
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
    const waiting_for_tls = this.upgrading && this.plain_outbox !== null;
    if (!this.overflowed && !waiting_for_tls) this._socket?.resume();
    this.schedule_drain();
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
    if (this._socket !== null && this.state !== 'closed') this.arm_idle(this._socket);
  }

  // ------------------------------------------------------------------ writing

  /**
   * Queues bytes (a string is sent as UTF-8), in order with earlier writes and files.
   * Before the connection is up, data is queued and sent once connected.
   * @returns false when the write buffer is above its high water mark: stop until `on_resume_writing`
   * @throws ChannelClosedError after `close()`
   */
  write(data: string | Uint8Array): boolean {
    const state = this.state;
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
    this._check_open('write_file', this.state === 'closing' || this.state === 'closed');
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
    if (this.state !== 'idle' || this._closed) {
      this._check_open('connect', this.state === 'closing' || this.state === 'closed');
      throw new TrousersError('ERR_ALREADY_CONNECTED', `${this.toString()} is already ${this.state}`);
    }
    this.target = format_address(parsed);
    this.state = 'connecting';
    const host = parsed.kind === 'inet' ? (parsed.host ?? 'localhost') : undefined;
    this.connect_host = host;
    let socket: net.Socket;
    if (this.tls_options !== null) {
      socket = tls_connect(this.tls_options, parsed.kind === 'unix' ? { path: parsed.path } : { host: host!, port: parsed.port });
      this.attach(socket, parsed, 'client');
    } else {
      socket = new net.Socket({ allowHalfOpen: true, onread: READ_OPTIONS } as net.SocketConstructorOpts);
      mark_onread(socket);
      this.attach(socket, parsed);
      if (parsed.kind === 'unix') socket.connect({ path: parsed.path });
      else socket.connect({ host: host!, port: parsed.port });
    }
    if (timeout !== undefined) {
      this.connect_timer = setTimeout(() => {
        this.connect_timer = undefined;
        if (this.state !== 'connecting' && !(this.state === 'closing' && !this.was_connected)) return;
        this.state = 'closed';
        this.outbox.abort();
        socket.destroy();
        if (this.was_connected) this._call('on_ssl_handshake_error', new TlsError({ cause: new ConnectTimeoutError(this.target, timeout) }));
        else this._call('on_connect_error', new ConnectTimeoutError(this.target, timeout));
      }, timeout);
    }
    return this;
  }

  /**
   * Closes the stream. Graceful by default: everything queued (files included) is sent,
   * then FIN, then `on_close`. `close(false)` closes at once and drops queued output.
   * Idempotent; no `on_read` is delivered after it.
   */
  close(flush = true): void {
    const state = this.state;
    if (state === 'closing' && flush) return;
    if (state === 'closed') return;
    const socket = this._socket;
    if (socket === null) {
      this.state = 'closed';
      process.nextTick(() => this._finish_close());
      return;
    }
    if (!flush || (state === 'connecting' && this.outbox.idle && !this.upgrading)) {
      this.state = 'closed';
      this.clear_connect_timer();
      this.outbox.abort();
      this.plain_outbox?.abort();
      socket.destroy();
      this.net_socket?.destroy();
      return;
    }
    this.state = 'closing';
    // Keep reading (and discarding) so the peer's FIN is seen and nothing unread
    // turns our close into a reset.
    if (this.reader.buffered > 0) this.reader.framer.clear();
    // (A socket reading through onread is reading already unless it was paused.)
    if (!reads_onread(socket) || socket.isPaused()) socket.resume();
    if (state !== 'connecting') this.outbox.flush();
    if (this.outbox.idle) this.finish_flush();
  }

  /**
   * Upgrades this connected plaintext stream to TLS in place (STARTTLS). Writes made before
   * the call go out in plaintext first; writes after it are queued and sent encrypted once
   * the handshake is done. Bytes already received behind the current frame go to TLS, not
   * to `on_read`. The role follows the channel (accepted: TLS server; connected out: TLS
   * client) unless `options.isServer` says otherwise. A client verifies the server's
   * certificate and host name unless `rejectUnauthorized: false`. `on_ssl_handshake` follows
   * (not `on_connect`), or `on_ssl_handshake_error` and close.
   * @throws ChannelClosedError after `close()`; TrousersError `ERR_TLS_ACTIVE` when TLS is on already
   */
  start_tls(options: TlsOptions = {}): void {
    if (options === null || typeof options !== 'object') throw new TypeError('start_tls options must be an object');
    this._check_open('start_tls', this.state === 'closing' || this.state === 'closed');
    if (this.is_secure || this.upgrading || this.handshaking || this.tls_options !== null) {
      throw new TrousersError('ERR_TLS_ACTIVE', `${this.toString()} already uses TLS`);
    }
    if (this.state !== 'open') throw new TrousersError('ERR_NOT_CONNECTED', 'start_tls needs a connected stream');
    const raw = this._socket!;
    const as_server = options.isServer ?? this.target === '';
    this.upgrading = true;
    this.state = 'connecting';
    // Plaintext written so far goes out first, on the plain socket.
    this.outbox.flush();
    const plain = this.outbox;
    this.plain_outbox = plain;
    this.outbox = this.new_outbox();
    // Bytes behind the current frame belong to the TLS handshake.
    const leftover = this.reader.buffered > 0 ? this.reader.framer.take_all() : null;
    raw.off('data', on_socket_data);
    set_read_sink(raw, null);
    raw.off('end', on_socket_end);
    raw.pause();
    const wrap = (): void => {
      if (this.state === 'closed') return;
      this.detach(raw);
      this.plain_outbox = null;
      const bridge = new Bridge(raw, leftover);
      const secure = as_server
        ? tls_server(bridge, options)
        : tls_client_over(bridge, { ...(this.tls_options ?? {}), ...options }, this.connect_host);
      this.handshaking = true;
      this.upgrade_options = options;
      this.attach(secure, null, as_server ? 'server' : 'client');
      if (as_server) this.arm_handshake_timer(options);
    };
    plain.when_files_done(wrap);
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

  private adopt(socket: net.Socket): void {
    if (socket.destroyed) throw new TypeError('options.socket is already destroyed');
    (socket as Owned)[OWNER] = this; // (under TLS, the TLS socket above gets the mark too)
    const path = unix_path_of(socket);
    const address: ParsedAddress | null = path !== null ? { kind: 'unix', path } : null;
    if (this.tls_options !== null && !(socket instanceof node_tls().TLSSocket)) {
      // The server side of a connection that is TLS from the start.
      this.net_socket = socket;
      this.was_connected = !socket.connecting;
      this.state = 'connecting';
      this.handshaking = true;
      this.attach(tls_server(socket, this.tls_options, this.secure_context), address, 'server');
      this.arm_handshake_timer(this.tls_options);
      return;
    }
    this.state = socket.connecting ? 'connecting' : 'open';
    this.adopted_connecting = socket.connecting;
    this.attach(socket, address);
    if (this.state === 'open') this.on_connected();
  }

  /** Applies `idle_timeout` to `socket`; its 'timeout' listener is added only once one is set. */
  private arm_idle(socket: net.Socket): void {
    if (this.idle_ms > 0 && !socket.listeners('timeout').includes(on_socket_timeout)) socket.on('timeout', on_socket_timeout);
    socket.setTimeout(this.idle_ms);
  }

  private arm_handshake_timer(options: TlsOptions): void {
    const ms = (options as { handshake_timeout?: number }).handshake_timeout ?? HANDSHAKE_TIMEOUT;
    this.clear_connect_timer();
    this.connect_timer = setTimeout(() => {
      this.connect_timer = undefined;
      if (!this.handshaking || this.state === 'closed') return;
      this.handshake_failed(Object.assign(new Error(`TLS handshake not done within ${ms} ms`), { code: 'ETIMEDOUT' }));
    }, ms);
  }

  /**
   * Puts our listeners on `socket`. `role` says which TLS side it is: a TLS server side
   * reports its handshake as 'secure', a client side as 'secureConnect'.
   */
  private attach(socket: net.Socket, address: ParsedAddress | null, role?: 'server' | 'client'): void {
    this._socket = socket;
    this.net_socket ??= socket;
    if (address?.kind === 'unix') this.unix_path = address.path;
    this._register();
    (socket as Owned)[OWNER] = this;
    if (reads_onread(socket)) {
      set_read_sink(socket, this);
      // Bytes that arrived before (an on_accept that adopted the socket later) wait in Node's
      // stream buffer: take them, to deliver after on_connect.
      if (socket.readableLength > 0) this.early = take_buffered(socket);
    } else {
      socket.on('data', on_socket_data);
    }
    socket.on('end', on_socket_end);
    socket.on('error', on_socket_error);
    socket.on('close', on_socket_close);
    if (role !== undefined) {
      if (role === 'client' && !this.handshaking) {
        socket.once('connect', () => {
          this.was_connected = true;
          this.handshaking = true;
        });
      }
      socket.once(role === 'server' ? 'secure' : 'secureConnect', () => this.secured(role));
    } else if (this.state === 'connecting') {
      socket.once('connect', () => this.on_connected());
    }
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

  /**
   * @internal Drops a stream whose construction failed: no callback reaches it any more, it
   * leaves the engine, and its socket is destroyed.
   */
  _abandon(): void {
    const socket = this._socket;
    this.state = 'closed';
    this._closed = true;
    this.clear_connect_timer();
    this.outbox.abort();
    if (socket !== null) {
      this.detach(socket);
      socket.destroy();
    }
    this.net_socket?.destroy();
    this.engine._remove(this);
  }

  /** @internal See connect_later. */
  _connect_later(): void {
    if (this.state !== 'open') return; // closed before it was reported: on_close alone
    this._call('on_connect');
    this.report_pause();
    const early = this.early;
    if (early !== null) {
      this.early = null;
      this._on_data(early);
    }
  }

  /** @internal The socket idled for `idle_timeout` ms. */
  _on_idle(): void {
    if (this.state === 'open') this._call('on_timeout');
    else if (this.state !== 'closed') this.close(false); // a graceful close that stalled
  }

  private secured(role: 'server' | 'client'): void {
    const socket = this._socket as tls.TLSSocket;
    if (!this.handshaking || this.state === 'closed') return;
    const opts = this.upgrade_options ?? this.tls_options ?? {};
    if (role === 'server' && opts.requestCert === true) {
      // A TLSSocket made with isServer (not by a tls.Server) does not judge the client's
      // certificate itself: ask the TLS handle, as tls.Server does.
      const verify = (socket as unknown as { _handle?: { verifyError?: () => { code?: string } | null } })._handle?.verifyError;
      const problem = typeof verify === 'function' ? verify.call((socket as unknown as { _handle: object })._handle) : { code: 'UNVERIFIABLE' };
      const code = problem === null ? null : String(problem.code ?? 'UNAUTHORIZED');
      const judged = socket as unknown as { authorized: boolean; authorizationError: string | undefined };
      judged.authorized = code === null;
      judged.authorizationError = code ?? undefined;
      if (code !== null && opts.rejectUnauthorized !== false) {
        this.handshake_failed(Object.assign(new Error(`peer certificate rejected: ${code}`), { code }));
        return;
      }
    }
    this.handshaking = false;
    this.is_secure = true;
    this.clear_connect_timer();
    if (this.upgrading) {
      this.upgrading = false;
      const was_closing = this.state === 'closing';
      if (!was_closing) this.state = 'open';
      if (this.idle_ms > 0) this.arm_idle(socket);
      if (this.user_paused) socket.pause();
      this.outbox.attach(socket);
      if (was_closing) {
        this.outbox.flush();
        if (this.outbox.idle) this.finish_flush();
        return;
      }
      this._call('on_ssl_handshake');
      this.schedule_drain();
      return;
    }
    this._call('on_ssl_handshake');
    if (this.state === 'connecting' || this.state === 'closing') this.on_connected(true);
  }

  private handshake_failed(err: Error): void {
    if (this.state === 'closed') return;
    this.clear_connect_timer();
    this.handshaking = false;
    this.upgrading = false;
    this.state = 'closed';
    this.reason = err;
    this.outbox.abort();
    this._socket?.destroy();
    this.net_socket?.destroy();
    this._call('on_ssl_handshake_error', new TlsError({ cause: err }));
  }

  private on_connected(direct = false): void {
    this.clear_connect_timer();
    this.was_connected = true;
    const socket = this._socket!;
    // An adopted socket that was still connecting: only now can a Unix one be told from TCP.
    if (this.adopted_connecting && this.unix_path === null && socket.remoteAddress === undefined) this.unix_path = '';
    if (this.unix_path === null) socket.setNoDelay(this.nodelay);
    if (this.idle_ms > 0) this.arm_idle(socket);
    if (this.user_paused) socket.pause();
    this.outbox.attach(socket);
    if (this.state === 'closing') {
      this.outbox.flush();
      if (this.outbox.idle) this.finish_flush();
      return;
    }
    if (this.state !== 'connecting' && this.state !== 'open') return;
    this.state = 'open';
    if (!direct && socket.connecting === false && this.target === '') {
      // Adopted sockets: report on_connect on a later tick, before any data can arrive.
      process.nextTick(connect_later, this);
      return;
    }
    this._call('on_connect');
    this.report_pause();
  }

  /** @internal Bytes from the socket. */
  _on_data(chunk: Buffer): void {
    if (this.state !== 'open') return; // closing: discard
    const outbox = this.outbox;
    outbox.hold();
    try {
      this.dispatch_read(chunk);
    } finally {
      // Replies written while handling this read go out as one write, now.
      outbox.unhold();
      if (outbox !== this.outbox) this.outbox.unhold(); // start_tls swapped it meanwhile
    }
  }

  private dispatch_read(chunk: Buffer): void {
    const reader = this.reader;
    if (reader.delimiter === null && reader.buffered === 0 && !this.user_paused && !this.dispatching) {
      // Raw mode with nothing buffered: the chunk is the frame; no trip through the framer.
      this.dispatching = true;
      try {
        reader.deliver(this, chunk, true);
      } finally {
        this.dispatching = false;
      }
    } else {
      reader.framer.feed(chunk);
      this.drain();
    }
  }

  private schedule_drain(): void {
    if (this.dispatching || this.drain_scheduled || this.state !== 'open') return;
    if (this.reader.buffered === 0 && !this.overflowed && !this.eof) return;
    this.drain_scheduled = true;
    process.nextTick(() => {
      this.drain_scheduled = false;
      this.drain();
    });
  }

  /** Delivers every complete frame, re-reading the delimiter after each. */
  private drain(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    const reader = this.reader;
    try {
      while (this.state === 'open' && !this.user_paused) {
        const frame = reader.next(this.eof);
        if (frame === NO_FRAME) break;
        reader.deliver(this, frame, true);
      }
    } finally {
      this.dispatching = false;
    }
    if (this.state !== 'open' || this.user_paused) return;
    const buffered = reader.buffered;
    const limit = read_limit(this.size_limit, reader.delimiter);
    if (buffered > limit) {
      if (!this.overflowed) {
        this.overflowed = true;
        this._socket?.pause();
        this._call('on_overflow_error', new BufferOverflowError(limit, buffered));
        this.schedule_drain();
      }
      return;
    }
    if (this.overflowed) {
      this.overflowed = false;
      this._socket?.resume();
    }
    if (this.eof) this.end_of_stream();
  }

  /** @internal The peer ended its side. */
  _on_end(): void {
    this.eof = true;
    if (this.handshaking && this.state !== 'closed') {
      this.handshake_failed(Object.assign(new Error('the peer closed the connection during the TLS handshake'), { code: 'ECONNRESET' }));
      return;
    }
    if (this.state !== 'open') return;
    this.drain();
  }

  private end_of_stream(): void {
    const rest = this.reader.buffered > 0 ? this.reader.framer.take_all() : null;
    if (rest !== null) this._call('on_incomplete', rest);
    if (this.state === 'open') this.close(true);
  }

  private finish_flush(): void {
    const socket = this._socket;
    if (socket === null || socket.destroyed || socket.writableEnded) return;
    socket.end();
    // Wait a little for the peer's FIN (so unread bytes do not turn into a reset), not forever.
    // When the peer has ended already, Node closes the socket as soon as our FIN is out.
    if (this.linger_timer === undefined && !this.eof) {
      this.linger_timer = setTimeout(() => {
        this.linger_timer = undefined;
        if (this.state !== 'closed') {
          this.state = 'closed';
          socket.destroy();
          this.net_socket?.destroy();
        }
      }, this.linger_ms);
    }
  }

  /** @internal A socket error. */
  _on_socket_error(err: Error): void {
    const code = (err as NodeJS.ErrnoException).code;
    if (this.handshaking && this.was_connected && this.state !== 'closed') {
      this.handshake_failed(err);
      return;
    }
    if (!this.was_connected && this.state !== 'closed') {
      this.clear_connect_timer();
      this.state = 'closed';
      this.reason = err;
      this._call('on_connect_error', new ConnectError(this.target, { cause: err }));
      return;
    }
    this.reason = err;
    if (this.state === 'closed') return;
    if (code !== undefined && PEER_GONE.has(code)) {
      this.state = 'closed';
      this.outbox.abort();
      return;
    }
    this._error(new SocketError({ cause: err }));
  }

  /** @internal The socket has closed. */
  _on_socket_close(): void {
    this.clear_connect_timer();
    if (this.linger_timer !== undefined) {
      clearTimeout(this.linger_timer);
      this.linger_timer = undefined;
    }
    this.state = 'closed';
    this.outbox.abort();
    this.plain_outbox?.abort();
    this.net_socket?.destroy();
    this._finish_close();
  }

  private clear_connect_timer(): void {
    if (this.connect_timer !== undefined) {
      clearTimeout(this.connect_timer);
      this.connect_timer = undefined;
    }
  }
}
