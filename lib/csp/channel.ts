/**
 * Channels and channel ends: PyCSP's any-to-any network channels.
 *
 * ```ts
 * const c = new Channel('results');                 // hosted here
 * const far = new Channel('jobs', { connect: ['127.0.0.1', 7000] });   // hosted elsewhere
 * const cin = c.reader(), cout = far.writer();
 * await cout.write({ job: 1 });                      // resolves when a reader took it
 * const value = await cin.read();
 * await retire(cin, cout);
 * ```
 *
 * - A channel is hosted ("homed") in the process that created it without `connect`; every
 *   operation, local or remote, goes to that home. Any number of readers and writers, in
 *   any processes, may use it.
 * - `buffer: N` holds N messages at the home; writes complete as soon as a slot takes them.
 * - Every operation acts as (or belongs to) a CSP process; see `process()`.
 * - Ends are mobile: `end.describe()` gives `{ address, name, op }`, and
 *   `ChannelEnd.restore(description)` reconnects in another process; the original end is then
 *   moved, and using it throws {@link ChannelMovedError}.
 *
 * @module
 */

import { randomUUID } from 'node:crypto';
import type { Address } from '../index.js';
import type { LockPool } from './context.js';
import { addr_key, dispatcher, type Dispatcher, type HomeEntry, type ChannelOp, CHANNEL_OPS } from './dispatch.js';
import {
  ChannelLostError,
  ChannelMovedError,
  ChannelPoisonError,
  ChannelRetireError,
  CspUsageError,
} from './errors.js';
import {
  CHANTHREAD_ENTER,
  CHANTHREAD_POST_ACK_READ,
  CHANTHREAD_POST_ACK_WRITE,
  CHANTHREAD_POST_READ,
  CHANTHREAD_POST_WRITE,
  EXCLUSIVE_MARK,
  header,
  POISON,
  READY,
  RETIRE,
  SUCCESS,
  wire_name,
} from './header.js';
import type { ProcessLock } from './lock.js';
import { NO_PARTNER, type ChannelHome } from './home.js';
import { encode_value, set_end_encoder, set_end_reviver, value_of, type Msg } from './payload.js';

/** Options of a {@link Channel}. */
export interface ChannelOptions {
  /** Buffer slots at the home (default 0: a rendezvous channel). Not with `connect`. */
  buffer?: number;
  /** The address of the process hosting the channel: `[host, port]`, `{ host, port }` or a port. */
  connect?: Address;
}

/** What a mobile end carries to another process. */
export interface EndDescription {
  /** The home's address, `[host, port]`. */
  address: [string, number];
  /** The channel name. */
  name: string;
  /** `'read'` or `'write'`. */
  op: 'read' | 'write';
}

/** Every Channel object still registered at its home (deregistered by `shutdown()`). (not part of the public API) */
export const registered_channels = new Set<Channel>();

function parse_connect(address: Address): [string, number] {
  if (typeof address === 'string') throw new RangeError('PyCSP channels live on TCP: connect takes [host, port], { host, port } or a port, not a socket path');
  let host: unknown, port: unknown;
  if (typeof address === 'number') {
    host = '127.0.0.1';
    port = address;
  } else if (Array.isArray(address)) {
    [host, port] = address as [unknown, unknown];
  } else if (address !== null && typeof address === 'object') {
    host = (address as { host?: unknown }).host ?? '127.0.0.1';
    port = (address as { port?: unknown }).port;
  } else {
    throw new TypeError('connect takes [host, port], { host, port } or a port');
  }
  if (Buffer.isBuffer(host)) host = host.toString('latin1');
  if (typeof host !== 'string' || host.length === 0) throw new TypeError('connect: host must be a non-empty string');
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`connect: port must be an integer from 1 to 65535, got ${String(port)}`);
  return [host, port];
}

/** A PyCSP channel: hosted here, or a reference to one hosted by another process. */
export class Channel {
  /** The channel name (at most 32 characters). */
  readonly name: string;
  /** Buffer slots (0 for a rendezvous channel; 0 for references to remote channels). */
  readonly buffer: number;
  /** @internal The name on the wire (a byte string). */
  readonly wire: string;
  /** @internal The home, when hosted here. */
  entry: HomeEntry | null = null;
  /** @internal `entry.home`, for the local fast path. */
  home: ChannelHome<Msg> | null = null;
  /** @internal `'host:port'` of a remote home. */
  remote: string | null = null;
  private readonly remote_addr: [string, number] | null = null;
  /** @internal */
  readonly d: Dispatcher;
  /** @internal `d.pool`. */
  readonly pool: LockPool;
  /** @internal Set once an operation on this channel saw poison. */
  poisoned = false;
  /** @internal Set once an operation on this channel saw retirement. */
  retired = false;
  /** @internal Registered (a reference counted) at the home. */
  registered = false;
  /** @internal Ends made from this object that are not retired or poisoned. */
  live_ends = 0;

  /**
   * @param name - up to 32 characters; a unique name is generated when left out (required with `connect`)
   * @param options - `{ buffer, connect }`
   * @throws RangeError for a name over 32 characters or a bad buffer size
   * @throws CspUsageError for `connect` without a name, `connect` with a buffer, or a name
   *   already hosted in this process
   */
  constructor(name?: string | null, options: ChannelOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('channel options must be an object');
    const connect = options.connect;
    if ((name === undefined || name === null) && connect !== undefined) {
      throw new CspUsageError('Must provide name when connecting to remote channel');
    }
    const buffer = options.buffer ?? 0;
    if (typeof buffer !== 'number' || !Number.isSafeInteger(buffer) || buffer < 0) throw new RangeError(`buffer must be an integer >= 0, got ${String(buffer)}`);
    if (buffer !== 0 && connect !== undefined) throw new CspUsageError('Do not specify buffer size when connecting to a hosted channel.');
    if (name === undefined || name === null) name = randomUUID().replace(/-/g, '');
    if (typeof name !== 'string') throw new TypeError('a channel name must be a string');
    if ([...name].length > 32) throw new RangeError(`Channel names are limited to 32 characters, got ${[...name].length}`);
    if (name.length === 0) throw new RangeError('a channel name must not be empty');
    this.name = name;
    this.buffer = buffer;
    this.wire = wire_name(name);
    if (this.wire.length > 64) throw new RangeError('a channel name must be at most 64 bytes in UTF-8');
    const d = (this.d = dispatcher());
    this.pool = d.pool;
    if (connect === undefined) {
      if (d.homes.has(this.wire)) throw new CspUsageError('Reusing channel name in same process namespace');
      this.entry = d.host_channel(this.wire, buffer);
      this.home = this.entry.home;
      void d.bind().catch((err: unknown) => d.report(err));
    } else {
      this.remote_addr = parse_connect(connect);
      const key = addr_key(this.remote_addr[0], this.remote_addr[1]);
      const local = d.key !== '' && key === d.key ? d.homes.get(this.wire) : undefined;
      if (local !== undefined) {
        this.entry = local;
        this.home = local.home;
      }
      else {
        this.remote = key;
        d.lost.delete(key);
        d.lost_errors.delete(key);
      }
    }
    this.register();
  }

  /** The home's address `[host, port]`: known at once for references, once bound for hosted channels (see {@link Channel.ready}). */
  get address(): [string, number] | null {
    if (this.remote_addr !== null) return [this.remote_addr[0], this.remote_addr[1]];
    return this.d.address;
  }

  /**
   * Resolves once the channel can be reached: for a hosted channel, when this process's
   * listening socket is bound (so {@link Channel.address} is known); for a reference, when
   * the connection to the home is up.
   * @throws ChannelBindError / ChannelConnectError
   */
  async ready(): Promise<this> {
    await this.d.bind();
    if (this.remote !== null) await this.d.reachable(this.remote);
    return this;
  }

  /** @internal Adds this reference at the home (again, after a disconnect). */
  register(): void {
    if (this.registered) return;
    this.registered = true;
    registered_channels.add(this);
    this.command('register');
  }

  /** @internal Removes this reference from the home. */
  deregister(): void {
    if (!this.registered) return;
    this.registered = false;
    registered_channels.delete(this);
    this.command('deregister');
  }

  /** @internal Sends an argument-less command to the home. */
  command(op: ChannelOp): void {
    if (this.entry !== null) {
      this.entry.home.submit({ op } as Parameters<HomeEntry['home']['submit']>[0]);
      return;
    }
    this.d.send(this.remote!, header(CHANNEL_OPS[op], { id: this.wire }));
  }

  /** A new reading end (PyCSP's `reader()`, joining the channel as a reader). */
  reader(): ChannelEndRead {
    this.register();
    this.command('join_reader');
    this.live_ends++;
    return new ChannelEndRead(this);
  }

  /** A new writing end (PyCSP's `writer()`, joining the channel as a writer). */
  writer(): ChannelEndWrite {
    this.register();
    this.command('join_writer');
    this.live_ends++;
    return new ChannelEndWrite(this);
  }

  /**
   * Removes this process's reference to a remote channel early, so its host may shut down
   * (PyCSP's `disconnect()`); the reference comes back on next use. No-op for hosted channels.
   */
  disconnect(): void {
    if (this.remote !== null) this.deregister();
  }

  /** @internal Throws if the channel is known to be over, or its home lost. */
  check(): void {
    if (this.poisoned) throw new ChannelPoisonError();
    if (this.retired) throw new ChannelRetireError();
    if (this.remote !== null) {
      const lost = this.d.lost_errors.get(this.remote);
      if (lost !== undefined) throw lost;
      this.register();
    }
  }

  /**
   * @internal Posts a request of `lock`'s current operation; `exclusive` for a plain read or
   * write (its only request), never for an alternation's.
   */
  post(lock: ProcessLock<Msg>, write: boolean, value: unknown, ack: boolean, exclusive = false): void {
    if (this.entry !== null) {
      this.entry.home.post_request(lock.ref, lock.seq, write, value, ack);
      return;
    }
    const key = this.remote!;
    const d = this.d;
    lock.posted.add(key);
    const entered = `${key}/${this.wire}`;
    if (!lock.entered.has(entered)) {
      lock.entered.add(entered);
      d.send(key, header(CHANTHREAD_ENTER, { id: this.wire, source_id: lock.id }));
    }
    const cmd = write ? (ack ? CHANTHREAD_POST_ACK_WRITE : CHANTHREAD_POST_WRITE) : ack ? CHANTHREAD_POST_ACK_READ : CHANTHREAD_POST_READ;
    const mark = exclusive && !ack ? EXCLUSIVE_MARK : '';
    d.send(key, header(cmd, { id: this.wire, seq: BigInt(lock.seq), source_id: lock.id, result_id: mark }), write ? encode_value(value) : null);
  }

  /** @internal The outcome of an operation that ended on this channel (or failed). */
  outcome(lock: ProcessLock<Msg>): void {
    switch (lock.state) {
      case SUCCESS:
        return;
      case POISON:
        this.poisoned = true;
        throw new ChannelPoisonError();
      case RETIRE:
        this.retired = true;
        throw new ChannelRetireError();
      default:
        throw lock.failure ?? new ChannelLostError(this.address ?? ['?', 0], 'the operation failed');
    }
  }

  /** @internal One read or write as a whole operation (one promise, settled by the commit). */
  operate(write: boolean, value: unknown): Promise<unknown> {
    if (this.poisoned || this.retired || this.remote !== null) this.check();
    const pool = this.pool;
    const home = this.home;
    if (home !== null) {
      // Hosted here: a partner already waiting is committed synchronously, with no lock of
      // our own (see ChannelHome.plain); with none, the request is queued as is.
      const partner = home.plain(write, value as Msg);
      if (partner !== null) {
        if (partner !== NO_PARTNER) return write ? DONE : Promise.resolve(value_of(partner.msg!));
        const lock = pool.take();
        lock.begin();
        home.enqueue(lock.request, lock.seq, write, value as Msg);
        return this.wait(lock, write);
      }
    }
    const lock = pool.take();
    lock.begin();
    try {
      this.post(lock, write, value, false, true);
    } catch (err) {
      lock.fail(err instanceof Error ? err : new Error(String(err)));
    }
    if (lock.state !== READY) return this.finish(pool, lock, write);
    return this.wait(lock, write);
  }

  /** The promise of an operation waiting on `lock`, settled by {@link settle}. */
  private wait(lock: ProcessLock<Msg>, write: boolean): Promise<unknown> {
    lock.op_channel = this;
    lock.op_write = write;
    lock.on_done = settle;
    return new Promise<unknown>(lock.executor);
  }

  private finish(pool: LockPool, lock: ProcessLock<Msg>, write: boolean): Promise<unknown> {
    try {
      return Promise.resolve(this.finish_value(pool, lock, write));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** @internal */
  finish_value(pool: LockPool, lock: ProcessLock<Msg>, write: boolean): unknown {
    pool.give(lock);
    this.outcome(lock);
    return write ? undefined : value_of(lock.result);
  }

  /** A short description for logs. */
  toString(): string {
    const a = this.address;
    return `Channel(${JSON.stringify(this.name)}${a === null ? '' : ` at ${a[0]}:${a[1]}`})`;
  }
}

/** What a write that completed at once returns (one settled promise, shared). */
const DONE: Promise<unknown> = Promise.resolve();

/** Settles a waiting operation once its lock left READY (one function for all: no closure per operation). */
function settle(lock: ProcessLock<Msg>): void {
  const resolve = lock.op_resolve!;
  const reject = lock.op_reject!;
  const ch = lock.op_channel as Channel;
  lock.op_resolve = null;
  lock.op_reject = null;
  lock.op_channel = null;
  if (lock.state === SUCCESS && lock.op_write) {
    ch.pool.give(lock);
    resolve(undefined);
    return;
  }
  try {
    resolve(ch.finish_value(ch.d.pool, lock, lock.op_write));
  } catch (err) {
    reject(err);
  }
}

/** Shared behaviour of both ends. */
export abstract class ChannelEnd {
  /** The channel, or null once the end was moved to another process. */
  protected _channel: Channel | null;
  /** `'read'` or `'write'`. */
  abstract readonly op: 'read' | 'write';
  private is_retired = false;
  private is_poisoned = false;

  /** @internal Use `channel.reader()` / `channel.writer()`. */
  constructor(channel: Channel) {
    this._channel = channel;
  }

  /** The channel this end belongs to. @throws ChannelMovedError once moved */
  get channel(): Channel {
    if (this._channel === null) throw new ChannelMovedError();
    return this._channel;
  }

  /** True once the end was moved to another process. */
  get moved(): boolean {
    return this._channel === null;
  }

  /** True once retired (every later operation on this end fails with ChannelRetireError). */
  get retired(): boolean {
    return this.is_retired;
  }

  /** True once poisoned through this end. */
  get poisoned(): boolean {
    return this.is_poisoned;
  }

  /** @internal Throws if this end may not be used. */
  protected usable(): Channel {
    const ch = this.channel;
    if (this.is_poisoned) throw new ChannelPoisonError();
    if (this.is_retired) throw new ChannelRetireError();
    return ch;
  }

  /**
   * Retires this end: the channel counts one reader (or writer) less; when none is left the
   * channel retires. A second retire does nothing. Resolves once the home was told.
   */
  async retire(): Promise<void> {
    const ch = this.channel;
    if (!this.is_retired) {
      this.is_retired = true;
      if (!ch.retired) {
        ch.command(this.op === 'read' ? 'retire_reader' : 'retire_writer');
      }
      this.end_used(ch);
    }
  }

  /** Poisons the channel through this end. Resolves once the home was told. */
  async poison(): Promise<void> {
    const ch = this.channel;
    if (!this.is_poisoned) {
      this.is_poisoned = true;
      if (!ch.poisoned) {
        ch.command(this.op === 'read' ? 'poison_reader' : 'poison_writer');
      }
      this.end_used(ch);
    }
  }

  private end_used(ch: Channel): void {
    ch.live_ends--;
    if (ch.live_ends <= 0) ch.disconnect();
  }

  /** What another process needs to reconnect this end: `{ address, name, op }`. */
  describe(): EndDescription {
    const ch = this.channel;
    const address = ch.address;
    if (address === null) throw new CspUsageError('the channel is not bound yet: await channel.ready() before moving its ends');
    return { address, name: ch.name, op: this.op };
  }

  /**
   * Moves the end away: returns its description and makes this object unusable (like a
   * PyCSP end once pickled). The receiving process calls {@link ChannelEnd.restore}.
   */
  move(): EndDescription {
    const desc = this.describe();
    const ch = this._channel!;
    this._channel = null;
    ch.live_ends--;
    return desc;
  }

  /**
   * Reconnects a moved end in this process (registering a reference at its home; the end
   * keeps the join of the original).
   */
  static restore(desc: EndDescription): ChannelEndRead | ChannelEndWrite {
    if (desc === null || typeof desc !== 'object') throw new TypeError('restore() takes an end description');
    const ch = new Channel(desc.name, { connect: desc.address });
    ch.live_ends++;
    return desc.op === 'read' ? new ChannelEndRead(ch) : new ChannelEndWrite(ch);
  }

  /** A short description for logs. */
  toString(): string {
    return `<ChannelEnd${this.op === 'read' ? 'Read' : 'Write'} on channel named ${this._channel?.name ?? '(moved)'}>`;
  }
}

/** The reading end of a channel. */
export class ChannelEndRead extends ChannelEnd {
  /** Always `'read'`. */
  readonly op = 'read' as const;

  /**
   * Reads one message: resolves once a writer's message was taken.
   * @throws ChannelPoisonError / ChannelRetireError when the channel is over,
   *   ChannelLostError when its home (or the writer's process, mid-rendezvous) was lost
   */
  read(): Promise<unknown> {
    try {
      return this.usable().operate(false, undefined);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

/** The writing end of a channel. */
export class ChannelEndWrite extends ChannelEnd {
  /** Always `'write'`. */
  readonly op = 'write' as const;

  /**
   * Writes one message: resolves once a reader took it (or, on a buffered channel, once a
   * slot did). Across processes the value travels as a pickle (protocol 2).
   * @throws like {@link ChannelEndRead.read}
   */
  write(value: unknown): Promise<void> {
    try {
      return this.usable().operate(true, value) as Promise<void>;
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

/** Ends or nested arrays of ends. */
export type Ends = ChannelEnd | readonly Ends[];

function each_end(ends: readonly Ends[], what: string, fn: (end: ChannelEnd) => Promise<void>, out: Promise<void>[]): void {
  for (const e of ends) {
    if (Array.isArray(e)) each_end(e as readonly Ends[], what, fn, out);
    else if (e instanceof Channel) throw new CspUsageError(`Tried to ${what} a channel object. Only channel end objects may be ${what}d.`);
    else if (e instanceof ChannelEnd) out.push(fn(e));
    else throw new TypeError(`${what}() takes channel ends (or arrays of them)`);
  }
}

/**
 * Retires channel ends (PyCSP's `retire(*ends)`; arrays are walked). A channel retires when
 * every end of one side has retired; on a buffered channel, a writer-side retirement waits
 * until readers have drained the buffer.
 */
export async function retire(...ends: Ends[]): Promise<void> {
  const out: Promise<void>[] = [];
  each_end(ends, 'retire', (e) => e.retire(), out);
  await Promise.all(out);
}

/**
 * Poisons the channels of these ends (PyCSP's `poison(*ends)`): every pending and later
 * operation on them fails with ChannelPoisonError (writer-side poison lets readers drain a
 * buffer first).
 */
export async function poison(...ends: Ends[]): Promise<void> {
  const out: Promise<void>[] = [];
  each_end(ends, 'poison', (e) => e.poison(), out);
  await Promise.all(out);
}

set_end_reviver((p) => {
  if (p.address === null) return null;
  if (p.op === 'channel') return new Channel(p.name, { connect: p.address });
  return ChannelEnd.restore({ address: p.address, name: p.name, op: p.op });
});

set_end_encoder((value) => (value instanceof ChannelEnd && !value.moved ? value.move() : null));
