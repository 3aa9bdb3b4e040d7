/**
 * trousers/yoton against bad peers (raw sockets on loopback): wrong magic, garbage, a length
 * of 2^63, a payload over max_message_size, an endless or missing handshake line, heartbeat
 * silence, a stream cut inside a package. Each closes only the offending connection with
 * yoton's reason; the context's other connections and channels keep working.
 */

import { Buffer } from 'node:buffer';
import * as net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BINARY, HEADER_SIZE, PubChannel, STOP, SubChannel, encode_package, make_package, type Connection, type Context } from '../lib/yoton/index.js';
import { within } from './_helpers.js';
import { count_control, next, until, World } from './yoton_world.js';

const faults = suite('yoton faults');

/** A context with a healthy peer (C publishes on 'alive') and a bound connection for a raw peer. */
async function setup(w: World, options = {}): Promise<{ A: Context; sub: SubChannel; pub: PubChannel; victim: Connection }> {
  const A = w.ctx(options);
  const C = w.ctx();
  await w.link(A, C);
  const sub = new SubChannel(A, 'alive');
  const pub = new PubChannel(C, 'alive');
  const victim = A.bind('localhost:0');
  await victim.bound();
  return { A, sub, pub, victim };
}

async function still_alive(pub: PubChannel, sub: SubChannel): Promise<void> {
  void pub.send('still here');
  assert.is(await within(sub.recv(), 3000, 'healthy connection'), 'still here');
}

function header(length: bigint, magic = true): Buffer {
  const b = Buffer.from(encode_package(make_package(Buffer.alloc(0), 17n, 5n)));
  if (!magic) b.write('NOTYOTON', 0, 'latin1');
  b.writeBigUInt64LE(length, 48);
  return b;
}

for (const [name, bytes, reason] of [
  ['a wrong magic', header(3n, false), STOP.LOST_TRACK],
  ['garbage after the handshake', Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n'.repeat(3)), STOP.LOST_TRACK],
  ['a length of 2^63', header(2n ** 63n), STOP.TOO_LARGE],
  ['a payload over max_message_size', Buffer.concat([header(5000n), Buffer.alloc(5000)]), STOP.TOO_LARGE],
] as const) {
  faults(`${name} closes that connection with "${reason}", nothing else`, async () => {
    const w = new World();
    try {
      const { sub, pub, victim } = await setup(w, { max_message_size: 4096 });
      const raw = await w.raw_client(victim.port1);
      await until(() => victim.is_connected, 'raw peer connected');
      const closed = next(victim.closed);
      raw.socket.write(bytes);
      assert.equal((await closed)[1], reason);
      await new Promise<void>((r) => (raw.socket.closed ? r() : raw.socket.once('close', () => r())));
      await still_alive(pub, sub);
    } finally {
      await w.end();
    }
  });
}

faults('a stranger, an endless line and silence before the handshake: the bind keeps waiting', async () => {
  const w = new World();
  try {
    const { sub, pub, victim } = await setup(w);
    const fails: string[] = [];
    victim.handshake_failed.bind((_c, why) => void fails.push(why));
    const open = (): net.Socket => {
      const s = net.connect({ host: '127.0.0.1', port: victim.port1 });
      w.sockets.push(s);
      s.on('error', () => {});
      return s;
    };
    const stranger = open();
    const answer = new Promise<string>((r) => {
      let text = '';
      stranger.on('data', (c: Buffer) => (text += c.toString('latin1')));
      stranger.on('close', () => r(text));
    });
    stranger.write('GET / HTTP/1.0\r\n\r\n');
    assert.is(await within(answer, 3000, 'stranger answered'), 'ERROR: this is Yoton.\r\n');
    const endless = open();
    const gone = new Promise<void>((r) => endless.on('close', () => r()));
    for (let i = 0; i < 20 && !endless.destroyed; i++) endless.write(Buffer.alloc(1000, 0x41));
    await within(gone, 3000, 'endless peer dropped');
    const mute = open();
    const t0 = Date.now();
    await new Promise<void>((r) => mute.on('close', () => r()));
    assert.ok(Date.now() - t0 >= 1900, "dropped after yoton's 2 s");
    await until(() => fails.length === 3, 'three failures reported');
    assert.equal(fails, [STOP.HANDSHAKE_FAILED, STOP.HANDSHAKE_FAILED, STOP.HANDSHAKE_TIMEOUT]);
    assert.ok(victim.is_waiting, 'still waiting for a real peer');
    await w.raw_client(victim.port1);
    await until(() => victim.is_connected, 'a real peer still gets in');
    await still_alive(pub, sub);
  } finally {
    await w.end();
  }
});

faults('heartbeats out, timedout(true) on silence, timedout(false) on data, close after max_silence', async () => {
  const w = new World();
  try {
    const A = w.ctx({ max_silence: 1500 });
    const victim = A.bind('localhost:0');
    await victim.bound();
    const raw = await w.raw_client(victim.port1);
    await until(() => victim.is_connected, 'connected');
    const t0 = Date.now();
    const [, silent] = await next(victim.timedout, 3000, 'timedout true');
    assert.is(silent, true);
    assert.ok(Date.now() - t0 >= 450, `not before the timeout (${Date.now() - t0} ms)`);
    assert.ok(count_control(raw.received(), 0n) >= 1, 'heartbeats arrive while idle');
    const back = next(victim.timedout, 3000, 'timedout false');
    raw.socket.write(header(0n));
    assert.is((await back)[1], false);
    const [, reason] = await next(victim.closed, 4000, 'closed for silence');
    assert.is(reason, STOP.TIMEOUT);
    assert.ok(Date.now() - t0 >= 1400);
  } finally {
    await w.end();
  }
});

faults('close() sends the close package before the end; a stream cut inside a package is an EOF', async () => {
  const w = new World();
  try {
    const A = w.ctx();
    const victim = A.bind('localhost:0');
    await victim.bound();
    const raw = await w.raw_client(victim.port1);
    await until(() => victim.is_connected, 'connected');
    const ended = new Promise<void>((r) => raw.socket.once('end', () => r()));
    victim.close();
    await within(ended, 3000, 'EOF after close');
    assert.is(count_control(raw.received(), 1n), 1, 'one close package');
    const again = A.bind('localhost:0');
    await again.bound();
    const raw2 = await w.raw_client(again.port1);
    await until(() => again.is_connected, 'connected again');
    const closed = next(again.closed);
    raw2.socket.end(header(100n).subarray(0, HEADER_SIZE + 0));
    assert.is((await closed)[1], STOP.EOF);
  } finally {
    await w.end();
  }
});

faults('a peer that never reads: packages wait in a queue bounded by queue_params; send waits at most 1 s', async () => {
  const w = new World();
  try {
    const A = w.ctx({ queue_params: [20, 'old'] });
    const pub = new PubChannel(A, 'big', BINARY);
    const victim = A.bind('localhost:0');
    await victim.bound();
    const raw = await w.raw_client(victim.port1);
    raw.socket.pause(); // never reads again
    await until(() => victim.is_connected, 'connected');
    const blob = Buffer.alloc(65536, 1);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 300 && victim.queued < 20; i++) sends.push(pub.send(blob));
    for (let i = 0; i < 50; i++) sends.push(pub.send(blob));
    assert.is(victim.queued, 20, 'held at maxlen');
    const t0 = Date.now();
    await within(Promise.all(sends), 3000, 'sends resolve');
    assert.ok(Date.now() - t0 < 2000, 'each waits at most about 1 s');
    assert.ok(victim.is_connected);
  } finally {
    await w.end();
  }
});

faults('a header that comes alone is answered at once (so a Python peer\'s Nagle releases its payload)', async () => {
  const w = new World();
  try {
    const A = w.ctx();
    const sub = new SubChannel(A, 'nudge');
    const victim = A.bind('localhost:0');
    await victim.bound();
    const raw = await w.raw_client(victim.port1);
    await until(() => victim.is_connected, 'connected');
    const t0 = Date.now();
    for (let i = 1; i <= 5; i++) {
      const p = make_package(Buffer.from(`m${i}`), sub._slot_in_h, 77n);
      p.source_seq = BigInt(i);
      const bytes = encode_package(p);
      const before = count_control(raw.received(), 0n);
      raw.socket.write(bytes.subarray(0, HEADER_SIZE));
      await until(() => count_control(raw.received(), 0n) > before, `heartbeat after header ${i}`, 1000);
      raw.socket.write(bytes.subarray(HEADER_SIZE));
      assert.is(await within(sub.recv(), 1000), `m${i}`);
    }
    // Periodic heartbeats alone would need over a second for five.
    assert.ok(Date.now() - t0 < 600, `answered at once (${Date.now() - t0} ms for five)`);
  } finally {
    await w.end();
  }
});

faults("Python's right-padded handshake id is corrected by the peer's first package", async () => {
  const w = new World();
  try {
    const A = w.ctx();
    const sub = new SubChannel(A, 'pad');
    const victim = A.bind('localhost:0');
    await victim.bound();
    const real = 0x00abcdef12345678n; // below 2^60: Python writes 'abcdef1234567800'
    await w.raw_client(victim.port1, 0xabcdef1234567800n);
    const raw = w.sockets.at(-1)!;
    await until(() => victim.is_connected, 'connected');
    assert.is(victim.id2, 0xabcdef1234567800n);
    const p = make_package(Buffer.from('hi'), sub._slot_in_h, real);
    p.source_seq = 1n;
    raw.write(encode_package(p));
    assert.is(await within(sub.recv(), 2000), 'hi');
    assert.is(victim.id2, real);
  } finally {
    await w.end();
  }
});

faults.run();
