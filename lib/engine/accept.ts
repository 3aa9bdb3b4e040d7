/**
 * Accepting sockets that read through `onread` (see `read_buffer.ts`).
 *
 * `net.Server` has no `onread` option: it builds each accepted `net.Socket` itself. Here the
 * listening handle's connection callback is replaced by one that builds the socket the same
 * way Node does (same options, counted in the server's connections, the same 'connection'
 * event), adding only `onread`. This relies on two things Node does not document: the
 * handle's `onconnection` property and the server's `_connections` count. Both are checked
 * first; when either is missing the server keeps Node's own accept path, which works the
 * same, only a little slower.
 *
 * @module
 */

import diagnostics_channel from 'node:diagnostics_channel';
import * as net from 'node:net';
import { mark_onread, READ_OPTIONS } from './read_buffer.js';

/** The channel Node announces accepted sockets on (for tracing tools); published here too. */
const server_socket_channel = diagnostics_channel.channel('net.server.socket');

type ConnectionCallback = (this: unknown, err: number, client?: object) => void;
interface ListenHandle {
  onconnection?: ConnectionCallback;
  setNoDelay?: (enable: boolean) => number;
}
interface ServerInternals {
  _handle?: ListenHandle | null;
  _connections?: number;
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  highWaterMark?: number;
}

/** Whether the server was given options that Node applies to each accepted socket. */
function uses_socket_options(server: ServerInternals): boolean {
  return server.pauseOnConnect === true || server.noDelay === true || server.keepAlive === true;
}

/**
 * Makes `server` (listening, no TLS) accept sockets that read through `onread`.
 * @returns false when this Node's internals do not allow it (Node's path stays)
 */
export function accept_with_onread(server: net.Server): boolean {
  const internals = server as unknown as ServerInternals;
  const handle = internals._handle;
  const original = handle?.onconnection;
  if (handle === null || handle === undefined || typeof original !== 'function' || typeof internals._connections !== 'number') {
    return false;
  }
  // Linux copies TCP_NODELAY from a listening socket to the sockets it accepts: set it once
  // here instead of once per connection (a setsockopt system call each). The sockets are
  // built knowing it is on, so a stream that keeps no_delay on makes no call at all, and one
  // that turns it off still does. Elsewhere, and for Unix sockets, each stream sets it.
  const inherits_nodelay = process.platform === 'linux' && typeof handle.setNoDelay === 'function' && handle.setNoDelay(true) === 0;
  handle.onconnection = function onconnection(this: unknown, err: number, client?: object): void {
    // Errors, and server options this copy of Node's accept does not carry over (trousers
    // sets none of them), take Node's path.
    if (err !== 0 || client === undefined || typeof server.maxConnections === 'number' || uses_socket_options(internals)) {
      original.call(this, err, client);
      return;
    }
    const socket = new net.Socket({
      handle: client,
      allowHalfOpen: internals.allowHalfOpen === true,
      readable: true,
      writable: true,
      readableHighWaterMark: internals.highWaterMark,
      writableHighWaterMark: internals.highWaterMark,
      noDelay: inherits_nodelay,
      onread: READ_OPTIONS,
    } as net.SocketConstructorOpts);
    mark_onread(socket);
    // What Node's own accept does: count it, link it to its server, announce it.
    internals._connections = (internals._connections ?? 0) + 1;
    (socket as net.Socket & { server?: net.Server; _server?: net.Server }).server = server;
    (socket as net.Socket & { _server?: net.Server })._server = server;
    server.emit('connection', socket);
    if (server_socket_channel.hasSubscribers) server_socket_channel.publish({ socket });
  };
  return true;
}
