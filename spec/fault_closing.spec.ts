/**
 * Fault suite, closing: resets in the middle of a write and of a `write_file`, closing while
 * connecting and inside `on_connect`, and `engine.stop()` with a thousand connections and
 * 10 MB queued. Whatever ends a stream, `on_close` runs exactly once, nothing is thrown
 * uncaught, files opened by trousers are closed again, and graceful closes flush everything.
 */

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { open as open_handle } from 'node:fs/promises';
import * as path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ChannelClosedError, Client, Connection, Engine, Server, type Address } from '../lib/index.js';
import { countdown, deferred, temp_dir, TCP4, UNIX, within, type Transport } from './_helpers.js';
import { DataPool, fault_baseline, guard, hostile_server, HostilePeer, note, open_fds, until } from './_hostile.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const pool = new DataPool(4 * MiB, 77);

const files = temp_dir('trousers-fault-');
const BIG_FILE = path.join(files, 'big.bin');
const BIG_SIZE = 32 * MiB;
{
  const fd = fs.openSync(BIG_FILE, 'w');
  for (let i = 0; i < BIG_SIZE / MiB; i++) fs.writeSync(fd, pool.slice(i, MiB));
  fs.closeSync(fd);
}
const BIG_SHA = createHash('sha256').update(fs.readFileSync(BIG_FILE)).digest('hex');

async function listen<C extends Connection>(Conn: new (o: ConstructorParameters<typeof Connection>[0]) => C, transport: Transport, engine: Engine): Promise<{ server: Server<C>; address: Address }> {
  const server = new Server<C>(Conn as never, { engine });
  const ready = deferred();
  server.on_listen = () => ready.resolve();
  server.on_error = (err: Error) => ready.reject(err);
  server.listen(transport.listen_address());
  await within(ready.promise, 5000, 'listen');
  return { server, address: transport.connect_address(server.local_address) };
}

/** What a connection went through. */
interface Log {
  events: string[];
  errors: Error[];
  reason: Error | null;
}

function log(): Log {
  return { events: [], errors: [], reason: null };
}

function count(l: Log, name: string): number {
  return l.events.filter((e) => e === name).length;
}

/** System codes a peer reset may leave in close_reason. */
const PEER_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

function check_reset_close(l: Log, label: string): void {
  assert.is(count(l, 'on_close'), 1, `${label}: on_close once`);
  assert.is(l.events[l.events.length - 1], 'on_close', `${label}: on_close last`);
  assert.equal(l.errors.map(String), [], `${label}: a peer reset is not an error of ours`);
  if (l.reason !== null) {
    const code = (l.reason as NodeJS.ErrnoException).code ?? '';
    assert.ok(PEER_GONE.has(code), `${label}: close_reason ${String(l.reason)}`);
  }
}

const t = suite('fault: closing');
t.before(() => void fault_baseline());

for (const transport of [TCP4, UNIX]) {
  t(
    `${transport.name}: a peer that resets in the middle of a 16 MB write (and of a pending graceful close): on_close once, no on_error, write() then throws ChannelClosedError, a neighbour is unaffected`,
    guard(async () => {
      const engine = new Engine();
      const logs: Log[] = [];
      const closed = countdown(3);
      class Writer extends Connection {
        l = log();
        override on_connect(): void {
          logs.push(this.l);
          this.l.events.push('on_connect');
          this.read_delimiter = '\n';
        }
        override on_read(line: Buffer): void {
          const cmd = line.toString();
          if (cmd === 'big' || cmd === 'big+close') {
            for (let i = 0; i < 256; i++) this.write(pool.slice(i, 64 * KiB));
            if (cmd === 'big+close') this.close();
          } else {
            this.write(`echo:${cmd}\n`);
          }
        }
        override on_error(err: Error): void {
          this.l.errors.push(err);
        }
        override on_close(): void {
          this.l.events.push('on_close');
          this.l.reason = this.close_reason;
          closed.tick();
        }
      }
      const { server, address } = await listen(Writer, transport, engine);
      const a = HostilePeer.connect(address);
      const b = HostilePeer.connect(address);
      const n = HostilePeer.connect(address, { keep: true });
      try {
        await within(Promise.all([a.connected, b.connected, n.connected]), 5000, 'connect');
        await within(until(() => server.channels.size === 3, '3 connections'), 5000, 'accept');
        const conns = [...server.channels];
        await a.send('big\n');
        await b.send('big+close\n');
        await within(Promise.all([a.wait_received(MiB), b.wait_received(MiB)]), 10000, '1 MiB each');
        a.reset();
        b.reset();
        await within(until(() => conns.filter((c) => c.closed).length === 2, 'two closes'), 10000, 'the reset connections to close');
        for (const c of conns.filter((c) => c.closed)) {
          assert.throws(() => c.write('more'), (e: unknown) => e instanceof ChannelClosedError);
          check_reset_close(c.l, `${transport.name} reset`);
        }
        // The neighbour is served as before.
        await n.send('hello\n');
        await within(n.wait_received(11), 5000, 'the neighbour echo');
        assert.is(n.data().toString(), 'echo:hello\n');
        n.destroy();
        await within(closed.done, 5000, 'on_close of all three');
        assert.equal(logs.map((l) => count(l, 'on_close')), [1, 1, 1]);
      } finally {
        for (const p of [a, b, n]) p.destroy();
        await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
      }
      assert.is(engine.channels.size, 0);
    }),
  );
}

t(
  'a trousers Client whose server resets in the middle of its 16 MB write: on_close once, no on_error',
  guard(async () => {
    const hs = await hostile_server(['127.0.0.1', 0]);
    const engine = new Engine();
    const l = log();
    const closed = deferred();
    class Pusher extends Client {
      override on_connect(): void {
        for (let i = 0; i < 256; i++) this.write(pool.slice(i, 64 * KiB));
      }
      override on_error(err: Error): void {
        l.errors.push(err);
      }
      override on_close(): void {
        l.events.push('on_close');
        l.reason = this.close_reason;
        closed.resolve();
      }
    }
    try {
      new Pusher({ engine }).connect(hs.address);
      const peer = await within(hs.next(), 5000, 'accept');
      await within(peer.wait_received(MiB), 5000, '1 MiB');
      peer.reset();
      await within(closed.promise, 5000, 'on_close');
      check_reset_close(l, 'client');
    } finally {
      await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
      await hs.close();
    }
  }),
);

t(
  'peers that reset in the middle of a 32 MB write_file (at 0, 64 KiB, 1 MiB, 8 MiB; TCP and Unix): on_close once each, no uncaught error, every file trousers opened is closed again (/proc/self/fd), a complete transfer is intact',
  guard(async () => {
    const fds_before = open_fds();
    const engine = new Engine();
    const logs: Log[] = [];
    const POINTS = [0, 64 * KiB, MiB, 8 * MiB];
    const conns = POINTS.length * 2 + 1;
    const closed = countdown(conns);
    class FileSender extends Connection {
      l = log();
      override on_connect(): void {
        logs.push(this.l);
        this.write_file(BIG_FILE);
        this.close();
      }
      override on_error(err: Error): void {
        this.l.errors.push(err);
      }
      override on_close(): void {
        this.l.events.push('on_close');
        this.l.reason = this.close_reason;
        closed.tick();
      }
    }
    const tcp = await listen(FileSender, TCP4, engine);
    const unix = await listen(FileSender, UNIX, engine);
    const peers: HostilePeer[] = [];
    try {
      const runs: Promise<void>[] = [];
      for (const address of [tcp.address, unix.address]) {
        for (const at of POINTS) {
          const peer = HostilePeer.connect(address);
          peers.push(peer);
          runs.push(
            (async () => {
              await peer.connected;
              if (at > 0) await peer.wait_received(at);
              peer.reset();
            })(),
          );
        }
      }
      const whole = HostilePeer.connect(tcp.address);
      peers.push(whole);
      await within(Promise.all(runs), 20000, 'the resets');
      await within(whole.ended, 20000, 'the complete transfer');
      assert.is(whole.received, BIG_SIZE);
      assert.is(whole.rx_digest(), BIG_SHA);
      await within(closed.done, 10000, 'every on_close');
      for (const l of logs) check_reset_close(l, 'write_file reset');
      assert.is(logs.length, conns);
    } finally {
      for (const p of peers) p.destroy();
      await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
    }
    if (fds_before !== null) {
      await within(until(() => open_fds() === fds_before, 'the descriptors to be closed'), 10000, 'fds back to their count').catch(() => {});
      assert.is(open_fds(), fds_before, 'open descriptors after = before');
    }
  }),
);

t(
  'write_file of a descriptor and of a FileHandle interrupted by a reset: on_close once, and both stay open (they are the caller\'s)',
  guard(async () => {
    const engine = new Engine();
    const fd = fs.openSync(BIG_FILE, 'r');
    const handle = await open_handle(BIG_FILE, 'r');
    const closed = countdown(2);
    const logs: Log[] = [];
    let next = 0;
    class FileSender extends Connection {
      l = log();
      override on_connect(): void {
        logs.push(this.l);
        this.write_file(next++ === 0 ? fd : handle);
      }
      override on_error(err: Error): void {
        this.l.errors.push(err);
      }
      override on_close(): void {
        this.l.events.push('on_close');
        closed.tick();
      }
    }
    const { address } = await listen(FileSender, TCP4, engine);
    const peers: HostilePeer[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const p = HostilePeer.connect(address);
        peers.push(p);
        await within(p.wait_received(MiB), 5000, '1 MiB');
        p.reset();
      }
      await within(closed.done, 5000, 'on_close');
      for (const l of logs) check_reset_close(l, 'descriptor reset');
      assert.is(fs.fstatSync(fd).size, BIG_SIZE, 'the descriptor is still open');
      assert.is((await handle.stat()).size, BIG_SIZE, 'the FileHandle is still open');
    } finally {
      for (const p of peers) p.destroy();
      await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
      fs.closeSync(fd);
      await handle.close();
    }
  }),
);

for (const transport of [TCP4, UNIX]) {
  t(
    `${transport.name}: close while connecting: nothing queued gives on_close alone; queued data is still delivered by a graceful close; close(false) drops it`,
    guard(async () => {
      const engine = new Engine();
      const received: string[] = [];
      const server_closed = countdown(2);
      class Sink extends Connection {
        data = '';
        override on_read(d: Buffer): void {
          this.data += d.toString();
        }
        override on_close(): void {
          received.push(this.data);
          server_closed.tick();
        }
      }
      const { address } = await listen(Sink, transport, engine);
      const logs: Log[] = [];
      const closed = countdown(3);
      class C extends Client {
        l = log();
        constructor() {
          super({ engine });
          logs.push(this.l);
        }
        override on_connect(): void {
          this.l.events.push('on_connect');
        }
        override on_connect_error(err: Error): void {
          this.l.events.push('on_connect_error');
          this.l.errors.push(err);
        }
        override on_error(err: Error): void {
          this.l.errors.push(err);
        }
        override on_close(): void {
          this.l.events.push('on_close');
          closed.tick();
        }
      }
      try {
        const bare = new C().connect(address);
        bare.close();
        assert.ok(bare.closing || bare.closed);
        const queued = new C().connect(address);
        queued.write('hello');
        queued.close();
        assert.throws(() => queued.write('late'), (e: unknown) => e instanceof ChannelClosedError);
        const dropped = new C().connect(address);
        dropped.write('dropped');
        dropped.close(false);
        await within(closed.done, 5000, 'on_close of the three');
        assert.equal(logs.map((l) => l.events), [['on_close'], ['on_close'], ['on_close']]);
        assert.equal(logs.map((l) => l.errors), [[], [], []]);
        await within(until(() => received.includes('hello'), 'hello to arrive'), 5000, 'the queued bytes');
        assert.not.ok(received.some((r) => r.includes('dropped')), 'close(false) sent nothing');
      } finally {
        await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
      }
    }),
  );
}

t(
  'close inside on_connect: a client gets on_connect then on_close; a server connection that writes then closes in on_connect delivers its bytes, then FIN',
  guard(async () => {
    const engine = new Engine();
    class Bye extends Connection {
      override on_connect(): void {
        this.write('bye\n');
        this.close();
      }
    }
    const { address } = await listen(Bye, TCP4, engine);
    const peer = HostilePeer.connect(address, { keep: true });
    const events: string[] = [];
    const closed = deferred();
    class Quitter extends Client {
      override on_connect(): void {
        events.push('on_connect');
        this.close();
      }
      override on_read(): void {
        events.push('on_read');
      }
      override on_close(): void {
        events.push('on_close');
        closed.resolve();
      }
    }
    try {
      new Quitter({ engine }).connect(address);
      await within(peer.ended, 5000, 'the FIN');
      assert.is(peer.data().toString(), 'bye\n');
      await within(closed.promise, 5000, 'on_close');
      assert.equal(events, ['on_connect', 'on_close']);
    } finally {
      peer.destroy();
      await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
    }
  }),
);

t(
  'a storm of 500 peers that reset right after connecting (TCP and Unix) while neighbours talk: every accepted connection closes once, no on_error, the neighbours are served, the server channel set empties',
  guard(async () => {
    const engine = new Engine();
    const logs: Log[] = [];
    class Storm extends Connection {
      l = log();
      override on_connect(): void {
        logs.push(this.l);
        this.l.events.push('on_connect');
        this.read_delimiter = '\n';
        this.write('welcome\n');
      }
      override on_read(line: Buffer): void {
        this.write(`echo:${line.toString()}\n`);
      }
      override on_error(err: Error): void {
        this.l.errors.push(err);
      }
      override on_close(): void {
        this.l.events.push('on_close');
        this.l.reason = this.close_reason;
      }
    }
    const tcp = await listen(Storm, TCP4, engine);
    const unix = await listen(Storm, UNIX, engine);
    const neighbours = [HostilePeer.connect(tcp.address, { keep: true }), HostilePeer.connect(unix.address, { keep: true })];
    const storm: HostilePeer[] = [];
    try {
      await within(Promise.all(neighbours.map((p) => p.wait_text('welcome\n'))), 5000, 'neighbours');
      for (let i = 0; i < 500; i++) {
        const p = HostilePeer.connect(i % 2 === 0 ? tcp.address : unix.address);
        storm.push(p);
        void p.connected.then(
          () => p.reset(),
          () => {},
        );
        if (i % 50 === 0) for (const n of neighbours) n.socket.write(`ping${i}\n`);
      }
      await within(Promise.all(storm.map((p) => p.closed)), 10000, 'the storm');
      for (const n of neighbours) await within(n.wait_text('echo:ping450\n'), 5000, 'the neighbours');
      for (const n of neighbours) n.destroy();
      await within(until(() => tcp.server.channels.size === 0 && unix.server.channels.size === 0, 'every connection to close'), 10000, 'closes');
      for (const l of logs) check_reset_close(l, 'storm');
      note(`reset storm: ${logs.length} connections accepted of 502`);
    } finally {
      for (const p of [...storm, ...neighbours]) p.destroy();
      await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
    }
    assert.is(engine.channels.size, 0);
  }),
);

t(
  'engine.stop() with 1,000 open connections and 10 MB queued (written in the same tick): everything is flushed, every on_close runs once, the server\'s last',
  guard(async () => {
    const N = 1000;
    const EACH = 10 * KiB;
    const engine = new Engine();
    const order: string[] = [];
    let closes = 0;
    class Held extends Connection {
      closes = 0;
      override on_close(): void {
        this.closes++;
        closes++;
        order.push('conn');
      }
    }
    const { server, address } = await listen(Held, TCP4, engine);
    let server_closes = 0;
    server.on_close = () => {
      server_closes++;
      order.push('server');
    };
    const peers: HostilePeer[] = [];
    try {
      for (let i = 0; i < N; i++) peers.push(HostilePeer.connect(address));
      await within(Promise.all(peers.map((p) => p.connected)), 20000, '1000 connects');
      await within(until(() => server.channels.size === N, '1000 connections'), 20000, 'accepts');
      const conns = [...server.channels];
      let queued = 0;
      for (const c of conns) {
        const port = (c.remote_address as { port: number }).port;
        c.write(pool.slice(port, EACH));
        queued += c.write_buffer_size;
      }
      assert.is(queued, N * EACH, 'all 10 MB queued when stop() is called');
      await within(engine.stop({ timeout: 10000 }), 20000, 'engine.stop');
      await within(Promise.all(peers.map((p) => p.ended)), 10000, 'every FIN');
      for (const p of peers) {
        assert.is(p.received, EACH);
        assert.is(p.rx_digest(), createHash('sha256').update(pool.slice(p.local_port!, EACH)).digest('hex'));
      }
      assert.ok(conns.every((c) => c.closes === 1), 'every on_close once');
      assert.is(closes, N);
      assert.is(server_closes, 1);
      assert.is(order[order.length - 1], 'server');
      assert.is(engine.channels.size, 0);
      assert.is(server.channels.size, 0);
      note(`stop with ${N} connections: ${N * EACH} bytes flushed`);
    } finally {
      for (const p of peers) p.destroy();
      await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
    }
  }),
);

t.run();
