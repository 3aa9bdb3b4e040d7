/**
 * The shared-secret handshake of Python's `multiprocessing.connection`, as pure functions.
 *
 * The deliverer (a listener first, a client second) sends `#CHALLENGE#` + message; the
 * answerer replies with an HMAC of the message (the whole message, `{digest}` prefix
 * included) keyed with the shared `authkey`; the deliverer answers `#WELCOME#` or
 * `#FAILURE#`.
 *
 * - Modern challenges (Python >= 3.12, and ours) are `{sha256}` + 40 random bytes, answered
 *   with `{sha256}` + the HMAC-SHA256.
 * - Legacy challenges (Python <= 3.11, 2.7) are 20 random bytes, answered with a bare
 *   16-byte HMAC-MD5. Legacy answerers send that bare MD5 reply to modern challenges too,
 *   which is why a 16-byte reply is accepted as HMAC-MD5.
 * - Replies may name any of md5, sha256, sha384, sha3_256, sha3_384.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError } from './errors.js';

/** Prefix of a challenge message. */
export const CHALLENGE: Buffer = Buffer.from('#CHALLENGE#', 'latin1');
/** The deliverer's answer to a correct reply. */
export const WELCOME: Buffer = Buffer.from('#WELCOME#', 'latin1');
/** The deliverer's answer to a wrong reply. */
export const FAILURE: Buffer = Buffer.from('#FAILURE#', 'latin1');

/** Random bytes in a modern challenge. */
export const MESSAGE_LENGTH = 40;
/** Length of a legacy (MD5-only) challenge. */
export const MD5ONLY_MESSAGE_LENGTH = 20;
/** Length of a bare HMAC-MD5 reply. */
export const MD5_DIGEST_LENGTH = 16;
/** Handshake messages longer than this are rejected. */
export const MAX_AUTH_MESSAGE = 256;

/** Digest names a modern peer may use (Python's spelling), and Node's name for each. */
export const DIGESTS: Readonly<Record<string, string>> = {
  md5: 'md5',
  sha256: 'sha256',
  sha384: 'sha384',
  sha3_256: 'sha3-256',
  sha3_384: 'sha3-384',
};

/** A digest name this module can use in a challenge. */
export type DigestName = 'md5' | 'sha256' | 'sha384' | 'sha3_256' | 'sha3_384';

const LONGEST_NAME = Math.max(...Object.keys(DIGESTS).map((d) => d.length));

/** The key as bytes: strings are UTF-8. */
export function key_bytes(authkey: string | Uint8Array): Buffer {
  if (typeof authkey === 'string') return Buffer.from(authkey, 'utf8');
  if (authkey instanceof Uint8Array) return Buffer.from(authkey.buffer, authkey.byteOffset, authkey.byteLength);
  throw new TypeError('authkey must be bytes (a Buffer or Uint8Array) or a string');
}

function hmac(key: Buffer, message: Buffer, digest: string): Buffer {
  const node_name = DIGESTS[digest];
  if (node_name === undefined) throw new AuthenticationError(`unsupported digest ${JSON.stringify(digest)}`);
  return createHmac(node_name, key).update(message).digest();
}

/**
 * Splits a challenge or reply into its digest name and payload. Legacy forms (exactly 16 or
 * 20 bytes) give the name `''` (bare HMAC-MD5).
 * @throws AuthenticationError when there is no known `{digest}` prefix
 */
export function split_digest(message: Buffer): { digest: string; payload: Buffer } {
  if (message.length === MD5_DIGEST_LENGTH || message.length === MD5ONLY_MESSAGE_LENGTH) return { digest: '', payload: message };
  if (message[0] === 0x7b /* { */) {
    const close = message.indexOf(0x7d /* } */, 1);
    if (close > 1 && close <= LONGEST_NAME + 1) {
      const name = message.toString('latin1', 1, close);
      if (Object.hasOwn(DIGESTS, name)) return { digest: name, payload: message.subarray(close + 1) };
    }
  }
  throw new AuthenticationError('unsupported message length, missing digest prefix, or unsupported digest');
}

/** A fresh modern challenge message (without the `#CHALLENGE#` prefix): `{digest}` + 40 random bytes. */
export function make_challenge(digest: DigestName = 'sha256'): Buffer {
  if (!Object.hasOwn(DIGESTS, digest)) throw new RangeError(`unsupported digest ${JSON.stringify(digest)}`);
  return Buffer.concat([Buffer.from(`{${digest}}`, 'latin1'), randomBytes(MESSAGE_LENGTH)]);
}

/**
 * The reply to a challenge message (the bytes after `#CHALLENGE#`): a bare HMAC-MD5 for a
 * 20-byte legacy challenge, else `{digest}` + the HMAC with the digest the challenge names.
 * @throws AuthenticationError for a short challenge or an unknown digest
 */
export function create_response(key: Buffer, message: Buffer): Buffer {
  if (message.length < MD5ONLY_MESSAGE_LENGTH) throw new AuthenticationError(`challenge too short: ${message.length} bytes`);
  const { digest } = split_digest(message);
  if (digest === '') return hmac(key, message, 'md5');
  return Buffer.concat([Buffer.from(`{${digest}}`, 'latin1'), hmac(key, message, digest)]);
}

/**
 * Checks a reply to our challenge `message`, in constant time.
 * @throws AuthenticationError when it is malformed or wrong
 */
export function verify_response(key: Buffer, message: Buffer, response: Buffer): void {
  const { digest, payload } = split_digest(response);
  const expected = hmac(key, message, digest || 'md5');
  if (expected.length !== payload.length) {
    throw new AuthenticationError(`expected a ${digest || 'md5'} digest of ${expected.length} bytes, got ${payload.length}`);
  }
  if (!timingSafeEqual(expected, payload)) throw new AuthenticationError('digest received was wrong');
}
