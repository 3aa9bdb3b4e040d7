/**
 * Options shared by `listen()` and `connect()`, validated once.
 *
 * @module
 */

import { Engine } from '../index.js';
import type { Family } from './address.js';
import { DIGESTS, key_bytes, type DigestName } from './auth.js';
import { resolve_codec, type Codec, type CodecOption } from './codec.js';
import { MAX_MESSAGE } from './wire.js';

/** Options of both {@link listen} and {@link connect}. */
export interface MessageOptions {
  /**
   * The shared secret. When set, every connection runs Python's HMAC handshake before it is
   * handed out; both sides must use the same key. Strings are UTF-8. Default: none.
   */
  authkey?: string | Uint8Array | null;
  /** `'AF_INET'`, `'AF_UNIX'` or `'AF_PIPE'`; default inferred from the address. */
  family?: Family;
  /**
   * How `send`/`recv` encode values: `'v8'` (default, Node to Node), `'json'`, `'pickle'`
   * (Python's own `send`/`recv`: protocol 2, every Python from 2.7), or a codec object such
   * as `pickle_codec({ protocol: 4 })` from `trousers/pickle`.
   */
  codec?: CodecOption;
  /**
   * Read-ahead bound in bytes (default 65536): messages up to this size are read before
   * anyone asks, and reading pauses once this many bytes wait unreceived. Longer messages
   * are read when a `recv` asks for them.
   */
  buffer_size?: number;
  /** The longest message ever accepted, whatever `maxlength` says (default: Node's Buffer limit). */
  max_message_size?: number;
  /** Milliseconds the authentication handshake may take (default 10000). */
  handshake_timeout?: number;
  /** Digest named in our challenges (default `'sha256'`, like Python >= 3.12). */
  digest?: DigestName;
  /** The trousers engine owning the sockets; default `Engine.instance()`. */
  engine?: Engine;
}

/** Options validated and with defaults filled in. @internal */
export interface Resolved {
  key: Buffer | null;
  codec: Codec;
  buffer_size: number;
  max_message_size: number;
  handshake_timeout: number;
  digest: DigestName;
  engine: Engine;
}

function positive_int(name: string, value: unknown, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number`);
  if (!Number.isSafeInteger(value) || value <= 0 || value > max) throw new RangeError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  return value;
}

/** Validates the shared options. @internal */
export function resolve_options(options: MessageOptions): Resolved {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const { authkey, engine, digest } = options;
  if (engine !== undefined && !(engine instanceof Engine)) throw new TypeError('engine must be an Engine');
  if (digest !== undefined && !Object.hasOwn(DIGESTS, digest)) throw new RangeError(`digest must be one of ${Object.keys(DIGESTS).join(', ')}`);
  return {
    key: authkey === undefined || authkey === null ? null : key_bytes(authkey),
    codec: resolve_codec(options.codec),
    buffer_size: positive_int('buffer_size', options.buffer_size, 65536),
    max_message_size: positive_int('max_message_size', options.max_message_size, MAX_MESSAGE, MAX_MESSAGE),
    handshake_timeout: positive_int('handshake_timeout', options.handshake_timeout, 10000, 2 ** 31 - 1),
    digest: digest ?? 'sha256',
    engine: engine ?? Engine.instance(),
  };
}
