/**
 * Server and Connection: a {@link StreamServer} that wraps every accepted socket in a
 * connection class, and that class's base, a {@link Stream} that knows its server.
 *
 * ```ts
 * class Echo extends Connection {
 *   override on_read(data: Buffer) { this.write(data); }
 * }
 * new Server(Echo).listen(4000);
 * ```
 *
 * The order of callbacks: the server's `on_listen`, then per connection the server's
 * `on_accept`, then the connection's `on_connect`, its reads and writes, its `on_close`.
 * `server.channels` holds the live connections (each is removed when it closes), which
 * makes broadcasting one loop:
 *
 * ```ts
 * for (const peer of this.server!.channels) peer.write(line);
 * ```
 *
 * @module
 */

import type * as net from 'node:net';
import { StreamServer, type StreamServerOptions } from './stream_server.js';
import { Stream, type StreamOptions } from './stream.js';
import { abandon_stream_of } from './stream_core.js';

/** A stream accepted by a server; `server` points at it. */
export class Connection extends Stream {
  /** The server that accepted this connection (set by `Server.on_accept`). */
  server: Server | null = null;

  /** @param options - `{ engine, socket }` */
  constructor(options: StreamOptions = {}) {
    super(options);
  }

  /** @internal Leaves `server.channels` before `on_close` runs. */
  override _finish_close(): void {
    if (this.closed) return;
    const server = this.server;
    server?.channels.delete(this);
    super._finish_close();
    server?._maybe_finish_close();
  }
}

/** A connection class a server can build: `new ConnectionClass({ engine, socket })`. */
export type ConnectionClass<C extends Connection = Connection> = new (options: StreamOptions) => C;

/** A listening server that builds one `ConnectionClass` instance per accepted socket. */
export class Server<C extends Connection = Connection> extends StreamServer {
  /** The class built for each accepted connection; default {@link Connection}. */
  ConnectionClass: ConnectionClass<C>;
  /** The live connections of this server. */
  readonly channels: Set<C> = new Set();

  /**
   * @param ConnectionClass - built for each accepted socket (default `Connection`); a
   *   subclass may instead assign the `ConnectionClass` field
   * @param options - `{ engine, max_connections, mode }`
   */
  constructor(ConnectionClass?: ConnectionClass<C> | null, options: StreamServerOptions = {}) {
    super(options);
    if (ConnectionClass !== undefined && ConnectionClass !== null && typeof ConnectionClass !== 'function') {
      throw new TypeError('ConnectionClass must be a class');
    }
    this.ConnectionClass = ConnectionClass ?? (Connection as unknown as ConnectionClass<C>);
  }

  /**
   * Builds a `ConnectionClass` for the socket, links it to this server and adds it to
   * `channels`; the connection's `on_connect` follows.
   */
  override on_accept(socket: net.Socket): void {
    const options: StreamOptions = { engine: this.engine, socket };
    if (this.tls_options !== null) {
      options.tls = this.tls_options;
      if (this._secure_context !== undefined) options.secure_context = this._secure_context;
    }
    let connection: C;
    try {
      connection = new this.ConnectionClass(options);
    } catch (err) {
      // A constructor that throws leaves no half-built connection behind.
      if (!abandon_stream_of(socket)) socket.destroy();
      throw err;
    }
    connection.server = this as unknown as Server;
    if (!connection.closed) this.channels.add(connection);
  }

  /** @internal */
  protected override _close_connections(flush: boolean): void {
    for (const connection of [...this.channels]) connection.close(flush);
  }

  /** @internal */
  protected override _open_connections(): number {
    return this.channels.size;
  }
}
