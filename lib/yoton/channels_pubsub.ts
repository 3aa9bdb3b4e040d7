/**
 * Publish/subscribe: a {@link PubChannel}'s messages reach every {@link SubChannel} at the
 * same slot anywhere in the network (N:M).
 *
 * ```ts
 * const pub = new PubChannel(ctx_a, 'news');
 * const sub = new SubChannel(ctx_b, 'news');
 * pub.send('hello');
 * await sub.recv();             // 'hello'
 * await sub.recv(100);          // '' after at most 100 ms when nothing comes
 * for await (const m of sub) {} // until the channel is closed
 * ```
 *
 * Sync mode (`sub.set_sync_mode(true)`): over 32 queued messages the Sub sends `full` to the
 * publishers (on its outgoing slot), back under 16 it sends `ok`; the status is re-sent every
 * 4 s while it is being read. A Pub that has a `full` from any Sub is send-locked: each
 * `send()` waits until the lock lifts, or 1 s, and the lock expires 10 s after the last `full`.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { BaseChannel } from './channels_base.js';
import type { Context } from './context.js';
import { TEXT, type MessageType } from './message_types.js';
import type { Package } from './wire.js';

/** How long a send waits while the channel is send-locked (yoton: 1.0 s). */
export const SEND_LOCK_WAIT = 1000;
/** How long a lock lasts after the last `full` (yoton: 10 s). */
export const SEND_LOCK_EXPIRY = 10000;
/** How often a Sub in sync mode re-sends its status (yoton: 4 s). */
export const SYNC_STATUS_INTERVAL = 4000;

/** The publishing end of pub/sub. */
export class PubChannel<M = string> extends BaseChannel<M> {
  private readonly full_sources = new Set<bigint>();
  private locked_until = 0;
  private unlock_waiters: (() => void)[] = [];
  private chain: Promise<void> | null = null;

  /**
   * @param context - the context
   * @param slot_base - the slot
   * @param message_type - default TEXT
   */
  constructor(context: Context, slot_base: string, message_type: MessageType<M> = TEXT as unknown as MessageType<M>) {
    super(context, slot_base, message_type);
  }

  /** @internal */
  protected _messaging_patterns(): [string, string] {
    return ['pub-sub', 'sub-pub'];
  }

  /** True while a subscriber in sync mode reported `full` (and the lock has not expired). */
  get send_locked(): boolean {
    return this.locked_until > 0 && Date.now() <= this.locked_until;
  }

  /**
   * Sends a message to every SubChannel at the slot. The message is encoded at once (a wrong
   * type throws TypeError, a closed channel YotonClosedError); it goes out at once unless the
   * channel is send-locked, in which case it waits (in order) for the lock to lift or 1 s.
   * @returns resolves once the message is handed on (after a congested connection drained,
   *   at most 1 s); callers may ignore it; it never rejects
   */
  send(message: M): Promise<void> {
    const bytes = this.message_to_bytes(message);
    if (this.closed) this._send(bytes); // throws YotonClosedError
    if (this.chain === null && !this.send_locked) {
      const r = this._send(bytes);
      return r === null ? Promise.resolve() : this._congestion(r.waiting);
    }
    const link = (this.chain ?? Promise.resolve())
      .then(() => this.wait_unlock())
      .then(() => {
        if (this.closed) return;
        const r = this._send(bytes);
        return r === null ? undefined : this._congestion(r.waiting);
      })
      .catch(() => {});
    this.chain = link;
    void link.then(() => {
      if (this.chain === link) this.chain = null;
    });
    return link;
  }

  private wait_unlock(): Promise<void> {
    if (!this.send_locked) {
      this.locked_until = 0;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        timer.cancel();
        const i = this.unlock_waiters.indexOf(done);
        if (i >= 0) this.unlock_waiters.splice(i, 1);
        if (Date.now() > this.locked_until) this.locked_until = 0;
        resolve();
      };
      const timer = this.context.engine.defer(SEND_LOCK_WAIT, done);
      this.unlock_waiters.push(done);
    });
  }

  /** @internal `full` / `ok` from subscribers in sync mode (a Pub never emits `received`). */
  override _recv_package(p: Package): void {
    const text = p.data.toString('utf8');
    if (text === 'full') this.full_sources.add(p.source_id);
    else this.full_sources.delete(p.source_id);
    if (this.full_sources.size > 0) {
      this.locked_until = Date.now() + SEND_LOCK_EXPIRY;
    } else {
      this.locked_until = 0;
      for (const w of [...this.unlock_waiters]) w();
    }
  }

  /** @internal */
  protected override _on_closed(): void {
    for (const w of [...this.unlock_waiters]) w();
  }
}

const Q_NULL = 0;
const Q_OK = 1;
const Q_FULL = 2;

interface Waiter {
  resolve(p: Package | null): void;
}

/** The subscribing end of pub/sub. */
export class SubChannel<M = string> extends BaseChannel<M> implements AsyncIterable<M>, Iterable<M> {
  private waiters: Waiter[] = [];
  private queue_status = Q_NULL;
  private status_time = 0;
  /** The high-water mark of sync mode (yoton's `_HWM`, 32). */
  readonly HWM = 32;
  /** The low-water mark of sync mode (yoton's `_LWM`, 16). */
  readonly LWM = 16;
  /** @internal Set by select_sub_channel. */
  _ref_seq = 0;

  /**
   * @param context - the context
   * @param slot_base - the slot
   * @param message_type - default TEXT
   */
  constructor(context: Context, slot_base: string, message_type: MessageType<M> = TEXT as unknown as MessageType<M>) {
    super(context, slot_base, message_type);
    this.received.bind(() => this.check_queue_status());
  }

  /** @internal */
  protected _messaging_patterns(): [string, string] {
    return ['sub-pub', 'pub-sub'];
  }

  /** @internal */
  override _recv_package(p: Package): void {
    const w = this.waiters.shift();
    if (w === undefined) {
      super._recv_package(p);
      return;
    }
    w.resolve(p);
    this._maybe_emit_received();
  }

  /** @internal */
  protected override _on_closed(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.resolve(null);
  }

  /** The type's empty message: `''`, an empty Buffer or `null`. */
  empty_message(): M {
    return this.message_from_bytes(Buffer.alloc(0));
  }

  /**
   * Receives one message.
   * @param block - `true` (default) waits as long as it takes; `false` answers at once; a
   *   number waits at most that many ms. Without a message (or once the channel is closed) it
   *   resolves with the type's empty message.
   */
  recv(block: boolean | number = true): Promise<M> {
    if (typeof block !== 'boolean' && (typeof block !== 'number' || Number.isNaN(block))) {
      throw new TypeError('block must be true, false or a number of ms');
    }
    this.check_queue_status();
    const p = this._q_in.shift();
    try {
      if (p !== undefined) {
        this.check_queue_status(); // not in yoton: "ok" goes out as soon as the queue is short
        return Promise.resolve(this.message_from_bytes(p.data));
      }
    } catch (err) {
      return Promise.reject(err);
    }
    if (block === false || this.closed || (typeof block === 'number' && block <= 0)) return Promise.resolve(this.empty_message());
    return new Promise<M>((resolve, reject) => {
      let timer: { cancel(): void } | null = null;
      const waiter: Waiter = {
        resolve: (pkg) => {
          timer?.cancel();
          try {
            resolve(pkg === null ? this.empty_message() : this.message_from_bytes(pkg.data));
          } catch (err) {
            reject(err);
          }
        },
      };
      this.waiters.push(waiter);
      if (typeof block === 'number' && Number.isFinite(block)) {
        timer = this.context.engine.defer(block, () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          waiter.resolve(null);
        });
      }
    });
  }

  /** Every pending message (possibly none). */
  recv_all(): M[] {
    this.check_queue_status();
    const out: M[] = [];
    for (let p = this._q_in.shift(); p !== undefined; p = this._q_in.shift()) out.push(this.message_from_bytes(p.data));
    this.check_queue_status();
    return out;
  }

  /**
   * The messages older than the first pending message of the other channels given to
   * {@link select_sub_channel} (call that first).
   */
  recv_selected(): M[] {
    const out: M[] = [];
    for (;;) {
      const p = this._q_in.peek(0);
      if (p === undefined || p.recv_seq > this._ref_seq) break;
      this._q_in.shift();
      out.push(this.message_from_bytes(p.data));
    }
    return out;
  }

  /** Pending messages, until one is empty (yoton's iterator). */
  *[Symbol.iterator](): Iterator<M> {
    for (;;) {
      const p = this._q_in.shift();
      if (p === undefined) return;
      const m = this.message_from_bytes(p.data);
      if (!m || (m instanceof Uint8Array && m.length === 0)) return;
      yield m;
    }
  }

  /** Every message as it arrives, until the channel is closed and drained. */
  async *[Symbol.asyncIterator](): AsyncIterator<M> {
    while (!(this.closed && this._q_in.length === 0)) {
      const was_closed = this.closed;
      const m = await this.recv(true);
      if (this.closed && !was_closed && this._q_in.length === 0 && (!m || (m instanceof Uint8Array && m.length === 0))) return;
      yield m;
    }
  }

  /**
   * Sync mode: when this Sub's queue grows past 32 the publishers are asked to slow down
   * (`full`), below 16 they may go on (`ok`).
   */
  set_sync_mode(value: boolean): void {
    if (this.queue_status === Q_FULL) this.send_status('ok');
    this.queue_status = value ? Q_OK : Q_NULL;
  }

  private send_status(what: 'full' | 'ok'): void {
    if (this.context.connection_count === 0 || this.closed) return;
    this._send(Buffer.from(what, 'utf8'));
  }

  /** @internal [first pending recv_seq, last + 1], or [-1, -1]. */
  _pending_seqs(): [number, number] {
    this.check_queue_status();
    const first = this._q_in.peek(0);
    const last = this._q_in.peek(-1);
    return first === undefined || last === undefined ? [-1, -1] : [first.recv_seq, last.recv_seq + 1];
  }

  private check_queue_status(): void {
    if (this.queue_status === Q_NULL) return;
    const n = this._q_in.length;
    const now = Date.now();
    if (n > this.HWM) {
      if (this.queue_status === Q_OK) {
        this.queue_status = Q_FULL;
        this.status_time = now + SYNC_STATUS_INTERVAL;
        this.send_status('full');
      }
    } else if (n < this.LWM) {
      if (this.queue_status === Q_FULL) {
        this.queue_status = Q_OK;
        this.status_time = now + SYNC_STATUS_INTERVAL;
        this.send_status('ok');
      }
    }
    if (this.status_time < now) {
      this.status_time = now + SYNC_STATUS_INTERVAL;
      this.send_status(this.queue_status === Q_OK ? 'ok' : 'full');
    }
  }
}

/**
 * Of the given SubChannels, the one holding the oldest pending message (by local arrival
 * order), or null. Then `channel.recv_selected()` gives its messages older than any pending
 * in the others: together an ordered merge.
 * @throws TypeError for anything but SubChannels
 */
export function select_sub_channel(...channels: SubChannel<unknown>[]): SubChannel<unknown> | null {
  let smallest1 = Infinity;
  let smallest2 = Infinity;
  let first: SubChannel<unknown> | null = null;
  for (const ch of channels) {
    if (!(ch instanceof SubChannel)) throw new TypeError('select_sub_channel() only accepts SUB channels.');
    const [s1, s2] = ch._pending_seqs();
    if (s1 < 0) continue;
    if (s1 < smallest1) {
      smallest2 = Math.min(smallest1, smallest2, s2);
      smallest1 = s1;
      first = ch;
    } else {
      smallest2 = Math.min(smallest2, s1);
    }
  }
  if (first === null) return null;
  first._ref_seq = smallest2;
  return first;
}
