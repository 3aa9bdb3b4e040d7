/**
 * Which CSP process an operation belongs to, and the locks operations use.
 *
 * - Inside `process(fn)` (an `AsyncLocalStorage` context), operations use that process's
 *   lock: one operation at a time, as a PyCSP process (a thread) has.
 * - Outside, each operation acts as its own anonymous process: it borrows a lock from a
 *   pool and gives it back when it ends, so plain async code may run many operations at
 *   once. A borrowed lock keeps its id and sequence number, so a home's leftover request
 *   from an earlier operation is recognised as stale, exactly as for a PyCSP process.
 * - A process that starts a second operation while one is running (two reads under
 *   `Promise.all`) gets a pooled lock for it.
 *
 * @module
 */

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Dispatcher } from './dispatch.js';
import { ProcessLock } from './lock.js';
import type { Msg } from './payload.js';

/** What the context knows of a running process. @internal */
export interface ProcessContext {
  /** The process's own lock. */
  readonly lock: ProcessLock<Msg>;
  /** Processes it spawned (joined when it ends). */
  readonly spawned: Promise<unknown>[];
}

const als = new AsyncLocalStorage<ProcessContext>();

/** The running process, if the caller is inside one. @internal */
export function current_context(): ProcessContext | undefined {
  return als.getStore();
}

/** Runs `fn` as the process `ctx`. @internal */
export function run_in<T>(ctx: ProcessContext, fn: () => T): T {
  return als.run(ctx, fn);
}

/** A fresh process id: 32 hex digits, a dot and up to 31 characters of `name`. @internal */
export function process_id(name: string): string {
  const safe = Buffer.from(name.replace(/[^\x21-\x7e]/g, '_').slice(0, 31), 'latin1').toString('latin1');
  return `${randomUUID().replace(/-/g, '')}.${safe || 'process'}`;
}

/** Locks of this process's anonymous operations, free and in use. @internal */
export class LockPool {
  private readonly free: ProcessLock<Msg>[] = [];
  /** Every lock the pool made (each sends LEAVE at shutdown). */
  readonly all: ProcessLock<Msg>[] = [];
  /** Operations running now. */
  running = 0;
  private idle_waiters: (() => void)[] = [];

  constructor(private readonly d: Dispatcher) {}

  /** A lock for one operation: the process's own when free, else a pooled one. */
  take(): ProcessLock<Msg> {
    this.running++;
    const ctx = als.getStore();
    if (ctx !== undefined && !ctx.lock.busy) {
      ctx.lock.busy = true;
      return ctx.lock;
    }
    let lock = this.free.pop();
    if (lock === undefined) {
      lock = new ProcessLock<Msg>(process_id('__INIT__'));
      this.all.push(lock);
      this.d.locks.set(lock.id, lock);
    }
    lock.busy = true;
    return lock;
  }

  /** Gives a lock back after its operation ended. */
  give(lock: ProcessLock<Msg>): void {
    lock.busy = false;
    const ctx = als.getStore();
    if (ctx === undefined || ctx.lock !== lock) this.free.push(lock);
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

const pools = new WeakMap<Dispatcher, LockPool>();

/** The lock pool of a dispatcher. @internal */
export function pool_of(d: Dispatcher): LockPool {
  let p = pools.get(d);
  if (p === undefined) {
    p = new LockPool(d);
    pools.set(d, p);
  }
  return p;
}
