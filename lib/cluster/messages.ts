/**
 * The cluster's own IPC messages between the primary and its workers. Each is an object with
 * a `trousers_cluster` field; any other message the program sends is left alone.
 *
 * ```
 * worker -> primary: attached, then listening | failed
 * primary -> worker: shutdown
 * ```
 *
 * @module
 */

import type { ReportedAddress } from '../index.js';

export const TAG = 'trousers_cluster';

/**
 * Worker to primary: `run_cluster` runs in the worker and listens for messages. A message
 * sent to a worker before its script has a 'message' listener is dropped by Node, so the
 * primary holds back a shutdown until this arrives.
 */
export interface AttachedMessage {
  trousers_cluster: 'attached';
}
/** Worker to primary: listening on `address`. */
export interface ListeningMessage {
  trousers_cluster: 'listening';
  address: ReportedAddress;
}
/** Worker to primary: starting failed; the worker exits with code 1 next. */
export interface FailedMessage {
  trousers_cluster: 'failed';
  error: string;
}
/** Primary to worker: stop gracefully; `timeout` null means Infinity (JSON has no Infinity). */
export interface ShutdownMessage {
  trousers_cluster: 'shutdown';
  timeout: number | null;
}
export type Message = AttachedMessage | ListeningMessage | FailedMessage | ShutdownMessage;

export function as_message(value: unknown): Message | null {
  if (value === null || typeof value !== 'object') return null;
  const kind = (value as Record<string, unknown>)[TAG];
  return kind === 'attached' || kind === 'listening' || kind === 'failed' || kind === 'shutdown' ? (value as Message) : null;
}

/** Time between a stop's timeout and SIGKILL, for a worker still closing at the timeout. */
export const KILL_GRACE = 1000;

export const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

