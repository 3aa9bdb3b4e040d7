/**
 * A small bridge from callbacks to promises, shared by the examples.
 *
 * trousers itself is callback-driven: a server tells you it is listening by calling its
 * `on_listen`, and tells you binding failed by calling `on_error` with a `ListenError`.
 * The examples' `start()` functions return a promise instead, so the tour and the tests can
 * simply `await` a server. This is how:
 *
 * ```ts
 * const server = await listen_on(new Server(Echo), ['127.0.0.1', 0]);
 * console.log(server.local_address);          // { host: '127.0.0.1', port: 43127, ... }
 * ```
 *
 * @module
 */

import type { Address, Datagram, StreamServer } from '../lib/index.js';

/**
 * Starts `channel` listening on `address`.
 * @returns a promise of the channel, resolved once it is listening (right after its own
 *   `on_listen` ran) and rejected with the error if it could not bind (the channel has
 *   then closed itself).
 */
export function listen_on<T extends StreamServer | Datagram>(channel: T, address: Address): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // Wrap the callbacks of this one instance for the duration of the bind, then put the
    // class's own methods back: afterwards the channel behaves exactly as its class says.
    const { on_listen, on_error } = channel;
    const restore = (): void => {
      channel.on_listen = on_listen;
      channel.on_error = on_error;
    };
    channel.on_listen = () => {
      restore();
      on_listen.call(channel);
      resolve(channel);
    };
    channel.on_error = (err: Error) => {
      // Before on_listen, the only error is a failed bind (EADDRINUSE, EACCES, ...).
      restore();
      reject(err);
    };
    try {
      channel.listen(address);
    } catch (err) {
      // A malformed address (a port of 70000, say) throws at once.
      restore();
      throw err;
    }
  });
}
