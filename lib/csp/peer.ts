/**
 * The connections of a PyCSP node: {@link PeerStream} (one per connection, accepted or
 * outgoing, cutting the byte stream into messages with a byte-count `read_delimiter` that
 * follows a pure {@link MessageReader}), {@link Peer} (the outgoing connection to one
 * address, with PyCSP's connect retry) and the listening {@link CspServer}.
 *
 * @module
 */

import type { Buffer } from 'node:buffer';
import type * as net from 'node:net';
import { Stream, StreamServer, type ConnectError, type Timer } from '../index.js';
import type { Dispatcher } from './dispatch.js';
import { ChannelConnectError, CspProtocolError } from './errors.js';
import { HEADER_SIZE, MessageReader, type Message } from './header.js';

/** One connection to a peer process (outgoing, or accepted), framing PyCSP messages (not part of the public API). */
export class PeerStream extends Stream {
  private readonly reader: MessageReader;
  /** The peer's address: the target of an outgoing connection, or learnt from the first header. */
  peer_key: string | null;
  /** The Peer this outgoing stream serves (null for accepted streams). */
  readonly peer: Peer | null;

  constructor(private readonly d: Dispatcher, peer: Peer | null, socket?: net.Socket) {
    super(socket === undefined ? { engine: d.config.engine } : { engine: d.config.engine, socket });
    this.reader = new MessageReader(d.config.max_payload);
    this.peer = peer;
    this.peer_key = peer?.key ?? null;
    this.read_delimiter = HEADER_SIZE;
  }

  override on_connect(): void {
    this.peer?.connected(this);
  }

  override on_read(frame: Buffer): void {
    let m: Message | null;
    try {
      m = this.reader.take(frame);
    } catch (err) {
      this.d.report(err);
      this.close(false);
      return;
    }
    this.read_delimiter = this.reader.need;
    if (m === null) return;
    try {
      this.d.on_message(this, m);
    } catch (err) {
      this.d.report(err);
    }
  }

  override on_incomplete(rest: Buffer): void {
    this.d.report(new CspProtocolError('ERR_CSP_BAD_HEADER', `the connection ended inside a message (${rest.length} bytes of it had arrived)`));
  }

  override on_connect_error(err: ConnectError): void {
    this.peer?.connect_failed(this, err);
  }

  override on_error(err: Error): void {
    this.d.report(err);
    this.close(false);
  }

  override on_close(): void {
    this.d.stream_closed(this);
  }
}

/** The outgoing connection to one peer address, with PyCSP's connect retry (not part of the public API). */
export class Peer {
  stream: PeerStream | null = null;
  private queue: Buffer[] = [];
  private open = false;
  private first_failure = 0;
  private timer: Timer | null = null;
  dead = false;

  constructor(
    private readonly d: Dispatcher,
    readonly key: string,
    readonly host: string,
    readonly port: number,
  ) {
    this.attempt();
  }

  private attempt(): void {
    this.timer = null;
    if (this.dead) return;
    const s = new PeerStream(this.d, this);
    this.stream = s;
    this.d.streams.add(s);
    s.connect([this.host, this.port]);
  }

  /** Sends (or queues, while connecting). */
  write(buf: Buffer): void {
    if (this.open && this.stream !== null && !this.stream.closed) this.stream.write(buf);
    else this.queue.push(buf);
  }

  connected(s: PeerStream): void {
    if (s !== this.stream) return;
    this.open = true;
    this.d.peer_up(this.key);
    const q = this.queue;
    this.queue = [];
    for (const b of q) s.write(b);
  }

  connect_failed(s: PeerStream, err: ConnectError): void {
    if (s !== this.stream || this.dead) return;
    this.stream = null;
    const now = Date.now();
    if (this.first_failure === 0) this.first_failure = now;
    const cfg = this.d.config;
    if (err.syscode === 'ECONNREFUSED' && now - this.first_failure < cfg.connect_timeout && !this.d.closing) {
      this.timer = cfg.engine.defer(Math.max(1, cfg.connect_retry_delay), () => this.attempt());
      return;
    }
    this.dead = true;
    this.queue = [];
    this.d.peer_failed(this, new ChannelConnectError([this.host, this.port], 'PyCSP peer unreachable', { cause: err }));
  }

  /** Stops retrying. */
  stop(): void {
    this.dead = true;
    this.timer?.cancel();
    this.timer = null;
    this.queue = [];
  }
}

/** The listening socket: every accepted connection becomes a PeerStream. (not part of the public API) */
export class CspServer extends StreamServer {
  constructor(private readonly d: Dispatcher) {
    super({ engine: d.config.engine });
  }
  override on_accept(socket: net.Socket): void {
    const s = new PeerStream(this.d, null, socket);
    this.d.streams.add(s);
  }
  override on_error(err: Error): void {
    this.d.report(err);
  }
}

