/**
 * trousers/csp within one process (channels hosted here, over real loopback sockets only
 * where a spec says so): rendezvous, buffers, retire and poison semantics, process
 * propagation, alternation (exactly one commit, priority, skip, timeout, fairness), usage
 * errors, and a shutdown that leaves nothing open.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AltSelect,
  Channel,
  ChannelEndRead,
  ChannelMovedError,
  ChannelPoisonError,
  ChannelRetireError,
  configure,
  CspUsageError,
  FairSelect,
  InputGuard,
  OutputGuard,
  Parallel,
  poison,
  PriSelect,
  process,
  retire,
  Sequence,
  shutdown,
  SkipGuard,
  Spawn,
  TimeoutGuard,
  type ChannelEndWrite,
} from '../lib/csp/index.js';
import * as net from 'node:net';
import { within } from './_helpers.js';

const test = suite('csp local');

test.after.each(async () => {
  await within(shutdown(), 5000, 'shutdown');
  configure(null);
});

async function rejects<E extends Error>(p: Promise<unknown>, cls: new (...a: never[]) => E): Promise<E> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, cls, String(err));
    return err as E;
  }
  assert.unreachable(`expected ${cls.name}`);
  throw new Error('unreachable');
}

test('an unbuffered write resolves only once a reader took the value (same object)', async () => {
  const c = new Channel('rv');
  const cin = c.reader(), cout = c.writer();
  let written = false;
  const obj = { deep: [1, 2] };
  const w = cout.write(obj).then(() => (written = true));
  await new Promise((r) => setImmediate(r));
  assert.is(written, false, 'no reader yet');
  assert.is(await cin.read(), obj, 'the reader gets the writer\'s object');
  await w;
  assert.is(written, true);
  await retire(cin, cout);
});

test('many writers and readers at once: every value delivered exactly once', async () => {
  const c = new Channel();
  const N = 4000, W = 8, R = 5;
  const seen = new Map<number, number>();
  const writers = Array.from({ length: W }, (_, k) => process(async (out: ChannelEndWrite) => {
    for (let i = k; i < N; i += W) await out.write(i);
    await retire(out);
  })(c.writer()));
  const readers = Array.from({ length: R }, () => process(async (cin: ChannelEndRead) => {
    for (;;) {
      const v = (await cin.read()) as number;
      seen.set(v, (seen.get(v) ?? 0) + 1);
    }
  })(c.reader()));
  await within(Parallel(writers, readers), 10000, 'network');
  assert.is(seen.size, N);
  assert.ok([...seen.values()].every((n) => n === 1), 'no duplicates');
});

test('buffered: writes complete into slots, readers drain in order, retire waits for the buffer', async () => {
  const c = new Channel('buf', { buffer: 3 });
  const cout = c.writer(), cin = c.reader();
  for (const v of [1, 2, 3]) await cout.write(v);
  let fourth = false;
  const p4 = cout.write(4).then(() => (fourth = true));
  await new Promise((r) => setImmediate(r));
  assert.is(fourth, false, 'the buffer is full');
  assert.is(await cin.read(), 1);
  await p4;
  await retire(cout);
  const got = [await cin.read(), await cin.read(), await cin.read()];
  assert.equal(got, [2, 3, 4], 'retiring the only writer still lets readers drain');
  await rejects(cin.read(), ChannelRetireError);
});

test('retire: join counting; every later operation fails; a retired end refuses use', async () => {
  const c = new Channel('ret');
  const r1 = c.reader(), r2 = c.reader(), w = c.writer();
  const pending = w.write('x');
  await retire(r1);
  assert.is(await r2.read(), 'x', 'one reader left: the channel is not retired');
  await pending;
  await rejects(r1.read(), ChannelRetireError);
  const blocked = w.write('y');
  await retire(r2);
  await rejects(blocked, ChannelRetireError);
  await rejects(w.write('z'), ChannelRetireError);
});

test('poison: pending operations on both sides fail; writer-side poison drains a buffer first', async () => {
  const c = new Channel('poi');
  const r = c.reader(), w = c.writer();
  const pending = r.read();
  await poison(w);
  await rejects(pending, ChannelPoisonError);
  await rejects(w.write(1), ChannelPoisonError);
  const b = new Channel('poib', { buffer: 2 });
  const bw = b.writer(), br = b.reader();
  await bw.write('kept');
  await poison(bw);
  assert.is(await br.read(), 'kept');
  await rejects(br.read(), ChannelPoisonError);
});

test('processes: retire and poison propagate to every end among the arguments', async () => {
  const a = new Channel('pa'), b = new Channel('pb'), c = new Channel('pc');
  const source = process(async (out: ChannelEndWrite) => {
    for (let i = 0; i < 5; i++) await out.write(i);
    await retire(out);
  });
  const stage = process(async (cin: ChannelEndRead, outs: { out: ChannelEndWrite }) => {
    for (;;) await outs.out.write(((await cin.read()) as number) + 100);
  });
  const got: unknown[] = [];
  const sink = process(async (cin: ChannelEndRead) => {
    for (;;) got.push(await cin.read());
  });
  const results = await within(Parallel(source(a.writer()), stage(a.reader(), { out: b.writer() }), sink(b.reader())), 5000);
  assert.equal(got, [100, 101, 102, 103, 104]);
  assert.equal(results, [undefined, undefined, undefined]);
  // poison the same way
  const cr = c.reader();
  const victim = process(async (cin: ChannelEndRead, out: ChannelEndWrite[]) => {
    await cin.read();
    await out[0]!.write(1);
  });
  const d = new Channel('pd');
  const dr = d.reader();
  const run = Parallel(victim(cr, [d.writer()]));
  await poison(c.writer());
  await run;
  await rejects(dr.read(), ChannelPoisonError);
});

test('Sequence runs in order; Spawn runs in the background and shutdown waits for it; errors propagate', async () => {
  const order: number[] = [];
  const step = process(async (n: number) => {
    await new Promise((r) => setImmediate(r));
    order.push(n);
    return n * 2;
  });
  assert.equal(await Sequence(step(1), step(2), [step(3)]), [2, 4, 6]);
  assert.equal(order, [1, 2, 3]);
  const boom = process(async () => {
    throw new RangeError('boom');
  });
  await rejects(Parallel(boom(), step(4)), RangeError);
  let spawned = false;
  void Spawn(process(async () => {
    await new Promise((r) => setTimeout(r, 20));
    spawned = true;
  })());
  await shutdown();
  assert.is(spawned, true);
});

test('alternation: exactly one guard commits; the others stay untouched', async () => {
  for (let round = 0; round < 50; round++) {
    const a = new Channel(), b = new Channel();
    const ar = a.reader(), br = b.reader(), aw = a.writer(), bw = b.writer();
    const wa = aw.write('A');
    const wb = bw.write('B');
    const [chosen, value] = await AltSelect(new InputGuard(ar), new InputGuard(br));
    assert.ok((chosen === ar && value === 'A') || (chosen === br && value === 'B'));
    // the other writer is still pending: a plain read takes it
    const other = chosen === ar ? br : ar;
    assert.is(await other.read(), chosen === ar ? 'B' : 'A');
    await Promise.all([wa, wb]);
    await retire(ar, br, aw, bw);
  }
});

test('PriSelect keeps priority; SkipGuard only when nothing is ready; output guards; actions', async () => {
  const a = new Channel('pri-a'), b = new Channel('pri-b');
  const ar = a.reader(), br = b.reader();
  const aw = a.writer(), bw = b.writer();
  const pa = aw.write(1), pb = bw.write(2);
  const seen: unknown[] = [];
  for (let i = 0; i < 2; i++) {
    const [g, v] = await PriSelect(new InputGuard(br, (x) => seen.push(['b', x])), new InputGuard(ar, (x) => seen.push(['a', x])), new SkipGuard());
    assert.is(g, i === 0 ? br : ar);
    assert.is(v, i === 0 ? 2 : 1);
  }
  await Promise.all([pa, pb]);
  assert.equal(seen, [['b', 2], ['a', 1]]);
  const skip = new SkipGuard(() => seen.push('skipped'));
  const [g2, v2] = await PriSelect(new InputGuard(ar), skip);
  assert.is(g2, skip);
  assert.is(v2, null);
  const pr = ar.read();
  let acted = false;
  const [g3, v3] = await AltSelect(new OutputGuard(aw, 'out', () => (acted = true)), new TimeoutGuard(5000));
  assert.is(g3, aw);
  assert.is(v3, null);
  assert.is(acted, true);
  assert.is(await pr, 'out');
  const t = new TimeoutGuard(10);
  const [g4] = await AltSelect(new InputGuard(ar), t);
  assert.is(g4, t);
  await retire(ar, br, aw, bw);
});

test('FairSelect spreads choices over always-ready channels', async () => {
  const a = new Channel('fair-a', { buffer: 100 }), b = new Channel('fair-b', { buffer: 100 });
  const aw = a.writer(), bw = b.writer(), ar = a.reader(), br = b.reader();
  for (let i = 0; i < 40; i++) {
    await aw.write(i);
    await bw.write(i);
  }
  const count = new Map<unknown, number>();
  for (let i = 0; i < 40; i++) {
    const [g] = await FairSelect(new InputGuard(ar), new InputGuard(br));
    count.set(g, (count.get(g) ?? 0) + 1);
  }
  assert.ok(Math.abs((count.get(ar) ?? 0) - (count.get(br) ?? 0)) <= 2, `fair: ${count.get(ar)} vs ${count.get(br)}`);
  await retire(aw, bw, ar, br);
});

test('alternation sees poison and retire when no guard can commit', async () => {
  const a = new Channel('alt-p');
  const ar = a.reader();
  const pending = AltSelect(new InputGuard(ar));
  await poison(a.writer());
  await rejects(pending, ChannelPoisonError);
  const b = new Channel('alt-r');
  const br = b.reader(), bw = b.writer();
  await retire(bw);
  await rejects(AltSelect(new InputGuard(br)), ChannelRetireError);
});

test('usage errors: names, buffers, connect without name, reused names, bad guards, channel objects', async () => {
  assert.throws(() => new Channel('x'.repeat(33)), (e: Error) => e instanceof RangeError && /32 characters/.test(e.message));
  assert.throws(() => new Channel('ok', { buffer: -1 }), (e: Error) => e instanceof RangeError);
  assert.throws(() => new Channel(null, { connect: ['127.0.0.1', 1] }), (e: Error) => e instanceof CspUsageError);
  assert.throws(() => new Channel('n', { connect: ['127.0.0.1', 1], buffer: 2 }), (e: Error) => e instanceof CspUsageError);
  assert.throws(() => new Channel('n', { connect: '/tmp/sock' }), (e: Error) => e instanceof RangeError);
  const c = new Channel('dup');
  assert.throws(() => new Channel('dup'), (e: Error) => e instanceof CspUsageError);
  await assert.not.throws(() => new InputGuard(c.reader()));
  assert.throws(() => new InputGuard(c.writer() as unknown as ChannelEndRead), (e: Error) => e instanceof CspUsageError);
  await rejects(AltSelect('nope' as unknown as SkipGuard), CspUsageError);
  await rejects(retire(c as unknown as ChannelEndRead), CspUsageError);
  const r = c.reader();
  await retire(r);
  await rejects(r.read(), ChannelRetireError);
});

test('mobile ends: a moved end refuses use; its description reconnects to the home', async () => {
  const c = new Channel('mob');
  await c.ready();
  const w = c.writer();
  const desc = w.move();
  assert.equal(desc.name, 'mob');
  assert.equal(desc.address, c.address);
  assert.is(w.moved, true);
  await rejects(w.write(1), ChannelMovedError);
  const { ChannelEnd } = await import('../lib/csp/index.js');
  const back = ChannelEnd.restore(desc) as ChannelEndWrite;
  const r = c.reader();
  const p = back.write('over the wire');
  assert.is(await within(r.read(), 5000, 'read'), 'over the wire', 'the restored end reaches its home (here: this process)');
  await p;
  await retire(back, r);
});

test('an alternation that cannot post a guard (a value with no Python type) fails and commits nothing', async () => {
  configure({ connect_timeout: 50, connect_retry_delay: 10 });
  const a = new Channel('abandon-a');
  // a home elsewhere (nobody listens there: the post fails before anything is sent)
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const far = new Channel('abandon-far', { connect: ['127.0.0.1', port] });
  const far_w = far.writer();
  const ar = a.reader(), aw = a.writer();
  let err: unknown = null;
  try {
    await AltSelect(new InputGuard(ar), new OutputGuard(far_w, () => 'a function'));
  } catch (e) {
    err = e;
  }
  assert.is((err as Error)?.name, 'PicklingError', String(err));
  const p = aw.write('for a plain reader');
  assert.is(await within(ar.read(), 3000, 'plain read'), 'for a plain reader', 'the abandoned alternation took nothing');
  await p;
  await retire(ar, aw);
});

test.run();
