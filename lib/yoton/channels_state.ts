/**
 * StateChannel: a shared value. Every StateChannel at a slot sends and receives; `send()`
 * sends only when the value changes, `recv()` (synchronous) gives the latest. When a context
 * connects anywhere in the network (`NEW_CONNECTION`), every StateChannel re-sends its
 * state, so late joiners get it.
 *
 * ```ts
 * const a = new StateChannel(ctx_a, 'status');
 * a.send('busy');
 * // later, on a context that joins after that:
 * const b = new StateChannel(ctx_b, 'status');
 * b.received.bind(() => console.log(b.recv()));   // 'busy'
 * ```
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { BaseChannel } from './channels_base.js';
import type { Context } from './context.js';
import { TEXT, type MessageType } from './message_types.js';
import type { Package } from './wire.js';

/** A shared state. */
export class StateChannel<M = string> extends BaseChannel<M> {
  private current: M;
  private current_package: Package | null = null;

  /**
   * @param context - the context
   * @param slot_base - the slot
   * @param message_type - default TEXT
   */
  constructor(context: Context, slot_base: string, message_type: MessageType<M> = TEXT as unknown as MessageType<M>) {
    super(context, slot_base, message_type);
    this.current = this.message_from_bytes(Buffer.alloc(0));
  }

  /** @internal */
  protected _messaging_patterns(): [string, string] {
    return ['state', 'state'];
  }

  /** Sets the state: sent only if it differs from the current one (by encoded value). */
  send(message: M): void {
    const bytes = this.message_to_bytes(message);
    if (bytes.equals(this.message_to_bytes(this.current))) {
      if (this.closed) this._send(bytes); // throws
      return;
    }
    const r = this._send(bytes);
    if (r !== null) {
      this.current_package = r.p;
      this.current = this.message_from_bytes(bytes);
    }
  }

  /** Re-sends the current state (done by the context for `NEW_CONNECTION`). */
  send_last(): void {
    if (this.current_package === null || this.closed) return;
    this._send(this.message_to_bytes(this.current));
  }

  /** The latest state (the type's empty message until one is set or received). */
  recv(): M {
    return this.current;
  }

  /** @internal */
  override _recv_package(p: Package): void {
    let value: M;
    try {
      value = this.message_from_bytes(p.data);
    } catch {
      return; // an undecodable state is ignored
    }
    this.current = value;
    this.current_package = p;
    this._maybe_emit_received();
  }
}
