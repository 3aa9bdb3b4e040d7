/**
 * The TLS lifecycle of one stream: TLS from the start (a client's `connect()`, or the server
 * side of an accepted connection), STARTTLS upgrades (`start_tls()`), the handshake timer,
 * and the verification of a client's certificate.
 *
 * A stream's states around TLS (see the grammar in `stream.ts`):
 *
 * ```
 * TLS client:      connecting --TCP up--> handshaking --secureConnect--> open
 * TLS server side:              (accepted) handshaking --secure-------> open
 * STARTTLS:        open --start_tls()--> upgrading --handshake done--> open
 * any of them:     --handshake failed or timed out--> closed (on_ssl_handshake_error, on_close)
 * ```
 *
 * During `upgrading` the stream is still connected: writes are queued and go out encrypted
 * once the handshake is done; plaintext written before `start_tls()` goes out first, in
 * plaintext. This module owns the TLS-only state (handshaking, upgrading, secure); the
 * stream owns its socket, outbox and state, and lends them through a {@link TlsHost}.
 *
 * @module
 */

import type { Buffer } from 'node:buffer';
import type * as net from 'node:net';
import type * as tls from 'node:tls';
import type { ParsedAddress } from './address.js';
import { TlsError } from './errors.js';
import type { Outbox } from './outbox.js';
import type { Stream, StreamState } from './stream.js';
import { Bridge, tls_client_over, tls_connect, tls_server, type TlsOptions } from './tls.js';

/** Milliseconds a server-side TLS handshake may take by default. */
const HANDSHAKE_TIMEOUT = 30000;

/**
 * What the TLS lifecycle borrows from its stream (a private object of the Stream).
 * @internal
 */
export interface TlsHost {
  /** The stream, for its invoker. */
  readonly stream: Stream;
  /** The stream's state (the internal one: `closed` may come before `on_close`). */
  state(): StreamState;
  set_state(state: StreamState): void;
  /** The socket the stream reads and writes now. */
  socket(): net.Socket | null;
  /** Drives `socket`; `role` makes the TLS lifecycle watch its handshake. */
  attach(socket: net.Socket, address: ParsedAddress | null, role?: 'server' | 'client'): void;
  /** Stops driving `socket`. */
  detach(socket: net.Socket): void;
  /** Stops reading the plaintext socket (its next bytes are the handshake's). */
  quiet(socket: net.Socket): void;
  /** Starts a fresh outbox for the TLS socket; returns the plaintext one, still sending. */
  swap_outbox(): Outbox;
  /** The plaintext outbox is done: the TLS socket took over. */
  plain_done(): void;
  /** Bytes received and not yet framed (they belong to the handshake). */
  take_unread(): Buffer | null;
  /** The TCP connection under a TLS client is up. */
  tcp_up(): void;
  /** The first handshake is done: the stream connects (`on_connect`). */
  connected(): void;
  /** A STARTTLS handshake is done on `socket`: the stream is open again. */
  upgraded(socket: net.Socket): void;
  /** Arms the stream's one connect/handshake timer. */
  arm_timer(ms: number, fn: () => void): void;
  clear_timer(): void;
  /** Closes at once with `err` as the close reason (no callback). */
  abort(err: Error): void;
}

/**
 * Judges the certificate of a TLS client. A TLSSocket made with `isServer` (not by a
 * `tls.Server`) does not do it itself: ask the TLS handle, as `tls.Server` does, and set
 * `authorized` / `authorizationError` as a tls.Server would.
 * @returns null when the certificate verified, else the verification error's code
 */
function judge_client(socket: tls.TLSSocket): string | null {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => { code?: string } | null } })._handle;
  const verify = handle?.verifyError;
  const problem = typeof verify === 'function' ? verify.call(handle) : { code: 'UNVERIFIABLE' };
  const code = problem === null ? null : String(problem.code ?? 'UNAUTHORIZED');
  const judged = socket as unknown as { authorized: boolean; authorizationError: string | undefined };
  judged.authorized = code === null;
  judged.authorizationError = code ?? undefined;
  return code;
}

/** @internal The TLS state of one stream; made when a stream first uses TLS. */
export class StreamTls {
  /** A handshake is under way (TLS from the start, or STARTTLS once its plaintext is out). */
  handshaking = false;
  /** `start_tls()` was called and its handshake has not finished. */
  upgrading = false;
  /** A handshake finished: TLS is in place. */
  secure = false;
  /** The host name a client verifies (the `connect()` target). */
  connect_host: string | undefined;
  private upgrade_options: TlsOptions | null = null;

  /**
   * @param host - the stream's private host
   * @param options - the stream's TLS options from the start, or null (STARTTLS only)
   * @param context - a secure context shared by a server's connections
   */
  constructor(
    private readonly host: TlsHost,
    readonly options: TlsOptions | null,
    private readonly context: tls.SecureContext | undefined,
  ) {}

  /** Adopting an accepted socket that is TLS from the start: its server side. */
  adopt_server(socket: net.Socket, address: ParsedAddress | null): void {
    const options = this.options!;
    this.handshaking = true;
    this.host.set_state('handshaking');
    this.host.attach(tls_server(socket, options, this.context), address, 'server');
    this.arm_timer(options);
  }

  /** `connect()` of a TLS client: the TLS socket, connecting to `target`. */
  connect_client(target: { host: string; port: number } | { path: string }, address: ParsedAddress): net.Socket {
    const socket = tls_connect(this.options!, target);
    this.host.attach(socket, address, 'client');
    return socket;
  }

  /** Watches the handshake of a socket the stream attached in `role`. */
  watch(socket: net.Socket, role: 'server' | 'client'): void {
    if (role === 'client' && !this.handshaking) {
      socket.once('connect', () => {
        this.host.tcp_up();
        this.handshaking = true;
        if (this.host.state() === 'connecting') this.host.set_state('handshaking');
      });
    }
    socket.once(role === 'server' ? 'secure' : 'secureConnect', () => this.secured(socket as tls.TLSSocket, role));
  }

  /**
   * STARTTLS: upgrades the open plaintext stream in place. Plaintext written so far goes out
   * first; bytes received behind the current frame go to TLS.
   * @param as_server - the TLS role this side takes
   */
  start(options: TlsOptions, as_server: boolean): void {
    const host = this.host;
    const raw = host.socket()!;
    this.upgrading = true;
    host.set_state('upgrading');
    const plain = host.swap_outbox();
    const leftover = host.take_unread();
    host.quiet(raw);
    plain.when_files_done(() => {
      if (host.state() === 'closed') return;
      host.detach(raw);
      host.plain_done();
      const bridge = new Bridge(raw, leftover);
      const secure = as_server ? tls_server(bridge, options) : tls_client_over(bridge, { ...(this.options ?? {}), ...options }, this.connect_host);
      this.handshaking = true;
      this.upgrade_options = options;
      host.attach(secure, null, as_server ? 'server' : 'client');
      if (as_server) this.arm_timer(options);
    });
  }

  /** The handshake failed (or timed out, or the peer left during it). */
  fail(err: Error): void {
    if (this.host.state() === 'closed') return;
    this.host.clear_timer();
    this.handshaking = false;
    this.upgrading = false;
    this.host.abort(err);
    this.host.stream._call('on_ssl_handshake_error', new TlsError({ cause: err }));
  }

  private arm_timer(options: TlsOptions): void {
    const ms = (options as { handshake_timeout?: number }).handshake_timeout ?? HANDSHAKE_TIMEOUT;
    this.host.arm_timer(ms, () => {
      if (!this.handshaking || this.host.state() === 'closed') return;
      this.fail(Object.assign(new Error(`TLS handshake not done within ${ms} ms`), { code: 'ETIMEDOUT' }));
    });
  }

  private secured(socket: tls.TLSSocket, role: 'server' | 'client'): void {
    const host = this.host;
    if (!this.handshaking || host.state() === 'closed') return;
    const opts = this.upgrade_options ?? this.options ?? {};
    if (role === 'server' && opts.requestCert === true) {
      const code = judge_client(socket);
      if (code !== null && opts.rejectUnauthorized !== false) {
        this.fail(Object.assign(new Error(`peer certificate rejected: ${code}`), { code }));
        return;
      }
    }
    this.handshaking = false;
    this.secure = true;
    host.clear_timer();
    if (this.upgrading) {
      this.upgrading = false;
      host.upgraded(socket);
      return;
    }
    host.stream._call('on_ssl_handshake');
    const state = host.state();
    if (state === 'connecting' || state === 'handshaking' || state === 'closing') host.connected();
  }
}
