/**
 * Fault suite, flow control and memory: a peer that never reads, a peer that never sends the
 * delimiter, and a large transfer through an echo server. Memory stays bounded whatever the
 * peer does, and what was accepted arrives whole and in order (sha256 on both sides).
 */

import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BufferOverflowError, Client, Connection, Engine, Server, type Address } from '../lib/index.js';
import { deferred, TCP4, UNIX, within, type Transport } from './_helpers.js';
import { DataPool, fault_baseline, guard, HostilePeer, note, quiet, rss_mb, until } from './_hostile.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A pool of pseudo-random bytes shared by the specs of this file. */
const pool = new DataPool(8 * MiB, 20240601);

async function listen<C extends Connection>(Conn: new (o: ConstructorParameters<typeof Connection>[0]) => C, transport: Transport, engine: Engine): Promise<{ server: Server<C>; address: Address }> {
  const server = new Server<C>(Conn as never, { engine });
  const ready = deferred();
  server.on_listen = () => ready.resolve();
  server.on_error = (err: Error) => ready.reject(err);
  server.listen(transport.listen_address());
  await within(ready.promise, 5000, 'listen');
  return { server, address: transport.connect_address(server.local_address) };
}

const t = suite('fault: flow control and bounded memory');
t.before(() => void fault_baseline());

t(
  'a peer that never reads while the server writes 200 MB: write() returns false, on_pause_writing / on_resume_writing alternate, the producer stops, RSS stays bounded; once the peer reads, every byte arrives in order (sha256)',
  guard(async () => {
    const TOTAL = 200 * MiB;
    const CHUNK = 64 * KiB;
    const engine = new Engine();
    const rss0 = rss_mb();
    let rss_max = rss0;
    const sample = (): void => {
      rss_max = Math.max(rss_max, rss_mb());
    };
    const done = deferred();
    class Producer extends Connection {
      produced = 0;
      next = 0;
      readonly hash = createHash('sha256');
      false_returns = 0;
      max_buffered = 0;
      water: string[] = [];
      closes = 0;
      errors: Error[] = [];
      override on_connect(): void {
        this.produce();
      }
      produce(): void {
        while (this.produced < TOTAL) {
          const chunk = pool.slice(this.next++, CHUNK);
          this.hash.update(chunk);
          this.produced += chunk.length;
          const ok = this.write(chunk);
          this.max_buffered = Math.max(this.max_buffered, this.write_buffer_size);
          if (!ok) {
            this.false_returns++;
            return;
          }
        }
        this.close();
      }
      override on_pause_writing(): void {
        this.water.push('pause');
        sample();
      }
      override on_resume_writing(): void {
        this.water.push('resume');
        sample();
        this.produce();
      }
      override on_error(err: Error): void {
        this.errors.push(err);
      }
      override on_close(): void {
        this.closes++;
        done.resolve();
      }
    }
    const { server, address } = await listen(Producer, TCP4, engine);
    const peer = HostilePeer.connect(address, { read: false });
    try {
      await within(peer.connected, 5000, 'connect');
      await until(() => server.channels.size === 1, 'the connection');
      const producer = [...server.channels][0]!;
      // The peer reads nothing: the producer pauses and, once the kernel's buffers are full,
      // makes no progress at all.
      await within(until(() => producer.water.includes('pause'), 'on_pause_writing'), 10000, 'pause');
      await within(quiet(() => producer.produced), 10000, 'the producer to stop');
      sample();
      const stalled_at = producer.produced;
      assert.ok(stalled_at < 64 * MiB, `the producer ran ahead of a non-reading peer: ${stalled_at} bytes`);
      assert.ok(producer.write_buffer_size > 0, 'bytes are waiting in the write buffer');
      assert.is(producer.water[producer.water.length - 1], 'pause');
      // Now the peer reads everything.
      peer.read();
      await within(peer.ended, 60000, '200 MB to arrive');
      await within(done.promise, 5000, 'on_close');
      sample();
      note(`200 MB: stalled at ${stalled_at} bytes produced; ${producer.water.length} water-mark calls; ${producer.false_returns} false returns; max buffered ${producer.max_buffered}; RSS +${(rss_max - rss0).toFixed(1)} MiB`);
      assert.is(peer.received, TOTAL);
      assert.is(peer.rx_digest(), producer.hash.digest('hex'), 'sha256 of what arrived = of what was written');
      assert.ok(producer.false_returns > 0, 'write() returned false');
      assert.ok(producer.max_buffered <= 64 * KiB + CHUNK, `write_buffer_size reached ${producer.max_buffered}`);
      for (let i = 0; i < producer.water.length; i++) {
        assert.is(producer.water[i], i % 2 === 0 ? 'pause' : 'resume', `water-mark callbacks alternate: ${producer.water.slice(Math.max(0, i - 3), i + 1).join(',')}`);
      }
      assert.ok(producer.water.length >= 2);
      assert.equal(producer.errors, []);
      assert.is(producer.closes, 1);
      assert.ok(rss_max - rss0 < 150, `RSS grew by ${(rss_max - rss0).toFixed(0)} MiB while 200 MiB went through`);
    } finally {
      peer.destroy();
      await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
    }
  }),
);

for (const transport of [TCP4, UNIX]) {
  t(
    `${transport.name}: a peer that never sends the delimiter: on_overflow_error once at the limit, reading paused, the peer's writes back up, memory bounded`,
    guard(async () => {
      const LIMIT = 256 * KiB;
      const engine = new Engine();
      const overflows: BufferOverflowError[] = [];
      let frames = 0;
      let closes = 0;
      const closed = deferred();
      class Hoard extends Connection {
        override on_connect(): void {
          this.read_delimiter = '\n';
          this.buffer_size = LIMIT;
        }
        override on_read(): void {
          frames++;
        }
        override on_overflow_error(err: BufferOverflowError): void {
          overflows.push(err); // neither closes nor raises the limit: reading stays paused
        }
        override on_close(): void {
          closes++;
          closed.resolve();
        }
      }
      const { server, address } = await listen(Hoard, transport, engine);
      const rss0 = rss_mb();
      const peer = HostilePeer.connect(address);
      try {
        await within(peer.connected, 5000, 'connect');
        const result = await within(peer.flood(Buffer.alloc(64 * KiB, 0x78), 512 * MiB), 30000, 'the flood to stall');
        note(`${transport.name} never-delimiter: peer wrote ${peer.sent} bytes before stalling; buffered ${overflows[0]?.buffered}; RSS +${(rss_mb() - rss0).toFixed(1)} MiB`);
        assert.ok(result.stalled, 'the peer could not write 512 MiB into a paused reader');
        assert.ok(peer.sent < 64 * MiB, `the peer wrote ${peer.sent} bytes before backing up`);
        const conn = [...server.channels][0]!;
        assert.is(overflows.length, 1, 'on_overflow_error once');
        assert.instance(overflows[0], BufferOverflowError);
        assert.is(overflows[0]!.code, 'ERR_BUFFER_OVERFLOW');
        assert.is(overflows[0]!.limit, LIMIT);
        assert.ok(overflows[0]!.buffered > LIMIT && overflows[0]!.buffered <= LIMIT + 64 * KiB, `buffered ${overflows[0]!.buffered}`);
        assert.is(conn.read_buffer_size, overflows[0]!.buffered, 'nothing read while paused, nothing thrown away');
        assert.is(frames, 0);
        assert.ok(rss_mb() - rss0 < 64, `RSS grew by ${(rss_mb() - rss0).toFixed(0)} MiB`);
        assert.ok(conn.connected, 'the connection is still open: the callback decides');
        conn.close(false);
        await within(closed.promise, 5000, 'on_close');
        assert.is(closes, 1);
      } finally {
        peer.destroy();
        await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
      }
    }),
  );
}

t(
  'an oversized frame: on_overflow_error may raise buffer_size and nothing buffered is lost (3 MiB frame, 1 MiB limit, sha256)',
  guard(async () => {
    const engine = new Engine();
    const frames: Buffer[] = [];
    const overflows: BufferOverflowError[] = [];
    const got = deferred();
    class Grow extends Connection {
      override on_connect(): void {
        this.read_delimiter = '\n';
        this.buffer_size = MiB;
      }
      override on_overflow_error(err: BufferOverflowError): void {
        overflows.push(err);
        this.buffer_size = 8 * MiB;
      }
      override on_read(frame: Buffer): void {
        frames.push(frame);
        if (frames.length === 2) got.resolve();
      }
    }
    const { address } = await listen(Grow, TCP4, engine);
    const big = Buffer.from(pool.pool.subarray(0, 3 * MiB));
    for (let i = 0; i < big.length; i++) if (big[i] === 0x0a) big[i] = 0x0b;
    const peer = HostilePeer.connect(address);
    try {
      await within(peer.connected, 5000, 'connect');
      await peer.send_chunks(Buffer.concat([big, Buffer.from('\nrest\n')]), (i) => 1 + ((i * 7919) % 100000), 'burst');
      await within(got.promise, 10000, 'the frames');
      assert.is(overflows.length, 1);
      assert.is(overflows[0]!.limit, MiB);
      assert.is(frames[0]!.length, big.length);
      assert.is(createHash('sha256').update(frames[0]!).digest('hex'), createHash('sha256').update(big).digest('hex'));
      assert.is(frames[1]!.toString(), 'rest');
    } finally {
      peer.destroy();
      await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
    }
  }),
);

t(
  'the high water mark crossed while still connecting: on_pause_writing comes before on_resume_writing (never a resume without its pause)',
  guard(async () => {
    const engine = new Engine();
    class Sink extends Connection {}
    const { address } = await listen(Sink, TCP4, engine);
    const water: string[] = [];
    const resumed = deferred();
    class Early extends Client {
      override on_pause_writing(): void {
        water.push('pause');
      }
      override on_resume_writing(): void {
        water.push('resume');
        resumed.resolve();
      }
    }
    try {
      const c = new Early({ engine }).connect(address);
      assert.is(c.write(Buffer.alloc(256 * KiB)), false, 'above the high water mark before connecting');
      await within(resumed.promise, 5000, 'on_resume_writing');
      assert.equal(water, ['pause', 'resume']);
    } finally {
      await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
    }
  }),
);

const GIB = Number(process.env.TROUSERS_FAULT_ECHO_BYTES ?? 1024 * MiB);

t(
  `${GIB === 1024 * MiB ? '1 GiB' : `${GIB} bytes`} through an echo server with backpressure, then a graceful close: nothing lost (sha256 of sent = of received by the server = of echoed)`,
  guard(async () => {
    const engine = new Engine();
    const server_hash = createHash('sha256');
    let server_received = 0;
    let closes = 0;
    const closed = deferred();
    class Echo extends Connection {
      override on_read(data: Buffer): void {
        server_hash.update(data);
        server_received += data.length;
        if (!this.write(data)) this.pause_reading();
      }
      override on_resume_writing(): void {
        this.resume_reading();
      }
      override on_close(): void {
        closes++;
        closed.resolve();
      }
    }
    const { address } = await listen(Echo, TCP4, engine);
    const rss0 = rss_mb();
    const peer = HostilePeer.connect(address);
    try {
      await within(peer.connected, 5000, 'connect');
      const CHUNK = 256 * KiB;
      await within(peer.pump(GIB, (i) => pool.slice(i, CHUNK)), 60000, 'sending');
      peer.half_close();
      await within(peer.ended, 60000, 'the echo and the server FIN');
      await within(closed.promise, 5000, 'on_close');
      note(`echo: ${GIB} bytes; RSS +${(rss_mb() - rss0).toFixed(1)} MiB`);
      assert.is(peer.sent, GIB);
      assert.is(server_received, GIB);
      assert.is(peer.received, GIB);
      const sent = peer.tx_digest();
      assert.is(server_hash.digest('hex'), sent, 'the server received what was sent');
      assert.is(peer.rx_digest(), sent, 'the echo is what was sent');
      assert.is(closes, 1);
      assert.ok(rss_mb() - rss0 < 200, `RSS grew by ${(rss_mb() - rss0).toFixed(0)} MiB`);
    } finally {
      peer.destroy();
      await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
    }
  }),
);

t.run();
