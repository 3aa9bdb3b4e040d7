/**
 * Codecs: how `send(value)` / `recv()` turn values into message bytes and back.
 *
 * Python's `send`/`recv` use pickle, which Node cannot read: structured values travel
 * Node to Node only. Talk to Python with `send_bytes` / `recv_bytes` (and, say, JSON or
 * `struct` inside), or use the `'json'` codec on the Node side and `json.loads` /
 * `json.dumps` on `recv_bytes()` / `send_bytes()` in Python.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import * as v8 from 'node:v8';

/** Turns values into bytes and back. */
export interface Codec {
  /** Encodes a value; may throw for values it cannot carry. */
  encode(value: unknown): Uint8Array;
  /** Decodes what `encode` made. */
  decode(data: Buffer): unknown;
}

/**
 * Node's structured serialization (`v8.serialize`): Maps, Sets, Dates, RegExps, typed
 * arrays, bigint, `undefined`, cycles survive; functions and symbols throw.
 */
export const V8_CODEC: Codec = {
  encode: (value) => v8.serialize(value),
  decode: (data) => v8.deserialize(data),
};

/** UTF-8 JSON: readable by any language; only JSON's types survive. */
export const JSON_CODEC: Codec = {
  encode(value) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`the JSON codec cannot send ${typeof value}`);
    return Buffer.from(text, 'utf8');
  },
  decode: (data) => JSON.parse(data.toString('utf8')) as unknown,
};

/** A codec option: a name or your own {@link Codec}. */
export type CodecOption = 'v8' | 'json' | Codec;

/** Resolves a codec option (default `'v8'`). */
export function resolve_codec(option: CodecOption | undefined): Codec {
  if (option === undefined || option === 'v8') return V8_CODEC;
  if (option === 'json') return JSON_CODEC;
  if (option !== null && typeof option === 'object' && typeof option.encode === 'function' && typeof option.decode === 'function') return option;
  throw new TypeError("codec must be 'v8', 'json' or an object with encode and decode");
}
