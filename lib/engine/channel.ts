/**
 * The channel base: what every trousers channel (Stream, StreamServer, Datagram) shares.
 *
 * - It belongs to one {@link Engine} and is in `engine.channels` from the moment it has a
 *   socket until its `on_close` has run.
 * - Every user callback goes through one invoker ({@link Channel._call}): the channel's own
 *   bookkeeping is done before the call, so whatever the callback does (or throws) it sees a
 *   consistent channel. A callback that throws is reported to `on_error` as a
 *   {@link CallbackError}; if `on_error` throws too, the channel is closed immediately and the
 *   error goes to `engine.on_error`. Nothing a callback throws escapes to Node.
 * - `on_close` runs exactly once, and `closed` is true from then on.
 *
 * @module
 */

import { Engine } from './engine.js';
import { CallbackError, ChannelClosedError } from './errors.js';
import type { ChannelObserver } from './compose.js';

/** Options every channel accepts. */
export interface ChannelOptions {
  /** The engine that owns the channel; default `Engine.instance()`. */
  engine?: Engine;
}

/** Names of callbacks the invoker knows; used in error reports. */
export type CallbackName = `on_${string}`;

/** The base of every channel. Not constructed directly. */
export abstract class Channel {
  /** The engine this channel belongs to. */
  readonly engine: Engine;

  /** @internal Set once `on_close` is due: nothing else is delivered afterwards. */
  protected _closed = false;
  /** @internal Registered in `engine.channels`. */
  private registered = false;
  /** @internal Observers added with `observe()`; null while there are none (the common case). */
  private observers: ChannelObserver[] | null = null;

  /** @param options - `{ engine }` */
  constructor(options: ChannelOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('channel options must be an object');
    const engine = options.engine ?? Engine.instance();
    if (!(engine instanceof Engine)) throw new TypeError('options.engine must be an Engine');
    this.engine = engine;
  }

  /** True once the channel has closed (`on_close` has been called or is being called). */
  get closed(): boolean {
    return this._closed;
  }

  /**
   * Closes the channel. `flush = true` (default) is graceful: queued output goes out first.
   * `flush = false` closes at once and drops queued output. Idempotent; `on_close` follows
   * on a later tick, exactly once.
   */
  abstract close(flush?: boolean): void;

  // ----------------------------------------------------------------- callbacks

  /** Called once, when the channel has closed, whatever closed it. */
  on_close(): void {}

  /**
   * Called with any error that has no more specific callback, including a
   * {@link CallbackError} when one of your callbacks threw. The default writes the error and
   * the channel's description to stderr and closes the channel immediately.
   * @param err - the error
   */
  on_error(err: Error): void {
    process.stderr.write(`trousers: ${this.toString()}: ${err.stack ?? String(err)}\n`);
    if (err instanceof CallbackError && err.cause instanceof Error && err.cause.stack) {
      process.stderr.write(`  caused by: ${err.cause.stack}\n`);
    }
    this.close(false);
  }

  /** A short description for logs, e.g. `Client(127.0.0.1:5000 -> 127.0.0.1:80)`. */
  toString(): string {
    return `${this.constructor.name}(${this._describe()})`;
  }

  // ----------------------------------------------------------------- internals

  /** @internal The address part of {@link Channel.toString}. */
  protected _describe(): string {
    return this._closed ? 'closed' : 'idle';
  }

  /** @internal Joins the engine's channel set. */
  _register(): void {
    if (this.registered) return;
    this.registered = true;
    this.engine._add(this);
  }

  /** @internal Marks the channel closed, runs `on_close` once, then leaves the engine. */
  _finish_close(): void {
    if (this._closed) return;
    this._closed = true;
    this._call('on_close');
    this.observers = null;
    if (this.registered) this.engine._remove(this);
  }

  /**
   * Adds an observer (see `observe()` in `compose.ts`); returns its remover.
   * @internal
   */
  _observe(observer: ChannelObserver): () => void {
    (this.observers ??= []).push(observer);
    return () => {
      const list = this.observers;
      if (list === null) return;
      const at = list.indexOf(observer);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0) this.observers = null;
    };
  }

  /** @internal Tells the observers about a callback that has just run. */
  private _notify(name: CallbackName, args: unknown[]): void {
    const list = this.observers;
    if (list === null) return;
    for (const observer of [...list]) {
      const fn = (observer as Record<string, ((...a: unknown[]) => void) | undefined>)[name];
      if (typeof fn !== 'function') continue;
      try {
        fn.call(observer, this, ...args);
      } catch (thrown) {
        this.engine.report(new CallbackError(`observer ${name}`, thrown));
      }
    }
  }

  /**
   * The one invoker of user callbacks. Reads the method at call time, so replacing
   * `this.on_read` on an instance takes effect at once.
   * @internal
   * @returns false when the callback threw
   */
  _call(name: CallbackName, ...args: unknown[]): boolean {
    let ok = true;
    try {
      (this as unknown as Record<string, (...a: unknown[]) => void>)[name]!(...args);
    } catch (thrown) {
      this._callback_threw(name, thrown);
      ok = false;
    }
    if (this.observers !== null) this._notify(name, args);
    return ok;
  }

  /**
   * `on_read` through the invoker, on the per-frame hot path: with `many`, its items are the
   * arguments; otherwise `first`, and `second` when it is defined. No array is built for the
   * common shapes. Frames are not observed.
   * @internal
   */
  _call_read(first: unknown, second: unknown, many: unknown[] | null): void {
    const self = this as unknown as { on_read(...args: unknown[]): void };
    try {
      if (many !== null) self.on_read(...many);
      else if (second === undefined) self.on_read(first);
      else self.on_read(first, second);
    } catch (thrown) {
      this._callback_threw('on_read', thrown);
    }
  }

  /** @internal Routes what a callback threw to `on_error`; a throwing `on_error` closes at once. */
  _callback_threw(name: CallbackName, thrown: unknown): void {
    if (name === 'on_error') {
      this.engine.report(new CallbackError(name, thrown));
      this._safe_close_now();
      return;
    }
    this._error(new CallbackError(name, thrown));
  }

  /** @internal Drops a channel that never became whole (its construction failed): no `on_close`. */
  _drop(): void {
    this._closed = true;
    this.observers = null;
    if (this.registered) this.engine._remove(this);
  }

  /** @internal Delivers an error to `on_error`, closing at once if `on_error` throws. */
  _error(err: Error): void {
    try {
      this.on_error(err);
    } catch (thrown) {
      this.engine.report(new CallbackError('on_error', thrown));
      this._safe_close_now();
    }
    if (this.observers !== null) this._notify('on_error', [err]);
  }

  private _safe_close_now(): void {
    try {
      this.close(false);
    } catch (err) {
      this.engine.report(err);
    }
  }

  /** @internal Throws when the channel can no longer take `operation`. */
  protected _check_open(operation: string, closing: boolean): void {
    if (this._closed || closing) throw new ChannelClosedError(operation);
  }
}
