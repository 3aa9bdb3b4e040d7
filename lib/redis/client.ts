/**
 * RedisClient: commands to a Redis server (or the embedded hub) as Promises, pipelined.
 *
 * ```ts
 * const redis = new RedisClient({ address: ['127.0.0.1', 6379] });
 * await redis.command('SET', 'greeting', 'hello');
 * const value = await redis.command('GET', 'greeting');        // Buffer 'hello'
 * const many = await Promise.all(keys.map((k) => redis.command('GET', k)));  // one write
 * await redis.close();
 * ```
 *
 * - Any number of commands may be in flight: they are written in the order issued
 *   (everything issued in one tick goes out in one write) and replies are matched in order.
 * - Replies: see {@link RedisReply}. An error reply rejects with {@link RedisError}.
 * - Blocking commands (`BLPOP`) hold the connection: commands issued after one wait behind
 *   it. A caller that blocks uses its own client: {@link RedisClient.duplicate}.
 * - Transactions: {@link RedisClient.multi} and {@link RedisClient.watch} (see
 *   `transaction.ts`).
 * - The connection's life: the client connects at construction, runs its handshake (`HELLO`
 *   for RESP3, `AUTH`, `SELECT`), then writes what was issued meanwhile. When the server goes
 *   away, commands already written are rejected with {@link RedisConnectionError} (Redis may
 *   or may not have run them: they are never resent) and the client reconnects with
 *   exponential backoff; commands issued meanwhile wait (at most `max_waiting` of them) and
 *   go out once it is back. A malformed reply closes the connection with a
 *   {@link RedisProtocolError}, which rejects every pending command, and the client
 *   reconnects.
 *
 * @module
 */

import { Engine, type Address, type Timer, type TlsOptions, type StreamOptions } from '../index.js';
import { RedisConnection } from './connection.js';
import {
  RedisClosedError,
  RedisConnectionError,
  RedisError,
  RedisQueueFullError,
  RedisWatchLostError,
} from './errors.js';
import { encode_command, encode_command_text, RespPush, type RedisArg, type RedisReply } from './resp.js';
import { Transaction } from './transaction.js';

/** How the client reconnects. */
export interface ReconnectOptions {
  /** Attempts in a row before giving up (the client then closes). Default 20; `Infinity` never gives up. */
  retries?: number;
  /** First delay, in ms. Default 50. */
  min_delay?: number;
  /** Longest delay, in ms (delays double up to it). Default 2000. */
  max_delay?: number;
}

/** Options of a {@link RedisClient}. */
export interface RedisClientOptions {
  /** Where Redis listens: any trousers address form (a port, `[host, port]`, `{ host, port }`, a Unix socket path). Default 6379. */
  address?: Address;
  /** The engine that owns the client's connections; default `Engine.instance()`. */
  engine?: Engine;
  /** Database number (`SELECT`); default 0 (no `SELECT` sent). */
  db?: number;
  /** ACL user name (Redis 6+); with `password`. */
  username?: string;
  /** Password for `AUTH`. */
  password?: string;
  /** TLS options: connect with TLS. */
  tls?: TlsOptions;
  /** Milliseconds a connection attempt may take. Default 10000. */
  connect_timeout?: number;
  /** Protocol: 2 (default) or 3 (`HELLO 3`: maps, sets, doubles, booleans, pushes). */
  protocol?: 2 | 3;
  /** Decode bulk strings to strings with this encoding (e.g. `'utf8'`); default Buffers. */
  encoding?: BufferEncoding | null;
  /**
   * Commands that may wait while the client is not connected (before the first connection and
   * while reconnecting). Beyond it, commands reject with {@link RedisQueueFullError}; 0 makes
   * every command issued while disconnected reject at once. Default 10000.
   */
  max_waiting?: number;
  /** Reconnection; `false` closes the client when the connection is lost. */
  reconnect?: ReconnectOptions | false;
  /** Largest bulk string accepted in a reply. Default 512 MiB. */
  max_bulk?: number;
  /** RESP3 pushes (pub/sub messages, invalidations) go here; default: dropped. */
  on_push?: (push: RespPush) => void;
}

interface Pending {
  resolve(value: RedisReply): void;
  reject(err: Error): void;
  /** Encoded command (kept until written). */
  data: string | Buffer;
  /** Only write on this connection generation (a transaction after WATCH). */
  gen?: number;
  /** A handshake command: it belongs to its connection and never waits for another. */
  handshake?: boolean;
}

type State = 'connecting' | 'handshake' | 'ready' | 'waiting' | 'closed';

function check_int(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !(Number.isInteger(value) || value === Infinity) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** A Redis client: see the module documentation. */
export class RedisClient {
  /** The engine that owns the client's connections. */
  readonly engine: Engine;
  /** The options the client was made with (for {@link RedisClient.duplicate}). */
  readonly options: Readonly<RedisClientOptions>;
  /** The most recent connection error (a refused connect, a reset, a protocol error), or null. */
  last_error: Error | null = null;

  private readonly address: Address;
  private readonly max_waiting: number;
  private readonly retries: number;
  private readonly min_delay: number;
  private readonly max_delay: number;
  private state: State = 'connecting';
  private conn: RedisConnection | null = null;
  /** Generation of the current connection (1 for the first). */
  private generation = 0;
  private attempts = 0;
  private retry_timer: Timer | null = null;
  /** Commands written, awaiting replies, oldest first (from `head`). */
  private pending: Pending[] = [];
  private head = 0;
  /** Commands issued while not ready. */
  private waiting: Pending[] = [];
  /** Encoded commands issued this tick, written together. */
  private out_text = '';
  private out_parts: (string | Buffer)[] | null = null;
  private flush_scheduled = false;
  /** Index in `pending` of the first command not yet handed to the socket, or -1. */
  private unwritten = -1;
  private readonly flush_bound = (): void => this.flush();
  private ready_waiters: { resolve(): void; reject(err: Error): void }[] = [];
  private close_waiters: (() => void)[] = [];
  /** Serialises WATCH ... EXEC sequences on this connection. */
  private tx_tail: Promise<void> = Promise.resolve();

  /** @param options - see {@link RedisClientOptions} */
  constructor(options: RedisClientOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('RedisClient options must be an object');
    this.options = { ...options };
    this.engine = options.engine ?? Engine.instance();
    this.address = options.address ?? 6379;
    if (options.db !== undefined) check_int('db', options.db, 0);
    if (options.protocol !== undefined && options.protocol !== 2 && options.protocol !== 3) throw new RangeError('protocol must be 2 or 3');
    this.max_waiting = check_int('max_waiting', options.max_waiting ?? 10000, 0);
    const r = options.reconnect;
    this.retries = r === false ? 0 : check_int('reconnect.retries', r?.retries ?? 20, 0);
    this.min_delay = r === false ? 0 : check_int('reconnect.min_delay', r?.min_delay ?? 50, 1);
    this.max_delay = r === false ? 0 : Math.max(this.min_delay, check_int('reconnect.max_delay', r?.max_delay ?? 2000, 1));
    this.open();
  }

  /** True while connected and past the handshake. */
  get connected(): boolean {
    return this.state === 'ready';
  }

  /** True once {@link RedisClient.close} was called or the client gave up. */
  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Commands written and awaiting their replies. */
  get in_flight(): number {
    return this.pending.length - this.head;
  }

  /** Resolves once the client is connected (at once if it is); rejects if it closes first. */
  ready(): Promise<void> {
    if (this.state === 'ready') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(new RedisClosedError(undefined, { cause: this.last_error ?? undefined }));
    return new Promise((resolve, reject) => this.ready_waiters.push({ resolve, reject }));
  }

  /**
   * Sends a command.
   * @param name - the command, e.g. `'SET'`
   * @param args - strings (UTF-8), Buffers, numbers, bigints
   * @returns a Promise of the reply; an error reply rejects with {@link RedisError}
   * @throws TypeError / RangeError at once for arguments RESP cannot carry
   */
  command<T extends RedisReply = RedisReply>(name: string, ...args: RedisArg[]): Promise<T> {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('a command name is a non-empty string');
    const all = [name, ...args];
    const data = encode_command_text(all) ?? encode_command(all);
    return this.send(data) as Promise<T>;
  }

  /** Alias of {@link RedisClient.command}. */
  call<T extends RedisReply = RedisReply>(name: string, ...args: RedisArg[]): Promise<T> {
    return this.command<T>(name, ...args);
  }

  /** A transaction: queue commands on it, then `exec()`; they go out as one `MULTI ... EXEC`. */
  multi(): Transaction {
    return new Transaction(this, false);
  }

  /**
   * Sends `WATCH keys` and resolves with a transaction bound to it: `exec()` runs only if no
   * watched key changed meanwhile (else it resolves with `null`). WATCH belongs to the
   * connection, so watches on one client take turns: another `watch()` waits until this
   * transaction's `exec()` or `discard()`.
   */
  async watch(...keys: RedisArg[]): Promise<Transaction> {
    if (keys.length === 0) throw new RangeError('watch() needs at least one key');
    const release = await this._lock();
    const tx = new Transaction(this, true, release);
    try {
      await this.command('WATCH', ...keys);
    } catch (err) {
      release();
      throw err;
    }
    tx._gen = this.generation;
    return tx;
  }

  /**
   * A new client with the same options (and any overrides): for blocking commands, which
   * hold their connection, and for WATCH sequences that must not wait for each other.
   */
  duplicate(overrides: RedisClientOptions = {}): RedisClient {
    return new RedisClient({ ...this.options, ...overrides });
  }

  /**
   * Closes the client. Commands not yet answered are rejected with {@link RedisClosedError};
   * resolves once the socket has closed. Idempotent.
   */
  close(): Promise<void> {
    if (this.state !== 'closed') this.shut(new RedisClosedError());
    if (this.conn === null) return Promise.resolve();
    return new Promise((resolve) => this.close_waiters.push(resolve));
  }

  /** A short description for logs. */
  toString(): string {
    return `RedisClient(${typeof this.address === 'object' ? JSON.stringify(this.address) : String(this.address)}, ${this.state})`;
  }

  // --------------------------------------------------------------- TransactionHost

  /** @internal Takes the WATCH lock; resolves with its release function. */
  _lock(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const before = this.tx_tail;
    this.tx_tail = before.then(() => held);
    let released = false;
    const once = (): void => {
      if (released) return;
      released = true;
      release();
    };
    return before.then(() => once);
  }

  /** @internal Sends encoded commands back to back (nothing can come between them). */
  _send_group(commands: readonly (readonly RedisArg[])[], gen: number | undefined): Promise<RedisReply>[] {
    return commands.map((args) => this.send(encode_command_text(args) ?? encode_command(args), gen));
  }

  /** @internal The current connection generation. */
  get _generation(): number {
    return this.generation;
  }

  // --------------------------------------------------------------- sending

  private send(data: string | Buffer, gen?: number): Promise<RedisReply> {
    return new Promise<RedisReply>((resolve, reject) => {
      const p: Pending = { resolve, reject, data, gen };
      const state = this.state;
      if (state === 'ready' && this.usable()) this.write(p);
      else if (state === 'closed') reject(new RedisClosedError(undefined, { cause: this.last_error ?? undefined }));
      else if (this.waiting.length >= this.max_waiting) {
        reject(this.max_waiting === 0 ? new RedisConnectionError('not connected to Redis', { cause: this.last_error ?? undefined }) : new RedisQueueFullError(this.max_waiting));
      } else this.waiting.push(p);
    });
  }

  /** True while the current connection can take writes (not failing or closing). */
  private usable(): boolean {
    const conn = this.conn;
    return conn !== null && !conn.closed && !conn.closing;
  }

  /** Queues a command for this tick's write and for its reply. */
  private write(p: Pending): void {
    if (p.gen !== undefined && p.gen !== this.generation) {
      p.reject(new RedisWatchLostError());
      return;
    }
    if (this.unwritten < 0) this.unwritten = this.pending.length;
    this.pending.push(p);
    const data = p.data;
    if (typeof data === 'string') this.out_text += data;
    else {
      const parts = (this.out_parts ??= []);
      if (this.out_text.length > 0) parts.push(this.out_text);
      this.out_text = '';
      parts.push(data);
    }
    if (!this.flush_scheduled) {
      this.flush_scheduled = true;
      process.nextTick(this.flush_bound);
    }
  }

  private flush(): void {
    this.flush_scheduled = false;
    const conn = this.conn;
    const parts = this.out_parts;
    const text = this.out_text;
    const from = this.unwritten;
    this.out_parts = null;
    this.out_text = '';
    this.unwritten = -1;
    if (from < 0) return;
    if (conn === null || !this.usable()) {
      // The connection failed in this tick: these were never written, so they wait for the
      // next connection (the handshake's own commands do not: they belong to this one).
      const unsent = this.pending.splice(from);
      this.requeue(unsent);
      return;
    }
    for (let i = from; i < this.pending.length; i++) this.pending[i]!.data = '';
    if (parts !== null) {
      for (const part of parts) conn.write(part);
    }
    if (text.length > 0) conn.write(text);
  }

  // --------------------------------------------------------------- connection life

  private open(): void {
    this.state = 'connecting';
    this.generation++;
    const o = this.options;
    const stream_options: StreamOptions = { engine: this.engine };
    if (o.tls !== undefined) stream_options.tls = o.tls;
    const conn = new RedisConnection(this, { encoding: o.encoding ?? null, max_bulk: o.max_bulk }, stream_options);
    this.conn = conn;
    conn.connect(this.address, { timeout: o.connect_timeout ?? 10000 });
  }

  /** @internal The socket is up: run the handshake, then write what waited. */
  _on_connection_open(conn: RedisConnection): void {
    if (conn !== this.conn || this.state === 'closed') return;
    this.state = 'handshake';
    const o = this.options;
    const steps: RedisArg[][] = [];
    if (o.protocol === 3) {
      const hello: RedisArg[] = ['HELLO', 3];
      if (o.password !== undefined) hello.push('AUTH', o.username ?? 'default', o.password);
      steps.push(hello);
    } else if (o.password !== undefined) {
      steps.push(o.username !== undefined ? ['AUTH', o.username, o.password] : ['AUTH', o.password]);
    }
    if (o.db !== undefined && o.db !== 0) steps.push(['SELECT', o.db]);
    if (steps.length === 0) {
      this.became_ready();
      return;
    }
    const replies = steps.map((args) => {
      const p: Pending = { resolve: () => {}, reject: () => {}, data: encode_command(args), handshake: true };
      const done = new Promise<RedisReply>((resolve, reject) => {
        p.resolve = resolve;
        p.reject = reject;
      });
      this.write(p);
      return done;
    });
    Promise.all(replies).then(
      () => {
        if (conn === this.conn && this.state === 'handshake') this.became_ready();
      },
      (err: Error) => {
        if (conn !== this.conn || this.state === 'closed') return;
        if (err instanceof RedisError) {
          // Wrong password, unknown database: retrying cannot help.
          this.last_error = err;
          this.shut(new RedisClosedError(`the Redis handshake failed: ${err.message}`, { cause: err }));
        }
        // A connection error: _on_connection_closed reconnects.
      },
    );
  }

  private became_ready(): void {
    this.state = 'ready';
    this.attempts = 0;
    const waiting = this.waiting;
    this.waiting = [];
    for (const p of waiting) this.write(p);
    const waiters = this.ready_waiters;
    this.ready_waiters = [];
    for (const w of waiters) w.resolve();
  }

  /** @internal A whole reply arrived. */
  _on_reply(conn: RedisConnection, reply: RedisReply): void {
    if (conn !== this.conn) return;
    if (reply instanceof RespPush) {
      this.options.on_push?.(reply);
      return;
    }
    if (this.head >= this.pending.length) {
      conn.fail(new RedisConnectionError('a reply arrived with no command waiting for it'));
      return;
    }
    const p = this.pending[this.head]!;
    this.pending[this.head] = undefined as unknown as Pending;
    this.head++;
    if (this.head === this.pending.length) {
      this.pending = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    if (reply instanceof RedisError) p.reject(reply);
    else p.resolve(reply);
  }

  /** @internal The socket closed (after a refused connect, a reset, a protocol error, or close()). */
  _on_connection_closed(conn: RedisConnection): void {
    if (conn !== this.conn) return;
    this.conn = null;
    const err = conn.failure;
    if (err !== null) this.last_error = err;
    this.reject_pending(err);
    if (conn.closed_from_outside && this.state !== 'closed') {
      this.shut(new RedisClosedError('the connection was closed from outside the client (its engine stopped)', { cause: err ?? undefined }));
    }
    if (this.state === 'closed') {
      const waiters = this.close_waiters;
      this.close_waiters = [];
      for (const w of waiters) w();
      return;
    }
    if (this.attempts >= this.retries) {
      this.shut(new RedisClosedError('the connection to Redis was lost and the client does not reconnect', { cause: err ?? undefined }));
      return;
    }
    this.state = 'waiting';
    const delay = Math.min(this.max_delay, this.min_delay * 2 ** Math.min(this.attempts, 30));
    this.attempts++;
    this.retry_timer = this.engine.defer(delay, () => {
      this.retry_timer = null;
      if (this.state === 'waiting') this.open();
    });
  }

  private reject_pending(cause: Error | null): void {
    let pending = this.pending;
    const head = this.head;
    this.pending = [];
    this.head = 0;
    this.out_text = '';
    this.out_parts = null;
    if (this.unwritten >= 0) {
      const unsent = pending.slice(Math.max(this.unwritten, head));
      pending = pending.slice(0, Math.max(this.unwritten, head));
      this.unwritten = -1;
      this.requeue(unsent);
    }
    if (head >= pending.length) return;
    const closing = this.state === 'closed';
    for (let i = head; i < pending.length; i++) {
      const err = closing
        ? new RedisClosedError('the Redis client was closed before the reply arrived', { cause: cause ?? undefined })
        : new RedisConnectionError('the connection to Redis was lost after the command was written (it may or may not have run; it is not resent)', {
            cause: cause ?? undefined,
          });
      pending[i]!.reject(err);
    }
  }

  /** Puts commands that were never written back at the front of the waiting queue. */
  private requeue(unsent: Pending[]): void {
    const mine = unsent.filter((p) => !p.handshake);
    for (const p of unsent) if (p.handshake) p.reject(new RedisConnectionError('the connection was lost during the handshake'));
    if (mine.length === 0) return;
    if (this.state === 'closed') {
      for (const p of mine) p.reject(new RedisClosedError(undefined, { cause: this.last_error ?? undefined }));
      return;
    }
    this.waiting = [...mine, ...this.waiting];
  }

  /** Closes for good: rejects what waits, closes the socket. */
  private shut(err: RedisClosedError): void {
    this.state = 'closed';
    this.retry_timer?.cancel();
    this.retry_timer = null;
    const waiting = this.waiting;
    this.waiting = [];
    for (const p of waiting) p.reject(err);
    const waiters = this.ready_waiters;
    this.ready_waiters = [];
    for (const w of waiters) w.reject(err);
    const conn = this.conn;
    if (conn !== null) {
      this.reject_pending(null);
      conn.owner_close(false);
    }
  }
}
