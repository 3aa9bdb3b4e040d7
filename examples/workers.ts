/**
 * Workers: a Node server hands work out to Python worker processes over
 * `trousers/connection`, with nothing but Python's standard library on the other side.
 *
 * - The server listens on 127.0.0.1 (an ephemeral port) with a random `authkey`.
 * - It starts `WORKERS` copies of `examples/workers_worker.py` under the machine's `python3`,
 *   passing the address on the command line and the key in the environment. Each worker
 *   connects with `multiprocessing.connection.Client(address, authkey=key)`: the HMAC
 *   handshake runs both ways before a connection is handed out.
 * - Jobs and results are JSON in `send_bytes` / `recv_bytes` (Python's `send`/`recv`
 *   would be pickle, which Node does not read). Each worker gets the next job as soon as it
 *   returns a result; an empty message tells it to stop.
 *
 * Run: `npx tsc -p tsconfig.json && node dist/examples/workers.js [workers] [jobs]`.
 * Prints one line per result and a summary; exits 0 when every job came back right, and
 * says so and exits 0 when there is no `python3` on the machine.
 *
 * @module
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
// In your own code: `from 'trousers/connection'`.
import { listen, type MessageConnection } from '../lib/connection/index.js';

/** One unit of work: count the primes below `n`. */
interface Job {
  id: number;
  n: number;
}

/** What a worker sends back. */
interface Result {
  id: number;
  primes: number;
  worker: number;
}

const WORKER_SCRIPT = fileURLToPath(new URL('../../examples/workers_worker.py', import.meta.url));

/** Counts primes below n in Node, to check the workers' answers. */
function count_primes(n: number): number {
  if (n < 3) return 0;
  const sieve = new Uint8Array(n).fill(1);
  sieve[0] = sieve[1] = 0;
  for (let i = 2; i * i < n; i++) if (sieve[i]) for (let j = i * i; j < n; j += i) sieve[j] = 0;
  let count = 0;
  for (const v of sieve) count += v;
  return count;
}

/** Feeds one worker connection from the shared queue until the queue is empty. */
async function feed(conn: MessageConnection, queue: Job[], results: Result[], log: (line: string) => void): Promise<void> {
  for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
    await conn.send_bytes(Buffer.from(JSON.stringify(job)));
    const result = JSON.parse((await conn.recv_bytes()).toString('utf8')) as Result;
    results.push(result);
    log(`job ${String(result.id).padStart(2)}: ${result.primes} primes below ${job.n} (worker pid ${result.worker})`);
  }
  await conn.send_bytes(Buffer.alloc(0)); // stop
  conn.close();
}

/**
 * Runs the example: `workers` Python processes, `jobs` jobs.
 * @returns true when every result was right
 */
export async function run_workers(workers = 3, jobs = 12, log: (line: string) => void = console.log): Promise<boolean> {
  if (spawnSync('python3', ['--version'], { stdio: 'ignore' }).error !== undefined) {
    log('python3 is not on this machine: nothing to hand work to.');
    return true;
  }
  const authkey = randomBytes(32);
  const listener = await listen(['127.0.0.1', 0], { authkey, handshake_timeout: 10000 });
  const [host, port] = listener.address as [string, number];
  log(`listening on ${host}:${port}; starting ${workers} Python workers`);

  const children: ChildProcess[] = [];
  const exits: Promise<number | null>[] = [];
  for (let i = 0; i < workers; i++) {
    const child = spawn('python3', [WORKER_SCRIPT, host, String(port)], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, WORKER_AUTHKEY: authkey.toString('hex') },
    });
    children.push(child);
    exits.push(new Promise((resolve) => child.once('exit', (code) => resolve(code))));
  }
  const kill = (): void => {
    for (const c of children) if (c.exitCode === null) c.kill();
  };
  process.once('exit', kill);

  try {
    const queue: Job[] = Array.from({ length: jobs }, (_, id) => ({ id, n: 50_000 + id * 25_000 }));
    const expected = new Map(queue.map((j) => [j.id, count_primes(j.n)]));
    const results: Result[] = [];
    const feeding: Promise<void>[] = [];
    for (let i = 0; i < workers; i++) {
      const conn = await listener.accept(); // authenticated by now
      feeding.push(feed(conn, queue, results, log));
    }
    listener.close();
    await Promise.all(feeding);
    const codes = await Promise.all(exits);
    const wrong = results.filter((r) => expected.get(r.id) !== r.primes);
    const pids = new Set(results.map((r) => r.worker));
    log(`${results.length} results from ${pids.size} workers; ${wrong.length} wrong; worker exit codes ${codes.join(', ')}`);
    return results.length === jobs && wrong.length === 0 && codes.every((c) => c === 0);
  } finally {
    listener.close();
    kill();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [workers, jobs] = process.argv.slice(2).map(Number);
  const guard = setTimeout(() => {
    console.error('workers example: gave up after 30 s');
    process.exit(1);
  }, 30000);
  guard.unref();
  run_workers(workers || 3, jobs || 12).then(
    (ok) => {
      process.exitCode = ok ? 0 : 1;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
