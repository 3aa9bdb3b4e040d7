/**
 * The errors of `trousers/csp`, each a {@link TrousersError} with a stable `code`, and the
 * PyCSP exception each one stands for.
 *
 * | class                      | code                    | PyCSP                         |
 * |----------------------------|-------------------------|-------------------------------|
 * | {@link ChannelPoisonError} | `ERR_CSP_POISON`        | `ChannelPoisonException`      |
 * | {@link ChannelRetireError} | `ERR_CSP_RETIRE`        | `ChannelRetireException`      |
 * | {@link ChannelSocketError} | `ERR_CSP_SOCKET`        | `ChannelSocketException`      |
 * | {@link ChannelConnectError}| `ERR_CSP_CONNECT`       | `ChannelConnectException`     |
 * | {@link ChannelLostError}   | `ERR_CSP_LOST`          | `ChannelLostException`        |
 * | {@link ChannelBindError}   | `ERR_CSP_BIND`          | `ChannelBindException`        |
 * | {@link ChannelMovedError}  | `ERR_CSP_MOVED`         | `FatalException` (moved end)  |
 * | {@link CspUsageError}      | `ERR_CSP_USAGE`         | `InfoException`               |
 * | {@link CspProtocolError}   | `ERR_CSP_BAD_HEADER`, `ERR_CSP_UNKNOWN_COMMAND`, `ERR_CSP_UNKNOWN_CHANNEL`, `ERR_CSP_UNKNOWN_PROCESS`, `ERR_CSP_PAYLOAD`, `ERR_CSP_LOCK_TIMEOUT` | (PyCSP raises `Fatal error!` or waits for ever) |
 *
 * @module
 */

import { TrousersError, type TrousersErrorOptions } from '../index.js';

/** A channel address as the errors report it. */
export type CspAddress = readonly [string, number];

/** The channel is poisoned: every later read, write or alternation on it fails with this. */
export class ChannelPoisonError extends TrousersError {
  constructor() {
    super('ERR_CSP_POISON', 'the channel is poisoned');
  }
}

/** The channel is retired (every end of one side retired): every later operation fails with this. */
export class ChannelRetireError extends TrousersError {
  constructor() {
    super('ERR_CSP_RETIRE', 'the channel is retired');
  }
}

/** Base class of the socket troubles: `addr` is the channel home (or peer) concerned. */
export class ChannelSocketError extends TrousersError {
  /** The address concerned, `[host, port]`. */
  readonly addr: CspAddress;
  /**
   * @param addr - the address concerned
   * @param message - what went wrong
   * @param options - `cause`
   * @param code - defaults to `'ERR_CSP_SOCKET'`
   */
  constructor(addr: CspAddress, message: string, options?: TrousersErrorOptions, code = 'ERR_CSP_SOCKET') {
    super(code, `${message} (${addr[0]}:${addr[1]})`, options);
    this.addr = addr;
  }
}

/** The channel home given as `connect` (or a mobile end's home) cannot be reached. */
export class ChannelConnectError extends ChannelSocketError {
  /** @param addr - the home; @param message - what failed; @param options - `cause` */
  constructor(addr: CspAddress, message: string, options?: TrousersErrorOptions) {
    super(addr, message, options, 'ERR_CSP_CONNECT');
  }
}

/** The connection to a channel home (or to the peer of a pending rendezvous) was lost. */
export class ChannelLostError extends ChannelSocketError {
  /** @param addr - the peer; @param message - what failed; @param options - `cause` */
  constructor(addr: CspAddress, message: string, options?: TrousersErrorOptions) {
    super(addr, message, options, 'ERR_CSP_LOST');
  }
}

/** The process's listening socket could not be bound. */
export class ChannelBindError extends ChannelSocketError {
  /** @param addr - the address asked for; @param message - what failed; @param options - `cause` */
  constructor(addr: CspAddress, message: string, options?: TrousersErrorOptions) {
    super(addr, message, options, 'ERR_CSP_BIND');
  }
}

/** A channel end was used after it was sent to another process (PyCSP's FatalException). */
export class ChannelMovedError extends TrousersError {
  constructor() {
    super('ERR_CSP_MOVED', 'this channel end was moved to another process and can no longer be used here');
  }
}

/** The API was used in a way PyCSP rejects with an `InfoException` (the message says how to fix it). */
export class CspUsageError extends TrousersError {
  /** @param message - what was wrong and what to do instead */
  constructor(message: string) {
    super('ERR_CSP_USAGE', message);
  }
}

/**
 * A peer sent something this process cannot take: a header that is garbage or names an
 * unknown command, a channel or process this process does not have, a payload over the
 * limit. Reported to the `on_error` set with `configure()`; only the offending connection
 * is closed (or only the message dropped, for unknown names).
 */
export class CspProtocolError extends TrousersError {
  /**
   * @param code - `ERR_CSP_BAD_HEADER`, `ERR_CSP_UNKNOWN_COMMAND`, `ERR_CSP_UNKNOWN_CHANNEL`,
   *   `ERR_CSP_UNKNOWN_PROCESS`, `ERR_CSP_PAYLOAD` or `ERR_CSP_LOCK_TIMEOUT`
   * @param message - what was wrong
   */
  constructor(code: string, message: string) {
    super(code, message);
  }
}
