/**
 * Receiver: the receiving side of a {@link Channel}, on the channel's own blocking
 * connection. (not part of the public API)
 *
 * One receive is ONE round trip when membership did not change: the membership read
 * (`SMEMBERS members`) and the `BLPOP` over the queue keys of the last membership seen go
 * out in one write on the blocking connection, and Redis runs them back to back (a
 * connection's commands run in order, nothing of its own in between). The fresh membership
 * then arrives first, and the receive is corrected when it differs from the guess, so that
 * what a caller can observe is what a receive that read `members` first and then blocked
 * over exactly those senders would give:
 *
 * - the caller is not a member any more (or, for `recvFrom`, a sender is not): the receive
 *   fails with the typed error; its `BLPOP` is woken with a token in the caller's wake-up
 *   list, and a message it popped is pushed back to the head of its queue (`LPUSH`) first;
 * - a member joined (it is not among the keys): the `BLPOP` is woken with a token and
 *   issued again over the new keys. A message it popped from another member in the
 *   meantime is kept: that queue was among the members' queues too, and which of several
 *   queues a receive serves first was never specified (only each sender's own order is);
 * - a member left (its queue is among the keys): a message popped from its queue is pushed
 *   back to the head, and the receive goes on over the others.
 *
 * Several receives in flight (a window) are pipelined on the blocking connection, each its
 * own `SMEMBERS` + `BLPOP`: Redis runs them one after another, so the messages waiting in a
 * queue are handed out several per round trip, to the calls in the order they were made
 * (see {@link Slot} for a request issued again).
 * Messages pushed back go back in their order: the push-back of a queue waits until no
 * receive issued before it can still pop from that queue (each such receive is woken with a
 * token, so the wait is a round trip), then one `LPUSH` restores them, and receives issued
 * meanwhile wait for it. A token nobody needed stays in the wake-up list and costs a later
 * receive one extra round trip; it carries no message.
 *
 * Nothing is read ahead: a message leaves Redis only for a receive that asked for it, as in
 * the Python package. (A process that dies while a popped message is on its way to it loses
 * that message, as with any `BLPOP`.)
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import type { Timer } from '../index.js';
import { RedisClosedError, type RedisClient, type RedisReply } from '../redis/index.js';
import { NotJoinedError, UnknownSenderError } from './errors.js';
import { queue_key, sender_of, wake_key } from './keys.js';

/** What a receive resolves with: the sender's pid and the message. */
export type Received = [sender: string, message: unknown];

/** What the receiver needs from its channel. (not part of the public API) */
export interface ReceiverHost {
  /** The channel's client for ordinary commands (tokens and push-backs go through it). */
  readonly redis: RedisClient;
  /** ms a blocked `recvFromAny` waits before reading `members` again; 0 never. */
  readonly rescan: number;
  /** The members snapshot when `member_cache` says to trust it now, else null. */
  cached_members(): Set<string> | null;
  /** `members`, read afresh (and remembered). */
  members(fresh: boolean): Promise<Set<string>>;
  /** Remembers a membership read elsewhere. */
  remember(members: Set<string>): void;
  /** Bytes to a message value. */
  decode(data: Buffer): unknown;
}

/** A `BLPOP` in flight: the queue keys it listens to. */
interface Request {
  /** The receiver's pid (whose wake-up list wakes it). */
  readonly me: string;
  readonly keys: Set<string>;
  /** A wake-up token was pushed for it already. */
  tokened: boolean;
}

/**
 * One call of `recvFromAny` / `recvFrom` waiting for its result. Each waiting call has one
 * worker issuing requests for it; when a worker's request brings a message while an older
 * call with the same pid and senders still waits, the older call gets it and the two
 * workers swap calls: results follow the order of the calls even when a request had to be
 * issued again (a token, a rescan slice, a membership change).
 */
interface Slot {
  readonly me: string;
  /** `'*'` (any member) or the senders, joined. */
  readonly spec: string;
  /** `Date.now()` after which the call resolves null; Infinity for ever. */
  readonly deadline: number;
  resolve(value: Received | null): void;
  reject(err: unknown): void;
  worker: Worker;
}

/** A loop issuing requests for one waiting call (see {@link Slot}). */
interface Worker {
  slot: Slot;
}

/** Messages to push back to the head of one queue, in the order they were popped. */
interface PushBack {
  readonly values: Buffer[];
  readonly waiters: { resolve(): void; reject(err: unknown): void }[];
}

/** How long `close()` waits for receives in flight to be woken before it closes anyway. */
const CLOSE_GRACE = 1000;

function by_number(a: string, b: string): number {
  return Number(a) - Number(b);
}

function to_set(reply: RedisReply): Set<string> {
  const list = reply instanceof Set ? [...reply] : (reply as RedisReply[]);
  const out = new Set<string>();
  for (const m of list) out.add(String(m));
  return out;
}

/** The error a receive gets when `members` says it may not receive, or null. */
function verdict(members: Set<string>, me: string, senders: readonly string[] | null): Error | null {
  if (!members.has(me)) return new NotJoinedError(me);
  if (senders !== null) for (const s of senders) if (!members.has(s)) return new UnknownSenderError(s);
  return null;
}

/** The receiving side of one channel. See the module documentation. */
export class Receiver {
  private readonly host: ReceiverHost;
  private blocking: RedisClient | null = null;
  /** The members of the last `SMEMBERS` seen, ascending: the guess for the next receive's keys. */
  private known: string[] | null = null;
  /** Calls waiting, oldest first. */
  private readonly slots: Slot[] = [];
  /** Requests written on the blocking connection, oldest first. */
  private readonly inflight: Request[] = [];
  /** Queue key → messages to push back. */
  private readonly returns = new Map<string, PushBack>();
  /** Push-backs written and not yet acknowledged. */
  private pushing = 0;
  /** While push-backs are pending, new requests wait for this. */
  private gate: Promise<void> | null = null;
  private open_gate: (() => void) | null = null;
  /** Receivers rotate where their key list starts, so no sender starves. */
  private turn = 0;
  private closing = false;
  private drained: (() => void) | null = null;

  /** @param host - the channel */
  constructor(host: ReceiverHost) {
    this.host = host;
  }

  /** Receives in flight (issued and not answered). */
  get in_flight(): number {
    return this.inflight.length;
  }

  /**
   * The next message for `me` from `senders` (null: any member), or null once `deadline`
   * (a `Date.now()` value, Infinity for ever) has passed.
   */
  receive(me: string, senders: readonly string[] | null, deadline: number): Promise<Received | null> {
    return new Promise((resolve, reject) => {
      const slot: Slot = { me, spec: senders === null ? '*' : senders.join(','), deadline, resolve, reject, worker: null! };
      const worker: Worker = { slot };
      slot.worker = worker;
      this.slots.push(slot);
      void this.work(worker, me, senders);
    });
  }

  /** A worker's loop: requests until its slot is settled (see {@link Slot}). */
  private async work(worker: Worker, me: string, senders: readonly string[] | null): Promise<void> {
    try {
      this.settle_slot(worker, await this.serve(worker, me, senders), null);
    } catch (err) {
      this.settle_slot(worker, null, err);
    }
  }

  /**
   * Settles the oldest call waiting with the same pid and senders as this worker's (its own
   * slot or an older one: then the two workers swap slots, so calls get messages in the order
   * they were made). Runs synchronously after the reply, so no other worker comes between.
   */
  private settle_slot(worker: Worker, value: Received | null, err: unknown): void {
    let target = worker.slot;
    if (value !== null && err === null) {
      for (const slot of this.slots) {
        if (slot === target) break;
        if (slot.me === target.me && slot.spec === target.spec) {
          // An older call is still waiting: it gets this message; its worker takes ours.
          const other = slot.worker;
          other.slot = target;
          target.worker = other;
          target = slot;
          break;
        }
      }
    }
    const i = this.slots.indexOf(target);
    if (i >= 0) this.slots.splice(i, 1);
    if (err !== null) target.reject(err);
    else target.resolve(value);
  }

  private async serve(worker: Worker, me: string, senders: readonly string[] | null): Promise<Received | null> {
    const host = this.host;
    const wake = wake_key(me);
    for (;;) {
      while (this.gate !== null) await this.gate;
      if (this.closing) throw new RedisClosedError('the channel was closed');
      const cached = host.cached_members();
      let guess: readonly string[];
      if (cached !== null) {
        // member_cache: check against the snapshot (refreshed when it lacks a pid), no SMEMBERS.
        let members = cached;
        if (verdict(members, me, senders) !== null) members = await host.members(true);
        const bad = verdict(members, me, senders);
        if (bad !== null) throw bad;
        guess = senders ?? [...members].sort(by_number);
      } else {
        guess = senders ?? this.known ?? (this.known = [...(await host.members(true))].sort(by_number));
      }
      const left = worker.slot.deadline - Date.now();
      if (left <= 0) return null;
      let wait = left;
      if (this.host.rescan > 0 && senders === null) wait = Math.min(wait, this.host.rescan);
      const seconds = wait === Infinity ? 0 : Math.max(0.001, Math.ceil(wait) / 1000);
      const n = guess.length;
      const start = n > 0 ? this.turn++ % n : 0;
      const args: (string | number)[] = [];
      for (let i = 0; i < n; i++) args.push(queue_key(guess[(start + i) % n]!, me));
      const req: Request = { me, keys: new Set(args as string[]), tokened: false };
      args.push(wake, seconds);
      if (this.closing) throw new RedisClosedError('the channel was closed');
      const blocking = (this.blocking ??= host.redis.duplicate());
      const read = cached === null ? blocking.command('SMEMBERS', 'members') : null;
      const pop = blocking.command('BLPOP', ...args) as Promise<Buffer[] | null>;
      this.inflight.push(req);
      // The fresh membership arrives before the BLPOP's reply.
      let bad: unknown = null;
      let members: Set<string> | null = cached;
      if (read !== null) {
        try {
          members = to_set(await read);
          host.remember(members);
          const sorted = [...members].sort(by_number);
          this.known = sorted;
          bad = verdict(members, me, senders);
          if (bad !== null || (senders === null && sorted.some((m) => !req.keys.has(queue_key(m, me))))) this.token(req);
        } catch (err) {
          // (A lost connection fails the BLPOP too; a Redis error reply does not.)
          bad = err;
          members = null;
          this.token(req);
        }
      }
      let reply: Buffer[] | null;
      try {
        reply = await pop;
      } catch (err) {
        this.finish(req);
        throw err;
      }
      if (reply === null || String(reply[0]) === wake) {
        this.finish(req);
        if (bad !== null) throw bad;
        if (this.closing) throw new RedisClosedError('the channel was closed');
        if (reply === null && Date.now() >= worker.slot.deadline) return null;
        continue; // a rescan slice ended, or a token: read members again
      }
      const key = String(reply[0]);
      const sender = sender_of(key);
      if (bad !== null || members === null || !members.has(sender)) {
        // Not ours to take under the fresh membership: back to the head of its queue.
        const back = this.push_back(key, reply[1]!, req);
        this.finish(req);
        await back;
        if (bad !== null) throw bad;
        continue;
      }
      this.finish(req);
      return [sender, host.decode(reply[1]!)];
    }
  }

  /**
   * Wakes the receives in flight (a token each), waits for them (at most a second), then
   * closes the blocking connection. A receive woken this way rejects with
   * `RedisClosedError`; one that popped a message first resolves with it. Push-backs are
   * written before this resolves.
   */
  async close(): Promise<void> {
    this.closing = true;
    const blocking = this.blocking;
    if (blocking === null) return;
    if (this.inflight.length > 0 && blocking.connected && this.host.redis.connected) {
      const drained = new Promise<void>((resolve) => (this.drained = resolve));
      let timer: Timer | null = null;
      const grace = new Promise<void>((resolve) => (timer = this.host.redis.engine.defer(CLOSE_GRACE, resolve)));
      for (const req of this.inflight) this.token(req);
      await Promise.race([drained, grace]);
      (timer as Timer | null)?.cancel();
      this.drained = null;
    }
    await blocking.close();
    while (this.gate !== null) await this.gate.catch(() => {});
  }

  // ------------------------------------------------------------------ internals

  /** Pushes a wake-up token for `req` (once). */
  private token(req: Request): void {
    if (req.tokened) return;
    req.tokened = true;
    this.host.redis.command('RPUSH', wake_key(req.me), 'recv').catch(() => {});
  }

  /** A request was answered (or failed): forget it, and write the push-backs it held up. */
  private finish(req: Request): void {
    const i = this.inflight.indexOf(req);
    if (i >= 0) this.inflight.splice(i, 1);
    if (this.returns.size > 0) this.settle();
    if (this.inflight.length === 0) this.drained?.();
  }

  /** Queues a popped message for its queue's head; resolves once it is back in Redis. */
  private push_back(key: string, value: Buffer, req: Request): Promise<void> {
    let back = this.returns.get(key);
    if (back === undefined) {
      back = { values: [], waiters: [] };
      this.returns.set(key, back);
      if (this.gate === null) this.gate = new Promise((resolve) => (this.open_gate = resolve));
    }
    back.values.push(value);
    // Every earlier-issued receive that may still pop from this queue must answer first.
    for (const other of this.inflight) if (other !== req && other.keys.has(key)) this.token(other);
    return new Promise((resolve, reject) => back.waiters.push({ resolve, reject }));
  }

  /** Writes the push-backs no receive in flight can pop from any more. */
  private settle(): void {
    for (const [key, back] of this.returns) {
      if (this.inflight.some((req) => req.keys.has(key))) continue;
      this.returns.delete(key);
      this.pushing++;
      // LPUSH puts its last argument at the head: the first popped goes back first in line.
      const values = back.values.reverse();
      this.host.redis.command('LPUSH', key, ...values).then(
        () => this.pushed(back, null),
        (err: unknown) => this.pushed(back, err),
      );
    }
  }

  private pushed(back: PushBack, err: unknown): void {
    for (const w of back.waiters) {
      if (err === null) w.resolve();
      else w.reject(err);
    }
    this.pushing--;
    if (this.pushing === 0 && this.returns.size === 0 && this.gate !== null) {
      const open = this.open_gate!;
      this.gate = null;
      this.open_gate = null;
      open();
    }
  }
}
