/**
 * Fault suite, scale: 10,000 connect / round trip / close cycles and 2,000 concurrent
 * connections. Afterwards the engine's channel set and the server's are empty, no handle
 * is left behind, and the heap is back near where it started.
 *
 * The last spec of the fault suite (this file sorts last) checks that the whole suite left
 * no socket, timer, child process or hostile peer behind.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Connection, Engine, Server, type Address } from '../lib/index.js';
import { countdown, deferred, TCP4, UNIX, within, type Transport } from './_helpers.js';
import { fault_baseline, grown_resources, guard, heap_mb, kill_children, note, open_fds, peers, resources, until } from './_hostile.js';

class Echo extends Connection {
  closes = 0;
  override on_read(data: Buffer): void {
    this.write(data);
  }
  override on_close(): void {
    this.closes++;
  }
}

async function listen(transport: Transport, engine: Engine): Promise<{ server: Server<Echo>; address: Address }> {
  const server = new Server(Echo, { engine });
  const ready = deferred();
  server.on_listen = () => ready.resolve();
  server.on_error = (err: Error) => ready.reject(err);
  server.listen(transport.listen_address());
  await within(ready.promise, 5000, 'listen');
  return { server, address: transport.connect_address(server.local_address) };
}

/** Allowed heap growth (MiB): tight after a real GC (`--expose-gc`), loose without one. */
const HEAP_SLACK = typeof (globalThis as { gc?: unknown }).gc === 'function' ? 10 : 50;

const t = suite('fault: scale');
t.before(() => void fault_baseline());

t(
  '10,000 connect / round trip / close cycles (half TCP, half Unix, 100 at a time): every on_close once on both sides, channel sets empty, no handle left, heap back near its start',
  guard(async () => {
    const CYCLES = 10_000;
    const PARALLEL = 100;
    const before = resources();
    const heap0 = heap_mb();
    const engine = new Engine();
    const tcp = await listen(TCP4, engine);
    const unix = await listen(UNIX, engine);
    let client_closes = 0;
    let client_errors = 0;
    let round_trips = 0;
    let started = 0;
    const all_done = countdown(CYCLES);
    class Cycle extends Client {
      override on_connect(): void {
        this.write('hi');
      }
      override on_read(): void {
        round_trips++;
        this.close();
      }
      override on_error(): void {
        client_errors++;
        this.close(false);
      }
      override on_connect_error(): void {
        client_errors++;
      }
      override on_close(): void {
        client_closes++;
        all_done.tick();
        next();
      }
    }
    const next = (): void => {
      if (started >= CYCLES) return;
      const address = started % 2 === 0 ? tcp.address : unix.address;
      started++;
      new Cycle({ engine }).connect(address);
    };
    try {
      for (let i = 0; i < PARALLEL; i++) next();
      await within(all_done.done, 60000, `${CYCLES} cycles`);
      await within(until(() => tcp.server.channels.size === 0 && unix.server.channels.size === 0, 'the server sides to close'), 10000, 'server closes');
      assert.is(client_closes, CYCLES);
      assert.is(client_errors, 0);
      assert.is(round_trips, CYCLES);
      assert.is(engine.channels.size, 2, 'only the two servers are left');
    } finally {
      await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
    }
    assert.is(engine.channels.size, 0);
    assert.is(tcp.server.channels.size, 0);
    await within(until(() => Object.keys(grown_resources(before)).length === 0, 'handles to close'), 5000, 'handles').catch(() => {});
    assert.equal(grown_resources(before), {}, 'handles left behind');
    const heap1 = heap_mb();
    note(`10k cycles: heap ${heap0.toFixed(1)} -> ${heap1.toFixed(1)} MiB`);
    assert.ok(heap1 - heap0 < HEAP_SLACK, `heap grew by ${(heap1 - heap0).toFixed(1)} MiB`);
  }),
);

t(
  '2,000 concurrent connections (4,000 sockets) each echo at once, then engine.stop(): every on_close once, nothing left behind, heap back near its start',
  guard(async () => {
    const N = 2000;
    const fds = open_fds();
    const limit = Number((await import('node:child_process')).execSync('ulimit -n', { shell: '/bin/sh', encoding: 'utf8' }).trim());
    if (Number.isFinite(limit) && (fds ?? 0) + 2 * N + 100 > limit) {
      process.stderr.write(`  (skipped: ulimit -n is ${limit}, ${2 * N} sockets would not fit)\n`);
      return;
    }
    const before = resources();
    const heap0 = heap_mb();
    const engine = new Engine();
    const { server, address } = await listen(TCP4, engine);
    let connected = 0;
    let echoed = 0;
    let closes = 0;
    const all_echoed = countdown(N);
    class Many extends Client {
      override on_connect(): void {
        connected++;
      }
      override on_read(): void {
        echoed++;
        all_echoed.tick();
      }
      override on_close(): void {
        closes++;
      }
    }
    const clients: Many[] = [];
    try {
      // In waves, so the listen backlog never overflows.
      for (let wave = 0; wave < N / 500; wave++) {
        for (let i = 0; i < 500; i++) clients.push(new Many({ engine }).connect(address));
        await within(until(() => connected === clients.length && server.channels.size === clients.length, 'a wave to connect'), 20000, 'connects');
      }
      assert.is(server.channels.size, N);
      assert.is(engine.channels.size, 2 * N + 1);
      for (const c of clients) c.write('ping');
      await within(all_echoed.done, 20000, 'every echo');
      assert.is(echoed, N);
      await within(engine.stop({ timeout: 5000 }), 20000, 'engine.stop');
      assert.is(closes, N);
      assert.ok([...server.channels].length === 0);
      assert.is(engine.channels.size, 0);
      note(`2k concurrent: fds at start ${fds}, limit ${limit}`);
    } finally {
      await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
    }
    await within(until(() => Object.keys(grown_resources(before)).length === 0, 'handles to close'), 5000, 'handles').catch(() => {});
    assert.equal(grown_resources(before), {}, 'handles left behind');
    clients.length = 0;
    const heap1 = heap_mb();
    note(`2k concurrent: heap ${heap0.toFixed(1)} -> ${heap1.toFixed(1)} MiB`);
    assert.ok(heap1 - heap0 < HEAP_SLACK, `heap grew by ${(heap1 - heap0).toFixed(1)} MiB`);
  }),
);

t.run();

const last = suite('fault: nothing left behind');

last(
  'after the whole fault suite: no TCPWrap / PipeWrap / UDPWrap / Timeout / child process more than before it, and no hostile peer still open',
  guard(async () => {
    const baseline = fault_baseline();
    await kill_children();
    await within(until(() => Object.keys(grown_resources(baseline)).length === 0 && peers.size === 0, 'the last handles to close'), 5000, 'handles').catch(() => {});
    note(`resources now: ${JSON.stringify(resources())}; before the fault suite: ${JSON.stringify(baseline)}`);
    assert.equal(grown_resources(baseline), {}, 'handles left behind by the fault suite');
    assert.is(peers.size, 0, 'hostile peers still open');
  }),
);

last.run();
