/**
 * A worker's side of a cluster: run the user's `start()`, wait until its server listens (with
 * the engine's `listening()`, never touching the server's callbacks), tell the primary, and
 * shut down gracefully when asked (or signalled).
 *
 * @module
 */

import cluster from 'node:cluster';
import { listening, StreamServer, type ReportedAddress } from '../index.js';
import { as_message, SIGNALS, type Message } from './messages.js';
import type { Checked, WorkerHandle } from './options.js';

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

/** @internal Runs this worker; see `run_cluster`. */
export function run_worker(o: Checked): Promise<WorkerHandle> {
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
      // The primary's ClusterError carries the message; print it only when nobody can be told.
      if (process.send === undefined || !process.connected) process.stderr.write(`trousers: cluster worker ${process.pid}: ${message}\n`);
      report({ trousers_cluster: 'failed', error: message }, () => process.exit(1));
      return new Promise<never>(() => {});
    },
  );
}
