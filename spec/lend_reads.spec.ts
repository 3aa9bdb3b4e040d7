/**
 * `lend_reads`: a stream that opts in gets views of its read buffer, which the engine reads
 * into again only when nothing may still hold it.
 * - an echo whose replies the kernel takes at once reads into the same memory again;
 * - a slow reader peer (partial writes: the reply stays queued in the outbox or in Node's
 *   socket) never sees corrupted bytes, with and without backpressure: checksums match;
 * - a lent read written to another stream (a proxy to a slow peer) arrives intact;
 * - frames cut by a delimiter, and every read of a stream that did not opt in, stay the
 *   user's to keep.
 */

import { createHash, randomBytes } from 'node:crypto';
import type * as net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Connection, Engine, type Address } from '../lib/index.js';
import { start_server } from './_channels.js';
import { deferred, raw_connect, raw_server, read_all, TCP4, UNIX, within, type Transport } from './_helpers.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Writes `data` to `sock` in pieces of `piece` bytes, then ends it. */
function send_all(sock: net.Socket, data: Buffer, piece = 65536): void {
  for (let i = 0; i < data.length; i += piece) sock.write(data.subarray(i, Math.min(data.length, i + piece)));
  sock.end();
}

for (const transport of [TCP4, UNIX] as Transport[]) {
  const t = suite(`lend_reads over ${transport.name}`);

  t('an echo whose replies the kernel takes reads into the same memory again', async () => {
    const memories = new Set<ArrayBufferLike>();
    let big_reads = 0;
    class Echo extends Connection {
      override lend_reads = true;
      override on_read(data: Buffer): void {
        if (data.length >= 8192) {
          big_reads++;
          memories.add(data.buffer); // (its identity only: the bytes are not looked at later)
        }
        this.write(data);
      }
    }
    const s = await start_server(transport, Echo);
    const data = randomBytes(8 * 1024 * 1024);
    const sock = raw_connect(s.address);
    const got = read_all(sock);
    send_all(sock, data);
    const back = await within(got, 20000, 'echo');
    assert.is(back.length, data.length);
    assert.is(sha(back), sha(data), 'every byte echoed intact');
    assert.ok(big_reads >= 8, `bulk reads happened (${big_reads})`);
    assert.ok(memories.size < big_reads / 2, `read memory reused: ${memories.size} distinct buffers for ${big_reads} reads`);
    await s.stop();
  });

  for (const backpressure of [true, false]) {
    t(`a slow reader forcing partial writes gets every byte intact (${backpressure ? 'with' : 'without'} backpressure)`, async () => {
      const size = 8 * 1024 * 1024;
      const held = deferred();
      let received = 0;
      let queued_after_write = 0;
      class Echo extends Connection {
        override lend_reads = true;
        override on_read(data: Buffer): void {
          received += data.length;
          this.write(data);
          if (this.write_buffer_size > 0) queued_after_write++; // the reply is still held: not reused
          if (!backpressure && received === size) held.resolve();
        }
        override on_pause_writing(): void {
          if (!backpressure) return;
          this.pause_reading();
          held.resolve();
        }
        override on_resume_writing(): void {
          if (backpressure) this.resume_reading();
        }
      }
      const s = await start_server(transport, Echo);
      const data = randomBytes(size);
      const sock = raw_connect(s.address);
      sock.pause(); // the slow reader: nothing is read until the server is backed up
      const got = read_all(sock);
      sock.pause();
      send_all(sock, data, 50000);
      await within(held.promise, 20000, 'server backed up');
      sock.resume();
      const back = await within(got, 20000, 'echo');
      assert.is(back.length, size);
      assert.is(sha(back), sha(data), 'every byte echoed intact');
      assert.ok(queued_after_write > 0, 'some replies were not taken whole by the kernel at once');
      await s.stop();
    });
  }

  t('a lent read written to another stream (a proxy to a slow peer) arrives intact', async () => {
    const size = 6 * 1024 * 1024;
    const engine = new Engine();
    const sink_ready = deferred<net.Socket>();
    const sink = await raw_server(transport, (socket) => {
      socket.pause(); // slow: reads nothing until everything was forwarded
      sink_ready.resolve(socket);
    });
    const forwarded = deferred();
    let received = 0;
    let upstream: Client | null = null;
    class Proxy extends Connection {
      override lend_reads = true;
      override on_connect(): void {
        upstream = new Client({ engine });
        upstream.connect(sink.address as Address);
      }
      override on_read(data: Buffer): void {
        received += data.length;
        upstream!.write(data); // not this stream: the other stream's outbox holds it
        if (received === size) forwarded.resolve();
      }
      override on_close(): void {
        upstream?.close();
      }
    }
    const s = await start_server(transport, Proxy, engine);
    const data = randomBytes(size);
    const sock = raw_connect(s.address);
    sock.on('data', () => {});
    sock.on('end', () => sock.end());
    send_all(sock, data, 40000);
    const far = await within(sink_ready.promise, 10000, 'upstream connected');
    await within(forwarded.promise, 20000, 'all forwarded');
    const got = read_all(far);
    far.resume();
    const back = await within(got, 20000, 'forwarded bytes');
    assert.is(back.length, size);
    assert.is(sha(back), sha(data), 'every forwarded byte intact');
    await s.stop();
    await sink.close();
  });

  t('frames cut by a delimiter stay the user\'s to keep', async () => {
    const kept: Buffer[] = [];
    const done = deferred();
    const lines = 20000;
    class Lines extends Connection {
      override lend_reads = true;
      override on_connect(): void {
        this.read_delimiter = '\n';
      }
      override on_read(line: Buffer): void {
        kept.push(line);
        if (kept.length === lines) done.resolve();
      }
    }
    const s = await start_server(transport, Lines);
    const expected: string[] = [];
    for (let i = 0; i < lines; i++) expected.push(`line ${i} ${'x'.repeat(i % 300)}`);
    const sock = raw_connect(s.address);
    const got = read_all(sock);
    send_all(sock, Buffer.from(expected.join('\n') + '\n'), 30000);
    await within(done.promise, 20000, 'lines');
    for (let i = 0; i < lines; i++) if (kept[i]!.toString() !== expected[i]) assert.unreachable(`line ${i} changed after delivery`);
    await within(got, 10000, 'close');
    await s.stop();
  });

  t('a stream that did not opt in keeps every read it was given', async () => {
    const kept: Buffer[] = [];
    let total = 0;
    const size = 4 * 1024 * 1024;
    const done = deferred();
    class Keeper extends Connection {
      override on_read(data: Buffer): void {
        assert.is(this.lend_reads, false);
        kept.push(data);
        total += data.length;
        if (total === size) done.resolve();
      }
    }
    const s = await start_server(transport, Keeper);
    const data = randomBytes(size);
    const sock = raw_connect(s.address);
    const got = read_all(sock);
    send_all(sock, data);
    await within(done.promise, 20000, 'all read');
    assert.is(sha(Buffer.concat(kept)), sha(data), 'kept reads intact');
    await within(got, 10000, 'close');
    await s.stop();
  });

  t.run();
}
