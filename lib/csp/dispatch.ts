/**
 * The dispatcher: this process's one listening socket, its connections to other PyCSP
 * processes, and the routing of every message to a channel home or a process lock (PyCSP's
 * `SocketDispatcher` and `ConnHandler`).
 *
 * - One `StreamServer`, bound lazily (on the first channel or remote operation) to
 *   `configure({ host, port })` / `PYCSP_HOST` / `PYCSP_PORT` (default 127.0.0.1, any port).
 * - One outgoing connection per peer address, reused for every message; a refused connect is
 *   retried every `connect_retry_delay` ms for `connect_timeout` ms, as PyCSP does. Messages
 *   wait in order while it connects.
 * - NAT traversal: a peer's CHANTHREAD_ENTER marks the connection it came on as the way back
 *   to that peer's advertised address, so a home never connects to a process behind NAT.
 * - Each connection is a {@link PeerStream}: the stream's byte-count `read_delimiter` follows
 *   a pure {@link MessageReader} (240 header bytes, then the payload), and whole messages
 *   come here. Garbage closes only that connection.
 * - Messages between homes and locks of this process never touch a socket and are never
 *   pickled: the dispatcher calls them directly.
 * - A lost connection (the peer died) ends what waited on it: pending lock requests of homes
 *   here fail (the request is dropped and the home serves the others), operations posted to
 *   a home there fail with {@link ChannelLostError}, references it held are dropped.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { closed, listening, type Timer } from '../index.js';
import { config_version, current_config, type CspConfig } from './config.js';
import { ChannelBindError, ChannelLostError, CspProtocolError } from './errors.js';
import {
  CHANTHREAD_DEREGISTER,
  CHANTHREAD_ENTER,
  EXCLUSIVE_MARK,
  CHANTHREAD_JOIN_READER,
  CHANTHREAD_JOIN_WRITER,
  CHANTHREAD_LEAVE,
  CHANTHREAD_POISON_READER,
  CHANTHREAD_POISON_WRITER,
  CHANTHREAD_POST_ACK_READ,
  CHANTHREAD_POST_ACK_WRITE,
  CHANTHREAD_POST_READ,
  CHANTHREAD_POST_WRITE,
  CHANTHREAD_REGISTER,
  CHANTHREAD_RETIRE_READER,
  CHANTHREAD_RETIRE_WRITER,
  encode_message,
  header,
  IGN_UNKNOWN,
  IS_REPLY,
  LOCKTHREAD_ACCEPT_LOCK,
  LOCKTHREAD_ACK,
  LOCKTHREAD_ACQUIRE_LOCK,
  LOCKTHREAD_NOTIFY_SUCCESS,
  LOCKTHREAD_POISON,
  LOCKTHREAD_QUIT,
  LOCKTHREAD_RELEASE_LOCK,
  LOCKTHREAD_RETIRE,
  LOCKTHREAD_UNAVAILABLE,
  MessageReader,
  PROCESS_CMD,
  REQ_REPLY,
  SOCKETTHREAD_PING,
  SOCKETTHREAD_SHUTDOWN,
  type Header,
  type Message,
} from './header.js';
import type { HomeCommand, ProcRef } from './home.js';
import { HomeEntry, to_seq, type PendingAcquire } from './home_entry.js';
import type { ProcessLock } from './lock.js';
import { LockPool } from './context.js';
import { Pickled, type Msg } from './payload.js';
import { CspServer, Peer, PeerStream } from './peer.js';

export { HomeEntry, Peer, PeerStream };

/** Channel-home commands without arguments, by wire command. */
const SIMPLE: ReadonlyMap<number, HomeCommand<Msg>['op']> = new Map([
  [CHANTHREAD_JOIN_READER, 'join_reader'],
  [CHANTHREAD_JOIN_WRITER, 'join_writer'],
  [CHANTHREAD_RETIRE_READER, 'retire_reader'],
  [CHANTHREAD_RETIRE_WRITER, 'retire_writer'],
  [CHANTHREAD_POISON_READER, 'poison_reader'],
  [CHANTHREAD_POISON_WRITER, 'poison_writer'],
] as [number, HomeCommand<Msg>['op']][]);

/** The wire command of each simple channel operation. */
export const CHANNEL_OPS = {
  join_reader: CHANTHREAD_JOIN_READER,
  join_writer: CHANTHREAD_JOIN_WRITER,
  retire_reader: CHANTHREAD_RETIRE_READER,
  retire_writer: CHANTHREAD_RETIRE_WRITER,
  poison_reader: CHANTHREAD_POISON_READER,
  poison_writer: CHANTHREAD_POISON_WRITER,
  register: CHANTHREAD_REGISTER,
  deregister: CHANTHREAD_DEREGISTER,
} as const;

/** A channel operation that carries no message. */
export type ChannelOp = keyof typeof CHANNEL_OPS;

/** `'host:port'`. */
export function addr_key(host: string, port: number): string {
  return `${host}:${port}`;
}


/** This process's PyCSP node (not part of the public API). */
export class Dispatcher {
  /** Host, port and engine as they were when this node started. */
  private readonly pinned: Pick<CspConfig, 'host' | 'port' | 'engine'>;
  private cached_config: CspConfig | null = null;
  private cached_version = -1;

  /** The settings: host, port and engine as at start, the rest as `configure()` says now. */
  get config(): CspConfig {
    const v = config_version();
    if (this.cached_config === null || this.cached_version !== v) {
      this.cached_config = { ...current_config(), ...this.pinned };
      this.cached_version = v;
    }
    return this.cached_config;
  }
  readonly homes = new Map<string, HomeEntry>();
  readonly locks = new Map<string, ProcessLock<Msg>>();
  /** The locks of this process's operations. */
  readonly pool = new LockPool(this.locks);
  readonly peers = new Map<string, Peer | PeerStream>();
  readonly streams = new Set<PeerStream>();
  /** Peer addresses whose connection was lost (locks on them fail at once). */
  readonly lost = new Set<string>();
  /** Peers that name the process in their lock replies (trousers does; pycsp does not). */
  readonly identified = new Set<string>();
  /** Why each lost peer was lost (operations on channels homed there fail with it). */
  readonly lost_errors = new Map<string, Error>();
  private server: CspServer | null = null;
  private binding: Promise<void> | null = null;
  private host = '';
  private port = 0;
  /** Our advertised `'host:port'`, once bound. */
  key = '';
  private pre_bind: { addr: string; h: Header; payload: Buffer | null }[] = [];
  closing = false;

  constructor() {
    const c = current_config();
    this.pinned = { host: c.host, port: c.port, engine: c.engine };
  }

  /** `[host, port]` once bound, else null. */
  get address(): [string, number] | null {
    return this.key === '' ? null : [this.host, this.port];
  }

  /** Binds the listening socket (once); resolves when bound. @throws ChannelBindError */
  bind(): Promise<void> {
    this.binding ??= this.do_bind();
    return this.binding;
  }

  private async do_bind(): Promise<void> {
    const cfg = this.config;
    const start = Date.now();
    for (;;) {
      const server = new CspServer(this);
      server.listen([cfg.host, cfg.port]);
      try {
        await listening(server);
      } catch (err) {
        await closed(server);
        const code = (err as { syscode?: string }).syscode;
        if (code === 'EADDRINUSE' && Date.now() - start < cfg.bind_timeout && !this.closing) {
          await new Promise<void>((r) => cfg.engine.defer(Math.max(1, cfg.connect_retry_delay), r));
          continue;
        }
        throw new ChannelBindError([cfg.host, cfg.port], 'PyCSP could not bind its listening socket', { cause: err });
      }
      this.server = server;
      const a = server.local_address;
      this.host = cfg.host === 'localhost' || a === null || typeof a === 'string' ? cfg.host : a.host;
      this.port = a !== null && typeof a !== 'string' ? a.port : cfg.port;
      this.key = addr_key(this.host, this.port);
      const waiting = this.pre_bind;
      this.pre_bind = [];
      for (const m of waiting) this.send(m.addr, m.h, m.payload);
      return;
    }
  }

  /** Where errors nobody waits for go. */
  report(err: unknown): void {
    try {
      this.config.on_error(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // an on_error that throws must not break the dispatcher
    }
  }

  // ------------------------------------------------------------------ hosting

  /** Hosts a channel here. The caller checked the name is free. */
  host_channel(name: string, capacity: number): HomeEntry {
    const entry = new HomeEntry(this, name, capacity);
    entry.home.on_finished = () => {
      if (this.homes.get(name) === entry) this.homes.delete(name);
      this.home_done();
    };
    this.homes.set(name, entry);
    return entry;
  }

  private home_waiters: (() => void)[] = [];
  private home_done(): void {
    if (this.homes.size > 0) return;
    const w = this.home_waiters;
    this.home_waiters = [];
    for (const f of w) f();
  }

  /** Resolves once every home here has lost its last reference. */
  homes_done(): Promise<void> {
    if (this.homes.size === 0) return Promise.resolve();
    return new Promise<void>((r) => this.home_waiters.push(r));
  }

  // ------------------------------------------------------------------ sending

  /** Sends a message to the process at `addr` (after binding, so the source is known). */
  send(addr: string, h: Header, payload: Buffer | null = null): void {
    if (this.key === '') {
      this.pre_bind.push({ addr, h, payload });
      void this.bind().catch((err: unknown) => this.report(err));
      return;
    }
    h.source_host = this.host;
    h.source_port = this.port;
    const buf = encode_message(h, payload);
    let p = this.peers.get(addr);
    if (p === undefined || (p instanceof Peer && p.dead) || (p instanceof PeerStream && (p.closed || p.closing))) {
      const i = addr.lastIndexOf(':');
      const host = addr.slice(0, i);
      const port = Number(addr.slice(i + 1));
      if (this.closing && p !== undefined) return;
      p = new Peer(this, addr, host, port);
      this.peers.set(addr, p);
      this.lost.delete(addr);
    }
    p.write(buf);
  }

  // ------------------------------------------------------------------ receiving

  /** A whole message from a peer. */
  on_message(s: PeerStream, m: Message): void {
    const h = m.header;
    const cmd = h.cmd;
    const from = addr_key(h.source_host, h.source_port);
    if (s.peer_key === null) s.peer_key = from;
    else if (s.peer !== null && from !== s.peer_key && !this.peers.has(from)) this.peers.set(from, s.peer);
    if (cmd === SOCKETTHREAD_PING || cmd === SOCKETTHREAD_SHUTDOWN) return; // meant for a peer's own server
    if (cmd & PROCESS_CMD) {
      this.to_process(h, m.payload, from);
      return;
    }
    const entry = this.homes.get(h.id);
    if (entry === undefined) {
      if (cmd === CHANTHREAD_ENTER) this.add_reverse(s, from);
      if (!(cmd & IGN_UNKNOWN) && cmd !== CHANTHREAD_DEREGISTER) {
        this.report(new CspProtocolError('ERR_CSP_UNKNOWN_CHANNEL', `a message (${cmd_name(cmd)}) for channel ${JSON.stringify(h.id)}, which is not hosted here`));
      }
      return;
    }
    if (cmd & IS_REPLY) {
      entry.on_reply(h, from);
      return;
    }
    const home = entry.home;
    const simple = SIMPLE.get(cmd);
    if (simple !== undefined) {
      home.submit({ op: simple } as HomeCommand<Msg>);
      return;
    }
    switch (cmd) {
      case CHANTHREAD_REGISTER:
        home.submit({ op: 'register', from });
        return;
      case CHANTHREAD_DEREGISTER:
        home.submit({ op: 'deregister', from });
        return;
      case CHANTHREAD_POST_READ:
      case CHANTHREAD_POST_ACK_READ:
        home.submit({ op: 'post_read', proc: this.poster(h, from), seq: to_seq(h.seq), ack: cmd === CHANTHREAD_POST_ACK_READ });
        return;
      case CHANTHREAD_POST_WRITE:
      case CHANTHREAD_POST_ACK_WRITE:
        home.submit({
          op: 'post_write',
          proc: this.poster(h, from),
          seq: to_seq(h.seq),
          msg: new Pickled(Buffer.from(m.payload)),
          ack: cmd === CHANTHREAD_POST_ACK_WRITE,
        });
        return;
      case CHANTHREAD_ENTER:
        this.add_reverse(s, from);
        return;
      case CHANTHREAD_LEAVE:
        home.submit({ op: 'leave', proc: { id: h.source_id, addr: from, active: true } });
        return;
      default:
        this.report(new CspProtocolError('ERR_CSP_UNKNOWN_COMMAND', `${cmd_name(cmd)} is not a channel command`));
    }
  }

  /** The process of a POST: exclusive when a trousers peer marked a plain read or write. */
  private poster(h: Header, from: string): ProcRef {
    const exclusive = h.result_id === EXCLUSIVE_MARK && !(h.cmd === CHANTHREAD_POST_ACK_READ || h.cmd === CHANTHREAD_POST_ACK_WRITE);
    return exclusive ? { id: h.source_id, addr: from, active: true, exclusive, seq: to_seq(h.seq) } : { id: h.source_id, addr: from, active: true };
  }

  /** NATFIX: the connection an ENTER came on is the way back to `from` (unless one exists). */
  private add_reverse(s: PeerStream, from: string): void {
    const p = this.peers.get(from);
    if (p === undefined || (p instanceof Peer && p.dead) || (p instanceof PeerStream && p.closed)) this.peers.set(from, s);
    this.lost.delete(from);
  }

  private to_process(h: Header, payload: Buffer, from: string): void {
    const cmd = h.cmd;
    const lock = this.locks.get(h.id);
    if (lock === undefined) {
      if (cmd & REQ_REPLY) this.send(from, header(LOCKTHREAD_UNAVAILABLE, { id: h.source_id, source_id: h.id }));
      else if (!(cmd & IGN_UNKNOWN) && cmd !== LOCKTHREAD_QUIT && cmd !== LOCKTHREAD_ACK) {
        this.report(new CspProtocolError('ERR_CSP_UNKNOWN_PROCESS', `${cmd_name(cmd)} for process ${JSON.stringify(h.id)}, which is not here`));
      }
      return;
    }
    const holder = `${from}/${h.source_id}`;
    let ok = true;
    switch (cmd) {
      case LOCKTHREAD_ACQUIRE_LOCK:
        lock.acquire_then(holder, (g) => {
          // _source_id names the process: pycsp ignores it, trousers homes use it to pair replies.
          this.send(from, header(LOCKTHREAD_ACCEPT_LOCK, { id: h.source_id, seq: BigInt(g.seq), arg: BigInt(g.state), source_id: lock.id }));
        });
        return;
      case LOCKTHREAD_NOTIFY_SUCCESS:
        {
          const msg = payload.length > 0 ? new Pickled(Buffer.from(payload)) : undefined;
          ok = lock.notify(holder, h.result_id, msg, msg !== undefined);
          // A commit of an exclusive request (its lock was not taken) names the request's seq.
          if (!ok && h.seq !== 0n) ok = lock.commit_request(to_seq(h.seq), h.result_id, msg, msg !== undefined);
        }
        break;
      case LOCKTHREAD_POISON:
        ok = lock.poison(holder);
        break;
      case LOCKTHREAD_RETIRE:
        ok = lock.retire(holder);
        break;
      case LOCKTHREAD_RELEASE_LOCK:
        ok = lock.release(holder);
        break;
      case LOCKTHREAD_QUIT:
        lock.quit(holder);
        for (const key of lock.quitting) if (key.endsWith(`/${h.source_id}`)) lock.quit(key);
        return;
      case LOCKTHREAD_ACK:
        lock.ack();
        return;
      default:
        this.report(new CspProtocolError('ERR_CSP_UNKNOWN_COMMAND', `${cmd_name(cmd)} is not a process command`));
        return;
    }
    if (!ok) this.report(new CspProtocolError('ERR_CSP_UNKNOWN_PROCESS', `${cmd_name(cmd)} from ${holder}, which does not hold the lock of ${JSON.stringify(h.id)}`));
  }

  // ------------------------------------------------------------------ losses

  /** A stream closed: if it was the way to a peer, that peer is lost. */
  stream_closed(s: PeerStream): void {
    this.streams.delete(s);
    const key = s.peer_key;
    if (this.peers.get(key ?? '') === s) this.peers.delete(key!);
    if (s.peer !== null) {
      if (s.peer.stream !== s) return; // a failed attempt; the Peer retries or gives up itself
      s.peer.dead = true;
      for (const [k, p] of this.peers) if (p === s.peer) this.peers.delete(k);
    }
    if (key === null || this.closing) return;
    this.peer_lost(key, new ChannelLostError(address_of(key), 'the connection to a PyCSP peer was lost'));
  }

  private readonly acquires = new Set<PendingAcquire>();
  private sweeper: Timer | null = null;

  /** Watches a lock request sent to a remote process (one sweeping timer for all of them). */
  watch_acquire(a: PendingAcquire): void {
    const ms = this.config.lock_timeout;
    if (!(ms > 0 && Number.isFinite(ms))) return;
    this.acquires.add(a);
    this.sweeper ??= this.config.engine.cycle(Math.max(10, Math.min(1000, ms / 4)), () => this.sweep());
  }

  /** The request was answered (or dropped). */
  unwatch_acquire(a: PendingAcquire): void {
    if (this.acquires.delete(a) && this.acquires.size === 0 && this.sweeper !== null) {
      this.sweeper.cancel();
      this.sweeper = null;
    }
  }

  private sweep(): void {
    const limit = Date.now() - this.config.lock_timeout;
    for (const a of [...this.acquires]) {
      if (a.sent_at !== undefined && a.sent_at <= limit && a.addr !== undefined) this.lock_timed_out(a.addr, a.channel ?? '?');
    }
  }

  /**
   * A process at `key` did not answer a lock request of `channel` in time: it is taken for
   * lost (its connections are closed, so a late answer cannot be taken for another's).
   */
  lock_timed_out(key: string, channel: string): void {
    if (this.closing || this.lost.has(key)) return;
    this.report(new CspProtocolError('ERR_CSP_LOCK_TIMEOUT', `the process at ${key} did not answer a lock request of channel ${JSON.stringify(channel)} within ${this.config.lock_timeout} ms; its connections are closed`));
    const err = new ChannelLostError(address_of(key), 'a PyCSP peer stopped answering');
    for (const s of [...this.streams]) {
      if (s.peer_key === key || s.peer?.key === key) {
        s.peer_key = null; // closing it must not report the loss a second time
        s.close(false);
      }
    }
    for (const [k, p] of [...this.peers]) if (k === key || (p instanceof Peer && p.key === key)) this.peers.delete(k);
    this.peer_lost(key, err);
  }

  /** An outgoing connection could never be made. */
  peer_failed(p: Peer, err: Error): void {
    for (const [k, v] of this.peers) if (v === p) this.peers.delete(k);
    if (!this.closing) this.peer_lost(p.key, err);
  }

  private peer_lost(key: string, err: Error): void {
    this.lost.add(key);
    this.lost_errors.set(key, err);
    const waiting = this.reach_waiters.get(key);
    if (waiting !== undefined) {
      this.reach_waiters.delete(key);
      for (const w of waiting) w.reject(err);
    }
    for (const entry of [...this.homes.values()]) entry.lost(key);
    const prefix = `${key}/`;
    for (const lock of this.locks.values()) {
      if (lock.posted.has(key)) lock.fail(err);
      const held = lock.held_by;
      if (held !== null && held.startsWith(prefix)) lock.release(held);
      for (const q of lock.quitting) if (q.startsWith(prefix)) lock.quit(q);
    }
    this.on_lost?.(key, err);
  }

  private readonly reach_waiters = new Map<string, { resolve(): void; reject(err: Error): void }[]>();

  /** Resolves once a connection to `key` is up; rejects with the error if it cannot be made. */
  reachable(key: string): Promise<void> {
    const lost = this.lost_errors.get(key);
    if (lost !== undefined) return Promise.reject(lost);
    const p = this.peers.get(key);
    if (p instanceof PeerStream ? p.connected : p?.stream?.connected === true) return Promise.resolve();
    if (p === undefined) this.send(key, header(SOCKETTHREAD_PING, { id: '' })); // opens the connection
    return new Promise<void>((resolve, reject) => {
      let list = this.reach_waiters.get(key);
      if (list === undefined) this.reach_waiters.set(key, (list = []));
      list.push({ resolve, reject });
    });
  }

  /** A connection to `key` is up. */
  peer_up(key: string): void {
    const waiting = this.reach_waiters.get(key);
    if (waiting === undefined) return;
    this.reach_waiters.delete(key);
    for (const w of waiting) w.resolve();
  }

  /** Called when a peer is lost (channels use it to fail pending registrations). */
  on_lost: ((key: string, err: Error) => void) | null = null;

  // ------------------------------------------------------------------ closing

  /** Closes the server and every connection (queued output is sent first). */
  async close(): Promise<void> {
    this.closing = true;
    this.sweeper?.cancel();
    this.sweeper = null;
    const waits: Promise<void>[] = [];
    for (const p of this.peers.values()) if (p instanceof Peer) p.stop();
    if (this.server !== null) {
      this.server.close();
      waits.push(closed(this.server));
    } else if (this.binding !== null) {
      await this.binding.catch(() => undefined);
      if (this.server !== null) {
        (this.server as CspServer).close();
        waits.push(closed(this.server));
      }
    }
    for (const s of this.streams) {
      s.close(true);
      waits.push(closed(s));
    }
    await Promise.all(waits);
  }
}

function cmd_name(cmd: number): string {
  return `command 0x${(cmd & 0xffff).toString(16)}`;
}

/** `'host:port'` back to `[host, port]`. */
export function address_of(key: string): [string, number] {
  const i = key.lastIndexOf(':');
  return [key.slice(0, i), Number(key.slice(i + 1))];
}

let current: Dispatcher | null = null;

/** This process's dispatcher (created on first use, again after `shutdown()`). (not part of the public API) */
export function dispatcher(): Dispatcher {
  current ??= new Dispatcher();
  return current;
}

/** The dispatcher if one exists. (not part of the public API) */
export function existing_dispatcher(): Dispatcher | null {
  return current;
}

/** Forgets the dispatcher (after it closed). (not part of the public API) */
export function drop_dispatcher(d: Dispatcher): void {
  if (current === d) current = null;
}
