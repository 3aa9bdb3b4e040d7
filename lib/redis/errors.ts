/**
 * The errors of `trousers/redis`, each a {@link TrousersError} with a stable `code`.
 *
 * | class | code | when |
 * |---|---|---|
 * | {@link RedisError} | `ERR_REDIS_REPLY` | the server answered a command with an error reply (`-ERR ...`, `-WRONGTYPE ...`) |
 * | {@link RedisProtocolError} | `ERR_REDIS_PROTOCOL` | bytes that are not RESP, or over a limit; the connection is closed |
 * | {@link RedisConnectionError} | `ERR_REDIS_CONNECTION` | the connection broke while the command was written (it may or may not have run: never resent) |
 * | {@link RedisClosedError} | `ERR_REDIS_CLOSED` | the client was closed, or gave up reconnecting |
 * | {@link RedisQueueFullError} | `ERR_REDIS_QUEUE_FULL` | a command was issued while disconnected and `max_waiting` commands already wait |
 * | {@link RedisWatchLostError} | `ERR_REDIS_WATCH_LOST` | the connection was re-established between `watch()` and `exec()`: the WATCH no longer holds |
 *
 * @module
 */

import { TrousersError, type TrousersErrorOptions } from '../index.js';

/**
 * An error reply from the server. `message` is the server's text, whole
 * (`'WRONGTYPE Operation against a key holding the wrong kind of value'`); `prefix` is its
 * first word (`'WRONGTYPE'`, `'ERR'`, `'NOAUTH'`, ...). Inside a transaction's reply array an
 * error reply is an element of this class, not a rejection.
 */
export class RedisError extends TrousersError {
  /** The first word of the server's message, by Redis convention the error kind. */
  readonly prefix: string;
  /** @param message - the server's error text (after the `-`) */
  constructor(message: string) {
    super('ERR_REDIS_REPLY', message);
    const space = message.indexOf(' ');
    this.prefix = space < 0 ? message : message.slice(0, space);
  }
}

/**
 * The peer sent bytes that are not RESP (an unknown type byte, a bad length, a line or bulk
 * string over the limits). The connection is closed and every pending command is rejected
 * with this error.
 */
export class RedisProtocolError extends TrousersError {
  /** @param message - what was wrong (never the bytes themselves beyond a short excerpt) */
  constructor(message: string, options?: TrousersErrorOptions) {
    super('ERR_REDIS_PROTOCOL', message, options);
  }
}

/**
 * The connection broke (or was closed by a protocol error) after the command had been
 * written: Redis may or may not have executed it, so it is rejected, never resent.
 */
export class RedisConnectionError extends TrousersError {
  /** @param message - what happened; `cause` the socket error or protocol error */
  constructor(message: string, options?: TrousersErrorOptions) {
    super('ERR_REDIS_CONNECTION', message, options);
  }
}

/** The client is closed (by `close()`, a failed handshake, or reconnect attempts running out). */
export class RedisClosedError extends TrousersError {
  /** @param message - why */
  constructor(message = 'the Redis client is closed', options?: TrousersErrorOptions) {
    super('ERR_REDIS_CLOSED', message, options);
  }
}

/** A command was issued while disconnected and `max_waiting` commands were already waiting. */
export class RedisQueueFullError extends TrousersError {
  /** The `max_waiting` limit. */
  readonly limit: number;
  /** @param limit - the `max_waiting` option */
  constructor(limit: number) {
    super('ERR_REDIS_QUEUE_FULL', `not connected to Redis, and ${limit} commands already wait (max_waiting)`);
    this.limit = limit;
  }
}

/**
 * `exec()` of a transaction begun with `watch()` was refused because the connection was
 * re-established in between: the new connection holds no WATCH, so running the transaction
 * would not be optimistic locking any more. Nothing was sent; retry from `watch()`.
 */
export class RedisWatchLostError extends TrousersError {
  constructor() {
    super('ERR_REDIS_WATCH_LOST', 'the connection was re-established after WATCH: the transaction was not sent');
  }
}
