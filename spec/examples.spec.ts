/**
 * The examples, driven in-process over real loopback / Unix sockets with raw node:net and
 * node:dgram peers; their command lines, spawned; and the tour.
 * Every wait is on an event (bounded by `within`), never a sleep.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConnectError, Engine, ListenError, type Address, type InetAddress } from '../lib/index.js';
import * as binary from '../examples/binary_protocol.js';
import * as chat from '../examples/chat_server.js';
import * as client from '../examples/client.js';
import * as echo from '../examples/echo_server.js';
import { run_tour } from '../examples/tour.js';
import * as daemon from '../examples/unix_daemon.js';
import * as udp from '../examples/udp_service.js';
import { capture_stderr, deferred, raw_connect, raw_server, sock_path, TCP4, temp_dir, within } from './_helpers.js';

const LOOPBACK: Address = ['127.0.0.1', 0];

function port_of(channel: { local_address: unknown }): number {
  return (channel.local_address as InetAddress).port;
}

function address_of(channel: { local_address: unknown }): Address {
  return ['127.0.0.1', port_of(channel)];
}

/** A raw socket's bytes, waited on by count or by line. */
class Peer {
  private data = Buffer.alloc(0);
  private changed = deferred();
  ended = false;

  /**
   * @param hang_up - like nc, end our side when the server ends its side (raw_connect
   *   allows half-open connections, so this is not automatic)
   */
  constructor(readonly socket: net.Socket, hang_up = true) {
    socket.on('data', (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
      this.poke();
    });
    socket.on('end', () => {
      if (hang_up) socket.end();
      this.ended = true;
      this.poke();
    });
    socket.on('error', () => {
      this.ended = true;
      this.poke();
    });
  }

  static connect(address: Address, hang_up = true): Peer {
    return new Peer(raw_connect(address), hang_up);
  }

  private poke(): void {
    const d = this.changed;
    this.changed = deferred();
    d.resolve();
  }

  /** Waits until `ready()` returns a value, re-checking on each arrival. */
  private async until<T>(ready: () => T | undefined, what: string): Promise<T> {
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      if (this.ended) throw new Error(`connection ended while waiting for ${what}; had ${JSON.stringify(this.data.toString('latin1'))}`);
      await within(this.changed.promise, 5000, what);
    }
  }

  /** The next `n` bytes. */
  bytes(n: number): Promise<Buffer> {
    return this.until(() => {
      if (this.data.length < n) return undefined;
      const out = this.data.subarray(0, n);
      this.data = this.data.subarray(n);
      return out;
    }, `${n} bytes`);
  }

  /** The next line, without its newline. */
  line(): Promise<string> {
    return this.until(() => {
      const i = this.data.indexOf(10);
      if (i < 0) return undefined;
      const out = this.data.subarray(0, i).toString('utf8');
      this.data = this.data.subarray(i + 1);
      return out;
    }, 'a line');
  }

  /** Resolves once the other side has ended the stream; returns what was left unread. */
  async end(): Promise<Buffer> {
    await this.until(() => (this.ended ? true : undefined), 'the end of the stream');
    return this.data;
  }

  send(data: string | Uint8Array): void {
    this.socket.write(data);
  }
}

/** Runs `fn` with a fresh engine, stopping it afterwards whatever happens. */
async function with_engine(fn: (engine: Engine) => Promise<void>): Promise<void> {
  const engine = new Engine();
  try {
    await fn(engine);
  } finally {
    await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
  }
}

// ------------------------------------------------------------------------ echo

test('echo: lines and binary data come back unchanged', () =>
  with_engine(async (engine) => {
    const server = await echo.start(LOOPBACK, { engine });
    assert.ok(server.listening);
    const peer = Peer.connect(address_of(server));
    peer.send('hello\n');
    assert.is(await peer.line(), 'hello');
    const blob = Buffer.alloc(256 * 1024, 0);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 7 + (i >> 8)) & 0xff;
    peer.send(blob);
    assert.ok((await peer.bytes(blob.length)).equals(blob));
    peer.socket.end();
    assert.is((await peer.end()).length, 0, 'the server hangs up after our FIN');
  }),
);

test('echo: serves several clients at once', () =>
  with_engine(async (engine) => {
    const server = await echo.start(LOOPBACK, { engine });
    const peers = [0, 1, 2].map(() => Peer.connect(address_of(server)));
    peers.forEach((p, i) => p.send(`client ${i}\n`));
    assert.equal(await Promise.all(peers.map((p) => p.line())), ['client 0', 'client 1', 'client 2']);
    assert.is(server.channels.size, 3);
  }),
);

test('echo: start rejects with a ListenError when the port is taken', () =>
  with_engine(async (engine) => {
    const taken = await raw_server(TCP4, (s) => s.destroy());
    try {
      // The server's own (default) on_error runs first and says so on stderr; then the
      // promise rejects with the same error.
      const { value: err, text } = await capture_stderr(() =>
        echo.start(taken.address, { engine }).then(
          () => null,
          (e: unknown) => e,
        ),
      );
      assert.instance(err, ListenError);
      assert.is((err as ListenError).syscode, 'EADDRINUSE');
      assert.match(text, /EADDRINUSE/);
    } finally {
      await taken.close();
    }
  }),
);

// ------------------------------------------------------------------------ chat

test('chat: welcome, nicknames, broadcast to the others, /who, /quit and leave notices', () =>
  with_engine(async (engine) => {
    const room = await chat.start(LOOPBACK, { engine });
    const a = Peer.connect(address_of(room));
    assert.match(await a.line(), /^\* welcome, guest1!/);
    const b = Peer.connect(address_of(room));
    assert.match(await b.line(), /^\* welcome, guest2!/);
    assert.is(await a.line(), '* guest2 joined');

    a.send('/nick alice\r\n'); // \r\n works too
    assert.is(await a.line(), '* you are now alice');
    assert.is(await b.line(), '* guest1 is now alice');
    b.send('/nick alice\n');
    assert.is(await b.line(), '* alice is taken');
    b.send('/nick b@d\n');
    assert.match(await b.line(), /^\* usage: \/nick NAME/);
    b.send('/nick bob\n');
    assert.is(await b.line(), '* you are now bob');
    assert.is(await a.line(), '* guest2 is now bob');

    // A line split over several writes is still one line; the sender does not get it back.
    a.send('hi ');
    a.send('b');
    a.send('ob\n');
    assert.is(await b.line(), '<alice> hi bob');
    b.send('\n'); // blank lines are ignored
    b.send('hello alice\n');
    assert.is(await a.line(), '<bob> hello alice');

    b.send('/who\n');
    assert.is(await b.line(), '* online: alice, bob');
    b.send('/dance\n');
    assert.is(await b.line(), '* unknown command /dance');
    b.send('/quit\n');
    assert.is(await b.line(), '* bye');
    await b.end();
    assert.is(await a.line(), '* bob left');
    // Nothing else reached alice: her own lines were not echoed to her.
    a.send('/who\n');
    assert.is(await a.line(), '* online: alice');
  }),
);

test('chat: a line over buffer_size is refused and the member is let go', () =>
  with_engine(async (engine) => {
    const room = await chat.start(LOOPBACK, { engine });
    const a = Peer.connect(address_of(room));
    await a.line();
    const b = Peer.connect(address_of(room));
    await b.line();
    await a.line(); // guest2 joined
    b.send('x'.repeat(5000));
    assert.is(await b.line(), '* line too long, bye');
    await b.end();
    assert.is(await a.line(), '* guest2 left');
  }),
);

test('chat: stopping the engine closes every member quietly', async () => {
  const engine = new Engine();
  const room = await chat.start(LOOPBACK, { engine });
  const peers = [Peer.connect(address_of(room)), Peer.connect(address_of(room))];
  await Promise.all(peers.map((p) => p.line()));
  await within(engine.stop(), 5000, 'engine.stop');
  for (const p of peers) await p.end();
  assert.is(room.channels.size, 0);
  assert.ok(room.closed);
});

// ------------------------------------------------------------------------ udp

/** Sends `request` from a raw UDP socket and resolves with the reply packet. */
function udp_ask(socket: dgram.Socket, to: Address, request: string): Promise<string> {
  const [host, port] = to as [string, number];
  return within(
    new Promise<string>((resolve, reject) => {
      socket.once('message', (msg: Buffer) => resolve(msg.toString('utf8')));
      socket.send(request, port, host, (err) => err && reject(err));
    }),
    5000,
    `a reply to ${request}`,
  );
}

test('udp: answers each packet to its sender', () =>
  with_engine(async (engine) => {
    const service = await udp.start(LOOPBACK, { engine });
    const to = address_of(service);
    const socket = dgram.createSocket('udp4');
    const other = dgram.createSocket('udp4');
    try {
      assert.is(await udp_ask(socket, to, 'ping'), 'pong\n');
      assert.is(await udp_ask(socket, to, '  PING \n'), 'pong\n');
      assert.is(await udp_ask(socket, to, 'upper trousers and pants\n'), 'TROUSERS AND PANTS\n');
      const time = await udp_ask(other, to, 'time');
      assert.ok(Math.abs(Date.parse(time.trim()) - Date.now()) < 60_000, time);
      assert.match(await udp_ask(socket, to, 'nonsense'), /^error: unknown request "nonsense"/);
      assert.is(await udp_ask(socket, to, 'stats'), 'served 6 packets from 2 senders\n');
      assert.is(service.served, 6);
    } finally {
      socket.close();
      other.close();
    }
  }),
);

// ------------------------------------------------------------------------ unix daemon

test('unix daemon: the line protocol, on a 0600 socket that is removed on stop', async () => {
  const engine = new Engine();
  const sock = sock_path('kv');
  try {
    const kv = await daemon.start(sock, { engine });
    assert.is(kv.local_address, sock);
    assert.is(fs.statSync(sock).mode & 0o777, 0o600);

    const a = Peer.connect(sock);
    const ask = async (peer: Peer, line: string): Promise<string> => {
      peer.send(`${line}\n`);
      return peer.line();
    };
    assert.is(await ask(a, 'SET greeting hello, wide world'), 'OK');
    assert.is(await ask(a, 'get greeting'), 'OK hello, wide world');
    assert.is(await ask(a, 'SET greeting'), 'ERR usage: SET key value');
    assert.is(await ask(a, 'GET'), 'ERR usage: GET key');
    assert.is(await ask(a, 'GET nothing'), 'ERR no such key');
    assert.is(await ask(a, 'SET b 2'), 'OK');
    assert.is(await ask(a, 'KEYS'), 'OK b greeting');
    a.send('\n  \n'); // blank lines get no reply
    assert.is(await ask(a, 'FLY'), 'ERR unknown command FLY; try SET, GET, DEL, KEYS, QUIT');

    // The store is shared by every connection.
    const b = Peer.connect(sock);
    assert.is(await ask(b, 'DEL b'), 'OK');
    assert.is(await ask(b, 'DEL b'), 'ERR no such key');
    assert.is(await ask(a, 'KEYS'), 'OK greeting');
    assert.equal([...kv.store], [['greeting', 'hello, wide world']]);

    assert.is(await ask(b, 'quit'), 'OK bye');
    assert.is((await b.end()).length, 0);

    a.send(`SET big ${'x'.repeat(5000)}`);
    assert.is(await a.line(), 'ERR line too long, bye');
    await a.end();
  } finally {
    await within(engine.stop(), 5000, 'engine.stop');
  }
  assert.not.ok(fs.existsSync(sock), 'socket file removed');
});

test('unix daemon: an idle client is told off and disconnected', () =>
  with_engine(async (engine) => {
    const sock = sock_path('kv');
    const kv = await daemon.start(sock, { engine });
    const peer = Peer.connect(sock);
    peer.send('KEYS\n');
    assert.is(await peer.line(), 'OK');
    // The real timeout is minutes; shorten it on the live session.
    for (const session of kv.channels) session.idle_timeout = 30;
    assert.is(await peer.line(), 'ERR idle for too long, bye');
    await peer.end();
  }),
);

test('unix daemon: a client that never hangs up after the goodbye is dropped, quietly', () =>
  with_engine(async (engine) => {
    const sock = sock_path('kv');
    const kv = await daemon.start(sock, { engine });
    const peer = Peer.connect(sock, false);
    peer.send('KEYS\n');
    assert.is(await peer.line(), 'OK');
    const [session] = kv.channels;
    const closed = new Promise<void>((resolve) => {
      const on_close = session!.on_close;
      session!.on_close = () => {
        on_close.call(session);
        resolve();
      };
    });
    const { text } = await capture_stderr(async () => {
      session!.idle_timeout = 30;
      assert.is(await peer.line(), 'ERR idle for too long, bye');
      await peer.end(); // the daemon's FIN; we keep our side open...
      await within(closed, 5000, 'the daemon to drop us'); // ...until its timer fires again
    });
    assert.is(text, '', 'no error reported');
    assert.is(kv.channels.size, 0);
    peer.socket.destroy();
  }),
);

// ------------------------------------------------------------------------ binary protocol

/** Reads one message (header, then body) from a raw peer. */
async function read_message(peer: Peer): Promise<{ kind: number; body: Buffer }> {
  const [kind, length] = binary.HEADER.unpack(await peer.bytes(binary.HEADER.size)) as [number, number];
  return { kind, body: length === 0 ? Buffer.alloc(0) : await peer.bytes(length) };
}

test('binary: ECHO, SUM and errors over a raw socket, whole or byte by byte', () =>
  with_engine(async (engine) => {
    const server = await binary.start(LOOPBACK, { engine });
    const peer = Peer.connect(address_of(server));

    // One byte per write: the header and body are still framed correctly.
    for (const byte of binary.message(binary.Kind.ECHO, Buffer.from('hello'))) peer.send(Buffer.from([byte]));
    assert.equal(await read_message(peer), { kind: 1, body: Buffer.from('hello') });

    // Several messages in one write: replies come back in order.
    peer.send(
      Buffer.concat([
        binary.message(binary.Kind.SUM, binary.sum_request([1, 2, 3, -4])),
        binary.message(binary.Kind.ECHO),
        binary.message(binary.Kind.SUM, Buffer.from([0, 0, 1])),
        binary.message(7, Buffer.from('?')),
        binary.message(binary.Kind.SUM, binary.sum_request([2 ** 31 - 1, 2 ** 31 - 1, -(2 ** 31)])),
      ]),
    );
    const sum = await read_message(peer);
    assert.is(sum.kind, binary.Kind.SUM);
    assert.is(sum.body.readBigInt64BE(0), 2n);
    assert.equal(await read_message(peer), { kind: 1, body: Buffer.alloc(0) });
    assert.equal(await read_message(peer), { kind: 255, body: Buffer.from('SUM needs a whole number of int32s') });
    assert.equal(await read_message(peer), { kind: 255, body: Buffer.from('unknown message kind 7') });
    assert.is((await read_message(peer)).body.readBigInt64BE(0), 2n ** 31n - 2n);

    // The largest body a u16 length allows.
    const big = Buffer.alloc(65535, 0x5a);
    peer.send(binary.message(binary.Kind.ECHO, big));
    const back = await read_message(peer);
    assert.ok(back.body.equals(big));

    // The printf example of the module's docs, byte for byte.
    peer.send(Buffer.from([0o2, 0o0, 0o10, 0, 0, 0, 0o50, 0, 0, 0, 0o2]));
    assert.is((await read_message(peer)).body.readBigInt64BE(0), 42n);
  }),
);

test('binary: BinaryClient matches replies to requests in order', () =>
  with_engine(async (engine) => {
    const server = await binary.start(LOOPBACK, { engine });
    const c = new binary.BinaryClient({ engine }).connect(address_of(server));
    const [e, s, x] = await within(
      Promise.all([
        c.request(binary.Kind.ECHO, Buffer.from('one')),
        c.request(binary.Kind.SUM, binary.sum_request([5, 6])),
        c.request(42),
      ]),
      5000,
      'three replies',
    );
    assert.equal(e, { kind: 1, body: Buffer.from('one') });
    assert.is(binary.BinaryClient.sum_of(s), 11n);
    assert.is(x.kind, binary.Kind.ERROR);
    // A request still waiting when the connection ends is rejected.
    const pending = c.request(binary.Kind.ECHO, Buffer.from('late'));
    c.close(false);
    await within(pending.then(() => assert.unreachable('should reject'), (err: unknown) => assert.instance(err, Error)), 5000, 'rejection');
  }),
);

// ------------------------------------------------------------------------ client

test('client: one reply per line from the echo server, then a clean hang-up', () =>
  with_engine(async (engine) => {
    const server = await echo.start(LOOPBACK, { engine });
    const c = client.start(address_of(server), ['one', 'two', 'three ✓'], { engine });
    assert.equal(await within(c.done, 5000, 'replies'), ['one', 'two', 'three ✓']);
    assert.ok(c.closed);
    assert.is(c.error, null);
  }),
);

test('client: works over a Unix socket, and with a server that hangs up first', () =>
  with_engine(async (engine) => {
    const sock = sock_path('kv');
    await daemon.start(sock, { engine });
    const replies = await within(client.start(sock, ['SET k v', 'GET k', 'QUIT', 'GET k'], { engine }).done, 5000, 'replies');
    assert.equal(replies, ['OK', 'OK v', 'OK bye']);
  }),
);

test('client: a raw server sees each line only after the previous reply', () =>
  with_engine(async (engine) => {
    const seen: string[] = [];
    const server = await raw_server(TCP4, (socket) => {
      let buffered = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buffered += chunk;
        let i: number;
        while ((i = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, i);
          buffered = buffered.slice(i + 1);
          seen.push(line);
          // Had the client not waited, a later line would already be buffered here.
          socket.write(`${line.length} ${buffered.length}\r\n`);
        }
      });
      socket.on('end', () => socket.end());
    });
    try {
      const replies = await within(client.start(server.address, ['a', 'bb', 'ccc'], { engine }).done, 5000, 'replies');
      assert.equal(replies, ['1 0', '2 0', '3 0']);
      assert.equal(seen, ['a', 'bb', 'ccc']);
    } finally {
      await server.close();
    }
  }),
);

test('client: a server that never answers is given up on', () =>
  with_engine(async (engine) => {
    class Impatient extends client.LineClient {
      override on_connect(): void {
        super.on_connect();
        this.idle_timeout = 30; // instead of TIMEOUT
      }
    }
    const sockets: net.Socket[] = [];
    const silent = await raw_server(TCP4, (socket) => sockets.push(socket));
    try {
      const c = new Impatient(['anyone there?'], { engine }).connect(silent.address);
      const err = await within(c.done.then(() => null, (e: unknown) => e), 5000, 'the timeout');
      assert.instance(err, Error);
      assert.match((err as Error).message, /^no reply within/);
      assert.ok(c.closed);
    } finally {
      for (const socket of sockets) socket.destroy();
      await silent.close();
    }
  }),
);

test('client: a failed connect rejects done with a ConnectError', () =>
  with_engine(async (engine) => {
    const missing = path.join(temp_dir(), 'nobody-here.sock');
    const c = client.start(missing, ['hello'], { engine });
    const err = await within(c.done.then(() => null, (e: unknown) => e), 5000, 'the connect error');
    assert.instance(err, ConnectError);
    assert.is((err as ConnectError).syscode, 'ENOENT');
    assert.ok(c.closed);
  }),
);

// ------------------------------------------------------------------------ command lines and the tour

const DIST_EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

/**
 * Spawns `node dist/examples/<name>.js ...args`, resolves with its first stdout line and
 * the child, which the caller ends.
 */
interface Spawned {
  first: string;
  exited: Promise<number | null>;
  child: ReturnType<typeof spawn>;
}

function spawn_example(name: string, args: string[]): Promise<Spawned> {
  const child = spawn(process.execPath, [path.join(DIST_EXAMPLES, `${name}.js`), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return within(
    new Promise<Spawned>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve({ first: out.slice(0, nl), exited, child });
      });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
      child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before printing: ${err}`)));
    }),
    10_000,
    `${name} to start`,
  ).catch((e: unknown) => {
    child.kill();
    throw e;
  });
}

test('command lines: each server starts, prints a try: line, and answers', async () => {
  for (const name of ['echo_server', 'chat_server', 'binary_protocol']) {
    const { first, exited, child } = await spawn_example(name, ['0']);
    try {
      const m = /listening on 127\.0\.0\.1:(\d+); try: .*127\.0\.0\.1.(\d+)/.exec(first);
      assert.ok(m, `${name} printed: ${first}`);
      assert.is(m![1], m![2]);
      const peer = Peer.connect(['127.0.0.1', Number(m![1])]);
      if (name === 'binary_protocol') {
        peer.send(binary.message(binary.Kind.ECHO, Buffer.from('cli')));
        assert.equal(await read_message(peer), { kind: 1, body: Buffer.from('cli') });
      } else {
        peer.send('cli\n');
        assert.match(await peer.line(), name === 'echo_server' ? /^cli$/ : /^\* welcome/);
      }
      peer.socket.destroy();
    } finally {
      child.kill('SIGTERM');
      await within(exited, 5000, `${name} to exit`);
    }
  }

  const { first: udp_first, exited: udp_exited, child: udp_child } = await spawn_example('udp_service', ['0']);
  try {
    const port = Number(/127\.0\.0\.1:(\d+); try: nc -u 127\.0\.0\.1 \d+/.exec(udp_first)![1]);
    const socket = dgram.createSocket('udp4');
    assert.is(await udp_ask(socket, ['127.0.0.1', port], 'ping'), 'pong\n');
    socket.close();
  } finally {
    udp_child.kill('SIGTERM');
    await within(udp_exited, 5000, 'udp_service to exit');
  }
});

test('command lines: the daemon stops gracefully on SIGTERM and removes its socket', async () => {
  const sock = sock_path('cli');
  const { first, exited, child } = await spawn_example('unix_daemon', [sock]);
  assert.is(first, `kv daemon listening on ${sock}; try: nc -U ${sock} (then type: SET greeting hello)`);
  const peer = Peer.connect(sock);
  peer.send('SET a 1\nGET a\n');
  assert.is(await peer.line(), 'OK');
  assert.is(await peer.line(), 'OK 1');
  child.kill('SIGTERM');
  await peer.end(); // the daemon hangs up on its clients as it stops
  assert.is(await within(exited, 5000, 'the daemon to exit'), 0);
  assert.not.ok(fs.existsSync(sock));
});

test('command lines: the client talks to a server and prints each exchange', async () => {
  const engine = new Engine();
  const server = await echo.start(LOOPBACK, { engine });
  try {
    const child = spawn(process.execPath, [path.join(DIST_EXAMPLES, 'client.js'), String(port_of(server)), 'hi', 'there'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const code = await within(new Promise((resolve) => child.once('exit', resolve)), 10_000, 'the client to exit');
    assert.is(code, 0);
    assert.is(out, '> hi\n< hi\n> there\n< there\n');
  } finally {
    await engine.stop();
  }
});

test('tour: run_tour passes every check, in process', async () => {
  const lines: string[] = [];
  const ok = await within(run_tour({ log: (line) => lines.push(line) }), 60_000, 'the tour');
  assert.ok(ok, lines.join('\n'));
  assert.not.ok(lines.some((l) => l.endsWith('✗')), lines.join('\n'));
  assert.match(lines.at(-1)!, /^tour: all \d+ checks passed/);
  // What the tour says it runs, it runs: STARTTLS and the Python workers included.
  assert.ok(lines.some((l) => l.startsWith('starttls: STARTTLS') && l.endsWith('✓')), 'STARTTLS was checked');
  assert.ok(lines.some((l) => l.startsWith('workers: ') && (l.endsWith('✓') || l.includes('skipped'))), 'the workers ran (or were named as skipped)');
});

test('tour: a check that cannot finish in time fails instead of hanging', async () => {
  const lines: string[] = [];
  const ok = await within(run_tour({ log: (line) => lines.push(line), timeout: 1 }), 20_000, 'the tour');
  assert.not.ok(ok);
  assert.ok(lines.some((l) => l.startsWith('tour: gave up after 1 ms')), lines.join('\n'));
});

test('tour: the command line exits 0 by itself', async () => {
  const child = spawn(process.execPath, [path.join(DIST_EXAMPLES, 'tour.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await within(new Promise((resolve) => child.once('exit', resolve)), 60_000, 'the tour to exit');
  assert.is(code, 0, out);
  assert.match(out, /tour: all \d+ checks passed/);
});

test.run();
