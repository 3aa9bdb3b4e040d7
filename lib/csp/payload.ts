/**
 * Messages on the wire: PyCSP sends `pickle.dumps([msg], protocol=2)` and reads
 * `pickle.loads(payload)[0]`. Within one process values are never encoded: the reader gets
 * the writer's object, as in PyCSP.
 *
 * A PyCSP channel end that a Python process sends (a pickled
 * `pycsp.parallel.channel.ChannelEndRead` / `ChannelEndWrite`, or a `Channel`) arrives as a
 * description `{ address, name, op }` and is reconnected here by the channel layer (see
 * {@link set_end_reviver}).
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { dumps, loads, type FindClass } from '../pickle/index.js';

/** A message that came from (or goes to) another process: pickle bytes. */
export class Pickled {
  /** @param bytes - `pickle.dumps([msg], 2)` */
  constructor(readonly bytes: Buffer) {}
}

/** A message inside a home: a value written in this process (the object itself), or {@link Pickled} bytes. */
export type Msg = unknown;

/** A PyCSP end (or channel) read from a pickle, before it is reconnected. (not part of the public API) */
export class PickledEnd {
  /** `'read'`, `'write'` or `'channel'`. */
  op: 'read' | 'write' | 'channel';
  address: [string, number] | null = null;
  name = '';
  constructor(op: 'read' | 'write' | 'channel') {
    this.op = op;
  }
  /** BUILD: PyCSP's state dict, `_restore_info = ((host, port), name)` and `_op`. */
  __setstate__(state: unknown): void {
    const get = (k: string): unknown => (state instanceof Map ? state.get(k) : undefined);
    const info = get('_restore_info');
    if (!Array.isArray(info) || info.length !== 2) throw new TypeError('a PyCSP channel end without _restore_info');
    const [addr, name] = info as [unknown, unknown];
    if (!Array.isArray(addr) || addr.length !== 2) throw new TypeError('a PyCSP channel end with a bad address');
    const text = (v: unknown): string => (typeof v === 'string' ? v : Buffer.isBuffer(v) || v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : '');
    this.address = [text(addr[0]), Number(addr[1])];
    this.name = text(name);
    const op = get('_op');
    if (this.op !== 'channel' && (op === 0 || op === 1)) this.op = op === 0 ? 'read' : 'write';
  }
}

let made = 0;
const find_class: FindClass = (module, name) => {
  if (module !== 'pycsp.parallel.channel') return undefined;
  if (name === 'ChannelEndRead' || name === 'ChannelEndWrite' || name === 'Channel') {
    const op = name === 'Channel' ? 'channel' : name === 'ChannelEndRead' ? 'read' : 'write';
    return () => {
      made++;
      return new PickledEnd(op);
    };
  }
  return undefined;
};

let reviver: ((p: PickledEnd) => unknown) | null = null;

/** Sets how pickled PyCSP ends become live ends here (the channel layer does). (not part of the public API) */
export function set_end_reviver(fn: (p: PickledEnd) => unknown): void {
  reviver = fn;
}

function revive(value: unknown, seen: Set<unknown>): unknown {
  if (value instanceof PickledEnd) return reviver === null ? value : reviver(value);
  if (value === null || typeof value !== 'object' || seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i], seen);
  } else if (value instanceof Map) {
    for (const [k, v] of value) value.set(k, revive(v, seen));
  }
  return value;
}

/** What a channel end sent to another process carries. (not part of the public API) */
export interface EndState {
  op: 'read' | 'write';
  address: [string, number];
  name: string;
}

let end_encoder: ((value: unknown) => EndState | null) | null = null;

/** Sets how channel ends are recognised (and moved) when sent away (the channel layer does). (not part of the public API) */
export function set_end_encoder(fn: (value: unknown) => EndState | null): void {
  end_encoder = fn;
}

function unicode(out: number[], text: string): void {
  const b = Buffer.from(text, 'utf8');
  out.push(0x58, b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, b.length >>> 24, ...b); // BINUNICODE
}

/**
 * `[end]` as pycsp pickles a moved channel end (protocol 2): the class
 * `pycsp.parallel.channel.ChannelEndRead` / `ChannelEndWrite` made with NEWOBJ, then BUILD with
 * its state `{_op, _isretired, _ispoisoned, _restore_info: ((host, port), name)}`, which
 * reconnects it on arrival.
 */
function pickle_end(e: EndState): Buffer {
  const out: number[] = [0x80, 2, 0x5d]; // PROTO 2, EMPTY_LIST
  const cls = `pycsp.parallel.channel\n${e.op === 'read' ? 'ChannelEndRead' : 'ChannelEndWrite'}\n`;
  out.push(0x63, ...Buffer.from(cls, 'latin1')); // GLOBAL
  out.push(0x29, 0x81, 0x7d, 0x28); // EMPTY_TUPLE, NEWOBJ, EMPTY_DICT, MARK
  unicode(out, '_op');
  out.push(0x4b, e.op === 'read' ? 0 : 1); // BININT1
  unicode(out, '_isretired');
  out.push(0x89); // NEWFALSE
  unicode(out, '_ispoisoned');
  out.push(0x89);
  unicode(out, '_restore_info');
  unicode(out, e.address[0]);
  out.push(0x4d, e.address[1] & 0xff, e.address[1] >> 8, 0x86); // BININT2 port, TUPLE2
  unicode(out, e.name);
  out.push(0x86, 0x75, 0x62, 0x61, 0x2e); // TUPLE2, SETITEMS, BUILD, APPEND, STOP
  return Buffer.from(out);
}

/**
 * Encodes a value as PyCSP's payload, `pickle.dumps([value], 2)`. A channel end (the whole
 * value) is written as pycsp writes one, and moves: the receiving process (Node or Python)
 * reconnects it.
 * @throws PicklingError for values with no Python type
 */
export function encode_value(value: unknown): Buffer {
  const end = end_encoder !== null && value !== null && typeof value === 'object' ? end_encoder(value) : null;
  if (end !== null) return pickle_end(end);
  return dumps([value], { protocol: 2 });
}

/** Decodes a PyCSP payload to its value. @throws UnpicklingError for a bad pickle */
export function decode_value(bytes: Buffer): unknown {
  const before = made;
  const list = loads(bytes, { find_class });
  if (!Array.isArray(list) || list.length < 1) throw new TypeError('a PyCSP payload must be a list of one item');
  const value: unknown = list[0];
  return made === before ? value : revive(value, new Set());
}

/** The value of a message: a local value as is, pickled bytes decoded. */
export function value_of(msg: Msg): unknown {
  return msg instanceof Pickled ? decode_value(msg.bytes) : msg;
}

/** The message as bytes for a peer. */
export function bytes_of(msg: Msg): Buffer {
  return msg instanceof Pickled ? msg.bytes : encode_value(msg);
}
