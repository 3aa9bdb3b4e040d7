/**
 * The cluster's options and handles: what {@link run_cluster} takes, what it resolves with in
 * each role, the exits it reports, and the checking of options (bad ones throw at once).
 *
 * @module
 */

import os from 'node:os';
import type { Worker } from 'node:cluster';
import { TrousersError, type Engine, type ReportedAddress, type StopOptions, type StreamServer } from '../index.js';

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

// ------------------------------------------------------------------ checking

/** @internal Options after checking, with their defaults. */
export interface Checked {
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

/** @internal */
export function check_ms(name: string, value: unknown, fallback: number): number {
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

/** @internal */
export function check_options(options: ClusterOptions): Checked {
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

