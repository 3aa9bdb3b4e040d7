/**
 * trousers/csp's local fast path (ChannelHome.plain): a plain read or write on a channel
 * hosted here whose partner already waits commits synchronously, with no lock of its own;
 * one that finds none queues its lock's reused request. These specs pin down that it
 * changes nothing observable: order, exactly-once delivery when mixed with alternations,
 * stale alternation requests skipped, retire and poison racing it, and request reuse across
 * channels.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AltSelect,
  Channel,
  ChannelPoisonError,
  ChannelRetireError,
  configure,
  InputGuard,
  OutputGuard,
  poison,
  PriSelect,
  retire,
  shutdown,
  SkipGuard,
} from '../lib/csp/index.js';
import { rng, within } from './_helpers.js';

const test = suite('csp fast path');

test.after.each(async () => {
  await within(shutdown(), 5000, 'shutdown');
  configure(null);
});

async function rejects(p: Promise<unknown>, cls: new (...a: never[]) => Error): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, cls, String(err));
    return;
  }
  assert.unreachable(`expected ${cls.name}`);
}

test('queued writers are taken oldest first; queued readers get values in write order', async () => {
  const c = new Channel('order');
  const cin = c.reader(), cout = c.writer();
  const done: number[] = [];
  const writes = [0, 1, 2, 3, 4].map((i) => cout.write(i).then(() => done.push(i)));
  for (let i = 0; i < 5; i++) assert.is(await cin.read(), i);
  await Promise.all(writes);
  assert.equal(done, [0, 1, 2, 3, 4]);
  const reads = [cin.read(), cin.read(), cin.read()];
  for (let i = 10; i < 13; i++) await cout.write(i);
  assert.equal(await Promise.all(reads), [10, 11, 12]);
  await retire(cin, cout);
});

test('a write that meets a waiting reader resolves at once; a read meeting a waiting writer gets its value', async () => {
  const c = new Channel('sync');
  const cin = c.reader(), cout = c.writer();
  const r = cin.read();
  let wrote = false;
  const w = cout.write({ a: 1 }).then(() => (wrote = true));
  assert.equal(await r, { a: 1 });
  await w;
  assert.ok(wrote);
  // the other way round: the writer waits until the read
  let second = false;
  const w2 = cout.write('x').then(() => (second = true));
  await Promise.resolve();
  assert.not.ok(second, 'an unbuffered write must wait for a reader');
  assert.is(await cin.read(), 'x');
  await w2;
  await retire(cin, cout);
});

test('plain reads and writes mixed with alternations: every value exactly once (seeded)', async () => {
  const rand = rng(1414);
  const a = new Channel('mix_a'), b = new Channel('mix_b');
  const aw = a.writer(), bw = b.writer(), ar = a.reader(), br = b.reader();
  const N = 400;
  const sent: number[] = [];
  const got: number[] = [];
  const writers = [aw, bw].map(async (w, k) => {
    for (let i = 0; i < N; i++) {
      const v = k * N + i;
      sent.push(v);
      if (rand() < 0.3) {
        // an output guard on this channel next to a guard that never commits
        const never = new Channel();
        const [chosen] = await AltSelect(new OutputGuard(w, v), new InputGuard(never.reader()));
        assert.is(chosen, w);
      } else {
        await w.write(v);
      }
    }
  });
  const readers = [0, 1, 2].map(async (k) => {
    for (;;) {
      if (got.length >= 2 * N) return;
      if (k === 0 || rand() < 0.5) {
        const [, v] = await AltSelect(new InputGuard(ar), new InputGuard(br), new SkipGuard());
        if (v !== null) got.push(v as number);
        else await new Promise<void>((r) => setImmediate(r));
      } else {
        const [, v] = await PriSelect(new InputGuard(k === 1 ? ar : br), new SkipGuard());
        if (v !== null) got.push(v as number);
        else await new Promise<void>((r) => setImmediate(r));
      }
    }
  });
  await within(Promise.all([...writers, ...readers]), 10000, 'mixed traffic');
  assert.is(got.length, 2 * N);
  assert.equal([...got].sort((x, y) => x - y), [...sent].sort((x, y) => x - y));
  assert.is(new Set(got).size, 2 * N, 'no value twice');
  await retire(aw, bw, ar, br);
});

test('plain readers and an alternating reader on the same channel: each write goes to exactly one', async () => {
  const c = new Channel('shared');
  const cout = c.writer(), r1 = c.reader(), r2 = c.reader();
  const other = new Channel('never');
  const never = other.reader();
  const N = 300;
  const got: unknown[] = [];
  let stop = false;
  const plain = (async () => {
    while (!stop) {
      try {
        got.push(await r1.read());
      } catch (err) {
        assert.instance(err, ChannelRetireError);
        return;
      }
    }
  })();
  const alt = (async () => {
    while (!stop) {
      try {
        const [chosen, v] = await AltSelect(new InputGuard(r2), new InputGuard(never));
        assert.is(chosen, r2);
        got.push(v);
      } catch (err) {
        assert.instance(err, ChannelRetireError);
        return;
      }
    }
  })();
  for (let i = 0; i < N; i++) await cout.write(i);
  stop = true;
  await retire(cout);
  await within(Promise.all([plain, alt]), 5000, 'readers end');
  assert.equal([...got].sort((x, y) => (x as number) - (y as number)), Array.from({ length: N }, (_, i) => i));
  await retire(r1, r2, never);
});

test('a stale alternation request is skipped: a plain write waits for a real reader', async () => {
  const a = new Channel('stale_a'), b = new Channel('stale_b');
  const aw = a.writer(), bw = b.writer(), ar = a.reader(), br = b.reader();
  // the alternation posts to both, a commits, b keeps a stale request
  const alt = AltSelect(new InputGuard(ar), new InputGuard(br));
  await aw.write('via a');
  const [chosen, v] = await alt;
  assert.is(chosen, ar);
  assert.is(v, 'via a');
  // the alternation's pooled lock is reused by a read waiting on a: READY again, at a new seq
  const held = ar.read();
  let wrote = false;
  const w = bw.write('via b').then(() => (wrote = true));
  await new Promise<void>((r) => setImmediate(r));
  assert.not.ok(wrote, 'the write must not go to the finished alternation (nor to its lock\'s next operation)');
  assert.is(await br.read(), 'via b');
  await w;
  assert.ok(wrote);
  await aw.write('a again');
  assert.is(await held, 'a again');
  await retire(aw, bw, ar, br);
});

test('a queued plain reader and writer see retire and poison; later operations fail at once', async () => {
  const c = new Channel('end_r');
  const cin = c.reader(), cout = c.writer();
  const waiting = cin.read();
  await retire(cout);
  await rejects(waiting, ChannelRetireError);
  await rejects(cin.read(), ChannelRetireError);

  const d = new Channel('end_p');
  const din = d.reader(), dout = d.writer();
  const w1 = dout.write(1), w2 = dout.write(2);
  assert.is(await din.read(), 1, 'the oldest writer first');
  await w1;
  await poison(din);
  await rejects(w2, ChannelPoisonError);
  await rejects(dout.write(3), ChannelPoisonError);
  await rejects(din.read(), ChannelPoisonError);
});

test('poison arriving between two fast rendezvous: the one before completes, the one after fails', async () => {
  const c = new Channel('race');
  const cin = c.reader(), cout = c.writer(), other = c.writer();
  const w = cout.write('first');
  const r = cin.read(); // matched synchronously with the waiting writer
  const p = poison(other); // in the same synchronous run, after the commit
  const r2 = cin.read();
  assert.is(await r, 'first');
  await w;
  await p;
  await rejects(r2, ChannelPoisonError);
  await rejects(cout.write('late'), ChannelPoisonError);
});

test('one pooled lock queues on one channel, then on another: its reused request is never seen twice', async () => {
  const a = new Channel('reuse_a'), b = new Channel('reuse_b');
  const aw = a.writer(), bw = b.writer(), ar = a.reader(), br = b.reader();
  for (let i = 0; i < 50; i++) {
    const ra = ar.read(); // queued (takes a lock from the pool)
    await aw.write(i); // commits it; the lock goes back to the pool
    assert.is(await ra, i);
    const rb = br.read(); // the same lock, queued on another channel
    await bw.write(-i);
    assert.is(await rb, -i);
  }
  // nothing left queued: a write must wait
  let wrote = false;
  const w = aw.write('last').then(() => (wrote = true));
  await new Promise<void>((r) => setImmediate(r));
  assert.not.ok(wrote);
  assert.is(await ar.read(), 'last');
  await w;
  await retire(aw, bw, ar, br);
});

test.run();
