/**
 * CSP processes: `process()`, `Parallel`, `Spawn`, `Sequence`, `multiprocess()` and
 * `shutdown()`.
 *
 * ```ts
 * const producer = process(async (out: ChannelEndWrite, n: number) => {
 *   for (let i = 0; i < n; i++) await out.write(i);
 *   await retire(out);
 * });
 * const consumer = process(async (cin: ChannelEndRead) => {
 *   for (;;) console.log(await cin.read());      // ends with ChannelRetireError
 * });
 * const c = new Channel();
 * await Parallel(producer(c.writer(), 10), consumer(c.reader()));
 * await shutdown();
 * ```
 *
 * - A process is an async function (PyCSP's process is a thread). Each of its reads, writes
 *   and alternations is one operation with its own lock, as every operation is (see
 *   context.ts), so a process may also run operations concurrently.
 * - A process that ends with ChannelPoisonError poisons every channel end among its
 *   arguments (in arrays, Maps, Sets and plain objects, recursively) and ends normally; with
 *   ChannelRetireError it retires them. That is how a network shuts itself down.
 *
 * @module
 */

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { registered_channels, Channel, ChannelEnd, type EndDescription } from './channel.js';
import { process_id } from './context.js';
import { dispatcher, drop_dispatcher, existing_dispatcher, type Dispatcher } from './dispatch.js';
import { ChannelPoisonError, ChannelRetireError, CspUsageError } from './errors.js';
import { CHANTHREAD_LEAVE, header } from './header.js';
import { ProcessLock } from './lock.js';
import type { Msg } from './payload.js';

/** A process ready to run (made by a factory from {@link process}). */
export class CspProcess<R = unknown> {
  /** The process id on the wire. */
  readonly id: string;
  private started: Promise<R> | null = null;

  /** @internal Use a factory made by {@link process}. */
  constructor(
    readonly fn: (...args: never[]) => R | Promise<R>,
    readonly args: readonly unknown[],
    private readonly runner: ((args: readonly unknown[]) => Promise<R>) | null = null,
  ) {
    this.id = process_id(fn.name || 'process');
  }

  /** Starts the process (once) and resolves with its return value. */
  start(): Promise<R> {
    this.started ??= this.runner !== null ? this.runner(this.args) : run_process(this);
    return this.started;
  }
}

/** A factory of processes: call it with the arguments of the function. */
export type ProcessFactory<A extends unknown[], R> = (...args: A) => CspProcess<R>;

/**
 * Makes a process factory from an async function (PyCSP's `@process`).
 * @throws TypeError when `fn` is not a function
 */
export function process<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>): ProcessFactory<A, Awaited<R>> {
  if (typeof fn !== 'function') throw new TypeError('process() takes a function');
  const factory = (...args: A): CspProcess<Awaited<R>> => new CspProcess<Awaited<R>>(fn as unknown as (...a: never[]) => Awaited<R>, args);
  Object.defineProperty(factory, 'csp_fn', { value: fn });
  return factory;
}

/** Walks arguments for channel ends (arrays, Maps, Sets, plain objects). */
function ends_in(value: unknown, out: ChannelEnd[], seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof ChannelEnd) {
    out.push(value);
    return;
  }
  if (Array.isArray(value) || value instanceof Set) {
    for (const v of value) ends_in(v, out, seen);
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      ends_in(k, out, seen);
      ends_in(v, out, seen);
    }
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) ends_in(v, out, seen);
  }
}

/** Leaves every remote channel `lock` entered and waits for their answers. */
async function leave_all(d: Dispatcher, lock: ProcessLock<Msg>): Promise<void> {
  const waits: Promise<void>[] = [];
  for (const key of [...lock.entered]) {
    const slash = key.indexOf('/', key.lastIndexOf(':'));
    const addr = key.slice(0, slash);
    const name = key.slice(slash + 1);
    if (d.lost.has(addr)) {
      lock.quit(key);
      continue;
    }
    waits.push(lock.wait_quit(key));
    d.send(addr, header(CHANTHREAD_LEAVE, { id: name, source_id: lock.id }));
  }
  await Promise.all(waits);
}

async function run_process<R>(p: CspProcess<R>): Promise<R> {
  try {
    return await p.fn(...(p.args as never[]));
  } catch (err) {
    if (!(err instanceof ChannelPoisonError || err instanceof ChannelRetireError)) throw err;
    const ends: ChannelEnd[] = [];
    ends_in(p.args, ends, new Set());
    for (const e of ends) {
      if (e.moved) continue;
      try {
        if (err instanceof ChannelPoisonError) await e.poison();
        else await e.retire();
      } catch {
        // an end already retired or poisoned: nothing more to do (PyCSP swallows these)
      }
    }
    return undefined as R;
  }
}

async function join_spawned(set: Set<Promise<unknown>>): Promise<void> {
  while (set.size > 0) await Promise.allSettled([...set]);
}

type Procs = (CspProcess | readonly CspProcess[])[];

function flatten(procs: Procs): CspProcess[] {
  const out: CspProcess[] = [];
  for (const p of procs) {
    if (Array.isArray(p)) out.push(...flatten(p as CspProcess[]));
    else if (p instanceof CspProcess) out.push(p);
    else throw new TypeError('Parallel / Spawn / Sequence take processes made by a process() factory');
  }
  return out;
}

/**
 * Runs the processes concurrently and resolves with their return values, in order, once all
 * have ended. If any threw (other than poison / retire, which end a process normally), the
 * first such error rejects, after every process has ended.
 */
export async function Parallel(...procs: Procs): Promise<unknown[]> {
  const list = flatten(procs);
  const settled = await Promise.allSettled(list.map((p) => p.start()));
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value);
}

/** Spawned processes still running (each removes itself when it ends). */
const top_spawned = new Set<Promise<unknown>>();

/**
 * Starts the processes and returns at once. `shutdown()` waits for them; errors they throw
 * go to `configure({ on_error })`. The promise returned resolves (never rejects) once they
 * have all ended, for a parent that wants to wait for its children as a PyCSP process does.
 */
export function Spawn(...procs: Procs): Promise<void> {
  const list = flatten(procs);
  const mine: Promise<unknown>[] = [];
  for (const p of list) {
    const done: Promise<unknown> = p
      .start()
      .catch((err: unknown) => {
        dispatcher().report(err);
      })
      .finally(() => top_spawned.delete(done));
    mine.push(done);
    top_spawned.add(done);
  }
  return Promise.all(mine).then(() => undefined);
}

/** Runs the processes one after another; resolves with their return values. */
export async function Sequence(...procs: Procs): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const p of flatten(procs)) out.push(await p.start());
  return out;
}

// ---------------------------------------------------------------------- multiprocess

/** How mobile values travel to a child process. (not part of the public API) */
export type Portable =
  | { t: 'end'; d: EndDescription }
  | { t: 'chan'; name: string; address: [string, number] }
  | { t: 'arr'; v: Portable[] }
  | { t: 'obj'; v: [string, Portable][] }
  | { t: 'val'; v: unknown };

/** Not part of the public API: Turns arguments into what a child can rebuild (ends are moved). */
export function to_portable(value: unknown): Portable {
  if (value instanceof ChannelEnd) return { t: 'end', d: value.move() };
  if (value instanceof Channel) {
    const address = value.address;
    if (address === null) throw new CspUsageError('a channel must be bound before it moves: await channel.ready()');
    return { t: 'chan', name: value.name, address };
  }
  if (Array.isArray(value)) return { t: 'arr', v: value.map(to_portable) };
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return { t: 'obj', v: Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, to_portable(v)]) };
  }
  return { t: 'val', v: value };
}

/** Not part of the public API: Rebuilds arguments in the child (ends reconnect to their homes). */
export function from_portable(p: Portable): unknown {
  switch (p.t) {
    case 'end':
      return ChannelEnd.restore(p.d);
    case 'chan':
      return new Channel(p.name, { connect: p.address });
    case 'arr':
      return p.v.map(from_portable);
    case 'obj':
      return Object.fromEntries(p.v.map(([k, v]) => [k, from_portable(v)]));
    default:
      return p.v;
  }
}

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));
const children = new Set<ChildProcess>();

/**
 * Makes a factory of processes that run in a child Node process (PyCSP's
 * `@multiprocess`). The function is named by module and export, since code cannot be
 * sent: `multiprocess(import.meta.url, 'worker')`. The export may be a plain async
 * function or a factory made by {@link process}. Channel ends among the arguments move to
 * the child and reconnect there; other arguments travel by structured clone. The process
 * resolves with the child's return value.
 */
export function multiprocess<A extends unknown[] = unknown[]>(module: string | URL, name: string): ProcessFactory<A, unknown> {
  const url = module instanceof URL ? module.href : String(module);
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('multiprocess() needs the export name');
  const run = async (given: readonly unknown[]): Promise<unknown> => {
    const d = dispatcher();
    await d.bind();
    for (const a of given) await ready_all(a);
    const args = given.map(to_portable);
    const child = fork(CHILD, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(child);
    return await new Promise<unknown>((resolve, reject) => {
      let reply: { ok: boolean; value?: unknown; error?: string; code?: string } | null = null;
      child.on('message', (m) => {
        reply = m as typeof reply;
      });
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        children.delete(child);
        if (reply === null) reject(new Error(`multiprocess ${name}: the child exited (${code ?? signal}) without a result`));
        else if (reply.ok) resolve(reply.value);
        else {
          const err = new Error(`multiprocess ${name}: ${reply.error ?? 'failed'}`);
          (err as { code?: string }).code = reply.code;
          reject(err);
        }
      });
      child.send({ module: url, name, args });
    });
  };
  const fn = { [name]: (..._args: unknown[]) => undefined }[name]!;
  return (...args: A) => new CspProcess<unknown>(fn as (...a: never[]) => unknown, args, run);
}

async function ready_all(value: unknown): Promise<void> {
  if (value instanceof Channel) await value.ready();
  else if (value instanceof ChannelEnd && !value.moved) await value.channel.ready();
  else if (Array.isArray(value)) for (const v of value) await ready_all(v);
}

// ---------------------------------------------------------------------- shutdown

/**
 * Ends this process's PyCSP node (PyCSP's `shutdown()`): waits for spawned processes and
 * running operations, tells every remote channel used that this process leaves, removes
 * every channel reference, waits until no process anywhere holds a reference to a channel
 * hosted here, then closes the listening socket and every connection. Afterwards nothing
 * is left open; channels made later start a new node. A call while one runs returns the
 * same promise.
 */
export function shutdown(): Promise<void> {
  shutting ??= shut_down().finally(() => {
    shutting = null;
  });
  return shutting;
}

let shutting: Promise<void> | null = null;

async function shut_down(): Promise<void> {
  await join_spawned(top_spawned);
  const d = existing_dispatcher();
  if (d === null) return;
  const pool = d.pool;
  await pool.idle();
  await Promise.all(pool.all.map((lock) => leave_all(d, lock)));
  for (const lock of pool.all) if (d.locks.get(lock.id) === lock) d.locks.delete(lock.id);
  for (const ch of [...registered_channels]) if (ch.d === d) ch.deregister();
  await d.homes_done();
  drop_dispatcher(d);
  await d.close();
}

/** Not part of the public API: Children still running (for specs). */
export function running_children(): number {
  return children.size;
}
