/**
 * Yoton's event system on the trousers Engine: {@link Signal}, {@link Timer} and
 * {@link call_later}.
 *
 * Python yoton queues every event and needs `yoton.process_events()` or
 * `yoton.start_event_loop()` to deliver them. Node runs the event loop already: a signal's
 * `emit()` calls each handler on the engine's next turn, timers fire by themselves, and there
 * is no `process_events` to call.
 *
 * @module
 */

import { Engine, type Timer as EngineTimer } from '../index.js';

/** A signal handler. */
export type Handler<A extends unknown[] = unknown[]> = (...args: A) => unknown;

/**
 * A signal: handlers are bound to it and called when it is emitted. A handler that throws is
 * reported to `engine.on_error` and the other handlers still run.
 */
export class Signal<A extends unknown[] = unknown[]> {
  private handlers: Handler<A>[] = [];
  /** The engine that delivers `emit()`. */
  readonly engine: Engine;

  /** @param engine - delivers emissions (default `Engine.instance()`) */
  constructor(engine?: Engine) {
    this.engine = engine ?? Engine.instance();
  }

  /** Number of bound handlers. */
  get handler_count(): number {
    return this.handlers.length;
  }

  /** Adds a handler; binding one twice is ignored (yoton prints a warning). */
  bind(fn: Handler<A>): void {
    if (typeof fn !== 'function') throw new TypeError('a signal handler must be a function');
    if (!this.handlers.includes(fn)) this.handlers.push(fn);
  }

  /** Removes `fn`, or every handler when called without one. */
  unbind(fn?: Handler<A>): void {
    if (fn === undefined) {
      this.handlers = [];
      return;
    }
    this.handlers = this.handlers.filter((h) => h !== fn);
  }

  /** Calls every handler with `args` on the engine's next turn (yoton: via the event queue). */
  emit(...args: A): void {
    for (const h of this.handlers) this.engine.callback(() => this.call(h, args));
  }

  /** Calls every handler now, in order. */
  emit_now(...args: A): void {
    for (const h of [...this.handlers]) this.call(h, args);
  }

  private call(h: Handler<A>, args: A): void {
    try {
      h(...args);
    } catch (err) {
      this.engine.report(err);
    }
  }
}

/**
 * A timer is a signal that emits itself after `interval` ms, once (`oneshot`, the default)
 * or repeatedly. A repeating timer re-arms `interval` ms after each emission.
 */
export class Timer extends Signal<[Timer]> {
  private ms = 1000;
  private repeat = false;
  private handle: EngineTimer | null = null;

  /**
   * @param interval - milliseconds (yoton: seconds), > 0
   * @param oneshot - emit once (default) or repeatedly
   * @param engine - the engine the timer runs on
   */
  constructor(interval = 1000, oneshot = true, engine?: Engine) {
    super(engine);
    this.interval = interval;
    this.oneshot = oneshot;
  }

  /** Milliseconds between start and emission. @throws TypeError / RangeError unless a number > 0 */
  get interval(): number {
    return this.ms;
  }
  set interval(value: number) {
    if (typeof value !== 'number') throw new TypeError('interval must be a float or integer.');
    if (!(value > 0) || !Number.isFinite(value)) throw new RangeError('interval must be larger than 0.');
    this.ms = value;
  }

  /** Whether the timer emits once. */
  get oneshot(): boolean {
    return !this.repeat;
  }
  set oneshot(value: boolean) {
    this.repeat = !value;
  }

  /** True while started and not yet expired (one-shot) or stopped. */
  get running(): boolean {
    return this.handle !== null;
  }

  /** Starts (or restarts) the timer, optionally with a new interval and mode. */
  start(interval?: number, oneshot?: boolean): void {
    if (interval !== undefined) this.interval = interval;
    if (oneshot !== undefined) this.oneshot = oneshot;
    this.handle?.cancel();
    this.arm();
  }

  /** Stops the timer. */
  stop(): void {
    this.handle?.cancel();
    this.handle = null;
  }

  private arm(): void {
    const handle = this.engine.defer(this.ms, () => {
      if (this.handle !== handle) return;
      if (this.repeat) this.arm();
      else this.handle = null;
      this.emit_now(this);
    });
    this.handle = handle;
  }
}

/**
 * Calls `fn(...args)` later: after `timeout` ms when positive; on the engine's next turn when
 * 0; and before the other callbacks of the next turn when negative (yoton: at the front of
 * the event queue).
 * @returns a handle whose `cancel()` stops the call
 */
export function call_later<A extends unknown[]>(fn: (...args: A) => unknown, timeout = 0, ...args: A): EngineTimer {
  if (typeof fn !== 'function') throw new TypeError('call_later needs a function');
  if (typeof timeout !== 'number' || Number.isNaN(timeout)) throw new TypeError('timeout must be a number of milliseconds');
  const engine = Engine.instance();
  if (timeout > 0) return engine.defer(timeout, fn, ...args);
  if (timeout < 0) {
    // A microtask runs before anything queued for the next turn.
    let cancelled = false;
    const handle = {
      cancel(): void {
        cancelled = true;
      },
      get cancelled(): boolean {
        return cancelled;
      },
    };
    queueMicrotask(() => {
      if (cancelled) return;
      cancelled = true;
      try {
        fn(...args);
      } catch (err) {
        engine.report(err);
      }
    });
    return handle;
  }
  return engine.callback(fn, ...args);
}

/**
 * Python yoton's `process_events()`: there, signals, timers and `received` events wait in a
 * queue until the program pumps it. In Node nothing needs pumping; this resolves after the
 * next turn of the event loop, by which time the emissions posted so far have run (handy in
 * tests and when porting code that called it).
 */
export function process_events(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
