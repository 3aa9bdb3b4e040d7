/**
 * The stream's core: the private host object behind every {@link Stream}. It owns the
 * socket, the state, the reader, the outbox and the TLS lifecycle, and is the one thing the
 * socket's listeners, the reader, the outbox and the TLS lifecycle talk to. The Stream is its
 * public face (options, properties, `connect`, `write`, `close`, the callbacks); the core
 * calls the Stream back only through its invoker (`_call`, `_error`).
 *
 * None of the core's members is reachable from a Stream subclass: a user's `written()` or
 * `pause_writing()` is just a method of theirs.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import * as net from 'node:net';
import type { SecureContext } from 'node:tls';
import { format_address, type ParsedAddress } from './address.js';
import { ConnectError, ConnectTimeoutError, FileError, SocketError, TlsError } from './errors.js';
import { Outbox, type OutboxHost } from './outbox.js';
import { mark_onread, READ_OPTIONS, reads_onread, set_read_sink, type ReadSink } from './read_buffer.js';
import { Reader, type ReadHost } from './reader.js';
import type { Stream, StreamState } from './stream.js';
import { StreamTls, type TlsHost } from './stream_tls.js';
import { node_tls, type TlsOptions } from './tls.js';

/** What the socket's listeners call: the stream's private host, never the Stream itself. */
interface SocketHooks {
  readonly stream: Stream;
  on_data(chunk: Buffer): boolean | void;
  on_end(): void;
  on_error(err: Error): void;
  on_close(): void;
  on_idle(): void;
  abandon(): void;
}

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
/** One function for every accepted stream's next-tick on_connect (no closure per connection). */
function connect_later(core: StreamCore): void {
  core.connect_later();
}

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

// Bits of StreamCore.flags.
const NODELAY = 1, USER_PAUSED = 2, WAS_CONNECTED = 4, PEER_ENDED = 8, PAUSE_REPORTED = 16, ADOPTED_CONNECTING = 32;

const PEER_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** @internal The private host behind one Stream. */
export class StreamCore implements SocketHooks, ReadSink, ReadHost, OutboxHost, TlsHost {
  /** The stream (for its invoker). */
  readonly stream: Stream;
  /** ReadHost: the same stream, for the reader (a getter: no second field per connection). */
  get channel(): Stream {
    return this.stream;
  }
  sock: net.Socket | null = null;
  st: StreamState = 'idle';
  readonly reader: Reader;
  outbox: Outbox;
  /** A STARTTLS upgrade's plaintext outbox, still sending what was written before it. */
  plain_outbox: Outbox | null = null;
  /** TLS state; null until the stream uses TLS. */
  tls: StreamTls | null = null;
  unix_path: string | null = null;
  /**
   * The core's yes/no state in one number (one field per connection instead of six): see
   * the accessors.
   */
  private flags = NODELAY;
  /** TCP_NODELAY wanted (default on). */
  get nodelay(): boolean {
    return (this.flags & NODELAY) !== 0;
  }
  set nodelay(on: boolean) {
    this.flags = on ? this.flags | NODELAY : this.flags & ~NODELAY;
  }
  /** Reading paused by the user. */
  get user_paused(): boolean {
    return (this.flags & USER_PAUSED) !== 0;
  }
  set user_paused(on: boolean) {
    this.flags = on ? this.flags | USER_PAUSED : this.flags & ~USER_PAUSED;
  }
  idle_ms = 0;
  /** Printable target of `connect()`; empty for adopted sockets. */
  target = '';
  reason: Error | null = null;
  linger_ms = 1000;
  /** The plain socket under TLS: addresses are read from it. */
  net_socket: net.Socket | null = null;
  private timer: NodeJS.Timeout | undefined;
  private get was_connected(): boolean {
    return (this.flags & WAS_CONNECTED) !== 0;
  }
  private set was_connected(on: boolean) {
    this.flags = on ? this.flags | WAS_CONNECTED : this.flags & ~WAS_CONNECTED;
  }
  /** The peer has ended its side (its FIN arrived). */
  private get peer_ended(): boolean {
    return (this.flags & PEER_ENDED) !== 0;
  }
  private set peer_ended(on: boolean) {
    this.flags = on ? this.flags | PEER_ENDED : this.flags & ~PEER_ENDED;
  }
  private linger_timer: NodeJS.Timeout | undefined;
  private get pause_reported(): boolean {
    return (this.flags & PAUSE_REPORTED) !== 0;
  }
  private set pause_reported(on: boolean) {
    this.flags = on ? this.flags | PAUSE_REPORTED : this.flags & ~PAUSE_REPORTED;
  }
  /** Adopted while still connecting: whether it is a Unix socket is known only once connected. */
  private get adopted_connecting(): boolean {
    return (this.flags & ADOPTED_CONNECTING) !== 0;
  }
  private set adopted_connecting(on: boolean) {
    this.flags = on ? this.flags | ADOPTED_CONNECTING : this.flags & ~ADOPTED_CONNECTING;
  }
  /** Bytes an adopted socket had received before this stream took it (delivered after on_connect). */
  private early: Buffer | null = null;

  /**
   * @param stream - the stream this core drives
   * @param tls - TLS options from the start, or undefined
   * @param context - a shared secure context for TLS server sides
   */
  constructor(stream: Stream, tls: TlsOptions | undefined, context: SecureContext | undefined) {
    this.stream = stream;
    this.reader = new Reader(this);
    this.outbox = this.new_outbox();
    if (tls !== undefined) this.tls = new StreamTls(this, tls, context);
  }

  // ------------------------------------------------------------------ hooks of the parts

  /** ReadSink: bytes held unframed. */
  unframed(): number {
    return this.reader.buffered;
  }

  /** ReadHost: frames may be delivered now. */
  can_read(): boolean {
    return this.st === 'open' && !this.user_paused;
  }

  pause_socket(): void {
    this.sock?.pause();
  }

  resume_socket(): void {
    this.sock?.resume();
  }

  /** ReadHost: the peer ended and every whole frame was delivered. */
  ended(): void {
    if (this.st === 'open') this.stream.close(true);
  }

  /** OutboxHost: above the high water mark (reported on a later tick). */
  pause_writing(): void {
    process.nextTick(() => this.report_pause());
  }

  /** OutboxHost: down to the low water mark; never a resume without its pause. */
  resume_writing(): void {
    if (!this.pause_reported) return;
    this.pause_reported = false;
    if (this.st === 'open') this.stream._call('on_resume_writing');
  }

  /** OutboxHost: a file could not be sent. */
  file_failed(err: unknown): void {
    if (this.st === 'closed') return;
    this.stream._error(new FileError({ cause: err }));
    this.stream.close(false);
  }

  state(): StreamState {
    return this.st;
  }

  set_state(state: StreamState): void {
    this.st = state;
  }

  socket(): net.Socket | null {
    return this.sock;
  }

  /** TlsHost: stops reading the plaintext socket (its next bytes are the handshake's). */
  quiet(socket: net.Socket): void {
    socket.off('data', on_socket_data);
    set_read_sink(socket, null);
    socket.off('end', on_socket_end);
    socket.pause();
  }

  /** TlsHost: plaintext written so far goes out first, on the plain socket. */
  swap_outbox(): Outbox {
    this.outbox.flush();
    const plain = this.outbox;
    this.plain_outbox = plain;
    this.outbox = this.new_outbox();
    return plain;
  }

  plain_done(): void {
    this.plain_outbox = null;
  }

  take_unread(): Buffer | null {
    return this.reader.take_all();
  }

  tcp_up(): void {
    this.was_connected = true;
  }

  connected(): void {
    this.connected_now(true);
  }

  /** TlsHost: closes at once with `err` as the reason (no callback). */
  abort(err: Error): void {
    this.st = 'closed';
    this.reason = err;
    this.outbox.abort();
    this.sock?.destroy();
    this.net_socket?.destroy();
  }

  // ------------------------------------------------------------------ operations

  /** `Stream.connect` after its checks. */
  connect(parsed: ParsedAddress, timeout: number | undefined): void {
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
        if (this.was_connected) this.stream._call('on_ssl_handshake_error', new TlsError({ cause: new ConnectTimeoutError(this.target, timeout) }));
        else this.stream._call('on_connect_error', new ConnectTimeoutError(this.target, timeout));
      });
    }
  }

  /** `Stream.close`. */
  close(flush: boolean): void {
    const state = this.st;
    if (state === 'closing' && flush) return;
    if (state === 'closed') return;
    const socket = this.sock;
    if (socket === null) {
      this.st = 'closed';
      process.nextTick(() => this.stream._finish_close());
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

  /** `Stream.start_tls` after its checks. */
  start_tls(options: TlsOptions, as_server: boolean): void {
    this.tls = new StreamTls(this, null, undefined);
    this.tls.start(options, as_server);
  }

  // ------------------------------------------------------------------ internals

  private new_outbox(): Outbox {
    const outbox = new Outbox(this);
    if (this.outbox !== undefined) {
      outbox.high = this.outbox.high;
      outbox.low = this.outbox.low;
    }
    return outbox;
  }

  /** OutboxHost: everything written so far is with the OS. */
  written(): void {
    if (this.st === 'open') this.stream._call('on_write');
    else if (this.st === 'closing' && !(this.tls !== null && (this.tls.upgrading || this.tls.handshaking))) this.finish_flush();
  }

  /** Delivers `on_pause_writing` once per pause, only on an open stream (else after on_connect). */
  report_pause(): void {
    if (this.st !== 'open' || this.pause_reported || !this.outbox.paused) return;
    this.pause_reported = true;
    this.stream._call('on_pause_writing');
  }

  adopt(socket: net.Socket): void {
    if (socket.destroyed) throw new TypeError('options.socket is already destroyed');
    (socket as Owned)[OWNER] = this; // (under TLS, the TLS socket above gets the mark too)
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
  arm_idle(socket: net.Socket): void {
    if (this.idle_ms > 0 && !socket.listeners('timeout').includes(on_socket_timeout)) socket.on('timeout', on_socket_timeout);
    socket.setTimeout(this.idle_ms);
  }

  /**
   * Puts our listeners on `socket`. `role` says which TLS side it is: the TLS lifecycle
   * watches its handshake.
   */
  attach(socket: net.Socket, address: ParsedAddress | null, role?: 'server' | 'client'): void {
    this.sock = socket;
    this.net_socket ??= socket;
    if (address?.kind === 'unix') this.unix_path = address.path;
    this.stream._register();
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
    if (role !== undefined) this.tls!.watch(socket, role);
    else if (this.st === 'connecting') socket.once('connect', () => this.connected_now());
  }

  detach(socket: net.Socket): void {
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
  abandon(): void {
    const socket = this.sock;
    this.st = 'closed';
    this.clear_timer();
    this.outbox.abort();
    if (socket !== null) {
      this.detach(socket);
      socket.destroy();
    }
    this.net_socket?.destroy();
    this.stream._drop();
  }

  /** An adopted socket's on_connect, on the tick after adoption. */
  connect_later(): void {
    if (this.st !== 'open') return; // closed before it was reported: on_close alone
    this.stream._call('on_connect');
    this.report_pause();
    const early = this.early;
    if (early !== null) {
      this.early = null;
      this.on_data(early);
    }
  }

  /** The socket idled for `idle_timeout` ms. */
  on_idle(): void {
    if (this.st === 'open') this.stream._call('on_timeout');
    else if (this.st !== 'closed') this.stream.close(false); // a graceful close that stalled
  }

  /** A STARTTLS handshake is done: open again (or finish a close requested meanwhile). */
  upgraded(socket: net.Socket): void {
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
    this.stream._call('on_ssl_handshake');
    this.reader.schedule();
  }

  /** The connection (and its first TLS handshake, if any) is up. */
  connected_now(direct = false): void {
    this.clear_timer();
    this.was_connected = true;
    const socket = this.sock!;
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
      process.nextTick(connect_later, this);
      return;
    }
    this.stream._call('on_connect');
    this.report_pause();
  }

  /** ReadSink: the stream borrows its reads (`lend_reads`). */
  lends(): boolean {
    return this.stream.lend_reads === true && this.reader.raw;
  }

  /**
   * Bytes from the socket.
   * @returns true when `chunk` was delivered whole (or dropped) and nothing here keeps it
   */
  on_data(chunk: Buffer): boolean {
    if (this.st !== 'open') return true; // closing: discard
    const outbox = this.outbox;
    outbox.hold();
    try {
      return this.reader.feed(chunk);
    } finally {
      // Replies written while handling this read go out as one write, now.
      outbox.unhold();
      if (outbox !== this.outbox) this.outbox.unhold(); // start_tls swapped it meanwhile
    }
  }

  /** The peer ended its side. */
  on_end(): void {
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
    const socket = this.sock;
    if (socket === null || socket.destroyed || socket.writableEnded) return;
    if (this.peer_ended && this.tls === null && socket.writableLength === 0) {
      // The peer has ended and everything written is with the OS: closing the socket sends
      // what is still in the kernel's buffer, then FIN, as shutdown would; nothing unread
      // can follow a FIN, so no reset. One system call (and Node's shutdown request) fewer
      // per connection, as asyncio's close does.
      socket.destroy();
      return;
    }
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
  on_error(err: Error): void {
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
      this.stream._call('on_connect_error', new ConnectError(this.target, { cause: err }));
      return;
    }
    this.reason = err;
    if (this.st === 'closed') return;
    if (code !== undefined && PEER_GONE.has(code)) {
      this.st = 'closed';
      this.outbox.abort();
      return;
    }
    this.stream._error(new SocketError({ cause: err }));
  }

  /** The socket has closed. */
  on_close(): void {
    this.clear_timer();
    if (this.linger_timer !== undefined) {
      clearTimeout(this.linger_timer);
      this.linger_timer = undefined;
    }
    this.st = 'closed';
    this.outbox.abort();
    this.plain_outbox?.abort();
    this.net_socket?.destroy();
    this.stream._finish_close();
  }

  /** The one connect / handshake timer. */
  arm_timer(ms: number, fn: () => void): void {
    this.clear_timer();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      fn();
    }, ms);
  }

  clear_timer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
