/**
 * Unix-socket daemon: a tiny key-value store with a line protocol, on a Unix domain socket.
 *
 * What it shows:
 * - listening on a Unix socket: the address is simply a path; `mode: 0o600` keeps other
 *   users out; a stale socket file left by a crashed run is replaced, and the file is removed
 *   when the server closes;
 * - state shared by all connections, kept on the server (`this.server`);
 * - a request/response line protocol, `idle_timeout` / `on_timeout` for idle clients;
 * - an orderly shutdown on Ctrl-C: `engine.stop()` closes every channel gracefully.
 *
 * The protocol: one command per line, one reply line per command, `OK ...` or `ERR ...`.
 *
 * ```
 * SET key value...   -> OK               GET key  -> OK value | ERR no such key
 * DEL key            -> OK | ERR ...     KEYS     -> OK key1 key2 ...
 * QUIT               -> OK bye (and the daemon hangs up)
 * ```
 *
 * Run it (after `npm run build`):
 *
 * ```sh
 * node dist/examples/unix_daemon.js [path]        # default $TMPDIR/trousers-kv.sock
 * nc -U /tmp/trousers-kv.sock                     # or: socat - UNIX-CONNECT:/tmp/trousers-kv.sock
 * ```
 *
 * @module
 */

import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
// In your own code: `from 'trousers'`.
import { Connection, Server, type ChannelOptions } from '../lib/index.js';
import { listen_on } from './_listen.js';

/** The socket path the command line uses when none is given. */
export const DEFAULT_PATH = path.join(os.tmpdir(), 'trousers-kv.sock');

/** Idle clients are told off and disconnected after this long (ms). */
export const IDLE_TIMEOUT = 5 * 60_000;

/** The daemon: a Unix-socket `Server` of {@link KvSession}s sharing one store. */
export class KvDaemon extends Server<KvSession> {
  /** The data, shared by every session. */
  readonly store = new Map<string, string>();

  constructor(options: ChannelOptions = {}) {
    // mode 0o600: only the user running the daemon may connect.
    super(KvSession, { ...options, mode: 0o600 });
  }
}

/** One client connection of the daemon. */
export class KvSession extends Connection {
  /** The store of the daemon that accepted us. */
  get store(): Map<string, string> {
    return (this.server as KvDaemon).store;
  }

  override on_connect(): void {
    this.read_delimiter = '\n';
    this.encoding = 'utf8';
    this.buffer_size = 4096; // longest accepted line
    this.idle_timeout = IDLE_TIMEOUT;
  }

  override on_read(line: string): void {
    const request = line.trim();
    if (request === '') return;
    if (request.toUpperCase() === 'QUIT') {
      this.write('OK bye\n');
      this.close(); // graceful: what was written goes out first, then the connection ends
      return;
    }
    this.write(`${this.execute(request)}\n`);
  }

  /** No traffic either way for `idle_timeout` ms (the default closes without a word). */
  override on_timeout(): void {
    if (this.connected) {
      this.write('ERR idle for too long, bye\n');
      this.close(); // graceful: waits for the client to hang up too
    } else {
      // The timer runs on while a graceful close waits for the client: it never hung up.
      this.close(false);
    }
  }

  override on_overflow_error(): void {
    this.write('ERR line too long, bye\n');
    this.close();
  }

  /** Runs one command and returns its reply line. */
  private execute(request: string): string {
    // COMMAND [key [value, which may contain spaces]]
    const [, command = '', key, value] = /^(\S+)(?:\s+(\S+))?(?:\s+(.*))?$/.exec(request) ?? [];
    switch (command.toUpperCase()) {
      case 'SET':
        if (key === undefined || value === undefined) return 'ERR usage: SET key value';
        this.store.set(key, value);
        return 'OK';
      case 'GET': {
        if (key === undefined) return 'ERR usage: GET key';
        const stored = this.store.get(key);
        return stored === undefined ? 'ERR no such key' : `OK ${stored}`;
      }
      case 'DEL':
        if (key === undefined) return 'ERR usage: DEL key';
        return this.store.delete(key) ? 'OK' : 'ERR no such key';
      case 'KEYS':
        return ['OK', ...[...this.store.keys()].sort()].join(' ');
      default:
        return `ERR unknown command ${command}; try SET, GET, DEL, KEYS, QUIT`;
    }
  }
}

/**
 * Starts the daemon.
 * @param socket_path - the Unix socket to listen on; default `$TMPDIR/trousers-kv.sock`
 * @param options - `{ engine }`
 * @returns a promise of the listening daemon
 */
export function start(socket_path: string = DEFAULT_PATH, options: ChannelOptions = {}): Promise<KvDaemon> {
  return listen_on(new KvDaemon(options), socket_path);
}

// The command line: `node dist/examples/unix_daemon.js [path]`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const socket_path = process.argv[2] ?? DEFAULT_PATH;
  start(socket_path).then(
    (daemon) => {
      console.log(`kv daemon listening on ${socket_path}; try: nc -U ${socket_path} (then type: SET greeting hello)`);
      // Ctrl-C / kill: close every channel gracefully; the socket file is removed on close.
      const stop = (): void => {
        console.log('kv daemon: stopping');
        void daemon.engine.stop();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (err: Error) => {
      console.error(`kv daemon: ${err.message}`);
      process.exitCode = 1;
    },
  );
}
