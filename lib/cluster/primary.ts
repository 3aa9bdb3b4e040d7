/**
 * The primary's side of a cluster: forking the workers, waiting for each to listen, reporting
 * exits, restarting crashed workers, and stopping them all gracefully (see the module docs
 * of `trousers/cluster`).
 *
 * @module
 */

import cluster, { type Worker } from 'node:cluster';
import type { ReportedAddress, StopOptions } from '../index.js';
import { as_message, KILL_GRACE, SIGNALS, type ShutdownMessage } from './messages.js';
import { check_ms, ClusterError, type Checked, type ClusterHandle, type WorkerExit, type WorkerExitReason } from './options.js';

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

/** @internal The cluster as the primary runs it; what `run_cluster` resolves with there. */
export class Primary implements ClusterHandle {
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

