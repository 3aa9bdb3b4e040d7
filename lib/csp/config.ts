/**
 * `configure()`: the settings of this process's PyCSP node (PyCSP's `Configuration` plus the
 * `PYCSP_HOST` / `PYCSP_PORT` environment variables).
 *
 * @module
 */

import { Engine } from '../index.js';

/** The settings; every field has a default. */
export interface CspOptions {
  /**
   * Host to bind the listening socket to and to advertise to peers. Default: `PYCSP_HOST`,
   * else `'127.0.0.1'` (PyCSP binds every interface; trousers does not unless asked).
   */
  host?: string;
  /** Port to bind; default `PYCSP_PORT`, else 0 (any free port). */
  port?: number;
  /** The engine whose channels carry the traffic; default `Engine.instance()`. */
  engine?: Engine;
  /** How long a refused connection is retried, in ms (PyCSP's SOCKETS_CONNECT_TIMEOUT: 2000). */
  connect_timeout?: number;
  /** Pause between connection retries, in ms (SOCKETS_CONNECT_RETRY_DELAY: 200). */
  connect_retry_delay?: number;
  /** How long binding retries while the port is in use, in ms (SOCKETS_BIND_TIMEOUT: 2000). */
  bind_timeout?: number;
  /** The longest payload accepted from a peer, in bytes (default 64 MiB). */
  max_payload?: number;
  /**
   * How long a home waits for a remote process to answer a lock request, in ms (default
   * 20000, PyCSP's two 10 s ticks). A peer that does not answer in time is taken for lost:
   * its connections are closed and its requests dropped. `Infinity` waits for ever.
   */
  lock_timeout?: number;
  /**
   * Where problems no operation can be told about go: bad bytes from a peer, messages for
   * unknown channels, errors thrown by spawned processes. Default: written to stderr.
   */
  on_error?: (err: Error) => void;
}

/** The settings in force. (not part of the public API) */
export interface CspConfig {
  host: string;
  port: number;
  engine: Engine;
  connect_timeout: number;
  connect_retry_delay: number;
  bind_timeout: number;
  max_payload: number;
  lock_timeout: number;
  on_error: (err: Error) => void;
}

function env_port(): number {
  const raw = process.env['PYCSP_PORT'];
  if (raw === undefined || raw === '') return 0;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : 0;
}

function default_on_error(err: Error): void {
  process.stderr.write(`trousers/csp: ${err.stack ?? String(err)}\n`);
}

let settings: CspOptions = {};
let version = 0;
let cached: CspConfig | null = null;

/** Bumped by every `configure()`: who caches settings compares it. (not part of the public API) */
export function config_version(): number {
  return version;
}

/** The settings in force now. (not part of the public API) */
export function current_config(): CspConfig {
  if (cached !== null) return cached;
  cached = {
    host: settings.host ?? (process.env['PYCSP_HOST'] || '127.0.0.1'),
    port: settings.port ?? env_port(),
    engine: settings.engine ?? Engine.instance(),
    connect_timeout: settings.connect_timeout ?? 2000,
    connect_retry_delay: settings.connect_retry_delay ?? 200,
    bind_timeout: settings.bind_timeout ?? 2000,
    max_payload: settings.max_payload ?? 64 * 1024 * 1024,
    lock_timeout: settings.lock_timeout ?? 20000,
    on_error: settings.on_error ?? default_on_error,
  };
  return cached;
}

function check_ms(name: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'number') throw new TypeError(`${name} must be a number of milliseconds`);
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${v}`);
}

/**
 * Changes the settings. Host, port and engine apply when the listening socket is next
 * bound (on first use, or after `shutdown()`); the rest apply at once. Fields left out keep
 * their value; `configure({})` changes nothing, `configure(null)` restores every default.
 * @throws TypeError / RangeError for bad values
 */
export function configure(options: CspOptions | null): void {
  if (options === null) {
    settings = {};
    version++;
    cached = null;
    return;
  }
  if (typeof options !== 'object') throw new TypeError('configure() takes an object of options');
  if (options.host !== undefined && (typeof options.host !== 'string' || options.host.length === 0 || options.host.length > 15)) {
    throw new RangeError('host must be an IPv4 address or name of at most 15 characters (the PyCSP header holds 16 bytes)');
  }
  if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)) {
    throw new RangeError(`port must be an integer from 0 to 65535, got ${String(options.port)}`);
  }
  if (options.engine !== undefined && !(options.engine instanceof Engine)) throw new TypeError('engine must be an Engine');
  check_ms('connect_timeout', options.connect_timeout);
  check_ms('connect_retry_delay', options.connect_retry_delay);
  check_ms('bind_timeout', options.bind_timeout);
  check_ms('lock_timeout', options.lock_timeout);
  if (options.max_payload !== undefined && (!Number.isSafeInteger(options.max_payload) || options.max_payload < 0)) {
    throw new RangeError('max_payload must be an integer >= 0');
  }
  if (options.on_error !== undefined && typeof options.on_error !== 'function') throw new TypeError('on_error must be a function');
  settings = { ...settings, ...options };
  version++;
  cached = null;
}
