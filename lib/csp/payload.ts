/**
 * Messages on the wire: PyCSP sends `pickle.dumps([msg], protocol=2)` and reads
 * `pickle.loads(payload)[0]`. Within one process values are never encoded: the reader gets
 * the writer's object, as in PyCSP.
 *
 * @module
 */

import { Buffer } from 'node:buffer';

/** A value written in this process, carried as the object itself. */
export class Local {
  /** @param value - the writer's value */
  constructor(readonly value: unknown) {}
}

/** A message inside a home: a local value, or the pickled bytes a peer sent. */
export type Msg = Local | Buffer;

/** Encodes a value as PyCSP's payload. @throws whatever the encoder throws for values it cannot encode */
export function encode_value(value: unknown): Buffer {
  return Buffer.from(JSON.stringify([value]), 'utf8');
}

/** Decodes a PyCSP payload to its value. */
export function decode_value(bytes: Buffer): unknown {
  const list = JSON.parse(bytes.toString('utf8')) as unknown;
  if (!Array.isArray(list) || list.length < 1) throw new TypeError('a PyCSP payload must be a list of one item');
  return list[0];
}

/** The value of a message: a local value as is, bytes decoded. */
export function value_of(msg: Msg | null): unknown {
  if (msg === null) return null;
  if (msg instanceof Local) return msg.value;
  return decode_value(msg);
}

/** The message as bytes for a peer. */
export function bytes_of(msg: Msg): Buffer {
  return msg instanceof Local ? encode_value(msg.value) : msg;
}
