/**
 * Read delimiters: what users may assign to `read_delimiter`, validated once at assignment.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { Struct } from './struct.js';

/**
 * What `read_delimiter` accepts:
 * - `null`: every chunk as it arrives;
 * - a non-empty string (UTF-8) or `Buffer`/`Uint8Array`: the bytes before it;
 * - a positive integer N: exactly N bytes;
 * - a `RegExp`: the bytes before the first match, or with `regex_search = false` the match
 *   array of a match at the start;
 * - a {@link Struct}: its fields, unpacked from `struct.size` bytes.
 */
export type ReadDelimiter = null | string | Uint8Array | number | RegExp | Struct;

/**
 * The internal form of a delimiter: strings become bytes.
 * @internal
 */
export type CompiledDelimiter = null | Buffer | number | RegExp | Struct;

/**
 * Validates and compiles a delimiter, throwing `TypeError`/`RangeError` for bad values.
 * @internal
 */
export function compile_delimiter(value: unknown): CompiledDelimiter {
  // Integers and Structs first: length-prefixed protocols switch between them per frame.
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`an integer read_delimiter must be a positive integer, got ${value}`);
    }
    return value;
  }
  if (value instanceof Struct) {
    if (value.size === 0) throw new RangeError('a Struct read_delimiter must have a size > 0');
    return value;
  }
  if (value === null) return null;
  if (typeof value === 'string') {
    if (value.length === 0) throw new RangeError('read_delimiter must not be an empty string');
    return Buffer.from(value, 'utf8');
  }
  if (value instanceof Uint8Array) {
    if (value.length === 0) throw new RangeError('read_delimiter must not be empty bytes');
    // Copy: the caller may reuse their buffer; the delimiter must not change under us.
    return Buffer.from(value);
  }
  if (value instanceof RegExp) return value;
  throw new TypeError(
    `read_delimiter must be null, a string, bytes, a positive integer, a RegExp or a Struct; got ${
      value === undefined ? 'undefined' : typeof value
    }`,
  );
}

/**
 * The buffered-bytes limit that applies with `delimiter`: a frame that must be held whole
 * may exceed `buffer_size`.
 * @internal
 */
export function read_limit(buffer_size: number, delimiter: CompiledDelimiter): number {
  if (typeof delimiter === 'number') return Math.max(buffer_size, delimiter);
  if (delimiter instanceof Struct) return Math.max(buffer_size, delimiter.size);
  return buffer_size;
}
