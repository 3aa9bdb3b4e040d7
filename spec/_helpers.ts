/**
 * Shared spec utilities: temp paths, transports, event waiting, a deterministic RNG.
 * Specs synchronise on events (promises resolved from callbacks), never on sleeps.
 */

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Address, InetAddress, ReportedAddress } from '../lib/index.js';

/** Temp directories to remove at exit (one 'exit' listener for all of them). */
const temp_dirs: string[] = [];

/** A fresh temp directory (removed at process exit). */
export function temp_dir(prefix = 'trousers-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (temp_dirs.length === 0) {
    process.once('exit', () => {
      for (const d of temp_dirs) fs.rmSync(d, { recursive: true, force: true });
    });
  }
  temp_dirs.push(dir);
  return dir;
}

let sock_counter = 0;
let sock_dir: string | undefined;
/** A fresh Unix socket path in a temp directory. */
export function sock_path(name = 's'): string {
  sock_dir ??= temp_dir('trousers-sock-');
  return path.join(sock_dir, `${name}-${process.pid}-${++sock_counter}.sock`);
}

/** A promise with its resolve/reject exposed. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** Makes a {@link Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Rejects if `promise` has not settled within `ms` (a safety net so a broken spec fails
 * instead of hanging; never used to wait for something to happen).
 */
export function within<T>(promise: Promise<T>, ms = 10000, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** Counts calls and resolves once `n` have happened. */
export function countdown(n: number): { tick(): void; done: Promise<void>; readonly count: number } {
  const d = deferred();
  let count = 0;
  if (n <= 0) d.resolve();
  return {
    tick() {
      count++;
      if (count === n) d.resolve();
    },
    done: d.promise,
    get count() {
      return count;
    },
  };
}

/** A transport the behavioural suites run over. */
export interface Transport {
  name: string;
  /** An address to listen on (port 0 / a fresh path). */
  listen_address(): Address;
  /** The address to connect to, given the server's `local_address`. */
  connect_address(local: ReportedAddress | null): Address;
}

/** TCP over IPv4, TCP over IPv6 (when the machine has ::1), Unix sockets. */
export const TCP4: Transport = {
  name: 'tcp4',
  listen_address: () => ['127.0.0.1', 0],
  connect_address: (local) => ['127.0.0.1', (local as InetAddress).port],
};
export const TCP6: Transport = {
  name: 'tcp6',
  listen_address: () => ['::1', 0],
  connect_address: (local) => ['::1', (local as InetAddress).port],
};
export const UNIX: Transport = {
  name: 'unix',
  listen_address: () => sock_path(),
  connect_address: (local) => local as string,
};

/** Whether ::1 can be bound here. */
export async function has_ipv6(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '::1', port: 0 }, () => s.close(() => resolve(true)));
  });
}

/** A seeded PRNG (mulberry32): the same seed gives the same splits on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Captures what is written to stderr while `fn` runs (for default-callback specs). */
export async function capture_stderr<T>(fn: () => Promise<T>): Promise<{ value: T; text: string }> {
  const original = process.stderr.write.bind(process.stderr);
  let text = '';
  (process.stderr as unknown as { write: (chunk: unknown) => boolean }).write = (chunk: unknown) => {
    text += String(chunk);
    return true;
  };
  try {
    const value = await fn();
    return { value, text };
  } finally {
    (process.stderr as unknown as { write: typeof original }).write = original;
  }
}

/** Listens a raw node:net server on a transport and resolves with it and its address. */
export function raw_server(
  transport: Transport,
  on_connection: (socket: net.Socket) => void,
): Promise<{ server: net.Server; address: Address; close(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true }, on_connection);
    server.once('error', reject);
    const la = transport.listen_address();
    const opts = typeof la === 'string' ? { path: la } : { host: (la as [string, number])[0], port: 0 };
    server.listen(opts, () => {
      const a = server.address();
      const local: ReportedAddress = typeof a === 'string' ? a : { host: a!.address, port: a!.port, family: a!.family === 'IPv6' ? 'IPv6' : 'IPv4' };
      resolve({
        server,
        address: transport.connect_address(local),
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

/** Connects a raw node:net socket to an address given in trousers form. */
export function raw_connect(address: Address): net.Socket {
  if (typeof address === 'string') return net.connect({ path: address, allowHalfOpen: true });
  if (typeof address === 'number') return net.connect({ port: address, host: '127.0.0.1', allowHalfOpen: true });
  if (Array.isArray(address)) return net.connect({ host: address[0] as string, port: address[1] as number, allowHalfOpen: true });
  const a = address as { host?: string; port: number };
  return net.connect({ host: a.host ?? '127.0.0.1', port: a.port, allowHalfOpen: true });
}

/** Reads a raw socket until it ends, then ends it too; resolves with every byte. */
export function read_all(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => {
      socket.end(); // the peer is done: close our side too, so no socket stays half-open
      resolve(Buffer.concat(chunks));
    });
    socket.once('error', (err) => {
      socket.destroy();
      reject(err);
    });
  });
}

/** Reads a raw socket until `n` bytes have arrived. */
export function read_n(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const on_data = (c: Buffer): void => {
      chunks.push(c);
      got += c.length;
      if (got >= n) {
        socket.off('data', on_data);
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', on_data);
    socket.once('error', reject);
  });
}
