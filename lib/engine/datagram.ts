/**
 * Datagram: a UDP socket driven by callbacks.
 *
 * How to use:
 *
 * ```ts
 * class Echo extends Datagram {
 *   override on_read(data: Buffer, from: InetAddress) { this.write(data); } // reply to sender
 * }
 * new Echo({ family: 'udp4' }).listen(['127.0.0.1', 5353]);
 * ```
 *
 * ```
 * datagram := [on_listen] (on_read | on_write | on_error)* on_close
 * ```
 *
 * - One `on_read(data, address)` per packet, packet boundaries preserved; packets up to
 *   65507 bytes arrive whole.
 * - `read_delimiter` (default null) applies within one packet: a packet `"a\nb\n"` with
 *   `"\n"` gives two calls. Bytes left at the end of a packet go to `on_incomplete(rest,
 *   address)` (default: dropped with a line on stderr). Nothing carries over between packets.
 * - `write(data, address)` sends one packet; inside `on_read`, `write(data)` replies to the
 *   sender of the packet being handled. Writing before `listen` binds an ephemeral port.
 * - Packets are handed to `on_read` as Node reads them; while `on_read` is slow the kernel's
 *   receive buffer fills and the kernel drops further packets, so memory stays bounded by the
 *   socket's receive buffer (`recv_buffer_size`), never by the flood.
 *
 * @module
 */

import * as dgram from 'node:dgram';
import { format_address, format_reported, inet_address, parse_address, type Address, type InetAddress, type ParsedAddress } from './address.js';
import { Channel, type ChannelOptions } from './channel.js';
import type { ReadDelimiter } from './delimiter.js';
import { ListenError, SocketError, TrousersError } from './errors.js';
import { Reader } from './reader.js';

/** Options of a {@link Datagram}. */
export interface DatagramOptions extends ChannelOptions {
  /** `'udp4'` (default) or `'udp6'`. */
  family?: 'udp4' | 'udp6';
  /** Allow several sockets to bind the same address (SO_REUSEADDR), for multicast. */
  reuse_address?: boolean;
}

type State = 'idle' | 'binding' | 'bound' | 'closed';

/** A UDP socket. Subclass it and override `on_read(data, address)`. */
export class Datagram extends Channel {
  /** `'udp4'` or `'udp6'`. */
  readonly family: 'udp4' | 'udp6';
  /** @internal */
  protected _socket: dgram.Socket | null = null;
  private state: State = 'idle';
  private readonly reader = new Reader();
  private readonly reuse: boolean;
  private sender: InetAddress | null = null;
  private outstanding = 0;
  private printable = '';

  /** @param options - `{ engine, family, reuse_address }` */
  constructor(options: DatagramOptions = {}) {
    super(options);
    const family = options.family ?? 'udp4';
    if (family !== 'udp4' && family !== 'udp6') throw new TypeError(`family must be 'udp4' or 'udp6', got ${String(family)}`);
    this.family = family;
    this.reuse = options.reuse_address === true;
  }

  /** True once bound, until close. */
  get listening(): boolean {
    return this.state === 'bound';
  }

  /** The bound address, once bound. */
  get local_address(): InetAddress | null {
    if (this.state !== 'bound' || this._socket === null) return null;
    const a = this._socket.address();
    return inet_address(a.address, a.port, a.family);
  }

  /** How each packet is cut into `on_read` calls; applies within one packet. Default null. */
  get read_delimiter(): ReadDelimiter {
    return this.reader.value;
  }

  set read_delimiter(value: ReadDelimiter) {
    this.reader.set(value);
  }

  /** RegExp delimiters: search (true, default) or match at the start. */
  get regex_search(): boolean {
    return this.reader.regex_search;
  }

  set regex_search(value: boolean) {
    if (typeof value !== 'boolean') throw new TypeError('regex_search must be a boolean');
    this.reader.regex_search = value;
  }

  /** When set (e.g. `'utf8'`), `on_read` receives strings. Default null (Buffers). */
  get encoding(): BufferEncoding | null {
    return this.reader.encoding;
  }

  set encoding(value: BufferEncoding | null) {
    this.reader.encoding = value;
  }

  /**
   * Binds to `address`; `on_listen` follows on a later tick, or `on_error` (a ListenError)
   * and close if binding fails. A bare port binds every interface.
   * @returns this
   */
  listen(address: Address): this {
    const parsed = parse_address(address, true);
    if (parsed.kind === 'unix') throw new TypeError('a Datagram listens on [host, port], { host, port } or a port, not a path');
    if (this.state !== 'idle' || this._closed) {
      this._check_open('listen', this.state === 'closed');
      throw new TrousersError('ERR_ALREADY_LISTENING', `${this.toString()} is already bound`);
    }
    const socket = this.ensure_socket();
    this.state = 'binding';
    this.printable = format_address(parsed, '*');
    socket.bind(parsed.port, parsed.host);
    return this;
  }

  /**
   * Sends `data` as one packet to `address`; without an address, inside `on_read`, to the
   * sender of the packet being handled.
   * @throws TypeError when there is no address to send to
   * @throws ChannelClosedError after `close()`
   */
  write(data: string | Uint8Array, address?: Address): void {
    this._check_open('write', this.state === 'closed');
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new TypeError(`write() takes a string or bytes, got ${data === null ? 'null' : typeof data}`);
    }
    let port: number;
    let host: string | undefined;
    if (address === undefined) {
      const sender = this.sender;
      if (sender === null) throw new TypeError('write() needs an address outside on_read');
      port = sender.port;
      host = sender.host;
    } else {
      const parsed: ParsedAddress = parse_address(address, false);
      if (parsed.kind === 'unix') throw new TypeError('a Datagram sends to [host, port] or { host, port }, not a path');
      port = parsed.port;
      host = parsed.host ?? (this.family === 'udp6' ? '::1' : '127.0.0.1');
    }
    const socket = this.ensure_socket();
    // Always with a completion callback: without one, Node drops send errors (EMSGSIZE...).
    this.outstanding++;
    socket.send(data, port, host, (this.sent_fn ??= (err: Error | null) => this.sent(err)));
  }

  /** The completion callback of sends made while `on_write` is overridden. */
  private sent_fn: ((err: Error | null) => void) | undefined;

  private sent(err: Error | null): void {
    this.outstanding--;
    if (this.state === 'closed') return;
    if (err) {
      this._error(new SocketError({ cause: err }));
      return;
    }
    if (this.outstanding === 0) this._call('on_write');
  }

  /** Enables or disables sending to broadcast addresses (needs a bound socket). */
  set_broadcast(flag: boolean): void {
    this.bound_socket('set_broadcast').setBroadcast(flag);
  }

  /** Joins a multicast group, optionally on one interface. */
  add_membership(group: string, iface?: string): void {
    this.bound_socket('add_membership').addMembership(group, iface);
  }

  /** Leaves a multicast group. */
  drop_membership(group: string, iface?: string): void {
    this.bound_socket('drop_membership').dropMembership(group, iface);
  }

  /** Sets the multicast time-to-live (hops). */
  set_multicast_ttl(ttl: number): void {
    this.bound_socket('set_multicast_ttl').setMulticastTTL(ttl);
  }

  /** Whether multicast packets loop back to this host. */
  set_multicast_loopback(flag: boolean): void {
    this.bound_socket('set_multicast_loopback').setMulticastLoopback(flag);
  }

  /** The socket's receive buffer size in bytes (SO_RCVBUF), once bound. */
  get recv_buffer_size(): number {
    return this.bound_socket('recv_buffer_size').getRecvBufferSize();
  }

  /** Closes the socket; `on_close` follows once. Packets not yet sent may be dropped. */
  close(_flush = true): void {
    if (this.state === 'closed') return;
    const socket = this._socket;
    this.state = 'closed';
    if (socket === null) {
      process.nextTick(() => this._finish_close());
      return;
    }
    socket.close();
  }

  // ------------------------------------------------------------------ callbacks

  /** The socket is bound; `local_address` is final. */
  on_listen(): void {}

  /** A packet (or a frame of one, with a read_delimiter) arrived from `address`. */
  on_read(..._args: unknown[]): void {}

  /** Every packet written so far has been handed to the OS. */
  on_write(): void {}

  /** A packet ended with bytes that do not make a frame. Default: a line on stderr. */
  on_incomplete(rest: Buffer, address: InetAddress): void {
    process.stderr.write(`trousers: ${this.toString()}: packet from ${format_reported(address)} ended inside a frame; ${rest.length} bytes dropped\n`);
  }

  // ------------------------------------------------------------------ internals

  /** @internal */
  protected override _describe(): string {
    return this.state === 'bound' ? format_reported(this.local_address) : `${this.state} ${this.printable}`;
  }

  /** Whether delivery must stop (made once: the per-packet path builds no closure). */
  private readonly closed_now = (): boolean => this.state === 'closed';

  private bound_socket(operation: string): dgram.Socket {
    this._check_open(operation, this.state === 'closed');
    if (this.state !== 'bound' || this._socket === null) {
      throw new TrousersError('ERR_NOT_BOUND', `${operation} needs a bound socket: call listen() first`);
    }
    return this._socket;
  }

  private ensure_socket(): dgram.Socket {
    if (this._socket !== null) return this._socket;
    const socket = dgram.createSocket({ type: this.family, reuseAddr: this.reuse });
    this._socket = socket;
    this._register();
    socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => this.packet(msg, rinfo));
    socket.on('listening', () => {
      const was = this.state;
      if (was === 'closed') return;
      this.state = 'bound';
      if (was === 'binding') this._call('on_listen');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.state === 'binding') {
        this._error(new ListenError(this.printable, `could not bind ${this.printable}${err.code ? ` (${err.code})` : ''}`, { cause: err }));
        this.close();
        return;
      }
      if (this.state !== 'closed') this._error(new SocketError({ cause: err }));
    });
    socket.on('close', () => {
      this.state = 'closed';
      this._finish_close();
    });
    return socket;
  }

  private packet(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.state === 'closed') return;
    const from: InetAddress = { host: rinfo.address, port: rinfo.port, family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4' };
    this.sender = from;
    try {
      this.reader.packet(this, msg, from, this.closed_now);
    } finally {
      this.sender = null;
    }
  }
}
