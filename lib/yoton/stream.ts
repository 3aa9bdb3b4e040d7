/**
 * The one Stream subclass per yoton peer connection: it speaks the handshake, cuts the byte
 * stream into packages with a pure {@link WireReader} and hands them to its
 * {@link Connection}. Routing lives in the context, not here.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { Stream, type Engine, type Timer as EngineTimer } from '../index.js';
import { handshake_line, parse_handshake, STOP, WireReader, type Package, type WireSink } from './wire.js';

/** Milliseconds each side waits for the other's handshake line (yoton: 2.0 s). */
export const HANDSHAKE_TIMEOUT = 2000;

/** What a {@link PackageStream} reports to whoever made it. */
export interface StreamHooks {
  /** The handshake succeeded: attach the stream now (packages may follow in the same read). */
  handshaken(stream: PackageStream, id2: bigint, pid2: number): void;
  /** The handshake failed with one of yoton's reasons; the stream is closing. */
  handshake_failed(stream: PackageStream, reason: string): void;
  /** A client stream could not connect at all. */
  connect_failed(stream: PackageStream, err: Error): void;
}

/** What a connected {@link PackageStream} hands packages to. */
export interface PackageOwner {
  /** Bytes arrived (for the timeout bookkeeping). */
  _data_arrived(): void;
  /** A whole package. */
  _recv(p: Package): void;
  /** The peer sent the close package, or broke the format, or the stream ended. */
  _stream_stopped(stream: PackageStream, reason: string): void;
  /** The write buffer drained below its low water mark. */
  _writable(): void;
  /** Answer at once (a heartbeat), so the peer's Nagle lets its next send go. */
  _nudge(): void;
  /** Packages written so far (to tell whether a read was answered). */
  readonly _writes: number;
}

/** A yoton peer connection's socket (built by {@link Connection}; not part of the public API). */
export class PackageStream extends Stream implements WireSink {
  /** Set once the handshake succeeded. */
  owner: PackageOwner | null = null;
  private readonly wire: WireReader;
  private hs_timer: EngineTimer | null = null;
  private hs_done = false;
  private error: Error | null = null;
  /** The peer splits header and payload under Nagle (Python yoton). */
  private nagle_peer = false;

  /**
   * @param options - the engine and, for accepted connections, the socket
   * @param role - `'host'` waits for the peer's line; `'client'` sends first
   * @param own_id - this context's id (to refuse connecting to itself)
   * @param hooks - where the handshake's outcome goes
   * @param max_message_size - largest payload accepted
   */
  constructor(
    options: { engine: Engine; socket?: import('node:net').Socket },
    readonly role: 'host' | 'client',
    private readonly own_id: bigint,
    private readonly hooks: StreamHooks,
    max_message_size: number,
  ) {
    super(options);
    this.wire = new WireReader(this, max_message_size);
    this.set_write_buffer_limits(1 << 20, 256 << 10);
  }

  override on_connect(): void {
    this.no_delay = true; // the engine's default; yoton's Nagle stalls are what we avoid
    if (this.role === 'client') this.write(handshake_line(this.own_id, process.pid));
    this.hs_timer = this.engine.defer(HANDSHAKE_TIMEOUT, () => this.fail(STOP.HANDSHAKE_TIMEOUT));
  }

  override on_read(chunk: Buffer): void {
    const owner = this.owner;
    if (owner === null) {
      this.wire.feed(chunk);
      return;
    }
    owner._data_arrived();
    const writes = owner._writes;
    this.wire.feed(chunk);
    // Python yoton sends a header and its payload in two sends without TCP_NODELAY: Nagle
    // holds each small send until the one before is ACKed, and our kernel delays ACKs
    // (~40 ms) when we have nothing to say. A peer whose header came alone is such a peer:
    // from then on every read it sends us that we did not answer gets a heartbeat, which
    // carries the ACK at once.
    if (this.wire.header_only) this.nagle_peer = true;
    if (this.nagle_peer && owner._writes === writes) owner._nudge();
  }

  /** WireSink: the handshake line. */
  on_line(line: string): void {
    if (this.hs_done) return;
    const info = parse_handshake(line);
    if (this.role === 'host') {
      if (info.kind === 'yoton') {
        this.write(handshake_line(this.own_id, process.pid));
        if (info.id === this.own_id) return this.fail(STOP.HANDSHAKE_SELF);
      } else {
        this.write(info.kind === 'bad_id' ? 'ERROR: could not parse id.\r\n' : 'ERROR: this is Yoton.\r\n');
        return this.fail(STOP.HANDSHAKE_FAILED);
      }
    } else {
      if (info.kind !== 'yoton') return this.fail(STOP.HANDSHAKE_FAILED);
      if (info.id === this.own_id) return this.fail(STOP.HANDSHAKE_SELF);
    }
    this.hs_done = true;
    this.hs_timer?.cancel();
    this.hs_timer = null;
    this.hooks.handshaken(this, info.id, info.pid);
  }

  /** WireSink: a package. */
  on_package(p: Package): void {
    this.owner?._recv(p);
  }

  /** WireSink: a zero-length package. */
  on_control(source_seq: bigint): void {
    if (source_seq === 1n) this.stop(STOP.CLOSED_FROM_THERE);
  }

  /** WireSink: the byte stream broke the format. */
  on_problem(reason: string): void {
    if (!this.hs_done) this.fail(STOP.HANDSHAKE_FAILED);
    else this.stop(reason);
  }

  private fail(reason: string): void {
    if (this.hs_done) return;
    this.hs_done = true;
    this.hs_timer?.cancel();
    this.hs_timer = null;
    this.wire.stop();
    this.close(true); // an ERROR line written just now still goes out
    this.hooks.handshake_failed(this, reason);
  }

  /** Stops reading and tells the owner why; the owner closes the stream. */
  private stop(reason: string): void {
    this.wire.stop();
    const owner = this.owner;
    if (owner !== null) owner._stream_stopped(this, reason);
    else this.close(false);
  }

  override on_connect_error(err: Error): void {
    this.hs_done = true;
    this.hooks.connect_failed(this, err);
  }

  override on_error(err: Error): void {
    this.error ??= err;
    this.close(false);
  }

  override on_incomplete(_rest: Buffer): void {
    // The peer ended the stream inside a package: on_close reports the EOF.
  }

  override on_resume_writing(): void {
    this.owner?._writable();
  }

  override on_close(): void {
    this.hs_timer?.cancel();
    this.hs_timer = null;
    if (!this.hs_done) {
      // yoton reads an empty handshake on EOF and calls that a timeout
      this.fail(STOP.HANDSHAKE_TIMEOUT);
      return;
    }
    const err = this.error ?? this.close_reason;
    const owner = this.owner;
    if (owner !== null) {
      owner._stream_stopped(this, err ? `yoton.ReceivingThread, ${STOP.SOCKET_ERROR} ${err.message}` : STOP.EOF);
    }
  }
}
