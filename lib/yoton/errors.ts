/**
 * The errors of `trousers/yoton`, each a {@link TrousersError} with a stable `code`.
 *
 * | class | code | Python yoton's equivalent |
 * |---|---|---|
 * | {@link YotonConnectError} | `ERR_YOTON_CONNECT` | `IOError("Cannot connect to ...")`, `IOError("Could not connect: ...")` |
 * | {@link YotonBindError} | `ERR_YOTON_BIND` | the socket error of `bind()`, `IOError("Could not bind to any of ...")` |
 * | {@link YotonTimeoutError} | `ERR_YOTON_TIMEOUT` | `yoton.TimeoutError`, `RuntimeError("Sending the packages timed out.")` |
 * | {@link YotonCancelledError} | `ERR_YOTON_CANCELLED` | `yoton.CancelledError` |
 * | {@link YotonRemoteError} | `ERR_YOTON_REMOTE` | the `Exception(msg)` a replier's error reply becomes |
 * | {@link YotonClosedError} | `ERR_YOTON_CLOSED` | `IOError("Cannot send from closed ...")` |
 * | {@link YotonDecodeError} | `ERR_YOTON_DECODE` | `EOFError` / `ValueError` of the OBJECT unpacker |
 *
 * Bad arguments throw `TypeError` / `RangeError` at once (where Python raises `ValueError`),
 * with yoton's own message where it has one.
 *
 * @module
 */

import { TrousersError, type TrousersErrorOptions } from '../index.js';

/** `Context.connect()` could not reach the address, or the handshake failed. */
export class YotonConnectError extends TrousersError {
  /** @param message - yoton's message, e.g. `Cannot connect to 127.0.0.1 on 5000: ...` */
  constructor(message: string, options?: TrousersErrorOptions) {
    super('ERR_YOTON_CONNECT', message, options);
  }
}

/** `Context.bind()` could not listen on any of the ports it tried. */
export class YotonBindError extends TrousersError {
  /** @param message - what failed; `cause` is the last listen error */
  constructor(message: string, options?: TrousersErrorOptions) {
    super('ERR_YOTON_BIND', message, options);
  }
}

/** A wait ran out of time: `Future.result(timeout)`, `flush(timeout)`. */
export class YotonTimeoutError extends TrousersError {
  /** @param message - yoton's message, e.g. `Result unavailable within the specified time.` */
  constructor(message: string) {
    super('ERR_YOTON_TIMEOUT', message);
  }
}

/** The Future was cancelled (by `cancel()`, or by its auto-cancel timeout). */
export class YotonCancelledError extends TrousersError {
  /** @param message - yoton's message */
  constructor(message: string) {
    super('ERR_YOTON_CANCELLED', message);
  }
}

/**
 * The replier answered with yoton's error reply: its method threw, or does not exist.
 * `message` is the remote text without trailing whitespace; `remote_message` is it verbatim.
 */
export class YotonRemoteError extends TrousersError {
  /** The error text exactly as the replier sent it (Python appends `\n` and a line hint). */
  readonly remote_message: string;
  /** @param remote_message - the text of `("yoton_ERROR_HANDLING_REQUEST", text)` */
  constructor(remote_message: string) {
    super('ERR_YOTON_REMOTE', remote_message.trimEnd());
    this.remote_message = remote_message;
  }
}

/** Sending on a closed channel. */
export class YotonClosedError extends TrousersError {
  /** @param message - yoton's message, e.g. `Cannot send from closed PubChannel.` */
  constructor(message: string) {
    super('ERR_YOTON_CLOSED', message);
  }
}

/** Bytes that are not a valid OBJECT (or TEXT) message. */
export class YotonDecodeError extends TrousersError {
  /** @param message - what is wrong with the bytes */
  constructor(message: string, options?: TrousersErrorOptions) {
    super('ERR_YOTON_DECODE', message, options);
  }
}
