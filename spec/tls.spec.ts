/**
 * TLS: streams and servers that are TLS from the start, STARTTLS upgrades in both roles,
 * certificate and host-name verification (on by default), mutual TLS, ALPN, the order of
 * callbacks, `write_file` over TLS, interop with `openssl s_server` / `s_client`, and the
 * STARTTLS example.
 *
 * The certificates come from `spec/fixtures/` (see its README; `make-certs.sh` regenerates
 * them). Every wait is on an event, bounded by `within` as a safety net; never a sleep.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ChannelClosedError,
  Connection,
  Engine,
  Server,
  TlsError,
  TrousersError,
  type Address,
  type ConnectError,
  type InetAddress,
  type TlsOptions,
} from '../lib/index.js';
import * as starttls_lines from '../examples/starttls_lines.js';
import { Recorder, start_server, strings, type Started } from './_channels.js';
import { capture_stderr, deferred, has_ipv6, raw_connect, rng, temp_dir, TCP4, TCP6, UNIX, within, type Deferred, type Transport } from './_helpers.js';

// ------------------------------------------------------------------------ fixtures

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../spec/fixtures');
const fixture = (name: string): string => path.join(FIXTURES, name);
const pem = (name: string): Buffer => fs.readFileSync(fixture(name));

const CA = pem('ca.crt');
const SERVER: TlsOptions = { key: pem('server.key'), cert: pem('server.crt') };
const EXPIRED: TlsOptions = { key: pem('expired.key'), cert: pem('expired.crt') };
const WRONG_HOST: TlsOptions = { key: pem('wronghost.key'), cert: pem('wronghost.crt') };
const SELF_SIGNED: TlsOptions = { key: pem('selfsigned.key'), cert: pem('selfsigned.crt') };
const CLIENT_CERT: TlsOptions = { key: pem('client.key'), cert: pem('client.crt') };

const TLS_VERSION = /^TLSv1\.[23]$/;

// ------------------------------------------------------------------------ helpers

/** Starts `new Server(Conn, { engine, tls })` on `transport`; resolves once it listens. */
function start_tls_server<C extends Connection>(
  transport: Transport,
  Conn: new (options: ConstructorParameters<typeof Connection>[0]) => C,
  tls_options: (TlsOptions & { handshake_timeout?: number }) | null,
  engine = new Engine(),
): Promise<Started<C>> {
  return start_server(transport, Conn, engine, tls_options === null ? {} : { tls: tls_options });
}

/** A Recorder that also records the TLS callbacks and counts `on_write`. */
class TlsRecorder extends Recorder {
  readonly handshake_p: Deferred<void> = deferred();
  readonly handshake_error_p: Deferred<TlsError> = deferred();
  write_calls = 0;
  write_p: Deferred<void> = deferred();

  override on_ssl_handshake(): void {
    this.events.push('on_ssl_handshake');
    this.handshake_p.resolve();
  }
  override on_ssl_handshake_error(err: TlsError): void {
    this.events.push('on_ssl_handshake_error');
    this.errors.push(err);
    this.handshake_error_p.resolve(err);
  }
  override on_write(): void {
    this.write_calls++;
    this.write_p.resolve();
  }
}

/** Everything a server-side connection did, shared by the connections of one test. */
interface ConnLog<C extends RecConn = RecConn> {
  /** Every connection built, in order. */
  made: C[];
  /** Resolves with the first connection built. */
  first: Deferred<C>;
}

/** A server-side connection that records its callbacks (and, by default, echoes). */
class RecConn extends Connection {
  events: string[] = [];
  frames: string[] = [];
  errors: Error[] = [];
  write_calls = 0;
  readonly connected_p: Deferred<void> = deferred();
  readonly handshake_p: Deferred<void> = deferred();
  readonly handshake_error_p: Deferred<TlsError> = deferred();
  readonly closed_p: Deferred<void> = deferred();

  private readonly frame_waiters = new Map<string, Deferred<void>>();

  /** Records a frame received (subclasses that override on_read call this). */
  record_frame(text: string): void {
    this.frames.push(text);
    this.frame_waiters.get(text)?.resolve();
  }

  /** Resolves once a frame equal to `text` has been recorded. */
  when_frame(text: string): Promise<void> {
    if (this.frames.includes(text)) return Promise.resolve();
    let d = this.frame_waiters.get(text);
    if (d === undefined) this.frame_waiters.set(text, (d = deferred()));
    return within(d.promise, 5000, `the frame ${JSON.stringify(text)}`);
  }

  override on_connect(): void {
    this.events.push('on_connect');
    this.connected_p.resolve();
  }
  override on_ssl_handshake(): void {
    this.events.push('on_ssl_handshake');
    this.handshake_p.resolve();
  }
  override on_ssl_handshake_error(err: TlsError): void {
    this.events.push('on_ssl_handshake_error');
    this.errors.push(err);
    this.handshake_error_p.resolve(err);
  }
  override on_read(data: Buffer): void {
    this.events.push('on_read');
    this.record_frame(data.toString('latin1'));
    this.write(data);
  }
  override on_write(): void {
    this.write_calls++;
  }
  override on_error(err: Error): void {
    this.events.push('on_error');
    this.errors.push(err);
    this.close(false);
  }
  override on_close(): void {
    this.events.push('on_close');
    this.closed_p.resolve();
  }
}

/** A RecConn subclass whose instances are collected in a fresh log. */
function recording<C extends RecConn>(Base: new (options: ConstructorParameters<typeof Connection>[0]) => C = RecConn as never): {
  Conn: new (options: ConstructorParameters<typeof Connection>[0]) => C;
  log: ConnLog<C>;
} {
  const log: ConnLog<C> = { made: [], first: deferred<C>() };
  const Conn = class extends (Base as unknown as typeof RecConn) {
    constructor(options: ConstructorParameters<typeof Connection>[0]) {
      super(options);
      log.made.push(this as unknown as C);
      if (log.made.length === 1) log.first.resolve(this as unknown as C);
    }
  } as unknown as new (options: ConstructorParameters<typeof Connection>[0]) => C;
  return { Conn, log };
}

/** The Node error behind a TlsError. */
function cause_code(err: Error | undefined): string | undefined {
  return ((err as TlsError | undefined)?.cause as { code?: string } | undefined)?.code;
}

/** A port of a listening trousers server on 127.0.0.1. */
function port_of(channel: { local_address: unknown }): number {
  return (channel.local_address as InetAddress).port;
}

/** Waits for bytes on a readable and cuts them into lines (LF, CR stripped). */
class Lines {
  private data = '';
  private changed = deferred();
  ended = false;

  constructor(readable: NodeJS.ReadableStream) {
    readable.on('data', (chunk: Buffer | string) => {
      this.data += chunk.toString();
      this.poke();
    });
    readable.on('end', () => {
      this.ended = true;
      this.poke();
    });
    readable.on('error', () => {
      this.ended = true;
      this.poke();
    });
  }

  private poke(): void {
    const d = this.changed;
    this.changed = deferred();
    d.resolve();
  }

  /** Everything received so far. */
  get text(): string {
    return this.data;
  }

  /** Waits until `test` finds what it wants in the text received so far. */
  async until<T>(test: (text: string) => T | undefined, what: string, ms = 10000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = test(this.data);
      if (v !== undefined) return v;
      if (this.ended) throw new Error(`stream ended while waiting for ${what}; had ${JSON.stringify(this.data)}`);
      await within(this.changed.promise, Math.max(1, deadline - Date.now()), what);
    }
  }

  /** The next line, without its line ending. */
  line(what = 'a line'): Promise<string> {
    return this.until((text) => {
      const i = text.indexOf('\n');
      if (i < 0) return undefined;
      this.data = text.slice(i + 1);
      return text.slice(0, i).replace(/\r$/, '');
    }, what);
  }
}

/**
 * A Duplex over a raw socket that (1) records every byte that crosses the wire, (2) sends
 * `prefix` in the same socket write as the first chunk written to it (so a TLS ClientHello
 * rides right behind a plaintext STARTTLS line), and (3) keeps incoming plaintext up to and
 * including `plain_until` for itself, passing only what follows to its reader (TLS).
 */
class WireTap extends Duplex {
  wire_in: Buffer = Buffer.alloc(0);
  wire_out: Buffer = Buffer.alloc(0);
  plain_in: Buffer = Buffer.alloc(0);
  private pending: Buffer | null;
  private plain_done: boolean;

  constructor(
    private readonly raw: net.Socket,
    private prefix: Buffer | null,
    private readonly plain_until: Buffer | null,
  ) {
    super({ allowHalfOpen: true });
    this.pending = plain_until === null ? null : Buffer.alloc(0);
    this.plain_done = plain_until === null;
    raw.on('data', (chunk: Buffer) => {
      this.wire_in = Buffer.concat([this.wire_in, chunk]);
      if (!this.plain_done) {
        this.pending = Buffer.concat([this.pending!, chunk]);
        const at = this.pending.indexOf(this.plain_until!);
        if (at < 0) return;
        const end = at + this.plain_until!.length;
        this.plain_in = this.pending.subarray(0, end);
        chunk = this.pending.subarray(end);
        this.pending = null;
        this.plain_done = true;
        if (chunk.length === 0) return;
      }
      if (!this.push(chunk)) raw.pause();
    });
    raw.on('end', () => this.push(null));
    raw.on('error', (err) => this.destroy(err));
    raw.on('close', () => this.destroy());
  }

  override _read(): void {
    this.raw.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.prefix !== null) {
      chunk = Buffer.concat([this.prefix, chunk]);
      this.prefix = null;
    }
    this.wire_out = Buffer.concat([this.wire_out, chunk]);
    this.raw.write(chunk, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.raw.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.raw.destroy();
    callback(err);
  }
}

/** Resolves once a raw socket is connected. */
function connected(socket: net.Socket): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    }),
    5000,
    'raw connect',
  );
}

/** A deterministic file of `size` bytes and its SHA-256. */
function make_file(dir: string, name: string, size: number): { file: string; sha: string } {
  const next = rng(size);
  const data = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) data.writeUInt32LE((next() * 0x100000000) >>> 0, i);
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return { file, sha: crypto.createHash('sha256').update(data).digest('hex') };
}

const files_dir = temp_dir('trousers-tls-');

// ------------------------------------------------------------------------ TLS from the start

function from_the_start(transport: Transport, available: boolean): void {
  const t = suite(`tls over ${transport.name}`);
  const maybe = available ? t : t.skip;

  maybe('echo: a TLS client and a TLS server exchange data; both report the session', async () => {
    const { Conn, log } = recording();
    const s = await start_tls_server(transport, Conn, SERVER);
    try {
      const c = new TlsRecorder({ engine: s.engine, tls: { ca: CA } });
      c.read_delimiter = '\n';
      c.connect(s.address);
      c.write('written before the handshake\n'); // queued, then sent encrypted
      await within(c.connected_p.promise, 5000, 'client on_connect');
      assert.ok(c.secure);
      c.write('hello over tls\n');
      assert.equal(strings(await c.expect_frames(2)), ['written before the handshake', 'hello over tls']);
      const big = Buffer.alloc(300_000, 'z');
      c.read_delimiter = big.length;
      c.write(big);
      const frames = await c.expect_frames(3);
      assert.ok((frames[2] as Buffer).equals(big), 'a 300 kB write comes back intact');

      const info = c.tls_info!;
      assert.ok(info, 'client tls_info');
      assert.match(String(info.protocol), TLS_VERSION);
      assert.type(info.cipher.name, 'string');
      assert.ok(info.cipher.name.length > 0);
      assert.is(info.authorized, true);
      assert.is(info.authorization_error, null);
      assert.is(info.peer_certificate?.subject.CN, 'localhost');
      assert.is(info.peer_certificate?.issuer.CN, 'trousers test CA');

      const conn = await within(log.first.promise, 5000, 'the server connection');
      assert.ok(conn.secure);
      const sinfo = conn.tls_info!;
      assert.match(String(sinfo.protocol), TLS_VERSION);
      assert.is(sinfo.cipher.name, info.cipher.name);
      assert.is(sinfo.peer_certificate, null, 'the client sent no certificate');
      if (transport !== UNIX) {
        // Addresses are the TCP ones, under TLS too.
        assert.is((conn.remote_address as InetAddress).port, (c.local_address as InetAddress).port);
        assert.is((c.remote_address as InetAddress).port, port_of(s.server));
      }
      c.close();
      await within(c.closed_p.promise, 5000, 'client close');
      await within(conn.closed_p.promise, 5000, 'connection close');
      assert.equal(c.events.filter((e) => e !== 'on_read'), ['on_ssl_handshake', 'on_connect', 'on_close']);
      assert.equal(
        conn.events.filter((e) => e !== 'on_read'),
        ['on_ssl_handshake', 'on_connect', 'on_close'],
      );
    } finally {
      await s.stop();
    }
  });

  maybe('callback order: server on_accept (at TCP accept), on_ssl_handshake, on_connect; client on_ssl_handshake, on_connect', async () => {
    const order: string[] = [];
    class Conn extends RecConn {
      override on_ssl_handshake(): void {
        order.push('conn.on_ssl_handshake');
        super.on_ssl_handshake();
      }
      override on_connect(): void {
        order.push('conn.on_connect');
        super.on_connect();
      }
    }
    const { Conn: C, log } = recording(Conn);
    const s = await start_tls_server(transport, C, SERVER);
    try {
      const accept = s.server.on_accept.bind(s.server);
      s.server.on_accept = (socket) => {
        // At TCP accept: a plain net.Socket, no TLS yet.
        order.push(socket instanceof tls.TLSSocket ? 'server.on_accept(tls socket!)' : 'server.on_accept');
        accept(socket);
      };
      const c = new TlsRecorder({ engine: s.engine, tls: { ca: CA } });
      c.connect(s.address);
      const conn = await within(log.first.promise, 5000, 'the server connection');
      await within(Promise.all([c.connected_p.promise, conn.connected_p.promise]), 5000, 'both on_connect');
      assert.equal(order, ['server.on_accept', 'conn.on_ssl_handshake', 'conn.on_connect']);
      assert.equal(c.events, ['on_ssl_handshake', 'on_connect']);
    } finally {
      await s.stop();
    }
  });

  t.run();
}

from_the_start(TCP4, true);
from_the_start(TCP6, await has_ipv6());
from_the_start(UNIX, true);

// ------------------------------------------------------------------------ verification

const v = suite('tls verification');

/** Connects a TlsRecorder with `client_tls` to a server using `server_tls`; resolves once the client has closed. */
async function attempt(
  server_tls: TlsOptions,
  client_tls: TlsOptions,
  address_of: (port: number) => Address = (port) => ['127.0.0.1', port],
): Promise<{ client: TlsRecorder; conns: RecConn[]; accepted: number; stop(): Promise<void> }> {
  const { Conn, log } = recording();
  const s = await start_tls_server(TCP4, Conn, server_tls);
  let accepted = 0;
  const accept = s.server.on_accept.bind(s.server);
  s.server.on_accept = (socket) => {
    accepted++;
    accept(socket);
  };
  const client = new TlsRecorder({ engine: s.engine, tls: client_tls });
  client.connect(address_of(port_of(s.server)));
  try {
    await within(client.closed_p.promise, 5000, 'the client to close');
    // The server's side of a failed handshake ends too, promptly (the client's alert or its
    // FIN ends it; with TLS 1.3 a client that rejects the certificate just closes).
    for (const conn of log.made) await within(conn.closed_p.promise, 5000, 'the server side to close');
  } catch (err) {
    await s.stop();
    throw err;
  }
  return { client, conns: log.made, accepted, stop: () => s.stop() };
}

for (const [name, server_tls, code] of [
  ['a certificate for another host name', WRONG_HOST, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ['an expired certificate', EXPIRED, 'CERT_HAS_EXPIRED'],
  ['a self-signed certificate', SELF_SIGNED, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
] as const) {
  v(`a default client rejects ${name} (${code}): on_ssl_handshake_error, on_close, never on_connect`, async () => {
    const r = await attempt(server_tls, { ca: CA });
    try {
      assert.equal(r.client.events, ['on_ssl_handshake_error', 'on_close']);
      const err = r.client.errors[0] as TlsError;
      assert.instance(err, TlsError);
      assert.instance(err, TrousersError);
      assert.is(err.code, 'ERR_TLS');
      assert.is(cause_code(err), code);
      assert.is(err.syscode, code);
      assert.match(err.message, code);
      assert.not.ok(r.client.secure);
      assert.is(r.client.tls_info, null);
      assert.is(r.accepted, 1, "the server's on_accept ran at TCP accept");
      for (const conn of r.conns) {
        assert.not.ok(conn.events.includes('on_connect'), `server side: ${conn.events.join(', ')}`);
        assert.not.ok(conn.events.includes('on_read'));
        assert.is(conn.events[conn.events.length - 1], 'on_close');
      }
    } finally {
      await r.stop();
    }
  });
}

v('a server certificate from a CA the client does not trust is rejected (UNABLE_TO_VERIFY_LEAF_SIGNATURE)', async () => {
  // No `ca`: Node's bundled roots, which do not include the test CA.
  const r = await attempt(SERVER, {});
  try {
    assert.equal(r.client.events, ['on_ssl_handshake_error', 'on_close']);
    assert.is(cause_code(r.client.errors[0]), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  } finally {
    await r.stop();
  }
});

v('the host name is checked for names too: "localhost" against a wrong.example certificate', async () => {
  const r = await attempt(WRONG_HOST, { ca: CA }, (port) => ['localhost', port]);
  try {
    assert.equal(r.client.events, ['on_ssl_handshake_error', 'on_close']);
    assert.is(cause_code(r.client.errors[0]), 'ERR_TLS_CERT_ALTNAME_INVALID');
  } finally {
    await r.stop();
  }
});

v('servername decides the name checked: wrong.example is accepted for its own certificate', async () => {
  const { Conn } = recording();
  const s = await start_tls_server(TCP4, Conn, WRONG_HOST);
  try {
    const c = new TlsRecorder({ engine: s.engine, tls: { ca: CA, servername: 'wrong.example' } });
    c.read_delimiter = '\n';
    c.connect(['127.0.0.1', port_of(s.server)]);
    c.write('named\n');
    assert.equal(strings(await c.expect_frames(1)), ['named']);
    assert.is(c.tls_info?.peer_certificate?.subject.CN, 'wrong.example');
  } finally {
    await s.stop();
  }
});

v('rejectUnauthorized: false (explicit) connects to an expired certificate and says why it is not authorized', async () => {
  const { Conn } = recording();
  const s = await start_tls_server(TCP4, Conn, EXPIRED);
  try {
    const c = new TlsRecorder({ engine: s.engine, tls: { rejectUnauthorized: false } });
    c.read_delimiter = '\n';
    c.connect(['127.0.0.1', port_of(s.server)]);
    c.write('anyway\n');
    assert.equal(strings(await c.expect_frames(1)), ['anyway']);
    assert.equal(c.events.slice(0, 2), ['on_ssl_handshake', 'on_connect']);
    const info = c.tls_info!;
    assert.is(info.authorized, false);
    assert.is(info.authorization_error, 'CERT_HAS_EXPIRED');
  } finally {
    await s.stop();
  }
});

v('the default on_ssl_handshake_error writes one line to stderr and closes', async () => {
  const { Conn } = recording();
  const s = await start_tls_server(TCP4, Conn, EXPIRED);
  try {
    const closed = deferred();
    class Plain extends Recorder {
      override on_close(): void {
        super.on_close();
        closed.resolve();
      }
    }
    const c = new Plain({ engine: s.engine, tls: { ca: CA } });
    const { text } = await capture_stderr(async () => {
      c.connect(['127.0.0.1', port_of(s.server)]);
      await within(closed.promise, 5000, 'close');
    });
    assert.match(text, /CERT_HAS_EXPIRED/);
    assert.is(text.trim().split('\n').length, 1, text);
    assert.equal(c.events, ['on_close']);
    assert.ok(c.closed);
  } finally {
    await s.stop();
  }
});

v('a TCP failure is still on_connect_error (never on_ssl_handshake_error)', async () => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const engine = new Engine();
  try {
    const c = new TlsRecorder({ engine, tls: { ca: CA } });
    c.connect(['127.0.0.1', port]);
    await within(c.closed_p.promise, 5000, 'close');
    assert.equal(c.events, ['on_connect_error', 'on_close']);
    assert.is((c.errors[0] as ConnectError).syscode, 'ECONNREFUSED');
  } finally {
    await within(engine.stop(), 5000, 'engine.stop');
  }
});

v('connect(address, { timeout }) also bounds the handshake: a silent server gives on_ssl_handshake_error', async () => {
  const raw = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.resume(); // accepts and reads the ClientHello, never answers
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
  const engine = new Engine();
  try {
    const c = new TlsRecorder({ engine, tls: { ca: CA } });
    c.connect(['127.0.0.1', (raw.address() as net.AddressInfo).port], { timeout: 200 });
    await within(c.closed_p.promise, 5000, 'close');
    assert.equal(c.events, ['on_ssl_handshake_error', 'on_close']);
    assert.instance(c.errors[0], TlsError);
    assert.is(cause_code(c.errors[0]), 'ERR_CONNECT_TIMEOUT');
  } finally {
    await within(engine.stop(), 5000, 'engine.stop');
    raw.close();
    await within(new Promise<void>((r) => (raw.listening ? raw.once('close', () => r()) : r())), 5000, 'the raw server to close');
  }
});

v('a TLS client against a plaintext server: on_ssl_handshake_error', async () => {
  const raw = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.resume(); // read, so the client's FIN is seen and the socket closes
    socket.end('220 this is not TLS\r\n');
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
  const engine = new Engine();
  try {
    const c = new TlsRecorder({ engine, tls: { ca: CA } });
    c.connect(['127.0.0.1', (raw.address() as net.AddressInfo).port]);
    await within(c.closed_p.promise, 5000, 'close');
    assert.equal(c.events, ['on_ssl_handshake_error', 'on_close']);
    assert.instance(c.errors[0], TlsError);
  } finally {
    await within(engine.stop(), 5000, 'engine.stop');
    await within(new Promise<void>((r) => raw.close(() => r())), 5000, "the raw server to close");
  }
});

v('a plaintext client against a TLS server: the connection gets on_ssl_handshake_error, never on_connect or on_read', async () => {
  const { Conn, log } = recording();
  const s = await start_tls_server(TCP4, Conn, SERVER);
  const raw = raw_connect(['127.0.0.1', port_of(s.server)]);
  raw.on('error', () => {});
  try {
    raw.write('GET / HTTP/1.0\r\n\r\n');
    const conn = await within(log.first.promise, 5000, 'the server connection');
    const err = await within(conn.handshake_error_p.promise, 5000, 'handshake error');
    await within(conn.closed_p.promise, 5000, 'close');
    assert.instance(err, TlsError);
    assert.equal(conn.events, ['on_ssl_handshake_error', 'on_close']);
  } finally {
    raw.destroy();
    await s.stop();
  }
});

v('a client that never starts its handshake is dropped after handshake_timeout', async () => {
  const { Conn, log } = recording();
  const s = await start_tls_server(TCP4, Conn, { ...SERVER, handshake_timeout: 100 });
  const raw = raw_connect(['127.0.0.1', port_of(s.server)]);
  raw.on('error', () => {});
  raw.resume();
  try {
    const conn = await within(log.first.promise, 5000, 'the server connection');
    const err = await within(conn.handshake_error_p.promise, 5000, 'handshake timeout');
    await within(conn.closed_p.promise, 5000, 'close');
    assert.is(cause_code(err), 'ETIMEDOUT');
    assert.equal(conn.events, ['on_ssl_handshake_error', 'on_close']);
  } finally {
    raw.destroy();
    await s.stop();
  }
});

// ------------------------------------------------------------------------ mutual TLS

const MUTUAL: TlsOptions = { ...SERVER, ca: CA, requestCert: true, rejectUnauthorized: true };

v('mutual TLS: a client with a certificate from the CA is accepted; both sides see the other', async () => {
  const { Conn, log } = recording();
  const s = await start_tls_server(TCP4, Conn, MUTUAL);
  try {
    const c = new TlsRecorder({ engine: s.engine, tls: { ca: CA, ...CLIENT_CERT } });
    c.read_delimiter = '\n';
    c.connect(['127.0.0.1', port_of(s.server)]);
    c.write('me\n');
    assert.equal(strings(await c.expect_frames(1)), ['me']);
    const conn = await within(log.first.promise, 5000, 'the server connection');
    const info = conn.tls_info!;
    assert.is(info.peer_certificate?.subject.CN, 'trousers test client');
    assert.is(info.authorized, true);
    assert.is(info.authorization_error, null);
    assert.is(c.tls_info?.peer_certificate?.subject.CN, 'localhost');
    assert.equal(conn.events.slice(0, 2), ['on_ssl_handshake', 'on_connect']);
  } finally {
    await s.stop();
  }
});

for (const [name, client_tls] of [
  ['without a certificate', { ca: CA }],
  ['with a certificate the server does not trust', { ca: CA, ...SELF_SIGNED }],
] as const) {
  v(`mutual TLS: a client ${name} is rejected; the connection never sees on_connect or data`, async () => {
    const { Conn, log } = recording();
    const s = await start_tls_server(TCP4, Conn, MUTUAL);
    try {
      const c = new TlsRecorder({ engine: s.engine, tls: client_tls });
      c.connect(['127.0.0.1', port_of(s.server)]);
      c.write('let me in\n');
      const conn = await within(log.first.promise, 5000, 'the server connection');
      await within(conn.handshake_error_p.promise, 5000, 'the server side to reject');
      await within(conn.closed_p.promise, 5000, 'the server side to close');
      assert.equal(conn.events, ['on_ssl_handshake_error', 'on_close']);
      assert.equal(conn.frames, []);
      // With TLS 1.3 the client finishes its half of the handshake before the server's
      // verdict arrives, so it may see on_connect before the connection ends; it never
      // receives data, and it closes.
      await within(c.closed_p.promise, 5000, 'the client to close');
      assert.equal(c.frames, []);
      assert.is(c.events[c.events.length - 1], 'on_close');
    } finally {
      await s.stop();
    }
  });
}

v('mutual TLS over TLS 1.2: a client without a certificate gets on_ssl_handshake_error, not on_connect', async () => {
  const { Conn, log } = recording();
  const s = await start_tls_server(TCP4, Conn, MUTUAL);
  try {
    const c = new TlsRecorder({ engine: s.engine, tls: { ca: CA, maxVersion: 'TLSv1.2' } });
    c.connect(['127.0.0.1', port_of(s.server)]);
    await within(c.closed_p.promise, 5000, 'the client to close');
    assert.equal(c.events, ['on_ssl_handshake_error', 'on_close']);
    const conn = await within(log.first.promise, 5000, 'the server connection');
    await within(conn.closed_p.promise, 5000, 'the server side to close');
    assert.equal(conn.events, ['on_ssl_handshake_error', 'on_close']);
  } finally {
    await s.stop();
  }
});

v('requestCert with rejectUnauthorized: false lets a client without a certificate in, unauthorized', async () => {
  const { Conn, log } = recording();
  const s = await start_tls_server(TCP4, Conn, { ...SERVER, ca: CA, requestCert: true, rejectUnauthorized: false });
  try {
    const c = new TlsRecorder({ engine: s.engine, tls: { ca: CA } });
    c.read_delimiter = '\n';
    c.connect(['127.0.0.1', port_of(s.server)]);
    c.write('anonymous\n');
    assert.equal(strings(await c.expect_frames(1)), ['anonymous']);
    const conn = await within(log.first.promise, 5000, 'the server connection');
    assert.is(conn.tls_info?.authorized, false);
    assert.is(conn.tls_info?.peer_certificate, null);
  } finally {
    await s.stop();
  }
});

// ------------------------------------------------------------------------ ALPN, on_write

v('ALPN: the protocol both sides offer is negotiated and reported on both sides', async () => {
  const { Conn, log } = recording();
  const s = await start_tls_server(TCP4, Conn, { ...SERVER, ALPNProtocols: ['h2', 'trousers/1'] });
  try {
    const c = new TlsRecorder({ engine: s.engine, tls: { ca: CA, ALPNProtocols: ['trousers/1', 'http/1.1'] } });
    c.connect(['127.0.0.1', port_of(s.server)]);
    await within(c.connected_p.promise, 5000, 'connect');
    const conn = await within(log.first.promise, 5000, 'the server connection');
    await within(conn.connected_p.promise, 5000, 'server connect');
    assert.is(c.tls_info?.alpn_protocol, 'trousers/1');
    assert.is(conn.tls_info?.alpn_protocol, 'trousers/1');

    const plain = new TlsRecorder({ engine: s.engine, tls: { ca: CA } });
    plain.connect(['127.0.0.1', port_of(s.server)]);
    await within(plain.connected_p.promise, 5000, 'connect');
    assert.is(plain.tls_info?.alpn_protocol, false, 'no ALPN offered: false');
  } finally {
    await s.stop();
  }
});

v('no on_write around the handshake: zero when nothing was written, one per write burst after', async () => {
  class Quiet extends RecConn {
    override on_read(data: Buffer): void {
      this.events.push('on_read');
      this.record_frame(data.toString('latin1'));
    }
  }
  const { Conn, log } = recording(Quiet);
  const s = await start_tls_server(TCP4, Conn, SERVER);
  try {
    const c = new TlsRecorder({ engine: s.engine, tls: { ca: CA } });
    c.connect(['127.0.0.1', port_of(s.server)]);
    const conn = await within(log.first.promise, 5000, 'the server connection');
    await within(Promise.all([c.connected_p.promise, conn.connected_p.promise]), 5000, 'connect');
    // Something must cross after the handshake for a stray on_write to have had its chance.
    c.write('x');
    await within(c.write_p.promise, 5000, 'client on_write');
    await conn.when_frame('x');
    assert.is(conn.write_calls, 0, 'the server wrote nothing: no on_write');
    assert.is(c.write_calls, 1, 'one write burst: one on_write');
    c.close();
    await within(Promise.all([c.closed_p.promise, conn.closed_p.promise]), 5000, 'close');
    assert.is(conn.write_calls, 0);
    assert.is(c.write_calls, 1);
  } finally {
    await s.stop();
  }
});

// ------------------------------------------------------------------------ write_file

v('write_file over TLS: 5 MB arrive intact, streamed in bounded memory', async () => {
  const { file, sha } = make_file(files_dir, 'five.bin', 5 * 1024 * 1024 + 17);
  const size = fs.statSync(file).size;
  class Sender extends RecConn {
    override on_connect(): void {
      super.on_connect();
      this.write('BEGIN\n');
      this.write_file(file);
      this.close();
    }
  }
  const { Conn, log } = recording(Sender);
  const s = await start_tls_server(TCP4, Conn, SERVER);
  try {
    const hash = crypto.createHash('sha256');
    let got = 0;
    let header = '';
    let max_buffered = 0;
    const done = deferred();
    class Receiver extends TlsRecorder {
      override on_read(data: Buffer): void {
        if (header === '') {
          header = data.toString();
          this.read_delimiter = null;
          return;
        }
        got += data.length;
        hash.update(data);
        const conn = log.made[0];
        if (conn !== undefined && !conn.closed) max_buffered = Math.max(max_buffered, conn.write_buffer_size);
      }
      override on_close(): void {
        super.on_close();
        done.resolve();
      }
    }
    const c = new Receiver({ engine: s.engine, tls: { ca: CA } });
    c.read_delimiter = '\n';
    c.connect(['127.0.0.1', port_of(s.server)]);
    await within(done.promise, 30000, 'the file');
    assert.is(header, 'BEGIN');
    assert.is(got, size);
    assert.is(hash.digest('hex'), sha);
    assert.ok(max_buffered < 2 * 1024 * 1024, `write buffer peaked at ${max_buffered} bytes`);
    const conn = log.made[0]!;
    await within(conn.closed_p.promise, 5000, 'server close');
    assert.equal(conn.errors, []);
  } finally {
    await s.stop();
  }
});

// ------------------------------------------------------------------------ STARTTLS

const st = suite('start_tls');

/**
 * A STARTTLS line server (CRLF lines). `STARTTLS` → `OK`, upgrade as the TLS server, then
 * `welcome` (written after start_tls: must travel encrypted). Other lines → `<line>!`.
 * `log` records every frame with whether it arrived in plaintext or over TLS.
 */
class StartTlsServerConn extends RecConn {
  log: string[] = [];
  upgrade_tls: TlsOptions = SERVER;
  override on_connect(): void {
    super.on_connect();
    this.log.push('on_connect');
    this.read_delimiter = '\r\n';
  }
  override on_ssl_handshake(): void {
    super.on_ssl_handshake();
    this.log.push('on_ssl_handshake');
  }
  override on_read(line: Buffer): void {
    const text = line.toString('latin1');
    this.record_frame(text);
    this.log.push(`${this.secure ? 'tls' : 'plain'}:${text}`);
    if (text === 'STARTTLS') {
      this.write('OK\r\n');
      assert.not.ok(this.secure);
      this.start_tls(this.upgrade_tls);
      assert.not.ok(this.secure, 'secure only after the handshake');
      this.write('welcome\r\n');
      return;
    }
    this.write(`${text}!\r\n`);
  }
}

/** The client side: records frames as plain:/tls:, upgrades on `OK` with `upgrade_tls`. */
class StartTlsClient extends TlsRecorder {
  log: string[] = [];
  upgrade_tls: TlsOptions = { ca: CA };
  override on_connect(): void {
    super.on_connect();
    this.log.push('on_connect');
  }
  override on_ssl_handshake(): void {
    super.on_ssl_handshake();
    this.log.push('on_ssl_handshake');
  }
  override on_read(line: Buffer): void {
    const text = line.toString('latin1');
    this.log.push(`${this.secure ? 'tls' : 'plain'}:${text}`);
    super.on_read(line);
    if (text === 'OK' && !this.secure) this.start_tls(this.upgrade_tls);
  }
}

st('client-initiated: frames before the upgrade are plaintext, after it TLS; read_delimiter keeps working; on_connect once', async () => {
  const { Conn, log } = recording(StartTlsServerConn);
  const s = await start_tls_server(TCP4, Conn, null);
  try {
    const c = new StartTlsClient({ engine: s.engine });
    c.read_delimiter = '\r\n';
    c.connect(['127.0.0.1', port_of(s.server)]);
    // Pipelined: two plaintext requests and STARTTLS in one write.
    c.write('one\r\ntwo\r\nSTARTTLS\r\n');
    await within(c.handshake_p.promise, 5000, 'client handshake');
    const conn = await within(log.first.promise, 5000, 'the server connection');
    await within(conn.handshake_p.promise, 5000, 'server handshake');
    assert.ok(c.secure);
    assert.ok(conn.secure);
    assert.match(String(c.tls_info?.protocol), TLS_VERSION);
    assert.is(c.tls_info?.peer_certificate?.subject.CN, 'localhost');
    assert.is(c.tls_info?.authorized, true);
    assert.match(String(conn.tls_info?.protocol), TLS_VERSION);

    // A frame split across two TLS writes: "x\r\ny" then (after x! is back) "z\r\n".
    await c.expect_frames(4); // one!, two!, OK, welcome
    c.write('x\r\ny');
    await c.expect_frames(5);
    c.write('z\r\n');
    await c.expect_frames(6);
    assert.equal(c.log, ['on_connect', 'plain:one!', 'plain:two!', 'plain:OK', 'on_ssl_handshake', 'tls:welcome', 'tls:x!', 'tls:yz!']);
    assert.equal(conn.log, ['on_connect', 'plain:one', 'plain:two', 'plain:STARTTLS', 'on_ssl_handshake', 'tls:x', 'tls:yz']);
    assert.is(c.events.filter((e) => e === 'on_connect').length, 1);
    assert.is(conn.events.filter((e) => e === 'on_connect').length, 1);
    assert.is(c.events.filter((e) => e === 'on_ssl_handshake').length, 1);
    c.close();
    await within(Promise.all([c.closed_p.promise, conn.closed_p.promise]), 5000, 'close');
    assert.equal(c.errors, []);
    assert.equal(conn.errors, []);
  } finally {
    await s.stop();
  }
});

st('a ClientHello right behind "STARTTLS\\r\\n" in the same TCP write goes to TLS; writes before start_tls are plaintext on the wire, after it encrypted', async () => {
  const { Conn, log } = recording(StartTlsServerConn);
  const s = await start_tls_server(TCP4, Conn, null);
  const raw = raw_connect(['127.0.0.1', port_of(s.server)]);
  let secure: tls.TLSSocket | null = null;
  try {
    await connected(raw);
    // The peer pipelines: a plaintext request, STARTTLS, and its ClientHello, in one write.
    const tap = new WireTap(raw, Buffer.from('plain1\r\nSTARTTLS\r\n'), Buffer.from('OK\r\n'));
    secure = tls.connect({ socket: tap, ca: CA, servername: 'localhost' });
    const lines = new Lines(secure);
    const up = deferred();
    secure.once('secureConnect', () => up.resolve());
    secure.once('error', (err) => up.reject(err));
    await within(up.promise, 5000, 'the raw peer handshake');
    assert.is(await lines.line(), 'welcome');
    secure.write('over tls\r\n');
    assert.is(await lines.line(), 'over tls!');

    // The one write carried the request, STARTTLS and the hello (a TLS handshake record).
    const first = tap.wire_out;
    const at = first.indexOf('STARTTLS\r\n') + 'STARTTLS\r\n'.length;
    assert.is(first.subarray(0, at).toString(), 'plain1\r\nSTARTTLS\r\n');
    assert.is(first[at], 0x16, 'a TLS handshake record follows STARTTLS');
    // What the server wrote before start_tls was plaintext, and came first.
    assert.is(tap.plain_in.toString(), 'plain1!\r\nOK\r\n');
    // What it wrote after start_tls ("welcome") and the echo never crossed in the clear.
    assert.is(tap.wire_in.indexOf('welcome'), -1);
    assert.is(tap.wire_in.indexOf('over tls'), -1);
    assert.is(tap.wire_out.indexOf('over tls'), -1);

    const conn = await within(log.first.promise, 5000, 'the server connection');
    assert.equal(conn.log, ['on_connect', 'plain:plain1', 'plain:STARTTLS', 'on_ssl_handshake', 'tls:over tls']);
    assert.equal(conn.errors, []);
  } finally {
    secure?.destroy();
    raw.destroy();
    await s.stop();
  }
});

/** Like StartTlsServerConn, but it never writes: `STARTTLS` just upgrades (TLS server role). */
class SilentStartTlsConn extends StartTlsServerConn {
  override on_read(line: Buffer): void {
    const text = line.toString('latin1');
    this.record_frame(text);
    this.log.push(`${this.secure ? 'tls' : 'plain'}:${text}`);
    if (text === 'STARTTLS') this.start_tls(SERVER);
  }
}

st('a trousers client that writes STARTTLS and calls start_tls in the same tick (its hello right behind)', async () => {
  const { Conn, log } = recording(SilentStartTlsConn);
  const s = await start_tls_server(TCP4, Conn, null);
  try {
    const c = new StartTlsClient({ engine: s.engine });
    c.read_delimiter = '\r\n';
    c.connect(['127.0.0.1', port_of(s.server)]);
    await within(c.connected_p.promise, 5000, 'connect');
    c.write('hello\r\nSTARTTLS\r\n');
    c.start_tls({ ca: CA });
    c.write('secret\r\n'); // queued: sent once TLS is up
    await within(c.handshake_p.promise, 5000, 'client handshake');
    const conn = await within(log.first.promise, 5000, 'the server connection');
    await within(conn.handshake_p.promise, 5000, 'server handshake');
    await conn.when_frame('secret');
    assert.equal(conn.log, ['on_connect', 'plain:hello', 'plain:STARTTLS', 'on_ssl_handshake', 'tls:secret']);
    assert.is(conn.write_calls, 0, 'the server wrote nothing: no on_write around its handshake');
    assert.ok(c.write_calls <= 2, `client on_write ran ${c.write_calls} times for two writes`);
    assert.equal(c.log, ['on_connect', 'on_ssl_handshake']);
    c.close();
    await within(Promise.all([c.closed_p.promise, conn.closed_p.promise]), 5000, 'close');
    assert.is(conn.write_calls, 0);
  } finally {
    await s.stop();
  }
});

st('server-initiated, roles reversed by isServer: the accepted side is the TLS client, the Client the TLS server', async () => {
  class Initiator extends RecConn {
    log: string[] = [];
    override on_connect(): void {
      super.on_connect();
      this.read_delimiter = '\n';
      this.write('banner\nSTARTTLS\n');
      this.start_tls({ isServer: false, ca: CA, servername: 'localhost' });
      this.write('hello from the connection\n');
    }
    override on_ssl_handshake(): void {
      super.on_ssl_handshake();
      this.log.push('on_ssl_handshake');
    }
    override on_read(line: Buffer): void {
      this.log.push(`${this.secure ? 'tls' : 'plain'}:${line.toString()}`);
      this.write(`${line.toString()}!\n`);
    }
  }
  const { Conn, log } = recording(Initiator);
  const s = await start_tls_server(TCP4, Conn, null);
  try {
    class Responder extends TlsRecorder {
      log: string[] = [];
      override on_ssl_handshake(): void {
        super.on_ssl_handshake();
        this.log.push('on_ssl_handshake');
        this.write('ping\n');
      }
      override on_read(line: Buffer): void {
        this.log.push(`${this.secure ? 'tls' : 'plain'}:${line.toString()}`);
        super.on_read(line);
        if (line.toString() === 'STARTTLS') this.start_tls({ isServer: true, ...SERVER });
      }
    }
    const c = new Responder({ engine: s.engine });
    c.read_delimiter = '\n';
    c.connect(['127.0.0.1', port_of(s.server)]);
    await c.expect_frames(4);
    const conn = await within(log.first.promise, 5000, 'the server connection');
    assert.equal(c.log, ['plain:banner', 'plain:STARTTLS', 'on_ssl_handshake', 'tls:hello from the connection', 'tls:ping!']);
    assert.equal(conn.log, ['on_ssl_handshake', 'tls:ping']);
    // The connection verified the Client's certificate as a server certificate.
    assert.is(conn.tls_info?.peer_certificate?.subject.CN, 'localhost');
    assert.is(conn.tls_info?.authorized, true);
    assert.is(c.tls_info?.peer_certificate, null);
    assert.is(c.events.filter((e) => e === 'on_connect').length, 1);
    assert.is(conn.events.filter((e) => e === 'on_connect').length, 1);
  } finally {
    await s.stop();
  }
});

st('a file written before start_tls goes out whole in plaintext before the handshake', async () => {
  const { file, sha } = make_file(files_dir, 'before.bin', 300_000);
  class FileFirst extends StartTlsServerConn {
    override on_read(line: Buffer): void {
      const text = line.toString('latin1');
      this.log.push(`${this.secure ? 'tls' : 'plain'}:${text}`);
      if (text === 'STARTTLS') {
        this.write_file(file);
        this.write('OK\r\n');
        this.start_tls(SERVER);
        this.write('welcome\r\n');
      } else this.write(`${text}!\r\n`);
    }
  }
  const { Conn } = recording(FileFirst);
  const s = await start_tls_server(TCP4, Conn, null);
  try {
    let file_sha = '';
    let file_secure: boolean | null = null;
    class FileClient extends StartTlsClient {
      override on_read(data: Buffer): void {
        if (file_sha === '') {
          file_sha = crypto.createHash('sha256').update(data).digest('hex');
          file_secure = this.secure;
          this.read_delimiter = '\r\n';
          return;
        }
        super.on_read(data);
      }
    }
    const c = new FileClient({ engine: s.engine });
    c.read_delimiter = 300_000;
    c.connect(['127.0.0.1', port_of(s.server)]);
    c.write('STARTTLS\r\n');
    await within(c.handshake_p.promise, 10000, 'handshake');
    await c.expect_frames(2);
    assert.is(file_sha, sha);
    assert.is(file_secure, false);
    assert.equal(c.log, ['on_connect', 'plain:OK', 'on_ssl_handshake', 'tls:welcome']);
  } finally {
    await s.stop();
  }
});

st('verification is on by default for start_tls: an unknown CA fails with on_ssl_handshake_error, then on_close', async () => {
  const { Conn, log } = recording(StartTlsServerConn);
  const s = await start_tls_server(TCP4, Conn, null);
  try {
    const c = new StartTlsClient({ engine: s.engine });
    c.upgrade_tls = {}; // no ca: the test CA is not trusted
    c.read_delimiter = '\r\n';
    c.connect(['127.0.0.1', port_of(s.server)]);
    c.write('STARTTLS\r\n');
    await within(c.closed_p.promise, 5000, 'client close');
    assert.equal(c.events, ['on_connect', 'on_read', 'on_ssl_handshake_error', 'on_close']);
    assert.is(cause_code(c.errors[0]), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.not.ok(c.secure);
    const conn = await within(log.first.promise, 5000, 'the server connection');
    await within(conn.closed_p.promise, 5000, 'server close');
    assert.not.ok(conn.events.includes('on_ssl_handshake'));
    assert.is(conn.events[conn.events.length - 1], 'on_close');
  } finally {
    await s.stop();
  }
});

st('start_tls verifies the host name it connected to: wrong.example certificate over 127.0.0.1 fails', async () => {
  class WrongHost extends StartTlsServerConn {
    override upgrade_tls = WRONG_HOST;
  }
  const { Conn } = recording(WrongHost);
  const s = await start_tls_server(TCP4, Conn, null);
  try {
    const c = new StartTlsClient({ engine: s.engine });
    c.read_delimiter = '\r\n';
    c.connect(['127.0.0.1', port_of(s.server)]);
    c.write('STARTTLS\r\n');
    await within(c.closed_p.promise, 5000, 'client close');
    assert.equal(c.events, ['on_connect', 'on_read', 'on_ssl_handshake_error', 'on_close']);
    assert.is(cause_code(c.errors[0]), 'ERR_TLS_CERT_ALTNAME_INVALID');
  } finally {
    await s.stop();
  }
});

st('close() right after start_tls: what was queued goes out encrypted once TLS is up, then the stream closes', async () => {
  class Closer extends StartTlsServerConn {
    override on_read(line: Buffer): void {
      const text = line.toString('latin1');
      this.log.push(`${this.secure ? 'tls' : 'plain'}:${text}`);
      if (text !== 'STARTTLS') return;
      this.write('OK\r\n');
      this.start_tls(SERVER);
      this.write('last words\r\n');
      this.close();
    }
  }
  const { Conn, log } = recording(Closer);
  const s = await start_tls_server(TCP4, Conn, null);
  try {
    const c = new StartTlsClient({ engine: s.engine });
    c.read_delimiter = '\r\n';
    c.connect(['127.0.0.1', port_of(s.server)]);
    c.write('STARTTLS\r\n');
    await within(c.closed_p.promise, 5000, 'the client to close');
    assert.equal(c.log, ['on_connect', 'plain:OK', 'on_ssl_handshake', 'tls:last words']);
    assert.equal(c.errors, []);
    const conn = await within(log.first.promise, 5000, 'the server connection');
    await within(conn.closed_p.promise, 5000, 'the server side to close');
    assert.equal(conn.errors, []);
  } finally {
    await s.stop();
  }
});

st('start_tls refuses what makes no sense: already TLS, closed, not connected, bad options', async () => {
  const { Conn, log } = recording();
  const s = await start_tls_server(TCP4, Conn, SERVER);
  try {
    const idle = new TlsRecorder({ engine: s.engine });
    assert.throws(
      () => idle.start_tls({ ca: CA }),
      (e: unknown) => e instanceof TrousersError && e.code === 'ERR_NOT_CONNECTED',
    );
    assert.throws(() => idle.start_tls(null as never), (e: unknown) => e instanceof TypeError);
    idle.close();

    const c = new TlsRecorder({ engine: s.engine, tls: { ca: CA } });
    c.connect(['127.0.0.1', port_of(s.server)]);
    await within(c.connected_p.promise, 5000, 'connect');
    assert.throws(
      () => c.start_tls({ ca: CA }),
      (e: unknown) => e instanceof TrousersError && e.code === 'ERR_TLS_ACTIVE',
    );
    const conn = await within(log.first.promise, 5000, 'the server connection');
    await within(conn.connected_p.promise, 5000, 'server connect');
    assert.throws(
      () => conn.start_tls(SERVER),
      (e: unknown) => e instanceof TrousersError && e.code === 'ERR_TLS_ACTIVE',
    );
    c.close();
    assert.throws(() => c.start_tls({ ca: CA }), (e: unknown) => e instanceof ChannelClosedError);
    await within(c.closed_p.promise, 5000, 'close');
  } finally {
    await s.stop();
  }
});

st('start_tls twice on a plaintext stream: the second call throws ERR_TLS_ACTIVE', async () => {
  const { Conn } = recording(SilentStartTlsConn);
  const s = await start_tls_server(TCP4, Conn, null);
  try {
    const c = new StartTlsClient({ engine: s.engine });
    c.connect(['127.0.0.1', port_of(s.server)]);
    await within(c.connected_p.promise, 5000, 'connect');
    c.write('STARTTLS\r\n');
    c.start_tls({ ca: CA });
    assert.throws(
      () => c.start_tls({ ca: CA }),
      (e: unknown) => e instanceof TrousersError && e.code === 'ERR_TLS_ACTIVE',
    );
    await within(c.handshake_p.promise, 5000, 'handshake');
    assert.throws(
      () => c.start_tls({ ca: CA }),
      (e: unknown) => e instanceof TrousersError && e.code === 'ERR_TLS_ACTIVE',
    );
  } finally {
    await s.stop();
  }
});

// ------------------------------------------------------------------------ interop with openssl

const OPENSSL = spawnSync('openssl', ['version'], { encoding: 'utf8' });
const HAVE_OPENSSL = OPENSSL.status === 0;
const o = suite('tls interop with openssl');
const with_openssl = HAVE_OPENSSL ? o : o.skip;
if (!HAVE_OPENSSL) console.log('tls interop with openssl: SKIPPED, `openssl` is not on PATH');

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Spawns openssl with piped stdio; `out` / `err` read its stdout / stderr. */
function openssl(args: string[]): { child: ChildProcess; out: Lines; err: Lines; exited: Promise<number | null>; kill(): Promise<void> } {
  const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  child.stdin!.on('error', () => {});
  return {
    child,
    out: new Lines(child.stdout!),
    err: new Lines(child.stderr!),
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      child.stdin!.destroy(); // 'close' does not wait for stdin: release its pipe here
      await within(exited, 5000, 'openssl to exit');
    },
  };
}

with_openssl('a trousers client talks to `openssl s_server` (TLS 1.3, verified, lines reversed)', async () => {
  const server = openssl(['s_server', '-accept', '127.0.0.1:0', '-cert', fixture('server.crt'), '-key', fixture('server.key'), '-naccept', '1', '-rev']);
  const engine = new Engine();
  try {
    const port = await server.out.until((text) => /^ACCEPT .*:(\d+)$/m.exec(text)?.[1], 'ACCEPT from s_server');
    const c = new TlsRecorder({ engine, tls: { ca: CA } });
    c.read_delimiter = '\n';
    c.encoding = 'utf8';
    c.connect(['127.0.0.1', Number(port)]);
    await within(c.connected_p.promise, 5000, 'connect');
    c.write('hello trousers\n');
    assert.equal(await c.expect_frames(1), ['sresuort olleh']);
    assert.is(c.tls_info?.protocol, 'TLSv1.3');
    assert.is(c.tls_info?.authorized, true);
    assert.is(c.tls_info?.peer_certificate?.subject.CN, 'localhost');
    assert.equal(c.events, ['on_ssl_handshake', 'on_connect', 'on_read']);
  } finally {
    await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
    await server.kill();
  }
});

with_openssl('mutual TLS with `openssl s_server -Verify`: the trousers client presents its certificate', async () => {
  const server = openssl([
    's_server', '-accept', '127.0.0.1:0', '-cert', fixture('server.crt'), '-key', fixture('server.key'),
    '-CAfile', fixture('ca.crt'), '-Verify', '1', '-verify_return_error', '-naccept', '1', '-rev',
  ]);
  const engine = new Engine();
  try {
    const port = await server.out.until((text) => /^ACCEPT .*:(\d+)$/m.exec(text)?.[1], 'ACCEPT from s_server');
    const c = new TlsRecorder({ engine, tls: { ca: CA, ...CLIENT_CERT } });
    c.read_delimiter = '\n';
    c.encoding = 'utf8';
    c.connect(['127.0.0.1', Number(port)]);
    c.write('abc\n');
    assert.equal(await c.expect_frames(1), ['cba']);
    // s_server reports the verified client certificate (on stderr in -rev mode).
    await server.err.until((text) => (/Peer certificate: CN = trousers test client/.test(text) ? true : undefined), "the client's certificate in the s_server log");
    assert.match(server.err.text, /Verification: OK/);
  } finally {
    await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
    await server.kill();
  }
});

with_openssl('`openssl s_client` talks to a trousers TLS server (verified against the CA and the host name)', async () => {
  class LineEcho extends RecConn {
    override on_connect(): void {
      super.on_connect();
      this.read_delimiter = '\n';
    }
    override on_read(line: Buffer): void {
      this.record_frame(line.toString());
      this.write(`echo: ${line.toString().replace(/\r$/, '')}\n`);
    }
  }
  const { Conn, log } = recording(LineEcho);
  const s = await start_tls_server(TCP4, Conn, SERVER);
  const port = port_of(s.server);
  const client = openssl([
    's_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', fixture('ca.crt'),
    '-verify_return_error', '-verify_hostname', 'localhost', '-verify_ip', '127.0.0.1', '-quiet',
  ]);
  try {
    const conn = await within(log.first.promise, 5000, 'accept');
    await within(conn.connected_p.promise, 5000, 'the handshake with s_client');
    client.child.stdin!.write('hello from openssl\n');
    assert.is(await client.out.line('the echo'), 'echo: hello from openssl');
    assert.match(String(conn.tls_info?.protocol), TLS_VERSION);
    assert.equal(conn.events.slice(0, 2), ['on_ssl_handshake', 'on_connect']);
    assert.not.match(client.err.text, /verify error/i);
  } finally {
    await client.kill();
    await s.stop();
  }
});

with_openssl('`openssl s_client -starttls smtp` upgrades a trousers SMTP-style server in place', async () => {
  class Smtp extends RecConn {
    log: string[] = [];
    override on_connect(): void {
      super.on_connect();
      this.read_delimiter = '\n';
      this.write('220 trousers ESMTP ready\r\n');
    }
    override on_ssl_handshake(): void {
      super.on_ssl_handshake();
      this.log.push('on_ssl_handshake');
    }
    override on_read(data: Buffer): void {
      const line = data.toString().replace(/\r$/, '');
      this.log.push(`${this.secure ? 'tls' : 'plain'}:${line}`);
      if (!this.secure && /^EHLO /i.test(line)) this.write('250-trousers\r\n250 STARTTLS\r\n');
      else if (!this.secure && line === 'STARTTLS') {
        this.write('220 go ahead\r\n');
        this.start_tls(SERVER);
      } else if (this.secure) this.write(`${line.toUpperCase()}\r\n`);
      else this.write('503 STARTTLS first\r\n');
    }
  }
  const { Conn, log } = recording(Smtp);
  const s = await start_tls_server(TCP4, Conn, null);
  const port = port_of(s.server);
  const client = openssl([
    's_client', '-connect', `127.0.0.1:${port}`, '-starttls', 'smtp', '-servername', 'localhost',
    '-CAfile', fixture('ca.crt'), '-verify_return_error', '-verify_hostname', 'localhost', '-quiet',
  ]);
  try {
    const conn = await within(log.first.promise, 5000, 'accept');
    await within(conn.handshake_p.promise, 10000, 'the STARTTLS handshake with s_client');
    client.child.stdin!.write('quiet please\n');
    assert.is(await client.out.line('the upper-cased line'), 'QUIET PLEASE');
    assert.equal(conn.log.slice(0, 2).map((l) => l.replace(/^(plain:EHLO) .*/, '$1')), ['plain:EHLO', 'plain:STARTTLS']);
    assert.equal(conn.log.slice(2), ['on_ssl_handshake', 'tls:quiet please']);
    assert.is(conn.events.filter((e) => e === 'on_connect').length, 1);
    assert.is(conn.tls_info?.protocol !== null, true);
  } finally {
    await client.kill();
    await s.stop();
  }
});

// ------------------------------------------------------------------------ the example

const x = suite('starttls_lines example');

x('the STARTTLS line server and client: upgrade on OK, then lines come back in upper case', async () => {
  const engine = new Engine();
  try {
    const server = await starttls_lines.start_server(['127.0.0.1', 0], { engine });
    const port = port_of(server);
    const replies = await within(starttls_lines.run_client(['127.0.0.1', port], { engine, lines: ['hello', 'secure world'] }), 10000, 'the client');
    assert.equal(replies, ['HELLO', 'SECURE WORLD']);
  } finally {
    await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
  }
});

x('the example server refuses lines before STARTTLS, and its client refuses an untrusted server', async () => {
  const engine = new Engine();
  const raw = new net.Socket();
  try {
    const server = await starttls_lines.start_server(['127.0.0.1', 0], { engine });
    const port = port_of(server);
    raw.connect(port, '127.0.0.1');
    const lines = new Lines(raw);
    await connected(raw);
    assert.match(await lines.line(), /STARTTLS/);
    raw.write('hello\r\n');
    assert.match(await lines.line(), /^ERR /);

    const err = await within(
      starttls_lines.run_client(['127.0.0.1', port], { engine, lines: ['x'], tls: { ca: pem('selfsigned.crt') } }).then(
        () => null,
        (e: unknown) => e,
      ),
      10000,
      'the client',
    );
    assert.instance(err, TlsError);
    assert.is(cause_code(err as Error), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  } finally {
    raw.destroy();
    await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
  }
});

x('the command line: a server, and a client that upgrades and prints the replies', async () => {
  const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../examples/starttls_lines.js');
  const server = spawn(process.execPath, [script, '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(server);
  const server_exit = new Promise<void>((r) => server.once('close', () => r()));
  try {
    const out = new Lines(server.stdout!);
    const port = await out.until((text) => /listening on 127\.0\.0\.1:(\d+)/.exec(text)?.[1], 'the server to listen');
    const client = spawn(process.execPath, [script, '--client', port, 'from the cli'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(client);
    const cout = new Lines(client.stdout!);
    const code = await within(new Promise<number | null>((r) => client.once('close', (c) => r(c))), 10000, 'the client to finish');
    children.delete(client);
    assert.is(code, 0, cout.text);
    assert.match(cout.text, /FROM THE CLI/);
  } finally {
    server.kill('SIGKILL');
    await within(server_exit, 5000, 'the server to exit');
    children.delete(server);
  }
});

v.run();
st('resume_reading while a STARTTLS upgrade waits for its plaintext file: the ClientHello that arrives meanwhile is not lost', async () => {
  // The server answers STARTTLS with a 16 MB plaintext file, then OK, and upgrades. The TLS
  // layer goes in only once the file is out, and the client holds the file back until its
  // ClientHello has reached the server: the hello arrives while the upgrade waits.
  const { file } = make_file(files_dir, 'window.bin', 16 * 1024 * 1024);
  const size = fs.statSync(file).size;
  const in_window = deferred<RecConn>();
  class WindowConn extends RecConn {
    override on_connect(): void {
      super.on_connect();
      this.read_delimiter = '\r\n';
    }
    override on_read(line: Buffer): void {
      if (line.toString() !== 'STARTTLS') return;
      this.write_file(file);
      this.write('OK\r\n');
      this.pause_reading();
      this.start_tls(SERVER);
      this.resume_reading(); // inside the window: the plain socket must stay with the bridge
      in_window.resolve(this);
    }
  }
  /** A WireTap that keeps the raw socket paused until released. */
  class HeldTap extends WireTap {
    held = true;
    override _read(): void {
      if (!this.held) super._read();
    }
    release(): void {
      this.held = false;
      super._read();
    }
  }
  const s = await start_tls_server(TCP4, WindowConn, null);
  const raw = raw_connect(s.address);
  try {
    await within(new Promise((resolve) => raw.once('connect', resolve)));
    raw.pause();
    raw.write('STARTTLS\r\n');
    const conn = await within(in_window.promise, 5000, 'STARTTLS at the server');
    const tap = new HeldTap(raw, null, Buffer.from('OK\r\n'));
    const client = tls.connect({ socket: tap as unknown as net.Socket, ca: CA, servername: 'localhost' });
    const secure = new Promise<void>((resolve, reject) => {
      client.once('secureConnect', () => resolve());
      client.once('error', reject);
    });
    // The hello is on the wire; let the server's loop see it while the upgrade still waits.
    await within(new Promise<void>((resolve) => {
      const check = (): void => {
        if (tap.wire_out.length > 0) raw.write(Buffer.alloc(0), () => resolve());
        else setImmediate(check);
      };
      check();
    }));
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.not.ok(conn.secure, 'still waiting for the file to go out');
    tap.release();
    await within(Promise.all([secure, conn.handshake_p.promise]), 10000, 'both handshakes');
    assert.is(tap.plain_in.length, size + 'OK\r\n'.length, 'the whole file, then OK, in plaintext');
    assert.ok(conn.secure);
    client.destroy();
  } finally {
    raw.destroy();
    await s.stop();
  }
});

st.run();
o.run();
x.run();
