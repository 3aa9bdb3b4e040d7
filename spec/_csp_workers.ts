/**
 * Functions that `trousers/csp` specs run in child Node processes with `multiprocess()`.
 */

import { AltSelect, FairSelect, InputGuard, OutputGuard, PriSelect, process, retire, TimeoutGuard, type ChannelEndRead, type ChannelEndWrite } from '../lib/csp/index.js';
import { rng } from './_helpers.js';

/** Writes `n` numbers from `start`, then retires. */
export async function producer(out: ChannelEndWrite, n: number, start = 0): Promise<string> {
  for (let i = start; i < start + n; i++) await out.write(i);
  await retire(out);
  return `produced ${n}`;
}

/** Doubles until retired or poisoned (propagated by process()). */
export const doubler = process(async (cin: ChannelEndRead, cout: ChannelEndWrite) => {
  for (;;) await cout.write(((await cin.read()) as number) * 2);
});

/** Reads `n` values by alternation over `ins`; returns them. */
export async function alt_reader(ins: ChannelEndRead[], n: number, seed: number): Promise<number[]> {
  const r = rng(seed);
  const got: number[] = [];
  while (got.length < n) {
    const guards = ins.map((c) => new InputGuard(c));
    const pick = r();
    const [, v] = pick < 0.4 ? await AltSelect(guards) : pick < 0.7 ? await PriSelect(guards) : await FairSelect(guards);
    got.push(v as number);
  }
  return got;
}

/** Writes each of `values` by a random choice of plain writes and output alternations over `outs`. */
export async function fuzz_writer(outs: ChannelEndWrite[], values: number[], seed: number): Promise<number> {
  const r = rng(seed);
  let timeouts = 0;
  for (const v of values) {
    for (;;) {
      const pick = r();
      if (pick < 0.3) {
        await outs[Math.floor(r() * outs.length)]!.write(v);
        break;
      }
      const guards = outs.map((o) => new OutputGuard(o, v));
      if (pick < 0.4) {
        const [g] = await AltSelect(...guards, new TimeoutGuard(1 + Math.floor(r() * 3)));
        if (g instanceof TimeoutGuard) {
          timeouts++;
          continue; // not written: try again
        }
        break;
      }
      await (pick < 0.7 ? AltSelect(guards) : PriSelect(guards));
      break;
    }
  }
  return timeouts;
}

/** Reads a channel end from `cin` (sent by another process) and writes through it. */
export async function end_user(cin: ChannelEndRead): Promise<string> {
  const end = (await cin.read()) as ChannelEndWrite;
  await end.write(`written in a child through a moved ${end.op} end`);
  await retire(end, cin);
  return 'ok';
}

/**
 * Hosts a channel in this (child) process, sends its reading end to `back`, then writes
 * `values` into it by a random mix of plain writes and output alternations that also offer
 * each value on `also` (a channel hosted elsewhere): so readers elsewhere alternate over
 * homes in two processes, and writers here alternate over homes in two processes.
 */
export async function remote_home_writer(back: ChannelEndWrite, also: ChannelEndWrite, values: number[], seed: number): Promise<number> {
  const { Channel } = await import('../lib/csp/index.js');
  const mine = new Channel('fz-child');
  await mine.ready();
  const out = mine.writer();
  await back.write(mine.reader());
  const r = rng(seed);
  let via_also = 0;
  for (const v of values) {
    if (r() < 0.3) {
      await out.write(v);
      continue;
    }
    const [g] = await (r() < 0.5 ? AltSelect(new OutputGuard(out, v), new OutputGuard(also, v)) : PriSelect(new OutputGuard(out, v), new OutputGuard(also, v)));
    if (g === also) via_also++;
  }
  await retire(out, back, also);
  return via_also;
}
