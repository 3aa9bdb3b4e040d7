/**
 * Multi-core: one trousers server on N worker processes sharing its listening port, through
 * Node's own `node:cluster`.
 *
 * One Node process runs on one core. {@link run_cluster} forks `workers` processes; each runs
 * your `start()`, which builds a server and listens; `node:cluster` makes the workers share
 * the listening socket, so the port is one port however many workers serve it. The primary
 * process only supervises: it forks, reports worker exits, restarts crashed workers if asked
 * to, and stops everything gracefully.
 *
 * node:cluster re-runs the same entry script in every worker, so one script serves both roles:
 *
 * ```ts
 * import { Server, Connection } from 'trousers';
 * import { run_cluster } from 'trousers/cluster';
 *
 * class Echo extends Connection {
 *   override on_read(data: Buffer) { this.write(data); }
 * }
 *
 * const handle = await run_cluster({
 *   workers: 2,
 *   start: () => new Server(Echo).listen(['127.0.0.1', 4000]),   // runs in each worker
 * });
 * if (handle.role === 'primary') console.log('serving on', handle.address);
 * // SIGTERM / Ctrl-C, or handle.stop(): every worker flushes, closes and exits 0
 * ```
 *
 * In the primary, `run_cluster` resolves with a {@link ClusterHandle} once every worker is
 * listening (`address`, `workers`, `stop()`); in a worker it runs `start()` and resolves with
 * a {@link WorkerHandle} once that worker's server is listening. `is_primary()` tells the
 * roles apart before that, if a script needs to. `exec` runs a different script in the
 * workers instead (that script calls `run_cluster` too, and only its `start` matters).
 *
 * What happens, and the rules:
 *
 * - **Listening.** `start()` returns a listening (or binding) `StreamServer` / `Server`, or a
 *   promise of one. A worker counts as up when the server's `on_listen` has run; a bind error
 *   (or `start()` throwing) fails the whole start: the other workers are stopped and the
 *   promise rejects with a {@link ClusterError} carrying the worker's message.
 * - **Port 0.** Under node:cluster every worker that listens on port 0 gets the *same* port,
 *   picked at random by the primary on the first such listen (Node documents this), so
 *   `address` is the one shared port. It stays the same while at least one worker is listening
 *   on it (a restarted worker rejoins it); only if every worker has stopped listening does the
 *   next listen pick a new port.
 * - **Balancing** is node:cluster's: on Linux the primary accepts and hands connections to the
 *   workers round-robin (`cluster.schedulingPolicy`, or `NODE_CLUSTER_SCHED_POLICY=none` to
 *   let the kernel pick). Long-lived connections stay with the worker that got them.
 * - **TCP only.** Unix socket paths are refused ({@link ClusterError} `ERR_CLUSTER_UNIX`).
 *   `StreamServer` probes an existing socket file before replacing it, which in workers found
 *   the cluster's own live socket (`EADDRINUSE`); it now skips that probe in cluster workers,
 *   but a cluster on a Unix path has not been tested yet, so it stays refused for now.
 * - **Stopping.** `stop({ timeout })` (default 5000 ms, also on SIGTERM / SIGINT in the
 *   primary) sends every worker a shutdown message. The worker calls `on_shutdown(server)`,
 *   then `engine.stop({ timeout })` (the server's engine unless `engine` is given): the server
 *   stops listening, every connection flushes its queued output and closes, every `on_close`
 *   runs; then the worker exits with code 0. A worker still alive `timeout` + 1000 ms later is
 *   killed (SIGKILL). `stop()` resolves with the {@link WorkerExit} of each worker.
 * - **Signals.** With `signals` (default true) SIGTERM and SIGINT make the primary stop the
 *   cluster and then exit (code 0, or 1 if a worker did not exit cleanly); workers handle the
 *   same signals by shutting down gracefully themselves (Ctrl-C in a terminal signals the
 *   whole process group). If the primary dies without stopping, node:cluster makes each
 *   worker exit at once (no flush).
 * - **Exits and restarts.** Every worker exit is reported to `on_worker_exit` and kept in
 *   `exits`. A worker that exits while the cluster runs (crash, `process.exit`, a signal) is
 *   replaced when `restart` is true, at most `max_restarts` times over the cluster's life
 *   (default 10), so a crash loop ends. If no worker is left, the cluster is down and
 *   `stopped` resolves.
 * - **Messages.** trousers' own IPC messages are objects with a `trousers_cluster` field;
 *   anything else you send between primary and workers (`worker.send`, `process.send`) is
 *   left alone.
 *
 * @module
 */

import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { listening, StreamServer, TrousersError, type Engine, type ReportedAddress, type StopOptions } from '../index.js';

/** Options of {@link run_cluster}. Each says which role reads it. */
export interface ClusterOptions {
  /**
   * Primary: how many worker processes to run. Default `os.availableParallelism()` (the
   * number of cores).
   */
  workers?: number;
  /**
   * Worker: builds the server and makes it listen, e.g.
   * `() => new Server(Echo).listen(['0.0.0.0', 4000])`; may return a promise. Required in a
   * worker; the primary never calls it.
   */
  start?: () => StreamServer | Promise<StreamServer>;
  /** Worker: the engine stopped on shutdown. Default: the server's engine. */
  engine?: Engine;
  /**
   * Worker: called when shutdown begins, before the engine stops (the server is still
   * listening and its connections are open): say goodbye to clients, stop taking jobs. The
   * engine stops once a returned promise settles.
   */
  on_shutdown?: (server: StreamServer) => void | Promise<void>;
  /** Primary: replace a worker that exits while the cluster runs. Default false. */
  restart?: boolean;
  /** Primary: the most workers `restart` replaces over the cluster's life. Default 10. */
  max_restarts?: number;
  /** Primary: called after every worker exit (also during `stop()`). */
  on_worker_exit?: (exit: WorkerExit) => void;
  /** Primary: called when a worker (the first ones, or a replacement) is listening. */
  on_worker_listening?: (worker: Worker, address: ReportedAddress) => void;
  /** Primary: milliseconds a worker may take from fork to listening. Default 30000. */
  start_timeout?: number;
  /** Primary: the default `timeout` of `stop()`, also used on SIGTERM / SIGINT. Default 5000. */
  stop_timeout?: number;
  /**
   * Both: handle SIGTERM and SIGINT (primary: stop the cluster, then exit; worker: shut
   * down gracefully). Default true.
   */
  signals?: boolean;
  /**
   * Primary: the script the workers run, default the primary's own script (process.argv[1]).
   * Passed to `cluster.setupPrimary`, whose settings are process-wide.
   */
  exec?: string;
  /** Primary: the arguments of the workers' script (with `exec`; default the primary's own). */
  args?: readonly string[];
}

/** Why a worker exited. */
export type WorkerExitReason =
  /** It exited during `stop()`. */
  | 'stopped'
  /** `stop()` killed it (SIGKILL) after its timeout. */
  | 'killed'
  /** It exited while the cluster was running: crashed, exited by itself, or was signalled. */
  | 'exited'
  /** It exited before listening: `start()` threw, binding failed, or `start_timeout` ran out. */
  | 'failed';

/** A worker process that has exited. */
export interface WorkerExit {
  /** node:cluster's worker id. */
  readonly id: number;
  /** Its process id. */
  readonly pid: number;
  /** Its exit code, or null if a signal ended it. */
  readonly code: number | null;
  /** The signal that ended it, or null. */
  readonly signal: string | null;
  /** Why it exited. */
  readonly reason: WorkerExitReason;
  /** Whether a replacement was forked (`restart`). */
  readonly restarted: boolean;
  /** What the worker reported when it failed to start, if anything. */
  readonly error?: string;
}

/** What {@link run_cluster} resolves with in the primary. */
export interface ClusterHandle {
  /** Tells the two handles apart. */
  readonly role: 'primary';
  /** The live worker processes (node:cluster `Worker`s). */
  readonly workers: readonly Worker[];
  /** The address the workers listen on (what the first worker's `local_address` was). */
  readonly address: ReportedAddress;
  /** Workers replaced so far (see `restart`). */
  readonly restarts: number;
  /** Every worker exit so far, oldest first. */
  readonly exits: readonly WorkerExit[];
  /**
   * Stops every worker gracefully (see the module docs) and resolves with their exits once
   * all have exited. `timeout` (default `stop_timeout`) bounds the flush; workers still alive
   * 1000 ms after it are killed. A second call returns the same promise.
   */
  stop(options?: StopOptions): Promise<WorkerExit[]>;
  /**
   * Resolves once the cluster has ended, by `stop()`, a signal, or the last worker exiting
   * with no restart left, with the exits since the cluster was up.
   */
  readonly stopped: Promise<WorkerExit[]>;
}

/** What {@link run_cluster} resolves with in a worker. */
export interface WorkerHandle {
  /** Tells the two handles apart. */
  readonly role: 'worker';
  /** node:cluster's id of this worker. */
  readonly id: number;
  /** The server `start()` returned, listening. */
  readonly server: StreamServer;
  /** Its `local_address`. */
  readonly address: ReportedAddress;
}

/** A cluster could not start or was misused; `code` is `ERR_CLUSTER_START` or `ERR_CLUSTER_UNIX`. */
export class ClusterError extends TrousersError {}

/** Whether this process is the cluster primary (true in a process that is no cluster worker). */
export function is_primary(): boolean {
  return cluster.isPrimary;
}

/**
 * Runs a server on worker processes sharing its port (see the module docs).
 *
 * @param options - see {@link ClusterOptions}; `start` is required in workers
 * @returns in the primary, a promise of the {@link ClusterHandle}, resolved once every worker
 *   listens, rejected with a {@link ClusterError} if one fails to start; in a worker, a promise
 *   of the {@link WorkerHandle}, resolved once its server listens (if starting fails, the
 *   worker reports the error to the primary and exits with code 1, and the promise never
 *   settles)
 * @throws TypeError / RangeError at once for bad options
 */
export function run_cluster(options: ClusterOptions): Promise<ClusterHandle | WorkerHandle> {
  const o = check_options(options);
  return cluster.isPrimary ? new Primary(o).begin() : run_worker(o);
}

// ------------------------------------------------------------------ options

interface Checked {
  workers: number;
  start: (() => StreamServer | Promise<StreamServer>) | undefined;
  engine: Engine | undefined;
  on_shutdown: ((server: StreamServer) => void | Promise<void>) | undefined;
  restart: boolean;
  max_restarts: number;
  on_worker_exit: ((exit: WorkerExit) => void) | undefined;
  on_worker_listening: ((worker: Worker, address: ReportedAddress) => void) | undefined;
  start_timeout: number;
  stop_timeout: number;
  signals: boolean;
  exec: string | undefined;
  args: string[] | undefined;
}

function check_count(name: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
  return value;
}

function check_ms(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number of milliseconds, got ${typeof value}`);
  if (Number.isNaN(value) || value < 0) throw new RangeError(`${name} must be >= 0 (Infinity: no limit), got ${value}`);
  return value;
}

function check_fn<F>(name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function`);
  return value as F;
}

function check_options(options: ClusterOptions): Checked {
  if (options === null || typeof options !== 'object') throw new TypeError('run_cluster options must be an object');
  if (options.signals !== undefined && typeof options.signals !== 'boolean') throw new TypeError('signals must be a boolean');
  if (options.restart !== undefined && typeof options.restart !== 'boolean') throw new TypeError('restart must be a boolean');
  if (options.exec !== undefined && typeof options.exec !== 'string') throw new TypeError('exec must be a path');
  if (options.args !== undefined && (!Array.isArray(options.args) || options.args.some((a) => typeof a !== 'string'))) {
    throw new TypeError('args must be an array of strings');
  }
  const engine = options.engine;
  if (engine !== undefined && (engine === null || typeof engine !== 'object' || typeof engine.stop !== 'function')) {
    throw new TypeError('engine must be an Engine');
  }
  const start_timeout = check_ms('start_timeout', options.start_timeout, 30000);
  if (start_timeout === 0) throw new RangeError('start_timeout must be > 0');
  return {
    workers: check_count('workers', options.workers, 1, os.availableParallelism()),
    start: check_fn('start', options.start),
    engine,
    on_shutdown: check_fn('on_shutdown', options.on_shutdown),
    restart: options.restart ?? false,
    max_restarts: check_count('max_restarts', options.max_restarts, 0, 10),
    on_worker_exit: check_fn('on_worker_exit', options.on_worker_exit),
    on_worker_listening: check_fn('on_worker_listening', options.on_worker_listening),
    start_timeout,
    stop_timeout: check_ms('stop_timeout', options.stop_timeout, 5000),
    signals: options.signals ?? true,
    exec: options.exec,
    args: options.args === undefined ? undefined : [...options.args],
  };
}

// ------------------------------------------------------------------ messages

/** Field that marks trousers' own IPC messages. */
const TAG = 'trousers_cluster';

/**
 * Worker to primary: `run_cluster` runs in the worker and listens for messages. A message
 * sent to a worker before its script has a 'message' listener is dropped by Node, so the
 * primary holds back a shutdown until this arrives.
 */
interface AttachedMessage {
  trousers_cluster: 'attached';
}
/** Worker to primary: listening on `address`. */
interface ListeningMessage {
  trousers_cluster: 'listening';
  address: ReportedAddress;
}
/** Worker to primary: starting failed; the worker exits with code 1 next. */
interface FailedMessage {
  trousers_cluster: 'failed';
  error: string;
}
/** Primary to worker: stop gracefully; `timeout` null means Infinity (JSON has no Infinity). */
interface ShutdownMessage {
  trousers_cluster: 'shutdown';
  timeout: number | null;
}
type Message = AttachedMessage | ListeningMessage | FailedMessage | ShutdownMessage;

function as_message(value: unknown): Message | null {
  if (value === null || typeof value !== 'object') return null;
  const kind = (value as Record<string, unknown>)[TAG];
  return kind === 'attached' || kind === 'listening' || kind === 'failed' || kind === 'shutdown' ? (value as Message) : null;
}

/** Time between a stop's timeout and SIGKILL, for a worker still closing at the timeout. */
const KILL_GRACE = 1000;

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

// ------------------------------------------------------------------ primary

interface Slot {
  worker: Worker;
  pid: number;
  /** The worker listens for messages (it said so). */
  attached: boolean;
  /** A shutdown held back until the worker is attached. */
  pending: ShutdownMessage | undefined;
  listening: boolean;
  killed: boolean;
  error: string | undefined;
  start_timer: NodeJS.Timeout | undefined;
  kill_timer: NodeJS.Timeout | undefined;
  /** The process's exit, once it came; the slot ends when its IPC channel is closed too. */
  exit: { code: number | null; signal: string | null } | undefined;
  ended: boolean;
}

type State = 'starting' | 'running' | 'stopping' | 'stopped';

class Primary implements ClusterHandle {
  readonly role = 'primary' as const;
  restarts = 0;
  readonly exits: WorkerExit[] = [];
  readonly stopped: Promise<WorkerExit[]>;

  private readonly slots = new Map<Worker, Slot>();
  private state: State = 'starting';
  /** Every worker listened once: `run_cluster` resolved. */
  private up = false;
  private bound: ReportedAddress | null = null;
  /** Index in `exits` where the running cluster's exits begin. */
  private first_exit = 0;
  private stop_promise: Promise<WorkerExit[]> | undefined;
  private stop_from = 0;
  private resolve_stop: ((exits: WorkerExit[]) => void) | undefined;
  private resolve_stopped!: (exits: WorkerExit[]) => void;
  private resolve_start!: (handle: ClusterHandle) => void;
  private reject_start!: (err: Error) => void;
  private start_error: ClusterError | undefined;
  private readonly on_signal = (signal: NodeJS.Signals): void => this.signalled(signal);

  constructor(private readonly o: Checked) {
    this.stopped = new Promise((resolve) => {
      this.resolve_stopped = resolve;
    });
  }

  get workers(): readonly Worker[] {
    return [...this.slots.keys()];
  }

  get address(): ReportedAddress {
    // Only handed out once every worker listens, so bound is set.
    return this.bound!;
  }

  begin(): Promise<ClusterHandle> {
    const started = new Promise<ClusterHandle>((resolve, reject) => {
      this.resolve_start = resolve;
      this.reject_start = reject;
    });
    if (this.o.exec !== undefined || this.o.args !== undefined) {
      cluster.setupPrimary({
        ...(this.o.exec !== undefined ? { exec: this.o.exec } : {}),
        ...(this.o.args !== undefined ? { args: this.o.args } : {}),
      });
    }
    if (this.o.signals) for (const s of SIGNALS) process.on(s, this.on_signal);
    for (let i = 0; i < this.o.workers; i++) this.fork();
    return started;
  }

  stop(options: StopOptions = {}): Promise<WorkerExit[]> {
    if (options === null || typeof options !== 'object') throw new TypeError('stop options must be an object');
    const timeout = check_ms('timeout', options.timeout, this.o.stop_timeout);
    if (this.stop_promise) return this.stop_promise;
    if (this.state === 'stopped') return Promise.resolve([]);
    this.state = 'stopping';
    this.stop_from = this.exits.length;
    this.stop_promise = new Promise((resolve) => {
      this.resolve_stop = resolve;
    });
    const message: ShutdownMessage = { trousers_cluster: 'shutdown', timeout: timeout === Infinity ? null : timeout };
    for (const slot of this.slots.values()) {
      this.send(slot, message);
      if (timeout !== Infinity) {
        slot.kill_timer = setTimeout(() => {
          slot.killed = true;
          slot.worker.process.kill('SIGKILL');
        }, timeout + KILL_GRACE);
      }
    }
    this.check_done();
    return this.stop_promise;
  }

  // ---------------------------------------------------------------- workers

  private fork(): void {
    const worker = cluster.fork();
    const slot: Slot = {
      worker,
      pid: worker.process.pid ?? -1,
      attached: false,
      pending: undefined,
      listening: false,
      killed: false,
      error: undefined,
      start_timer: undefined,
      kill_timer: undefined,
      exit: undefined,
      ended: false,
    };
    this.slots.set(worker, slot);
    if (this.o.start_timeout !== Infinity) {
      slot.start_timer = setTimeout(() => {
        slot.error = `did not listen within ${this.o.start_timeout} ms`;
        worker.process.kill('SIGKILL');
      }, this.o.start_timeout);
    }
    worker.on('message', (value: unknown) => this.message(slot, value));
    // node:cluster forgets a worker (and releases its share of the listening socket) once it
    // has both exited and disconnected, in either order: so does this.
    worker.on('exit', (code: number | null, signal: string | null) => {
      slot.exit = { code, signal };
      if (!worker.isConnected()) this.exited(slot);
    });
    worker.on('disconnect', () => {
      if (slot.exit !== undefined) this.exited(slot);
    });
    // IPC errors (a message to a worker that is going away) end in its 'exit' anyway.
    worker.on('error', () => {});
  }

  private send(slot: Slot, message: ShutdownMessage): void {
    if (!slot.attached) {
      slot.pending = message;
      return;
    }
    if (!slot.worker.isConnected()) return;
    try {
      slot.worker.send(message, undefined, () => {});
    } catch {
      // The worker is exiting; its 'exit' follows.
    }
  }

  private message(slot: Slot, value: unknown): void {
    const m = as_message(value);
    if (m === null) return;
    if (!slot.attached) {
      slot.attached = true;
      const pending = slot.pending;
      slot.pending = undefined;
      if (pending !== undefined) this.send(slot, pending);
    }
    if (m.trousers_cluster === 'failed') {
      slot.error = m.error;
      return;
    }
    if (m.trousers_cluster !== 'listening' || slot.listening) return;
    clearTimeout(slot.start_timer);
    if (typeof m.address === 'string') {
      slot.error = `${m.address} is a Unix socket path: run_cluster supports TCP only`;
      this.start_failed(new ClusterError('ERR_CLUSTER_UNIX', `worker ${slot.pid} listens on the Unix socket ${m.address}: run_cluster supports TCP only (StreamServer's stale-socket probe finds the other workers' live socket and fails with EADDRINUSE)`));
      return;
    }
    slot.listening = true;
    this.bound ??= m.address;
    this.call('on_worker_listening', () => this.o.on_worker_listening?.(slot.worker, m.address));
    if (this.state === 'starting' && [...this.slots.values()].every((s) => s.listening)) {
      this.state = 'running';
      this.up = true;
      this.first_exit = this.exits.length;
      this.resolve_start(this);
    }
  }

  private exited(slot: Slot): void {
    if (slot.ended) return;
    slot.ended = true;
    const { code, signal } = slot.exit!;
    clearTimeout(slot.start_timer);
    clearTimeout(slot.kill_timer);
    this.slots.delete(slot.worker);
    const state = this.state;
    let reason: WorkerExitReason;
    if (state === 'stopping' || state === 'stopped') reason = slot.killed ? 'killed' : 'stopped';
    else reason = slot.listening ? 'exited' : 'failed';
    const restart = state === 'running' && this.o.restart && this.restarts < this.o.max_restarts;
    const exit: WorkerExit = {
      id: slot.worker.id,
      pid: slot.pid,
      code,
      signal,
      reason,
      restarted: restart,
      ...(slot.error !== undefined ? { error: slot.error } : {}),
    };
    this.exits.push(exit);
    if (restart) {
      this.restarts++;
      this.fork();
    }
    this.call('on_worker_exit', () => this.o.on_worker_exit?.(exit));
    if (state === 'starting') {
      const why = slot.error ?? (signal !== null ? `was killed by ${signal}` : `exited with code ${code}`);
      this.start_failed(new ClusterError('ERR_CLUSTER_START', `worker ${slot.pid} failed to start: ${why}`));
      return;
    }
    if (state === 'running' && this.slots.size === 0) {
      // Nothing left to serve and nothing to restart: the cluster is down.
      this.state = 'stopped';
      this.finish();
      return;
    }
    this.check_done();
  }

  /** Starting failed: stop whatever did start, then reject `run_cluster`. */
  private start_failed(err: ClusterError): void {
    if (this.state !== 'starting') return;
    this.start_error = err;
    void this.stop({ timeout: Math.min(this.o.stop_timeout, 5000) });
  }

  private check_done(): void {
    if (this.state !== 'stopping' || this.slots.size > 0) return;
    this.state = 'stopped';
    this.resolve_stop?.(this.exits.slice(this.stop_from));
    this.finish();
  }

  private finish(): void {
    if (this.o.signals) for (const s of SIGNALS) process.off(s, this.on_signal);
    if (!this.up) {
      this.reject_start(this.start_error ?? new ClusterError('ERR_CLUSTER_START', 'the cluster was stopped before every worker was listening'));
    }
    this.resolve_stopped(this.exits.slice(this.first_exit));
  }

  private signalled(signal: NodeJS.Signals): void {
    process.stderr.write(`trousers: cluster: ${signal}: stopping ${this.slots.size} worker(s)\n`);
    void this.stop().then((exits) => {
      const clean = exits.every((e) => e.reason === 'stopped' && e.code === 0);
      process.exit(clean && this.start_error === undefined ? 0 : 1);
    });
  }

  private call(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      process.stderr.write(`trousers: cluster: ${name} threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
  }
}

// ------------------------------------------------------------------ worker

/**
 * Resolves with the server's address once its `on_listen` has run; rejects with its bind
 * error (or a ChannelClosedError) if it closes first. Uses the engine's composition API: the
 * server's own callbacks are never touched.
 */
async function when_listening(server: StreamServer): Promise<ReportedAddress> {
  await listening(server);
  return server.local_address ?? '';
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const sys = (err as { syscode?: unknown }).syscode;
  return typeof sys === 'string' && !err.message.includes(sys) ? `${err.message} (${sys})` : err.message;
}

function run_worker(o: Checked): Promise<WorkerHandle> {
  let shutting_down = false;
  let stop_timeout = o.stop_timeout;
  const ready = (async (): Promise<{ server: StreamServer; address: ReportedAddress }> => {
    if (o.start === undefined) throw new TypeError('run_cluster: options.start is required in a worker');
    const server = await o.start();
    if (!(server instanceof StreamServer)) throw new TypeError('start() must return a StreamServer (a Server), or a promise of one');
    const address = await when_listening(server);
    return { server, address };
  })();

  const shutdown = async (timeout: number): Promise<void> => {
    if (shutting_down) return;
    shutting_down = true;
    stop_timeout = timeout;
    let server: StreamServer;
    try {
      ({ server } = await ready);
    } catch {
      return; // starting failed: that path exits with code 1
    }
    try {
      await o.on_shutdown?.(server);
    } catch (err) {
      process.stderr.write(`trousers: cluster worker: on_shutdown threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    await (o.engine ?? server.engine).stop({ timeout: stop_timeout });
    process.exit(0);
  };

  const report = (message: Message, then?: () => void): void => {
    if (process.send === undefined || !process.connected) {
      then?.();
      return;
    }
    process.send(message, undefined, {}, () => then?.());
  };

  process.on('message', (value: unknown) => {
    const m = as_message(value);
    if (m !== null && m.trousers_cluster === 'shutdown') void shutdown(m.timeout ?? Infinity);
  });
  report({ trousers_cluster: 'attached' });
  if (o.signals) for (const s of SIGNALS) process.on(s, () => void shutdown(stop_timeout));

  return ready.then(
    ({ server, address }) => {
      report({ trousers_cluster: 'listening', address });
      return { role: 'worker' as const, id: cluster.worker?.id ?? 0, server, address };
    },
    (err: unknown) => {
      const message = describe(err);
      process.stderr.write(`trousers: cluster worker ${process.pid}: ${message}\n`);
      report({ trousers_cluster: 'failed', error: message }, () => process.exit(1));
      return new Promise<never>(() => {});
    },
  );
}
