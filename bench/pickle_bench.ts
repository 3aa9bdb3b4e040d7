/**
 * trousers/pickle speed: `loads` and `dumps` beside Python's C `pickle` on the same bytes, and
 * beside `v8.serialize`/`v8.deserialize` and `JSON` (+ UTF-8) on the same data in Node.
 *
 * | case  | data                                                                        |
 * |-------|-----------------------------------------------------------------------------|
 * | small | 2000 messages of a few fields (a dict of an int, str, list, bool, tuple)    |
 * | large | one nested message: a dict holding 20000 dicts of 6 fields (about 1.3 MB)   |
 *
 * Every figure is the best of `--rounds` (default 5) rounds of about `--seconds` (default 0.3)
 * each: the best, not the mean, because the machine may be shared. Pickles are
 * protocol 2 (the codec's default; what PyCSP and Python 2 use). Python runs as a child
 * process on a file of the pickles Node wrote, under both `/usr/bin/python3` and the `python3`
 * on PATH (pyenv) when they differ; the faster one is the reference.
 *
 * Run: `npm run bench:pickle` (or `node dist/bench/pickle_bench.js [--seconds=0.3] [--rounds=5]`);
 * about 35 s with the defaults.
 * Prints a markdown table and the ratios the issue asks for:
 * - loads / Python's C pickle.loads (target >= 0.5),
 * - dumps / (JSON.stringify + UTF-8 encoding) of the same data (target >= 1).
 *
 * @module
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as v8 from 'node:v8';
import { dumps, loads, tuple } from '../lib/pickle/index.js';

const PEER = fileURLToPath(new URL('../../bench/pickle_bench_peer.py', import.meta.url));
const arg = (name: string, fallback: number): number => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : fallback;
};
const SECONDS = Math.min(3, Math.max(0.05, arg('seconds', 0.3)));
const ROUNDS = Math.min(20, Math.max(1, Math.floor(arg('rounds', 5))));

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

/** Items per second: best of ROUNDS rounds of about SECONDS each. */
function rate(items: number, fn: () => void): number {
  let best = 0;
  fn(); // warm up
  for (let round = 0; round < ROUNDS; round++) {
    let done = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      fn();
      done += items;
      elapsed = (performance.now() - start) / 1000;
    } while (elapsed < SECONDS);
    best = Math.max(best, done / elapsed);
  }
  return best;
}

interface Row {
  what: string;
  small: number; // objects per second
  small_mb: number; // MB/s of the format's own bytes
  large: number;
  large_mb: number;
}

interface PyResult {
  version: string;
  executable: string;
  small: { count: number; bytes: number; loads_per_s: number; dumps_per_s: number; dumps_bytes: number };
  large: { count: number; bytes: number; loads_per_s: number; dumps_per_s: number; dumps_bytes: number };
}

function run_python(exe: string, file: string): PyResult | string {
  const r = spawnSync(exe, [PEER, file, String(SECONDS), String(ROUNDS)], { encoding: 'utf8', timeout: 120000 });
  if (r.error) return `${exe}: ${r.error.message}`;
  if (r.status !== 0) return `${exe}: exit ${r.status}: ${r.stderr.slice(-500)}`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as PyResult;
}

function main(): void {
  const small = small_messages();
  const large = large_message();
  const small_pickles = small.py.map((m) => dumps(m));
  const large_pickle = dumps(large.py);
  const sum = (bufs: Uint8Array[]): number => bufs.reduce((n, b) => n + b.length, 0);
  const small_bytes = sum(small_pickles);
  const MB = 1e6;

  // Python first, on a file of the same bytes
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pickle-bench-')), 'pickles.bin');
  const frames: Buffer[] = [];
  for (const p of [dumps(small_pickles.length), ...small_pickles, large_pickle]) {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(p.length);
    frames.push(h, p);
  }
  fs.writeFileSync(file, Buffer.concat(frames));
  const candidates = [...new Set(['/usr/bin/python3', 'python3'])];
  const py_results: PyResult[] = [];
  const py_notes: string[] = [];
  const seen_exe = new Set<string>();
  for (const exe of candidates) {
    const r = run_python(exe, file);
    if (typeof r === 'string') py_notes.push(r);
    else if (!seen_exe.has(r.executable)) {
      seen_exe.add(r.executable);
      py_results.push(r);
    }
  }
  fs.rmSync(path.dirname(file), { recursive: true, force: true });

  const rows: Row[] = [];
  const add = (what: string, s: number, s_bytes: number, l: number, l_bytes: number): Row => {
    const row = { what, small: s, small_mb: (s * s_bytes) / small.py.length / MB, large: l, large_mb: (l * l_bytes) / MB };
    rows.push(row);
    return row;
  };

  const p_loads = add('trousers loads (pickle)', rate(small_pickles.length, () => {
    for (const p of small_pickles) loads(p);
  }), small_bytes, rate(1, () => loads(large_pickle)), large_pickle.length);
  const p_dumps = add('trousers dumps (pickle)', rate(small.py.length, () => {
    for (const m of small.py) dumps(m);
  }), small_bytes, rate(1, () => dumps(large.py)), large_pickle.length);

  const small_json = small.plain.map((o) => Buffer.from(JSON.stringify(o), 'utf8'));
  const large_json = Buffer.from(JSON.stringify(large.plain), 'utf8');
  const j_parse = add('JSON.parse(utf8)', rate(small_json.length, () => {
    for (const b of small_json) JSON.parse(b.toString('utf8'));
  }), sum(small_json), rate(1, () => JSON.parse(large_json.toString('utf8'))), large_json.length);
  const j_stringify = add('JSON.stringify + utf8', rate(small.plain.length, () => {
    for (const o of small.plain) Buffer.from(JSON.stringify(o), 'utf8');
  }), sum(small_json), rate(1, () => Buffer.from(JSON.stringify(large.plain), 'utf8')), large_json.length);

  const small_v8 = small.py.map((m) => v8.serialize(m));
  const large_v8 = v8.serialize(large.py);
  add('v8.deserialize', rate(small_v8.length, () => {
    for (const b of small_v8) v8.deserialize(b);
  }), sum(small_v8), rate(1, () => v8.deserialize(large_v8)), large_v8.length);
  add('v8.serialize', rate(small.py.length, () => {
    for (const m of small.py) v8.serialize(m);
  }), sum(small_v8), rate(1, () => v8.serialize(large.py)), large_v8.length);

  for (const r of py_results) {
    add(`Python ${r.version} pickle.loads (${r.executable})`, r.small.loads_per_s, r.small.bytes, r.large.loads_per_s, r.large.bytes);
    add(`Python ${r.version} pickle.dumps(protocol=2)`, r.small.dumps_per_s, r.small.dumps_bytes, r.large.dumps_per_s, r.large.dumps_bytes);
  }

  const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
  console.log(`Node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}; best of ${ROUNDS} rounds of ${SECONDS} s`);
  console.log(`small: ${small.py.length} messages, ${(small_bytes / small.py.length).toFixed(0)} B each as pickle; large: one message, ${(large_pickle.length / MB).toFixed(2)} MB as pickle\n`);
  console.log('| codec | small msgs/s | small MB/s | large msgs/s | large MB/s |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.what} | ${fmt(r.small)} | ${fmt(r.small_mb)} | ${fmt(r.large)} | ${fmt(r.large_mb)} |`);
  for (const n of py_notes) console.log(`\n(Python not measured: ${n})`);

  console.log('\nRatios (same data, messages per second):');
  const best_py = py_results.length === 0 ? null : {
    loads_small: Math.max(...py_results.map((r) => r.small.loads_per_s)),
    loads_large: Math.max(...py_results.map((r) => r.large.loads_per_s)),
    dumps_small: Math.max(...py_results.map((r) => r.small.dumps_per_s)),
    dumps_large: Math.max(...py_results.map((r) => r.large.dumps_per_s)),
  };
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
  if (best_py) {
    console.log(`- loads / fastest Python pickle.loads: small ${ratio(p_loads.small, best_py.loads_small)}, large ${ratio(p_loads.large, best_py.loads_large)} (target >= 0.5x)`);
    console.log(`- dumps / fastest Python pickle.dumps: small ${ratio(p_dumps.small, best_py.dumps_small)}, large ${ratio(p_dumps.large, best_py.dumps_large)}`);
  }
  console.log(`- dumps / (JSON.stringify + utf8): small ${ratio(p_dumps.small, j_stringify.small)}, large ${ratio(p_dumps.large, j_stringify.large)} (target >= 1x)`);
  console.log(`- loads / JSON.parse: small ${ratio(p_loads.small, j_parse.small)}, large ${ratio(p_loads.large, j_parse.large)}`);
}

main();
