/**
 * Alternation (external choice): `AltSelect`, `PriSelect`, `FairSelect` over input, output,
 * skip and timeout guards, across processes and across the Node / Python boundary.
 *
 * ```ts
 * const [chosen, value] = await AltSelect(
 *   new InputGuard(jobs),
 *   new OutputGuard(results, 42),
 *   new TimeoutGuard(500),
 * );
 * if (chosen === jobs) console.log('job', value);
 * ```
 *
 * How it works (PyCSP's protocol): the alternation is one operation of its process: state
 * READY, one sequence number, a request posted to the home of every guard's channel. Each
 * home that finds a partner takes the locks of both processes and commits only if both are
 * still READY at that sequence number, so exactly one guard commits, wherever the homes are.
 * `PriSelect` posts one guard at a time and waits for the home's acknowledgement, so a ready
 * guard earlier in the list always wins over a later one. `AltSelect` posts all at once
 * (faster; with network latency it does not guarantee priority). `FairSelect` orders the
 * guards by how rarely each was chosen here before, then runs `PriSelect`.
 *
 * The chosen operation always executes inside the alternation: the input is consumed, the
 * output delivered. `chosen` is the channel end for input and output guards, the guard
 * itself for skip and timeout guards; `value` is the message for input guards, else null.
 *
 * @module
 */

import { randomUUID } from 'node:crypto';
import type { Timer } from '../index.js';
import { ChannelEndRead, ChannelEndWrite, type ChannelEnd } from './channel.js';
import { dispatcher } from './dispatch.js';
import { ChannelPoisonError, ChannelRetireError, CspUsageError } from './errors.js';
import { POISON, READY, RETIRE, SUCCESS } from './header.js';
import type { ProcessLock } from './lock.js';
import { value_of, type Msg } from './payload.js';

/** Input: chosen when a writer's message is taken. `action(value)` runs if chosen. */
export class InputGuard {
  /**
   * @param end - a reading end
   * @param action - called with the message when this guard is chosen
   */
  constructor(
    readonly end: ChannelEndRead,
    readonly action?: (value: unknown) => unknown,
  ) {
    if (!(end instanceof ChannelEndRead)) throw new CspUsageError('InputGuard requires a ChannelEndRead object');
    if (action !== undefined && typeof action !== 'function') throw new TypeError('an action must be a function');
  }
}

/** Output: chosen when a reader takes `value`. `action()` runs if chosen. */
export class OutputGuard {
  /**
   * @param end - a writing end
   * @param value - the message to offer
   * @param action - called when this guard is chosen
   */
  constructor(
    readonly end: ChannelEndWrite,
    readonly value: unknown,
    readonly action?: () => unknown,
  ) {
    if (!(end instanceof ChannelEndWrite)) throw new CspUsageError('OutputGuard requires a ChannelEndWrite object');
    if (action !== undefined && typeof action !== 'function') throw new TypeError('an action must be a function');
  }
}

/** Commits at once if nothing else has (use it with PriSelect for a non-blocking try). */
export class SkipGuard {
  /** @internal The id a commit names. */
  readonly id = randomUUID().replace(/-/g, '');
  /** @param action - called when this guard is chosen */
  constructor(readonly action?: () => unknown) {
    if (action !== undefined && typeof action !== 'function') throw new TypeError('an action must be a function');
  }
}

/** Commits after `ms` milliseconds if nothing else has. */
export class TimeoutGuard {
  /** @internal The id a commit names. */
  readonly id = randomUUID().replace(/-/g, '');
  /**
   * @param ms - milliseconds (PyCSP's TimeoutGuard takes seconds)
   * @param action - called when this guard is chosen
   */
  constructor(
    readonly ms: number,
    readonly action?: () => unknown,
  ) {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new RangeError(`a timeout must be a finite number of ms >= 0, got ${String(ms)}`);
    if (action !== undefined && typeof action !== 'function') throw new TypeError('an action must be a function');
  }
}

/** Any guard. */
export type Guard = InputGuard | OutputGuard | SkipGuard | TimeoutGuard;

/** What a select resolves to: the chosen end (or skip / timeout guard) and the message (input only). */
export type Selected = [chosen: ChannelEnd | SkipGuard | TimeoutGuard, value: unknown];

function flatten(guards: readonly (Guard | readonly Guard[])[], what: string): Guard[] {
  const out: Guard[] = [];
  for (const g of guards) {
    if (Array.isArray(g)) out.push(...flatten(g as Guard[], what));
    else if (g instanceof InputGuard || g instanceof OutputGuard || g instanceof SkipGuard || g instanceof TimeoutGuard) out.push(g);
    else throw new CspUsageError(`Cannot use ${String(g)} as guard. Only use *Guard types for ${what}`);
  }
  if (out.length === 0) throw new CspUsageError(`${what} needs at least one guard`);
  return out;
}

/** A guard's own offer on the process's lock (PyCSP's Guard._offer): commit if still READY at `seq`. */
function guard_offer(lock: ProcessLock<Msg>, id: string, seq: number): void | Promise<void> {
  const holder = `guard/${id}`;
  const done = (g: { state: number; seq: number }): void => {
    if (g.seq === seq && g.state === READY) lock.notify(holder, id, undefined, false);
    lock.release(holder);
  };
  const got = lock.acquire(holder);
  if (got instanceof Promise) return got.then(done);
  done(got);
}

async function choose(guards: Guard[], priority: boolean): Promise<Selected> {
  const d = dispatcher();
  const pool = d.pool;
  const lock = pool.take();
  const timers: Timer[] = [];
  try {
    lock.begin();
    const seq = lock.seq;
    for (const g of guards) {
      if (g instanceof InputGuard || g instanceof OutputGuard) {
        const ch = g.end.channel;
        if (ch.remote !== null) {
          const lost = d.lost_errors.get(ch.remote);
          if (lost !== undefined) throw lost;
          ch.register();
        }
        ch.post(lock, g instanceof OutputGuard, g instanceof OutputGuard ? g.value : undefined, priority);
        if (priority) await lock.wait_ack();
      } else if (g instanceof SkipGuard) {
        const p = guard_offer(lock, g.id, seq);
        if (p !== undefined) await p;
      } else {
        const id = g.id;
        const fire = (): void => void guard_offer(lock, id, seq);
        if (g.ms <= 0) fire();
        else timers.push(d.config.engine.defer(g.ms, fire));
      }
      if (lock.state !== READY) break;
    }
    if (lock.state === READY) await lock.wait();
    for (const t of timers) t.cancel();
    switch (lock.state) {
      case SUCCESS:
        break;
      case POISON:
        throw new ChannelPoisonError();
      case RETIRE:
        throw new ChannelRetireError();
      default:
        throw lock.failure ?? new Error('the alternation failed');
    }
    const id = lock.result_id;
    const has_value = lock.has_result;
    let chosen: Guard | undefined;
    for (const g of guards) {
      if (g instanceof SkipGuard || g instanceof TimeoutGuard) {
        if (g.id === id) chosen = g;
      } else if (g.end.channel.wire === id) {
        // Input and output guards on one channel: a message means the input won.
        if (chosen === undefined || (g instanceof InputGuard) === has_value) chosen = g;
      }
    }
    if (chosen === undefined) throw new Error(`the alternation committed on ${JSON.stringify(id)}, which is none of its guards`);
    if (chosen instanceof InputGuard) {
      const value = value_of(lock.result);
      if (chosen.action !== undefined) await chosen.action(value);
      return [chosen.end, value];
    }
    if (chosen.action !== undefined) await chosen.action();
    return [chosen instanceof OutputGuard ? chosen.end : chosen, null];
  } finally {
    for (const t of timers) t.cancel();
    // Left early (a guard could not be posted): no home may commit it any more.
    if (lock.state === READY) lock.fail(new Error('the alternation was abandoned'));
    pool.give(lock);
  }
}

/**
 * A fast choice: posts every guard at once; resolves to `[chosen, value]` (see the module
 * notes). Without network latency the first ready guard wins; across processes priority is
 * not guaranteed (use {@link PriSelect}).
 * @throws ChannelPoisonError / ChannelRetireError when a guard's channel is over and no
 *   other guard committed first; CspUsageError for non-guards
 */
export function AltSelect(...guards: (Guard | readonly Guard[])[]): Promise<Selected> {
  try {
    return choose(flatten(guards, 'AltSelect'), false);
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * A prioritised choice: guards are posted in order, each acknowledged by its home before
 * the next, so the earliest ready guard always wins.
 */
export function PriSelect(...guards: (Guard | readonly Guard[])[]): Promise<Selected> {
  try {
    return choose(flatten(guards, 'PriSelect'), true);
  } catch (err) {
    return Promise.reject(err);
  }
}

const history = new Map<string, Map<string, number>>();

function call_site(): string {
  const stack = new Error().stack?.split('\n') ?? [];
  return stack[3]?.trim() ?? '';
}

/**
 * A fair choice: the guards are ordered by how rarely each channel was chosen by this call
 * site before (skip and timeout guards last), then selected with {@link PriSelect}.
 */
export function FairSelect(...guards: (Guard | readonly Guard[])[]): Promise<Selected> {
  let list: Guard[];
  try {
    list = flatten(guards, 'FairSelect');
  } catch (err) {
    return Promise.reject(err);
  }
  const key = call_site();
  let h = history.get(key);
  if (h === undefined) history.set(key, (h = new Map()));
  const counts = h;
  const channel_guards = list.filter((g): g is InputGuard | OutputGuard => g instanceof InputGuard || g instanceof OutputGuard);
  const others = list.filter((g) => g instanceof SkipGuard || g instanceof TimeoutGuard);
  channel_guards.sort((a, b) => (counts.get(a.end.channel.wire) ?? 0) - (counts.get(b.end.channel.wire) ?? 0));
  return choose([...channel_guards, ...others], true).then((result) => {
    const chosen = result[0];
    if (chosen instanceof ChannelEndRead || chosen instanceof ChannelEndWrite) {
      const wire = chosen.channel.wire;
      counts.set(wire, (counts.get(wire) ?? 0) + 1);
    }
    return result;
  });
}
