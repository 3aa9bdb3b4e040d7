/**
 * A pickle codec for message layers: `encode` is `dumps`, `decode` is `loads`, with fixed
 * options. `trousers/connection` takes it as `codec: pickle_codec({...})` (or the name
 * `'pickle'` for the defaults), and anything else wanting an `{ encode, decode }` pair can.
 *
 * @module
 */

import type { Buffer } from 'node:buffer';
import { load, type LoadOptions } from './reader.js';
import { dump, type DumpOptions } from './writer.js';

/** Options of {@link pickle_codec}: those of `loads` and of `dumps`. */
export interface PickleCodecOptions extends LoadOptions, DumpOptions {}

/** An `{ encode, decode }` pair speaking pickle. */
export interface PickleCodec {
  /** `dumps(value, options)`. */
  encode(value: unknown): Buffer;
  /** `loads(data, options)`. */
  decode(data: Uint8Array): unknown;
}

/**
 * Makes a codec writing `protocol` (default 2, which every Python from 2.7 reads) and reading
 * with the given `loads` options.
 */
export function pickle_codec(options: PickleCodecOptions = {}): PickleCodec {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const { protocol, max_depth, encoding, dict, find_class, max_bytes, max_digits } = options;
  const dump_options: DumpOptions = { protocol: protocol ?? 2 };
  if (max_depth !== undefined) dump_options.max_depth = max_depth;
  const load_options: LoadOptions = {};
  if (encoding !== undefined) load_options.encoding = encoding;
  if (dict !== undefined) load_options.dict = dict;
  if (find_class !== undefined) load_options.find_class = find_class;
  if (max_bytes !== undefined) load_options.max_bytes = max_bytes;
  if (max_depth !== undefined) load_options.max_depth = max_depth;
  if (max_digits !== undefined) load_options.max_digits = max_digits;
  // check the options now, not on the first message
  dump(null, dump_options);
  load(Buffer_of_none, load_options);
  return {
    encode: (value) => dump(value, dump_options),
    decode: (data) => load(data, load_options),
  };
}

const Buffer_of_none = new Uint8Array([0x4e, 0x2e]);
