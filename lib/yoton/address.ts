/**
 * Yoton's addresses, slot and port hashes, and context ids: pure functions that give
 * exactly the values Python yoton 2.2 gives.
 *
 * ```ts
 * split_address('localhost:test+3');   // ['tcp', '127.0.0.1', 56340]
 * port_hash('pyzo');                   // 53281
 * slot_hash('chat.txt.pub-sub');       // 17460451874447n
 * ```
 *
 * Addresses are `[protocol://]host:port`. `localhost` means `127.0.0.1`; `publichost` and
 * `publichostN` name this machine's N-th address (resolved by {@link resolve_address}, since
 * that needs a DNS lookup); a port that is not a number is hashed with {@link port_hash},
 * and `name+offset` adds an offset to the hash.
 *
 * @module
 */

import * as dns from 'node:dns/promises';
import * as os from 'node:os';

const FACTOR = 0xd2d84a61n;

/** The accumulation both hashes share, over the code points of `name` (not UTF-16 units). */
function accumulate(name: string): bigint {
  let val = 0n;
  let n = 0n;
  for (const ch of name) {
    val += (val >> 3n) + BigInt(ch.codePointAt(0)!) * FACTOR;
    n++;
  }
  val += (val >> 3n) + n * FACTOR;
  return val;
}

/**
 * Yoton's port for a name: a number in 49152..65535 (`port_hash('pyzo')` is 53281).
 * @param name - any string
 */
export function port_hash(name: string): number {
  if (typeof name !== 'string') throw new TypeError('port_hash takes a string');
  return 49152 + Number(accumulate(name) % 16384n);
}

/** Modulus of slot hashes: slots 0..7 are reserved. */
const SLOT_MOD = 2n ** 64n - 8n;

/**
 * Yoton's slot id for a full slot name, a 64-bit `bigint` >= 8. Channels hash the stripped,
 * lower-cased name (`slot_hash('chat.txt.pub-sub')` is 17460451874447n); this function
 * hashes `name` as given, like Python's.
 * @param name - a full slot name such as `'chat.txt.pub-sub'`
 */
export function slot_hash(name: string): bigint {
  if (typeof name !== 'string') throw new TypeError('slot_hash takes a string');
  return 8n + (accumulate(name) % SLOT_MOD);
}

/** Python's `int()` on a string: optional whitespace and sign, digits (and `_` between them). */
const PY_INT = /^\s*[+-]?\d+(?:_\d+)*\s*$/;

function py_int(text: string): number | null {
  if (!PY_INT.test(text)) return null;
  return Number.parseInt(text.replace(/_/g, '').trim(), 10);
}

/** `[protocol, host, port]`, as yoton's `split_address` returns it. */
export type SplitAddress = [protocol: string, host: string, port: number];

/**
 * Splits `[protocol://]host:port` as yoton does. `localhost` becomes `127.0.0.1`;
 * `publichost` becomes `publichost0` and `publichostN` is left for {@link resolve_address}
 * (yoton resolves it here, with a blocking lookup). A port that is not an integer is
 * `port_hash(name) + offset` for `name+offset`, or `port_hash(port)`.
 * @throws TypeError when `address` is not a string
 * @throws RangeError with yoton's messages: no `:`, a bad offset, a port outside 0..65535
 */
export function split_address(address: string): SplitAddress {
  if (typeof address !== 'string') throw new TypeError('Address should be a string.');
  if (!address.includes(':')) throw new RangeError("Address should be in format 'host:port'.");
  let protocol = '';
  let rest = address;
  const sep = rest.indexOf('://');
  if (sep >= 0) {
    protocol = rest.slice(0, sep).toLowerCase();
    rest = rest.slice(sep + 3);
  }
  if (!protocol) protocol = 'tcp';
  const colon = rest.indexOf(':');
  if (colon < 0) throw new RangeError("Address should be in format 'host:port'.");
  let host = rest.slice(0, colon);
  const port_text = rest.slice(colon + 1);
  if (host.toLowerCase() === 'localhost') host = '127.0.0.1';
  if (host.toLowerCase() === 'publichost') host = 'publichost0';
  let port = py_int(port_text);
  if (port === null) {
    let name = port_text;
    let offset = 0;
    const plus = port_text.indexOf('+');
    if (plus >= 0) {
      name = port_text.slice(0, plus);
      const o = py_int(port_text.slice(plus + 1));
      if (o === null) throw new RangeError('Invalid offset in address');
      offset = o;
    }
    port = port_hash(name) + offset;
  }
  // yoton checks `port > 2**16` (so 65536 slipped through) and no lower bound: both fixed.
  if (port >= 65536 || port < 0) throw new RangeError('The port must be in the range [0, 2^16>.');
  return [protocol, host, port];
}

/**
 * {@link split_address}, then `publichostN` resolved to the N-th IPv4 address of this
 * machine's host name (yoton's `gethostbyname_ex(gethostname())[2][N]`; on some Linuxes that
 * is `127.0.1.1`).
 * @throws RangeError `Invalid index (N) in public host addresses.`
 */
export async function resolve_address(address: string): Promise<SplitAddress> {
  const split = split_address(address);
  const m = /^publichost(\d+)$/i.exec(split[1]);
  if (m === null) return split;
  const index = Number(m[1]);
  let addresses: string[] = [];
  try {
    addresses = (await dns.lookup(os.hostname(), { all: true, family: 4 })).map((a) => a.address);
  } catch {
    addresses = [];
  }
  const host = addresses[index];
  if (host === undefined) throw new RangeError(`Invalid index (${index}) in public host addresses.`);
  return [split[0], host, split[2]];
}

let last_timestamp = 0;

/**
 * A new context id in yoton's UID layout: the high 32 bits are the time in ms (truncated to
 * 32 bits, strictly increasing within the process, never 0), the low 32 bits are random.
 */
export function new_context_id(): bigint {
  let ts = Date.now();
  if (ts <= last_timestamp) ts = last_timestamp + 1;
  last_timestamp = ts;
  let high = ts % 2 ** 32;
  if (high === 0) {
    high = 1;
    last_timestamp++;
  }
  const low = Math.floor(Math.random() * 0xffffffff);
  return (BigInt(high) << 32n) | BigInt(low);
}
