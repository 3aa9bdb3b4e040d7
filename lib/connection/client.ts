/**
 * `connect()`: Python's `Client(address, family, authkey)`, as a promise.
 *
 * ```ts
 * const conn = await connect(['127.0.0.1', 6000], { authkey: 'secret', timeout: 5000 });
 * ```
 *
 * @module
 */

import { connected } from '../index.js';
import { resolve_address, type ConnectionAddress } from './address.js';
import { MessageStream } from './endpoint.js';
import { handshake } from './handshake.js';
import { MessageConnection } from './message_connection.js';
import { resolve_options, type MessageOptions } from './options.js';

/** Options of {@link connect}. */
export interface ConnectOptions extends MessageOptions {
  /** Milliseconds to wait for the connection itself (not the handshake); default: the OS's limit. */
  timeout?: number;
}

/**
 * Connects to a listener (a trousers one or Python's `Listener`) and, with `authkey`, runs
 * the handshake (answer the listener's challenge, then challenge it).
 * @param address - `[host, port]`, `{ host, port }` or a socket path
 * @returns a promise of the connection. It rejects with `ConnectError` /
 *   `ConnectTimeoutError` when the connection fails, with {@link AuthenticationError} /
 *   {@link HandshakeTimeoutError} when the handshake does (the socket is closed then).
 * @throws TypeError / RangeError at once for a bad address or bad options
 */
export function connect(address: ConnectionAddress, options: ConnectOptions = {}): Promise<MessageConnection> {
  const opts = resolve_options(options);
  if (address === undefined || address === null) throw new TypeError('connect needs an address');
  const target = resolve_address(address, options.family);
  const timeout = options.timeout;
  const stream = new MessageStream({ engine: opts.engine }, opts);
  const endpoint = stream.endpoint;
  stream.connect(target.address, timeout === undefined ? {} : { timeout });
  // Rejects with the ConnectError / ConnectTimeoutError the stream's on_connect_error got.
  const up = connected(stream);
  return (async () => {
    await up;
    if (opts.key !== null) await handshake(endpoint, opts.engine, 'client', opts.key, opts.handshake_timeout, opts.digest);
    return new MessageConnection(endpoint, opts.codec);
  })();
}
