/**
 * trousers/redis and trousers/group speed, in one run, against one private redis-server 7
 * (a free port, no persistence), next to ioredis (when installed), redis-py (Debian's, on
 * /usr/bin/python3) and redis-benchmark:
 *
 * | row | what is counted |
 * |---|---|
 * | SET pipelined, batches of 1000 | ops/s: 1000 SETs issued at once, awaited, repeated |
 * | SET one at a time | ops/s: each SET awaited before the next |
 * | RPUSH/BLPOP ping-pong | round trips/s between two connections (Node: one process; redis-py: two) |
 * | group messages | messages/s from a sender process to a receiver process (`recvFromAny` each), on redis-server and on the hub (in its own process) |
 *
 * Every loop has a fixed count, after an untimed warm-up for the Node clients (the whole run
 * takes well under a minute).
 * Run: `npm run bench:redis` (or `node dist/bench/redis_bench.js`). ioredis is a dev
 * dependency for this benchmark only: without it its column reads "ioredis not installed".
 *
 * @module
 */

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
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
const count = (n: number): number => Math.max(1000, Math.round(n * SCALE));
const PIPELINED = count(200_000);
const SINGLE = count(20_000);
const PINGPONG = count(10_000);
const GROUP = count(20_000);
const GROUP_PY = count(10_000);
/** Untimed operations before each timed loop of the Node clients (JIT warm-up). */
const WARMUP = 3000;

/** Progress on stderr, so a slow step shows where it is. */
async function step<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  process.stderr.write(`${label}...`);
  const value = await fn();
  process.stderr.write(` ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
  return value;
}

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

async function ioredis_rows(Ctor: IoRedisCtor, port: number): Promise<[number, number, number]> {
  const r = new Ctor({ host: '127.0.0.1', port });
  await r.set('warm', 'up');
  for (let w = 0; w < 20; w++) {
    const p = r.pipeline();
    for (let i = 0; i < 1000; i++) p.set(`bench:key:${i}`, 'value');
    await p.exec();
  }
  let t = performance.now();
  for (let done = 0; done < PIPELINED; done += 1000) {
    const p = r.pipeline();
    for (let i = 0; i < 1000; i++) p.set(`bench:key:${i}`, 'value');
    await p.exec();
  }
  const pipelined = ops(PIPELINED, performance.now() - t);
  for (let i = 0; i < WARMUP; i++) await r.set(`bench:key:${i % 1000}`, 'value');
  t = performance.now();
  for (let i = 0; i < SINGLE; i++) await r.set(`bench:key:${i % 1000}`, 'value');
  const single = ops(SINGLE, performance.now() - t);
  const b = new Ctor({ host: '127.0.0.1', port });
  await b.set('warm', 'up');
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
  t = performance.now();
  for (let i = 0; i < PINGPONG; i++) {
    await r.rpush('bench:ping', 'x');
    await r.blpop('bench:pong', 0);
  }
  const pingpong = ops(PINGPONG, performance.now() - t);
  await ponger;
  await Promise.all([r.quit(), b.quit()]);
  return [pipelined, single, pingpong];
}

// ------------------------------------------------------------------ redis-py, redis-benchmark

function py_ops(out: string): number {
  return Number(/OPS (\S+)/.exec(out)![1]);
}

async function redis_py_rows(port: number): Promise<[number, number, number]> {
  const pipelined = py_ops(await run(PY, [PY_PEER, 'pipelined', String(port), String(PIPELINED)]));
  const single = py_ops(await run(PY, [PY_PEER, 'single', String(port), String(SINGLE)]));
  const pong = await start(PY, [PY_PEER, 'pong', String(port), String(PINGPONG)], 'READY');
  const pingpong = py_ops(await run(PY, [PY_PEER, 'ping', String(port), String(PINGPONG)]));
  await stop(pong);
  return [pipelined, single, pingpong];
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

/** The sender process of the Node group benchmark. */
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

async function node_group(address: Address, cache: number): Promise<number> {
  const admin = new RedisClient({ address });
  await admin.command('FLUSHALL');
  const chan = new Channel({ redis: address, member_cache: cache });
  const me = await chan.join('recv');
  const addr = typeof address === 'string' ? address : `${(address as [string, number])[0]}:${(address as [string, number])[1]}`;
  const sender = await start(process.execPath, [fileURLToPath(import.meta.url), '--group-send', addr, String(GROUP), me, String(cache)], 'READY');
  const sender_done = exited(sender);
  await admin.command('RPUSH', 'go', 'now');
  await chan.recvFromAny();
  const t = performance.now();
  for (let i = 1; i < GROUP; i++) await chan.recvFromAny();
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
  const t0 = Date.now();
  try {
    const tp = await step('trousers pipelined', () => trousers_pipelined(port));
    const ts = await step('trousers single', () => trousers_single(port));
    const tpp = await step('trousers ping-pong', () => trousers_pingpong(port));
    const io = Ioredis === null ? null : await step('ioredis', () => ioredis_rows(Ioredis, port));
    const py = fs.existsSync(PY) ? await step('redis-py', () => redis_py_rows(port)) : null;
    const rb_p16 = await step('redis-benchmark -P 16', async () => redis_benchmark(port, 16, 50, count(1_000_000)));
    const rb_single = await step('redis-benchmark -c 1', async () => redis_benchmark(port, 1, 1, SINGLE));
    const g_redis = await step('group on redis', () => node_group(['127.0.0.1', port], 0));
    const g_redis_cache = await step('group on redis, member_cache', () => node_group(['127.0.0.1', port], 1000));
    const g_hub = await step('group on the hub', () => node_group(['127.0.0.1', hub_port], 0));
    const g_hub_cache = await step('group on the hub, member_cache', () => node_group(['127.0.0.1', hub_port], 1000));
    const g_py = fs.existsSync(PY) ? await step('Python channel', () => python_group(port)) : null;
    const no_io = 'ioredis not installed: npm i -D ioredis';
    const lines = [
      `# trousers/redis and trousers/group benchmark`,
      '',
      `- ${new Date().toISOString()}; ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}; Node ${process.version}; redis-server ${execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).split(' ')[2]}; bench time ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      `- one private redis-server on loopback TCP; the hub in its own process (\`trousers-hub\`); every figure one run of a fixed count`,
      '',
      '| row | trousers | ioredis | redis-py | redis-benchmark |',
      '|---|---|---|---|---|',
      `| SET pipelined, batches of 1000 (ops/s) | ${fmt(tp)} | ${io ? fmt(io[0]) : no_io} | ${fmt(py?.[0] ?? null)} | ${fmt(rb_p16)} (-P 16 -c 50) |`,
      `| SET one at a time (ops/s) | ${fmt(ts)} | ${io ? fmt(io[1]) : no_io} | ${fmt(py?.[1] ?? null)} | ${fmt(rb_single)} (-c 1) |`,
      `| RPUSH/BLPOP ping-pong (round trips/s) | ${fmt(tpp)} | ${io ? fmt(io[2]) : no_io} | ${fmt(py?.[2] ?? null)} | – |`,
      '',
      '| group messages/s (sender process → receiver process) | on redis-server | on the hub |',
      '|---|---|---|',
      `| trousers Channel (membership read afresh, the default) | ${fmt(g_redis)} | ${fmt(g_hub)} |`,
      `| trousers Channel, member_cache: 1000 | ${fmt(g_redis_cache)} | ${fmt(g_hub_cache)} |`,
      `| Python channel (spec/py/group_channel.py, redis-py) | ${fmt(g_py)} | – |`,
      '',
    ];
    const text = lines.join('\n');
    console.log(text);
    fs.writeFileSync(path.join(ROOT, 'bench/redis_results.md'), `${text}\nGenerated by \`node dist/bench/redis_bench.js\`.\n`);
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
