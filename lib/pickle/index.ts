/**
 * `trousers/pickle`: Python's pickle format, read and written safely, so Node and Python
 * exchange objects.
 *
 * ```ts
 * import { loads, dumps, tuple, float } from 'trousers/pickle';
 *
 * const bytes = dumps(new Map<unknown, unknown>([['point', tuple(1, 2)], ['ratio', float(1)]]));
 * // Python: pickle.loads(bytes) == {'point': (1, 2), 'ratio': 1.0}
 * const value = loads(bytes); // Map { 'point' => Tuple [1, 2], 'ratio' => 1 }
 * ```
 *
 * - `loads` reads protocols 0 to 5 (everything Python 2.7 to 3.13 writes), and never runs
 *   anything: globals resolve only through a fixed allow-list of data constructors and an
 *   optional `find_class` hook. Bad input throws an {@link UnpicklingError} with a stable code.
 * - `dumps` writes protocols 0 to 5, protocol 2 by default (Python 2.7 and every Python 3
 *   read it), as CPython 3 writes them.
 * - Types: `None` ↔ `null`, `bool` ↔ `boolean`, `int` ↔ `number` (safe integers) or
 *   `bigint`, `float` ↔ `number` ({@link float} forces a float), `str` ↔ `string`, `bytes` ↔
 *   `Buffer`, `bytearray` ↔ {@link ByteArray}, `tuple` ↔ {@link Tuple}, `list` ↔ `Array`,
 *   `dict` ↔ `Map`, `set` ↔ `Set`, `frozenset` ↔ {@link FrozenSet}. See docs/pickle.md.
 *
 * @module
 */

import { load, type LoadOptions } from './reader.js';
import { dump, type DumpOptions } from './writer.js';

export { Tuple, tuple, ByteArray, FrozenSet, Float, float, type PyValue } from './types.js';
export { UnpicklingError, PicklingError, type UnpicklingErrorCode } from './errors.js';
export { PyGlobal, ALLOWED_GLOBALS, type FindClass, type PyCallable } from './globals.js';
export { LOAD_DEFAULTS, type LoadOptions } from './reader.js';
export { DUMP_DEFAULTS, type DumpOptions } from './writer.js';
export { HIGHEST_PROTOCOL, DEFAULT_PROTOCOL } from './opcodes.js';
export { pickle_codec, type PickleCodec, type PickleCodecOptions } from './codec.js';

/**
 * Reads a pickle (protocols 0 to 5) into JavaScript values; see the type table above.
 * Trailing bytes after `STOP` are ignored, as by Python.
 *
 * @param data - the pickle
 * @param options - `encoding` of Python 2 `str`s, `dict: 'object'`, `find_class`, limits
 * @throws UnpicklingError for any malformed, truncated, hostile or oversized pickle
 * @throws TypeError / RangeError for bad arguments
 */
export function loads(data: Uint8Array, options?: LoadOptions): unknown {
  return load(data, options);
}

/**
 * Writes `value` as a pickle (protocol 2 unless `options.protocol` says otherwise).
 *
 * @param value - plain data: see the type table above
 * @param options - `protocol` (0 to 5), `max_depth`
 * @throws PicklingError (a TypeError) naming the path of a value with no Python type
 * @throws RangeError for a bad protocol
 */
export function dumps(value: unknown, options?: DumpOptions): Buffer {
  return dump(value, options);
}
