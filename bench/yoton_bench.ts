/**
 * trousers/yoton speed, Node to Node, next to Python yoton 2.2 to Python yoton 2.2 on the
 * same machine in the same run. Each side is two processes on 127.0.0.1: a "server" that
 * binds and holds a SubChannel for each pub/sub case and a RepChannel, and a "client" that
 * connects and drives it.
 *
 * | case | what the client does | reported |
 * |---|---|---|
 * | pub/sub small | publishes N 32-byte texts, then waits for the server's count | messages/s |
 * | pub/sub 64 KiB | publishes N 64 KiB binaries, the same | messages/s, MB/s |
 * | req/rep | N calls of `ping(i)` one after the other | calls/s, p50 and p99 latency |
 *
 * A third run puts a Node client against the Python server, to show what mixing costs.
 *
 * Throughput is end to end: from the first send until the server has received the last
 * message and said so. Run: `npm run bench:yoton` (or
 * `node dist/bench/yoton_bench.js [--quick]`). About 15 s; Python's req/rep is slow (yoton
 * writes header and payload in two sends without TCP_NODELAY), so it makes few calls.
 * Without Python yoton (`npm run peers`) the Python column says so.
 *
 * @module
 */

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../lib/index.js';
import { BINARY, Context, PubChannel, RepChannel, ReqChannel, SubChannel } from '../lib/yoton/index.js';

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '../..');
const YOTON_DIR = path.join(ROOT, '.peers/pyzo/usr/share/pyzo/pyzo');
const QUICK = process.argv.includes('--quick');
const SMALL = 'x'.repeat(32);
const BIG = Buffer.alloc(65536, 7);

/** Counts for one side. */
interface Counts {
  small_n: number;
  big_n: number;
  rr_n: number;
}
const NODE: Counts = QUICK ? { small_n: 50000, big_n: 2000, rr_n: 2000 } : { small_n: 300000, big_n: 10000, rr_n: 10000 };
const PY: Counts = QUICK ? { small_n: 5000, big_n: 500, rr_n: 5 } : { small_n: 20000, big_n: 2000, rr_n: 15 };
/** Calls a Node client makes of a Python replier. */
const MIXED_RR = QUICK ? 100 : 300;

/** What a client measured. */
interface Figures {
  small_rate: number;
  big_rate: number;
  rr_rate: number;
  p50: number;
  p99: number;
}

// ------------------------------------------------------------------ Node server / client

class Ping extends RepChannel {
  ping(x: number): number {
    return x;
  }
}

async function node_server(): Promise<void> {
  const engine = new Engine();
  const ctx = new Context({ engine, queue_params: [1_000_000, 'old'] });
  const conn = ctx.bind('localhost:0');
  await conn.bound();
  const ack = new PubChannel(ctx, 'ack');
  for (const [slot, type] of [
    ['bs', undefined],
    ['bb', BINARY],
  ] as const) {
    const sub = type ? new SubChannel(ctx, slot, type) : new SubChannel(ctx, slot);
    let n = 0;
    sub.received.bind(() => {
      n += (sub.recv_all() as unknown[]).length;
      const want = Number(process.argv[slot === 'bs' ? 3 : 4]);
      if (n >= want) {
        n = 0;
        void ack.send(slot);
      }
    });
  }
  const rep = new Ping(ctx, 'br');
  rep.set_mode('event');
  console.log(`PORT ${conn.port1}`);
  conn.closed.bind(() => {
    ctx.close();
    void engine.stop({ timeout: 500 }).then(() => process.exit(0));
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function node_client(port: number, c: Counts): Promise<Figures> {
  const engine = new Engine();
  const ctx = new Context({ engine, queue_params: [1_000_000, 'old'] });
  const ack = new SubChannel(ctx, 'ack');
  const small = new PubChannel(ctx, 'bs');
  const big = new PubChannel(ctx, 'bb', BINARY);
  const req = new ReqChannel(ctx, 'br');
  const conn = await ctx.connect(`localhost:${port}`, { timeout: 5000 });
  await new Promise((r) => setTimeout(r, 100));
  let t = performance.now();
  for (let i = 0; i < c.small_n; i++) {
    const p = small.send(SMALL);
    if ((i & 1023) === 0) await p;
  }
  await ack.recv(60000);
  const small_rate = c.small_n / ((performance.now() - t) / 1000);
  t = performance.now();
  for (let i = 0; i < c.big_n; i++) await big.send(BIG);
  await ack.recv(60000);
  const big_rate = c.big_n / ((performance.now() - t) / 1000);
  const lat: number[] = [];
  t = performance.now();
  for (let i = 0; i < c.rr_n; i++) {
    const t0 = performance.now();
    await req.call('ping', i).result(10000);
    lat.push(performance.now() - t0);
  }
  const rr_rate = c.rr_n / ((performance.now() - t) / 1000);
  lat.sort((a, b) => a - b);
  conn.close();
  ctx.close();
  await engine.stop({ timeout: 1000 });
  return { small_rate, big_rate, rr_rate, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) };
}

// ------------------------------------------------------------------ Python server / client

const PY_SCRIPT = String.raw`
import sys, time, threading
sys.path.insert(0, sys.argv[1])
import yoton
role = sys.argv[2]
if role == 'server':
    small_n, big_n = int(sys.argv[3]), int(sys.argv[4])
    ct = yoton.Context(queue_params=(1000000, 'old'))
    c = ct.bind('localhost:%i' % (int(sys.argv[5]) - 1), max_tries=3)
    ack = yoton.PubChannel(ct, 'ack')
    class Ping(yoton.RepChannel):
        def ping(self, x):
            return x
    rep = Ping(ct, 'br'); rep.set_mode('thread')
    subs = [(yoton.SubChannel(ct, 'bs'), small_n, 'bs'), (yoton.SubChannel(ct, 'bb', yoton.BINARY), big_n, 'bb')]
    sys.stdout.write('PORT %i\n' % c.port1); sys.stdout.flush()
    while not c.is_connected: time.sleep(0.005)
    for sub, n, name in subs:
        got = 0
        while got < n:
            if sub.recv(1.0): got += 1
        ack.send(name)
    while c.is_connected: time.sleep(0.05)
else:
    port = int(sys.argv[3]); small_n, big_n, rr_n = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    ct = yoton.Context(queue_params=(1000000, 'old'))
    ack = yoton.SubChannel(ct, 'ack')
    small = yoton.PubChannel(ct, 'bs'); big = yoton.PubChannel(ct, 'bb', yoton.BINARY)
    req = yoton.ReqChannel(ct, 'br')
    c = ct.connect('localhost:%i' % port, timeout=5.0)
    time.sleep(0.2)
    msg = 'x' * 32; blob = b'\x07' * 65536
    t = time.time()
    for i in range(small_n): small.send(msg)
    ack.recv(60.0); small_rate = small_n / (time.time() - t)
    t = time.time()
    for i in range(big_n): big.send(blob)
    ack.recv(60.0); big_rate = big_n / (time.time() - t)
    lat = []
    t = time.time()
    for i in range(rr_n):
        t0 = time.time(); req.ping(i).result(10.0); lat.append((time.time() - t0) * 1000)
    rr_rate = rr_n / (time.time() - t)
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    sys.stdout.write('FIGURES %f %f %f %f %f\n' % (small_rate, big_rate, rr_rate, q(0.5), q(0.99))); sys.stdout.flush()
    c.close()
`;

function run(cmd: string, args: string[]): { lines: AsyncIterable<string>; child: ReturnType<typeof spawn> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = (async function* () {
    let partial = '';
    for await (const chunk of child.stdout!) {
      partial += String(chunk);
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        yield partial.slice(0, nl);
        partial = partial.slice(nl + 1);
      }
    }
  })();
  return { lines, child };
}

async function first(lines: AsyncIterable<string>, prefix: string): Promise<string> {
  for await (const l of lines) if (l.startsWith(prefix)) return l;
  throw new Error(`no ${prefix} line`);
}

async function node_side(): Promise<Figures> {
  const server = run(process.execPath, [SELF, 'server', String(NODE.small_n), String(NODE.big_n)]);
  const port = Number((await first(server.lines, 'PORT ')).split(' ')[1]);
  const client = run(process.execPath, [SELF, 'client', String(port)]);
  const line = await first(client.lines, 'FIGURES ');
  server.child.kill();
  const [small_rate, big_rate, rr_rate, p50, p99] = line.split(' ').slice(1).map(Number) as [number, number, number, number, number];
  return { small_rate, big_rate, rr_rate, p50, p99 };
}

async function python_side(): Promise<Figures | string> {
  if (!fs.existsSync(path.join(YOTON_DIR, 'yoton', '__init__.py'))) return 'no Python yoton (run `npm run peers`)';
  const free = 20000 + Math.floor(Math.random() * 20000);
  const server = run('python3', ['-c', PY_SCRIPT, YOTON_DIR, 'server', String(PY.small_n), String(PY.big_n), String(free)]);
  const port = Number((await first(server.lines, 'PORT ')).split(' ')[1]);
  const client = run('python3', ['-c', PY_SCRIPT, YOTON_DIR, 'client', String(port), String(PY.small_n), String(PY.big_n), String(PY.rr_n)]);
  const line = await first(client.lines, 'FIGURES ');
  server.child.kill();
  const [small_rate, big_rate, rr_rate, p50, p99] = line.split(' ').slice(1).map(Number) as [number, number, number, number, number];
  return { small_rate, big_rate, rr_rate, p50, p99 };
}

/** A Node client against a Python yoton server: what mixing costs (Python still writes in two sends). */
async function mixed_side(): Promise<Figures | string> {
  if (!fs.existsSync(path.join(YOTON_DIR, 'yoton', '__init__.py'))) return 'no Python yoton';
  const free = 20000 + Math.floor(Math.random() * 20000);
  const server = run('python3', ['-c', PY_SCRIPT, YOTON_DIR, 'server', String(PY.small_n), String(PY.big_n), String(free)]);
  const port = Number((await first(server.lines, 'PORT ')).split(' ')[1]);
  const client = run(process.execPath, [SELF, 'client', String(port), String(PY.small_n), String(PY.big_n), String(MIXED_RR)]);
  const line = await first(client.lines, 'FIGURES ');
  server.child.kill();
  const [small_rate, big_rate, rr_rate, p50, p99] = line.split(' ').slice(1).map(Number) as [number, number, number, number, number];
  return { small_rate, big_rate, rr_rate, p50, p99 };
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const role = process.argv[2];
  if (role === 'server') return node_server();
  if (role === 'client') {
    const counts = process.argv[4] ? { small_n: Number(process.argv[4]), big_n: Number(process.argv[5]), rr_n: Number(process.argv[6]) } : NODE;
    const f = await node_client(Number(process.argv[3]), counts);
    console.log(`FIGURES ${f.small_rate} ${f.big_rate} ${f.rr_rate} ${f.p50} ${f.p99}`);
    return;
  }
  const guard = setTimeout(() => {
    console.error('yoton_bench: gave up after 120 s');
    process.exit(1);
  }, 120000);
  const node = await node_side();
  const py = await python_side();
  const mixed = await mixed_side();
  clearTimeout(guard);
  const mb = (rate: number): number => (rate * 65536) / 1e6;
  const cell = (f: Figures | string, pick: (f: Figures) => string): string => (typeof f === 'string' ? f : pick(f));
  const ratio = (pick: (f: Figures) => number): string => (typeof py === 'string' ? '' : `${fmt(pick(node) / pick(py), 1)}x`);
  console.log(`yoton: Node<->Node vs Python yoton<->yoton (two processes each, 127.0.0.1)${QUICK ? ' --quick' : ''}\n`);
  console.log('| case | trousers/yoton | Python yoton 2.2 | ratio |');
  console.log('|---|---|---|---|');
  console.log(`| pub/sub 32 B, msgs/s | ${fmt(node.small_rate)} | ${cell(py, (f) => fmt(f.small_rate))} | ${ratio((f) => f.small_rate)} |`);
  console.log(`| pub/sub 64 KiB, msgs/s | ${fmt(node.big_rate)} (${fmt(mb(node.big_rate))} MB/s) | ${cell(py, (f) => `${fmt(f.big_rate)} (${fmt(mb(f.big_rate))} MB/s)`)} | ${ratio((f) => f.big_rate)} |`);
  console.log(`| req/rep, calls/s | ${fmt(node.rr_rate)} | ${cell(py, (f) => fmt(f.rr_rate, 1))} | ${ratio((f) => f.rr_rate)} |`);
  console.log(`| req/rep p50 / p99, ms | ${fmt(node.p50, 3)} / ${fmt(node.p99, 3)} | ${cell(py, (f) => `${fmt(f.p50, 1)} / ${fmt(f.p99, 1)}`)} | |`);
  console.log('\nNode client -> Python yoton server (the same cases, Python counts):\n');
  console.log(`| pub/sub 32 B, msgs/s | pub/sub 64 KiB, msgs/s | req/rep calls/s | req/rep p50 / p99, ms |`);
  console.log('|---|---|---|---|');
  console.log(
    typeof mixed === 'string'
      ? `| ${mixed} | | | |`
      : `| ${fmt(mixed.small_rate)} | ${fmt(mixed.big_rate)} | ${fmt(mixed.rr_rate)} | ${fmt(mixed.p50, 2)} / ${fmt(mixed.p99, 2)} |`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
