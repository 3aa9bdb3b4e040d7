/**
 * A client: connects out, sends requests one line at a time, collects one reply line each.
 *
 * What it shows:
 * - a {@link Client}: `connect()` returns at once; `on_connect` (or `on_connect_error`)
 *   follows, then `on_read` per reply line, then `on_close`, always last and exactly once;
 * - request/response driven by callbacks: each reply's `on_read` sends the next request;
 * - a connect `timeout`, and `idle_timeout` / `on_timeout` for a server that goes quiet;
 * - `close()` is graceful: queued output is sent before the connection ends.
 *
 * It talks to any server that answers one line per line: the echo server, or the Unix
 * daemon (give a socket path instead of a port).
 *
 * Run it (after `npm run build`), with a server running:
 *
 * ```sh
 * node dist/examples/client.js [port|socket-path] [line ...]    # default: port 4000, "hello"
 * node dist/examples/client.js 4000 hello world                  # against echo_server.js
 * node dist/examples/client.js /tmp/trousers-kv.sock "SET a 1" "GET a"   # against unix_daemon.js
 * ```
 *
 * @module
 */

import { fileURLToPath } from 'node:url';
// In your own code: `from 'trousers'`.
import { Client, type Address, type ChannelOptions, type ConnectError } from '../lib/index.js';

/** Where the command line connects when not told: the echo server's default port. */
export const DEFAULT_PORT = 4000;

/** How long to wait for the connection, and then for each reply (ms). */
export const TIMEOUT = 5000;

/** Sends `lines` one by one, each after the previous one's reply, then hangs up. */
export class LineClient extends Client {
  /** The reply lines received, in order. */
  readonly replies: string[] = [];
  /** What went wrong, if anything. */
  error: Error | null = null;
  /** Resolves with `replies` once the connection has ended, or rejects with `error`. */
  readonly done: Promise<string[]>;

  private readonly to_send: string[];
  private finish!: () => void;

  /**
   * @param lines - the requests, without newlines
   * @param options - `{ engine }`
   */
  constructor(lines: readonly string[], options: ChannelOptions = {}) {
    super(options);
    this.to_send = [...lines];
    this.done = new Promise<string[]>((resolve, reject) => {
      this.finish = () => (this.error === null ? resolve(this.replies) : reject(this.error));
    });
  }

  override on_connect(): void {
    this.read_delimiter = '\n'; // one on_read per reply line...
    this.encoding = 'utf8'; //     ...as a string, newline removed
    this.idle_timeout = TIMEOUT; // see on_timeout
    this.send_next();
  }

  override on_read(line: string): void {
    this.replies.push(line.replace(/\r$/, ''));
    this.send_next();
  }

  /** Sends the next request, or hangs up when there is none left. */
  private send_next(): void {
    const line = this.to_send.shift();
    if (line === undefined) this.close();
    else this.write(`${line}\n`);
  }

  /** The connection could not be made (refused, unreachable, timed out); `on_close` follows. */
  override on_connect_error(err: ConnectError): void {
    this.error = err;
  }

  /**
   * Nothing moved either way for `idle_timeout` ms: the server is not answering. (The timer
   * also runs while a graceful `close()` waits for the server to hang up; then just drop it.)
   */
  override on_timeout(): void {
    if (this.connected) this.error = new Error(`no reply within ${TIMEOUT} ms`);
    this.close(false); // at once: nothing left worth sending
  }

  override on_error(err: Error): void {
    this.error = err;
    this.close(false);
  }

  /** Always last, whatever happened. The server may also hang up first (QUIT, say). */
  override on_close(): void {
    this.finish();
  }
}

/**
 * Connects to `address`, sends `lines` (waiting for a reply to each) and hangs up.
 * @param address - a port on localhost, `[host, port]` or a Unix socket path
 * @param lines - the request lines
 * @param options - `{ engine }`
 * @returns the client channel; await its `done` for the replies
 */
export function start(address: Address, lines: readonly string[], options: ChannelOptions = {}): LineClient {
  return new LineClient(lines, options).connect(address, { timeout: TIMEOUT });
}

// The command line: `node dist/examples/client.js [port|path] [line ...]`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = process.argv[2] ?? String(DEFAULT_PORT);
  // All digits: a TCP port on 127.0.0.1. Anything else: a Unix socket path.
  const address: Address = /^\d+$/.test(target) ? ['127.0.0.1', Number(target)] : target;
  const lines = process.argv.length > 3 ? process.argv.slice(3) : ['hello'];
  start(address, lines).done.then(
    (replies) => {
      lines.forEach((line, i) => console.log(`> ${line}\n< ${replies[i] ?? '(no reply)'}`));
    },
    (err: Error) => {
      console.error(`client: ${err.message}`);
      process.exitCode = 1;
    },
  );
}
