/**
 * Addresses: the forms users may write, validated once, and the forms channels report.
 *
 * Accepted everywhere an address is taken:
 * - a port number: `8080` (localhost when connecting; every interface when listening)
 * - `[host, port]`: `['127.0.0.1', 8080]`, `['::1', 8080]`, `['example.org', 80]`
 * - `{ host, port }`: `{ host: 'localhost', port: 8080 }` (`host` may be left out)
 * - a string: the path of a Unix domain socket, `'/run/app.sock'`
 *
 * Reported addresses are {@link InetAddress} objects for IP and the path string for Unix.
 * Bad types throw `TypeError` and bad values (port 70000, `NaN`, empty host) `RangeError`,
 * at once, like Node.
 *
 * @module
 */

/** Any address form a user may pass to `connect`, `listen` or `write`. */
export type Address = number | string | readonly [string, number] | { readonly host?: string; readonly port: number };

/** An IP address as channels report it. */
export interface InetAddress {
  /** The IP address, e.g. `'127.0.0.1'` or `'::1'`. */
  host: string;
  /** The port number. */
  port: number;
  /** `'IPv4'` or `'IPv6'`. */
  family: 'IPv4' | 'IPv6';
}

/** What a channel reports as its local or remote address: an IP address or a socket path. */
export type ReportedAddress = InetAddress | string;

/**
 * A validated address.
 * @internal
 */
export type ParsedAddress =
  | { readonly kind: 'inet'; readonly host: string | undefined; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

function check_port(port: unknown, allow_zero: boolean): number {
  if (typeof port !== 'number') throw new TypeError(`port must be a number, got ${typeof port}`);
  if (!Number.isInteger(port) || port < (allow_zero ? 0 : 1) || port > 65535) {
    throw new RangeError(`port must be an integer from ${allow_zero ? 0 : 1} to 65535, got ${port}`);
  }
  return port;
}

function check_host(host: unknown): string {
  if (typeof host !== 'string') throw new TypeError(`host must be a string, got ${typeof host}`);
  if (host.length === 0) throw new RangeError('host must not be empty');
  return host;
}

/**
 * Validates an address given by a user.
 * @param address - the user's value
 * @param allow_zero - whether port 0 (any free port) makes sense here (listening)
 * @internal
 */
export function parse_address(address: unknown, allow_zero: boolean): ParsedAddress {
  if (typeof address === 'number') return { kind: 'inet', host: undefined, port: check_port(address, allow_zero) };
  if (typeof address === 'string') {
    if (address.length === 0) throw new RangeError('a Unix socket path must not be empty');
    if (address.includes('\0')) throw new RangeError('a Unix socket path must not contain NUL bytes');
    return { kind: 'unix', path: address };
  }
  if (Array.isArray(address)) {
    if (address.length !== 2) throw new TypeError('an address array must be [host, port]');
    return { kind: 'inet', host: check_host(address[0]), port: check_port(address[1], allow_zero) };
  }
  if (address !== null && typeof address === 'object') {
    const { host, port } = address as { host?: unknown; port?: unknown };
    if (port === undefined) throw new TypeError('an address object needs a port: { host, port }');
    return {
      kind: 'inet',
      host: host === undefined ? undefined : check_host(host),
      port: check_port(port, allow_zero),
    };
  }
  throw new TypeError(`an address is a port, [host, port], { host, port } or a socket path; got ${address === null ? 'null' : typeof address}`);
}

/**
 * Printable form of a parsed address: `host:port`, `[v6]:port` or the path.
 * @internal
 */
export function format_address(address: ParsedAddress, default_host = 'localhost'): string {
  if (address.kind === 'unix') return address.path;
  const host = address.host ?? default_host;
  return host.includes(':') ? `[${host}]:${address.port}` : `${host}:${address.port}`;
}

/**
 * Builds the reported form of an IP address from Node's socket fields.
 * @internal
 */
export function inet_address(host: string | undefined, port: number | undefined, family: string | number | undefined): InetAddress | null {
  if (host === undefined || port === undefined) return null;
  const v6 = family === 'IPv6' || family === 6 || host.includes(':');
  return { host, port, family: v6 ? 'IPv6' : 'IPv4' };
}

/**
 * Printable form of a reported address.
 * @internal
 */
export function format_reported(address: ReportedAddress | null): string {
  if (address === null) return '?';
  if (typeof address === 'string') return address;
  return address.family === 'IPv6' ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
