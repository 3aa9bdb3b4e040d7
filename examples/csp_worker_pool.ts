/**
 * A Node worker pool fed by a Python producer: this process hosts a buffered `jobs` channel
 * and a `results` channel; three worker processes (child Node processes, started with
 * `multiprocess`) take jobs as they come; a Python program using the real pycsp writes the
 * jobs and reads the results. When Python retires its end of `jobs`, every worker's next read
 * fails with ChannelRetireError and the pool winds down by itself.
 *
 * Run: `node dist/examples/csp_worker_pool.js [jobs]` (PYTHON and PYCSP_PATH may point at an
 * interpreter and at pycsp 0.9.2; by default `python3` and ../shared/peers/pycsp-0.9.2).
 *
 * @module
 */

import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
// In your own code: `from 'trousers/csp'`.
import { Channel, multiprocess, Parallel, process, shutdown, type ChannelEndRead, type ChannelEndWrite } from '../lib/csp/index.js';

/** A worker: upper-cases each job's text and says which process did it. */
export const worker = process(async (jobs: ChannelEndRead, results: ChannelEndWrite) => {
  for (;;) {
    const [id, text] = (await jobs.read()) as [number, string];
    await results.write([id, text.toUpperCase(), globalThis.process.pid]);
  }
});

/** Hosts the channels, starts `workers` worker processes, resolves when they have ended. */
export async function serve(workers: number, on_ready: (address: [string, number]) => void, child = true): Promise<void> {
  const jobs = new Channel('jobs', { buffer: 10 });
  const results = new Channel('results');
  await jobs.ready();
  const factory = child ? multiprocess(import.meta.url, 'worker') : worker;
  const pool = Parallel(Array.from({ length: workers }, () => factory(jobs.reader(), results.writer())));
  on_ready(jobs.address!);
  await pool;
}

if (globalThis.process.argv[1] === fileURLToPath(import.meta.url)) {
  const count = globalThis.process.argv[2] ?? '20';
  const here = path.dirname(fileURLToPath(import.meta.url));
  const pycsp = globalThis.process.env['PYCSP_PATH'] ?? path.resolve(here, '../../../shared/peers/pycsp-0.9.2');
  let python: Promise<number> = Promise.resolve(0);
  await serve(3, ([host, port]) => {
    console.log(`node: jobs and results hosted at ${host}:${port}; starting the Python producer`);
    const child = spawn(globalThis.process.env['PYTHON'] ?? 'python3', [path.resolve(here, '../../examples/csp_producer.py'), host, String(port), count], {
      stdio: 'inherit',
      env: { ...globalThis.process.env, PYTHONPATH: pycsp, PYCSP_HOST: '127.0.0.1', PYTHONDONTWRITEBYTECODE: '1' },
    });
    python = new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  });
  console.log('node: the pool has wound down');
  await shutdown();
  globalThis.process.exitCode = await python;
}
