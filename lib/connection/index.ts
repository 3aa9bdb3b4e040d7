/**
 * `trousers/connection`: whole messages between processes, wire-compatible with Python's
 * `multiprocessing.connection` (and its ancestor, the `processing.connection` package).
 *
 * ```ts
 * import { listen, connect } from 'trousers/connection';
 *
 * const listener = await listen(['127.0.0.1', 0], { authkey: 'secret' });
 * const conn = await listener.accept();
 * const job = await conn.recv_bytes();
 * await conn.send_bytes(Buffer.from('done'));
 * ```
 *
 * A Python process talks to it with nothing but the standard library:
 *
 * ```python
 * from multiprocessing.connection import Client
 * c = Client(('127.0.0.1', port), authkey=b'secret')
 * c.send_bytes(b'job'); print(c.recv_bytes())
 * ```
 *
 * - Messages: a 4-byte big-endian length, then the payload (`ff ff ff ff` + an 8-byte
 *   length over 2 GiB), byte for byte like Python.
 * - `authkey`: Python's HMAC challenge/response, both the modern `{sha256}` form
 *   (Python >= 3.12) and the legacy HMAC-MD5 form (Python <= 3.11 and 2.7).
 * - `send`/`recv` carry structured values with a codec: `v8.serialize` (default) or JSON
 *   between Node processes, and `codec: 'pickle'`, which speaks Python's own
 *   `Connection.send`/`recv` (protocol 2 out, any protocol in; see `trousers/pickle`).
 * - Windows named pipes (`\\.\pipe\name`) work Node to Node only: Python's pipe
 *   connections use message-mode pipes without length prefixes, which are not
 *   byte-compatible with this (socket) format.
 *
 * @module
 */

export { listen, Listener, type ListenOptions } from './listener.js';
export { connect, type ConnectOptions } from './client.js';
export { MessageConnection } from './message_connection.js';
export { wait } from './wait.js';
export { type MessageOptions } from './options.js';
export { address_family, type ConnectionAddress, type ListenerAddress, type Family } from './address.js';
export { JSON_CODEC, V8_CODEC, PICKLE_CODEC, type Codec, type CodecOption } from './codec.js';
export { type DigestName } from './auth.js';
export { AuthenticationError, ConnectionEOFError, HandshakeTimeoutError, ProtocolError } from './errors.js';
