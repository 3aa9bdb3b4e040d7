/**
 * trousers/connection throughput, Node to Node, next to Python's multiprocessing.connection
 * Python to Python on the same machine in the same run.
 *
 * Each case is two processes on 127.0.0.1: a receiver (listener) that counts messages until
 * an empty one, and a sender that sends messages of one size, back to back, for a fixed
 * time. The receiver times from its first message to the end marker.
 *
 * | case        | messages                 | reported        |
 * |-------------|--------------------------|-----------------|
 * | small       | 64 bytes                 | messages/s      |
 * | large       | 1 MiB                    | MB/s (10^6 B/s) |
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/connection_bench.js [--seconds=1.5] [--rounds=3]`.
 * Node and Python runs alternate; each cell is the median of `rounds` runs (min-max), and
 * the ratio is of the medians. Prints a markdown table; takes about
 * 4 x rounds x (seconds + 0.3) s, under 25 s with the defaults (bounded: at most 3 s x 3
 * rounds, and a 60 s guard). Without python3 the Python column says so.
 *
 * @module
 */

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { connect, listen } from '../lib/connection/index.js';

const SELF = fileURLToPath(import.meta.url);
const PY_PEER = fileURLToPath(new URL('../../bench/connection_bench_peer.py', import.meta.url));

/** One receiver's count. */
interface Result {
  count: number;
  bytes: number;
  seconds: number;
}

// ------------------------------------------------------------------ the Node peers

async function node_recv(): Promise<void> {
  const listener = await listen(['127.0.0.1', 0], { family: 'AF_INET' });
  console.log(`READY ${(listener.address as [string, number])[1]}`);
  const conn = await listener.accept();
  listener.close();
  const first = await conn.recv_bytes();
  const start = performance.now();
  let count = 1;
  let bytes = first.length;
  for (;;) {
    const m = await conn.recv_bytes();
    if (m.length === 0) break;
    count++;
    bytes += m.length;
  }
  const seconds = (performance.now() - start) / 1000;
  await conn.send_bytes(Buffer.from('ok'));
  console.log(`RESULT ${count} ${bytes} ${seconds.toFixed(6)}`);
  conn.close();
}

async function node_send(port: number, size: number, seconds: number): Promise<void> {
  const conn = await connect(['127.0.0.1', port]);
  const payload = randomBytes(size);
  const end = performance.now() + seconds * 1000;
  const batch = size <= 4096 ? 256 : 1;
  while (performance.now() < end) {
    for (let i = 0; i < batch; i++) await conn.send_bytes(payload);
  }
  await conn.send_bytes(Buffer.alloc(0));
  await conn.recv_bytes();
  conn.close();
}

// ------------------------------------------------------------------ the coordinator

function lines_of(child: ReturnType<typeof spawn>): (prefix: string) => Promise<string> {
  const seen: string[] = [];
  const waiting: { prefix: string; resolve(line: string): void }[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl).trim();
      partial = partial.slice(nl + 1);
      seen.push(line);
      for (const w of [...waiting]) {
        if (line.startsWith(w.prefix)) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  return (prefix) =>
    new Promise((resolve, reject) => {
      const hit = seen.find((l) => l.startsWith(prefix));
      if (hit !== undefined) return resolve(hit);
      waiting.push({ prefix, resolve });
      child.once('close', (code) => reject(new Error(`peer exited (${code}) before "${prefix}"`)));
    });
}

/** Runs one receiver/sender pair; `cmd` gives the command line of each role. */
async function run_pair(cmd: (role: string[]) => [string, string[]], size: number, seconds: number): Promise<Result> {
  const [rexe, rargs] = cmd(['recv']);
  const receiver = spawn(rexe, rargs, { stdio: ['ignore', 'pipe', 'inherit'] });
  let sender: ReturnType<typeof spawn> | undefined;
  try {
    const line = lines_of(receiver);
    const port = (await line('READY')).split(' ')[1]!;
    const [sexe, sargs] = cmd(['send', port, String(size), String(seconds)]);
    sender = spawn(sexe, sargs, { stdio: ['ignore', 'inherit', 'inherit'] });
    const [, count, bytes, secs] = (await line('RESULT')).split(' ');
    return { count: Number(count), bytes: Number(bytes), seconds: Number(secs) };
  } finally {
    receiver.kill();
    sender?.kill();
  }
}

const node_cmd = (role: string[]): [string, string[]] => [process.execPath, [SELF, '--peer', ...role]];

function python(): { exe: string; version: string } | null {
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable); print(sys.version.split()[0])'], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout) return null;
  const [exe, version] = r.stdout.trim().split('\n');
  return exe && version ? { exe, version } : null;
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

const fmt = (v: number): string => (v >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));

async function coordinate(seconds: number, rounds: number): Promise<void> {
  const py = python();
  const py_cmd = (role: string[]): [string, string[]] => [py!.exe, [PY_PEER, ...role]];
  const cases = [
    { name: '64-byte messages', size: 64, unit: 'messages/s', value: (r: Result) => r.count / r.seconds },
    { name: '1 MiB messages', size: 1 << 20, unit: 'MB/s', value: (r: Result) => r.bytes / r.seconds / 1e6 },
  ];
  const rows: string[] = [];
  for (const c of cases) {
    const node: number[] = [];
    const pyv: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // alternate, so that a noisy moment hits both sides alike
      node.push(c.value(await run_pair(node_cmd, c.size, seconds)));
      if (py) pyv.push(c.value(await run_pair(py_cmd, c.size, seconds)));
    }
    const cell = (v: number[]): string => (v.length === 0 ? 'no python3' : `${fmt(median(v))} (${fmt(Math.min(...v))}-${fmt(Math.max(...v))})`);
    const ratio = pyv.length === 0 ? '-' : `${(median(node) / median(pyv)).toFixed(2)}x`;
    rows.push(`| ${c.name} | ${c.unit} | ${cell(node)} | ${cell(pyv)} | ${ratio} |`);
  }
  console.log(`trousers/connection, one sender -> one receiver over TCP on 127.0.0.1, ${seconds} s per run, median of ${rounds} (min-max)`);
  console.log(`Node ${process.version}; ${py ? `Python ${py.version} (multiprocessing.connection)` : 'no python3'}\n`);
  console.log('| case | unit | Node <-> Node (trousers) | python3 <-> python3 | Node / Python |');
  console.log('|---|---|---:|---:|---:|');
  for (const r of rows) console.log(r);
}

const args = process.argv.slice(2);
if (args[0] === '--peer') {
  const job = args[1] === 'recv' ? node_recv() : node_send(Number(args[2]), Number(args[3]), Number(args[4]));
  job.catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
} else {
  const option = (name: string, fallback: number): number => {
    const a = args.find((x) => x.startsWith(`--${name}=`));
    return a ? Number(a.slice(name.length + 3)) : fallback;
  };
  const seconds = option('seconds', 1.5);
  const rounds = option('rounds', 3);
  if (!(seconds > 0 && seconds <= 3)) throw new RangeError('--seconds must be within 0 and 3');
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 3)) throw new RangeError('--rounds must be 1, 2 or 3');
  const guard = setTimeout(() => {
    console.error('connection_bench: gave up after 60 s');
    process.exit(1);
  }, 60000);
  guard.unref();
  coordinate(seconds, rounds).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
