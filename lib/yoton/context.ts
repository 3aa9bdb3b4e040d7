/**
 * Context: a node of a yoton network. Contexts link up with `bind()` / `connect()`; channels
 * attach to a context at slots; every package floods the network with duplicate
 * suppression, so any graph (chains, loops) delivers each message once.
 *
 * ```ts
 * const ctx = new Context();
 * const conn = ctx.bind('localhost:test');          // one peer per bind
 * const pub = new PubChannel(ctx, 'news');
 * pub.send('sent before anyone is there: queued');  // goes into the first connection
 * ```
 *
 * Routing, as yoton's: a package with `dest_id` 0 goes to every other connection and to the
 * local channel at its slot; one addressed to this context only to the channel; one for
 * another context only onwards. `(source_id, source_seq)` at or below the last seen from that
 * source is a duplicate and is dropped.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { Engine } from '../index.js';
import { new_context_id, resolve_address, split_address } from './address.js';
import { Connection, ConnectionCollection, STATUS } from './connection.js';
import { YotonBindError, YotonConnectError } from './errors.js';
import { check_queue_params, DEFAULT_QUEUE_PARAMS, PackageQueue, type QueueParams } from './queue.js';
import { PackageStream, type StreamHooks } from './stream.js';
import { DEFAULT_MAX_MESSAGE_SIZE, make_package, SLOT_CONTEXT, STOP, type Package } from './wire.js';

/** Most sources whose last sequence number a context remembers. */
const MAX_SOURCES = 65536;

/** Options of a {@link Context}. */
export interface ContextOptions {
  /** The engine its sockets and timers run on (default `Engine.instance()`). */
  engine?: Engine;
  /** `[maxlen, 'old' | 'new']` for every queue of the context; default `[10000, 'old']`. */
  queue_params?: QueueParams;
  /** Largest payload accepted from a peer, in bytes; default 64 MiB. Larger: the connection closes. */
  max_message_size?: number;
  /** Milliseconds without a byte from a peer before its connection closes; default 30000, 0 never. */
  max_silence?: number;
}

/** Options of {@link Context.bind}. */
export interface BindOptions {
  /** Ports to try, from the given one on (default 1). */
  max_tries?: number;
  /** The connection's name. */
  name?: string;
}

/** Options of {@link Context.connect}. */
export interface ConnectOptions {
  /** Milliseconds to keep trying to reach the host (default 1000, at least 10). */
  timeout?: number;
  /** The connection's name. */
  name?: string;
}

/** What a channel offers the context. */
export interface ContextChannel {
  /** A package for the channel's incoming slot. */
  _recv_package(p: Package): void;
  /** Closes the channel. */
  close(): void;
  /** StateChannels: re-send the current state (for `NEW_CONNECTION`). */
  send_last?(): void;
}

/** A node in a yoton network. */
export class Context {
  /** The engine of the context's sockets and timers. */
  readonly engine: Engine;
  /** This context's 64-bit id (yoton's UID layout). */
  readonly id: bigint;
  /** The queue parameters of every queue of this context. */
  readonly queue_params: QueueParams;
  /** Largest payload accepted from a peer. */
  readonly max_message_size: number;
  /** Default `max_silence` of new connections (ms; 0 never closes). */
  readonly max_silence: number;
  private conns: Connection[] = [];
  private readonly sending = new Map<bigint, ContextChannel>();
  private readonly receiving = new Map<bigint, ContextChannel>();
  private startup: PackageQueue<Package>;
  private send_seq = 0n;
  private recv_seq = 0;
  private readonly source_map = new Map<bigint, bigint>();

  /** @param options - `{ engine, queue_params, max_message_size, max_silence }` */
  constructor(options: ContextOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    this.engine = options.engine ?? Engine.instance();
    if (!(this.engine instanceof Engine)) throw new TypeError('options.engine must be an Engine');
    this.queue_params = check_queue_params(options.queue_params ?? DEFAULT_QUEUE_PARAMS);
    const max = options.max_message_size ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) throw new RangeError('max_message_size must be an integer >= 1');
    this.max_message_size = max;
    const silence = options.max_silence ?? 30000;
    if (typeof silence !== 'number' || !(silence >= 0)) throw new RangeError('max_silence must be a number of ms >= 0');
    this.max_silence = silence;
    this.id = new_context_id();
    this.startup = new PackageQueue(this.queue_params[0], this.queue_params[1]);
  }

  /** Connected connections (pruning closed ones). */
  get connections(): ConnectionCollection {
    const out = new ConnectionCollection();
    for (const c of this.conns) if (c.is_connected) out.push(c);
    return out;
  }

  /** Connected and waiting connections. */
  get connections_all(): ConnectionCollection {
    const out = new ConnectionCollection();
    for (const c of this.conns) if (c.is_alive) out.push(c);
    return out;
  }

  /** Number of connected contexts. */
  get connection_count(): number {
    let n = 0;
    for (const c of this.conns) if (c.is_connected) n++;
    return n;
  }

  /** Packages sent while there was no connection, waiting for the first one. */
  get queued(): number {
    return this.startup.length;
  }

  /**
   * Hosts a connection: returns a waiting {@link Connection} at once; it listens (see
   * `connection.bound()`) and accepts ONE peer, then stops listening (yoton's rule). With
   * `max_tries` > 1 the ports p, p+1, p+2, p+3, p+5, ... are tried. Port 0 picks a free port.
   * @param address - `'host:port'`, `'localhost:name'`, `'publichost:name+2'`, ...
   */
  bind(address: string, options: BindOptions = {}): Connection {
    const max_tries = options.max_tries ?? 1;
    if (typeof max_tries !== 'number' || !Number.isSafeInteger(max_tries) || max_tries < 1) throw new RangeError('max_tries must be an integer >= 1');
    split_address(address); // bad addresses throw here, at once
    const conn = new Connection(this, options.name ?? '');
    this.prune();
    this.conns.push(conn);
    // Packages waiting for a connection go into this one (yoton: even while it waits).
    while (this.startup.length > 0) conn._send_package(this.startup.shift()!);
    conn._wait();
    conn._set_bound(
      resolve_address(address).then(
        ([, host, port]) => conn._bind(host, port, max_tries),
        (err: Error) => {
          conn.close_on_problem(`${STOP.SOCKET_ERROR} ${err.message}`);
          throw new YotonBindError(err.message, { cause: err });
        },
      ),
    );
    return conn;
  }

  /**
   * Connects to a bound context, retrying for `timeout` ms, then shakes hands. Packages
   * queued before any connection go into it; `NEW_CONNECTION` is flooded so StateChannels
   * everywhere re-send their state.
   * @returns the connection
   * @throws YotonConnectError `Cannot connect to <host> on <port>: ...` or `Could not connect: <reason>`
   */
  async connect(address: string, options: ConnectOptions = {}): Promise<Connection> {
    const given = options.timeout ?? 1000;
    if (typeof given !== 'number' || Number.isNaN(given)) throw new TypeError('timeout must be a number of ms');
    const timeout = Math.max(given, 10);
    const [, host, port] = await resolve_address(address);
    const conn = new Connection(this, options.name ?? '');
    const deadline = Date.now() + timeout;
    for (;;) {
      const outcome = await this.attempt(conn, host, port);
      if (outcome.kind === 'ok') break;
      if (outcome.kind === 'handshake') throw new YotonConnectError(`Could not connect: ${outcome.reason}`);
      if (Date.now() >= deadline) {
        throw new YotonConnectError(`Cannot connect to ${host} on ${port}: ${outcome.err.message}`, { cause: outcome.err });
      }
      await new Promise<void>((r) => this.engine.defer(timeout / 100, r));
    }
    this.prune();
    this.conns.push(conn);
    while (this.startup.length > 0) conn._send_package(this.startup.shift()!);
    this._send_package(make_package(Buffer.from('NEW_CONNECTION', 'utf8'), SLOT_CONTEXT, this.id));
    return conn;
  }

  private attempt(
    conn: Connection,
    host: string,
    port: number,
  ): Promise<{ kind: 'ok' } | { kind: 'handshake'; reason: string } | { kind: 'refused'; err: Error }> {
    return new Promise((resolve) => {
      const hooks: StreamHooks = {
        handshaken: (stream, id2, pid2) => {
          conn._attach(stream, id2, pid2, STATUS.connected);
          resolve({ kind: 'ok' });
        },
        handshake_failed: (_s, reason) => resolve({ kind: 'handshake', reason }),
        connect_failed: (_s, err) => resolve({ kind: 'refused', err: (err.cause as Error | undefined) ?? err }),
      };
      const stream = new PackageStream({ engine: this.engine }, 'client', this.id, hooks, this.max_message_size);
      stream.connect([host, port]);
    });
  }

  /**
   * Resolves once every connection has handed its queued packages to the OS.
   * @param timeout - ms per connection (default 5000); rejects with YotonTimeoutError after it
   */
  async flush(timeout = 5000): Promise<void> {
    await Promise.all(this.connections.map((c) => c.flush(timeout)));
  }

  /** Closes every connection (`Closed by the context.`), waiting ones too, and every channel. The context may be used again. */
  close(): void {
    for (const c of [...this.conns]) c.close('Closed by the context.');
    this.close_channels();
  }

  /** Closes every channel of this context (connections stay). */
  close_channels(): void {
    const all = new Set([...this.sending.values(), ...this.receiving.values()]);
    for (const c of all) c.close();
  }

  // ------------------------------------------------------------------ internals

  private prune(): void {
    this.conns = this.conns.filter((c) => c.is_alive);
  }

  /** @internal A connection closed: forget it. */
  _connection_closed(conn: Connection): void {
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns.splice(i, 1);
  }

  /** @internal @throws RangeError `Slot not free: <name>` */
  _register_sending(channel: ContextChannel, slot: bigint, name: string): void {
    if (this.sending.has(slot)) throw new RangeError(`Slot not free: ${name}`);
    this.sending.set(slot, channel);
  }

  /** @internal @throws RangeError `Slot not free: <name>` */
  _register_receiving(channel: ContextChannel, slot: bigint, name: string): void {
    if (this.receiving.has(slot)) throw new RangeError(`Slot not free: ${name}`);
    this.receiving.set(slot, channel);
  }

  /** @internal */
  _unregister(channel: ContextChannel): void {
    for (const map of [this.sending, this.receiving]) {
      for (const [k, v] of map) if (v === channel) map.delete(k);
    }
  }

  /**
   * @internal Numbers a package and sends it on every live connection, or queues it while
   * there is none.
   * @returns connections where it had to wait (congested), or null
   */
  _send_package(p: Package): Connection[] | null {
    const seq = ++this.send_seq;
    p.source_seq = seq;
    // Our own packages coming back round a loop are duplicates (yoton delivered them locally).
    this.source_map.set(this.id, seq);
    let sent = false;
    let waiting: Connection[] | null = null;
    for (const c of this.conns) {
      if (!c.is_alive) continue;
      sent = true;
      if (c._send_package(p)) (waiting ??= []).push(c);
    }
    if (!sent) this.startup.push(p);
    return waiting;
  }

  /** @internal A package from `from`: de-duplicate, forward, deposit. */
  _recv_package(p: Package, from: Connection): void {
    const last = this.source_map.get(p.source_id) ?? 0n;
    if (p.source_seq <= last) return;
    if (last === 0n && this.source_map.size >= MAX_SOURCES) {
      // A peer inventing source ids must not grow the map for ever: forget the oldest.
      this.source_map.delete(this.source_map.keys().next().value!);
    }
    this.source_map.set(p.source_id, p.source_seq);
    let forward = false;
    let deposit = false;
    if (p.dest_id === 0n) {
      forward = deposit = true;
    } else if (p.dest_id === this.id) {
      deposit = true;
    } else {
      forward = true;
    }
    if (forward) {
      for (const c of this.conns) {
        if (c !== from && c.is_alive) c._send_package(p);
      }
    }
    if (!deposit) return;
    p.recv_seq = ++this.recv_seq;
    if (p.slot === SLOT_CONTEXT) {
      this.context_message(p);
      return;
    }
    this.receiving.get(p.slot)?._recv_package(p);
  }

  private context_message(p: Package): void {
    const text = p.data.toString('utf8');
    if (text === 'NEW_CONNECTION') {
      for (const ch of this.sending.values()) ch.send_last?.();
    } else if (text === 'CLOSE_CONNECTION') {
      for (const c of this.connections) if (c.id2 === p.source_id) c.close_on_problem('Closed from other end.');
    }
    // yoton prints other texts ("Received unknown context message"); they are ignored here.
  }
}
