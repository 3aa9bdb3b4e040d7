/**
 * A small bridge from callbacks to promises, shared by the examples, built on the engine's
 * composition API (`listening()`).
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

import { listening, type Address, type Datagram, type StreamServer } from '../lib/index.js';

/**
 * Starts `channel` listening on `address`.
 * @returns a promise of the channel, resolved once it is listening (right after its own
 *   `on_listen` ran) and rejected with the error if it could not bind (after its own
 *   `on_error` ran; the channel has then closed itself). `listening()` watches the channel
 *   without replacing any of its callbacks.
 */
export async function listen_on<T extends StreamServer | Datagram>(channel: T, address: Address): Promise<T> {
  // A malformed address (a port of 70000, say) throws at once, before anything is awaited.
  channel.listen(address);
  return listening(channel);
}
