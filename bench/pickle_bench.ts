/**
 * trousers/pickle speed: `loads` and `dumps` beside Python's C `pickle` on the same bytes, and
 * beside `v8.serialize`/`v8.deserialize` and `JSON` (+ UTF-8) on the same data in Node.
 *
 * | case  | data                                                                        |
 * |-------|-----------------------------------------------------------------------------|
 * | small | 2000 messages of a few fields (a dict of an int, str, list, bool, tuple)    |
 * | large | one nested message: a dict holding 20000 dicts of 6 fields (about 1.3 MB)   |
 *
 * Every figure is the best of `--rounds` (default 12) rounds of about `--seconds` (default
 * 0.15) each: the best, not the mean, because the machine may be shared. The rounds are
 * interleaved: each round times every codec and case once, Python's included, so that all
 * the figures compared in a ratio were taken under the same load (timing Python first and
 * Node after, a change of load in between showed as a change of ratio of up to 2x; many
 * short rounds give each side more chances at a quiet moment than a few long ones). Pickles
 * are protocol 2 (the codec's default; what PyCSP and Python 2 use). Python runs as child
 * processes serving rounds on request, on a file of the pickles Node wrote, under both
 * `/usr/bin/python3` and the `python3` on PATH (pyenv) when they differ; the faster one is the
 * reference.
 *
 * Run: `npm run bench:pickle` (or `node dist/bench/pickle_bench.js [--seconds=0.15] [--rounds=12]`);
 * about 40 s with the defaults.
 * Prints a markdown table and the ratios the issue asks for:
 * - loads / Python's C pickle.loads (target >= 0.5),
 * - dumps / (JSON.stringify + UTF-8 encoding) of the same data (target >= 1).
 *
 * @module
 */

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as v8 from 'node:v8';
import { dumps, loads, tuple } from '../lib/pickle/index.js';

const PEER = fileURLToPath(new URL('../../bench/pickle_bench_peer.py', import.meta.url));
const arg = (name: string, fallback: number): number => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : fallback;
};
const SECONDS = Math.min(3, Math.max(0.05, arg('seconds', 0.15)));
const ROUNDS = Math.min(40, Math.max(1, Math.floor(arg('rounds', 12))));

// ------------------------------------------------------------------ data

function small_messages(): { py: Map<string, unknown>[]; plain: Record<string, unknown>[] } {
  const py: Map<string, unknown>[] = [];
  const plain: Record<string, unknown>[] = [];
  for (let i = 0; i < 2000; i++) {
    py.push(new Map<string, unknown>([['id', i], ['method', 'update'], ['params', [i, `name-${i}`, i + 0.5]], ['ok', i % 3 === 0], ['tags', tuple('a', 'b')]]));
    plain.push({ id: i, method: 'update', params: [i, `name-${i}`, i + 0.5], ok: i % 3 === 0, tags: ['a', 'b'] });
  }
  return { py, plain };
}

function large_message(): { py: Map<string, unknown>; plain: Record<string, unknown> } {
  const items_py: Map<string, unknown>[] = [];
  const items_plain: Record<string, unknown>[] = [];
  for (let i = 0; i < 20000; i++) {
    const fields = { id: i, name: `item-${i}`, price: i * 0.25 + 0.1, tags: ['x', 'y'], active: i % 2 === 0, children: [i, i + 1] };
    items_py.push(new Map(Object.entries(fields)));
    items_plain.push(fields);
  }
  return {
    py: new Map<string, unknown>([['kind', 'inventory'], ['version', 3], ['items', items_py]]),
    plain: { kind: 'inventory', version: 3, items: items_plain },
  };
}

// ------------------------------------------------------------------ timing

/** Items per second over one round of about SECONDS. */
function one_round(items: number, fn: () => void): number {
  let done = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    fn();
    done += items;
    elapsed = (performance.now() - start) / 1000;
  } while (elapsed < SECONDS);
  return done / elapsed;
}

/** One thing timed: its best rate over the rounds. */
interface Task {
  round: () => number | Promise<number>;
  best: number;
}

interface Row {
  what: string;
  small: number; // objects per second
  small_mb: number; // MB/s of the format's own bytes
  large: number;
  large_mb: number;
}

interface CaseInfo { count: number; bytes: number; dumps_bytes: number }
interface PyInfo { version: string; executable: string; small: CaseInfo; large: CaseInfo }

/** A Python peer serving rounds (bench/pickle_bench_peer.py). */
class PyPeer {
  private readonly lines: string[] = [];
  private waiting: ((line: string | null) => void) | null = null;
  private ended = false;

  constructor(readonly exe: string, private readonly child: ChildProcessWithoutNullStreams) {
    const rl = readline.createInterface({ input: child.stdout });
    rl.on('line', (line) => this.push(line));
    rl.on('close', () => {
      this.ended = true;
      this.push(null);
    });
    child.stderr.resume();
    child.on('error', () => {
      this.ended = true;
      this.push(null);
    });
  }

  private push(line: string | null): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w(line);
    } else if (line !== null) {
      this.lines.push(line);
    }
  }

  /** The next line the peer prints; throws when it ends or is silent for 60 s. */
  async next(): Promise<string> {
    const ready = this.lines.shift();
    if (ready !== undefined) return ready;
    if (this.ended) throw new Error(`${this.exe}: the peer ended`);
    const line = await new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 60000);
      this.waiting = (l) => {
        clearTimeout(timer);
        resolve(l);
      };
    });
    if (line === null) throw new Error(`${this.exe}: the peer ended or went silent`);
    return line;
  }

  async round(request: string): Promise<number> {
    this.child.stdin.write(`${request}\n`);
    return Number(await this.next());
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill(), 5000);
    await exited;
    clearTimeout(timer);
  }
}

async function start_python(exe: string, file: string): Promise<{ peer: PyPeer; info: PyInfo } | string> {
  const child = spawn(exe, [PEER, file, String(SECONDS)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const peer = new PyPeer(exe, child);
  try {
    return { peer, info: JSON.parse(await peer.next()) as PyInfo };
  } catch (err) {
    await peer.close();
    return `${exe}: ${(err as Error).message}`;
  }
}

async function main(): Promise<void> {
  const small = small_messages();
  const large = large_message();
  const small_pickles = small.py.map((m) => dumps(m));
  const large_pickle = dumps(large.py);
  const sum = (bufs: Uint8Array[]): number => bufs.reduce((n, b) => n + b.length, 0);
  const small_bytes = sum(small_pickles);
  const MB = 1e6;

  // the Python peers, on a file of the same bytes
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pickle-bench-'));
  const file = path.join(dir, 'pickles.bin');
  const frames: Buffer[] = [];
  for (const p of [dumps(small_pickles.length), ...small_pickles, large_pickle]) {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(p.length);
    frames.push(h, p);
  }
  fs.writeFileSync(file, Buffer.concat(frames));
  const peers: { peer: PyPeer; info: PyInfo }[] = [];
  const py_notes: string[] = [];
  try {
    const seen_exe = new Set<string>();
    for (const exe of [...new Set(['/usr/bin/python3', 'python3'])]) {
      const r = await start_python(exe, file);
      if (typeof r === 'string') py_notes.push(r);
      else if (seen_exe.has(r.info.executable)) await r.peer.close();
      else {
        seen_exe.add(r.info.executable);
        peers.push(r);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  try {
    await run(peers, py_notes, { small, large, small_pickles, large_pickle, small_bytes, sum, MB });
  } finally {
    for (const p of peers) await p.peer.close();
  }
}

interface Data {
  small: ReturnType<typeof small_messages>;
  large: ReturnType<typeof large_message>;
  small_pickles: Buffer[];
  large_pickle: Buffer;
  small_bytes: number;
  sum: (bufs: Uint8Array[]) => number;
  MB: number;
}

async function run(peers: { peer: PyPeer; info: PyInfo }[], py_notes: string[], d: Data): Promise<void> {
  const { small, large, small_pickles, large_pickle, small_bytes, sum, MB } = d;
  const tasks: Task[] = [];
  const node = (items: number, fn: () => void): Task => {
    fn(); // warm up
    const t: Task = { round: () => one_round(items, fn), best: 0 };
    tasks.push(t);
    return t;
  };
  const py = (peer: PyPeer, request: string): Task => {
    const t: Task = { round: () => peer.round(request), best: 0 };
    tasks.push(t);
    return t;
  };
  const pair = (items: number, fn_small: () => void, fn_large: () => void): [Task, Task] => [node(items, fn_small), node(1, fn_large)];

  const p_loads = pair(small_pickles.length, () => {
    for (const p of small_pickles) loads(p);
  }, () => loads(large_pickle));
  const p_dumps = pair(small.py.length, () => {
    for (const m of small.py) dumps(m);
  }, () => dumps(large.py));
  const small_json = small.plain.map((o) => Buffer.from(JSON.stringify(o), 'utf8'));
  const large_json = Buffer.from(JSON.stringify(large.plain), 'utf8');
  const j_parse = pair(small_json.length, () => {
    for (const b of small_json) JSON.parse(b.toString('utf8'));
  }, () => JSON.parse(large_json.toString('utf8')));
  const j_stringify = pair(small.plain.length, () => {
    for (const o of small.plain) Buffer.from(JSON.stringify(o), 'utf8');
  }, () => Buffer.from(JSON.stringify(large.plain), 'utf8'));
  const small_v8 = small.py.map((m) => v8.serialize(m));
  const large_v8 = v8.serialize(large.py);
  const v_deser = pair(small_v8.length, () => {
    for (const b of small_v8) v8.deserialize(b);
  }, () => v8.deserialize(large_v8));
  const v_ser = pair(small.py.length, () => {
    for (const m of small.py) v8.serialize(m);
  }, () => v8.serialize(large.py));
  const py_tasks = peers.map(({ peer }) => ({
    loads: [py(peer, 'small loads'), py(peer, 'large loads')] as [Task, Task],
    dumps: [py(peer, 'small dumps'), py(peer, 'large dumps')] as [Task, Task],
  }));

  // interleaved rounds: every task once per round
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of tasks) t.best = Math.max(t.best, await t.round());
  }

  const rows: Row[] = [];
  const add = (what: string, [s, l]: [Task, Task], s_bytes: number, l_bytes: number): Row => {
    const row = { what, small: s.best, small_mb: (s.best * s_bytes) / small.py.length / MB, large: l.best, large_mb: (l.best * l_bytes) / MB };
    rows.push(row);
    return row;
  };
  const r_loads = add('trousers loads (pickle)', p_loads, small_bytes, large_pickle.length);
  const r_dumps = add('trousers dumps (pickle)', p_dumps, small_bytes, large_pickle.length);
  const r_parse = add('JSON.parse(utf8)', j_parse, sum(small_json), large_json.length);
  const r_stringify = add('JSON.stringify + utf8', j_stringify, sum(small_json), large_json.length);
  add('v8.deserialize', v_deser, sum(small_v8), large_v8.length);
  add('v8.serialize', v_ser, sum(small_v8), large_v8.length);
  const py_rows = peers.map(({ info }, i) => ({
    loads: add(`Python ${info.version} pickle.loads (${info.executable})`, py_tasks[i]!.loads, info.small.bytes, info.large.bytes),
    dumps: add(`Python ${info.version} pickle.dumps(protocol=2)`, py_tasks[i]!.dumps, info.small.dumps_bytes, info.large.dumps_bytes),
  }));

  const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
  console.log(`Node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}; best of ${ROUNDS} interleaved rounds of ${SECONDS} s`);
  console.log(`small: ${small.py.length} messages, ${(small_bytes / small.py.length).toFixed(0)} B each as pickle; large: one message, ${(large_pickle.length / MB).toFixed(2)} MB as pickle\n`);
  console.log('| codec | small msgs/s | small MB/s | large msgs/s | large MB/s |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.what} | ${fmt(r.small)} | ${fmt(r.small_mb)} | ${fmt(r.large)} | ${fmt(r.large_mb)} |`);
  for (const n of py_notes) console.log(`\n(Python not measured: ${n})`);

  console.log('\nRatios (same data, messages per second):');
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
  if (py_rows.length > 0) {
    const best = (pick: (r: (typeof py_rows)[number]) => number): number => Math.max(...py_rows.map(pick));
    console.log(`- loads / fastest Python pickle.loads: small ${ratio(r_loads.small, best((r) => r.loads.small))}, large ${ratio(r_loads.large, best((r) => r.loads.large))} (target >= 0.5x)`);
    console.log(`- dumps / fastest Python pickle.dumps: small ${ratio(r_dumps.small, best((r) => r.dumps.small))}, large ${ratio(r_dumps.large, best((r) => r.dumps.large))}`);
  }
  console.log(`- dumps / (JSON.stringify + utf8): small ${ratio(r_dumps.small, r_stringify.small)}, large ${ratio(r_dumps.large, r_stringify.large)} (target >= 1x)`);
  console.log(`- loads / JSON.parse: small ${ratio(r_loads.small, r_parse.small)}, large ${ratio(r_loads.large, r_parse.large)}`);
}

await main();
