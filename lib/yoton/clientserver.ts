/**
 * Yoton's one-shot request/reply over a fresh TCP connection, telnet style: the client
 * sends one line, the server answers one line and closes.
 *
 * ```ts
 * class Clock extends RequestServer {
 *   override handle_request(req: string) { return `time ${Date.now()} for ${req.trim()}`; }
 * }
 * const server = new Clock('localhost:0');
 * await server.start();
 * await do_request(`localhost:${server.port}`, 'hello', 1000);   // 'time ... for hello\r\n'
 * server.stop();
 * ```
 *
 * As in yoton, the request a server sees includes its CRLF, and so does the reply a client
 * gets.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { Engine, Server, Connection, Stream, listening, type Timer as EngineTimer } from '../index.js';
import { resolve_address } from './address.js';
import { YotonConnectError } from './errors.js';

/** Milliseconds a server waits for a request line (yoton: 1 s). */
export const REQUEST_TIMEOUT = 1000;
/** Longest request or reply held (bytes). */
export const MAX_LINE = 1 << 20;

class RequestConnection extends Connection {
  handler: RequestServer | null = null;
  private parts: Buffer[] = [];
  private size = 0;
  private req_timer: EngineTimer | null = null;
  private answered = false;

  override on_connect(): void {
    this.req_timer = this.engine.defer(REQUEST_TIMEOUT, () => this.answer());
  }
  override on_read(chunk: Buffer): void {
    if (this.answered) return;
    const last = this.parts.length > 0 ? this.parts[this.parts.length - 1]! : null;
    this.parts.push(chunk);
    this.size += chunk.length;
    // Search only the new bytes, and a CR LF split between two reads.
    let end = -1;
    if (last !== null && last[last.length - 1] === 0x0d && chunk[0] === 0x0a) end = this.size - chunk.length + 1;
    else {
      const at = chunk.indexOf('\r\n');
      if (at >= 0) end = this.size - chunk.length + at + 2;
    }
    if (end >= 0) this.answer(Buffer.concat(this.parts).subarray(0, end));
    else if (this.size > MAX_LINE) this.close(false);
  }
  override on_incomplete(): void {}
  override on_close(): void {
    this.req_timer?.cancel();
    if (!this.answered && this.size > 0) this.answer();
  }
  override on_error(): void {
    this.close(false);
  }
  private answer(line?: Buffer): void {
    if (this.answered) return;
    this.answered = true;
    this.req_timer?.cancel();
    const request = (line ?? Buffer.concat(this.parts)).toString('utf8');
    const server = this.handler ?? (this.server as unknown as { owner: RequestServer }).owner;
    void Promise.resolve()
      .then(() => server.handle_request(request))
      .then((reply) => {
        if (typeof reply !== 'string') throw new TypeError('handle_request() should return a string.');
        if (!this.closed) {
          this.write(reply.endsWith('\r\n') ? reply : `${reply}\r\n`);
          this.close(true);
        }
      })
      .catch((err: unknown) => {
        server.on_error(err instanceof Error ? err : new Error(String(err)));
        this.close(false);
      });
  }
}

class RequestListener extends Server<RequestConnection> {
  owner!: RequestServer;
  override on_error(): void {
    this.close(false);
  }
}

/** A one-line request/reply server. Subclass it and override {@link RequestServer.handle_request}. */
export class RequestServer {
  private readonly listener: RequestListener;
  private readonly address: string;
  private _port = 0;

  /**
   * @param address - `'host:port'` as yoton's (port 0 picks one)
   * @param options - `{ engine }`
   */
  constructor(address: string, options: { engine?: Engine } = {}) {
    this.address = address;
    this.listener = new RequestListener(RequestConnection, { engine: options.engine ?? Engine.instance() });
    this.listener.owner = this;
  }

  /** The port listened on (after `start()`). */
  get port(): number {
    return this._port;
  }

  /** Starts listening; resolves once it does. */
  async start(): Promise<void> {
    const [, host, port] = await resolve_address(this.address);
    this.listener.listen([host, port], 1);
    await listening(this.listener);
    const a = this.listener.local_address;
    if (a !== null && typeof a === 'object') this._port = a.port;
  }

  /** Stops listening (requests being answered finish). */
  stop(): void {
    this.listener.close(true);
  }

  /**
   * Answers one request. `request` includes its CRLF. The default echoes
   * `Requested: <request>`. May return a Promise.
   */
  handle_request(request: string): string | Promise<string> {
    return `Requested: ${request}`;
  }

  /** An error while answering (the default writes it to stderr). */
  on_error(err: Error): void {
    process.stderr.write(`yoton: error handling request: ${err.message}\n`);
  }
}

class RequestClient extends Stream {
  parts: Buffer[] = [];
  done!: (text: string | null) => void;
  failed!: (err: Error) => void;
  private finished = false;
  request = '';
  override on_connect(): void {
    this.write(this.request.endsWith('\r\n') ? this.request : `${this.request}\r\n`);
  }
  override on_read(chunk: Buffer): void {
    this.parts.push(chunk);
    const all = Buffer.concat(this.parts);
    const at = all.indexOf('\r\n');
    if (at >= 0) this.finish(all.subarray(0, at + 2).toString('utf8'));
  }
  override on_incomplete(): void {}
  override on_connect_error(err: Error): void {
    this.finished = true;
    this.failed(new YotonConnectError('No server is listening at the given port.', { cause: err }));
  }
  override on_error(): void {
    this.finished = true;
    this.done(null);
    this.close(false);
  }
  override on_close(): void {
    this.finish(Buffer.concat(this.parts).toString('utf8'));
  }
  finish(text: string | null): void {
    if (this.finished) return;
    this.finished = true;
    this.done(text);
    this.close(false);
  }
}

/**
 * Sends one request line to `address` and resolves with the reply (including its CRLF).
 * With `timeout` > 0 (ms) it resolves with whatever arrived by then (yoton returns the
 * partial text too); otherwise it waits until the reply's CRLF or the end of the stream.
 * Resolves null on a socket error.
 * @throws YotonConnectError `No server is listening at the given port.`
 */
export async function do_request(address: string, request: string, timeout = -1, options: { engine?: Engine } = {}): Promise<string | null> {
  if (typeof request !== 'string') throw new TypeError('request should be a string.');
  const [, host, port] = await resolve_address(address);
  const client = new RequestClient({ engine: options.engine ?? Engine.instance() });
  client.request = request;
  return new Promise<string | null>((resolve, reject) => {
    let timer: EngineTimer | null = null;
    client.done = (text) => {
      timer?.cancel();
      resolve(text);
    };
    client.failed = (err) => {
      timer?.cancel();
      reject(err);
    };
    if (timeout > 0) timer = client.engine.defer(timeout, () => client.finish(Buffer.concat(client.parts).toString('utf8')));
    client.connect([host, port]);
  });
}
