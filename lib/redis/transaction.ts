/**
 * Transactions: `MULTI` ... `EXEC`, optionally guarded by `WATCH` (optimistic locking).
 *
 * ```ts
 * // Plain: the commands run together, nothing from other clients in between.
 * const [n, list] = (await redis.multi().command('INCR', 'hits').command('LRANGE', 'log', 0, -1).exec())!;
 *
 * // Optimistic: read, decide, write only if nobody changed the key meanwhile.
 * for (;;) {
 *   const tx = await redis.watch('members');
 *   const members = await redis.command('SMEMBERS', 'members');
 *   const replies = await tx.command('SADD', 'members', pick(members)).exec();
 *   if (replies !== null) break;            // null: a watched key changed, try again
 * }
 * ```
 *
 * - `exec()` writes `MULTI`, the queued commands and `EXEC` back to back, so nothing else
 *   issued on the client can land inside the transaction.
 * - It resolves with `EXEC`'s array (a failing command's slot holds its {@link RedisError},
 *   as Redis runs the others), or `null` when a watched key changed. A command Redis refuses
 *   to queue (a syntax error) makes the whole `EXEC` fail: `exec()` rejects with that error.
 * - WATCH belongs to the connection. `watch()` takes the client's transaction turn, which
 *   `exec()` / `discard()` give back; a reconnect in between makes `exec()` reject with
 *   {@link RedisWatchLostError} without sending anything.
 *
 * @module
 */

import { RedisError } from './errors.js';
import type { RedisArg, RedisReply } from './resp.js';

/** What a transaction needs of its client. (not part of the public API) */
export interface TransactionHost {
  _lock(): Promise<() => void>;
  _send_group(commands: readonly (readonly RedisArg[])[], gen: number | undefined): Promise<RedisReply>[];
  command<T extends RedisReply = RedisReply>(name: string, ...args: RedisArg[]): Promise<T>;
}

/** A transaction being built. Made by `RedisClient.multi()` or `RedisClient.watch()`. */
export class Transaction {
  private readonly host: TransactionHost;
  private readonly commands: RedisArg[][] = [];
  private release: (() => void) | null;
  private done = false;
  /** @internal Generation of the connection the WATCH went out on. */
  _gen: number | undefined;

  /** @internal */
  constructor(host: TransactionHost, watched: boolean, release?: () => void) {
    this.host = host;
    this.release = watched ? (release ?? null) : null;
  }

  /** Commands queued so far. */
  get length(): number {
    return this.commands.length;
  }

  /**
   * Queues a command (nothing is sent before `exec()`).
   * @returns this, for chaining
   */
  command(name: string, ...args: RedisArg[]): this {
    if (this.done) throw new RangeError('this transaction was already executed or discarded');
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('a command name is a non-empty string');
    this.commands.push([name, ...args]);
    return this;
  }

  /**
   * Runs the transaction.
   * @returns `EXEC`'s replies, or `null` when a watched key changed
   * @throws RedisError (`EXECABORT ...`) when Redis refused to queue a command
   * @throws RedisWatchLostError when the connection was re-established after `watch()`
   */
  async exec(): Promise<RedisReply[] | null> {
    if (this.done) throw new RangeError('this transaction was already executed or discarded');
    this.done = true;
    // An unwatched transaction still waits for a watching one to finish: its EXEC would
    // otherwise clear the other's WATCH.
    const release = this.release ?? (await this.host._lock());
    this.release = null;
    try {
      const group: RedisArg[][] = [['MULTI'], ...this.commands, ['EXEC']];
      const replies = this.host._send_group(group, this._gen);
      const settled = await Promise.allSettled(replies);
      const last = settled[settled.length - 1]!;
      if (last.status === 'rejected') {
        // EXECABORT: report the first queueing error, which says what was wrong.
        for (let i = 0; i < settled.length - 1; i++) {
          const s = settled[i]!;
          if (s.status === 'rejected' && s.reason instanceof RedisError) {
            throw new RedisError(`EXECABORT ${s.reason.message}`);
          }
        }
        throw last.reason;
      }
      const value = last.value;
      if (value === null) return null;
      if (!Array.isArray(value)) throw new RedisError(`ERR EXEC replied with ${typeof value}`);
      return value;
    } finally {
      release();
    }
  }

  /** Abandons the transaction (sends `UNWATCH` if it watched) and gives back the turn. */
  async discard(): Promise<void> {
    if (this.done) return;
    this.done = true;
    const release = this.release;
    this.release = null;
    if (release === null) return;
    try {
      await this.host.command('UNWATCH');
    } finally {
      release();
    }
  }
}
