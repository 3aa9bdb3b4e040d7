/**
 * trousers/redis and trousers/group speed, in one run, against one private redis-server 7
 * (a free port, no persistence), next to ioredis (when installed), redis-py (Debian's, on
 * /usr/bin/python3), redis-benchmark and a hand-written `node:net` floor:
 *
 * | row | what is counted |
 * |---|---|
 * | PING one at a time, raw node:net | round trips/s: the loopback floor of this machine (a hand-written socket, no client library) |
 * | SET pipelined, batches of 1000 | ops/s: 1000 SETs issued at once, awaited, repeated |
 * | SET one at a time | ops/s: each SET awaited before the next |
 * | RPUSH/BLPOP ping-pong | round trips/s between two connections (Node: one process; redis-py: two) |
 * | group messages | messages/s from a sender process to a receiver process, on redis-server and on the hub (in its own process): a serial `recvFromAny` loop, and a window of 16 receives in flight |
 *
 * The machine is noisy, so the run is made of ROUNDS rounds (default 3); each round runs
 * every row once, the implementations of a row back to back, in an order that alternates
 * between rounds. Each figure is the median over the rounds with the min-max spread, and the
 * ratios (trousers/ioredis, group/Python channel, hub/redis-server) are computed inside each
 * round, then their median taken. Every loop has a fixed count; the Node clients get an
 * untimed warm-up. The whole run takes 30-45 s here.
 *
 * Run: `npm run bench:redis` (or `node dist/bench/redis_bench.js`; `ROUNDS=5` for more
 * rounds, `REDIS_BENCH_SCALE=0.1` for a quick check, `REDIS_BENCH_ONLY=group` for the group
 * rows alone, `REDIS_BENCH_COMPARE=/path/to/old/dist/lib/group/index.js` to add rows for
 * another build's Channel, e.g. before and after a change). ioredis is a dev dependency for
 * this benchmark only: without it its column reads "ioredis not installed".
 *
 * @module
 */

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Address } from '../lib/index.js';
import { Channel } from '../lib/group/index.js';
import { RedisClient } from '../lib/redis/index.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const PY = '/usr/bin/python3';
const PY_PEER = path.join(ROOT, 'bench/redis_bench_peer.py');
const PY_GROUP = path.join(ROOT, 'spec/py/group_peer.py');
const HUB_BIN = path.join(ROOT, 'dist/bin/trousers-hub.js');

/** REDIS_BENCH_SCALE=0.1 runs a tenth of every count (a quick check). */
const SCALE = Number(process.env['REDIS_BENCH_SCALE'] ?? 1);
const ROUNDS = Math.max(1, Number(process.env['ROUNDS'] ?? 3));
const ONLY = process.env['REDIS_BENCH_ONLY'] ?? '';
const COMPARE = process.env['REDIS_BENCH_COMPARE'] ?? '';
const count = (n: number): number => Math.max(500, Math.round(n * SCALE));
const FLOOR = count(10_000);
const PIPELINED = count(100_000);
const SINGLE = count(10_000);
const PINGPONG = count(5_000);
const GROUP = count(10_000);
const GROUP_PY = count(4_000);
/** Receives in flight in the windowed group row. */
const WINDOW = 16;
/** Untimed operations before each timed loop of the Node clients (JIT warm-up). */
const WARMUP = 2000;

interface IoRedisLike {
  pipeline(): { set(k: string, v: string): unknown; exec(): Promise<unknown> };
  set(k: string, v: string): Promise<unknown>;
  rpush(k: string, v: string): Promise<unknown>;
  blpop(k: string, t: number): Promise<unknown>;
  quit(): Promise<unknown>;
}
type IoRedisCtor = new (options: { host: string; port: number; lazyConnect?: boolean }) => IoRedisLike;

async function load_ioredis(): Promise<IoRedisCtor | null> {
  try {
    const name = 'ioredis';
    const mod = (await import(name)) as { default?: IoRedisCtor; Redis?: IoRedisCtor };
    return mod.Redis ?? mod.default ?? null;
  } catch {
    return null;
  }
}

function free_port(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts a child and resolves once a stdout line includes `ready`. */
function start(cmd: string, args: string[], ready: string): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes(ready)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}) before "${ready}": ${out.slice(-300)}`)));
  });
}

/** Runs a child to its end; resolves with its stdout. */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

/** Resolves once the child has exited (call it right after starting the child). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  return gone;
}

function ops(n: number, ms: number): number {
  return n / (ms / 1000);
}

function fmt(v: number | string | null): string {
  if (v === null) return '–';
  if (typeof v === 'string') return v;
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : v.toFixed(0);
}

// ------------------------------------------------------------------ the floor

/** PING one at a time over a hand-written socket: the round-trip floor of this machine. */
function raw_ping(port: number, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const PING = Buffer.from('*1\r\n$4\r\nPING\r\n');
    let left = WARMUP + n;
    let t = 0;
    let pending = 0; // bytes of '+PONG\r\n' still expected
    sock.once('error', reject);
    sock.on('connect', () => {
      pending = 7;
      sock.write(PING);
    });
    sock.on('data', (chunk: Buffer) => {
      pending -= chunk.length;
      if (pending > 0) return;
      left--;
      if (left === n) t = performance.now();
      if (left === 0) {
        const result = ops(n, performance.now() - t);
        sock.end();
        sock.once('close', () => resolve(result));
        return;
      }
      pending = 7;
      sock.write(PING);
    });
  });
}

// ------------------------------------------------------------------ trousers

async function trousers_pipelined(port: number): Promise<number> {
  const r = new RedisClient({ address: ['127.0.0.1', port] });
  await r.ready();
  for (let w = 0; w < 20; w++) await Promise.all(Array.from({ length: 1000 }, (_, i) => r.command('SET', `bench:key:${i}`, 'value')));
  const t = performance.now();
  for (let done = 0; done < PIPELINED; done += 1000) {
    const batch: Promise<unknown>[] = [];
    for (let i = 0; i < 1000; i++) batch.push(r.command('SET', `bench:key:${i}`, 'value'));
    await Promise.all(batch);
  }
  const result = ops(PIPELINED, performance.now() - t);
  await r.close();
  return result;
}

async function trousers_single(port: number): Promise<number> {
  const r = new RedisClient({ address: ['127.0.0.1', port] });
  await r.ready();
  for (let i = 0; i < WARMUP; i++) await r.command('SET', `bench:key:${i % 1000}`, 'value');
  const t = performance.now();
  for (let i = 0; i < SINGLE; i++) await r.command('SET', `bench:key:${i % 1000}`, 'value');
  const result = ops(SINGLE, performance.now() - t);
  await r.close();
  return result;
}

async function trousers_pingpong(port: number): Promise<number> {
  const a = new RedisClient({ address: ['127.0.0.1', port] });
  const b = a.duplicate();
  await Promise.all([a.ready(), b.ready()]);
  const ponger = (async () => {
    for (let i = 0; i < WARMUP + PINGPONG; i++) {
      await b.command('BLPOP', 'bench:ping', 0);
      await b.command('RPUSH', 'bench:pong', 'x');
    }
  })();
  for (let i = 0; i < WARMUP; i++) {
    await a.command('RPUSH', 'bench:ping', 'x');
    await a.command('BLPOP', 'bench:pong', 0);
  }
  const t = performance.now();
  for (let i = 0; i < PINGPONG; i++) {
    await a.command('RPUSH', 'bench:ping', 'x');
    await a.command('BLPOP', 'bench:pong', 0);
  }
  const result = ops(PINGPONG, performance.now() - t);
  await ponger;
  await Promise.all([a.close(), b.close()]);
  return result;
}

// ------------------------------------------------------------------ ioredis

async function ioredis_pipelined(Ctor: IoRedisCtor, port: number): Promise<number> {
  const r = new Ctor({ host: '127.0.0.1', port });
  await r.set('warm', 'up');
  for (let w = 0; w < 20; w++) {
    const p = r.pipeline();
    for (let i = 0; i < 1000; i++) p.set(`bench:key:${i}`, 'value');
    await p.exec();
  }
  const t = performance.now();
  for (let done = 0; done < PIPELINED; done += 1000) {
    const p = r.pipeline();
    for (let i = 0; i < 1000; i++) p.set(`bench:key:${i}`, 'value');
    await p.exec();
  }
  const result = ops(PIPELINED, performance.now() - t);
  await r.quit();
  return result;
}

async function ioredis_single(Ctor: IoRedisCtor, port: number): Promise<number> {
  const r = new Ctor({ host: '127.0.0.1', port });
  await r.set('warm', 'up');
  for (let i = 0; i < WARMUP; i++) await r.set(`bench:key:${i % 1000}`, 'value');
  const t = performance.now();
  for (let i = 0; i < SINGLE; i++) await r.set(`bench:key:${i % 1000}`, 'value');
  const result = ops(SINGLE, performance.now() - t);
  await r.quit();
  return result;
}

async function ioredis_pingpong(Ctor: IoRedisCtor, port: number): Promise<number> {
  const r = new Ctor({ host: '127.0.0.1', port });
  const b = new Ctor({ host: '127.0.0.1', port });
  await Promise.all([r.set('warm', 'up'), b.set('warm', 'up')]);
  const ponger = (async () => {
    for (let i = 0; i < WARMUP + PINGPONG; i++) {
      await b.blpop('bench:ping', 0);
      await b.rpush('bench:pong', 'x');
    }
  })();
  for (let i = 0; i < WARMUP; i++) {
    await r.rpush('bench:ping', 'x');
    await r.blpop('bench:pong', 0);
  }
  const t = performance.now();
  for (let i = 0; i < PINGPONG; i++) {
    await r.rpush('bench:ping', 'x');
    await r.blpop('bench:pong', 0);
  }
  const result = ops(PINGPONG, performance.now() - t);
  await ponger;
  await Promise.all([r.quit(), b.quit()]);
  return result;
}

// ------------------------------------------------------------------ redis-py, redis-benchmark

function py_ops(out: string): number {
  return Number(/OPS (\S+)/.exec(out)![1]);
}

async function redis_py(mode: 'pipelined' | 'single', port: number, n: number): Promise<number> {
  return py_ops(await run(PY, [PY_PEER, mode, String(port), String(n)]));
}

async function redis_py_pingpong(port: number): Promise<number> {
  const pong = await start(PY, [PY_PEER, 'pong', String(port), String(PINGPONG)], 'READY');
  const result = py_ops(await run(PY, [PY_PEER, 'ping', String(port), String(PINGPONG)]));
  await stop(pong);
  return result;
}

function redis_benchmark(port: number, pipeline: number, clients: number, n: number): number | null {
  try {
    const out = execFileSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-t', 'set', '-n', String(n), '-P', String(pipeline), '-c', String(clients), '-q'], { encoding: 'utf8' });
    const m = /SET: ([\d.]+) requests per second/.exec(out);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------ group

/** The sender process of the Node group benchmark: a window of 64 sends in flight. */
async function group_sender(address: Address, n: number, dest: string, cache: number): Promise<void> {
  const chan = new Channel({ redis: address, member_cache: cache });
  await chan.join('send');
  process.stdout.write('READY\n');
  await chan.redis.command('BLPOP', 'go', 0);
  const window = 64;
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < n) {
        const i = next++;
        await chan.sendTo([dest], i);
      }
    }),
  );
  await chan.close();
}

type ChannelCtor = typeof Channel;

/**
 * Messages/s into a receiver in this process from a sender process: `window` receive loops
 * (1: the serial `recvFromAny` loop of the book's examples).
 */
async function node_group(Chan: ChannelCtor, address: Address, cache: number, window: number): Promise<number> {
  const admin = new RedisClient({ address });
  await admin.command('FLUSHALL');
  const chan = new Chan({ redis: address, member_cache: cache });
  const me = await chan.join('recv');
  const addr = typeof address === 'string' ? address : `${(address as [string, number])[0]}:${(address as [string, number])[1]}`;
  const sender = await start(process.execPath, [fileURLToPath(import.meta.url), '--group-send', addr, String(GROUP), me, String(cache)], 'READY');
  const sender_done = exited(sender);
  await admin.command('RPUSH', 'go', 'now');
  await chan.recvFromAny();
  let left = GROUP - 1;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (left > 0) {
        left--;
        if ((await chan.recvFromAny()) === null) throw new Error('a receive without a timeout resolved null');
      }
    }),
  );
  const result = ops(GROUP - 1, performance.now() - t);
  await sender_done;
  await Promise.all([chan.close(), admin.close()]);
  return result;
}

async function python_group(port: number): Promise<number> {
  const admin = new RedisClient({ address: ['127.0.0.1', port] });
  await admin.command('FLUSHALL');
  const recv = spawn(PY, [PY_GROUP, 'recv', `127.0.0.1:${port}`, String(GROUP_PY)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const recv_done = exited(recv);
  let out = '';
  recv.stdout.on('data', (c: Buffer) => (out += c.toString()));
  for (let i = 0; !/PID (\d+)/.test(out); i++) {
    if (i > 1000 || recv.exitCode !== null) throw new Error(`the Python receiver did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const pid = /PID (\d+)/.exec(out)![1]!;
  const sender = await start(PY, [PY_GROUP, 'send', `127.0.0.1:${port}`, String(GROUP_PY), pid], 'READY');
  await admin.command('RPUSH', 'go', 'sender', 'receiver');
  await recv_done;
  await stop(sender);
  await admin.close();
  return GROUP_PY / Number(/SECONDS (\S+)/.exec(out)![1]);
}

// ------------------------------------------------------------------ rounds and statistics

/** One measured quantity: a value per round. */
class Row {
  readonly values: number[] = [];
  constructor(readonly name: string) {}
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** `median (min-max)`, or '–' when nothing was measured. */
function cell(row: Row | undefined): string {
  if (row === undefined || row.values.length === 0) return '–';
  const v = row.values;
  if (v.length === 1) return fmt(v[0]!);
  return `${fmt(median(v))} (${fmt(Math.min(...v))}-${fmt(Math.max(...v))})`;
}

/** Ratios a/b inside each round: `median (min-max)`. */
function ratio(a: Row | undefined, b: Row | undefined): string {
  if (a === undefined || b === undefined) return '–';
  const n = Math.min(a.values.length, b.values.length);
  if (n === 0) return '–';
  const r = Array.from({ length: n }, (_, i) => a.values[i]! / b.values[i]!);
  const f = (x: number): string => `${x.toFixed(2)}x`;
  return n === 1 ? f(r[0]!) : `${f(median(r))} (${f(Math.min(...r))}-${f(Math.max(...r))})`;
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--group-send') {
    const a = argv[1]!;
    const address: Address = a.includes(':') ? [a.slice(0, a.lastIndexOf(':')), Number(a.slice(a.lastIndexOf(':') + 1))] : a;
    await group_sender(address, Number(argv[2]), argv[3]!, Number(argv[4]));
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trousers-redis-bench-'));
  const port = await free_port();
  const server = await start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], 'Ready to accept');
  const hub_port = await free_port();
  const hub = await start(process.execPath, [HUB_BIN, '--port', String(hub_port)], 'listening');
  const Ioredis = await load_ioredis();
  const Old = COMPARE === '' ? null : ((await import(pathToFileURL(path.resolve(COMPARE)).href)) as { Channel: ChannelCtor }).Channel;
  const have_py = fs.existsSync(PY);
  const redis: Address = ['127.0.0.1', port];
  const hub_addr: Address = ['127.0.0.1', hub_port];
  const rows = new Map<string, Row>();
  const get = (name: string): Row | undefined => rows.get(name);
  /** Measures `fn` into row `name`. */
  const measure = (name: string, fn: () => Promise<number>) => async (): Promise<void> => {
    let row = rows.get(name);
    if (row === undefined) rows.set(name, (row = new Row(name)));
    row.values.push(await fn());
  };
  /** The rows of one round, in groups whose members run back to back. */
  const groups: (() => Promise<void>)[][] = [];
  if (ONLY === '' || ONLY === 'client') {
    groups.push([measure('floor', () => raw_ping(port, FLOOR))]);
    groups.push([
      measure('t_pipe', () => trousers_pipelined(port)),
      ...(Ioredis ? [measure('io_pipe', () => ioredis_pipelined(Ioredis, port))] : []),
      ...(have_py ? [measure('py_pipe', () => redis_py('pipelined', port, PIPELINED))] : []),
    ]);
    groups.push([
      measure('t_single', () => trousers_single(port)),
      ...(Ioredis ? [measure('io_single', () => ioredis_single(Ioredis, port))] : []),
      ...(have_py ? [measure('py_single', () => redis_py('single', port, SINGLE))] : []),
    ]);
    groups.push([
      measure('t_pp', () => trousers_pingpong(port)),
      ...(Ioredis ? [measure('io_pp', () => ioredis_pingpong(Ioredis, port))] : []),
      ...(have_py ? [measure('py_pp', () => redis_py_pingpong(port))] : []),
    ]);
  }
  if (ONLY === '' || ONLY === 'group') {
    const g = [
      measure('g_serial_redis', () => node_group(Channel, redis, 0, 1)),
      measure('g_serial_hub', () => node_group(Channel, hub_addr, 0, 1)),
      measure('g_window_redis', () => node_group(Channel, redis, 0, WINDOW)),
      measure('g_window_hub', () => node_group(Channel, hub_addr, 0, WINDOW)),
      ...(have_py ? [measure('g_py', () => python_group(port))] : []),
    ];
    if (Old !== null) {
      g.push(measure('old_serial_redis', () => node_group(Old, redis, 0, 1)), measure('old_serial_hub', () => node_group(Old, hub_addr, 0, 1)));
      g.push(measure('old_window_redis', () => node_group(Old, redis, 0, WINDOW)));
    }
    groups.push(g);
  }
  const t0 = Date.now();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const t = performance.now();
      for (const group of groups) {
        // Alternate the order inside each group between rounds.
        const order = round % 2 === 0 ? group : [...group].reverse();
        for (const fn of order) await fn();
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS}: ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
    }
    const rb_p16 = ONLY === '' ? redis_benchmark(port, 16, 50, count(500_000)) : null;
    const rb_single = ONLY === '' ? redis_benchmark(port, 1, 1, SINGLE) : null;
    const no_io = Ioredis === null ? 'ioredis not installed: npm i -D ioredis' : null;
    const io = (name: string): string => no_io ?? cell(get(name));
    const lines = [
      `# trousers/redis and trousers/group benchmark`,
      '',
      `- ${new Date().toISOString()}; ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}; Node ${process.version}; redis-server ${execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).split(' ')[2]}; bench time ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      `- one private redis-server on loopback TCP; the hub in its own process (\`trousers-hub\`); ${ROUNDS} rounds, the implementations of a row back to back in an order alternating between rounds; every cell is the median over the rounds (min-max), ratios are taken inside each round`,
      '',
    ];
    if (ONLY === '' || ONLY === 'client') {
      lines.push(
        `Loopback floor: PING one at a time over a hand-written \`node:net\` socket, ${cell(get('floor'))} round trips/s.`,
        '',
        '| row | trousers | ioredis | trousers / ioredis | redis-py | redis-benchmark |',
        '|---|---|---|---|---|---|',
        `| SET pipelined, batches of 1000 (ops/s) | ${cell(get('t_pipe'))} | ${io('io_pipe')} | ${ratio(get('t_pipe'), get('io_pipe'))} | ${cell(get('py_pipe'))} | ${fmt(rb_p16)} (-P 16 -c 50) |`,
        `| SET one at a time (ops/s) | ${cell(get('t_single'))} | ${io('io_single')} | ${ratio(get('t_single'), get('io_single'))} | ${cell(get('py_single'))} | ${fmt(rb_single)} (-c 1) |`,
        `| RPUSH/BLPOP ping-pong (round trips/s) | ${cell(get('t_pp'))} | ${io('io_pp')} | ${ratio(get('t_pp'), get('io_pp'))} | ${cell(get('py_pp'))} | – |`,
        `| one at a time / the floor | ${ratio(get('t_single'), get('floor'))} | ${ratio(get('io_single'), get('floor'))} | | ${ratio(get('py_single'), get('floor'))} | |`,
        '',
      );
    }
    if (ONLY === '' || ONLY === 'group') {
      lines.push(
        '| group messages/s (sender process → receiver process) | on redis-server | on the hub | hub / redis-server | / Python channel (on redis-server) |',
        '|---|---|---|---|---|',
        `| trousers Channel, serial \`recvFromAny\` loop (defaults) | ${cell(get('g_serial_redis'))} | ${cell(get('g_serial_hub'))} | ${ratio(get('g_serial_hub'), get('g_serial_redis'))} | ${ratio(get('g_serial_redis'), get('g_py'))} |`,
        `| trousers Channel, ${WINDOW} receives in flight (defaults) | ${cell(get('g_window_redis'))} | ${cell(get('g_window_hub'))} | ${ratio(get('g_window_hub'), get('g_window_redis'))} | ${ratio(get('g_window_redis'), get('g_py'))} |`,
        `| Python channel (spec/py/group_channel.py, redis-py), serial loop | ${cell(get('g_py'))} | – | – | 1x |`,
      );
      if (Old !== null) {
        lines.push(
          `| compare: ${COMPARE}, serial | ${cell(get('old_serial_redis'))} | ${cell(get('old_serial_hub'))} | new / old: ${ratio(get('g_serial_redis'), get('old_serial_redis'))} (redis), ${ratio(get('g_serial_hub'), get('old_serial_hub'))} (hub) | ${ratio(get('old_serial_redis'), get('g_py'))} |`,
          `| compare: ${COMPARE}, ${WINDOW} in flight | ${cell(get('old_window_redis'))} | – | new / old: ${ratio(get('g_window_redis'), get('old_window_redis'))} | |`,
        );
      }
      lines.push('');
    }
    const text = lines.join('\n');
    console.log(text);
    if (ONLY === '' && COMPARE === '' && SCALE === 1) {
      fs.writeFileSync(path.join(ROOT, 'bench/redis_results.md'), `${text}\nGenerated by \`node dist/bench/redis_bench.js\`.\n`);
    }
  } finally {
    await stop(hub);
    await stop(server);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
