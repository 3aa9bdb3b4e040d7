/**
 * Framer micro-benchmark: the cost of cutting frames out of a byte stream, with no sockets.
 *
 *     node dist/bench/framer_bench.js [--out=bench/framer_results.md]
 *
 * Drives {@link Framer} directly, the way a stream does: `feed(chunk)`, then
 * `next(delimiter, true, false)` until it returns `NO_FRAME`, after every chunk.
 *
 * Cases:
 * - throughput: 32-byte lines (30 bytes + "\r\n") and 32-byte length-prefixed frames (a
 *   `Struct('!I')` header, then an integer delimiter for the payload) fed in 64 KiB chunks;
 * - scaling: one long frame (a line, an integer-delimited payload, a `Struct` header +
 *   payload) of 64 KiB, 256 KiB and 1 MiB arriving 1 byte, 16 bytes and 512 bytes at a time
 *   (the smallest chunk the framer keeps by reference instead of copying; 16 and 512 also at
 *   4 MiB). The time
 *   must grow linearly with the size: `time ×` (time / time of the smallest size) next to
 *   `size ×`, and their quotient `per-byte ×` (1.0 = linear).
 *
 * Each cell is the median of 5 timed runs after one untimed warm-up run. Every run checks its
 * frames (count and length), and a separate untimed pass counts how many frames were copies
 * rather than views of the fed chunks. The whole benchmark takes well under 20 s.
 *
 * Writes the markdown report to stdout and to `bench/framer_results.md`.
 *
 * @module
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Framer, NO_FRAME } from '../lib/engine/framing.js';
import { compile_delimiter, type CompiledDelimiter } from '../lib/engine/delimiter.js';
import { Struct } from '../lib/engine/struct.js';

const HERE = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const ROOT = path.resolve(HERE, '..', '..');
const RUNS = 5;
const KiB = 1024;
const MiB = 1024 * KiB;
/** Hard cap on the whole benchmark: later cases are skipped (and reported) past it. */
const BUDGET_MS = 18000;

// ------------------------------------------------------------------ inputs

/** 256 one-byte buffers, one per byte value: 1-byte feeds without a Buffer per byte. */
const ONE_BYTE: Buffer[] = Array.from({ length: 256 }, (_, b) => Buffer.from([b]));

/** `n` bytes of a pattern that contains neither '\r' nor '\n'. */
function filler(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = 0x41 + (i % 26);
  return b;
}

/** Splits `data` into `step`-byte views (the last may be shorter); 1-byte steps use {@link ONE_BYTE}. */
function split(data: Buffer, step: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += step) out.push(step === 1 ? ONE_BYTE[data[i]!]! : data.subarray(i, i + step));
  return out;
}

// ------------------------------------------------------------------ cases

/** One prepared run: `run()` feeds everything and returns the frames it got, for checking. */
interface Prepared {
  /** Bytes fed (what MB/s is computed from). */
  bytes: number;
  /** Feeds every chunk and drains; returns [frames, payload bytes framed]. */
  run(): [number, number];
  /** What `run()` must return. */
  expect: [number, number];
  /** Untimed: frames that are not views of a fed chunk (i.e. were copied). */
  copies(): number;
}

interface Case {
  name: string;
  /** The sizes of the table rows; the first is the reference for `size ×` / `time ×`. */
  sizes: number[];
  prepare(size: number): Prepared;
}

/** Drains `framer` with `delim`; returns [frames, bytes]. */
function drain(framer: Framer, delim: CompiledDelimiter): [number, number] {
  let frames = 0;
  let bytes = 0;
  for (;;) {
    const f = framer.next(delim, true, false);
    if (f === NO_FRAME) return [frames, bytes];
    frames++;
    bytes += (f as Buffer).length;
  }
}

/** Counts frames that do not share memory with any fed chunk. */
function count_copies(chunks: Buffer[], delim: CompiledDelimiter): number {
  const sources = new Set(chunks.map((c) => c.buffer));
  const framer = new Framer();
  let copies = 0;
  for (const c of chunks) {
    framer.feed(c);
    for (let f = framer.next(delim, true, false); f !== NO_FRAME; f = framer.next(delim, true, false)) {
      if (!sources.has((f as Buffer).buffer)) copies++;
    }
  }
  return copies;
}

/** A stream of delimited or integer frames, fed as `chunks` (the same chunk list `repeat` times). */
function simple_case(chunks: Buffer[], repeat: number, delim: CompiledDelimiter, expect: [number, number]): Prepared {
  const bytes = chunks.reduce((n, c) => n + c.length, 0) * repeat;
  return {
    bytes,
    expect,
    run() {
      const framer = new Framer();
      let frames = 0;
      let framed = 0;
      for (let r = 0; r < repeat; r++) {
        for (let i = 0; i < chunks.length; i++) {
          framer.feed(chunks[i]!);
          const [f, b] = drain(framer, delim);
          frames += f;
          framed += b;
        }
      }
      return [frames, framed];
    },
    copies: () => count_copies(chunks, delim) * repeat,
  };
}

/**
 * Length-prefixed frames: a `Struct('!I')` header read with the Struct delimiter, then the
 * payload with an integer delimiter, then the header again (what a frame protocol does).
 */
function struct_case(chunks: Buffer[], repeat: number, expect: [number, number]): Prepared {
  const header = compile_delimiter(new Struct('!I'));
  const bytes = chunks.reduce((n, c) => n + c.length, 0) * repeat;
  const pump = (framer: Framer, state: { delim: CompiledDelimiter; frames: number; framed: number; copies: number }, sources: Set<ArrayBufferLike> | null): void => {
    for (;;) {
      const f = framer.next(state.delim, true, false);
      if (f === NO_FRAME) return;
      if (state.delim === header) {
        state.delim = (f as number[])[0]!; // compile_delimiter is a no-op for a positive integer
      } else {
        state.frames++;
        state.framed += (f as Buffer).length;
        if (sources !== null && !sources.has((f as Buffer).buffer)) state.copies++;
        state.delim = header;
      }
    }
  };
  return {
    bytes,
    expect,
    run() {
      const framer = new Framer();
      const state = { delim: header, frames: 0, framed: 0, copies: 0 };
      for (let r = 0; r < repeat; r++) {
        for (let i = 0; i < chunks.length; i++) {
          framer.feed(chunks[i]!);
          pump(framer, state, null);
        }
      }
      return [state.frames, state.framed];
    },
    copies() {
      const framer = new Framer();
      const state = { delim: header, frames: 0, framed: 0, copies: 0 };
      const sources = new Set<ArrayBufferLike>(chunks.map((c) => c.buffer));
      for (const c of chunks) {
        framer.feed(c);
        pump(framer, state, sources);
      }
      return state.copies * repeat;
    },
  };
}

const CRLF = compile_delimiter('\r\n');
const LINE_CHUNK = 64 * KiB;

/** A 64 KiB chunk of 2048 lines of 30 bytes + "\r\n". */
function line_chunk(): Buffer {
  const b = Buffer.allocUnsafe(LINE_CHUNK);
  for (let i = 0; i < LINE_CHUNK; i += 32) {
    filler(30).copy(b, i);
    b[i + 30] = 0x0d;
    b[i + 31] = 0x0a;
  }
  return b;
}

/** A 64 KiB chunk of 2048 frames: 4-byte big-endian length 28 + 28 bytes. */
function frame_chunk(): Buffer {
  const b = Buffer.allocUnsafe(LINE_CHUNK);
  for (let i = 0; i < LINE_CHUNK; i += 32) {
    b.writeUInt32BE(28, i);
    filler(28).copy(b, i + 4);
  }
  return b;
}

const SCALE = [64 * KiB, 256 * KiB, 1 * MiB];
/** 16- and 512-byte feeds also at 4 MiB: past the 1 MiB asked for, where a super-linear term shows. */
const SCALE_16 = [...SCALE, 4 * MiB];
const THROUGHPUT = [1 * MiB, 4 * MiB, 16 * MiB];

function make_cases(): Case[] {
  const lines = line_chunk();
  const frames = frame_chunk();
  const cases: Case[] = [
    {
      name: '32-byte lines, 64 KiB chunks',
      sizes: THROUGHPUT,
      prepare: (size) => simple_case([lines], size / LINE_CHUNK, CRLF, [size / 32, (size / 32) * 30]),
    },
    {
      name: '32-byte frames: Struct !I header + 28-byte payload, 64 KiB chunks',
      sizes: THROUGHPUT,
      prepare: (size) => struct_case([frames], size / LINE_CHUNK, [size / 32, (size / 32) * 28]),
    },
  ];
  for (const step of [1, 16, 512]) {
    const unit = step === 1 ? '1 byte' : `${step} bytes`;
    cases.push(
      {
        name: `one line ("\\r\\n"), ${unit} at a time`,
        sizes: step === 1 ? SCALE : SCALE_16,
        prepare: (size) => simple_case(split(Buffer.concat([filler(size), Buffer.from('\r\n')]), step), 1, CRLF, [1, size]),
      },
      {
        name: `integer delimiter (one frame of the whole size), ${unit} at a time`,
        sizes: step === 1 ? SCALE : SCALE_16,
        prepare: (size) => simple_case(split(filler(size), step), 1, compile_delimiter(size), [1, size]),
      },
      {
        name: `Struct !I header + one payload, ${unit} at a time`,
        sizes: step === 1 ? SCALE : SCALE_16,
        prepare: (size) => {
          const data = Buffer.concat([Buffer.alloc(4), filler(size)]);
          data.writeUInt32BE(size, 0);
          return struct_case(split(data, step), 1, [1, size]);
        },
      },
    );
  }
  return cases;
}

// ------------------------------------------------------------------ measuring

interface Row {
  case: string;
  size: number;
  bytes: number;
  times: number[];
  median: number;
  copies: number;
  frames: number;
  /** CPU other processes used while this case ran, in % of one core. */
  other_pct: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

let CLK_TCK = 100;

/** CPU seconds the whole machine spent in user + nice + system mode (all cores). */
function machine_busy(): number {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return (f[0]! + f[1]! + f[2]!) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** This process's CPU seconds. */
function own_cpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Measures every size of a case: one warm-up run each, then {@link RUNS} rounds that time
 * every size in turn (interleaved, so a disturbance hits all sizes alike).
 * Also returns the CPU other processes used meanwhile, in % of one core.
 */
function measure(c: Case, sizes: number[]): { rows: Row[]; other_pct: number } {
  const prepared = sizes.map((size) => ({ size, p: c.prepare(size), times: [] as number[] }));
  const check = (size: number, p: Prepared, got: [number, number]): void => {
    if (got[0] !== p.expect[0] || got[1] !== p.expect[1]) {
      throw new Error(`${c.name} @ ${size}: got ${got[0]} frames / ${got[1]} bytes, expected ${p.expect[0]} / ${p.expect[1]}`);
    }
  };
  for (const { size, p } of prepared) check(size, p, p.run()); // warm-up, untimed
  const busy0 = machine_busy();
  const own0 = own_cpu();
  const w0 = performance.now();
  for (let i = 0; i < RUNS; i++) {
    for (const { size, p, times } of prepared) {
      const t0 = performance.now();
      const got = p.run();
      times.push(performance.now() - t0);
      check(size, p, got);
    }
  }
  const wall = (performance.now() - w0) / 1000;
  const other_pct = Math.max(0, ((machine_busy() - busy0 - (own_cpu() - own0)) / wall) * 100);
  const rows = prepared.map(({ size, p, times }) => ({
    case: c.name,
    size,
    bytes: p.bytes,
    times,
    median: median(times),
    copies: p.copies(),
    frames: p.expect[0],
    other_pct,
  }));
  return { rows, other_pct };
}

// ------------------------------------------------------------------ report

function size_label(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  return `${n / KiB} KiB`;
}

function ms(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** Per-byte growth above this (time × over size ×) is called out as not linear. */
const LINEAR_LIMIT = 1.3;

/** Other processes' CPU use (% of one core) above which a case's times are called unreliable. */
const OTHER_LIMIT = 15;

function report(rows: Row[], elapsed: number, skipped: string[]): string {
  const cpus = os.cpus();
  const lines: string[] = [];
  const nonlinear: string[] = [];
  const noisy = new Set<string>();
  lines.push('# Framer micro-benchmark', '');
  lines.push('Generated by `node dist/bench/framer_bench.js` (`bench/framer_bench.ts`); do not edit by hand.', '');
  lines.push(
    `- ${new Date().toISOString()}; ${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown'}; Node ${process.version}; Linux ${os.release()}; bench time ${(elapsed / 1000).toFixed(1)} s`,
    '- `Framer` driven directly (no sockets): `feed(chunk)`, then `next(delimiter, true, false)` until `NO_FRAME`, after every chunk, as a stream does',
    `- time: median of ${RUNS} runs (min–max), after one warm-up run; the sizes of a case are timed in turn (interleaved); MB = 10^6 bytes fed`,
    `- \`size ×\` and \`time ×\`: relative to the first size of the same case; \`per-byte ×\` = time × / size × (1.0 = linear; above ${LINEAR_LIMIT} flagged ⚠)`,
    '- `copied`: frames that are not views of a fed chunk (an untimed pass); `other CPU`: what other processes used while the case ran, in % of one core',
    '',
  );
  lines.push('| case | size | time (ms) | MB/s | size × | time × | per-byte × | frames | copied | other CPU % |', '|---|---|---|---|---|---|---|---|---|---|');
  let ref: Row | undefined;
  for (const r of rows) {
    if (ref === undefined || ref.case !== r.case) ref = r;
    const sx = r.size / ref.size;
    const tx = r.median / ref.median;
    const per = tx / sx;
    const flag = per > LINEAR_LIMIT ? ' ⚠' : '';
    if (flag) nonlinear.push(`${r.case} @ ${size_label(r.size)}: time × ${tx.toFixed(1)} for size × ${sx.toFixed(0)} (per byte × ${per.toFixed(2)})`);
    if (r.other_pct > OTHER_LIMIT) noisy.add(`${r.case} (${r.other_pct.toFixed(0)} %)`);
    const mbs = r.bytes / 1e6 / (r.median / 1000);
    lines.push(
      `| ${r.case} | ${size_label(r.size)} | ${ms(r.median)} (${ms(Math.min(...r.times))}–${ms(Math.max(...r.times))}) | ${mbs.toFixed(mbs >= 100 ? 0 : 1)} | ${sx.toFixed(0)} | ${tx.toFixed(2)} | ${per.toFixed(2)}${flag} | ${r.frames} | ${r.copies} | ${r.other_pct.toFixed(0)} |`,
    );
  }
  lines.push('');
  if (nonlinear.length) {
    lines.push(`Per-byte cost grew by more than ${LINEAR_LIMIT}× in:`, '');
    for (const n of nonlinear) lines.push(`- ${n}`);
    lines.push('');
  } else {
    lines.push(`Every case is linear within ${LINEAR_LIMIT}× per byte.`, '');
  }
  if (noisy.size) {
    lines.push(`⚠ Other processes used more than ${OTHER_LIMIT} % of a core during: ${[...noisy].join('; ')}. Those times are unreliable; rerun on a quiet machine.`, '');
  }
  if (skipped.length) lines.push(`Skipped (over the time budget): ${skipped.join(', ')}`, '');
  return lines.join('\n');
}

function main(): void {
  let out = path.join(ROOT, 'bench', 'framer_results.md');
  for (const arg of process.argv.slice(2)) {
    if (arg.startsWith('--out=')) out = path.resolve(arg.slice(6));
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write('usage: node dist/bench/framer_bench.js [--out=FILE]\n');
      return;
    } else throw new Error(`unknown option ${arg}`);
  }
  const t0 = performance.now();
  const rows: Row[] = [];
  const skipped: string[] = [];
  CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
  for (const c of make_cases()) {
    if (performance.now() - t0 > BUDGET_MS) {
      skipped.push(c.name);
      continue;
    }
    const { rows: mine, other_pct } = measure(c, c.sizes);
    rows.push(...mine);
    process.stderr.write(`framer: ${c.name}: ${mine.map((r) => `${size_label(r.size)} ${ms(r.median)} ms`).join(', ')} (other processes ${other_pct.toFixed(0)}% CPU)\n`);
  }
  const md = report(rows, performance.now() - t0, skipped);
  fs.writeFileSync(out, md);
  process.stdout.write(md);
  process.stderr.write(`framer: wrote ${path.relative(process.cwd(), out) || out}\n`);
}

main();
