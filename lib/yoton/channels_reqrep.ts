/**
 * Request/reply as remote procedure calls, with yoton's load balancing.
 *
 * ```ts
 * class Calc extends RepChannel {
 *   add(a: number, b: number) { return a + b; }
 *   async slow(x: number) { await sleep(10); return x; }
 * }
 * const rep = new Calc(ctx_b, 'calc');
 * rep.set_mode('event');
 * const req = new ReqChannel(ctx_a, 'calc');
 * await req.call('add', 3, 4);       // 7
 * await req.api.add(3, 4);           // the same, as sugar
 * ```
 *
 * On the wire (all OBJECT, pre-requests raw UTF-8): the Req broadcasts `req?` with
 * dest_seq = id + 2^63 (again every 500 ms while no replier took it, so a request may be made
 * before any replier exists); a free replier answers `req!`; the first answer gets the
 * request `(name, args, kwargs)` addressed to it and everyone gets `req-`; the reply, or
 * `("yoton_ERROR_HANDLING_REQUEST", text)`, comes back addressed to the Req. A replier
 * acknowledges one pre-request at a time and only while idle, so requests spread over
 * repliers. A request still waiting after 10 s is cancelled.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import type { Timer as EngineTimer } from '../index.js';
import { tuple, Tuple } from '../pickle/types.js';
import { BaseChannel } from './channels_base.js';
import type { Context } from './context.js';
import { YotonRemoteError } from './errors.js';
import { Future, type FutureHost } from './future.js';
import { OBJECT, type MessageType } from './message_types.js';
import type { Package } from './wire.js';

/** Offset of pre-request ids (yoton's `REQREP_SEQ_REF`). */
export const REQREP_SEQ_REF = 2n ** 63n;
/** First element of an error reply. */
export const ERROR_OBJECT = 'yoton_ERROR_HANDLING_REQUEST';
/** A replier forgets an acknowledged pre-request that brought no request after this (ms). */
export const PRE_REQUEST_FAILSAFE = 10000;

/** Calls made through {@link ReqChannel.api}: `req.api.add(3, 4)` is `req.call('add', 3, 4)`. */
export type RemoteApi = Record<string, (...args: unknown[]) => Future>;

/** The requesting end of req/rep (messages are always OBJECT). */
export class ReqChannel extends BaseChannel<unknown> {
  private readonly items = new Map<bigint, Future>();
  private counter = 0n;
  private ticker: EngineTimer | null = null;
  private scheduled = false;
  private next_recheck = 0;
  /** `req.api.name(...args)` calls `name` remotely. */
  readonly api: RemoteApi;

  /**
   * @param context - the context
   * @param slot_base - the slot
   */
  constructor(context: Context, slot_base: string) {
    super(context, slot_base, OBJECT as MessageType<unknown>);
    this.api = new Proxy({} as RemoteApi, {
      // 'then' stays undefined, so `await req.api` does not call a remote 'then'
      get: (_t, name) => (typeof name === 'string' && name !== 'then' ? (...args: unknown[]) => this.call(name, ...args) : undefined),
    });
  }

  /** @internal */
  protected _messaging_patterns(): [string, string] {
    return ['req-rep', 'rep-req'];
  }

  /** The channel's engine (for its futures). */
  get engine(): import('../index.js').Engine {
    return this.context.engine;
  }

  /**
   * Calls `name(...args)` at a replier.
   * @returns the future result
   * @throws TypeError when an argument cannot be OBJECT-encoded; YotonClosedError when closed
   */
  call<T = unknown>(name: string, ...args: unknown[]): Future<T> {
    return this.call_kw<T>(name, args, new Map());
  }

  /** Like {@link ReqChannel.call}, with keyword arguments (a Map or plain object). */
  call_kw<T = unknown>(name: string, args: unknown[], kwargs: Map<string, unknown> | Record<string, unknown>): Future<T> {
    if (typeof name !== 'string') throw new TypeError('the method name must be a string');
    const bytes = this.message_to_bytes(tuple<unknown>(name, Tuple.from(args), kwargs));
    if (this.closed) this._send(bytes); // throws YotonClosedError
    const id = ++this.counter;
    const f = new Future<T>(this, bytes, id);
    this.items.set(id, f as Future);
    this._send_pre(f as Future, 'req?');
    this.arm();
    return f;
  }

  /** @internal FutureHost: `req?` / `req-`. */
  _send_pre(f: Future, what: 'req?' | 'req-'): void {
    if (this.closed) {
      if (what === 'req?') f.cancel();
      return;
    }
    this._send(Buffer.from(what, 'utf8'), 0n, f._request_id + REQREP_SEQ_REF);
  }

  private arm(): void {
    this.ticker ??= this.context.engine.cycle(100, () => this.process());
  }

  /** @internal */
  override _recv_package(p: Package): void {
    super._recv_package(p);
    if (this.scheduled) return;
    this.scheduled = true;
    this.context.engine.callback(() => {
      this.scheduled = false;
      this.process();
    });
  }

  private process(): void {
    const now = Date.now();
    if (now >= this.next_recheck) {
      this.next_recheck = now + 100;
      for (const [id, f] of this.items) {
        if (f.cancelled()) this.items.delete(id);
        else f._resend_if_necessary(now);
      }
    }
    for (let p = this._q_in.shift(); p !== undefined; p = this._q_in.shift()) this.handle(p);
    let any_waiting = false;
    for (const f of this.items.values()) if (f.waiting()) any_waiting = true;
    if (!any_waiting) {
      this.ticker?.cancel();
      this.ticker = null;
    }
  }

  private handle(p: Package): void {
    if (p.dest_id === 0n || p.dest_id !== this.context.id) return;
    const seq = p.dest_seq;
    if (seq > REQREP_SEQ_REF) {
      const id = seq - REQREP_SEQ_REF;
      const f = this.items.get(id);
      if (f === undefined || f._replier !== 0n) return;
      if (!f.set_running_or_notify_cancel()) return;
      if (!this.closed) this._send(f._req, p.source_id, id);
      f._replier = p.source_id;
      this._send_pre(f, 'req-');
    } else if (seq > 0n) {
      const f = this.items.get(seq);
      if (f === undefined) return;
      this.items.delete(seq);
      let reply: unknown;
      try {
        reply = this.message_from_bytes(p.data);
      } catch (err) {
        f.set_exception(err as Error);
        return;
      }
      if (reply instanceof Tuple && reply.length === 2 && reply[0] === ERROR_OBJECT) {
        f.set_exception(new YotonRemoteError(String(reply[1])));
      } else {
        f.set_result(reply);
      }
    }
  }

  /** @internal Closing cancels requests no replier has taken. */
  protected override _on_closed(): void {
    this.ticker?.cancel();
    this.ticker = null;
    for (const f of this.items.values()) if (f.waiting()) f.cancel();
  }
}

/** Names a request may never call: the channel's own machinery. */
const RESERVED = new Set<string>();
function reserve(proto: object | null): void {
  for (let o = proto; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const k of Object.getOwnPropertyNames(o)) RESERVED.add(k);
  }
  for (const k of Object.getOwnPropertyNames(Object.prototype)) RESERVED.add(k);
}

const NO_LOCATION = Symbol('yoton.no_location');

/** Where the error reply's text says the error came from (yoton: `line N of file.`). */
function where(err: unknown): string {
  if (err !== null && typeof err === 'object' && NO_LOCATION in err) return '';
  const stack = err instanceof Error ? err.stack : undefined;
  const m = stack ? /\(?([^\s()]+):(\d+):\d+\)?\s*$/m.exec(stack.split('\n').slice(1, 2).join('\n')) : null;
  return m ? `line ${m[2]} of ${m[1]}.` : '';
}

/**
 * The replying end of req/rep. Subclass it and add methods; a method may return a Promise.
 * Keyword arguments, when a caller sends any, come as a last `Map` argument.
 */
export class RepChannel extends BaseChannel<unknown> {
  private mode: 'off' | 'event' = 'off';
  private pre_requests: Package[] = [];
  private pre_request: Package | null = null;
  private pre_request_time = 0;
  private failsafe: EngineTimer | null = null;
  private busy = false;
  private scheduled = false;

  /**
   * @param context - the context
   * @param slot_base - the slot
   */
  constructor(context: Context, slot_base: string) {
    super(context, slot_base, OBJECT as MessageType<unknown>);
  }

  /** @internal */
  protected _messaging_patterns(): [string, string] {
    return ['rep-req', 'req-rep'];
  }

  /**
   * `'off'` / 0 (default): requests wait; `'event'` / 1 (and yoton's `'thread'` / 2, the same
   * here): requests are handled as they arrive.
   * @throws RangeError `Invalid mode for ReqChannel instance.`
   */
  set_mode(mode: 'off' | 'event' | 'event-driven' | 'thread' | 'thread-driven' | 0 | 1 | 2): void {
    const m = typeof mode === 'string' ? mode.toLowerCase() : mode;
    if (m === 0 || m === 'off') this.mode = 'off';
    else if (m === 1 || m === 2 || m === 'event' || m === 'event-driven' || m === 'thread' || m === 'thread-driven') {
      this.mode = 'event';
      this.schedule();
    } else throw new RangeError('Invalid mode for ReqChannel instance.');
  }

  /** Yoton's test method: returns `(arg1, hex(context id))`, after `sleep` seconds. */
  async echo(arg1: unknown, sleep: unknown = 0): Promise<Tuple<unknown>> {
    const s = typeof sleep === 'number' ? sleep : 0;
    if (s > 0) await new Promise<void>((r) => this.context.engine.defer(s * 1000, r));
    return tuple<unknown>(arg1, `0x${this.context.id.toString(16)}`);
  }

  /** @internal */
  override _recv_package(p: Package): void {
    super._recv_package(p);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.mode !== 'event') return;
    this.scheduled = true;
    this.context.engine.callback(() => {
      this.scheduled = false;
      this.run();
    });
  }

  private run(): void {
    while (this.mode === 'event' && !this.busy && !this.closed) {
      const p = this._q_in.shift();
      if (p === undefined) break;
      this.iteration(p);
    }
    if (!this.busy) this.ack_next();
  }

  private ack_next(): void {
    if (this.pre_request !== null && Date.now() - this.pre_request_time > PRE_REQUEST_FAILSAFE) this.pre_request = null;
    if (this.pre_request !== null || this.pre_requests.length === 0 || this.closed) return;
    const p = this.pre_requests.shift()!;
    this.pre_request = p;
    this.pre_request_time = Date.now();
    this._send(Buffer.from('req!', 'utf8'), p.source_id, p.dest_seq);
    this.failsafe?.cancel();
    this.failsafe = this.context.engine.defer(PRE_REQUEST_FAILSAFE + 10, () => {
      this.failsafe = null;
      this.run();
    });
  }

  private iteration(p: Package): void {
    const seq = p.dest_seq;
    if (seq > REQREP_SEQ_REF) {
      const action = p.data.toString('utf8');
      this.pre_requests = this.pre_requests.filter((q) => !(q.source_id === p.source_id && q.dest_seq === seq));
      if (action === 'req-') {
        const cur = this.pre_request;
        if (cur !== null && cur.source_id === p.source_id && cur.dest_seq === seq) this.pre_request = null;
      } else if (action === 'req?') {
        // bounded like every queue of the context (a flood of pre-requests drops the oldest)
        if (this.pre_requests.length >= this.context.queue_params[0]) this.pre_requests.shift();
        this.pre_requests.push(p);
      }
      return;
    }
    this.pre_request = null;
    this.failsafe?.cancel();
    this.failsafe = null;
    let outcome: unknown;
    try {
      outcome = this.handle_request(this.message_from_bytes(p.data));
    } catch (err) {
      this.reply_error(p, err);
      return;
    }
    if (outcome instanceof Promise) {
      this.busy = true;
      outcome.then(
        (v) => this.reply(p, v),
        (err) => this.reply_error(p, err),
      ).finally(() => {
        this.busy = false;
        this.run();
      });
    } else {
      this.reply(p, outcome);
    }
  }

  /** Looks the method up and calls it. Override to dispatch differently. */
  protected handle_request(request: unknown): unknown {
    if (!(request instanceof Tuple) || request.length !== 3 || typeof request[0] !== 'string') {
      throw new TypeError('a request is a (name, args, kwargs) tuple');
    }
    const [name, args, kwargs] = request as unknown as [string, unknown[], Map<unknown, unknown>];
    if (RESERVED.size === 0) reserve(RepChannel.prototype);
    const fn = (this as unknown as Record<string, unknown>)[name];
    if (name.startsWith('_') || (RESERVED.has(name) && name !== 'echo') || typeof fn !== 'function') {
      throw Object.assign(new Error(`Method '${name}' not implemented.`), { [NO_LOCATION]: true });
    }
    const list = Array.isArray(args) ? [...args] : [];
    if (kwargs instanceof Map && kwargs.size > 0) list.push(kwargs);
    return (fn as (...a: unknown[]) => unknown).apply(this, list);
  }

  private reply(p: Package, value: unknown): void {
    if (this.closed) return;
    let bytes: Buffer;
    try {
      bytes = this.message_to_bytes(value);
    } catch (err) {
      this.reply_error(p, err);
      return;
    }
    this._send(bytes.length === 0 ? this.message_to_bytes(null) : bytes, p.source_id, p.dest_seq);
  }

  private reply_error(p: Package, err: unknown): void {
    if (this.closed) return;
    const text = `${err instanceof Error ? err.message : String(err)}\n${where(err)}`;
    this._send(this.message_to_bytes(tuple<unknown>(ERROR_OBJECT, text)), p.source_id, p.dest_seq);
  }

  /** @internal */
  protected override _on_closed(): void {
    this.failsafe?.cancel();
    this.failsafe = null;
  }
}
