/**
 * Multi-core benchmark: the trousers line server (`bench/servers/trousers_line.ts`) on 1 worker
 * vs 2 workers through {@link run_cluster} (node:cluster sharing one port).
 *
 *     node dist/bench/cluster_bench.js [--rounds=3] [--duration=2] [--warmup=0.3]
 *                                      [--workers=1,2] [--out=bench/cluster_results.md]
 *
 * - this script plays both node:cluster roles: the primary is the benchmark driver, the workers
 *   (the same script, re-run by node:cluster) each serve the line server on 127.0.0.1, port 0
 *   (one shared port);
 * - load: the C load generator `bench/build/loadgen` (compiled from `bench/loadgen.c` with
 *   `gcc -O2` when missing or older than its source), as `bench/run.ts` runs it for the
 *   `line_small` case: `--mode=stream --kind=line --conns=50 --inflight=16 --size=32`;
 * - rounds alternate the order of the worker counts; the report gives medians (min–max);
 * - nothing is pinned: the workers need both cores, and the load generator competes with them
 *   for the same 2 cores. CPU use of the workers, the primary, the load generator and everything
 *   else is measured per run and reported next to the throughput.
 *
 * Writes the markdown report to stdout and to `bench/cluster_results.md`. Every run is bounded
 * (warm-up + duration + a drain, the load generator killed after 30 s more); the default suite
 * takes about 20 s.
 *
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import cluster from 'node:cluster';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run_cluster, type ClusterHandle } from '../lib/cluster/index.js';
import { Server, type InetAddress } from '../lib/index.js';
import { Line } from './servers/trousers_line.js';

const HERE = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const ROOT = path.resolve(HERE, '..', '..');
const BENCH = path.join(ROOT, 'bench');
const BUILD = path.join(BENCH, 'build');
const LOADGEN_SRC = path.join(BENCH, 'loadgen.c');
const LOADGEN = path.join(BUILD, 'loadgen');
const LOAD = ['--mode=stream', '--kind=line', '--conns=50', '--inflight=16', '--size=32', '--max=100000000'];

// ---------------------------------------------------------------------- options

interface Options {
  rounds: number;
  duration: number;
  warmup: number;
  workers: number[];
  out: string;
}

const USAGE = `usage: node dist/bench/cluster_bench.js [options]
  --rounds=N       rounds, each running every worker count once (default 3)
  --duration=S     measured seconds per run (default 2, at most 30)
  --warmup=S       warm-up seconds per run (default 0.3)
  --workers=a,b    worker counts to compare (default 1,2)
  --out=FILE       results file (default bench/cluster_results.md)
`;

function parse_options(argv: string[]): Options {
  const o: Options = { rounds: 3, duration: 2, warmup: 0.3, workers: [1, 2], out: path.join(BENCH, 'cluster_results.md') };
  for (const arg of argv) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? '' : arg.slice(eq + 1);
    const num = (): number => {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${key} needs a positive number`);
      return n;
    };
    switch (key) {
      case '--rounds':
        o.rounds = Math.round(num());
        break;
      case '--duration':
        o.duration = Math.min(num(), 30);
        break;
      case '--warmup':
        o.warmup = Math.min(num(), 5);
        break;
      case '--workers':
        o.workers = value.split(',').map((v) => {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--workers: bad count ${v}`);
          return n;
        });
        break;
      case '--out':
        o.out = path.resolve(value);
        break;
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg}\n${USAGE}`);
    }
  }
  return o;
}

// ---------------------------------------------------------------------- measuring

let CLK_TCK = 100;

/** utime + stime of a process (all its threads), in seconds. */
function proc_cpu(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** The machine's idle + iowait CPU seconds (all cores), from /proc/stat. */
function machine_cpu(): { idle: number } {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { idle: (f[3]! + f[4]!) / CLK_TCK };
  } catch {
    return { idle: NaN };
  }
}

const cpus_count = os.cpus().length;

/**
 * CPU seconds of every user-space process except `exclude` (kernel threads, children of
 * kthreadd, are left out), by pid.
 */
function other_processes(exclude: Set<number>): Map<number, number> {
  const out = new Map<number, number>();
  let names: string[] = [];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (exclude.has(pid) || pid === 2) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === 2) continue; // a kernel thread
      out.set(pid, (Number(f[11]) + Number(f[12])) / CLK_TCK);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU seconds the processes in `after` used since `before` (new processes: all of theirs). */
function cpu_between(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, t] of after) total += t - (before.get(pid) ?? 0);
  return total;
}

/** This process's CPU seconds. */
function own_cpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

type LoadResult = Record<string, unknown> & { ok: boolean; error?: string };

/** Runs the load generator against `port` and returns its JSON line (killed after `max_s`). */
function run_loadgen(port: number, o: Options): Promise<LoadResult> {
  const args = [...LOAD, `--target=127.0.0.1:${port}`, `--duration=${o.duration}`, `--warmup=${o.warmup}`];
  const child = spawn(LOADGEN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    if (err.length < 4096) err += d.toString();
  });
  const max_s = o.warmup + o.duration + 30;
  const timer = setTimeout(() => child.kill('SIGKILL'), max_s * 1000);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as LoadResult);
      } catch {
        const why = signal ? `killed by ${signal} (time limit ${max_s} s)` : `exit ${code}`;
        resolve({ ok: false, error: `loadgen ${why}: ${(line || err).trim().slice(0, 300)}` });
      }
    });
  });
}

interface Run {
  round: number;
  workers: number;
  ok: boolean;
  error?: string;
  msgs_per_s: number;
  p99_us: number;
  /** Sum over the workers, % of one core. */
  server_cpu_pct: number;
  per_worker_cpu_pct: number[];
  primary_cpu_pct: number;
  /** The load generator's CPU time over its whole run (the same period as the others). */
  loadgen_cpu_pct: number;
  /** Other user-space processes, % of one core. */
  other_cpu_pct: number;
  /** Non-idle time charged to none of the above (kernel interrupt / softirq work, processes that exited meanwhile), % of one core. */
  kernel_cpu_pct: number;
  /** Idle (and iowait) time of the machine, % of one core. */
  idle_pct: number;
  /** Worker CPU time per message, µs. */
  server_us_per_msg: number;
}

async function run_one(workers: number, round: number, o: Options): Promise<Run> {
  const handle = (await run_cluster({
    workers,
    start_timeout: 15000,
    stop_timeout: 2000,
  })) as ClusterHandle;
  try {
    const port = (handle.address as InetAddress).port;
    const pids = handle.workers.map((w) => w.process.pid!);
    const cpu0 = pids.map(proc_cpu);
    const own0 = own_cpu();
    const m0 = machine_cpu();
    const ours = new Set([process.pid, ...pids]);
    const others0 = other_processes(ours);
    const t0 = performance.now();
    const r = await run_loadgen(port, o);
    const wall = (performance.now() - t0) / 1000;
    const per = pids.map((pid, i) => ((proc_cpu(pid) - cpu0[i]!) / wall) * 100);
    const server_s = (per.reduce((a, b) => a + b, 0) * wall) / 100;
    const primary_s = own_cpu() - own0;
    const loadgen_s = typeof r['loadgen_cpu_s'] === 'number' ? r['loadgen_cpu_s'] : NaN;
    const m1 = machine_cpu();
    // The load generator has exited by now, so it is not among them.
    const others_s = cpu_between(others0, other_processes(ours));
    // Whatever ran besides the cluster and the load generator: the machine's non-idle time minus
    // theirs (task times already include softirq work done in their context).
    const used_s = cpus_count * wall - (m1.idle - m0.idle);
    const kernel = ((used_s - server_s - primary_s - loadgen_s - others_s) / wall) * 100;
    const msgs = Number(r['msgs_per_s']);
    const messages = Number(r['total_messages']);
    return {
      round,
      workers,
      ok: r.ok,
      ...(r.error !== undefined ? { error: r.error } : {}),
      msgs_per_s: msgs,
      p99_us: Number(r['p99_us']),
      server_cpu_pct: (server_s / wall) * 100,
      per_worker_cpu_pct: per,
      primary_cpu_pct: (primary_s / wall) * 100,
      loadgen_cpu_pct: (loadgen_s / wall) * 100,
      other_cpu_pct: Math.max(0, (others_s / wall) * 100),
      kernel_cpu_pct: Math.max(0, kernel),
      idle_pct: ((m1.idle - m0.idle) / wall) * 100,
      server_us_per_msg: (server_s / messages) * 1e6,
    };
  } finally {
    const exits = await handle.stop();
    const unclean = exits.filter((e) => e.reason !== 'stopped' || e.code !== 0);
    if (unclean.length) process.stderr.write(`cluster_bench: unclean worker exits: ${JSON.stringify(unclean)}\n`);
  }
}

// ---------------------------------------------------------------------- report

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function si(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (v >= 999.5e3) return `${(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e4) return `${(v / 1e3).toPrecision(3)}k`;
  return v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

function report(runs: Run[], o: Options, elapsed: number): string {
  const cpus = os.cpus();
  const lines: string[] = [];
  lines.push('# trousers on several cores (node:cluster)', '');
  lines.push('Generated by `node dist/bench/cluster_bench.js` (`bench/cluster_bench.ts`); do not edit by hand.', '');
  lines.push(
    `- ${new Date().toISOString()}; ${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown'}; ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM; Node ${process.version}; Linux ${os.release()}`,
    `- server: \`bench/servers/trousers_line.ts\` (\`read_delimiter = '\\r\\n'\`, each line answered with itself) in N workers via \`run_cluster\` (node:cluster, scheduling policy ${cluster.schedulingPolicy === cluster.SCHED_RR ? 'round-robin: the primary accepts and hands connections out' : 'none: the kernel distributes accepts'}), 127.0.0.1, one shared port`,
    `- load: \`bench/build/loadgen ${LOAD.join(' ')} --duration=${o.duration} --warmup=${o.warmup}\` (C, one thread, epoll; checks every reply byte)`,
    `- ${o.rounds} round(s), worker counts alternated; median (min–max); nothing pinned; suite time ${elapsed.toFixed(0)} s`,
    '',
  );
  const counts = o.workers;
  const head = ['workers', 'messages/s ↑', 'p99 round trip (µs) ↓', 'workers CPU % (each)', 'primary CPU %', 'loadgen CPU %', 'other processes CPU %', 'unattributed CPU %', 'idle %', 'worker CPU µs / message'];
  lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  const med = new Map<number, number>();
  for (const n of counts) {
    const mine = runs.filter((r) => r.workers === n && r.ok && Number.isFinite(r.msgs_per_s));
    const failed = runs.filter((r) => r.workers === n && !r.ok).length;
    if (mine.length === 0) {
      lines.push(`| ${n} | FAIL (${failed}) | | | | | | | | |`);
      continue;
    }
    const m = (f: (r: Run) => number): number => median(mine.map(f));
    const mps = mine.map((r) => r.msgs_per_s);
    med.set(n, m((r) => r.msgs_per_s));
    const each = Array.from({ length: n }, (_, i) => m((r) => r.per_worker_cpu_pct[i] ?? NaN).toFixed(0)).join(' + ');
    lines.push(
      `| ${n} | ${si(m((r) => r.msgs_per_s))} (${si(Math.min(...mps))}–${si(Math.max(...mps))})${failed ? ` [${failed} failed]` : ''} | ${m((r) => r.p99_us).toFixed(0)} | ${m((r) => r.server_cpu_pct).toFixed(0)} (${each}) | ${m((r) => r.primary_cpu_pct).toFixed(1)} | ${m((r) => r.loadgen_cpu_pct).toFixed(0)} | ${m((r) => r.other_cpu_pct).toFixed(0)} | ${m((r) => r.kernel_cpu_pct).toFixed(0)} | ${m((r) => r.idle_pct).toFixed(0)} | ${m((r) => r.server_us_per_msg).toFixed(2)} |`,
    );
  }
  lines.push('');
  const base = med.get(counts[0]!);
  for (const n of counts.slice(1)) {
    const v = med.get(n);
    if (base !== undefined && v !== undefined) lines.push(`Speed-up, ${n} workers over ${counts[0]}: **${(v / base).toFixed(2)}×** (medians).`, '');
  }
  lines.push(
    '## What the numbers mean',
    '',
    `CPU columns are % of one core over the load generator's run (the machine has ${cpus.length} cores, so at most ${cpus.length * 100} % in all): each worker process (from /proc/PID/stat), the cluster primary (this benchmark process: it also accepts the 50 connections and hands them to the workers, then idles), the load generator (its own getrusage), other user-space processes (/proc/PID/stat of every process, kernel threads left out), unattributed time (the machine's non-idle time in /proc/stat minus all of the above: mostly kernel interrupt and softirq network processing, plus processes that exited during the run) and the idle time left. All over the same period, the load generator's whole run (connect, warm-up, measurement, drain), so the columns add up to about ${cpus.length * 100} % (clock ticks, rounding).`,
    '',
    'The load generator runs on the same cores as the workers: every message costs CPU on both sides, and on loopback the sender also pays for much of the receiving side of the TCP stack (kernel time). One worker is one JavaScript thread: at about 100 % of a core it is the limit, and the rest of the machine is the load generator, the kernel and idle time. With two workers, three busy processes (plus the kernel\'s network work) share two cores, so the workers cannot get two full cores: the speed-up here is a lower bound of what a second core gives a server whose clients are elsewhere. A fair test of N workers needs N cores for the server and the client load on other cores or another machine.',
    '',
  );
  const summary = (n: number): string | null => {
    const mine = runs.filter((r) => r.workers === n && r.ok);
    if (mine.length === 0) return null;
    const m = (f: (r: Run) => number): string => median(mine.map(f)).toFixed(0);
    return `${n} worker(s): workers ${m((r) => r.server_cpu_pct)} %, load generator ${m((r) => r.loadgen_cpu_pct)} %, other processes ${m((r) => r.other_cpu_pct)} %, unattributed ${m((r) => r.kernel_cpu_pct)} %, idle ${m((r) => r.idle_pct)} % (of ${cpus.length * 100} %)`;
  };
  const parts = counts.map(summary).filter((x): x is string => x !== null);
  if (parts.length) lines.push(`In this run (medians): ${parts.join('; ')}. The worker CPU per message shows whether running several workers costs extra per message (node:cluster hands each connection over once, so it should not).`, '');
  const noisy = runs.filter((r) => r.other_cpu_pct > 15);
  if (noisy.length) {
    lines.push(`⚠ Other processes used more than 15 % of a core during ${noisy.length} of ${runs.length} runs (up to ${Math.max(...noisy.map((r) => r.other_cpu_pct)).toFixed(0)} %): with only ${cpus.length} cores, those runs are slowed by whatever else ran; rerun on a quiet machine.`, '');
  }
  const failures = runs.filter((r) => !r.ok);
  if (failures.length) {
    lines.push('## Failures', '');
    for (const f of failures) lines.push(`- round ${f.round}, ${f.workers} worker(s): ${f.error ?? 'failed'}`);
    lines.push('');
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------- main

function ensure_loadgen(): void {
  fs.mkdirSync(BUILD, { recursive: true });
  const fresh = fs.existsSync(LOADGEN) && fs.statSync(LOADGEN).mtimeMs >= fs.statSync(LOADGEN_SRC).mtimeMs;
  if (fresh) return;
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-o', LOADGEN, LOADGEN_SRC], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`gcc failed: ${cc.error?.message ?? ''}${cc.stderr}`);
}

async function main(): Promise<void> {
  const t_start = performance.now();
  const o = parse_options(process.argv.slice(2));
  CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
  ensure_loadgen();
  const runs: Run[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    const order = round % 2 === 1 ? o.workers : [...o.workers].reverse();
    for (const n of order) {
      const r = await run_one(n, round, o);
      runs.push(r);
      process.stderr.write(
        `[${round}/${o.rounds}] ${n} worker(s): ${r.ok ? `${si(r.msgs_per_s)} msg/s, p99 ${r.p99_us.toFixed(0)} µs; CPU: workers ${r.per_worker_cpu_pct.map((c) => c.toFixed(0)).join('+')} %, primary ${r.primary_cpu_pct.toFixed(1)} %, loadgen ${r.loadgen_cpu_pct.toFixed(0)} %, other processes ${r.other_cpu_pct.toFixed(0)} %, unattributed ${r.kernel_cpu_pct.toFixed(0)} %, idle ${r.idle_pct.toFixed(0)} %` : `FAILED: ${r.error}`}\n`,
      );
    }
  }
  const md = report(runs, o, (performance.now() - t_start) / 1000);
  fs.writeFileSync(o.out, md);
  process.stdout.write(md);
  process.stderr.write(`cluster_bench: wrote ${path.relative(process.cwd(), o.out) || o.out}\n`);
  if (runs.some((r) => !r.ok)) process.exitCode = 1;
}

if (cluster.isPrimary) {
  main().catch((err: unknown) => {
    process.stderr.write(`cluster_bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  });
} else {
  // A worker: serve the line server until the primary stops us.
  void run_cluster({ start: () => new Server(Line).listen(['127.0.0.1', 0]) });
}
