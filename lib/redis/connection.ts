/**
 * RedisConnection: one socket to a Redis server, a trousers {@link Client} whose framing is
 * `read_delimiter` switching between `'\r\n'` (RESP lines) and byte counts (bulk payloads),
 * driven by the pure {@link RespDecoder}. It hands whole replies to its owner, the
 * {@link RedisClient}, which matches them to commands; it knows nothing of commands itself.
 *
 * A trousers stream connects once, so a client that reconnects builds a new
 * RedisConnection each time.
 *
 * @module
 */

import { Client, type BufferOverflowError, type ConnectError, type StreamOptions, type TlsError } from '../index.js';
import { RedisProtocolError } from './errors.js';
import { INCOMPLETE, RespDecoder, type RedisReply, type RespDecoderOptions } from './resp.js';

/** What a connection reports to the client that owns it. (not part of the public API) */
export interface ConnectionOwner {
  _on_connection_open(conn: RedisConnection): void;
  _on_reply(conn: RedisConnection, reply: RedisReply): void;
  _on_connection_closed(conn: RedisConnection): void;
}

const LINE = '\r\n';

/** One socket to Redis. Built by {@link RedisClient}; not constructed by users. */
export class RedisConnection extends Client {
  private readonly decoder: RespDecoder;
  private readonly owner: ConnectionOwner;
  /** The first error that ends this connection (a protocol error, a socket error). */
  failure: Error | null = null;

  /** @internal */
  constructor(owner: ConnectionOwner, decoder_options: RespDecoderOptions, options: StreamOptions) {
    super(options);
    this.owner = owner;
    this.decoder = new RespDecoder(decoder_options);
    this.read_delimiter = LINE;
    // Bulk payloads are framed by count (read_limit allows them past buffer_size); only
    // lines are bounded by it, so it is the line limit.
    this.buffer_size = Math.max(this.decoder.line_limit + 2, 1024);
  }

  override on_connect(): void {
    this.owner._on_connection_open(this);
  }

  override on_read(frame: Buffer): void {
    const decoder = this.decoder;
    const before = decoder.want;
    let reply: RedisReply | typeof INCOMPLETE;
    try {
      reply = decoder.frame(frame);
    } catch (err) {
      this.fail(err instanceof Error ? err : new RedisProtocolError(String(err)));
      return;
    }
    const want = decoder.want;
    if (want !== before) this.read_delimiter = want === 0 ? LINE : want;
    if (reply !== INCOMPLETE) this.owner._on_reply(this, reply);
  }

  override on_incomplete(): void {
    // The server closed in the middle of a reply: the pending commands are rejected on close.
    this.failure ??= new RedisProtocolError('the server closed the connection in the middle of a reply');
  }

  override on_overflow_error(err: BufferOverflowError): void {
    this.fail(new RedisProtocolError(`a reply line is longer than ${this.decoder.line_limit} bytes`, { cause: err }));
  }

  override on_connect_error(err: ConnectError): void {
    // on_close follows; the owner reads `failure` there.
    this.failure ??= err;
  }

  override on_ssl_handshake_error(err: TlsError): void {
    // on_close follows; the owner reads `failure` there (and ready() rejects with it).
    this.failure ??= err;
  }

  override on_error(err: Error): void {
    this.fail(err);
  }

  override on_close(): void {
    this.failure ??= this.close_reason;
    this.owner._on_connection_closed(this);
  }

  /**
   * True when someone other than the server and the owning client closed this connection
   * (`engine.stop()`, say): the client must not reconnect then.
   */
  closed_from_outside = false;
  private owner_closing = false;

  /** Closes at once, remembering why. */
  fail(err: Error): void {
    this.failure ??= err;
    this.owner_close(false);
  }

  /** @internal The owning client closes its connection. */
  owner_close(flush: boolean): void {
    this.owner_closing = true;
    this.close(flush);
  }

  /**
   * Closes the connection. A close that neither the client nor the server's end of stream
   * asked for (an engine stopping) also closes the client that owns it.
   */
  override close(flush = true): void {
    if (!this.owner_closing && !this.closed && !this.closing && this.failure === null && this.close_reason === null && this._socket?.readableEnded !== true) {
      this.closed_from_outside = true;
    }
    super.close(flush);
  }
}
