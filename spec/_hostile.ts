/**
 * The hostile peer and the fault suite's tools.
 *
 * A {@link HostilePeer} is a raw `node:net` socket on loopback (TCP or a Unix path), scripted
 * to be a bad neighbour: it sends byte by byte or in arbitrary chunks, floods, stalls (never
 * reads), half-closes, resets (RST through `resetAndDestroy()`), and meanwhile counts and
 * hashes (sha256) whatever it receives. It never throws: socket errors are recorded.
 *
 * Around it: a tripwire that turns anything uncaught into a failed test ({@link guard}),
 * quiescence detection by counting event-loop turns ({@link quiet}; no sleeps, no clocks),
 * open descriptors (`/proc/self/fd`), active handles (`process.getActiveResourcesInfo()`),
 * and child processes for what one process cannot do to itself: a listener that never
 * completes a handshake ({@link blackhole}), a client that needs no descriptor of ours
 * ({@link remote_client}), a UDP flood ({@link udp_flood}).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Address } from '../lib/index.js';
import { deferred, within, type Deferred } from './_helpers.js';

// ---------------------------------------------------------------------------- tripwire

/**
 * Wraps a test body: while it runs, `uncaughtException` and `unhandledRejection` are
 * recorded instead of crashing the process, and any of them fails the test.
 */
export function guard(fn: () => Promise<void> | void): () => Promise<void> {
  return async () => {
    const seen: unknown[] = [];
    const trip = (err: unknown): void => {
      seen.push(err);
    };
    process.on('uncaughtException', trip);
    process.on('unhandledRejection', trip);
    let failure: unknown;
    const started = process.hrtime.bigint();
    try {
      await fn();
    } catch (err) {
      failure = err;
    } finally {
      process.off('uncaughtException', trip);
      process.off('unhandledRejection', trip);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (process.env.TROUSERS_FAULT_VERBOSE && ms > Number(process.env.TROUSERS_FAULT_SLOW ?? 0)) {
        process.stderr.write(`  [fault] ${ms.toFixed(0)} ms\n`);
      }
    }
    if (seen.length > 0) {
      const first = seen[0];
      const text = first instanceof Error ? (first.stack ?? first.message) : String(first);
      throw new Error(`tripwire: ${seen.length} uncaught error(s); first: ${text}${failure ? `\n(the test also failed: ${String(failure)})` : ''}`);
    }
    if (failure !== undefined) throw failure;
  };
}

/** Prints a measurement when `TROUSERS_FAULT_VERBOSE` is set (the suite is silent otherwise). */
export function note(...what: unknown[]): void {
  if (process.env.TROUSERS_FAULT_VERBOSE) process.stderr.write(`  [fault] ${what.map(String).join(' ')}\n`);
}

// ---------------------------------------------------------------------------- event-loop turns

/** Resolves on the next turn of the event loop (after pending I/O has been handled). */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Resolves once `probe()` has returned the same value for `turns` consecutive event-loop
 * turns: nothing is moving any more (on loopback the kernel moves bytes synchronously, so
 * a transfer that makes no progress for many turns is stalled). Rejects after `max_turns`.
 */
export async function quiet(probe: () => unknown, turns = 64, max_turns = 1_000_000): Promise<void> {
  let last = probe();
  let same = 0;
  for (let n = 0; n < max_turns; n++) {
    await turn();
    const now = probe();
    if (Object.is(now, last)) {
      if (++same >= turns) return;
    } else {
      same = 0;
      last = now;
    }
  }
  throw new Error(`quiet(): still changing after ${max_turns} turns`);
}

/** Waits (turn by turn, at most `max_turns`) until `cond()` holds. */
export async function until(cond: () => boolean, what: string, max_turns = 200_000): Promise<void> {
  for (let n = 0; n < max_turns; n++) {
    if (cond()) return;
    await turn();
  }
  if (!cond()) throw new Error(`until(): ${what} did not happen within ${max_turns} turns`);
}

// ---------------------------------------------------------------------------- process measures

/** Resident set size in MiB. */
export function rss_mb(): number {
  return process.memoryUsage.rss() / 1048576;
}

/** Heap used in MiB (after a full GC when `--expose-gc` is on). */
export function heap_mb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 1048576;
}

/** Number of open file descriptors, or null where `/proc/self/fd` does not exist. */
export function open_fds(): number | null {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

/** Handle types the leak checks watch. */
export const WATCHED = ['TCPWrap', 'TCPServerWrap', 'PipeWrap', 'PipeServerWrap', 'UDPWrap', 'Timeout', 'FSReqCallback', 'ProcessWrap'] as const;

/**
 * Counts of active resources by type (`process.getActiveResourcesInfo()`). stdout and stderr
 * are created first: Node creates them lazily (closing any socket touches `process.stderr`),
 * and they are no leak.
 */
export function resources(): Record<string, number> {
  void process.stdout;
  void process.stderr;
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/** Watched resource types that are more numerous now than in `before`. */
export function grown_resources(before: Record<string, number>): Record<string, number> {
  const now = resources();
  const grown: Record<string, number> = {};
  for (const k of WATCHED) {
    const d = (now[k] ?? 0) - (before[k] ?? 0);
    if (d > 0) grown[k] = d;
  }
  return grown;
}

const BASELINE = Symbol.for('trousers.fault.baseline');

/**
 * The resources active before the first fault spec ran (taken once, by whichever fault
 * suite's `before` hook runs first), for the final leak check.
 */
export function fault_baseline(): Record<string, number> {
  const g = globalThis as unknown as Record<symbol, Record<string, number> | undefined>;
  g[BASELINE] ??= resources();
  return g[BASELINE]!;
}

// ---------------------------------------------------------------------------- the hostile peer

/** Every peer made here, so the last spec can check they are all gone. */
export const peers: Set<HostilePeer> = new Set();

/** How a chunked send paces itself. */
export type Pace =
  /** One chunk per event-loop turn: the receiver reads it before the next is written. */
  | 'turn'
  /** cork / write / uncork per chunk, no waiting: one write each, the kernel may coalesce. */
  | 'burst';

/** Options of a {@link HostilePeer}. */
export interface PeerOptions {
  /** Start reading at once (default true); false: a peer that does not read until `read()`. */
  read?: boolean;
  /** Keep the bytes received (default false: only counted and hashed). */
  keep?: boolean;
  /**
   * Stay half-open when the other side ends (default false: answer its FIN with ours, as
   * ordinary peers do). A half-open peer never closes its side by itself.
   */
  half_open?: boolean;
}

/** A scriptable bad peer on a raw socket. */
export class HostilePeer {
  readonly socket: net.Socket;
  /** Bytes received so far. */
  received = 0;
  /** Bytes handed to `write()` so far. */
  sent = 0;
  /** What was received, when `keep` is on. */
  readonly chunks: Buffer[] = [];
  /** Errors the socket reported (ECONNRESET, EPIPE, ...). */
  readonly errors: NodeJS.ErrnoException[] = [];
  /** Resolves when connected (or rejects on a connect error). */
  readonly connected: Promise<void>;
  /** Resolves when the other side ended the stream (its FIN). */
  readonly ended: Promise<void>;
  /** Resolves when the socket has closed, however. */
  readonly closed: Promise<void>;
  /** True once the other side's FIN was seen. */
  got_end = false;
  /** True once the socket closed. */
  is_closed = false;
  /** The local port once connected (TCP), kept after the socket closes. */
  local_port: number | undefined;

  private readonly rx_hash: Hash = createHash('sha256');
  private readonly tx_hash: Hash = createHash('sha256');
  private readonly keep: boolean;
  private readonly unix: boolean;
  private reading = false;
  private waiters: { n: number; d: Deferred<void> }[] = [];
  private text_waiters: { has: () => boolean; d: Deferred<void>; text: string }[] = [];

  private constructor(socket: net.Socket, options: PeerOptions, already_connected: boolean, unix: boolean) {
    this.socket = socket;
    this.keep = options.keep === true;
    this.unix = unix;
    peers.add(this);
    const connected = deferred();
    const ended = deferred();
    const closed = deferred();
    this.connected = connected.promise;
    this.ended = ended.promise;
    this.closed = closed.promise;
    connected.promise.catch(() => {});
    if (already_connected) {
      this.local_port = socket.localPort;
      connected.resolve();
    } else {
      socket.once('connect', () => {
        this.local_port = socket.localPort;
        connected.resolve();
      });
    }
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.errors.push(err);
      connected.reject(err);
    });
    socket.on('end', () => {
      this.got_end = true;
      ended.resolve();
      if (options.half_open !== true && !socket.writableEnded) socket.end();
    });
    socket.on('close', () => {
      this.is_closed = true;
      peers.delete(this);
      connected.reject(new Error('closed before connecting'));
      ended.resolve();
      closed.resolve();
      for (const w of this.waiters) w.d.reject(new Error(`peer closed after ${this.received} of ${w.n} bytes`));
      this.waiters = [];
      for (const w of this.text_waiters) {
        if (w.has()) w.d.resolve();
        else w.d.reject(new Error(`peer closed without receiving ${JSON.stringify(w.text)}`));
      }
      this.text_waiters = [];
    });
    if (options.read !== false) this.read();
  }

  /** Connects to a trousers address (a port, `[host, port]`, `{ host, port }` or a path). */
  static connect(address: Address, options: PeerOptions = {}): HostilePeer {
    let socket: net.Socket;
    if (typeof address === 'string') socket = net.connect({ path: address, allowHalfOpen: true });
    else if (typeof address === 'number') socket = net.connect({ port: address, host: '127.0.0.1', allowHalfOpen: true });
    else if (Array.isArray(address)) socket = net.connect({ host: address[0] as string, port: address[1] as number, allowHalfOpen: true });
    else {
      const a = address as { host?: string; port: number };
      socket = net.connect({ host: a.host ?? '127.0.0.1', port: a.port, allowHalfOpen: true });
    }
    if (typeof address !== 'string') socket.setNoDelay(true);
    return new HostilePeer(socket, options, false, typeof address === 'string');
  }

  /** Wraps a socket a raw server accepted. */
  static adopt(socket: net.Socket, options: PeerOptions = {}): HostilePeer {
    return new HostilePeer(socket, options, true, socket.remoteFamily === undefined);
  }

  /** sha256 (hex) of everything received so far. */
  rx_digest(): string {
    return this.rx_hash.copy().digest('hex');
  }

  /** sha256 (hex) of everything sent so far. */
  tx_digest(): string {
    return this.tx_hash.copy().digest('hex');
  }

  /** Everything received (needs `keep`). */
  data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Starts (or resumes) reading. */
  read(): void {
    if (!this.reading) {
      this.reading = true;
      this.socket.on('data', (chunk: Buffer) => this.on_data(chunk));
    }
    this.socket.resume();
  }

  /** Stops reading: the kernel's buffers fill and the other side's writes back up. */
  stall(): void {
    this.socket.pause();
  }

  /** Resolves once the bytes received (needs `keep`) contain `text` (latin1). */
  wait_text(text: string): Promise<void> {
    const has = (): boolean => this.data().includes(Buffer.from(text, 'latin1'));
    if (has()) return Promise.resolve();
    if (this.is_closed) return Promise.reject(new Error(`peer closed without receiving ${JSON.stringify(text)}`));
    const d = deferred();
    this.text_waiters.push({ has, d, text });
    return d.promise;
  }

  /** Resolves once `n` bytes in total have been received. */
  wait_received(n: number): Promise<void> {
    if (this.received >= n) return Promise.resolve();
    if (this.is_closed) return Promise.reject(new Error(`peer closed after ${this.received} of ${n} bytes`));
    const d = deferred();
    this.waiters.push({ n, d });
    return d.promise;
  }

  /** Writes bytes; resolves when the kernel has them (or the socket failed). */
  send(data: string | Buffer): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    if (this.socket.destroyed || this.socket.writableEnded) return Promise.resolve();
    this.sent += buf.length;
    this.tx_hash.update(buf);
    return new Promise((resolve) => this.socket.write(buf, () => resolve()));
  }

  /**
   * Sends `data` cut at the given chunk sizes (cycled if too few; 1 = byte by byte), each
   * chunk its own write, paced as `pace` says. Honours backpressure.
   */
  async send_chunks(data: Buffer, sizes: readonly number[] | ((i: number) => number), pace: Pace): Promise<void> {
    const size_of = typeof sizes === 'function' ? sizes : (i: number) => sizes[i % sizes.length]!;
    let off = 0;
    for (let i = 0; off < data.length; i++) {
      if (this.socket.destroyed || this.socket.writableEnded) return;
      const n = Math.max(1, Math.min(size_of(i), data.length - off));
      const chunk = data.subarray(off, off + n);
      off += n;
      this.sent += n;
      this.tx_hash.update(chunk);
      this.socket.cork();
      this.socket.write(chunk);
      this.socket.uncork();
      if (pace === 'turn') await turn();
      if (this.socket.writableNeedDrain && !this.socket.destroyed) await this.drain_or_close();
    }
  }

  /**
   * Sends `total` bytes made of `chunk_of(0)`, `chunk_of(1)`, ... (the last one cut to fit),
   * honouring backpressure (waits for 'drain' whenever `write()` returns false).
   */
  async pump(total: number, chunk_of: (i: number) => Buffer): Promise<void> {
    for (let i = 0; this.sent < total; i++) {
      if (this.socket.destroyed || this.socket.writableEnded) return;
      let chunk = chunk_of(i);
      if (this.sent + chunk.length > total) chunk = chunk.subarray(0, total - this.sent);
      this.sent += chunk.length;
      this.tx_hash.update(chunk);
      if (!this.socket.write(chunk)) await this.drain_or_close();
    }
  }

  /**
   * Writes `chunk` again and again, up to `max_bytes`, until the other side stops taking
   * bytes: resolves `{ stalled: true }` when a write has been pending for many turns with
   * nothing moving, or `{ stalled: false }` once `max_bytes` were all taken.
   */
  async flood(chunk: Buffer, max_bytes: number): Promise<{ stalled: boolean }> {
    while (this.sent < max_bytes) {
      if (this.socket.destroyed || this.socket.writableEnded) return { stalled: false };
      this.sent += chunk.length;
      this.tx_hash.update(chunk);
      if (!this.socket.write(chunk)) {
        let drained = false;
        const on_drain = (): void => {
          drained = true;
        };
        this.socket.once('drain', on_drain);
        await quiet(() => (drained ? -1 : this.socket.writableLength));
        this.socket.off('drain', on_drain);
        if (!drained && this.socket.writableLength > 0) return { stalled: true };
      }
    }
    return { stalled: false };
  }

  /** Half-closes: sends FIN, keeps reading. */
  half_close(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  /** Resets the connection: RST on TCP (`resetAndDestroy`), an abrupt destroy on Unix sockets. */
  reset(): void {
    if (this.socket.destroyed) return;
    if (this.unix) this.socket.destroy();
    else this.socket.resetAndDestroy();
  }

  /** Closes the socket without ceremony. */
  destroy(): void {
    this.socket.destroy();
  }

  private on_data(chunk: Buffer): void {
    this.received += chunk.length;
    this.rx_hash.update(chunk);
    if (this.keep) this.chunks.push(chunk);
    if (this.waiters.length > 0) {
      const due = this.waiters.filter((w) => this.received >= w.n);
      this.waiters = this.waiters.filter((w) => this.received < w.n);
      for (const w of due) w.d.resolve();
    }
    if (this.text_waiters.length > 0) {
      const due = this.text_waiters.filter((w) => w.has());
      this.text_waiters = this.text_waiters.filter((w) => !due.includes(w));
      for (const w of due) w.d.resolve();
    }
  }

  private drain_or_close(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }
}

/** A raw listening server whose accepted sockets become hostile peers. */
export interface HostileServer {
  server: net.Server;
  /** Where to connect: `['127.0.0.1', port]` or the path. */
  address: Address;
  /** The next accepted peer (in order). */
  next(): Promise<HostilePeer>;
  close(): Promise<void>;
}

/** Listens a raw server on `listen_at` (`['127.0.0.1', 0]`-style or a path). */
export function hostile_server(listen_at: Address, options: PeerOptions = {}): Promise<HostileServer> {
  return new Promise((resolve, reject) => {
    const accepted: HostilePeer[] = [];
    const waiting: Deferred<HostilePeer>[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      const peer = HostilePeer.adopt(socket, options);
      const w = waiting.shift();
      if (w) w.resolve(peer);
      else accepted.push(peer);
    });
    server.once('error', reject);
    const opts = typeof listen_at === 'string' ? { path: listen_at } : { host: (listen_at as [string, number])[0], port: 0 };
    server.listen(opts, () => {
      const a = server.address();
      const address: Address = typeof a === 'string' ? a : [a!.address, a!.port];
      resolve({
        server,
        address,
        next() {
          const p = accepted.shift();
          if (p) return Promise.resolve(p);
          const d = deferred<HostilePeer>();
          waiting.push(d);
          return d.promise;
        },
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

// ---------------------------------------------------------------------------- deterministic data

/** A pool of seeded pseudo-random bytes; `slice(i, n)` gives cheap, varied views of it. */
export class DataPool {
  readonly pool: Buffer;
  constructor(size: number, seed: number) {
    this.pool = Buffer.allocUnsafe(size);
    let a = seed >>> 0;
    for (let i = 0; i < size; i += 4) {
      a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
      this.pool.writeUInt32LE(a, i);
    }
  }
  /** The `i`-th chunk of `n` bytes: a view starting at a position that varies with `i`. */
  slice(i: number, n: number): Buffer {
    const span = this.pool.length - n;
    const at = Number((BigInt(i) * 2654435761n) % BigInt(span + 1));
    return this.pool.subarray(at, at + n);
  }
}

// ---------------------------------------------------------------------------- child processes

/** Every child started here, killed by {@link kill_children}. */
const children = new Set<ChildProcess>();

/** A child process speaking lines on stdin/stdout. */
export interface LineChild {
  child: ChildProcess;
  /** The next line the child prints. */
  line(): Promise<string>;
  /** Sends a line to the child's stdin. */
  say(text: string): void;
  /** Kills the child (SIGKILL) and resolves once it has exited. */
  kill(): Promise<void>;
}

/** Runs `node -e script` with stdin/stdout as line channels. */
export function node_child(script: string, args: string[] = []): LineChild {
  const child = spawn(process.execPath, ['-e', script, '--', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => children.delete(child));
  const lines: string[] = [];
  const waiting: Deferred<string>[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (text: string) => {
    partial += text;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const l = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      const w = waiting.shift();
      if (w) w.resolve(l);
      else lines.push(l);
    }
  });
  child.stdin!.on('error', () => {});
  child.once('exit', () => {
    for (const w of waiting.splice(0)) w.reject(new Error('child exited'));
  });
  return {
    child,
    line() {
      const l = lines.shift();
      if (l !== undefined) return Promise.resolve(l);
      if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error('child exited'));
      const d = deferred<string>();
      waiting.push(d);
      return within(d.promise, 15000, 'a line from the child');
    },
    say(text: string) {
      child.stdin!.write(text + '\n');
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      return exited;
    },
  };
}

/** Kills every child still running. */
export async function kill_children(): Promise<void> {
  await Promise.all([...children].map((c) => {
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
    c.kill('SIGKILL');
    return gone;
  }));
}

/**
 * A TCP listener (in a child process) that never completes another handshake: its accept
 * queue (backlog 1) is filled and it never accepts, so further SYNs go unanswered. The child
 * blocks its own event loop (at most 60 s) right after printing its port.
 */
export async function blackhole(): Promise<{ port: number; kill(): Promise<void> }> {
  const c = node_child(`
    const net = require('net'), fs = require('fs');
    const s = net.createServer();
    s.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
      fs.writeSync(1, s.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
      process.exit(0);
    });
  `);
  const port = Number(await c.line());
  return { port, kill: () => c.kill() };
}

/**
 * A client in a child process (so it needs none of our descriptors): each `attempt()`
 * connects to `port`, sends "ping", and resolves with "ok" (echoed back), "end:<got>" (closed
 * by the server first) or "error:<code>".
 */
export function remote_client(port: number): { attempt(): Promise<string>; kill(): Promise<void> } {
  const c = node_child(`
    const net = require('net');
    require('readline').createInterface({ input: process.stdin }).on('line', () => {
      const s = net.connect(${port}, '127.0.0.1');
      let got = '', done = false;
      const report = (what) => { if (!done) { done = true; console.log(what); } s.destroy(); };
      s.on('connect', () => s.write('ping'));
      s.on('data', (d) => { got += d; if (got === 'ping') report('ok'); });
      s.on('error', (e) => report('error:' + e.code));
      s.on('end', () => report('end:' + got));
      s.on('close', () => report('close:' + got));
    }).on('close', () => process.exit(0));
  `);
  return {
    attempt() {
      c.say('go');
      return c.line();
    },
    kill: () => c.kill(),
  };
}

/**
 * Floods `port` on 127.0.0.1 with `count` UDP packets of `size` bytes from a child process
 * (batches of 64 per turn) and resolves when the child has sent them all and exited.
 */
export async function udp_flood(port: number, count: number, size: number): Promise<void> {
  const c = node_child(`
    const dgram = require('dgram');
    const s = dgram.createSocket('udp4');
    const buf = Buffer.alloc(${size}, 0x66);
    let sent = 0, acked = 0;
    const batch = () => {
      for (let i = 0; i < 64 && sent < ${count}; i++, sent++) s.send(buf, ${port}, '127.0.0.1', () => { if (++acked === ${count}) { console.log('sent ' + acked); s.close(); } });
      if (sent < ${count}) setImmediate(batch);
    };
    batch();
  `);
  await c.line();
  await within(new Promise<void>((r) => (c.child.exitCode !== null ? r() : c.child.once('exit', () => r()))), 10000, 'flood child exit');
}
