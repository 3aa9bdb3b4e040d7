/**
 * The one error vocabulary of trousers.
 *
 * Every error a channel reports is a {@link TrousersError} with a stable string
 * `code` (safe to switch on; messages may change between versions), an optional
 * `cause` (the underlying system error, whose own `code` is e.g. `ECONNREFUSED`)
 * and, where it helps, context fields such as `limit` or `address`.
 *
 * Bad argument types and values are not reported through callbacks: they throw
 * Node's own `TypeError` / `RangeError` at once, like Node's APIs do.
 *
 * @module
 */

/** Options accepted by every trousers error constructor. */
export interface TrousersErrorOptions {
  /** The underlying error (a system error from Node, or whatever a callback threw). */
  cause?: unknown;
}

/** Base class of every error trousers reports. */
export class TrousersError extends Error {
  /** Stable machine-readable code, e.g. `'ERR_CONNECT'`. */
  readonly code: string;

  /**
   * @param code - stable machine-readable code
   * @param message - human-readable description (never contains user data such as keys)
   * @param options - `cause`, the underlying error
   */
  constructor(code: string, message: string, options?: TrousersErrorOptions) {
    super(message, options && 'cause' in options ? { cause: options.cause } : undefined);
    this.code = code;
  }

  /** Class name as the error's `name`, so stack traces read `ConnectError: ...`. */
  override get name(): string {
    return this.constructor.name;
  }

  /**
   * The system error code behind this error (`ECONNREFUSED`, `EADDRINUSE`, ...) or
   * `undefined` when there is none.
   */
  get syscode(): string | undefined {
    const cause = this.cause as { code?: unknown } | undefined;
    return cause && typeof cause.code === 'string' ? cause.code : undefined;
  }
}

/** A connection attempt failed: refused, unresolvable host, unreachable, timed out. */
export class ConnectError extends TrousersError {
  /** The address that was being connected to, as given (a path, or `host:port`). */
  readonly address: string;
  /**
   * @param address - printable form of the target address
   * @param options - `cause`, the system error
   * @param code - defaults to `'ERR_CONNECT'`
   */
  constructor(address: string, options?: TrousersErrorOptions, code = 'ERR_CONNECT') {
    const sys = (options?.cause as { code?: string } | undefined)?.code;
    super(code, `could not connect to ${address}${sys ? ` (${sys})` : ''}`, options);
    this.address = address;
  }
}

/** A connect attempt did not complete within its `timeout`. */
export class ConnectTimeoutError extends ConnectError {
  /** The timeout that elapsed, in milliseconds. */
  readonly timeout: number;
  /**
   * @param address - printable form of the target address
   * @param timeout - the timeout that elapsed (ms)
   */
  constructor(address: string, timeout: number) {
    super(address, undefined, 'ERR_CONNECT_TIMEOUT');
    this.message = `connect to ${address} timed out after ${timeout} ms`;
    this.timeout = timeout;
  }
}

/** Binding or listening failed (`EADDRINUSE`, `EACCES`, a path that is not a socket, ...). */
export class ListenError extends TrousersError {
  /** The address that was being bound, in printable form. */
  readonly address: string;
  /**
   * @param address - printable form of the address
   * @param message - what went wrong
   * @param options - `cause`, the system error
   * @param code - defaults to `'ERR_LISTEN'`
   */
  constructor(address: string, message: string, options?: TrousersErrorOptions, code = 'ERR_LISTEN') {
    super(code, message, options);
    this.address = address;
  }

  /** Like Node's system errors: `EADDRINUSE`, `EACCES`, ... where one applies. */
  get errno_code(): string | undefined {
    return this.syscode;
  }
}

/** Accepting a connection failed (`EMFILE`, `ENFILE`, ...); the server keeps listening. */
export class AcceptError extends TrousersError {
  /** @param options - `cause`, the system error */
  constructor(options?: TrousersErrorOptions) {
    const sys = (options?.cause as { code?: string } | undefined)?.code;
    super('ERR_ACCEPT', `accept failed${sys ? ` (${sys})` : ''}; still listening`, options);
  }
}

/**
 * The read buffer holds more unframed bytes than allowed. `limit` is the limit that was
 * exceeded and `buffered` the bytes held at that moment (nothing is thrown away before
 * the callback runs: the channel still holds them, and `data` is a copy for inspection).
 */
export class BufferOverflowError extends TrousersError {
  /** The limit in bytes that was exceeded. */
  readonly limit: number;
  /** How many bytes were buffered when the limit was exceeded. */
  readonly buffered: number;
  /**
   * @param limit - the limit in bytes
   * @param buffered - bytes held
   */
  constructor(limit: number, buffered: number) {
    super('ERR_BUFFER_OVERFLOW', `read buffer holds ${buffered} unframed bytes, over the limit of ${limit}`);
    this.limit = limit;
    this.buffered = buffered;
  }
}

/** An operation (write, write_file, connect, listen) on a channel that is closing or closed. */
export class ChannelClosedError extends TrousersError {
  /** @param operation - what was attempted, e.g. `'write'` */
  constructor(operation: string) {
    super('ERR_CHANNEL_CLOSED', `cannot ${operation}: the channel is closed or closing`);
  }
}

/** A user callback threw; the original value is the `cause`. */
export class CallbackError extends TrousersError {
  /** Name of the callback that threw, e.g. `'on_read'`. */
  readonly callback: string;
  /**
   * @param callback - the callback's name
   * @param cause - what it threw
   */
  constructor(callback: string, cause: unknown) {
    const what = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super('ERR_CALLBACK', `${callback} threw ${what}`, { cause });
    this.callback = callback;
  }
}

/** A system error on an established channel (reset, broken pipe, ...). */
export class SocketError extends TrousersError {
  /** @param options - `cause`, the system error */
  constructor(options?: TrousersErrorOptions) {
    const sys = (options?.cause as { code?: string } | undefined)?.code;
    super('ERR_SOCKET', `socket error${sys ? ` (${sys})` : ''}`, options);
  }
}

/** `write_file` could not open or read its file. */
export class FileError extends TrousersError {
  /** @param options - `cause`, the system error */
  constructor(options?: TrousersErrorOptions) {
    const sys = (options?.cause as { code?: string } | undefined)?.code;
    super('ERR_FILE', `write_file failed${sys ? ` (${sys})` : ''}`, options);
  }
}

/** A stream idled longer than its `timeout` without reading or writing. */
export class TimeoutError extends TrousersError {
  /** The idle time limit, in milliseconds. */
  readonly timeout: number;
  /** @param timeout - the idle timeout that elapsed (ms) */
  constructor(timeout: number) {
    super('ERR_IDLE_TIMEOUT', `no activity for ${timeout} ms`);
    this.timeout = timeout;
  }
}

/**
 * A TLS handshake failed: a certificate that does not verify, a host name that does not match,
 * an expired certificate, a peer that does not speak TLS. `cause.code` is Node's / OpenSSL's
 * code, e.g. `CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`.
 */
export class TlsError extends TrousersError {
  /** @param options - `cause`, Node's TLS error */
  constructor(options?: TrousersErrorOptions) {
    const cause = options?.cause as { code?: string; message?: string } | undefined;
    super('ERR_TLS', `TLS handshake failed${cause?.code ? ` (${cause.code})` : cause?.message ? `: ${cause.message}` : ''}`, options);
  }
}

/** A `Struct` format string is invalid, or values do not fit it. */
export class StructError extends TrousersError {
  /** @param message - what is wrong */
  constructor(message: string) {
    super('ERR_STRUCT', message);
  }
}

/**
 * Wraps anything thrown into an Error for reporting: Errors pass through unchanged.
 * @internal
 */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new TrousersError('ERR_UNKNOWN', `non-error thrown: ${String(value)}`, { cause: value });
}
