/**
 * `wait()`: Python's `multiprocessing.connection.wait`, for message connections.
 *
 * ```ts
 * for (;;) {
 *   for (const conn of await wait(workers)) handle(conn, await conn.recv_bytes());
 * }
 * ```
 *
 * @module
 */

import type { MessageConnection } from './message_connection.js';

/**
 * Waits until at least one of `connections` is ready to read (a message, the end of the
 * stream or an error is waiting: `recv_bytes()` would not wait), or `timeout` ms pass.
 * @param timeout - milliseconds; `null` (default) waits as long as it takes; `0` polls
 * @returns a promise of the ready connections, in the order given (empty on timeout)
 */
export function wait(connections: Iterable<MessageConnection>, timeout: number | null = null): Promise<MessageConnection[]> {
  const list = [...connections];
  if (timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0)) {
    throw new RangeError(`timeout must be a number of milliseconds >= 0 or null, got ${String(timeout)}`);
  }
  const ready = (): MessageConnection[] => list.filter((c) => c._endpoint.readable);
  const now = ready();
  if (now.length > 0 || timeout === 0 || list.length === 0 && timeout === null) return Promise.resolve(now);
  return new Promise<MessageConnection[]>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      for (const c of list) c._endpoint.unwatch(check);
      if (timer !== undefined) clearTimeout(timer);
      resolve(ready());
    };
    const check = (): void => {
      if (list.some((c) => c._endpoint.readable)) finish();
    };
    for (const c of list) c._endpoint.watch(check);
    if (timeout !== null && timeout !== Infinity) timer = setTimeout(finish, timeout);
  });
}
