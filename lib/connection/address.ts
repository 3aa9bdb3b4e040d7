/**
 * Addresses and families, inferred like Python's `multiprocessing.connection`:
 *
 * | address                         | family     |
 * |---------------------------------|------------|
 * | `[host, port]`, `{ host, port }` | `AF_INET` (TCP; IPv6 hosts work too) |
 * | `'\\\\.\\pipe\\name'`           | `AF_PIPE` (Windows named pipe; Windows only) |
 * | any other string                | `AF_UNIX` (a Unix socket path) |
 *
 * Anything else is a `TypeError`. With no address, a listener gets an ephemeral TCP port on
 * 127.0.0.1 (`AF_INET`) or a fresh path in a temp directory (`AF_UNIX`, the default where
 * Unix sockets exist, as in Python).
 *
 * @module
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Address, ReportedAddress } from '../index.js';

/** An address family, with Python's names. */
export type Family = 'AF_INET' | 'AF_UNIX' | 'AF_PIPE';

/**
 * An address as `trousers/connection` takes it: `[host, port]` / `{ host, port }` for TCP, a
 * path for a Unix socket or a Windows named pipe.
 */
export type ConnectionAddress = readonly [host: string, port: number] | { readonly host: string; readonly port: number } | string;

/** An address as a listener reports it: `[host, port]` for TCP, else the path. */
export type ListenerAddress = readonly [host: string, port: number] | string;

const FAMILIES: readonly Family[] = ['AF_INET', 'AF_UNIX', 'AF_PIPE'];

/** The family used when neither an address nor a family is given. */
export const DEFAULT_FAMILY: Family = process.platform === 'win32' ? 'AF_INET' : 'AF_UNIX';

/** Whether `address` names a Windows named pipe. */
function is_pipe(address: string): boolean {
  return /^\\\\[.?]\\pipe\\/i.test(address);
}

/**
 * The family an address implies (Python's `address_type`).
 * @throws TypeError for anything that is not an address
 */
export function address_family(address: unknown): Family {
  if (typeof address === 'string') return is_pipe(address) ? 'AF_PIPE' : 'AF_UNIX';
  if (Array.isArray(address)) {
    if (address.length === 2 && typeof address[0] === 'string' && typeof address[1] === 'number') return 'AF_INET';
    throw new TypeError('a TCP address is [host, port]');
  }
  if (address !== null && typeof address === 'object') {
    const { host, port } = address as { host?: unknown; port?: unknown };
    if (typeof host === 'string' && typeof port === 'number') return 'AF_INET';
    throw new TypeError('a TCP address is { host, port }');
  }
  throw new TypeError(
    `address type of ${address === null ? 'null' : typeof address} unrecognized: use [host, port], { host, port } or a socket path`,
  );
}

/** Checks a `family` option. */
function check_family(family: unknown): Family {
  if (!FAMILIES.includes(family as Family)) throw new TypeError(`family must be one of ${FAMILIES.join(', ')}; got ${String(family)}`);
  if (family === 'AF_PIPE' && process.platform !== 'win32') throw new RangeError('family AF_PIPE (Windows named pipes) is only available on Windows');
  return family as Family;
}

/** What a listener or client resolved from its address and family options. */
export interface Resolved {
  /** The family in use. */
  family: Family;
  /** The address in the core engine's form. */
  address: Address;
  /** A temp directory made for the default Unix path: removed when the listener closes. */
  temp_dir: string | null;
}

/**
 * Resolves an address (or none) and a family option into an engine address.
 * @param address - the user's address, or undefined for a listener's default
 * @param family - the user's family option, if any
 * @throws TypeError for a bad address or a family that does not match it
 */
export function resolve_address(address: unknown, family: unknown): Resolved {
  const fam = family === undefined || family === null ? undefined : check_family(family);
  if (address === undefined || address === null) {
    const f = fam ?? DEFAULT_FAMILY;
    if (f === 'AF_INET') return { family: f, address: ['127.0.0.1', 0], temp_dir: null };
    if (f === 'AF_UNIX') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trousers-listener-'));
      return { family: f, address: path.join(dir, 'sock'), temp_dir: dir };
    }
    return { family: f, address: `\\\\.\\pipe\\trousers-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`, temp_dir: null };
  }
  const implied = address_family(address);
  if (implied === 'AF_PIPE') check_family('AF_PIPE');
  if (fam !== undefined && fam !== implied) throw new TypeError(`family ${fam} does not match the address, which is ${implied}`);
  if (typeof address === 'string') return { family: implied, address, temp_dir: null };
  if (Array.isArray(address)) return { family: implied, address: [address[0] as string, address[1] as number], temp_dir: null };
  const { host, port } = address as { host: string; port: number };
  return { family: implied, address: [host, port], temp_dir: null };
}

/** The reported form of an engine address: `[host, port]` for IP, the path for Unix and pipes. */
export function listener_address(reported: ReportedAddress | null): ListenerAddress | null {
  if (reported === null) return null;
  if (typeof reported === 'string') return reported;
  return [reported.host, reported.port];
}
