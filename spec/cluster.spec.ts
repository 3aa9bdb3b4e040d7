/**
 * run_cluster: a trousers line server on worker processes sharing one port through
 * node:cluster. The workers run `spec/cluster_entry.ts` (see its protocol); the primary is this
 * process (with `exec`), except in the last spec, where the entry script plays both roles.
 * Everything synchronises on messages from the workers and socket events, never on sleeps.
 */

import { spawn } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClusterError, is_primary, run_cluster, type ClusterHandle, type ClusterOptions, type WorkerExit } from '../lib/cluster/index.js';
import type { InetAddress } from '../lib/index.js';
import { capture_stderr, countdown, deferred, sock_path, within } from './_helpers.js';

const ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cluster_entry.js');

/** Starts a cluster of the entry script in this process (the primary), without signal handlers. */
async function start(options: Partial<ClusterOptions> & { args?: string[] } = {}): Promise<ClusterHandle> {
  const handle = await within(run_cluster({ workers: 2, exec: ENTRY, args: ['serve'], signals: false, start_timeout: 15000, ...options }), 20000, 'run_cluster');
  assert.is(handle.role, 'primary');
  return handle as ClusterHandle;
}

/** Collects the entry's own messages (`{ entry: ... }`) from every worker of this process. */
function entry_messages(): { on(kind: string, fn: (m: Record<string, unknown>, w: Worker) => void): void; off(): void } {
  const handlers = new Map<string, (m: Record<string, unknown>, w: Worker) => void>();
  const listener = (worker: Worker, m: unknown): void => {
    if (m === null || typeof m !== 'object') return;
    const kind = (m as Record<string, unknown>)['entry'];
    if (typeof kind === 'string') handlers.get(kind)?.(m as Record<string, unknown>, worker);
  };
  cluster.on('message', listener);
  return {
    on: (kind, fn) => handlers.set(kind, fn),
    off: () => cluster.off('message', listener),
  };
}

/** A line client over a raw `net.Socket`: `ask` a line and get the reply line; then `drain()`. */
class LineClient {
  private buffered = '';
  private waiting: ((line: string) => void) | null = null;
  private collecting = false;
  /** Bytes received after `collect()`, and the last few of them. */
  bytes = 0;
  tail = '';
  error: Error | null = null;
  readonly ended = deferred<void>();
  readonly closed = deferred<boolean>();

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.data(d));
    socket.on('end', () => this.ended.resolve());
    socket.on('error', (err) => {
      this.error = err;
    });
    socket.on('close', (had_error) => this.closed.resolve(had_error));
  }

  static connect(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }

  ask(line: string): Promise<string> {
    const reply = new Promise<string>((resolve) => {
      this.waiting = resolve;
    });
    this.socket.write(`${line}\r\n`);
    this.deliver();
    return within(reply, 10000, `reply to ${line}`);
  }

  /** From now on, count every byte (keeping the tail) instead of splitting lines. */
  collect(): void {
    this.collecting = true;
    this.bytes = this.buffered.length;
    this.tail = this.buffered.slice(-32);
    this.buffered = '';
  }

  private data(d: Buffer): void {
    if (this.collecting) {
      this.bytes += d.length;
      this.tail = (this.tail + d.toString('latin1', Math.max(0, d.length - 32))).slice(-32);
      return;
    }
    this.buffered += d.toString('latin1');
    this.deliver();
  }

  private deliver(): void {
    const at = this.buffered.indexOf('\r\n');
    if (at < 0 || this.waiting === null) return;
    const line = this.buffered.slice(0, at);
    this.buffered = this.buffered.slice(at + 2);
    const w = this.waiting;
    this.waiting = null;
    w(line);
  }
}

/** Resolves with the error of a connect to 127.0.0.1:port (the cluster must be gone). */
function connect_error(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

const t = suite('cluster');

t('options: bad values throw at once; this process is the primary', () => {
  assert.ok(is_primary());
  assert.throws(() => run_cluster(null as unknown as ClusterOptions), TypeError);
  assert.throws(() => run_cluster({ workers: 0 }), RangeError);
  assert.throws(() => run_cluster({ workers: 1.5 }), RangeError);
  assert.throws(() => run_cluster({ workers: '2' as unknown as number }), TypeError);
  assert.throws(() => run_cluster({ start: 5 as unknown as () => never }), TypeError);
  assert.throws(() => run_cluster({ max_restarts: -1 }), RangeError);
  assert.throws(() => run_cluster({ stop_timeout: -1 }), RangeError);
  assert.throws(() => run_cluster({ start_timeout: 0 }), RangeError);
  assert.throws(() => run_cluster({ start_timeout: 'soon' as unknown as number }), TypeError);
  assert.throws(() => run_cluster({ restart: 1 as unknown as boolean }), TypeError);
  assert.throws(() => run_cluster({ signals: 'no' as unknown as boolean }), TypeError);
  assert.throws(() => run_cluster({ exec: 5 as unknown as string }), TypeError);
  assert.throws(() => run_cluster({ args: [5] as unknown as string[] }), TypeError);
  assert.throws(() => run_cluster({ engine: {} as unknown as ClusterOptions['engine'] }), TypeError);
  assert.throws(() => run_cluster({ on_worker_exit: 'x' as unknown as () => void }), TypeError);
  assert.is(Object.keys(cluster.workers ?? {}).length, 0);
});

t('2 workers share one port (port 0); 20 clients are served by both; stop() flushes every queued reply and every worker exits 0', async () => {
  const BULK = 4 * 1024 * 1024;
  const msgs = entry_messages();
  const handle = await start();
  let clients: LineClient[] = [];
  try {
    const pids = handle.workers.map((w) => w.process.pid!);
    assert.is(pids.length, 2);
    const address = handle.address as InetAddress;
    assert.is(address.host, '127.0.0.1');
    assert.ok(address.port > 0, 'port 0 resolved to one shared port');

    clients = await within(Promise.all(Array.from({ length: 20 }, () => LineClient.connect(address.port))), 10000, 'connects');
    const who = await Promise.all(clients.map((c) => c.ask('WHO')));
    assert.equal([...new Set(who)].sort(), pids.map(String).sort(), 'both workers served, nobody else');
    assert.equal(await clients[0]!.ask('hello there'), 'hello there');

    // Every client asks for 4 MiB and stops reading, so replies pile up in the workers.
    const bulk = countdown(20);
    msgs.on('bulk', () => bulk.tick());
    for (const c of clients) {
      c.socket.pause();
      c.collect();
      c.socket.write(`BULK ${BULK}\r\n`);
    }
    await within(bulk.done, 10000, 'every BULK queued');

    const stopping = countdown(2);
    const reports: Record<string, unknown>[] = [];
    msgs.on('stopping', (m) => {
      reports.push(m);
      stopping.tick();
    });
    const stopped = handle.stop({ timeout: 15000 });
    await within(stopping.done, 10000, 'both workers begin shutting down');
    assert.equal(reports.map((r) => r['pid']).sort(), [...pids].sort());
    assert.is(reports.reduce((n, r) => n + (r['connections'] as number), 0), 20);
    // Replies must still be queued somewhere at shutdown, or stop() proves nothing. (Not
    // necessarily in both workers: loopback can buffer a paused client's 4 MiB in the kernel.)
    const queued = reports.map((r) => r['queued'] as number);
    assert.ok(queued.reduce((a, b) => a + b, 0) > 0, `replies still queued at shutdown: ${queued.join(', ')}`);

    // Now read: each client gets its whole reply, then BYE, then a clean end of stream.
    for (const c of clients) c.socket.resume();
    const had_errors = await within(Promise.all(clients.map((c) => c.closed.promise)), 20000, 'every connection closed');
    for (const c of clients) {
      assert.is(c.error, null);
      assert.is(c.bytes, BULK + '\r\nEND\r\nBYE\r\n'.length);
      assert.ok(c.tail.endsWith('xxx\r\nEND\r\nBYE\r\n'), JSON.stringify(c.tail));
    }
    assert.equal(had_errors, Array(20).fill(false));
    await Promise.all(clients.map((c) => c.ended.promise));

    const exits = await within(stopped, 20000, 'stop()');
    assert.is(exits.length, 2);
    for (const e of exits) {
      assert.is(e.code, 0);
      assert.is(e.signal, null);
      assert.is(e.reason, 'stopped');
      assert.is(e.restarted, false);
    }
    assert.equal(exits.map((e) => e.pid).sort(), [...pids].sort());
    assert.is(handle.workers.length, 0);
    assert.is(handle.stop(), stopped, 'a second stop() returns the same promise');
    assert.equal(await handle.stopped, exits);
    assert.is(await connect_error(address.port), 'ECONNREFUSED');
  } finally {
    msgs.off();
    for (const c of clients) c.socket.destroy();
    await handle.stop({ timeout: 0 });
  }
});

t('a worker that exits while running is reported and replaced, at most max_restarts times', async () => {
  const exits: WorkerExit[] = [];
  let exit_seen = deferred<WorkerExit>();
  let listening = countdown(3); // the two first workers and one replacement
  const ports: number[] = [];
  const handle = await start({
    restart: true,
    max_restarts: 1,
    on_worker_exit: (e) => {
      exits.push(e);
      exit_seen.resolve(e);
    },
    on_worker_listening: (_worker, address) => {
      ports.push((address as InetAddress).port);
      listening.tick();
    },
  });
  try {
    const port = (handle.address as InetAddress).port;
    const first = await LineClient.connect(port);
    const victim = Number(await first.ask('WHO'));
    first.socket.write('CRASH\r\n');
    const e1 = await within(exit_seen.promise, 10000, 'first crash');
    assert.is(e1.pid, victim);
    assert.is(e1.code, 3);
    assert.is(e1.reason, 'exited');
    assert.is(e1.restarted, true);
    await within(listening.done, 15000, 'the replacement listens');
    assert.is(handle.restarts, 1);
    assert.is(handle.workers.length, 2);
    assert.not.ok(handle.workers.some((w) => w.process.pid === victim));
    assert.equal(ports, [port, port, port], 'the replacement listens on the same shared port');

    // The replacement serves on the same port; a second crash is not replaced (budget spent).
    exit_seen = deferred<WorkerExit>();
    const second = await LineClient.connect(port);
    const victim2 = Number(await second.ask('WHO'));
    second.socket.write('CRASH\r\n');
    const e2 = await within(exit_seen.promise, 10000, 'second crash');
    assert.is(e2.pid, victim2);
    assert.is(e2.restarted, false);
    assert.is(handle.workers.length, 1);
    const third = await LineClient.connect(port);
    assert.is(await third.ask('WHO'), String(handle.workers[0]!.process.pid));
    third.socket.end();

    const stop_exits = await within(handle.stop({ timeout: 5000 }), 15000, 'stop()');
    assert.is(stop_exits.length, 1);
    assert.is(stop_exits[0]!.code, 0);
    assert.is(stop_exits[0]!.reason, 'stopped');
    assert.is((await handle.stopped).length, 3);
    assert.is(exits.length, 3);
    await Promise.all([first.closed.promise, second.closed.promise, third.closed.promise]);
  } finally {
    listening = countdown(0);
    await handle.stop({ timeout: 0 });
  }
});

t('the cluster is down when its last worker exits with no restart: stopped resolves (a throwing on_worker_exit is only reported)', async () => {
  const handle = await start({
    workers: 1,
    on_worker_exit: () => {
      throw new Error('observer broke');
    },
  });
  const port = (handle.address as InetAddress).port;
  const c = await LineClient.connect(port);
  await c.ask('WHO');
  const { value: exits, text } = await capture_stderr(async () => {
    c.socket.write('CRASH\r\n');
    return within(handle.stopped, 10000, 'stopped');
  });
  assert.match(text, /on_worker_exit threw: Error: observer broke/);
  assert.is(exits.length, 1);
  assert.is(exits[0]!.code, 3);
  assert.is(exits[0]!.reason, 'exited');
  assert.equal(await handle.stop(), []);
  await c.closed.promise;
});

t('start() throwing in a worker rejects run_cluster with its message; no worker is left', async () => {
  const err = await run_cluster({ workers: 2, exec: ENTRY, args: ['fail'], signals: false }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(err, ClusterError);
  assert.is((err as ClusterError).code, 'ERR_CLUSTER_START');
  assert.match((err as Error).message, /start failed on purpose/);
  assert.is(Object.keys(cluster.workers ?? {}).length, 0);
});

t('a worker that does not listen within start_timeout is killed and run_cluster rejects', async () => {
  const err = await run_cluster({ workers: 1, exec: ENTRY, args: ['idle'], signals: false, start_timeout: 300 }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(err, ClusterError);
  assert.match((err as Error).message, /did not listen within 300 ms/);
  assert.is(Object.keys(cluster.workers ?? {}).length, 0);
});

t('a bind error (EADDRINUSE) in the workers rejects run_cluster', async () => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const port = (holder.address() as net.AddressInfo).port;
  try {
    const err = await run_cluster({ workers: 2, exec: ENTRY, args: ['port', String(port)], signals: false }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.instance(err, ClusterError);
    assert.match((err as Error).message, /EADDRINUSE/);
    assert.is(Object.keys(cluster.workers ?? {}).length, 0);
  } finally {
    await new Promise((r) => holder.close(r));
  }
});

t('Unix socket paths are refused (TCP only), and the workers are stopped', async () => {
  const err = await run_cluster({ workers: 2, exec: ENTRY, args: ['unix', sock_path('cluster')], signals: false }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(err, ClusterError);
  assert.is((err as ClusterError).code, 'ERR_CLUSTER_UNIX');
  assert.is(Object.keys(cluster.workers ?? {}).length, 0);
});

t('stop() kills a worker whose shutdown does not finish within timeout + 1 s', async () => {
  const handle = await start({ workers: 1 });
  const c = await LineClient.connect((handle.address as InetAddress).port);
  assert.is(await c.ask('HANG'), 'OK');
  const exits = await within(handle.stop({ timeout: 100 }), 10000, 'stop()');
  assert.is(exits.length, 1);
  assert.is(exits[0]!.reason, 'killed');
  assert.is(exits[0]!.signal, 'SIGKILL');
  await c.closed.promise;
});

t('one script, both roles: the entry run as primary serves, and SIGTERM stops every worker gracefully (exit 0)', async () => {
  const child = spawn(process.execPath, [ENTRY, 'serve', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const ready = deferred<string[]>();
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /^READY (.*)$/m.exec(out);
    if (m) ready.resolve(m[1]!.split(' '));
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const [port, ...pids] = await within(ready.promise, 15000, 'READY');
    assert.is(pids.length, 2);
    const clients = await Promise.all(Array.from({ length: 4 }, () => LineClient.connect(Number(port))));
    const who = await Promise.all(clients.map((c) => c.ask('WHO')));
    assert.equal([...new Set(who)].sort(), [...pids].sort());
    child.kill('SIGTERM');
    for (const c of clients) c.collect();
    await within(Promise.all(clients.map((c) => c.closed.promise)), 10000, 'clients closed');
    for (const c of clients) {
      assert.is(c.tail, 'BYE\r\n');
      assert.is(c.error, null);
    }
    assert.is(await within(exited, 10000, 'primary exit'), 0, err);
    const lines = out.split('\n').filter((l) => l.startsWith('EXIT '));
    assert.equal(lines.map((l) => l.split(' ')[1]).sort(), [...pids].sort());
    for (const l of lines) assert.match(l, / 0 null stopped$/);
    assert.match(err, /SIGTERM: stopping 2 worker\(s\)/);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  }
});

t.run();
