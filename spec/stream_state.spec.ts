/**
 * The state grammar of a Stream, read from its public `state` getter at every callback and
 * right after every call that moves it:
 *
 * ```
 * state := idle (connecting [handshaking] | handshaking) open (upgrading open)* closing closed
 * ```
 *
 * Pinned for plaintext streams, TLS from the start, STARTTLS on both sides (an established
 * stream is `upgrading`, still `connected`, never `connecting`, while it upgrades) and a
 * STARTTLS handshake that fails.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Connection, Engine, type StreamState, type TlsError, type TlsOptions } from '../lib/index.js';
import { start_server } from './_channels.js';
import { deferred, TCP4, UNIX, within, type Transport } from './_helpers.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../spec/fixtures');
const pem = (name: string): Buffer => fs.readFileSync(path.join(FIXTURES, name));
const CA = pem('ca.crt');
const SERVER: TlsOptions = { key: pem('server.key'), cert: pem('server.crt') };

/**
 * The grammar as a pattern over the states seen, each run of equal states collapsed to one.
 * Any state may end early in closing / closed (a refused connect, a failed handshake).
 */
const GRAMMAR = /^idle (?:connecting )?(?:handshaking )?(?:open (?:upgrading open )*(?:upgrading )?)?(?:closing )?closed$/;
/** An accepted stream starts past idle (the server made it with a live socket). */
const ACCEPTED = /^(?:connecting )?(?:handshaking )?(?:open (?:upgrading open )*(?:upgrading )?)?(?:closing )?closed$/;

/** Records `state` (with connected / connecting) at each point `seen()` is called. */
class Trail {
  readonly points: string[] = [];
  readonly states: StreamState[] = [];
  constructor(private readonly of: () => { state: StreamState; connected: boolean; connecting: boolean }) {}
  seen(where: string): void {
    const { state, connected, connecting } = this.of();
    this.points.push(`${where}:${state}${connected ? '+connected' : ''}${connecting ? '+connecting' : ''}`);
    if (this.states.at(-1) !== state) this.states.push(state);
  }
  /** The distinct states in order, as one string for the grammar. */
  get line(): string {
    return this.states.join(' ');
  }
}

/** A server connection that upgrades on `STARTTLS`, then echoes lines. */
class UpgradingConnection extends Connection {
  static trails: Trail[] = [];
  readonly trail = new Trail(() => this);
  constructor(options: ConstructorParameters<typeof Connection>[0]) {
    super(options);
    UpgradingConnection.trails.push(this.trail);
    this.trail.seen('constructed');
    this.read_delimiter = '\n';
  }
  override on_connect(): void {
    this.trail.seen('on_connect');
  }
  override on_read(line: Buffer): void {
    this.trail.seen('on_read');
    const text = line.toString();
    if (text === 'STARTTLS') {
      this.write('GO\n');
      this.start_tls(SERVER);
      this.trail.seen('after start_tls');
    } else {
      this.write(`${text}\n`);
    }
  }
  override on_ssl_handshake(): void {
    this.trail.seen('on_ssl_handshake');
  }
  override on_ssl_handshake_error(_err: TlsError): void {
    this.trail.seen('on_ssl_handshake_error');
    this.close(false);
  }
  override on_close(): void {
    this.trail.seen('on_close');
  }
}

/** A client that asks for STARTTLS, sends one line encrypted, and closes on its echo. */
class UpgradingClient extends Client {
  readonly trail = new Trail(() => this);
  readonly done = deferred();
  handshake_error: TlsError | null = null;
  constructor(
    engine: Engine,
    private readonly upgrade: TlsOptions,
  ) {
    super({ engine });
    this.trail.seen('constructed');
    this.read_delimiter = '\n';
  }
  override on_connect(): void {
    this.trail.seen('on_connect');
    this.write('STARTTLS\n');
  }
  override on_read(line: Buffer): void {
    this.trail.seen('on_read');
    if (line.toString() === 'GO') {
      this.start_tls(this.upgrade);
      this.trail.seen('after start_tls');
      this.write('secret\n'); // queued during upgrading, sent encrypted
    } else {
      assert.is(line.toString(), 'secret');
      assert.ok(this.secure);
      this.close();
      this.trail.seen('after close');
    }
  }
  override on_ssl_handshake(): void {
    this.trail.seen('on_ssl_handshake');
  }
  override on_ssl_handshake_error(err: TlsError): void {
    this.handshake_error = err;
    this.trail.seen('on_ssl_handshake_error');
  }
  override on_close(): void {
    this.trail.seen('on_close');
    this.done.resolve();
  }
}

const t = suite('stream state grammar');

for (const transport of [TCP4, UNIX] as Transport[]) {
  t(`${transport.name}: STARTTLS on both sides: open -> upgrading (still connected, never connecting) -> open`, async () => {
    UpgradingConnection.trails = [];
    const s = await start_server(transport, UpgradingConnection);
    const client = new UpgradingClient(s.engine, { ca: CA, servername: 'localhost' });
    client.connect(s.address);
    client.trail.seen('after connect');
    await within(client.done.promise, 10000, 'the client to finish');
    await s.stop();

    assert.equal(client.trail.points, [
      'constructed:idle',
      'after connect:connecting+connecting',
      'on_connect:open+connected',
      'on_read:open+connected',
      'after start_tls:upgrading+connected',
      'on_ssl_handshake:open+connected',
      'on_read:open+connected',
      'after close:closing',
      'on_close:closed',
    ]);
    assert.match(client.trail.line, GRAMMAR);

    const server = UpgradingConnection.trails[0]!;
    assert.equal(server.points.slice(0, 6), [
      'constructed:open+connected',
      'on_connect:open+connected',
      'on_read:open+connected',
      'after start_tls:upgrading+connected',
      'on_ssl_handshake:open+connected',
      'on_read:open+connected',
    ]);
    assert.is(server.points.at(-1), 'on_close:closed');
    assert.match(server.line, ACCEPTED);
  });
}

t('a STARTTLS handshake that fails: upgrading -> closing (on_ssl_handshake_error) -> closed', async () => {
  UpgradingConnection.trails = [];
  const s = await start_server(TCP4, UpgradingConnection);
  // No CA: the client cannot verify the server's certificate.
  const client = new UpgradingClient(s.engine, { servername: 'localhost' });
  client.connect(s.address);
  await within(client.done.promise, 10000, 'the client to close');
  await s.stop();
  assert.ok(client.handshake_error !== null);
  assert.equal(client.trail.points.slice(-4), [
    'on_read:open+connected',
    'after start_tls:upgrading+connected',
    'on_ssl_handshake_error:closing',
    'on_close:closed',
  ]);
  assert.match(client.trail.line, GRAMMAR);
  assert.not.ok(client.secure);
});

t('TLS from the start: connecting -> handshaking -> open on the client; handshaking -> open on the accepted side', async () => {
  const server_trails: Trail[] = [];
  class Echo extends Connection {
    readonly trail = new Trail(() => this);
    constructor(options: ConstructorParameters<typeof Connection>[0]) {
      super(options);
      server_trails.push(this.trail);
      this.trail.seen('constructed');
    }
    override on_ssl_handshake(): void {
      this.trail.seen('on_ssl_handshake');
    }
    override on_connect(): void {
      this.trail.seen('on_connect');
    }
    override on_read(data: Buffer): void {
      this.write(data);
    }
    override on_close(): void {
      this.trail.seen('on_close');
    }
  }
  const s = await start_server(TCP4, Echo, new Engine(), { tls: SERVER });
  const done = deferred();
  const handshaking = deferred();
  class TlsClient extends Client {
    readonly trail = new Trail(() => this);
    override on_ssl_handshake(): void {
      this.trail.seen('on_ssl_handshake');
    }
    override on_connect(): void {
      this.trail.seen('on_connect');
      this.write('x');
    }
    override on_read(): void {
      this.close();
    }
    override on_close(): void {
      this.trail.seen('on_close');
      done.resolve();
    }
  }
  const client = new TlsClient({ engine: s.engine, tls: { ca: CA, servername: 'localhost' } });
  client.trail.seen('constructed');
  client.connect(s.address);
  client.trail.seen('after connect');
  // Sample the state on every turn until the handshake is done, to catch `handshaking`.
  const sample = (): void => {
    client.trail.seen('tick');
    if (client.state === 'open' || client.closed) handshaking.resolve();
    else setImmediate(sample);
  };
  setImmediate(sample);
  await within(handshaking.promise);
  await within(done.promise);
  await s.stop();
  assert.match(client.trail.line, GRAMMAR);
  assert.ok(client.trail.states.includes('handshaking'), `the client was seen handshaking: ${client.trail.line}`);
  assert.ok(client.trail.points.includes('on_ssl_handshake:handshaking+connecting'), 'on_ssl_handshake runs before the stream is open');
  assert.ok(client.trail.points.includes('on_connect:open+connected'));
  const accepted = server_trails[0]!;
  assert.is(accepted.points[0], 'constructed:handshaking+connecting');
  assert.match(accepted.line, ACCEPTED);
});

t('plaintext: idle -> connecting -> open -> closing -> closed; state is read-only', async () => {
  class Plain extends Connection {
    override on_read(data: Buffer): void {
      this.write(data);
    }
  }
  const s = await start_server(TCP4, Plain);
  const done = deferred();
  class C extends Client {
    readonly trail = new Trail(() => this);
    override on_connect(): void {
      this.trail.seen('on_connect');
      this.close();
      this.trail.seen('after close');
    }
    override on_close(): void {
      this.trail.seen('on_close');
      done.resolve();
    }
  }
  const c = new C({ engine: s.engine });
  c.trail.seen('constructed');
  assert.throws(() => {
    (c as unknown as { state: string }).state = 'open';
  }, TypeError);
  c.connect(s.address);
  c.trail.seen('after connect');
  await within(done.promise);
  await s.stop();
  assert.is(c.trail.line, 'idle connecting open closing closed');
});

t.run();
