/**
 * Codecs: how `send(value)` / `recv()` turn values into message bytes and back.
 *
 * | codec      | talks to                         | carries                                  |
 * |------------|----------------------------------|------------------------------------------|
 * | `'v8'`     | Node (default)                   | Node's structured clone: Maps, Sets, Dates, cycles... |
 * | `'json'`   | anything that reads JSON         | JSON's types                             |
 * | `'pickle'` | Python's `Connection.send`/`recv`, every Python from 2.7 | Python's data types (`trousers/pickle`'s type table), written in protocol 2 |
 *
 * `'pickle'` is what Python's own `send(obj)` / `recv()` use, so a Node end and a Python end
 * exchange objects directly. For other pickle options pass a codec object made by
 * `pickle_codec({ protocol: 4, dict: 'object', ... })` from `trousers/pickle`. Any object
 * with `encode` and `decode` is a codec.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import * as v8 from 'node:v8';
import { pickle_codec } from '../pickle/index.js';

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

/**
 * Python's pickle, as `multiprocessing.connection` sends it: `encode` is `dumps(value)` in
 * protocol 2 (read by Python 2.7 and every Python 3), `decode` is `loads(data)` with its
 * defaults (any protocol; dicts as `Map`s; Python 2 `str` as ASCII text). Values with no
 * Python type make `send` throw a `PicklingError` (a TypeError); a bad pickle makes `recv`
 * reject with an `UnpicklingError`, and the connection stays usable.
 */
export const PICKLE_CODEC: Codec = pickle_codec();

/** A codec option: a name or your own {@link Codec} (e.g. `pickle_codec({...})`). */
export type CodecOption = 'v8' | 'json' | 'pickle' | Codec;

/** Resolves a codec option (default `'v8'`). */
export function resolve_codec(option: CodecOption | undefined): Codec {
  if (option === undefined || option === 'v8') return V8_CODEC;
  if (option === 'json') return JSON_CODEC;
  if (option === 'pickle') return PICKLE_CODEC;
  if (option !== null && typeof option === 'object' && typeof option.encode === 'function' && typeof option.decode === 'function') return option;
  throw new TypeError("codec must be 'v8', 'json', 'pickle' or an object with encode and decode");
}
