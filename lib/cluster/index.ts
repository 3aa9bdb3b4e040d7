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


import cluster from 'node:cluster';
import { check_options, type ClusterHandle, type ClusterOptions, type WorkerHandle } from './options.js';
import { Primary } from './primary.js';
import { run_worker } from './worker.js';

export {
  ClusterError,
  type ClusterOptions,
  type ClusterHandle,
  type WorkerHandle,
  type WorkerExit,
  type WorkerExitReason,
} from './options.js';

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
