/**
 * Spec utilities that need trousers channels: a server started on a transport, a client
 * that records what happens to it.
 */

import { Client, Connection, Engine, Server, type Address, type ConnectError, type StreamServerOptions } from '../lib/index.js';
import { deferred, within, type Deferred, type Transport } from './_helpers.js';

/** A started trousers server and the address to reach it. */
export interface Started<C extends Connection> {
  server: Server<C>;
  address: Address;
  engine: Engine;
  /** Stops the whole engine (server, its connections, any client made on it). */
  stop(): Promise<void>;
}

/** Starts `new Server(Conn, { engine })` on `transport` and resolves once it listens. */
export async function start_server<C extends Connection>(
  transport: Transport,
  Conn: new (options: ConstructorParameters<typeof Connection>[0]) => C,
  engine = new Engine(),
  options: Omit<StreamServerOptions, 'engine'> = {},
): Promise<Started<C>> {
  const listening = deferred();
  const server = new Server<C>(Conn as never, { ...options, engine });
  server.on_listen = () => listening.resolve();
  server.on_error = (err: Error) => listening.reject(err);
  server.listen(transport.listen_address());
  await within(listening.promise, 5000, 'listen');
  return {
    server,
    engine,
    address: transport.connect_address(server.local_address),
    stop: () => within(engine.stop({ timeout: 2000 }), 8000, 'engine.stop'),
  };
}

/** A client that records its callbacks in order, with promises for the milestones. */
export class Recorder extends Client {
  /** Callback names in the order they ran. */
  events: string[] = [];
  /** Frames received, as on_read got them (first argument). */
  frames: unknown[] = [];
  /** Errors given to error callbacks. */
  errors: Error[] = [];
  readonly connected_p: Deferred<void> = deferred();
  readonly closed_p: Deferred<void> = deferred();
  /** Resolves when `frames.length` reaches `want_frames`. */
  frames_p: Deferred<unknown[]> = deferred();
  want_frames = Infinity;

  /** Arms `frames_p` for `n` frames in total. */
  expect_frames(n: number): Promise<unknown[]> {
    this.want_frames = n;
    this.frames_p = deferred();
    if (this.frames.length >= n) this.frames_p.resolve(this.frames);
    return within(this.frames_p.promise, 10000, `${n} frames`);
  }

  override on_connect(): void {
    this.events.push('on_connect');
    this.connected_p.resolve();
  }
  override on_read(...args: unknown[]): void {
    this.events.push('on_read');
    this.frames.push(args.length === 1 ? args[0] : args);
    if (this.frames.length >= this.want_frames) this.frames_p.resolve(this.frames);
  }
  override on_connect_error(err: ConnectError): void {
    this.events.push('on_connect_error');
    this.errors.push(err);
  }
  override on_error(err: Error): void {
    this.events.push('on_error');
    this.errors.push(err);
    this.close(false);
  }
  override on_close(): void {
    this.events.push('on_close');
    this.closed_p.resolve();
  }
}

/** Frames as strings, for readable assertions. */
export function strings(frames: unknown[]): string[] {
  return frames.map((f) => (Buffer.isBuffer(f) ? f.toString('latin1') : String(f)));
}
