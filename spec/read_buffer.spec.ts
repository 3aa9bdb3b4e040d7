/**
 * Reading through Node's `onread` into a shared buffer (lib/read_buffer.ts, lib/accept.ts):
 * whatever `on_read` is given stays its own, however many reads come after, on the
 * connecting side and on the accepting side, for small reads (copied out of the shared
 * buffer) and for bulk reads (private buffers handed on whole).
 */

import * as crypto from 'node:crypto';
import type * as net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Connection, Engine, Server, StreamServer, type Address } from '../lib/index.js';
import { private_read_bytes, reads_onread } from '../lib/engine/read_buffer.js';
import { start_server } from './_channels.js';
import { deferred, raw_connect, rng, TCP4, UNIX, within, type Transport } from './_helpers.js';

const ROUNDS = 200;
const FRAME = 100;

/** Frame `i` of the ping-pong: FRAME bytes, all equal to a value that depends on i. */
function frame_for(i: number): Buffer {
  return Buffer.alloc(FRAME, (i * 7 + 3) & 0xff);
}

function socket_of(channel: Client | Connection): net.Socket {
  return (channel as unknown as { _socket: net.Socket })._socket;
}

/** Deterministic bytes for the bulk specs. */
function pattern(n: number, seed: number): Buffer {
  const next = rng(seed);
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) out.writeUInt32LE((next() * 2 ** 32) >>> 0, i);
  return out;
}

/** Listens `server` on `address` and resolves once it listens. */
async function listening(server: StreamServer, address: Address): Promise<void> {
  const ready = deferred();
  server.on_listen = () => ready.resolve();
  server.listen(address);
  await within(ready.promise);
}

function sha(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

function over(transport: Transport): void {
  const t = suite(`onread buffers over ${transport.name}`);

  t('connecting side: frames kept from earlier reads are never overwritten', async () => {
    // The server answers request i with frame i; each answer is its own read on the client.
    class Answer extends Connection {
      override on_connect(): void {
        this.read_delimiter = 4;
      }
      override on_read(req: Buffer): void {
        this.write(frame_for(req.readUInt32BE(0)));
      }
    }
    const s = await start_server(transport, Answer);
    const kept: Buffer[] = [];
    const done = deferred();
    class Asker extends Client {
      override on_connect(): void {
        this.read_delimiter = FRAME;
        this.ask(0);
      }
      ask(i: number): void {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(i, 0);
        this.write(b);
      }
      override on_read(frame: Buffer): void {
        kept.push(frame);
        if (kept.length < ROUNDS) this.ask(kept.length);
        else done.resolve();
      }
    }
    const c = new Asker({ engine: s.engine }).connect(s.address);
    await within(done.promise);
    assert.ok(reads_onread(socket_of(c)), 'the client socket reads through onread');
    for (let i = 0; i < ROUNDS; i++) assert.ok(kept[i]!.equals(frame_for(i)), `frame ${i} intact`);
    await s.stop();
  });

  t('accepting side: frames kept from earlier reads are never overwritten', async () => {
    const kept: Buffer[] = [];
    const done = deferred<Connection>();
    class Keeper extends Connection {
      override on_connect(): void {
        this.read_delimiter = FRAME;
      }
      override on_read(frame: Buffer): void {
        kept.push(frame);
        this.write('k');
        if (kept.length === ROUNDS) done.resolve(this);
      }
    }
    const s = await start_server(transport, Keeper);
    const raw = raw_connect(s.address);
    let sent = 0;
    const send = (): void => {
      raw.write(frame_for(sent++));
    };
    raw.on('connect', send);
    raw.on('data', (acks: Buffer) => {
      for (let k = 0; k < acks.length && sent < ROUNDS; k++) send();
    });
    const conn = await within(done.promise);
    assert.ok(reads_onread(socket_of(conn)), 'the accepted socket reads through onread');
    for (let i = 0; i < ROUNDS; i++) assert.ok(kept[i]!.equals(frame_for(i)), `frame ${i} intact`);
    raw.destroy();
    await s.stop();
  });

  t('bulk reads (private buffers) and small reads after them keep every byte', async () => {
    const bulk = pattern(8 * 1024 * 1024, 11);
    const tail = pattern(4096, 12);
    const server_paused = deferred();
    class Producer extends Connection {
      override on_connect(): void {
        this.write(bulk);
      }
      override on_pause_writing(): void {
        server_paused.resolve();
      }
      override on_read(): void {
        // The client has read the bulk: now a run of small writes, one per request.
        this.write(tail.subarray(this.sent_small * 64, (this.sent_small + 1) * 64));
        this.sent_small++;
      }
      sent_small = 0;
    }
    const s = await start_server(transport, Producer);
    const chunks: Buffer[] = [];
    let got = 0;
    const all = deferred();
    class Consumer extends Client {
      override on_connect(): void {
        // Hold reading until the server's buffers are full, so reads come back 64 KiB at a time.
        this.pause_reading();
        void server_paused.promise.then(() => this.resume_reading());
      }
      override on_read(chunk: Buffer): void {
        chunks.push(chunk);
        got += chunk.length;
        if (got >= bulk.length && got < bulk.length + tail.length && (got - bulk.length) % 64 === 0) this.write('n');
        if (got === bulk.length + tail.length) all.resolve();
      }
    }
    const c = new Consumer({ engine: s.engine }).connect(s.address);
    await within(all.promise, 20000, 'bulk transfer');
    assert.ok(reads_onread(socket_of(c)));
    const largest = Math.max(...chunks.map((b) => b.length));
    assert.ok(largest >= 16384, `some reads were bulk reads (largest ${largest} bytes)`);
    assert.is(sha(Buffer.concat(chunks)), sha(Buffer.concat([bulk, tail])), 'every byte, in order, unchanged');
    await s.stop();
    assert.is(private_read_bytes(), 0, 'closed sockets hold no private read buffers');
  });

  t('a socket on_accept keeps for later: bytes wait in Node\'s stream buffer, then reach the Stream after on_connect', async () => {
    const engine = new Engine();
    const later = deferred<net.Socket>();
    class Deferring extends StreamServer {
      override on_accept(socket: net.Socket): void {
        later.resolve(socket); // adopted only after the client's bytes have arrived
      }
    }
    const server = new Deferring({ engine });
    await listening(server, transport.listen_address());
    const raw = raw_connect(transport.connect_address(server.local_address));
    const events: string[] = [];
    const got = deferred();
    try {
      raw.write('early\nbird\n');
      const socket = await within(later.promise);
      await within(new Promise<void>((resolve) => {
        const check = (): void => (socket.readableLength >= 11 ? resolve() : void setImmediate(check));
        check();
      }), 5000, 'the bytes to be buffered');
      class Late extends Connection {
        override on_connect(): void {
          events.push('on_connect');
          this.read_delimiter = '\n';
        }
        override on_read(line: Buffer): void {
          events.push(line.toString());
          if (events.length === 3) got.resolve();
        }
      }
      new Late({ engine, socket });
      await within(got.promise);
      assert.equal(events, ['on_connect', 'early', 'bird']);
    } finally {
      raw.destroy();
      await within(engine.stop({ timeout: 2000 }));
    }
  });

  t('a socket on_accept reads itself (for await) gets every byte, as without onread', async () => {
    const engine = new Engine();
    const received = deferred<Buffer>();
    class Reading extends StreamServer {
      override on_accept(socket: net.Socket): void {
        void (async () => {
          const parts: Buffer[] = [];
          for await (const part of socket) parts.push(part as Buffer);
          socket.end();
          received.resolve(Buffer.concat(parts));
        })();
      }
    }
    const server = new Reading({ engine });
    await listening(server, transport.listen_address());
    const raw = raw_connect(transport.connect_address(server.local_address));
    const payload = pattern(300_000, 5);
    raw.end(payload);
    try {
      assert.is(sha(await within(received.promise)), sha(payload));
    } finally {
      raw.destroy();
      await within(engine.stop({ timeout: 2000 }));
    }
  });

  t.run();
}

over(TCP4);
over(UNIX);

const other = suite('onread: fallbacks and edges');

other('TLS servers keep Node’s own accept path (their sockets are wrapped by TLS)', async () => {
  const { readFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const fixtures = fileURLToPath(new URL('../../spec/fixtures/', import.meta.url));
  const engine = new Engine();
  const accepted = deferred<Connection>();
  class Conn extends Connection {
    override on_connect(): void {
      accepted.resolve(this);
    }
  }
  const server = new Server(Conn, {
    engine,
    tls: { key: readFileSync(fixtures + 'server.key'), cert: readFileSync(fixtures + 'server.crt') },
  });
  await listening(server, ['127.0.0.1', 0]);
  const client = new Client({ engine, tls: { rejectUnauthorized: false } }).connect(server.local_address as { host: string; port: number });
  const conn = await within(accepted.promise);
  assert.not.ok(reads_onread(socket_of(conn)));
  assert.not.ok(reads_onread(socket_of(client)));
  await within(engine.stop({ timeout: 2000 }));
});

other('a server whose Node maxConnections is set takes Node’s own accept path and still works', async () => {
  class Echo extends Connection {
    override on_read(data: Buffer): void {
      this.write(data);
    }
  }
  const s = await start_server(TCP4, Echo);
  const node_server = (s.server as unknown as { _server: net.Server })._server;
  node_server.maxConnections = 100;
  const accepted = deferred<Connection>();
  const on_accept = s.server.on_accept.bind(s.server);
  s.server.on_accept = (socket) => {
    on_accept(socket);
    accepted.resolve([...s.server.channels][0]!);
  };
  const raw = raw_connect(s.address);
  const echoed = deferred<Buffer>();
  raw.on('data', (b: Buffer) => echoed.resolve(b));
  raw.write('ping');
  assert.is((await within(echoed.promise)).toString(), 'ping');
  assert.not.ok(reads_onread(socket_of(await accepted.promise)));
  assert.is(s.server.connection_count, 1);
  raw.destroy();
  await s.stop();
});

other('accepted sockets are announced on diagnostics_channel "net.server.socket", as Node does', async () => {
  const diagnostics_channel = await import('node:diagnostics_channel');
  const seen: net.Socket[] = [];
  const listener = (message: unknown): void => {
    seen.push((message as { socket: net.Socket }).socket);
  };
  diagnostics_channel.subscribe('net.server.socket', listener);
  try {
    const accepted = deferred<Connection>();
    class Conn extends Connection {
      override on_connect(): void {
        accepted.resolve(this);
      }
    }
    const s = await start_server(TCP4, Conn);
    const raw = raw_connect(s.address);
    const conn = await within(accepted.promise);
    assert.is(seen.length, 1);
    assert.ok(seen[0] === socket_of(conn));
    raw.destroy();
    await s.stop();
  } finally {
    diagnostics_channel.unsubscribe('net.server.socket', listener);
  }
});

other('a TCP connection whose peer reset before accept is still taken for TCP (not Unix)', async () => {
  const { spawnSync } = await import('node:child_process');
  const engine = new Engine();
  const connected = deferred<Connection>();
  class Conn extends Connection {
    override on_connect(): void {
      connected.resolve(this);
    }
    override on_error(): void {}
  }
  const server = new Server(Conn, { engine });
  try {
    await listening(server, ['127.0.0.1', 0]);
    const port = (server.local_address as { port: number }).port;
    // A child connects and resets while this process is blocked, so the reset comes before
    // the accept and the accepted socket cannot tell its peer's address.
    const child = spawnSync(process.execPath, ['-e', `const s = require('net').connect(${port}, '127.0.0.1', () => s.resetAndDestroy())`], { timeout: 5000 });
    assert.is(child.status, 0);
    const conn = await within(connected.promise, 5000, 'the accepted connection');
    assert.is(typeof conn.local_address, 'object', `local_address ${JSON.stringify(conn.local_address)}`);
    assert.is((conn.local_address as { port: number }).port, port);
  } finally {
    await within(engine.stop({ timeout: 2000 }));
  }
});

other('a throwing \'data\' listener on a bulk read: the error is still uncaught, and no kept chunk is overwritten', async () => {
  const engine = new Engine();
  const source = pattern(4 * 1024 * 1024, 21);
  const uncaught: Error[] = [];
  const on_uncaught = (err: Error): void => {
    uncaught.push(err);
  };
  process.on('uncaughtException', on_uncaught);
  const kept: { data: Buffer; copy: Buffer; at: number }[] = [];
  const ended = deferred();
  let thrown = 0;
  class Throwing extends StreamServer {
    override on_accept(socket: net.Socket): void {
      let at = 0;
      socket.on('data', (data: Buffer) => {
        kept.push({ data, copy: Buffer.from(data), at });
        at += data.length;
        // Throw on a chunk handed on without a copy (a whole private buffer).
        if (thrown === 0 && data.length >= 65536 && data.buffer.byteLength === data.length) {
          thrown++;
          throw new Error('boom');
        }
      });
      socket.on('end', () => {
        socket.end();
        ended.resolve();
      });
    }
  }
  const server = new Throwing({ engine });
  try {
    await listening(server, ['127.0.0.1', 0]);
    const raw = raw_connect(['127.0.0.1', (server.local_address as { port: number }).port]);
    raw.end(source);
    await within(ended.promise, 10000, 'the whole upload');
    raw.destroy();
    await within(new Promise<void>((resolve) => setImmediate(resolve)));
    assert.is(thrown, 1, 'the listener threw on a private buffer');
    assert.equal(uncaught.map((e) => e.message), ['boom'], 'the throw was not swallowed');
    for (const [i, k] of kept.entries()) {
      assert.ok(k.data.equals(k.copy), `chunk ${i} unchanged after delivery`);
      assert.ok(k.copy.equals(source.subarray(k.at, k.at + k.copy.length)), `chunk ${i} right at delivery`);
    }
    assert.is(kept.reduce((n, k) => n + k.data.length, 0), source.length);
  } finally {
    process.off('uncaughtException', on_uncaught);
    await within(engine.stop({ timeout: 2000 }));
  }
});

other.run();
