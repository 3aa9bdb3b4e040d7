/**
 * The locks operations use.
 *
 * Every read, write and alternation acts as one CSP process operation: it borrows a lock
 * (a {@link ProcessLock}: id, state, sequence number) from this pool and gives it back when
 * it ends, so plain async code may run many operations at once. A borrowed lock keeps its
 * id and sequence number, so a home's leftover request from an earlier operation (an
 * alternation that went elsewhere) is recognised as stale, exactly as for a PyCSP process.
 *
 * (No AsyncLocalStorage: it would put promise hooks on every promise of the program.)
 *
 * @module
 */

import { randomUUID } from 'node:crypto';
import { ProcessLock } from './lock.js';
import type { Msg } from './payload.js';

/** A fresh process id: 32 hex digits, a dot and up to 31 characters of `name`. (not part of the public API) */
export function process_id(name: string): string {
  const safe = name.replace(/[^\x21-\x7e]/g, '_').slice(0, 31);
  return `${randomUUID().replace(/-/g, '')}.${safe || 'process'}`;
}

/** Locks of this process's operations, free and in use. (not part of the public API) */
export class LockPool {
  private readonly free: ProcessLock<Msg>[] = [];
  /** Every lock the pool made (each sends LEAVE at shutdown). */
  readonly all: ProcessLock<Msg>[] = [];
  /** Operations running now. */
  running = 0;
  private idle_waiters: (() => void)[] = [];

  /** @param locks - where locks are registered so peers can reach them */
  constructor(private readonly locks: Map<string, ProcessLock<Msg>>) {}

  /** A lock for one operation. */
  take(): ProcessLock<Msg> {
    this.running++;
    let lock = this.free.pop();
    if (lock === undefined) {
      lock = new ProcessLock<Msg>(process_id('__INIT__'));
      this.all.push(lock);
      this.locks.set(lock.id, lock);
    }
    lock.busy = true;
    return lock;
  }

  /** Gives a lock back after its operation ended. */
  give(lock: ProcessLock<Msg>): void {
    if (!lock.busy) return;
    lock.busy = false;
    this.free.push(lock);
    this.running--;
    if (this.running === 0 && this.idle_waiters.length > 0) {
      const w = this.idle_waiters;
      this.idle_waiters = [];
      for (const f of w) f();
    }
  }

  /** Resolves once no operation is running. */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise<void>((r) => this.idle_waiters.push(r));
  }
}
