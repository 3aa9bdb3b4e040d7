/**
 * A CSP pipeline: numbers -> square (in a child Node process) -> sum, shut down by retire.
 *
 * The producer retires its end when done; the square stage's next read fails with
 * ChannelRetireError, so `process()` retires the stage's own ends, and the retirement flows
 * down the pipeline until the sink's read fails too. No process is told to stop.
 *
 * Run: `node dist/examples/csp_pipeline.js [count]`.
 *
 * @module
 */

import { fileURLToPath } from 'node:url';
// In your own code: `from 'trousers/csp'`.
import { Channel, multiprocess, Parallel, process, retire, shutdown, type ChannelEndRead, type ChannelEndWrite } from '../lib/csp/index.js';

/** Writes 1..n, then retires. */
export const numbers = process(async (out: ChannelEndWrite, n: number) => {
  for (let i = 1; i <= n; i++) await out.write(i);
  await retire(out);
});

/** Squares until its input retires (then `process()` retires its output). */
export const square = process(async (cin: ChannelEndRead, out: ChannelEndWrite) => {
  for (;;) {
    const x = (await cin.read()) as number;
    await out.write(x * x);
  }
});

/** Sums until its input retires; the total is the process's result. */
export const sum = process(async (cin: ChannelEndRead) => {
  let total = 0;
  try {
    for (;;) total += (await cin.read()) as number;
  } catch {
    return total;
  }
});

/**
 * Runs the pipeline over 1..n; the square stage runs in a child process when `child` is true.
 * @returns the sum of squares
 */
export async function run_pipeline(n: number, child = true): Promise<number> {
  const a = new Channel('numbers'), b = new Channel('squares', { buffer: 8 });
  const stage = child ? multiprocess(import.meta.url, 'square') : square;
  const results = await Parallel(numbers(a.writer(), n), stage(a.reader(), b.writer()), sum(b.reader()));
  return results[2] as number;
}

if (globalThis.process.argv[1] === fileURLToPath(import.meta.url)) {
  const n = Number(globalThis.process.argv[2] ?? 100);
  const total = await run_pipeline(n);
  console.log(`sum of squares 1..${n} = ${total}`);
  await shutdown();
}
