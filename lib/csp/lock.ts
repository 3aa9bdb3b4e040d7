/**
 * A CSP process's lock and state (PyCSP's `RemoteLock` plus the `Process` fields it guards):
 * the one thing channel homes, wherever they are, must hold before they may commit an
 * offer to the process.
 *
 * - An operation (read, write, alternation) begins: state READY, sequence number + 1. It
 *   posts its requests, then waits until the state leaves READY.
 * - A home takes the lock (one holder at a time; others wait in arrival order), reads the
 *   state and sequence number, and while holding it may commit (`notify`: SUCCESS, with the
 *   result), `poison` or `retire` (only if still READY), then releases it.
 * - Holders are named by `'<home address>/<channel name>'`, so two channels of the same name
 *   hosted in different processes never pass for each other (PyCSP names them by channel
 *   name alone).
 *
 * Pure logic: no sockets, no timers.
 *
 * @module
 */

import { FAIL, POISON, READY, RETIRE, SUCCESS } from './header.js';
import type { Grant, LocalLock, ProcRef, Request } from './home.js';

interface Waiting {
  holder: string;
  grant: (g: Grant) => void;
}

/** The lock and operation state of one CSP process (or one anonymous operation). */
export class ProcessLock<M = unknown> implements LocalLock {
  /** The process id on the wire: 32 hex digits, a dot and a name (at most 64 bytes). */
  readonly id: string;
  /** The sequence number of the current (or last) operation. */
  seq = 1;
  /** READY while an operation waits; then SUCCESS, POISON, RETIRE or FAIL. */
  state = FAIL;
  /** After SUCCESS: the channel name (or guard id) that completed. */
  result_id = '';
  /** After SUCCESS on a read: the message (a local value or pickled bytes). */
  result: M | undefined = undefined;
  /** After SUCCESS: whether a message came (a read), not a write. */
  has_result = false;
  /** How homes of this process refer to it (one object, reused). */
  readonly ref: ProcRef & { active: boolean };
  /** Called once the state leaves READY (set by the operation waiting). */
  on_done: ((lock: ProcessLock<M>) => void) | null = null;
  /** The waiting read or write: how to settle its promise, its channel, whether it writes. */
  op_resolve: ((value: unknown) => void) | null = null;
  op_reject: ((err: unknown) => void) | null = null;
  op_channel: unknown = null;
  op_write = false;
  /** The executor of the waiting operation's promise (one per lock, not one per operation). */
  readonly executor = (resolve: (value: unknown) => void, reject: (err: unknown) => void): void => {
    this.op_resolve = resolve;
    this.op_reject = reject;
  };
  /** After a failure that is not poison or retire (a lost connection, a refused message). */
  failure: Error | null = null;
  /** True while an operation uses this lock. */
  busy = false;
  /** Home addresses the current operation posted to (for lost-connection checks). */
  readonly posted = new Set<string>();
  /** Remote channels this lock has entered (`'addr/name'`): each gets a LEAVE at the end. */
  readonly entered = new Set<string>();
  private holder: string | null = null;
  private waiting: Waiting[] = [];
  private waiting_head = 0;
  private wake: (() => void) | null = null;
  private acked = false;
  private ack_wake: (() => void) | null = null;
  private readonly quit_waiters = new Map<string, () => void>();
  private readonly grant: Grant = { state: FAIL, seq: 0 };

  /** The request of this process's plain operations at homes here (one object, reused: see ChannelHome.enqueue). */
  readonly request: Request<M>;

  /** @param id - the process id (byte string, at most 64 bytes) */
  constructor(id: string) {
    this.id = id;
    this.ref = { id, addr: '', active: true, lock: this };
    this.request = { proc: this.ref, seq: 0, msg: undefined, busy: false, gone: false };
  }

  /** Starts an operation: READY, next sequence number. */
  begin(): void {
    this.state = READY;
    this.seq++;
    this.result = undefined;
    this.has_result = false;
    this.ref.active = true;
    this.result_id = '';
    this.failure = null;
    this.acked = false;
    if (this.posted.size > 0) this.posted.clear();
  }

  /** Resolves once the state has left READY (at once if it has). */
  wait(): Promise<void> {
    if (this.state !== READY) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  /** Resolves once a home acknowledged the last post (PriSelect), or the operation ended. */
  wait_ack(): Promise<void> {
    if (this.acked || this.state !== READY) {
      this.acked = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.ack_wake = () => {
        this.acked = false;
        resolve();
      };
    });
  }

  private wake_up(): void {
    const d = this.on_done;
    if (d !== null) {
      this.on_done = null;
      d(this);
    }
    const w = this.wake;
    if (w !== null) {
      this.wake = null;
      w();
    }
    const a = this.ack_wake;
    if (a !== null) {
      this.ack_wake = null;
      a();
    }
  }

  /**
   * Takes the lock for `holder`: the grant at once when free, else a promise of it (in
   * arrival order).
   */
  acquire(holder: string): Grant | Promise<Grant> {
    if (this.holder === null) {
      this.holder = holder;
      // One grant object per lock, reused: a synchronous grant is read before the next acquire.
      const g = this.grant;
      g.state = this.state;
      g.seq = this.seq;
      return g;
    }
    return new Promise<Grant>((grant) => this.waiting.push({ holder, grant }));
  }

  /**
   * The state and sequence number while the lock is free (undefined while it is held), for
   * a home that decides and commits in the same synchronous run (see {@link ProcessLock.commit}).
   */
  peek(): Grant | undefined {
    if (this.holder !== null) return undefined;
    const g = this.grant;
    g.state = this.state;
    g.seq = this.seq;
    return g;
  }

  /** Commits while the lock is free, as take + notify + release would. Returns false when not READY or held. */
  commit(result_id: string, msg: M | undefined, has_msg: boolean): boolean {
    if (this.holder !== null || this.state !== READY) return false;
    this.result_id = result_id;
    this.result = msg;
    this.has_result = has_msg;
    this.state = SUCCESS;
    this.wake_up();
    return true;
  }

  /** {@link LocalLock.offer}: commit if free and READY at `seq` (1), stale (0), held (-1). */
  offer(seq: number, result_id: string, msg: unknown, has_msg: boolean): number {
    if (this.holder !== null) return -1;
    if (this.state !== READY || this.seq !== seq) return 0;
    this.succeed(result_id, msg as M | undefined, has_msg);
    return 1;
  }

  /** Takes the lock for `holder` and calls `grant` with the grant (now or once free). */
  acquire_then(holder: string, grant: (g: Grant) => void): void {
    if (this.holder === null) {
      this.holder = holder;
      grant({ state: this.state, seq: this.seq });
      return;
    }
    this.waiting.push({ holder, grant });
  }

  /** Who holds the lock, or null. */
  get held_by(): string | null {
    return this.holder;
  }

  /**
   * Commit by the holder: SUCCESS on `result_id` with `msg`.
   * @returns false when `holder` does not hold the lock or the process is not READY (a
   *   protocol violation: nothing changes)
   */
  notify(holder: string, result_id: string, msg: M | undefined, has_msg: boolean): boolean {
    if (this.holder !== holder || this.state !== READY) return false;
    return this.succeed(result_id, msg, has_msg);
  }

  /**
   * Commits the operation whose request had sequence number `seq`, without the lock (a
   * plain read or write posted as exclusive: only its one home can end it).
   * @returns false when the process is no longer READY at `seq`
   */
  commit_request(seq: number, result_id: string, msg: M | undefined, has_msg: boolean): boolean {
    if (this.state !== READY || this.seq !== seq) return false;
    return this.succeed(result_id, msg, has_msg);
  }

  /** Ends the waiting operation with SUCCESS on `result_id` and wakes the owner. */
  private succeed(result_id: string, msg: M | undefined, has_msg: boolean): true {
    this.result_id = result_id;
    this.result = msg;
    this.has_result = has_msg;
    this.state = SUCCESS;
    this.wake_up();
    return true;
  }

  /** Poison by the holder (if READY). Returns false when `holder` does not hold the lock. */
  poison(holder: string): boolean {
    return this.end_by(holder, POISON);
  }

  /** Retire by the holder (if READY). Returns false when `holder` does not hold the lock. */
  retire(holder: string): boolean {
    return this.end_by(holder, RETIRE);
  }

  /** Moves a READY lock held by `holder` to `state` (poison or retire) and wakes the owner. */
  private end_by(holder: string, state: typeof POISON | typeof RETIRE): boolean {
    if (this.holder !== holder) return false;
    if (this.state === READY) {
      this.state = state;
      this.wake_up();
    }
    return true;
  }

  /** Release by the holder; the next waiting holder gets the lock. Returns false when `holder` does not hold it. */
  release(holder: string): boolean {
    if (this.holder !== holder) return false;
    this.holder = null;
    if (this.waiting_head < this.waiting.length) {
      const next = this.waiting[this.waiting_head]!;
      this.waiting[this.waiting_head++] = undefined as unknown as Waiting;
      if (this.waiting_head === this.waiting.length) {
        this.waiting.length = 0;
        this.waiting_head = 0;
      }
      this.holder = next.holder;
      next.grant({ state: this.state, seq: this.seq });
    }
    return true;
  }

  /** A home acknowledged a post. */
  ack(): void {
    this.acked = true;
    const a = this.ack_wake;
    if (a !== null) {
      this.ack_wake = null;
      a();
    }
  }

  /**
   * Ends a waiting operation with `err` (a lost connection, a refused message): the state
   * becomes FAIL, so homes drop its requests.
   */
  fail(err: Error): void {
    if (this.state !== READY) return;
    this.failure = err;
    this.state = FAIL;
    this.wake_up();
  }

  /** A home answered LEAVE: `key` (`'addr/name'`) will send nothing more. */
  quit(key: string): void {
    this.entered.delete(key);
    const w = this.quit_waiters.get(key);
    if (w !== undefined) {
      this.quit_waiters.delete(key);
      w();
    }
  }

  /** Resolves once the home `key` answered LEAVE (or was lost: see {@link ProcessLock.quit}). */
  wait_quit(key: string): Promise<void> {
    if (!this.entered.has(key)) return Promise.resolve();
    return new Promise<void>((resolve) => this.quit_waiters.set(key, resolve));
  }

  /** Keys of homes whose LEAVE answer is awaited. */
  get quitting(): string[] {
    return [...this.quit_waiters.keys()];
  }
}
