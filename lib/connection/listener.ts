/**
 * `listen()` and {@link Listener}: Python's `Listener(address, family, backlog, authkey)`.
 *
 * Three ways to take connections, pick one per listener:
 *
 * ```ts
 * const listener = await listen(['127.0.0.1', 0], { authkey: 'secret' });
 * console.log(listener.address);             // ['127.0.0.1', 41234]: port 0 resolved
 *
 * const conn = await listener.accept();      // 1. Python's style: one at a time
 *
 * for await (const conn of listener) {...}   // 2. every connection until close()
 *
 * await listen(address, {                    // 3. engine style: a callback per connection
 *   on_accept: (conn) => serve(conn),
 *   on_handshake_error: (err) => log(err),
 * });
 * ```
 *
 * Connections are accepted (and their handshakes run) as they arrive, whatever the program
 * is doing; `accept()` hands them out in the order their handshakes finished. A failed
 * handshake rejects the next `accept()` with its error (as Python's `accept()` raises)
 * unless `on_handshake_error` is given; the async iterator skips failures.
 *
 * @module
 */

import * as fs from 'node:fs';
import type * as net from 'node:net';
import { ChannelClosedError, listening, StreamServer } from '../index.js';
import { listener_address, resolve_address, type ConnectionAddress, type Family, type ListenerAddress } from './address.js';
import { MessageStream, type Endpoint } from './endpoint.js';
import { handshake } from './handshake.js';
import { MessageConnection } from './message_connection.js';
import { resolve_options, type MessageOptions, type Resolved } from './options.js';

/** Options of {@link listen}. */
export interface ListenOptions extends MessageOptions {
  /** The kernel's queue of pending connections (default 128). */
  backlog?: number;
  /** Permissions of a Unix socket file, e.g. `0o600` (default: as the umask leaves them). */
  mode?: number;
  /**
   * Engine style: called with each authenticated connection instead of queueing it for
   * `accept()`. Whatever it throws goes to the engine's `on_error`.
   */
  on_accept?: (connection: MessageConnection) => void;
  /**
   * Called with each failed handshake (wrong key, timeout, peer gone); with it, failures do
   * not reach `accept()`. Without it, the next `accept()` rejects with each failure (the
   * last 16 are kept while nobody accepts); with `on_accept` and without it, failures are
   * dropped.
   */
  on_handshake_error?: (err: Error) => void;
}

type Outcome = { connection: MessageConnection } | { error: Error };

interface Acceptor {
  resolve(connection: MessageConnection): void;
  reject(err: Error): void;
}

/** Failed handshakes kept for `accept()` when nobody takes them; older ones are dropped. */
const MAX_QUEUED_FAILURES = 16;

/** The listening socket: a `StreamServer` that turns each accepted socket into a message endpoint. */
class AcceptServer extends StreamServer {
  /** @internal */
  constructor(
    private readonly owner: { _accepted(socket: net.Socket): void; _server_error(err: Error): void; _server_closed(): void },
    options: ConstructorParameters<typeof StreamServer>[0],
  ) {
    super(options);
  }

  override on_accept(socket: net.Socket): void {
    this.owner._accepted(socket);
  }

  /** Before listening: a failed bind, which `listen()`'s promise reports. After: the listener closes. */
  override on_error(err: Error): void {
    this.owner._server_error(err);
    this.close(false);
  }

  override on_close(): void {
    this.owner._server_closed();
  }
}

/** A listening socket handing out {@link MessageConnection}s. Made by {@link listen}. */
export class Listener implements AsyncIterable<MessageConnection> {
  /** The bound address: `[host, port]` (port 0 resolved) or the socket path. */
  readonly address: ListenerAddress;
  /** The address family in use. */
  readonly family: Family;
  private _last_accepted: ListenerAddress | null = null;
  private readonly server: AcceptServer;
  private readonly opts: Resolved;
  private readonly on_accept: ((connection: MessageConnection) => void) | undefined;
  private readonly on_handshake_error: ((err: Error) => void) | undefined;
  private readonly temp_dir: string | null;
  private queue: Outcome[] = [];
  private acceptors: Acceptor[] = [];
  private readonly handshaking = new Set<Endpoint>();
  private is_closed = false;

  /** @internal Use {@link listen}. */
  constructor(server: AcceptServer, address: ListenerAddress, family: Family, opts: Resolved, options: ListenOptions, temp_dir: string | null) {
    this.server = server;
    this.address = address;
    this.family = family;
    this.opts = opts;
    this.on_accept = options.on_accept;
    this.on_handshake_error = options.on_handshake_error;
    this.temp_dir = temp_dir;
  }

  /**
   * The peer address of the last connection handed out: `[host, port]` for TCP; for a Unix
   * socket (whose clients are unnamed) the listener's own path. Null before the first.
   */
  get last_accepted(): ListenerAddress | null {
    return this._last_accepted;
  }

  /** True once `close()` was called (or the listening socket failed). */
  get closed(): boolean {
    return this.is_closed;
  }

  /**
   * The next authenticated connection.
   * @returns a promise that rejects with the handshake's error when the next connection's
   *   handshake failed (unless `on_handshake_error` is set), and with `ChannelClosedError`
   *   once the listener is closed
   */
  accept(): Promise<MessageConnection> {
    const next = this.queue.shift();
    if (next !== undefined) return 'connection' in next ? Promise.resolve(this.hand_out(next.connection)) : Promise.reject(next.error);
    if (this.is_closed) return Promise.reject(new ChannelClosedError('accept'));
    return new Promise<MessageConnection>((resolve, reject) => this.acceptors.push({ resolve, reject }));
  }

  /** Yields each authenticated connection until the listener closes; failed handshakes are skipped. */
  async *[Symbol.asyncIterator](): AsyncIterator<MessageConnection> {
    for (;;) {
      let connection: MessageConnection;
      try {
        connection = await this.accept();
      } catch (err) {
        if (this.is_closed) return;
        continue;
      }
      yield connection;
    }
  }

  /**
   * Stops listening at once (a Unix socket file is removed, and the temp directory of a
   * default path), closes connections not yet handed out and handshakes in progress, and
   * rejects waiting `accept()` calls. Connections already handed out stay open, as in
   * Python. Idempotent.
   */
  close(): void {
    if (this.is_closed) return;
    this.server.close(false);
    this.shut();
  }

  /** A short description for logs. */
  toString(): string {
    return `Listener(${typeof this.address === 'string' ? this.address : `${this.address[0]}:${this.address[1]}`})`;
  }

  // ------------------------------------------------------------------ internals

  /** @internal The server accepted a socket. */
  _accepted(socket: net.Socket): void {
    const opts = this.opts;
    const endpoint = new MessageStream({ engine: opts.engine, socket }, opts).endpoint;
    if (opts.key === null) {
      this.ready(new MessageConnection(endpoint, opts.codec));
      return;
    }
    this.handshaking.add(endpoint);
    handshake(endpoint, opts.engine, 'listener', opts.key, opts.handshake_timeout, opts.digest).then(
      () => {
        this.handshaking.delete(endpoint);
        this.ready(new MessageConnection(endpoint, opts.codec));
      },
      (err: unknown) => {
        this.handshaking.delete(endpoint);
        this.failed(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  /** @internal The listening socket has closed (after `close()`, or after a failure). */
  _server_closed(): void {
    this.shut();
  }

  private shut(): void {
    if (this.is_closed) return;
    this.is_closed = true;
    if (this.temp_dir !== null) fs.rmSync(this.temp_dir, { recursive: true, force: true });
    const err = new ChannelClosedError('accept');
    for (const a of this.acceptors.splice(0)) a.reject(err);
    for (const item of this.queue.splice(0)) if ('connection' in item) item.connection.close();
    for (const endpoint of this.handshaking) endpoint.fail(err, false);
    this.handshaking.clear();
  }

  private hand_out(connection: MessageConnection): MessageConnection {
    const peer = connection.remote_address;
    this._last_accepted = peer === null ? null : listener_address(peer);
    return connection;
  }

  private ready(connection: MessageConnection): void {
    if (this.is_closed) {
      connection.close();
      return;
    }
    const acceptor = this.acceptors.shift();
    if (acceptor !== undefined) {
      acceptor.resolve(this.hand_out(connection));
      return;
    }
    if (this.on_accept !== undefined) {
      try {
        this.on_accept(this.hand_out(connection));
      } catch (err) {
        this.opts.engine.report(err);
      }
      return;
    }
    this.queue.push({ connection });
  }

  private failed(err: Error): void {
    if (this.is_closed) return;
    if (this.on_handshake_error !== undefined) {
      try {
        this.on_handshake_error(err);
      } catch (thrown) {
        this.opts.engine.report(thrown);
      }
      return;
    }
    const acceptor = this.acceptors.shift();
    if (acceptor !== undefined) {
      acceptor.reject(err);
      return;
    }
    if (this.on_accept !== undefined) return;
    let failures = 0;
    for (const item of this.queue) if ('error' in item) failures++;
    if (failures >= MAX_QUEUED_FAILURES) {
      const oldest = this.queue.findIndex((item) => 'error' in item);
      this.queue.splice(oldest, 1);
    }
    this.queue.push({ error: err });
  }
}

/**
 * Starts listening, like Python's `Listener(address, family, backlog, authkey)`.
 * @param address - `[host, port]`, `{ host, port }` or a socket path; none: a fresh Unix
 *   socket path in a temp directory (Windows: an ephemeral TCP port on 127.0.0.1), or with
 *   `family: 'AF_INET'` an ephemeral port on 127.0.0.1
 * @returns a promise of the listener, already listening with its final `address`; it
 *   rejects with `ListenError` when binding fails
 * @throws TypeError / RangeError at once for a bad address or bad options
 */
export function listen(address?: ConnectionAddress | null, options: ListenOptions = {}): Promise<Listener> {
  const opts = resolve_options(options);
  const backlog = options.backlog ?? 128;
  if (typeof backlog !== 'number' || !Number.isSafeInteger(backlog) || backlog < 0) throw new RangeError(`backlog must be an integer >= 0, got ${String(backlog)}`);
  for (const name of ['on_accept', 'on_handshake_error'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`${name} must be a function`);
  }
  const target = resolve_address(address, options.family);
  let listener: Listener | null = null;
  const owner = {
    // Node reports 'listening' before any connection, and the promise chain below runs in
    // the microtasks right after on_listen, so the listener exists by then.
    _accepted: (socket: net.Socket) => (listener === null ? socket.destroy() : listener._accepted(socket)),
    _server_error: (err: Error) => {
      // Before it listens, the error is a failed bind: listening() below rejects with it.
      if (listener === null) return;
      opts.engine.report(err);
      listener.close();
    },
    _server_closed: () => {
      if (listener !== null) listener._server_closed();
      else if (target.temp_dir !== null) fs.rmSync(target.temp_dir, { recursive: true, force: true });
    },
  };
  const server = new AcceptServer(owner, options.mode === undefined ? { engine: opts.engine } : { engine: opts.engine, mode: options.mode });
  server.listen(target.address, backlog);
  return listening(server).then(() => {
    listener = new Listener(server, listener_address(server.local_address)!, target.family, opts, options, target.temp_dir);
    return listener;
  });
}
