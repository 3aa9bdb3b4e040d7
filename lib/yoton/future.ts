/**
 * Future: the pending result of a request made on a `ReqChannel` (PEP 3148 style, as
 * yoton's). Await it, or ask with a time limit:
 *
 * ```ts
 * const f = req.call('add', 3, 4);
 * console.log(await f);                    // 7 (rejects with YotonRemoteError if it threw)
 * await f.result(2000);                    // or: at most 2 s, else YotonTimeoutError
 * await req.call('slow').result_or_cancel(100);   // null, and cancelled, if not done
 * ```
 *
 * States: waiting (asking repliers) → running (a replier took it) → success / error;
 * or cancelled (only while waiting). Done callbacks run on the engine's next turn.
 *
 * @module
 */

import type { Engine } from '../index.js';
import { YotonCancelledError, YotonTimeoutError } from './errors.js';

/** Default auto-cancel time of a waiting request, ms (yoton: 10 s). */
export const AUTO_CANCEL_TIMEOUT = 10000;

const WAITING = 0;
const RUNNING = 1;
const CANCELLED = 2;
const ERROR = 3;
const SUCCESS = 4;

/** What a Future needs of its channel. */
export interface FutureHost {
  /** Sends `req?` or `req-` for this request. */
  _send_pre(future: Future, what: 'req?' | 'req-'): void;
  /** The channel's engine. */
  readonly engine: Engine;
}

/** The future result of a request. */
export class Future<T = unknown> implements PromiseLike<T> {
  private status = WAITING;
  private value: unknown = undefined;
  private callbacks: ((f: Future<T>) => unknown)[] = [];
  private waiters: (() => void)[] = [];
  /** @internal The OBJECT-encoded request. */
  readonly _req: Buffer;
  /** @internal The request id (1, 2, ... per channel). */
  readonly _request_id: bigint;
  /** @internal The context id of the replier that took it (0n before). */
  _replier = 0n;
  /** @internal When it was first sent (ms). */
  readonly _first_send_time: number;
  /** @internal When `req?` is due again. */
  _next_send_time: number;
  private auto_cancel = AUTO_CANCEL_TIMEOUT;

  /** @internal Made by `ReqChannel.call()`. */
  constructor(
    private readonly host: FutureHost,
    req: Buffer,
    request_id: bigint,
  ) {
    this._req = req;
    this._request_id = request_id;
    this._first_send_time = Date.now();
    this._next_send_time = this._first_send_time + 500;
  }

  /**
   * Cancels a still-waiting request after `timeout` ms from its first send (default 10000);
   * `null` never. @throws RangeError for a timeout <= 0
   */
  set_auto_cancel_timeout(timeout: number | null): void {
    if (timeout === null) {
      this.auto_cancel = Infinity;
      return;
    }
    if (typeof timeout !== 'number' || !(timeout > 0)) throw new RangeError('A timeout cannot be negative');
    this.auto_cancel = timeout;
  }

  /** @internal Re-sends `req?` every 500 ms while waiting; auto-cancels. */
  _resend_if_necessary(now: number): void {
    if (this.status !== WAITING) return;
    if (now > this._first_send_time + this.auto_cancel) this.cancel();
    else if (now > this._next_send_time) {
      this.host._send_pre(this as unknown as Future, 'req?');
      this._next_send_time = now + 500;
    }
  }

  /** Cancels a waiting request (broadcasting `req-`). @returns false when it is running */
  cancel(): boolean {
    if (this.status === RUNNING) return false;
    if (this.status === WAITING) {
      this.status = CANCELLED;
      this.host._send_pre(this as unknown as Future, 'req-');
      this.settled();
    }
    return true;
  }

  /** True once cancelled. */
  cancelled(): boolean {
    return this.status === CANCELLED;
  }

  /** True while a replier runs it. */
  running(): boolean {
    return this.status === RUNNING;
  }

  /** True once cancelled or finished. */
  done(): boolean {
    return this.status >= CANCELLED;
  }

  /** True while no replier has taken it yet. */
  waiting(): boolean {
    return this.status === WAITING;
  }

  private wait(timeout: number | null | undefined): Promise<void> {
    if (this.status >= CANCELLED) return Promise.resolve();
    if (timeout !== undefined && timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout))) {
      throw new TypeError('timeout must be a number of ms or null');
    }
    return new Promise<void>((resolve) => {
      let timer: { cancel(): void } | null = null;
      const done = (): void => {
        timer?.cancel();
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      };
      this.waiters.push(done);
      if (timeout !== undefined && timeout !== null && Number.isFinite(timeout)) {
        timer = timeout > 0 ? this.host.engine.defer(timeout, done) : { cancel() {} };
        if (timeout <= 0) queueMicrotask(done);
      }
    });
  }

  /**
   * The result, waiting at most `timeout` ms (default: as long as it takes).
   * Rejects with {@link YotonTimeoutError}, {@link YotonCancelledError}, or the request's
   * error (a `YotonRemoteError` for a replier's error reply).
   */
  async result(timeout?: number | null): Promise<T> {
    await this.wait(timeout);
    if (this.status < CANCELLED) throw new YotonTimeoutError('Result unavailable within the specified time.');
    if (this.status === CANCELLED) throw new YotonCancelledError('Result unavailable because request was cancelled.');
    if (this.status === ERROR) throw this.value as Error;
    return this.value as T;
  }

  /** The result if it comes within `timeout` ms (default 1000); otherwise cancels and gives null. */
  async result_or_cancel(timeout = 1000): Promise<T | null> {
    await this.wait(timeout);
    if (this.status === SUCCESS) return this.value as T;
    this.cancel();
    return null;
  }

  /**
   * The request's error (null if it succeeded), waiting at most `timeout` ms.
   * Rejects with YotonTimeoutError or YotonCancelledError like {@link Future.result}.
   */
  async exception(timeout?: number | null): Promise<Error | null> {
    await this.wait(timeout);
    if (this.status < CANCELLED) throw new YotonTimeoutError('Exception unavailable within the specified time.');
    if (this.status === CANCELLED) throw new YotonCancelledError('Exception unavailable because request was cancelled.');
    return this.status === ERROR ? (this.value as Error) : null;
  }

  /** Calls `fn(future)` once done (on the next turn; at once-ish if already done). */
  add_done_callback(fn: (future: Future<T>) => unknown): void {
    if (typeof fn !== 'function') throw new TypeError('add_done_callback expects a callable.');
    if (this.done()) this.host.engine.callback(fn, this);
    else this.callbacks.push(fn);
  }

  /** `await future` is `await future.result()`. */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.result().then(onfulfilled, onrejected);
  }

  /** Executor side: marks it running. @returns false when it was cancelled */
  set_running_or_notify_cancel(): boolean {
    if (this.status === CANCELLED) return false;
    if (this.status === WAITING) {
      this.status = RUNNING;
      return true;
    }
    throw new Error('set_running_or_notify_cancel should be called when in a clear state.');
  }

  /** Executor side: the result (only while running). */
  set_result(result: T): void {
    if (this.status !== RUNNING) return;
    this.value = result;
    this.status = SUCCESS;
    this.settled();
  }

  /** Executor side: the error (only while running). */
  set_exception(error: Error | string): void {
    const err = typeof error === 'string' ? new Error(error) : error;
    if (!(err instanceof Error)) throw new TypeError('exception must be an Error instance.');
    if (this.status !== RUNNING) return;
    this.value = err;
    this.status = ERROR;
    this.settled();
  }

  private settled(): void {
    for (const w of [...this.waiters]) w();
    const cbs = this.callbacks;
    this.callbacks = [];
    for (const fn of cbs) this.host.engine.callback(fn, this);
  }
}
