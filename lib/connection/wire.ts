/**
 * The wire format of Python's `multiprocessing.connection` on sockets, as pure functions.
 *
 * Each message is a 4-byte big-endian signed length and then the payload. Length 0 is a
 * valid (empty) message. A payload over `0x7fffffff` bytes is announced as `ff ff ff ff`
 * (-1) followed by an 8-byte big-endian unsigned length (Python >= 3.8; older Pythons cannot
 * send or receive such messages). Any other negative length is a protocol error.
 *
 * @module
 */

import { Buffer, constants as buffer_constants } from 'node:buffer';
import { Struct } from '../index.js';

/** The short header: `!i`, a 4-byte big-endian signed length. */
export const HEADER: Struct = new Struct('!i');

/** The long header's length field, after the `-1` marker: `!Q`, 8 bytes big-endian. */
export const LONG_HEADER: Struct = new Struct('!Q');

/** The short header value that announces a long header. */
export const LONG_MARK = -1;

/** The largest payload announced with the short header. */
export const MAX_SHORT = 0x7fffffff;

/** The largest message Node can hold in one Buffer. */
export const MAX_MESSAGE: number = buffer_constants.MAX_LENGTH;

/** Size of the header for a payload of `n` bytes: 4, or 12 over {@link MAX_SHORT}. */
export function header_size(n: number): number {
  return n > MAX_SHORT ? 12 : 4;
}

/**
 * Writes the header for a payload of `n` bytes into `target` at `offset`.
 * @returns the offset just past the header
 */
export function write_header(target: Buffer, n: number, offset = 0): number {
  if (n > MAX_SHORT) {
    target.writeInt32BE(LONG_MARK, offset);
    target.writeBigUInt64BE(BigInt(n), offset + 4);
    return offset + 12;
  }
  target.writeInt32BE(n, offset);
  return offset + 4;
}

/**
 * One whole message on the wire: header and a copy of `payload`, in one Buffer when Node
 * can hold that, else as two.
 */
export function encode_message(payload: Uint8Array): Buffer[] {
  const n = payload.length;
  const h = header_size(n);
  if (n + h <= MAX_MESSAGE) {
    const out = Buffer.allocUnsafe(h + n);
    write_header(out, n);
    out.set(payload, h);
    return [out];
  }
  const header = Buffer.allocUnsafe(h);
  write_header(header, n);
  return [header, Buffer.from(payload)];
}
