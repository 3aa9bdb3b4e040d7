/**
 * The Engine: timers, the set of open channels, and an orderly stop.
 *
 * Node already runs the event loop, so the engine does not poll sockets itself: it is the
 * owner of a group of channels and timers. Every channel belongs to one engine
 * (`Engine.instance()` unless `{ engine }` is given), which lets a program, or a test,
 * stop exactly its own channels:
 *
 * ```ts
 * const engine = new Engine();
 * new EchoServer({ engine }).listen(4000);
 * engine.cycle(1000, () => console.log(engine.channels.size, 'channels open'));
 * await engine.start();            // resolves once engine.stop() has closed everything
 * ```
 *
 * Timers take milliseconds. A timer function that throws is reported through
 * {@link Engine.on_error} and does not disturb other timers.
 *
 * @module
 */

/** A scheduled timer; `cancel()` is idempotent and may be called from inside the timer itself. */
export interface Timer {
  /** Stops the timer. Harmless when already cancelled or already run. */
  cancel(): void;
  /** True once cancelled (or, for one-shot timers, once run). */
  readonly cancelled: boolean;
}

/** What the engine needs of a channel: closing it, and knowing when it has closed. */
export interface EngineChannel {
  /** Graceful (`true`) or immediate (`false`) close. */
  close(flush?: boolean): void;
  /** True once `on_close` has been called. */
  readonly closed: boolean;
}

/** Options of {@link Engine.stop}. */
export interface StopOptions {
  /** Milliseconds to let channels flush before they are closed immediately. Default 5000. */
  timeout?: number;
}

type Fn = (...args: never[]) => unknown;

class QueuedTimer implements Timer {
  cancelled = false;
  constructor(
    private readonly engine: Engine,
    readonly fn: Fn,
    readonly args: readonly unknown[],
    readonly repeat: boolean,
  ) {}
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.engine._forget(this);
  }
}

/** Node fires any delay above this after 1 ms; longer delays are waited out in steps. */
const MAX_DELAY = 2 ** 31 - 1;

class NodeTimer implements Timer {
  cancelled = false;
  private handle: NodeJS.Timeout | undefined;
  private interval = false;
  constructor(private readonly engine: Engine) {}

  /** Runs `fn` after `ms` (any length), unless cancelled first. */
  after(ms: number, fn: () => void): void {
    if (ms > MAX_DELAY) {
      this.handle = setTimeout(() => this.after(ms - MAX_DELAY, fn), MAX_DELAY);
    } else {
      this.handle = setTimeout(fn, ms);
    }
  }

  /** Runs `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): void {
    if (ms <= MAX_DELAY) {
      this.interval = true;
      this.handle = setInterval(fn, ms);
      return;
    }
    const again = (): void => {
      fn();
      if (!this.cancelled) this.after(ms, again);
    };
    this.after(ms, again);
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    if (this.handle !== undefined) {
      if (this.interval) clearInterval(this.handle);
      else clearTimeout(this.handle);
    }
    this.engine._forget(this);
  }
}

function check_delay(ms: unknown): number {
  if (typeof ms !== 'number') throw new TypeError(`a delay must be a number of milliseconds, got ${typeof ms}`);
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`a delay must be a finite number > 0, got ${ms}`);
  return ms;
}

function check_fn(fn: unknown): void {
  if (typeof fn !== 'function') throw new TypeError(`a timer needs a function, got ${typeof fn}`);
}

let default_engine: Engine | undefined;

/** Drives a group of channels and timers. */
export class Engine {
  /** The engine's open channels: added when a channel gets a socket, removed after its `on_close`. */
  readonly channels: Set<EngineChannel> = new Set();

  private readonly timers = new Set<Timer>();
  private queue: QueuedTimer[] = [];
  private immediate: NodeJS.Immediate | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private started: Promise<void> | undefined;
  private resolve_started: (() => void) | undefined;
  private stopping: Promise<void> | undefined;
  private stop_waiters: (() => void)[] = [];

  /** The default engine, created on first use. */
  static instance(): Engine {
    default_engine ??= new Engine();
    return default_engine;
  }

  /**
   * Reports an error no channel can take: a timer function that threw, or an `on_error`
   * that threw. The default writes it to stderr; assign your own function to change that.
   * @param err - the error
   */
  on_error(err: Error): void {
    process.stderr.write(`trousers: engine: ${err.stack ?? String(err)}\n`);
  }

  /** True between `start()` and the end of `stop()`. */
  get running(): boolean {
    return this.started !== undefined;
  }

  /**
   * Runs `fn(...args)` once, on the next turn of the event loop.
   * @returns a handle whose `cancel()` stops it, even from an earlier callback of the same turn
   */
  callback<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): Timer {
    check_fn(fn);
    return this.enqueue(new QueuedTimer(this, fn as Fn, args, false));
  }

  /**
   * Runs `fn(...args)` on every turn of the event loop until cancelled (it may cancel itself).
   * @returns a handle to cancel it
   */
  loop<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): Timer {
    check_fn(fn);
    return this.enqueue(new QueuedTimer(this, fn as Fn, args, true));
  }

  /**
   * Runs `fn(...args)` once after `ms` milliseconds.
   * @throws RangeError when `ms` is not a finite number > 0
   */
  defer<A extends unknown[]>(ms: number, fn: (...args: A) => unknown, ...args: A): Timer {
    check_delay(ms);
    check_fn(fn);
    const timer = new NodeTimer(this);
    timer.after(ms, () => {
      timer.cancel();
      this.run(fn as Fn, args);
    });
    this.timers.add(timer);
    return timer;
  }

  /**
   * Runs `fn(...args)` every `ms` milliseconds until cancelled (it may cancel itself).
   * @throws RangeError when `ms` is not a finite number > 0
   */
  cycle<A extends unknown[]>(ms: number, fn: (...args: A) => unknown, ...args: A): Timer {
    check_delay(ms);
    check_fn(fn);
    const timer = new NodeTimer(this);
    timer.every(ms, () => {
      if (!timer.cancelled) this.run(fn as Fn, args);
    });
    this.timers.add(timer);
    return timer;
  }

  /**
   * Keeps the process alive until {@link Engine.stop} is called. Channels and timers work
   * without it; it exists for programs whose life is the engine's.
   * @returns a Promise that resolves when `stop()` has finished
   */
  start(): Promise<void> {
    if (this.started) return this.started;
    this.keepalive = setInterval(() => {}, 1 << 30);
    this.started = new Promise<void>((resolve) => {
      this.resolve_started = resolve;
    });
    return this.started;
  }

  /**
   * Cancels the engine's timers and closes every channel gracefully (queued output is sent
   * first); whatever is still flushing after `timeout` ms (default 5000; `Infinity` waits
   * for ever) is closed immediately. Resolves, and resolves `start()`, once every channel's
   * `on_close` has run. A second call while stopping returns the same promise (its own
   * timeout is not applied).
   */
  stop(options: StopOptions = {}): Promise<void> {
    const timeout = options.timeout ?? 5000;
    if (typeof timeout !== 'number') throw new TypeError(`stop timeout must be a number of milliseconds, got ${typeof timeout}`);
    if (Number.isNaN(timeout) || timeout < 0) throw new RangeError(`stop timeout must be >= 0 (Infinity waits for ever), got ${timeout}`);
    if (this.stopping) return this.stopping;
    for (const timer of [...this.timers]) timer.cancel();
    this.stopping = new Promise<void>((resolve) => {
      this.stop_waiters.push(resolve);
    });
    let force: NodeTimer | undefined;
    if (this.channels.size > 0 && timeout !== Infinity) {
      force = new NodeTimer(this);
      force.after(timeout, () => {
        for (const channel of [...this.channels]) channel.close(false);
      });
    }
    for (const channel of [...this.channels]) channel.close(true);
    const finish = this.stopping.then(() => force?.cancel());
    this.check_stopped();
    return finish;
  }

  /** @internal A channel got its socket. */
  _add(channel: EngineChannel): void {
    this.channels.add(channel);
  }

  /** @internal A channel has closed (after its `on_close`). */
  _remove(channel: EngineChannel): void {
    this.channels.delete(channel);
    if (this.stopping) this.check_stopped();
  }

  /** @internal A timer was cancelled or ran out. */
  _forget(timer: Timer): void {
    this.timers.delete(timer);
  }

  private check_stopped(): void {
    if (!this.stopping || this.channels.size > 0) return;
    const waiters = this.stop_waiters;
    this.stop_waiters = [];
    this.stopping = undefined;
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = undefined;
    const resolve_started = this.resolve_started;
    this.started = undefined;
    this.resolve_started = undefined;
    for (const w of waiters) w();
    resolve_started?.();
  }

  private enqueue(timer: QueuedTimer): QueuedTimer {
    this.timers.add(timer);
    this.queue.push(timer);
    this.immediate ??= setImmediate(() => this.turn());
    return timer;
  }

  private turn(): void {
    this.immediate = undefined;
    const batch = this.queue;
    this.queue = [];
    for (const timer of batch) {
      if (timer.cancelled) continue;
      if (timer.repeat) {
        this.queue.push(timer);
      } else {
        timer.cancel();
      }
      this.run(timer.fn, timer.args);
    }
    // Drop loops that cancelled themselves during the turn.
    if (this.queue.length > 0) {
      this.queue = this.queue.filter((t) => !t.cancelled);
      if (this.queue.length > 0) this.immediate ??= setImmediate(() => this.turn());
    }
  }

  private run(fn: Fn, args: readonly unknown[]): void {
    try {
      (fn as (...a: unknown[]) => unknown)(...args);
    } catch (err) {
      this.report(err);
    }
  }

  /**
   * Reports an error that no channel can take (a layer's background failure, say) through
   * {@link Engine.on_error}, never throwing: a non-Error is wrapped in one, and an `on_error`
   * that throws is swallowed.
   * @param err - what went wrong
   */
  report(err: unknown): void {
    try {
      this.on_error(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // on_error itself failed: nothing sensible is left to do but not crash.
    }
  }
}
