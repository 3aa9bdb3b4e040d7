/**
 * What every channel shares: its slots (`<slot_base>.<type>.<pattern>`, hashed stripped and
 * lower-cased, so slots are case-insensitive), registration at the context (one sending and
 * one receiving channel per slot per context), the incoming queue (bounded by
 * `queue_params`), the coalesced `received` signal, and `close()`.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { slot_hash } from './address.js';
import type { Context, ContextChannel } from './context.js';
import { Context as ContextClass } from './context.js';
import type { Connection } from './connection.js';
import { YotonClosedError } from './errors.js';
import { Signal } from './events.js';
import { MessageType, TEXT } from './message_types.js';
import { PackageQueue } from './queue.js';
import { make_package, type Package } from './wire.js';

/** How long a send waits for a congested connection before going on (yoton's tiny queue: 1 s). */
export const CONGESTION_WAIT = 1000;

/** The base of every channel. */
export abstract class BaseChannel<M = unknown> {
  /** The context the channel is attached to. */
  readonly context: Context;
  /** The channel's message type. */
  readonly message_type: MessageType<M>;
  /** Emitted with the channel, on a later turn, when messages have arrived (several may coalesce). */
  readonly received: Signal<[this]>;
  /** @internal */
  protected readonly _q_in: PackageQueue<Package>;
  private _closed = false;
  private posted = false;
  private readonly slot_out: string | null;
  private readonly slot_in: string | null;
  /** @internal Hash of the outgoing slot (0n when none). */
  readonly _slot_out_h: bigint;
  /** @internal Hash of the incoming slot (0n when none). */
  readonly _slot_in_h: bigint;

  /**
   * @param context - the context to attach to
   * @param slot_base - the slot's base name (any case; surrounding spaces ignored)
   * @param message_type - TEXT (default), BINARY, OBJECT or a custom {@link MessageType}
   * @throws TypeError for a bad context, slot or type; RangeError `Slot not free: <name>`
   */
  constructor(context: Context, slot_base: string, message_type?: MessageType<M>) {
    if (!(context instanceof ContextClass)) throw new TypeError('Context not valid.');
    if (typeof slot_base !== 'string') throw new TypeError('slot_base must be a string.');
    const type = message_type ?? (TEXT as unknown as MessageType<M>);
    if (!(type instanceof MessageType)) throw new TypeError('message_type should be a MessageType instance.');
    this.context = context;
    this.message_type = type;
    this.received = new Signal(context.engine);
    const [maxlen, mode] = context.queue_params;
    this._q_in = new PackageQueue(maxlen, mode);
    const [out, inc] = this._messaging_patterns();
    const ext = type.message_type_name();
    this.slot_out = out ? `${slot_base}.${ext}.${out}` : null;
    this.slot_in = inc ? `${slot_base}.${ext}.${inc}` : null;
    this._slot_out_h = this.slot_out === null ? 0n : slot_hash(this.slot_out.trim().toLowerCase());
    this._slot_in_h = this.slot_in === null ? 0n : slot_hash(this.slot_in.trim().toLowerCase());
    if (this._slot_out_h !== 0n) context._register_sending(this, this._slot_out_h, this.slot_out!);
    if (this._slot_in_h !== 0n) {
      try {
        context._register_receiving(this, this._slot_in_h, this.slot_in!);
      } catch (err) {
        context._unregister(this);
        throw err;
      }
    }
  }

  /** @internal `[outgoing, incoming]` pattern names. */
  protected abstract _messaging_patterns(): [string, string];

  /** Messages waiting in the incoming queue. */
  get pending(): number {
    return this._q_in.length;
  }

  /** True once closed. */
  get closed(): boolean {
    return this._closed;
  }

  /** The full outgoing slot name, e.g. `'Chat.txt.pub-sub'`. */
  get slot_outgoing(): string | null {
    return this.slot_out;
  }

  /** The full incoming slot name, e.g. `'Chat.txt.sub-pub'`. */
  get slot_incoming(): string | null {
    return this.slot_in;
  }

  /** Encodes a message with the channel's type. */
  message_to_bytes(message: M): Buffer {
    return this.message_type.message_to_bytes(message);
  }

  /** Decodes bytes with the channel's type. */
  message_from_bytes(bytes: Buffer): M {
    return this.message_type.message_from_bytes(bytes);
  }

  /**
   * Detaches the channel from its context: nothing more arrives, sending throws; queued
   * messages can still be received. Closing is for good.
   */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    this.context._unregister(this);
    this._on_closed();
  }

  /** @internal Subclasses wake their waiters. */
  protected _on_closed(): void {}

  /**
   * @internal Sends raw bytes (empty messages are not sent, as in yoton).
   * @returns the package and the connections it had to wait at, or null when nothing was sent
   * @throws YotonClosedError on a closed channel
   */
  protected _send(bytes: Buffer, dest_id = 0n, dest_seq = 0n): { p: Package; waiting: Connection[] | null } | null {
    if (this._closed) throw new YotonClosedError(`Cannot send from closed ${this.constructor.name}.`);
    if (bytes.length === 0) return null;
    const p = make_package(bytes, this._slot_out_h, this.context.id, dest_id, dest_seq);
    return { p, waiting: this.context._send_package(p) };
  }

  /** @internal A promise that resolves when the congested connections have drained (at most 1 s). */
  protected _congestion(waiting: Connection[] | null): Promise<void> {
    if (waiting === null) return Promise.resolve();
    return Promise.all(waiting.map((c) => c._wait_drain(CONGESTION_WAIT))).then(() => undefined);
  }

  /** @internal A package for this channel (context → channel). */
  _recv_package(p: Package): void {
    this._q_in.push(p);
    this._maybe_emit_received();
  }

  /** @internal Posts one `received` emission for any number of arrivals. */
  protected _maybe_emit_received(): void {
    if (this.posted) return;
    if (this.received.handler_count === 0) return;
    this.posted = true;
    this.context.engine.callback(() => {
      this.posted = false;
      this.received.emit_now(this);
    });
  }
}
