/**
 * Connection: one link between two contexts (one TCP socket), as yoton's `TcpConnection`.
 *
 * ```ts
 * const conn = context.bind('localhost:0');     // waits for one peer
 * await conn.bound();                            // listening: conn.port1 is the port
 * conn.closed.bind((c, reason) => console.log('closed:', reason));
 * conn.timedout.bind((c, silent) => console.log(silent ? 'peer silent' : 'peer back'));
 * ```
 *
 * Life: `closed` (0) → `waiting` (2, after `bind`) → `hosting` (3, bound side) or
 * `connected` (4, connecting side) → `closing` (1) → `closed` (0). A connection is used once.
 *
 * - Heartbeats go out whenever nothing was sent for 250 ms (checked every 125 ms). No byte
 *   from the peer for `timeout` ms (default and minimum 500) emits `timedout(conn, true)`;
 *   the next byte emits `timedout(conn, false)`. After `max_silence` ms (default 30000;
 *   0 = never) the connection closes with `Connection timed out.` (yoton only signals).
 * - `close(reason)` sends the close package first (yoton means to, but never does), so the
 *   peer reports `Closed from other end.`; `close_on_problem(reason)` just drops the socket.
 * - Each package goes out in one write with TCP_NODELAY on. While the socket's buffer is over
 *   1 MiB, packages wait in a queue bounded by the context's `queue_params`.
 *
 * @module
 */

import { StreamServer, listening, type Engine, type Timer as EngineTimer } from '../index.js';
import type * as net from 'node:net';
import { YotonBindError, YotonTimeoutError } from './errors.js';
import { Signal } from './events.js';
import { PackageQueue } from './queue.js';
import { PackageStream, type PackageOwner, type StreamHooks } from './stream.js';
import { CLOSE, encode_package, HEARTBEAT, STOP, type Package } from './wire.js';
import type { Context } from './context.js';

/** The least (and default) `timeout`, in ms (yoton's `TIMEOUT_MIN`, 0.5 s). */
export const TIMEOUT_MIN = 500;
/** Milliseconds between heartbeats on an idle connection. */
export const HEARTBEAT_INTERVAL = 250;
/** Most handshakes a bound connection runs at once (others are dropped at accept). */
const MAX_PENDING_HANDSHAKES = 8;

/** yoton's connection states. */
export const STATUS = { closed: 0, closing: 1, waiting: 2, hosting: 3, connected: 4 } as const;

/** The ports `bind` tries: p, then +1 +1 +1 +2 +2 +2 +2 +2 +3 ... (yoton's `+= int(sqrt(k+1))`). */
export function bind_ports(port: number, max_tries: number): number[] {
  const out: number[] = [];
  let p = port;
  for (let k = 0; k < max_tries && p < 65536; k++) {
    out.push(p);
    p += Math.floor(Math.sqrt(k + 1));
  }
  return out;
}

class HostServer extends StreamServer {
  constructor(
    engine: Engine,
    private readonly conn: Connection,
  ) {
    super({ engine });
  }
  override on_accept(socket: net.Socket): void {
    this.conn._accepted(socket);
  }
  override on_error(_err: Error): void {
    this.close(false);
  }
}

/** A link to one other context. Made by `Context.bind()` and `Context.connect()`. */
export class Connection {
  /** The context this connection belongs to. */
  readonly context: Context;
  /** `(connection, timed_out)`: no data for `timeout` ms (true), data again (false). */
  readonly timedout: Signal<[Connection, boolean]>;
  /** `(connection, reason)`: emitted once when the connection closes, with yoton's reason. */
  readonly closed: Signal<[Connection, string]>;
  /** `(connection, reason)`: a peer's handshake failed; a bound connection keeps waiting (yoton prints it). */
  readonly handshake_failed: Signal<[Connection, string]>;
  /**
   * `(connection)`: the handshake succeeded (not in yoton, which has no such signal). A hub
   * binds again here to take its next peer.
   */
  readonly connected: Signal<[Connection]>;

  private _name: string;
  private status: number = STATUS.closed;
  private _timeout = TIMEOUT_MIN;
  private _hostname1 = '';
  private _port1 = 0;
  private _hostname2 = '';
  private _port2 = 0;
  private _id2 = 0n;
  private _pid2 = 0;
  private stream: PackageStream | null = null;
  private server: HostServer | null = null;
  private readonly pending = new Set<PackageStream>();
  private readonly out: PackageQueue<Package>;
  private congested = false;
  private drain_waiters: (() => void)[] = [];
  private ticker: EngineTimer | null = null;
  private sent = false;
  /** @internal Packages written (heartbeats included). */
  _writes = 0;
  private quiet_ticks = 0;
  private got_data = false;
  private last_recv = 0;
  private is_timed_out = false;
  private bound_promise: Promise<Connection> | null = null;
  private id2_checked = false;
  /** Milliseconds of silence after which the connection closes (0: never). */
  max_silence: number;

  /** @internal Made by the context. */
  constructor(context: Context, name: string) {
    if (typeof name !== 'string') throw new TypeError('name must be a string.');
    this.context = context;
    this._name = name;
    const engine = context.engine;
    this.timedout = new Signal(engine);
    this.closed = new Signal(engine);
    this.handshake_failed = new Signal(engine);
    this.connected = new Signal(engine);
    const [maxlen, mode] = context.queue_params;
    this.out = new PackageQueue(maxlen, mode);
    this.max_silence = context.max_silence;
  }

  /** The name the connection is known by in `context.connections`. */
  get name(): string {
    return this._name;
  }
  set name(value: string) {
    if (typeof value !== 'string') throw new TypeError('name must be a string.');
    this._name = value;
  }

  /** Milliseconds without data before `timedout` fires (default and minimum 500). */
  get timeout(): number {
    return this._timeout;
  }
  set timeout(value: number) {
    if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError('timeout must be a number.');
    if (value < TIMEOUT_MIN) throw new RangeError(`timeout must be at least ${TIMEOUT_MIN} ms.`);
    this._timeout = value;
  }

  /** This end's host. */
  get hostname1(): string {
    return this._hostname1;
  }
  /** This end's port (for a bound connection: the port to connect to). */
  get port1(): number {
    return this._port1;
  }
  /** The peer's host ('' until connected). */
  get hostname2(): string {
    return this._hostname2;
  }
  /** The peer's port (0 until connected). */
  get port2(): number {
    return this._port2;
  }
  /** This context's id. */
  get id1(): bigint {
    return this.context.id;
  }
  /** The peer context's id (0n until connected). */
  get id2(): bigint {
    return this._id2;
  }
  /** This process's pid. */
  get pid1(): number {
    return process.pid;
  }
  /** The peer's pid (0 until connected). */
  get pid2(): number {
    return this._pid2;
  }
  /** Waiting for a peer, or connected (and not closing). */
  get is_alive(): boolean {
    return this.status >= STATUS.waiting;
  }
  /** Connected (either side). */
  get is_connected(): boolean {
    return this.status >= STATUS.hosting;
  }
  /** Bound and waiting for its peer. */
  get is_waiting(): boolean {
    return this.status === STATUS.waiting;
  }
  /** yoton's status number: 0 closed, 1 closing, 2 waiting, 3 hosting, 4 connected. */
  get status_code(): number {
    return this.status;
  }
  /** Packages waiting to go out (before the peer came, or while the socket is congested). */
  get queued(): number {
    return this.out.length;
  }

  /**
   * Resolves once a bound connection listens (`port1` is then known), at once for others.
   * Rejects with a {@link YotonBindError} when no port could be bound.
   */
  bound(): Promise<Connection> {
    return this.bound_promise ?? Promise.resolve(this);
  }

  // ------------------------------------------------------------------ binding

  /** @internal Waiting for a peer from now on (the address may still be resolving). */
  _wait(): void {
    this.status = STATUS.waiting;
  }

  /** @internal What `bound()` returns; its failure is also reported by the `closed` signal. */
  _set_bound(p: Promise<Connection>): void {
    p.catch(() => {});
    this.bound_promise = p;
  }

  /** @internal Starts listening on the first free port of the tries. */
  _bind(host: string, port: number, max_tries: number): Promise<Connection> {
    this._hostname1 = host;
    this._port1 = port;
    return this.try_ports(host, bind_ports(port, Math.max(1, max_tries)), 0, null);
  }

  private async try_ports(host: string, ports: number[], i: number, last: Error | null): Promise<Connection> {
    if (this.status !== STATUS.waiting) throw new YotonBindError('the connection was closed before it was bound');
    if (i >= ports.length) {
      const msg =
        ports.length === 1
          ? `Cannot bind to ${host}:${ports[0]}: ${last?.message ?? 'unknown error'}`
          : `Could not bind to any of the ${ports.length} ports tried, starting with ${ports[0]}.`;
      const err = new YotonBindError(msg, { cause: last });
      this.close_on_problem(`${STOP.SOCKET_ERROR} ${msg}`);
      throw err;
    }
    const server = new HostServer(this.context.engine, this);
    this.server = server;
    try {
      server.listen([host, ports[i]!], 1);
      await listening(server);
    } catch (err) {
      if (this.server === server) this.server = null;
      return this.try_ports(host, ports, i + 1, err as Error);
    }
    if (this.status !== STATUS.waiting) {
      server.close(false);
      throw new YotonBindError('the connection was closed before it was bound');
    }
    const a = server.local_address;
    if (a !== null && typeof a === 'object') this._port1 = a.port;
    return this;
  }

  /** @internal The host server accepted a socket: shake hands with it. */
  _accepted(socket: net.Socket): void {
    if (this.status !== STATUS.waiting || this.pending.size >= MAX_PENDING_HANDSHAKES) {
      socket.destroy();
      return;
    }
    const s = new PackageStream({ engine: this.context.engine, socket }, 'host', this.context.id, this.host_hooks, this.context.max_message_size);
    this.pending.add(s);
  }

  private readonly host_hooks: StreamHooks = {
    handshaken: (stream, id2, pid2) => {
      this.pending.delete(stream);
      if (this.status !== STATUS.waiting) {
        stream.close(false);
        return;
      }
      // One peer per bind: stop listening (the port may be bound again) and drop the others.
      this.server?.close(false);
      this.server = null;
      for (const other of this.pending) other.close(false);
      this.pending.clear();
      this._attach(stream, id2, pid2, STATUS.hosting);
    },
    handshake_failed: (stream, reason) => {
      this.pending.delete(stream);
      this.handshake_failed.emit(this, reason);
    },
    connect_failed: (stream) => {
      this.pending.delete(stream);
    },
  };

  // ------------------------------------------------------------------ connected

  /** @internal The handshake succeeded on `stream`: it is this connection's socket now. */
  _attach(stream: PackageStream, id2: bigint, pid2: number, status: number): void {
    this.stream = stream;
    stream.owner = this;
    this._id2 = id2;
    this._pid2 = pid2;
    this.status = status;
    const local = stream.local_address;
    const remote = stream.remote_address;
    if (local !== null && typeof local === 'object') {
      this._hostname1 = local.host;
      this._port1 = local.port;
    }
    if (remote !== null && typeof remote === 'object') {
      this._hostname2 = remote.host;
      this._port2 = remote.port;
    }
    this.last_recv = Date.now();
    this.ticker = this.context.engine.cycle(HEARTBEAT_INTERVAL / 2, () => this.tick());
    this.drain();
    this.connected.emit(this);
  }

  private tick(): void {
    const stream = this.stream;
    if (stream === null) return;
    const now = Date.now();
    // Ticks come every 125 ms: a heartbeat after two quiet ticks keeps every gap between our
    // bytes under 375 ms, safely inside a Python peer's 500 ms timeout.
    if (this.sent) this.quiet_ticks = 0;
    else if (++this.quiet_ticks >= 2 && !this.congested) {
      stream.write(HEARTBEAT);
      this.quiet_ticks = 0;
    }
    this.sent = false;
    if (this.got_data) {
      this.got_data = false;
      this.last_recv = now;
      return;
    }
    const silence = now - this.last_recv;
    if (this.max_silence > 0 && silence >= this.max_silence) {
      this.close_on_problem(STOP.TIMEOUT);
      return;
    }
    if (silence >= this._timeout && !this.is_timed_out) {
      this.is_timed_out = true;
      this.timedout.emit(this, true);
    }
  }

  /** @internal PackageOwner: bytes arrived. */
  _data_arrived(): void {
    this.got_data = true;
    if (this.is_timed_out) {
      this.is_timed_out = false;
      this.timedout.emit(this, false);
    }
  }

  /** @internal PackageOwner: a package arrived. */
  _recv(p: Package): void {
    if (this.status < STATUS.hosting) return;
    if (!this.id2_checked) this.check_id2(p.source_id);
    this.context._recv_package(p, this);
  }

  /**
   * Python yoton pads the hex id of its handshake on the right (`ljust`), so a Python id
   * below 2^60 arrives multiplied by 16^k. The peer's first own package tells the real id.
   */
  private check_id2(source_id: bigint): void {
    if (source_id === this._id2) {
      this.id2_checked = true;
    } else if (source_id !== 0n && BigInt(`0x${source_id.toString(16).padEnd(16, '0')}`) === this._id2) {
      this._id2 = source_id;
      this.id2_checked = true;
    }
  }

  /** @internal PackageOwner: the stream stopped (close package, bad bytes, EOF, error). */
  _stream_stopped(stream: PackageStream, reason: string): void {
    if (stream !== this.stream) return;
    this.close_on_problem(reason);
  }

  /** @internal PackageOwner: a header came alone; a heartbeat carries our ACK back now. */
  _nudge(): void {
    const stream = this.stream;
    if (stream === null || this.congested) return;
    this.sent = true;
    this._writes++;
    stream.write(HEARTBEAT);
  }

  /** @internal PackageOwner: the socket's buffer drained. */
  _writable(): void {
    this.congested = false;
    this.drain();
  }

  /**
   * @internal Queues or writes one package.
   * @returns true when it had to wait in the queue (the connection is congested or not up yet)
   */
  _send_package(p: Package): boolean {
    const stream = this.stream;
    if (stream !== null && !this.congested && this.out.length === 0) {
      this.sent = true;
      this._writes++;
      if (!stream.write(encode_package(p))) this.congested = true;
      return false;
    }
    this.out.push(p);
    return this.stream !== null;
  }

  /** @internal Resolves when the out-queue has drained, the connection closed, or after `ms`. */
  _wait_drain(ms: number): Promise<void> {
    if (this.out.length === 0 || this.status < STATUS.hosting) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = this.context.engine.defer(ms, done);
      function done(): void {
        timer.cancel();
        resolve();
      }
      this.drain_waiters.push(done);
    });
  }

  private drain(): void {
    const stream = this.stream;
    if (stream === null) return;
    while (!this.congested && this.out.length > 0) {
      this.sent = true;
      this._writes++;
      if (!stream.write(encode_package(this.out.shift()!))) this.congested = true;
    }
    if (this.out.length === 0) this.wake_drain_waiters();
  }

  private wake_drain_waiters(): void {
    const waiters = this.drain_waiters;
    if (waiters.length === 0) return;
    this.drain_waiters = [];
    for (const w of waiters) w();
  }

  /**
   * Resolves once every package queued so far has been handed to the OS. Rejects with
   * {@link YotonTimeoutError} (`Sending the packages timed out.`) after `timeout` ms.
   */
  flush(timeout = 3000): Promise<void> {
    const deadline = Date.now() + timeout;
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        const stream = this.stream;
        if (!this.is_connected || stream === null || (this.out.length === 0 && stream.write_buffer_size === 0)) {
          resolve();
          return;
        }
        if (Date.now() > deadline) {
          reject(new YotonTimeoutError('Sending the packages timed out.'));
          return;
        }
        this.context.engine.defer(10, check);
      };
      check();
    });
  }

  // ------------------------------------------------------------------ closing

  /**
   * Closes the connection: a connected one first sends what is queued and the close package
   * (the peer then reports `Closed from other end.`). A waiting one stops waiting. Emits
   * `closed(connection, reason)`. Does nothing when already closing or closed.
   * @param reason - default `Closed on command.`
   */
  close(reason?: string): void {
    if (this.status === STATUS.closed || this.status === STATUS.closing) return;
    const stream = this.stream;
    if (stream !== null && this.status >= STATUS.hosting && !stream.closed) {
      while (this.out.length > 0) stream.write(encode_package(this.out.shift()!));
      stream.write(CLOSE);
    }
    this.finish(reason === undefined ? STOP.DEFAULT : reason, true);
  }

  /**
   * Closes without telling the peer (it sees the socket end). Emits `closed`.
   * @param reason - default `Unspecified problem`
   */
  close_on_problem(reason?: string): void {
    if (this.status === STATUS.closed) return;
    this.finish(reason === undefined ? STOP.UNSPECIFIED : reason, false);
  }

  private finish(reason: unknown, graceful: boolean): void {
    this.status = STATUS.closed;
    const text = typeof reason === 'string' ? reason : STOP.INVALID_REASON;
    this.ticker?.cancel();
    this.ticker = null;
    this.server?.close(false);
    this.server = null;
    for (const s of this.pending) s.close(false);
    this.pending.clear();
    const stream = this.stream;
    if (stream !== null) {
      stream.owner = null;
      stream.close(graceful);
    }
    this.stream = null;
    this.out.clear();
    this.wake_drain_waiters();
    this.context._connection_closed(this);
    this.closed.emit(this, text);
  }

  /** For logs: `Connection(name, status, host:port)`. */
  toString(): string {
    const names = ['closed', 'closing', 'waiting', 'hosting', 'connected'];
    return `Connection(${this._name ? `${this._name}, ` : ''}${names[this.status]}, ${this._hostname1}:${this._port1})`;
  }
}

/** The list `context.connections` returns: an Array that can also be searched by name. */
export class ConnectionCollection extends Array<Connection> {
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }
  /**
   * The connection called `name` (or at index `key`).
   * @throws RangeError for an empty name (`An empty string is not a valid key.`) or an unknown one
   */
  get(key: string | number): Connection {
    if (typeof key === 'number') {
      const c = this[key];
      if (c === undefined) throw new RangeError(`no connection at index ${key}`);
      return c;
    }
    if (!key) throw new RangeError('An empty string is not a valid key.');
    const c = this.find((x) => x.name === key);
    if (c === undefined) throw new RangeError(`No connection know by the name ${key}`);
    return c;
  }
}
