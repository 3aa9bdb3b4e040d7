/**
 * trousers/csp speed, next to pycsp 0.9.2 (pycsp.parallel) on Python 3 in the same run, and
 * next to a hand-written Promise queue hand-off.
 *
 * | case                         | what is counted                                        |
 * |------------------------------|--------------------------------------------------------|
 * | one process                  | rendezvous/s: a writer and a reader process, one channel |
 * | Promise queue (baseline)     | hand-offs/s: the same loop over a hand-written queue, run right after it |
 * | alternation                  | commits/s: a reader alternating over two channels, two writers, one process |
 * | raw node:net ping-pong       | round trips/s between this process and a child: the floor of any serial cross-process rendezvous |
 * | two processes                | rendezvous/s: a writer in a child process, the channel and its reader here |
 * | two processes, 16 / 64 concurrent | 16 (64) concurrent writes in the child against as many concurrent reads here |
 * | two processes, buffer=100    | the same over a buffered channel                        |
 *
 * pycsp runs the same shapes: threads in one interpreter, two interpreters (with 1 or 16
 * reader and writer processes, i.e. threads), and (on Python 3.9, whose pycsp alternation
 * still runs) the alternation. Every case runs `CSP_BENCH_ROUNDS` (3) rounds with fixed
 * counts, Node and pycsp interleaved; cells are medians (min-max), ratios are taken per
 * round. The whole run takes about 40 s and writes bench/csp_results.md
 * (`CSP_BENCH_NO_WRITE=1` to only print).
 *
 * Run: `npm run bench:csp` (or `node dist/bench/csp_bench.js`).
 *
 * @module
 */

import { execFileSync, fork, spawn } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AltSelect, Channel, InputGuard, multiprocess, Parallel, process as csp_process, retire, shutdown, type ChannelEndRead, type ChannelEndWrite } from '../lib/csp/index.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PY_PEER = path.resolve(HERE, '../../bench/csp_bench_peer.py');
const PYCSP = path.resolve(HERE, '../../../shared/peers/pycsp-0.9.2');

/** The child-process side: writes `n` values with `par` concurrent writes, then retires. */
export async function child_writer(out: ChannelEndWrite, n: number, par: number): Promise<void> {
  await Promise.all(
    Array.from({ length: par }, async (_, k) => {
      for (let i = k; i < n; i += par) await out.write(i);
    }),
  );
  await retire(out);
}

async function read_n(cin: ChannelEndRead, n: number): Promise<number> {
  await cin.read();
  const t = performance.now();
  for (let i = 1; i < n; i++) await cin.read();
  return (n - 1) / ((performance.now() - t) / 1000);
}

async function one_process(n: number): Promise<number> {
  const c = new Channel();
  const w = c.writer(), r = c.reader();
  const [, rate] = await Parallel(
    csp_process(async () => {
      for (let i = 0; i < n; i++) await w.write(i);
    })(),
    csp_process(() => read_n(r, n))(),
  );
  await retire(w, r);
  return rate as number;
}

class HandOff<T> {
  private readers: ((v: T) => void)[] = [];
  private writers: [T, () => void][] = [];
  write(v: T): Promise<void> {
    return new Promise<void>((resolve) => {
      const r = this.readers.shift();
      if (r !== undefined) {
        r(v);
        resolve();
      } else this.writers.push([v, resolve]);
    });
  }
  read(): Promise<T> {
    return new Promise<T>((resolve) => {
      const w = this.writers.shift();
      if (w !== undefined) {
        w[1]();
        resolve(w[0]);
      } else this.readers.push(resolve);
    });
  }
}

async function promise_queue(n: number): Promise<number> {
  const q = new HandOff<number>();
  const writer = (async () => {
    for (let i = 0; i < n; i++) await q.write(i);
  })();
  await q.read();
  const t = performance.now();
  for (let i = 1; i < n; i++) await q.read();
  const rate = (n - 1) / ((performance.now() - t) / 1000);
  await writer;
  return rate;
}

const writer_in_child = multiprocess(import.meta.url, 'child_writer');

async function two_processes(n: number, par: number, buffer: number): Promise<number> {
  const c = new Channel(null, { buffer });
  await c.ready();
  const r = c.reader();
  if (par === 1) {
    const [, rate] = await Parallel(writer_in_child(c.writer(), n, par), csp_process(() => read_n(r, n))());
    await retire(r);
    return rate as number;
  }
  // par concurrent reads here against par concurrent writes there
  let count = 0;
  let t0 = 0;
  const readers = Array.from({ length: par }, async () => {
    try {
      for (;;) {
        await r.read();
        if (count++ === 0) t0 = performance.now();
      }
    } catch {
      // retired: the writers are done
    }
  });
  await Parallel(writer_in_child(c.writer(), n, par));
  await Promise.all(readers);
  return (count - 1) / ((performance.now() - t0) / 1000);
}

async function alternation(n: number): Promise<number> {
  const a = new Channel(), b = new Channel();
  const aw = a.writer(), bw = b.writer(), ar = a.reader(), br = b.reader();
  const feed = (w: ChannelEndWrite) => csp_process(async () => {
    for (let i = 0; i < n; i++) await w.write(i);
  })();
  let rate = 0;
  await Parallel(feed(aw), feed(bw), csp_process(async () => {
    await AltSelect(new InputGuard(ar), new InputGuard(br));
    const t = performance.now();
    for (let i = 1; i < n; i++) await AltSelect(new InputGuard(ar), new InputGuard(br));
    rate = (n - 1) / ((performance.now() - t) / 1000);
    for (let i = 0; i < n; i++) await AltSelect(new InputGuard(ar), new InputGuard(br)); // drain the rest
  })());
  await retire(aw, bw, ar, br);
  return rate;
}

// ------------------------------------------------------------------ the floor: raw round trips

/**
 * Raw `node:net` ping-pong between this process and a child process (the same shape as the
 * two-process rows): one 8-byte message each way, one at a time. A serial rendezvous across
 * processes needs at least one round trip (the writer must learn that a reader took its
 * value), so this is the ceiling of any serial cross-process rendezvous rate here.
 */
async function raw_round_trips(n: number): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, CSP_BENCH_ECHO: String(port) }, stdio: 'inherit' });
  const sock = await new Promise<net.Socket>((r) => server.once('connection', r));
  sock.setNoDelay(true);
  const ping = Buffer.alloc(8, 1);
  let left = n, got = 0, t = 0;
  const rate = await new Promise<number>((resolve) => {
    sock.on('data', (d: Buffer) => {
      got += d.length;
      while (got >= 8) {
        got -= 8;
        if (left === n) t = performance.now(); // the first round trip warms up
        if (--left === 0) return resolve((n - 1) / ((performance.now() - t) / 1000));
        sock.write(ping);
      }
    });
    sock.write(ping);
  });
  sock.destroy();
  server.close();
  await new Promise((r) => child.once('exit', r));
  return rate;
}

/** The child side of {@link raw_round_trips}: echoes every byte back. */
function echo_child(port: number): void {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  s.on('data', (d) => s.write(d));
  s.on('error', () => undefined);
  s.on('close', () => process.exit(0));
}

// ------------------------------------------------------------------ pycsp

function python(version_prefix: string | null): string | null {
  const candidates = version_prefix === null ? ['python3'] : [path.join(process.env['HOME'] ?? '', `.pyenv/versions/${version_prefix}/bin/python`)];
  for (const exe of candidates) {
    try {
      execFileSync(exe, ['-c', 'import sys'], { stdio: 'ignore', timeout: 10000 });
      return exe;
    } catch {
      // not there
    }
  }
  return null;
}

function py_env(): NodeJS.ProcessEnv {
  return { ...process.env, PYTHONPATH: PYCSP, PYCSP_HOST: '127.0.0.1', PYTHONDONTWRITEBYTECODE: '1' };
}

function py_run(exe: string, args: string[], on_line?: (line: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(exe, [PY_PEER, ...args], { env: py_env(), stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    let rate = NaN;
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        on_line?.(line);
        const m = /^RESULT (\d+) ([\d.e-]+)/.exec(line);
        if (m) rate = Number(m[1]) / Number(m[2]);
      }
    });
    child.once('error', reject);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(rate);
    });
  });
}

async function py_two(exe: string, n: number, buffer: number, k = 1): Promise<number> {
  let writer: Promise<number> | null = null;
  const rate = await py_run(exe, ['host', String(n), String(buffer), String(k)], (line) => {
    const m = /^READY (\d+)/.exec(line);
    if (m) writer = py_run(exe, ['writer', m[1]!, String(n), String(k)]);
  });
  if (writer !== null) await writer;
  return rate;
}

// ------------------------------------------------------------------ main

function fmt(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a';
}

/** Median and spread of one row's rounds. */
function stat(xs: number[]): { med: number; min: number; max: number } {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return { med: NaN, min: NaN, max: NaN };
  const m = v.length >> 1;
  return { med: v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2, min: v[0]!, max: v[v.length - 1]! };
}

function cell(xs: number[]): string {
  const { med, min, max } = stat(xs);
  if (!Number.isFinite(med)) return 'n/a';
  return xs.length > 1 ? `${fmt(med)} (${fmt(min)}-${fmt(max)})` : fmt(med);
}

function ratio(a: number[], b: number[]): string {
  // per round (same run, same moment), then the median of those ratios
  const r = a.map((x, i) => x / (b[i] ?? NaN)).filter(Number.isFinite);
  if (r.length === 0) return '';
  const { med, min, max } = stat(r);
  return r.length > 1 ? `${med.toFixed(2)}x (${min.toFixed(2)}-${max.toFixed(2)})` : `${med.toFixed(2)}x`;
}

interface Row {
  name: string;
  node: number[];
  py: number[];
  /** The row the ratio column divides by, when not pycsp. */
  vs?: number[];
  vs_name?: string;
}

async function main(): Promise<void> {
  const rounds = Math.max(1, Number(process.env['CSP_BENCH_ROUNDS'] ?? 3));
  const started = Date.now();
  const py3 = fs.existsSync(PYCSP) ? python(null) : null;
  const py39 = fs.existsSync(PYCSP) ? python('3.9.18') : null;
  const py_version = py3 === null ? '' : execFileSync(py3, ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).trim();
  const row = (name: string): Row => ({ name, node: [], py: [] });
  const local = row('one process, rendezvous/s');
  const queue = row('Promise queue hand-off/s (hand-written baseline, Node only)');
  const alt = row('alternation (2 channels, 2 writers, one process), commits/s');
  const rtt = row('raw node:net ping-pong, round trips/s (the floor: child process, 8 bytes each way, one at a time)');
  const two = row('two processes, rendezvous/s');
  const two16 = row('two processes, 16 concurrent writes and reads, rendezvous/s');
  const two64 = row('two processes, 64 concurrent writes and reads, rendezvous/s');
  const buf = row('two processes, buffer=100, writes/s');
  const buf16 = row('two processes, buffer=100, 16 concurrent writes and reads, writes/s');
  await one_process(100000); // warm-up (JIT), not counted
  await promise_queue(100000);
  for (let k = 0; k < rounds; k++) {
    // one process and its baseline alternately, so each round compares the same moment
    local.node.push(await one_process(300000));
    queue.node.push(await promise_queue(300000));
    if (py3) local.py.push(await py_run(py3, ['local', '8000']));
    alt.node.push(await alternation(100000));
    if (py39) alt.py.push(await py_run(py39, ['alt', '3000']));
    rtt.node.push(await raw_round_trips(10000));
    two.node.push(await two_processes(8000, 1, 0));
    if (py3) two.py.push(await py_two(py3, 3000, 0));
    two16.node.push(await two_processes(30000, 16, 0));
    if (py3) two16.py.push(await py_two(py3, 3000, 0, 16));
    two64.node.push(await two_processes(40000, 64, 0));
    buf.node.push(await two_processes(8000, 1, 100));
    if (py3) buf.py.push(await py_two(py3, 3000, 100));
    buf16.node.push(await two_processes(30000, 16, 100));
    if (py3) buf16.py.push(await py_two(py3, 3000, 100, 16));
  }
  await shutdown();
  const floor_node = row('two processes, rendezvous/s as a fraction of the raw round trip rate');
  floor_node.node = two.node.map((x, i) => x / rtt.node[i]!);
  floor_node.py = two.py.map((x, i) => x / rtt.node[i]!);

  const lines: string[] = [];
  const out = (l: string): void => void lines.push(l);
  const cpu = os.cpus()[0]?.model ?? '?';
  out(`# trousers/csp benchmark results`);
  out('');
  out(`\`npm run bench:csp\` (\`node dist/bench/csp_bench.js\`), ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${rounds} rounds, ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  out(`Machine: ${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.type()} ${os.release()}; Node ${process.version}; pycsp 0.9.2 on Python ${py_version || 'n/a'} (alternation on Python 3.9, the newest its alternation runs on).`);
  out('Each cell: the median of the rounds (min-max). Ratios are taken per round (same run, same moment) and their median shown.');
  out('');
  out('| case | trousers/csp | pycsp 0.9.2 | ratio |');
  out('|---|---:|---:|---:|');
  const rows: Row[] = [
    { ...local, vs: queue.node, vs_name: 'vs the Promise queue' },
    queue, alt, rtt, two, two16, two64, buf, buf16,
  ];
  for (const r of rows) {
    const vs = r.vs !== undefined ? `${ratio(r.node, r.vs)} ${r.vs_name}; ${ratio(r.node, r.py)} vs pycsp` : ratio(r.node, r.py);
    out(`| ${r.name} | ${cell(r.node)} | ${cell(r.py)} | ${vs} |`);
  }
  const pct = (xs: number[]): string => {
    const { med, min, max } = stat(xs);
    return Number.isFinite(med) ? `${(med * 100).toFixed(0)}% (${(min * 100).toFixed(0)}-${(max * 100).toFixed(0)}%)` : 'n/a';
  };
  out(`| ${floor_node.name} | ${pct(floor_node.node)} | ${pct(floor_node.py)} | |`);
  out('');
  out('The floor: a serial rendezvous across processes cannot complete before the writer learns that a reader took its value,');
  out('which takes at least one round trip between the two processes; the raw ping-pong row is that round trip rate on this');
  out('machine, with nothing else done. Concurrent operations overlap their round trips, so only they can go beyond it.');
  const text = lines.join('\n') + '\n';
  console.log('\n' + text);
  if (process.env['CSP_BENCH_NO_WRITE'] === undefined) fs.writeFileSync(path.resolve(HERE, '../../bench/csp_results.md'), text);
}

const echo_port = process.env['CSP_BENCH_ECHO'];
if (echo_port !== undefined) echo_child(Number(echo_port));
else if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
