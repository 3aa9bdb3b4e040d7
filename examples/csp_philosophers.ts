/**
 * Dining philosophers, the CSP way: every fork is a process guarding two any-to-any
 * channels (pick, put), a butler process seats at most four philosophers at a time
 * (an alternation over "sit" and "stand"), so the five can never deadlock. When every
 * philosopher has eaten its rounds it retires its ends, and the retirement ends the forks
 * and the butler by itself.
 *
 * Run: `node dist/examples/csp_philosophers.js [rounds]`.
 *
 * @module
 */

import { fileURLToPath } from 'node:url';
// In your own code: `from 'trousers/csp'`.
import { AltSelect, Channel, InputGuard, Parallel, process, retire, shutdown, type ChannelEndRead, type ChannelEndWrite } from '../lib/csp/index.js';

const SEATS = 5;

/** A fork: picked up, then put down, by whoever asks. */
const fork = process(async (pick: ChannelEndRead, put: ChannelEndRead) => {
  for (;;) {
    await pick.read();
    await put.read();
  }
});

/** The butler: lets at most SEATS - 1 philosophers sit. */
const butler = process(async (sit: ChannelEndRead, stand: ChannelEndRead) => {
  let seated = 0;
  for (;;) {
    if (seated < SEATS - 1) {
      const [chosen] = await AltSelect(new InputGuard(sit), new InputGuard(stand));
      seated += chosen === sit ? 1 : -1;
    } else {
      await stand.read();
      seated--;
    }
  }
});

interface Ends {
  sit: ChannelEndWrite;
  stand: ChannelEndWrite;
  pick: [ChannelEndWrite, ChannelEndWrite];
  put: [ChannelEndWrite, ChannelEndWrite];
}

/** A philosopher: thinks, sits, takes both forks, eats, puts them back, stands; `rounds` times. */
const philosopher = process(async (id: number, rounds: number, e: Ends, meals: number[]) => {
  for (let r = 0; r < rounds; r++) {
    await new Promise((res) => setImmediate(res)); // think
    await e.sit.write(id);
    await e.pick[0].write(id);
    await e.pick[1].write(id);
    meals[id]!++; // eat
    await e.put[0].write(id);
    await e.put[1].write(id);
    await e.stand.write(id);
  }
  await retire(e.sit, e.stand, e.pick, e.put);
});

/** Seats five philosophers for `rounds` meals each; resolves with the meals each had. */
export async function dine(rounds: number): Promise<number[]> {
  const sit = new Channel(), stand = new Channel();
  const pick = Array.from({ length: SEATS }, () => new Channel());
  const put = Array.from({ length: SEATS }, () => new Channel());
  const meals = new Array<number>(SEATS).fill(0);
  const procs = [
    butler(sit.reader(), stand.reader()),
    ...pick.map((p, i) => fork(p.reader(), put[i]!.reader())),
    ...Array.from({ length: SEATS }, (_, i) => {
      const left = i, right = (i + 1) % SEATS;
      const ends: Ends = {
        sit: sit.writer(),
        stand: stand.writer(),
        pick: [pick[left]!.writer(), pick[right]!.writer()],
        put: [put[left]!.writer(), put[right]!.writer()],
      };
      return philosopher(i, rounds, ends, meals);
    }),
  ];
  await Parallel(procs);
  return meals;
}

if (globalThis.process.argv[1] === fileURLToPath(import.meta.url)) {
  const rounds = Number(globalThis.process.argv[2] ?? 20);
  console.log('meals:', (await dine(rounds)).join(' '));
  await shutdown();
}
