/**
 * The errors of `trousers/connection`, each a {@link TrousersError} with a stable `code`.
 *
 * | class                   | code                      | Python's equivalent                      |
 * |-------------------------|---------------------------|------------------------------------------|
 * | {@link ConnectionEOFError}  | `ERR_CONNECTION_EOF`  | `EOFError`: the peer ended the stream at a message boundary |
 * | {@link ProtocolError}       | `ERR_PROTOCOL`        | `OSError`: stream ended inside a message, bad length, message over `maxlength` |
 * | {@link AuthenticationError} | `ERR_AUTHENTICATION`  | `multiprocessing.AuthenticationError`    |
 * | {@link HandshakeTimeoutError} | `ERR_HANDSHAKE_TIMEOUT` | (none: Python waits forever)         |
 *
 * Messages never contain key material or message contents.
 *
 * @module
 */

import { TrousersError, type TrousersErrorOptions } from '../index.js';

/**
 * The peer ended the stream at a message boundary: there is nothing more to receive.
 * Every later `recv_bytes()` / `recv()` rejects with it again.
 */
export class ConnectionEOFError extends TrousersError {
  /** @param options - `cause`, if any */
  constructor(options?: TrousersErrorOptions) {
    super('ERR_CONNECTION_EOF', 'the peer closed the connection (end of stream at a message boundary)', options);
  }
}

/**
 * The byte stream broke the framing rules: it ended inside a message, announced a negative
 * length, or a message was longer than the `maxlength` allowed. The connection is closed and
 * nothing half-read is ever delivered.
 */
export class ProtocolError extends TrousersError {
  /** The announced message length, when the error is about one. */
  readonly length: number | undefined;
  /** The limit that was exceeded, when the error is about one. */
  readonly limit: number | undefined;
  /**
   * @param message - what went wrong
   * @param fields - `length` / `limit` context, and `cause`
   */
  constructor(message: string, fields: { length?: number; limit?: number } & TrousersErrorOptions = {}) {
    super('ERR_PROTOCOL', message, fields);
    this.length = fields.length;
    this.limit = fields.limit;
  }
}

/**
 * The shared-secret handshake failed: a wrong key (on either side), an unsupported digest, a
 * malformed or oversized handshake message. The connection is closed.
 */
export class AuthenticationError extends TrousersError {
  /**
   * @param message - what went wrong (never includes the key)
   * @param options - `cause`, if any
   * @param code - defaults to `'ERR_AUTHENTICATION'`
   */
  constructor(message: string, options?: TrousersErrorOptions, code = 'ERR_AUTHENTICATION') {
    super(code, message, options);
  }
}

/** The handshake did not finish within `handshake_timeout`; the connection is closed. */
export class HandshakeTimeoutError extends AuthenticationError {
  /** The time limit that elapsed, in milliseconds. */
  readonly timeout: number;
  /** @param timeout - the limit that elapsed (ms) */
  constructor(timeout: number) {
    super(`the authentication handshake did not finish within ${timeout} ms`, undefined, 'ERR_HANDSHAKE_TIMEOUT');
    this.timeout = timeout;
  }
}
