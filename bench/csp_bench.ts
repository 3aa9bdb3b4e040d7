/**
 * trousers/csp speed, next to pycsp 0.9.2 (pycsp.parallel) on Python 3 in the same run, and
 * next to a hand-written Promise queue hand-off.
 *
 * | case                         | what is counted                                        |
 * |------------------------------|--------------------------------------------------------|
 * | one process                  | rendezvous/s: a writer and a reader process, one channel |
 * | Promise queue (baseline)     | hand-offs/s: the same loop over a hand-written queue    |
 * | two processes                | rendezvous/s: a writer in a child process, the channel and its reader here |
 * | two processes, 16 / 64 concurrent | 16 (64) concurrent writes in the child against as many concurrent reads here |
 * | two processes, buffer=100    | the same over a buffered channel                        |
 * | alternation                  | commits/s: a reader alternating over two channels, two writers, one process |
 *
 * pycsp runs the same shapes: threads in one interpreter, two interpreters (with 1 or 16
 * reader and writer processes, i.e. threads), and (on Python 3.9, whose pycsp alternation
 * still runs) the alternation. Each case runs once with a
 * fixed count (bounded; the whole run takes about 20 s).
 *
 * Run: `npm run bench:csp` (or `node dist/bench/csp_bench.js`).
 *
 * @module
 */

import { execFileSync, spawn } from 'node:child_process';
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

async function main(): Promise<void> {
  const rows: [string, number, number][] = [];
  const py3 = fs.existsSync(PYCSP) ? python(null) : null;
  const py39 = fs.existsSync(PYCSP) ? python('3.9.18') : null;
  const py_version = py3 === null ? '' : execFileSync(py3, ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).trim();

  rows.push(['one process, rendezvous/s', await one_process(300000), py3 ? await py_run(py3, ['local', '8000']) : NaN]);
  rows.push(['Promise queue hand-off/s (baseline, Node only)', await promise_queue(300000), NaN]);
  rows.push(['two processes, rendezvous/s', await two_processes(10000, 1, 0), py3 ? await py_two(py3, 4000, 0) : NaN]);
  rows.push(['two processes, 16 concurrent writes and reads, rendezvous/s', await two_processes(30000, 16, 0), py3 ? await py_two(py3, 4000, 0, 16) : NaN]);
  rows.push(['two processes, 64 concurrent writes and reads, rendezvous/s', await two_processes(40000, 64, 0), NaN]);
  rows.push(['two processes, buffer=100, writes/s', await two_processes(10000, 1, 100), py3 ? await py_two(py3, 4000, 100) : NaN]);
  rows.push(['two processes, buffer=100, 16 concurrent writes and reads, writes/s', await two_processes(30000, 16, 100), py3 ? await py_two(py3, 4000, 100, 16) : NaN]);
  rows.push(['alternation (2 channels, 2 writers), commits/s', await alternation(100000), py39 ? await py_run(py39, ['alt', '4000']) : NaN]);
  await shutdown();

  console.log(`\ntrousers/csp (Node ${process.version}) beside pycsp 0.9.2 (Python ${py_version || 'n/a'}; alternation on Python 3.9)\n`);
  console.log('| case | trousers/csp | pycsp | ratio |');
  console.log('|---|---:|---:|---:|');
  for (const [name, node, py] of rows) {
    console.log(`| ${name} | ${fmt(node)} | ${fmt(py)} | ${Number.isFinite(py) ? `${(node / py).toFixed(1)}x` : ''} |`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
