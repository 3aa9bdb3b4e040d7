/**
 * The embedded hub: a RESP server on trousers that serves the {@link Store}'s commands, so a
 * group needs nothing installed on one machine. redis-py, redis-cli and the trousers client
 * all talk to it.
 *
 * ```ts
 * const hub = await serve_hub(['127.0.0.1', 6390]);
 * const chan = new Channel({ redis: hub.address });
 * ...
 * await hub.close();
 * ```
 *
 * One {@link HubConnection} per client: its framing is `read_delimiter` switching between
 * `'\r\n'` and bulk byte counts, driven by the same pure RESP decoder as the client (with
 * inline commands allowed, as Redis does for telnet users). A client blocked in `BLPOP`
 * stops being read until it is answered, so its later commands wait, as in Redis; so does a
 * client whose unread replies pass the write buffer's high water mark, until they drain. Replies
 * written in one tick go out in one write. Bytes that are not RESP get Redis' own
 * `-ERR Protocol error` and close that connection only.
 *
 * @module
 */

import {
  Connection,
  Server,
  closed,
  listening,
  type Address,
  type BufferOverflowError,
  type Engine,
  type ReportedAddress,
  type StreamOptions,
  type Timer,
} from '../../index.js';
import { encode_reply, INCOMPLETE, RedisError, RespDecoder, type RedisReply, type RespOut } from '../../redis/index.js';
import { BLOCKED, Store, type Session } from './store.js';

/** Options of {@link serve_hub}. */
export interface HubOptions {
  /** The engine that owns the hub's channels; default `Engine.instance()`. */
  engine?: Engine;
  /** A store to serve (several hubs may share one); default a new one. */
  store?: Store;
  /** Largest bulk string a client may send. Default 64 MiB. */
  max_bulk?: number;
  /** Most arguments in one command. Default 1,048,576. */
  max_args?: number;
  /** Most clients at once (beyond it, connections are refused). Default 10,000. */
  max_connections?: number;
}

const LINE = '\r\n';

/** One client connection of the hub. */
export class HubConnection extends Connection {
  private decoder: RespDecoder | null = null;
  private session: Session | null = null;
  private timer: Timer | null = null;
  private out: Buffer[] = [];
  private flush_scheduled = false;
  private quitting = false;
  private write_paused = false;

  /** @param options - as for every Connection */
  constructor(options: StreamOptions = {}) {
    super(options);
    this.read_delimiter = LINE;
  }

  private get hub(): Hub {
    return this.server as unknown as Hub;
  }

  override on_connect(): void {
    const hub = this.hub;
    this.decoder = new RespDecoder({ inline: true, max_bulk: hub.max_bulk, max_elements: hub.max_args, max_depth: 1, max_line: 65536 });
    this.buffer_size = 65538;
    this.session = hub.store.session((reply) => this.woken(reply));
  }

  override on_read(frame: Buffer): void {
    const decoder = this.decoder;
    const session = this.session;
    if (decoder === null || session === null) return;
    const before = decoder.want;
    let value: RedisReply | typeof INCOMPLETE;
    try {
      value = decoder.frame(frame);
    } catch (err) {
      this.protocol_error((err as Error).message);
      return;
    }
    const want = decoder.want;
    if (want !== before) this.read_delimiter = want === 0 ? LINE : want;
    if (value === INCOMPLETE) return;
    if (!Array.isArray(value) || !value.every((v): v is Buffer => Buffer.isBuffer(v))) {
      this.protocol_error('expected an array of bulk strings');
      return;
    }
    if (value.length === 0) return;
    const reply = this.hub.store.execute(session, value);
    if (reply === BLOCKED) {
      // Later commands wait until BLPOP is answered, as in Redis.
      this.pause_reading();
      const seconds = session.blocked!.timeout;
      if (seconds > 0) this.timer = this.engine.defer(seconds * 1000, () => this.hub.store.timeout(session));
      return;
    }
    this.reply(reply);
    if (value[0]!.length === 4 && value[0]!.toString('latin1').toLowerCase() === 'quit') {
      this.quitting = true;
      this.flush();
      this.close();
    }
  }

  /**
   * A client that sends commands without reading the replies: stop reading its commands
   * until the replies have drained (Redis would drop it at its output buffer limit).
   */
  override on_pause_writing(): void {
    this.write_paused = true;
    this.pause_reading();
  }

  override on_resume_writing(): void {
    this.write_paused = false;
    if (this.session?.blocked === null) this.resume_reading();
  }

  override on_overflow_error(_err: BufferOverflowError): void {
    this.protocol_error('too big inline request');
  }

  override on_error(_err: Error): void {
    this.close(false);
  }

  override on_close(): void {
    this.timer?.cancel();
    this.timer = null;
    if (this.session !== null) this.hub.store.drop(this.session);
  }

  /** A blocked BLPOP was answered (an element, or null on timeout). */
  private woken(reply: RespOut): void {
    this.timer?.cancel();
    this.timer = null;
    if (this.closed || this.closing) return;
    this.reply(reply);
    if (!this.write_paused) this.resume_reading();
  }

  private reply(reply: RespOut): void {
    if (this.quitting) return;
    this.out.push(encode_reply(reply, this.session?.protocol ?? 2));
    if (!this.flush_scheduled) {
      this.flush_scheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  private flush(): void {
    this.flush_scheduled = false;
    const out = this.out;
    if (out.length === 0) return;
    this.out = [];
    if (this.closed || this.closing) return;
    this.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  }

  private protocol_error(message: string): void {
    if (this.closing || this.closed) return;
    this.reply(new RedisError(`ERR Protocol error: ${message}`));
    this.flush();
    this.quitting = true;
    this.close();
  }
}

/** A listening hub. Made by {@link serve_hub}. */
export class Hub extends Server<HubConnection> {
  /** The keyspace it serves. */
  readonly store: Store;
  /** @internal */
  readonly max_bulk: number;
  /** @internal */
  readonly max_args: number;

  /** @param options - see {@link HubOptions} */
  constructor(options: HubOptions = {}) {
    super(HubConnection, { engine: options.engine, max_connections: options.max_connections ?? 10000 });
    this.store = options.store ?? new Store();
    this.max_bulk = options.max_bulk ?? 64 * 1024 * 1024;
    this.max_args = options.max_args ?? 1048576;
  }

  /** A bind failure is not printed: {@link serve_hub} rejects with it. */
  override on_error(err: Error): void {
    if (!this.listening) {
      this.close(false);
      return;
    }
    super.on_error(err);
  }

  /** Where it listens (a `[host, port]` for TCP, the path for a Unix socket), for clients. */
  get address(): string | [string, number] {
    const local: ReportedAddress | null = this.local_address;
    if (local === null) throw new RangeError('the hub is not listening');
    return typeof local === 'string' ? local : [local.host, local.port];
  }

  /** Closes the hub and every client connection at once; resolves once all are closed. */
  stop(): Promise<void> {
    this.close(false);
    return closed(this);
  }
}

/**
 * Starts an embedded hub on `address` (any trousers address form; port 0 picks a free port)
 * and resolves with it once it listens. Rejects with the `ListenError` if it cannot.
 */
export async function serve_hub(address: Address = ['127.0.0.1', 6379], options: HubOptions = {}): Promise<Hub> {
  const hub = new Hub(options);
  hub.listen(address);
  await listening(hub);
  return hub;
}
