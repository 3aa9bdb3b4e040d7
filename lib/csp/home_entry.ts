/**
 * A channel home hosted in this process, and its {@link LockPort}: how the home reaches the
 * locks of processes, directly for this process's own, with PyCSP messages for others.
 *
 * @module
 */

import type { Buffer } from 'node:buffer';
import type { Dispatcher } from './dispatch.js';
import { CspProtocolError } from './errors.js';
import {
  header,
  LOCKTHREAD_ACCEPT_LOCK,
  LOCKTHREAD_ACK,
  LOCKTHREAD_ACQUIRE_LOCK,
  LOCKTHREAD_NOTIFY_SUCCESS,
  LOCKTHREAD_POISON,
  LOCKTHREAD_QUIT,
  LOCKTHREAD_RELEASE_LOCK,
  LOCKTHREAD_RETIRE,
  type Header,
} from './header.js';
import { ChannelHome, type Grant, type LockPort, type ProcRef } from './home.js';
import type { ProcessLock } from './lock.js';
import { bytes_of, encode_value, Pickled, type Msg } from './payload.js';

/** A lock request sent (or waiting to be sent) to a remote process. (not part of the public API) */
export interface PendingAcquire {
  /** The process id. */
  id: string;
  resolve: (g: Grant | null) => void;
  sent: boolean;
  /** Where it was sent, for which channel, and when (ms): for the dispatcher's lock timeout. */
  addr?: string;
  channel?: string;
  sent_at?: number;
}

/** A wire int64 as a safe number (-1 when it is not one: it then matches no sequence number). (not part of the public API) */
export function to_seq(v: bigint): number {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : -1;
}

/** A home hosted here, with the port through which it reaches processes (not part of the public API). */
export class HomeEntry implements LockPort<Msg> {
  readonly home: ChannelHome<Msg>;
  /** How local locks name this home as their holder. */
  readonly holder: string;
  /**
   * Lock requests sent to remote processes and not yet answered, by address. PyCSP's
   * ACCEPT_LOCK does not say which process answers, so to a peer that has never named
   * itself in a reply (pycsp) one request at a time is outstanding; trousers peers name the
   * process in `_source_id`, so requests to them go out together.
   */
  private readonly pending = new Map<string, PendingAcquire[]>();

  constructor(
    private readonly d: Dispatcher,
    readonly name: string,
    capacity: number,
  ) {
    this.holder = `/${name}`;
    this.home = new ChannelHome<Msg>(name, capacity, this);
  }

  private local(proc: ProcRef): ProcessLock<Msg> | undefined {
    return (proc.lock as ProcessLock<Msg> | undefined) ?? this.d.locks.get(proc.id);
  }

  acquire(proc: ProcRef): Grant | null | Promise<Grant | null> {
    if (proc.addr === '') {
      const lock = this.local(proc);
      return lock === undefined ? null : lock.acquire(this.holder);
    }
    const addr = proc.addr;
    if (this.d.lost.has(addr)) return null;
    return new Promise<Grant | null>((resolve) => {
      let list = this.pending.get(addr);
      if (list === undefined) this.pending.set(addr, (list = []));
      const entry: PendingAcquire = { id: proc.id, resolve, sent: false };
      list.push(entry);
      if (list.length === 1 || this.d.identified.has(addr)) this.send_acquire(addr, entry);
    });
  }

  private send_acquire(addr: string, entry: PendingAcquire): void {
    entry.sent = true;
    // A peer that never answers would hold this home for ever: the dispatcher gives up on
    // it after lock_timeout (PyCSP does after ~20 s of silence).
    entry.addr = addr;
    entry.channel = this.name;
    entry.sent_at = Date.now();
    this.d.watch_acquire(entry);
    this.d.send(addr, header(LOCKTHREAD_ACQUIRE_LOCK, { id: entry.id, source_id: this.name }));
  }

  try_acquire(proc: ProcRef): Grant | null | undefined {
    if (proc.addr !== '') return undefined;
    const lock = this.local(proc);
    if (lock === undefined) return null;
    if (lock.held_by !== null) return undefined;
    return lock.acquire(this.holder) as Grant;
  }

  peek(proc: ProcRef): Grant | null | undefined {
    if (proc.addr !== '') return undefined;
    const lock = this.local(proc);
    if (lock === undefined) return null;
    return lock.peek();
  }

  commit(proc: ProcRef, result_id: string, msg: Msg | undefined, reader: boolean): void {
    this.local(proc)?.commit(result_id, msg, reader);
  }

  /** ACCEPT_LOCK or UNAVAILABLE from the remote process(es) at `from`. */
  on_reply(h: Header, from: string): void {
    const list = this.pending.get(from);
    let i = -1;
    if (list !== undefined) {
      if (h.source_id !== '') {
        this.d.identified.add(from);
        i = list.findIndex((e) => e.sent && e.id === h.source_id);
      } else {
        i = list.findIndex((e) => e.sent);
      }
    }
    if (list === undefined || i < 0) {
      this.d.report(new CspProtocolError('ERR_CSP_UNKNOWN_PROCESS', `an unexpected lock reply for channel ${JSON.stringify(this.name)} from ${from}`));
      return;
    }
    const entry = list.splice(i, 1)[0]!;
    this.d.unwatch_acquire(entry);
    if (list.length === 0) this.pending.delete(from);
    else if (this.d.identified.has(from)) {
      for (const e of list) if (!e.sent) this.send_acquire(from, e);
    } else if (!list.some((e) => e.sent)) {
      this.send_acquire(from, list[0]!);
    }
    if (h.cmd === LOCKTHREAD_ACCEPT_LOCK) entry.resolve({ state: to_seq(h.arg), seq: to_seq(h.seq) });
    else entry.resolve(null);
  }

  /** The peer at `addr` is gone. */
  lost(addr: string): void {
    const list = this.pending.get(addr);
    if (list !== undefined) {
      this.pending.delete(addr);
      for (const e of list) {
        this.d.unwatch_acquire(e);
        e.resolve(null);
      }
    }
    this.home.submit({ op: 'lost', addr });
  }

  private remote(proc: ProcRef, cmd: number, fields: Partial<Header> = {}, payload: Buffer | null = null): void {
    this.d.send(proc.addr, header(cmd, { id: proc.id, source_id: this.name, ...fields }), payload);
  }

  notify(proc: ProcRef, result_id: string, msg: Msg): void {
    if (proc.addr === '') {
      this.local(proc)?.notify(this.holder, result_id, msg, true);
      return;
    }
    // An exclusive request's lock was not taken: the commit names the request's seq instead.
    this.remote(proc, LOCKTHREAD_NOTIFY_SUCCESS, { result_id, seq: proc.exclusive === true ? BigInt(proc.seq ?? 0) : 0n }, bytes_of(msg));
  }

  notify_writer(proc: ProcRef, result_id: string): void {
    if (proc.addr === '') {
      this.local(proc)?.notify(this.holder, result_id, undefined, false);
      return;
    }
    this.remote(proc, LOCKTHREAD_NOTIFY_SUCCESS, { result_id, seq: proc.exclusive === true ? BigInt(proc.seq ?? 0) : 0n }, null);
  }

  poison(proc: ProcRef): void {
    if (proc.addr === '') this.local(proc)?.poison(this.holder);
    else this.remote(proc, LOCKTHREAD_POISON);
  }

  retire(proc: ProcRef): void {
    if (proc.addr === '') this.local(proc)?.retire(this.holder);
    else this.remote(proc, LOCKTHREAD_RETIRE);
  }

  release(proc: ProcRef): void {
    if (proc.addr === '') this.local(proc)?.release(this.holder);
    else this.remote(proc, LOCKTHREAD_RELEASE_LOCK);
  }

  ack(proc: ProcRef): void {
    if (proc.addr === '') this.local(proc)?.ack();
    else this.remote(proc, LOCKTHREAD_ACK);
  }

  quit(proc: ProcRef): void {
    if (proc.addr === '') this.local(proc)?.quit(this.holder);
    else this.remote(proc, LOCKTHREAD_QUIT);
  }

  prepare(msg: Msg, reader: ProcRef): Msg {
    return reader.addr !== '' && !(msg instanceof Pickled) ? new Pickled(encode_value(msg)) : msg;
  }

  refuse(proc: ProcRef, seq: number, err: unknown): void {
    const lock = proc.addr === '' ? this.local(proc) : undefined;
    if (lock !== undefined && lock.seq === seq) lock.fail(err instanceof Error ? err : new Error(String(err)));
    else this.d.report(err);
  }

  report(err: unknown): void {
    this.d.report(err);
  }
}

