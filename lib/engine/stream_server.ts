/**
 * StreamServer: a listening TCP or Unix socket.
 *
 * How to use: subclass and override `on_accept(socket)`, or use {@link Server}, which turns
 * each accepted socket into a `Connection` of your class.
 *
 * ```
 * server := (on_listen (on_accept | on_accept_error | on_error)* | on_error) on_close
 * ```
 *
 * - `listen(port)` listens on every interface (IPv6 and IPv4 where available); port 0 picks a
 *   free port: read it from `local_address` in `on_listen`.
 * - A string is a Unix socket path. A socket file left by a dead process is replaced (only
 *   after a connect to it is refused); a live one gives `EADDRINUSE`; a regular file or a
 *   directory at the path is an error and is never removed. `mode` sets the file's
 *   permissions before anyone can connect. The file is removed on close.
 * - Bind errors go to `on_error` (a {@link ListenError}, `cause.code` `EADDRINUSE` /
 *   `EACCES` / ...), then the server closes.
 * - Errors while accepting (`EMFILE`, ...) go to `on_accept_error`; the server keeps
 *   listening and accepts again once descriptors are free.
 *
 * @module
 */

import type { Cluster } from 'node:cluster';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import type * as tls from 'node:tls';
import { format_address, format_reported, inet_address, parse_address, type Address, type ParsedAddress, type ReportedAddress } from './address.js';
import { Channel, type ChannelOptions } from './channel.js';
import { AcceptError, ListenError, TrousersError } from './errors.js';
import { accept_with_onread } from './accept.js';
import { node_tls, type TlsOptions } from './tls.js';
import { stream_of } from './stream_core.js';

/** Options of a {@link StreamServer}. */
export interface StreamServerOptions extends ChannelOptions {
  /** Most connections open at once; more are closed at accept and counted. Default Infinity. */
  max_connections?: number;
  /** Permissions of a Unix socket file, e.g. `0o600`. Default: as the umask leaves them. */
  mode?: number;
  /**
   * TLS: every accepted connection is the TLS server side of a handshake (Node's TLS
   * options: `key`, `cert`, `ca`, `requestCert`, `rejectUnauthorized`, `ALPNProtocols`, ...;
   * plus `handshake_timeout` in ms, default 30000). `on_accept` still runs at TCP accept.
   */
  tls?: TlsOptions & { handshake_timeout?: number };
}

type State = 'idle' | 'binding' | 'listening' | 'closed';

const require_builtin = createRequire(import.meta.url);

/** Whether this process is a node:cluster worker (node:cluster is loaded only when asked). */
function is_cluster_worker(): boolean {
  return (require_builtin('node:cluster') as Cluster).isWorker;
}

function check_max(value: unknown): number {
  if (typeof value !== 'number') throw new TypeError('max_connections must be a number');
  if (!(value === Infinity || (Number.isSafeInteger(value) && value >= 0))) {
    throw new RangeError(`max_connections must be an integer >= 0 or Infinity, got ${value}`);
  }
  return value;
}

/** A listening socket. Subclass it and override `on_accept`, or use `Server`. */
export class StreamServer extends Channel {
  /** Connections closed at accept because `max_connections` was reached. */
  rejected_connections = 0;
  /** @internal */
  protected _server: net.Server | null = null;
  private state: State = 'idle';
  private path: string | null = null;
  private max = Infinity;
  private readonly mode: number | undefined;
  private printable = '';
  private socket_closed = false;
  /** Accepted sockets not closed yet: our own count (Node's `_connections` is private). */
  private open_sockets = 0;
  /** Counts an accepted socket out when it closes (one function for every socket). */
  private readonly socket_gone = (): void => {
    this.open_sockets--;
  };
  /** The TLS options every accepted connection uses, or null for plaintext. */
  readonly tls_options: (TlsOptions & { handshake_timeout?: number }) | null;
  /** @internal One secure context shared by every accepted connection. */
  protected readonly _secure_context: tls.SecureContext | undefined;

  /** @param options - `{ engine, max_connections, mode }` */
  constructor(options: StreamServerOptions = {}) {
    super(options);
    if (options.max_connections !== undefined) this.max = check_max(options.max_connections);
    if (options.mode !== undefined) {
      if (typeof options.mode !== 'number') throw new TypeError('mode must be a number such as 0o600');
      if (!Number.isInteger(options.mode) || options.mode < 0 || options.mode > 0o777) throw new RangeError('mode must be within 0 and 0o777');
      this.mode = options.mode;
    }
    if (options.tls !== undefined && (options.tls === null || typeof options.tls !== 'object')) {
      throw new TypeError('options.tls must be an object of TLS options');
    }
    this.tls_options = options.tls ?? null;
    this._secure_context = this.tls_options ? node_tls().createSecureContext(this.tls_options) : undefined;
  }

  /** Most connections open at once; excess connections are closed at accept. */
  get max_connections(): number {
    return this.max;
  }

  set max_connections(value: number) {
    this.max = check_max(value);
  }

  /** True once `on_listen` is due and until close. */
  get listening(): boolean {
    return this.state === 'listening';
  }

  /** The bound address: `{ host, port, family }`, or the socket path. Null before binding. */
  get local_address(): ReportedAddress | null {
    if (this.path !== null) return this.state === 'listening' ? this.path : null;
    const a = this._server?.address();
    if (a === null || a === undefined || typeof a === 'string') return null;
    return inet_address(a.address, a.port, a.family);
  }

  /**
   * Accepted connections whose socket has not closed yet (counted here, not read from
   * Node's internals), including any `on_accept` handed elsewhere. `max_connections` applies
   * to this count.
   */
  get connection_count(): number {
    return this.open_sockets;
  }

  /**
   * Starts listening on `address` (see the module docs for the forms); `on_listen` follows
   * on a later tick, or `on_error` if binding fails.
   * @param backlog - the kernel's queue of pending connections. Default 1024.
   * @returns this
   */
  listen(address: Address, backlog = 1024): this {
    const parsed = parse_address(address, true);
    if (typeof backlog !== 'number') throw new TypeError('backlog must be a number');
    if (!Number.isSafeInteger(backlog) || backlog < 0) throw new RangeError(`backlog must be an integer >= 0, got ${backlog}`);
    if (this.state !== 'idle' || this._closed) {
      this._check_open('listen', this.state === 'closed');
      throw new TrousersError('ERR_ALREADY_LISTENING', `${this.toString()} is already listening`);
    }
    this.state = 'binding';
    this.printable = format_address(parsed, '*');
    const server = net.createServer({ allowHalfOpen: true });
    this._server = server;
    this._register();
    server.on('connection', (socket: net.Socket) => this.accepted(socket));
    server.on('error', (err: Error) => this.server_error(err));
    server.on('close', () => {
      this.state = 'closed';
      this.socket_closed = true;
      this._maybe_finish_close();
    });
    server.on('listening', () => {
      if (this.state !== 'binding') {
        server.close(); // closed while a host name was resolving
        return;
      }
      if (this.path !== null && this.mode !== undefined) {
        try {
          fs.chmodSync(this.path, this.mode);
        } catch (err) {
          this.bind_failed(new ListenError(this.printable, `could not set mode of ${this.path}`, { cause: err }));
          return;
        }
      }
      this.state = 'listening';
      if (this.tls_options === null) accept_with_onread(server);
      this._call('on_listen');
    });
    if (parsed.kind === 'unix') {
      this.path = parsed.path;
      this.prepare_path(parsed.path, () => this.bind(server, parsed, backlog));
    } else {
      this.bind(server, parsed, backlog);
    }
    return this;
  }

  /**
   * Stops listening and closes the server's connections (gracefully by default, see
   * `Stream.close`). `on_close` runs once the listening socket is closed.
   */
  close(flush = true): void {
    if (this.state === 'closed') return;
    const server = this._server;
    this.state = 'closed';
    if (server === null) {
      process.nextTick(() => this._finish_close());
      return;
    }
    this._close_connections(flush);
    // The listening socket closes at once; Node's own 'close' event would also wait for
    // every socket this server ever accepted, even ones handed elsewhere.
    if (server.listening) server.close();
    // libuv releases the handle in the close phase of this loop turn; a check-phase
    // callback of the next turn runs after it.
    setImmediate(() =>
      setImmediate(() => {
        this.socket_closed = true;
        this._maybe_finish_close();
      }),
    );
  }

  // ------------------------------------------------------------------ callbacks

  /** The server is listening; `local_address` is final. */
  on_listen(): void {}

  /**
   * A connection was accepted. The default closes it: override this, or use `Server`.
   * @param socket - the accepted socket
   */
  on_accept(socket: net.Socket): void {
    socket.destroy();
  }

  /** Accepting failed (e.g. `EMFILE`); the server keeps listening. Default: a line on stderr. */
  on_accept_error(err: AcceptError): void {
    process.stderr.write(`trousers: ${this.toString()}: ${err.message}\n`);
  }

  // ------------------------------------------------------------------ internals

  /** @internal Closes the connections this server made; `Server` overrides it. */
  protected _close_connections(_flush: boolean): void {}

  /** @internal How many of this server's connections have not run `on_close` yet. */
  protected _open_connections(): number {
    return 0;
  }

  /**
   * @internal Runs `on_close` once the listening socket is closed and every connection of
   * the server has run its own `on_close`, so the server's `on_close` comes last.
   */
  _maybe_finish_close(): void {
    if (this.socket_closed && this._open_connections() === 0) this._finish_close();
  }

  /** @internal */
  protected override _describe(): string {
    return `${this.state} ${this.state === 'listening' ? format_reported(this.local_address) : this.printable}`;
  }

  private accepted(socket: net.Socket): void {
    if (this.state !== 'listening') {
      socket.destroy();
      return;
    }
    if (this.open_sockets >= this.max) {
      this.rejected_connections++;
      socket.destroy();
      return;
    }
    this.open_sockets++;
    socket.on('close', this.socket_gone); // ('close' comes once: no once() wrapper per socket)
    if (!this._call('on_accept', socket) && !socket.destroyed && stream_of(socket) === undefined) {
      socket.destroy(); // on_accept threw before anything took the socket: do not leak it
    }
  }

  private bind(server: net.Server, address: ParsedAddress, backlog: number): void {
    if (this.state !== 'binding') return;
    if (address.kind === 'unix') {
      // The umask decides the socket file's mode at bind time; narrow it for the bind so
      // nobody can connect through looser permissions before chmod.
      const mode = this.mode;
      let old: number | undefined;
      if (mode !== undefined) {
        try {
          old = process.umask(0o777 & ~mode);
        } catch {
          old = undefined; // workers cannot change the umask: chmod alone then
        }
      }
      try {
        server.listen({ path: address.path, backlog });
      } finally {
        if (old !== undefined) process.umask(old);
      }
    } else if (address.host === undefined) {
      server.listen({ port: address.port, backlog });
    } else {
      server.listen({ host: address.host, port: address.port, backlog });
    }
  }

  /** Makes sure `path` is free: absent, or a socket nobody answers on (then removed). */
  private prepare_path(path: string, then: () => void): void {
    // In a cluster worker the primary binds the path for every worker: probing it here
    // would find the cluster's own live socket.
    if (is_cluster_worker()) return then();
    fs.lstat(path, (err, stats) => {
      if (this.state !== 'binding') return;
      if (err) {
        if (err.code === 'ENOENT') return then();
        return this.bind_failed(new ListenError(this.printable, `cannot use ${path}`, { cause: err }));
      }
      if (!stats.isSocket()) {
        return this.bind_failed(
          new ListenError(this.printable, `${path} exists and is not a socket; not removing it`, undefined, 'ERR_NOT_A_SOCKET'),
        );
      }
      const probe = net.connect({ path });
      probe.once('connect', () => {
        probe.destroy();
        const inuse = Object.assign(new Error(`${path} is in use by a live server`), { code: 'EADDRINUSE' });
        this.bind_failed(new ListenError(this.printable, `${path} is in use (EADDRINUSE)`, { cause: inuse }));
      });
      probe.once('error', (perr: NodeJS.ErrnoException) => {
        probe.destroy();
        if (this.state !== 'binding') return;
        if (perr.code !== 'ECONNREFUSED') {
          return this.bind_failed(new ListenError(this.printable, `cannot check ${path}`, { cause: perr }));
        }
        fs.unlink(path, (uerr) => {
          if (uerr && uerr.code !== 'ENOENT') {
            return this.bind_failed(new ListenError(this.printable, `cannot remove stale socket ${path}`, { cause: uerr }));
          }
          then();
        });
      });
    });
  }

  private server_error(err: NodeJS.ErrnoException): void {
    if (this.state === 'binding') {
      const sys = err.code ? ` (${err.code})` : '';
      this.bind_failed(new ListenError(this.printable, `could not listen on ${this.printable}${sys}`, { cause: err }));
      return;
    }
    if (this.state === 'listening') this._call('on_accept_error', new AcceptError({ cause: err }));
  }

  private bind_failed(err: ListenError): void {
    if (this.state !== 'binding') return;
    this.path = null; // never remove a file we did not create
    this._error(err);
    if ((this.state as State) !== 'closed') this.close(false);
  }
}
