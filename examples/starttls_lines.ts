/**
 * STARTTLS: a line protocol that begins in plaintext and upgrades the same connection to TLS,
 * the way SMTP, IMAP and XMPP do.
 *
 * The protocol (lines end in `\r\n`; a bare `\n` is accepted too):
 *
 * ```
 * S: * trousers line server; say STARTTLS       (plaintext greeting)
 * C: STARTTLS
 * S: OK                                          (last plaintext line; the server upgrades)
 *    ... TLS handshake on the same TCP connection ...
 * C: hello            S: HELLO                   (over TLS: every line comes back upper-cased)
 * C: QUIT             S: BYE                     (and the server hangs up)
 * ```
 *
 * Before STARTTLS every other line gets `ERR say STARTTLS first`.
 *
 * What it shows:
 * - `start_tls(options)` upgrades a connected stream in place; the role follows the channel
 *   (the accepted {@link Connection} is the TLS server, the {@link Client} the TLS client);
 * - the server writes `OK` and calls `start_tls` in the same breath: `OK` still goes out in
 *   plaintext, anything written after the call would go out encrypted;
 * - `on_ssl_handshake` says the upgrade is done (`on_connect` does not run again), and
 *   `read_delimiter` carries on across the upgrade;
 * - the client verifies the server's certificate and host name by default: it trusts the test
 *   CA (`ca`) and nothing else; a failure arrives at `on_ssl_handshake_error`.
 *
 * Run it (after `npm run build`), with the test certificates in `spec/fixtures/`:
 *
 * ```sh
 * node dist/examples/starttls_lines.js [port]                        # the server; default port 4004
 * node dist/examples/starttls_lines.js --client [port] [line ...]    # the client; default "hello"
 * ```
 *
 * The certificates are TEST-ONLY (their private keys are public): use your own in real life.
 *
 * @module
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
// In your own code: `from 'trousers'`.
import {
  Client,
  Connection,
  Server,
  type Address,
  type ChannelOptions,
  type ConnectError,
  type InetAddress,
  type TlsError,
  type TlsOptions,
} from '../lib/index.js';
import { listen_on } from './_listen.js';

/** The port the command line uses when none is given. */
export const DEFAULT_PORT = 4004;

/** How long the client waits for the connection, and then for each reply (ms). */
export const TIMEOUT = 5000;

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * The test certificates: `spec/fixtures/`, seen from `dist/examples/` (compiled) or from
 * `examples/` (run from the sources).
 */
export const FIXTURES = [path.resolve(HERE, '../../spec/fixtures'), path.resolve(HERE, '../spec/fixtures')].find((dir) =>
  fs.existsSync(path.join(dir, 'ca.crt')),
) ?? path.resolve(HERE, '../../spec/fixtures');

function fixture(name: string): Buffer {
  return fs.readFileSync(path.join(FIXTURES, name));
}

/** The server's TLS options by default: the test certificate for localhost / 127.0.0.1 / ::1. */
export function default_server_tls(): TlsOptions {
  return { key: fixture('server.key'), cert: fixture('server.crt') };
}

/** The client's TLS options by default: trust the test CA (and only it). */
export function default_client_tls(): TlsOptions {
  return { ca: fixture('ca.crt') };
}

// ------------------------------------------------------------------------ the server

/** One client of the STARTTLS line server. */
export class StartTlsLine extends Connection {
  declare server: StartTlsServer | null;

  override on_connect(): void {
    // A RegExp delimiter: lines end in \r\n or \n, and each is delivered the moment its
    // newline arrives (no further byte could change that match).
    this.read_delimiter = /\r?\n/;
    this.encoding = 'utf8';
    this.write('* trousers line server; say STARTTLS\r\n');
  }

  override on_read(line: string): void {
    if (!this.secure) {
      if (line.toUpperCase() !== 'STARTTLS') {
        this.write('ERR say STARTTLS first\r\n');
        return;
      }
      // "OK" is written before start_tls, so it goes out in plaintext; the client upgrades
      // when it reads it. Our TLS side then waits for the client's hello.
      this.write('OK\r\n');
      this.start_tls(this.server?.tls_for_upgrade ?? default_server_tls());
      return;
    }
    if (line.toUpperCase() === 'QUIT') {
      this.write('BYE\r\n');
      this.close(); // graceful: BYE is sent first
    } else if (line.toUpperCase() === 'STARTTLS') {
      this.write('ERR already secure\r\n');
    } else {
      this.write(`${line.toUpperCase()}\r\n`);
    }
  }

  /** The upgrade is done: from here on every byte either way is encrypted. */
  override on_ssl_handshake(): void {
    this.server?.log(`${this.toString()}: TLS up (${this.tls_info?.protocol}, ${this.tls_info?.cipher.name})`);
  }

  /** The client gave up on the handshake (it did not trust us, say). `on_close` follows. */
  override on_ssl_handshake_error(err: TlsError): void {
    this.server?.log(`${this.toString()}: ${err.message}`);
    this.close(false);
  }
}

/** The server: a plain TCP server whose connections upgrade themselves on STARTTLS. */
export class StartTlsServer extends Server<StartTlsLine> {
  /** Whether to report handshakes on stderr (the command line does). */
  verbose = false;

  /** @param tls_for_upgrade - what `start_tls` uses: `key` and `cert` at least */
  constructor(
    readonly tls_for_upgrade: TlsOptions,
    options: ChannelOptions = {},
  ) {
    super(StartTlsLine, options);
  }

  /** @internal */
  log(message: string): void {
    if (this.verbose) process.stderr.write(`starttls_lines: ${message}\n`);
  }
}

/** Options of {@link start_server}. */
export interface ServerOptions extends ChannelOptions {
  /** TLS options for the upgrade; default the test certificate ({@link default_server_tls}). */
  tls?: TlsOptions;
  /** Report handshakes on stderr. */
  verbose?: boolean;
}

/**
 * Starts the STARTTLS line server.
 * @param address - where to listen; default `['127.0.0.1', 4004]`
 * @param options - `{ engine, tls, verbose }`
 * @returns a promise of the listening server
 */
export function start_server(address: Address = ['127.0.0.1', DEFAULT_PORT], options: ServerOptions = {}): Promise<StartTlsServer> {
  const { tls, verbose, ...channel } = options;
  const server = new StartTlsServer(tls ?? default_server_tls(), channel);
  server.verbose = verbose === true;
  return listen_on(server, address);
}

// ------------------------------------------------------------------------ the client

/** Says STARTTLS, upgrades on OK, then sends `lines` one by one and collects the replies. */
export class StartTlsLineClient extends Client {
  /** The replies received over TLS, in order. */
  readonly replies: string[] = [];
  /** What went wrong, if anything. */
  error: Error | null = null;
  /** Resolves with `replies` once the connection has ended, or rejects with `error`. */
  readonly done: Promise<string[]>;

  private readonly to_send: string[];
  private finish!: () => void;
  private said_bye = false;

  /**
   * @param lines - what to send once TLS is up (without newlines)
   * @param upgrade - TLS options for `start_tls` (the CA to trust, `servername`, ...)
   * @param options - `{ engine }`
   */
  constructor(
    lines: readonly string[],
    private readonly upgrade: TlsOptions,
    options: ChannelOptions = {},
  ) {
    super(options);
    this.to_send = [...lines];
    this.done = new Promise<string[]>((resolve, reject) => {
      this.finish = () => (this.error === null ? resolve(this.replies) : reject(this.error));
    });
  }

  override on_connect(): void {
    this.read_delimiter = /\r?\n/;
    this.encoding = 'utf8';
    this.idle_timeout = TIMEOUT;
    this.write('STARTTLS\r\n');
  }

  override on_read(line: string): void {
    if (!this.secure) {
      if (line === 'OK') this.start_tls(this.upgrade); // verification stays on
      else if (line.startsWith('ERR')) this.fail(new Error(`server refused STARTTLS: ${line}`));
      return; // the greeting
    }
    if (this.said_bye) return; // BYE; the server hangs up next
    this.replies.push(line);
    this.send_next();
  }

  /** TLS is up: now the real conversation starts. */
  override on_ssl_handshake(): void {
    this.send_next();
  }

  private send_next(): void {
    const line = this.to_send.shift();
    if (line !== undefined) {
      this.write(`${line}\r\n`);
    } else {
      this.said_bye = true;
      this.write('QUIT\r\n');
    }
  }

  private fail(err: Error): void {
    this.error ??= err;
    this.close(false);
  }

  /** The server's certificate did not verify (or the handshake broke); `on_close` follows. */
  override on_ssl_handshake_error(err: TlsError): void {
    this.error ??= err;
  }

  override on_connect_error(err: ConnectError): void {
    this.error ??= err;
  }

  override on_timeout(): void {
    this.fail(new Error(`no reply within ${TIMEOUT} ms`));
  }

  override on_error(err: Error): void {
    this.fail(err);
  }

  override on_close(): void {
    if (this.error === null && (!this.said_bye || this.to_send.length > 0)) this.error = new Error('the server hung up early');
    this.finish();
  }
}

/** Options of {@link run_client}. */
export interface ClientOptions extends ChannelOptions {
  /** Lines to send over TLS; default `['hello']`. */
  lines?: readonly string[];
  /** TLS options for the upgrade; default: trust the test CA ({@link default_client_tls}). */
  tls?: TlsOptions;
}

/**
 * Connects, upgrades with STARTTLS, sends the lines and hangs up.
 * @param address - the server (a port on localhost, `[host, port]`, ...)
 * @param options - `{ engine, lines, tls }`
 * @returns a promise of the replies, rejected with what went wrong (`TlsError` when the
 *   server's certificate is not trusted)
 */
export function run_client(address: Address, options: ClientOptions = {}): Promise<string[]> {
  const { lines, tls, ...channel } = options;
  const client = new StartTlsLineClient(lines ?? ['hello'], tls ?? default_client_tls(), channel);
  client.connect(address, { timeout: TIMEOUT });
  return client.done;
}

// The command line.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === '--client') {
    const port = Number(args[1] ?? DEFAULT_PORT);
    const lines = args.length > 2 ? args.slice(2) : ['hello'];
    run_client(['127.0.0.1', port], { lines }).then(
      (replies) => lines.forEach((line, i) => console.log(`> ${line}\n< ${replies[i] ?? '(no reply)'}`)),
      (err: Error) => {
        console.error(`starttls client: ${err.message}`);
        process.exitCode = 1;
      },
    );
  } else {
    start_server(['127.0.0.1', Number(args[0] ?? DEFAULT_PORT)], { verbose: true }).then(
      (server) => {
        const { port } = server.local_address as InetAddress;
        console.log(`starttls line server listening on 127.0.0.1:${port}; try: node dist/examples/starttls_lines.js --client ${port} hello`);
      },
      (err: Error) => {
        console.error(`starttls line server: ${err.message}`);
        process.exitCode = 1;
      },
    );
  }
}
