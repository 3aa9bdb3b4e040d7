/**
 * Helpers of the yoton specs: linked contexts on one engine, waiting for signals, and a raw
 * yoton peer (a plain socket that speaks the handshake) for fault specs.
 */

import * as net from 'node:net';
import { Engine } from '../lib/index.js';
import { Context, HEADER_SIZE, handshake_line, type Connection, type ContextOptions, type Signal } from '../lib/yoton/index.js';
import { within } from './_helpers.js';

/** The next emission of `signal`, as its arguments. */
export function next<A extends unknown[]>(signal: Signal<A>, ms = 5000, what = 'signal'): Promise<A> {
  return within(
    new Promise<A>((resolve) => {
      const h = (...args: A): void => {
        signal.unbind(h);
        resolve(args);
      };
      signal.bind(h);
    }),
    ms,
    what,
  );
}

/** Resolves once `cond()` holds, checking every 5 ms (for states with no event of their own). */
export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A world of contexts on one engine, closed by `end()`. */
export class World {
  readonly engine = new Engine();
  readonly contexts: Context[] = [];
  readonly sockets: net.Socket[] = [];
  readonly servers: net.Server[] = [];

  ctx(options: Omit<ContextOptions, 'engine'> = {}): Context {
    const c = new Context({ ...options, engine: this.engine });
    this.contexts.push(c);
    return c;
  }

  /** `host` binds, `guest` connects; resolves with [host side, guest side]. */
  async link(host: Context, guest: Context): Promise<[Connection, Connection]> {
    const h = host.bind('localhost:0');
    await h.bound();
    const g = await guest.connect(`localhost:${h.port1}`);
    await until(() => h.is_connected, 'host side connected');
    return [h, g];
  }

  /** Closes every context, raw socket and server, and stops the engine. */
  async end(): Promise<void> {
    for (const c of this.contexts) c.close();
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
    await within(this.engine.stop({ timeout: 2000 }), 8000, 'engine.stop');
  }

  /** A raw socket to `port` that has sent a valid handshake line; `lines` holds what came back. */
  async raw_client(port: number, id = 0x0badc0ffee000001n): Promise<{ socket: net.Socket; received: () => Buffer }> {
    const socket = net.connect({ host: '127.0.0.1', port });
    this.sockets.push(socket);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(handshake_line(id, 4242));
    return { socket, received: () => Buffer.concat(chunks) };
  }

  /** A raw server; `on_socket` gets each accepted socket. Resolves with its port. */
  async raw_server(on_socket: (s: net.Socket) => void): Promise<number> {
    const server = net.createServer((s) => {
      this.sockets.push(s);
      s.on('error', () => {});
      on_socket(s);
    });
    this.servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return (server.address() as net.AddressInfo).port;
  }
}

/** Counts the zero-length packages with source_seq `seq` in `bytes` after the handshake line. */
export function count_control(bytes: Buffer, seq: bigint): number {
  const at = bytes.indexOf('\r\n');
  let n = 0;
  for (let i = at + 2; i + HEADER_SIZE <= bytes.length; ) {
    const len = bytes.readBigUInt64LE(i + 48);
    if (len === 0n && bytes.readBigUInt64LE(i + 24) === seq) n++;
    i += HEADER_SIZE + Number(len);
  }
  return n;
}
