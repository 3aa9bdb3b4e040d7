/**
 * Channel: the channel package of van Steen & Tanenbaum's *Distributed Systems*, on Redis,
 * with the Python package's exact key layout, so Node and Python processes share a group.
 *
 * ```ts
 * const chan = new Channel({ redis: ['127.0.0.1', 6379] });
 * const me = await chan.join('client');                 // also binds this channel to `me`
 * const servers = await chan.subgroup('server');
 * await chan.sendTo(servers, tuple('LOOKUP', 42));     // does not block: it waits in Redis
 * const reply = await chan.recvFrom(servers, 1000);    // [sender, message] or null after 1 s
 * await chan.close();
 * ```
 *
 * The layout in Redis (all pids are decimal strings below 2^nBits):
 * - `members`: a set of every pid; `<subgroup>`: a set per subgroup name;
 * - `['<sender>', '<receiver>']`: a list per pair, the messages from sender to receiver
 *   (`RPUSH`ed, pickled with protocol 2), received with one `BLPOP` over the keys of the
 *   senders in question;
 * - `xchan`: pickled `[a, b]` pairs pushed on join (bookkeeping nobody reads, kept for
 *   compatibility);
 * - `group:wake:<pid>` (new): a join pushes a token here for every other member, so that a
 *   receiver blocked in `recvFromAny` hears the newcomer at once (Python peers ignore it).
 *
 * Fixed from the original (see docs/group.md): `leave` works; a member that joins while
 * someone is blocked in `recvFromAny` is heard without that receiver calling again (at once
 * for Node joiners through the wake-up key, within `rescan` ms for any joiner); membership
 * is checked with typed errors; an empty sender set is an error; `join` is atomic.
 *
 * Membership (the caller's own, destinations', senders') is checked against a fresh
 * `SMEMBERS members` on every send and receive: one round trip where Python made one per
 * pid, and on a receive none of its own, since it rides in one write with the `BLPOP` (see
 * `receiver.ts`). With `member_cache: ms`, a snapshot up to that old is trusted instead
 * (refreshed at once when a pid is missing from it), which saves that round trip at the
 * price of accepting, for that long, a pid that has just left.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import type { Address, Engine } from '../index.js';
import { dumps, loads, type LoadOptions } from '../pickle/index.js';
import { RedisClient, type RedisReply } from '../redis/index.js';
import {
  GroupFullError,
  JoinConflictError,
  NoSendersError,
  NotBoundError,
  NotJoinedError,
  UnknownDestinationError,
  UnknownSenderError,
} from './errors.js';
import { queue_key, wake_key } from './keys.js';
import { Receiver, type Received } from './receiver.js';

/** How message values become bytes in Redis. */
export interface GroupCodec {
  /** Value to bytes. */
  encode(value: unknown): Buffer;
  /** Bytes to value. */
  decode(data: Buffer): unknown;
}

/** Options of a {@link Channel}. */
export interface ChannelOptions {
  /** A Redis (or hub) address in any trousers form, or a {@link RedisClient} to share. Default 6379. */
  redis?: Address | RedisClient;
  /** Pids are chosen below 2^nBits. Default 5 (32 pids), as in Python. */
  nBits?: number;
  /**
   * `'pickle'` (default: protocol 2, what Python peers read and write), `'json'` (Node-only
   * groups), or your own {@link GroupCodec}.
   */
  codec?: 'pickle' | 'json' | GroupCodec;
  /** Options for unpickling received values (e.g. `{ encoding: 'latin1' }` for Python 2 peers' `str`). */
  pickle?: LoadOptions;
  /** The engine for the Redis connections a Channel makes itself. */
  engine?: Engine;
  /**
   * How often (ms) a receiver blocked in `recvFromAny` re-reads `members`, to hear joiners
   * that push no wake-up token (Python peers). Default 1000; 0 never does.
   */
  rescan?: number;
  /**
   * Milliseconds a snapshot of `members` is trusted for membership checks. Default 0: every
   * send and receive reads `members` afresh.
   */
  member_cache?: number;
}

export type { Received };

const PICKLE: GroupCodec = { encode: (v) => dumps(v, { protocol: 2 }), decode: (d) => loads(d) };
const JSON_CODEC: GroupCodec = {
  encode: (v) => Buffer.from(JSON.stringify(v) ?? 'null'),
  decode: (d) => JSON.parse(d.toString('utf8')) as unknown,
};

export { queue_key, wake_key };

const JOIN_ATTEMPTS = 1000;

function pid_text(pid: unknown, what: string): string {
  if (typeof pid === 'number' && Number.isSafeInteger(pid) && pid >= 0) return String(pid);
  if (typeof pid === 'string' && /^\d+$/.test(pid)) return String(Number(pid));
  throw new TypeError(`${what} must be a pid (a decimal string or a non-negative integer), got ${String(pid)}`);
}

function check_timeout(timeout: unknown): number {
  if (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout)) {
    throw new RangeError(`timeout must be a finite number of milliseconds >= 0 (0 waits for ever), got ${String(timeout)}`);
  }
  return timeout;
}

/** A member's handle on the group. See the module documentation. */
export class Channel {
  /** The Redis client for ordinary commands (`chan.redis.command('FLUSHALL')`, as Python's `chan.channel.flushall()`). */
  readonly redis: RedisClient;
  /** 2^nBits: how many pids the group has room for. */
  readonly size: number;
  private readonly codec: GroupCodec;
  private readonly owns_redis: boolean;
  private readonly rescan: number;
  private readonly member_cache: number;
  private readonly receiver: Receiver;
  private bound: string | null = null;
  private snapshot: Set<string> | null = null;
  private snapshot_at = 0;

  /** @param options - see {@link ChannelOptions} */
  constructor(options: ChannelOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('Channel options must be an object');
    const nBits = options.nBits ?? 5;
    if (!Number.isInteger(nBits) || nBits < 1 || nBits > 30) throw new RangeError(`nBits must be an integer from 1 to 30, got ${nBits}`);
    this.size = 2 ** nBits;
    const codec = options.codec ?? 'pickle';
    if (codec === 'pickle') this.codec = PICKLE;
    else if (codec === 'json') this.codec = JSON_CODEC;
    else if (codec !== null && typeof codec === 'object' && typeof codec.encode === 'function' && typeof codec.decode === 'function') this.codec = codec;
    else throw new TypeError("codec must be 'pickle', 'json' or { encode, decode }");
    if (codec === 'pickle' && options.pickle !== undefined) {
      const o = options.pickle;
      this.codec = { encode: PICKLE.encode, decode: (d) => loads(d, o) };
    }
    this.rescan = options.rescan ?? 1000;
    if (typeof this.rescan !== 'number' || !(this.rescan >= 0)) throw new RangeError('rescan must be a number of milliseconds >= 0');
    this.member_cache = options.member_cache ?? 0;
    if (typeof this.member_cache !== 'number' || !(this.member_cache >= 0)) throw new RangeError('member_cache must be a number of milliseconds >= 0');
    const redis = options.redis ?? 6379;
    if (redis instanceof RedisClient) {
      this.redis = redis;
      this.owns_redis = false;
    } else {
      this.redis = new RedisClient({ address: redis, engine: options.engine });
      this.owns_redis = true;
    }
    const member_cache = this.member_cache;
    this.receiver = new Receiver({
      redis: this.redis,
      rescan: this.rescan,
      cached_members: () => (member_cache > 0 && this.snapshot !== null && Date.now() - this.snapshot_at < member_cache ? this.snapshot : null),
      members: (fresh) => this.members(fresh),
      remember: (members) => this.remember(members),
      decode: (data) => this.codec.decode(data),
    });
  }

  /** The pid this channel is bound to (by `join` or `bind`), or null. */
  get pid(): string | null {
    return this.bound;
  }

  /**
   * Joins the group: picks a free pid at random below 2^nBits, adds it to `members` and to
   * `subgroup`, atomically (WATCH/MULTI/EXEC, retried when another join interferes). Binds
   * this channel to the pid when it is not bound yet.
   * @returns the new pid, a decimal string
   * @throws GroupFullError when every pid is taken
   */
  async join(subgroup: string): Promise<string> {
    if (typeof subgroup !== 'string') throw new TypeError('a subgroup name is a string');
    for (let attempt = 0; attempt < JOIN_ATTEMPTS; attempt++) {
      const tx = await this.redis.watch('members');
      let members: string[];
      try {
        members = await this.smembers('members');
      } catch (err) {
        await tx.discard().catch(() => {});
        throw err;
      }
      const taken = new Set(members);
      const free: string[] = [];
      for (let i = 0; i < this.size; i++) if (!taken.has(String(i))) free.push(String(i));
      if (free.length === 0) {
        await tx.discard();
        throw new GroupFullError(this.size);
      }
      const pid = free[Math.floor(Math.random() * free.length)]!;
      for (const other of members) {
        tx.command('RPUSH', 'xchan', dumps([pid, other], { protocol: 2 }));
        tx.command('RPUSH', 'xchan', dumps([other, pid], { protocol: 2 }));
        tx.command('RPUSH', wake_key(other), 'join');
      }
      tx.command('DEL', wake_key(pid));
      tx.command('SADD', 'members', pid);
      tx.command('SADD', subgroup, pid);
      const done = await tx.exec();
      if (done === null) continue;
      this.bound ??= pid;
      taken.add(pid);
      this.remember(taken);
      return pid;
    }
    throw new JoinConflictError(JOIN_ATTEMPTS);
  }

  /**
   * Binds this channel to `pid`: sends and receives act as that member from now on. (Python
   * bound an OS process id; here the channel object is the caller.) Nothing is sent to Redis.
   */
  bind(pid: string | number): void {
    this.bound = pid_text(pid, 'pid');
  }

  /** Whether `pid` is a member (`SISMEMBER members pid`). */
  async exists(pid: string | number): Promise<boolean> {
    return (await this.redis.command('SISMEMBER', 'members', pid_text(pid, 'pid'))) === 1;
  }

  /** The pids in subgroup `name`, in ascending order. */
  async subgroup(name: string): Promise<string[]> {
    if (typeof name !== 'string') throw new TypeError('a subgroup name is a string');
    return (await this.smembers(name)).sort((a, b) => Number(a) - Number(b));
  }

  /**
   * Leaves the group: the bound pid leaves `members` and `subgroup`, its `xchan` entries
   * are removed, and the channel is unbound. Messages still queued stay in Redis.
   * @throws NotBoundError when the channel has no pid
   */
  async leave(subgroup: string): Promise<void> {
    if (typeof subgroup !== 'string') throw new TypeError('a subgroup name is a string');
    const me = this.require_bound('leave');
    const entries = ((await this.redis.command('LRANGE', 'xchan', 0, -1)) as Buffer[]) ?? [];
    const tx = this.redis.multi();
    const seen = new Set<string>();
    for (const entry of entries) {
      let pair: unknown;
      try {
        pair = loads(entry);
      } catch {
        continue; // not ours to judge
      }
      if (!Array.isArray(pair) || !pair.some((p) => String(p) === me)) continue;
      const hex = entry.toString('hex');
      if (seen.has(hex)) continue;
      seen.add(hex);
      tx.command('LREM', 'xchan', 0, entry);
    }
    tx.command('SREM', 'members', me);
    tx.command('SREM', subgroup, me);
    tx.command('DEL', wake_key(me));
    await tx.exec();
    if (this.snapshot !== null) this.snapshot.delete(me);
    this.bound = null;
  }

  /**
   * Sends `message` to each pid of `destinations`: it is pickled once and `RPUSH`ed to each
   * `['<me>', '<dest>']` queue, where it waits until received. Resolves once Redis holds it.
   * @throws NotBoundError, NotJoinedError, UnknownDestinationError (nothing is sent then)
   */
  async sendTo(destinations: Iterable<string | number>, message: unknown): Promise<void> {
    const me = this.require_bound('sendTo');
    const dests = [...destinations].map((d) => pid_text(d, 'a destination'));
    let members = await this.members(false);
    if (!members.has(me) || dests.some((d) => !members.has(d))) members = await this.members(true);
    if (!members.has(me)) throw new NotJoinedError(me);
    for (const d of dests) if (!members.has(d)) throw new UnknownDestinationError(d);
    if (dests.length === 0) return;
    const data = this.codec.encode(message);
    await Promise.all(dests.map((d) => this.redis.command('RPUSH', queue_key(me, d), data)));
  }

  /** Sends `message` to every member, this one included. */
  async sendToAll(message: unknown): Promise<void> {
    const me = this.require_bound('sendToAll');
    const members = await this.members(true);
    if (!members.has(me)) throw new NotJoinedError(me);
    const data = this.codec.encode(message);
    await Promise.all([...members].map((d) => this.redis.command('RPUSH', queue_key(me, d), data)));
  }

  /**
   * Receives the next message sent to this member by anyone, blocking until one arrives.
   * @param timeout - milliseconds to wait; 0 (default) waits for ever
   * @returns `[sender, message]`, or null when `timeout` passed
   * @throws NotBoundError, NotJoinedError
   */
  recvFromAny(timeout = 0): Promise<Received | null> {
    return this.receive(null, timeout, 'recvFromAny');
  }

  /**
   * Receives the next message from one of `senders`, blocking until one arrives.
   * @param timeout - milliseconds to wait; 0 (default) waits for ever
   * @returns `[sender, message]`, or null when `timeout` passed
   * @throws NoSendersError, UnknownSenderError, NotBoundError, NotJoinedError
   */
  recvFrom(senders: Iterable<string | number>, timeout = 0): Promise<Received | null> {
    const from = [...senders].map((s) => pid_text(s, 'a sender'));
    if (from.length === 0) return Promise.reject(new NoSendersError());
    return this.receive(from, timeout, 'recvFrom');
  }

  /**
   * Closes the Redis connections this channel opened (a shared client is left open).
   * Receives in flight are woken first (a wake-up token each) and reject with
   * `RedisClosedError`, unless they popped a message first, which they resolve with; a
   * message that must go back to its queue is pushed back before the connections close.
   */
  async close(): Promise<void> {
    await this.receiver.close();
    if (this.owns_redis) await this.redis.close();
  }

  // ------------------------------------------------------------------ internals

  private require_bound(operation: string): string {
    if (this.bound === null) throw new NotBoundError(operation);
    return this.bound;
  }

  private async smembers(key: string): Promise<string[]> {
    const reply = await this.redis.command('SMEMBERS', key);
    const list = reply instanceof Set ? [...reply] : (reply as RedisReply[]);
    return list.map((m) => String(m));
  }

  private remember(members: Set<string>): void {
    this.snapshot = members;
    this.snapshot_at = Date.now();
  }

  /** `members`, from the snapshot unless it is stale (or `fresh`). */
  private async members(fresh: boolean): Promise<Set<string>> {
    if (!fresh && this.snapshot !== null && Date.now() - this.snapshot_at < this.member_cache) return this.snapshot;
    const members = new Set(await this.smembers('members'));
    this.remember(members);
    return members;
  }

  private receive(senders: string[] | null, timeout: unknown, operation: string): Promise<Received | null> {
    const ms = check_timeout(timeout); // (a bad timeout throws at once, as before)
    let me: string;
    try {
      me = this.require_bound(operation);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.receiver.receive(me, senders, ms > 0 ? Date.now() + ms : Infinity);
  }
}
