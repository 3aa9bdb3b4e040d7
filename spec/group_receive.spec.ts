/**
 * The group Channel's receive path, against a real redis-server and the embedded hub: one
 * write per receive (SMEMBERS and BLPOP together, over the last membership seen) corrected
 * when membership changed; several receives in flight, in order, none lost or duplicated;
 * close() with receives in flight.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Engine, type Address } from '../lib/index.js';
import { Channel, NotJoinedError, queue_key } from '../lib/group/index.js';
import { dumps } from '../lib/pickle/index.js';
import { RedisClient, RedisClosedError } from '../lib/redis/index.js';
import { within } from './_helpers.js';
import { backends, blocked_clients } from './_redis_peer.js';

async function error_of(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

function receive_suite(name: string, start: () => Promise<{ address: Address; stop(): Promise<void> }>): void {
  const s = suite(`group receive: ${name}`);
  let address: Address;
  let stop: () => Promise<void>;
  let engine: Engine;
  let admin: RedisClient;
  const open: Channel[] = [];
  const channel = (options: ConstructorParameters<typeof Channel>[0] = {}): Channel => {
    const c = new Channel({ redis: address, engine, ...options });
    open.push(c);
    return c;
  };
  const queue = async (sender: string, receiver: string): Promise<string[]> =>
    ((await admin.command('LRANGE', queue_key(sender, receiver), 0, -1)) as Buffer[]).map((b) => b.toString('latin1'));
  s.before(async () => {
    const t = await start();
    address = t.address;
    stop = t.stop;
    engine = new Engine();
    admin = new RedisClient({ address, engine });
  });
  s.before.each(async () => {
    await admin.command('FLUSHALL');
  });
  s.after.each(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  s.after(async () => {
    await admin.close();
    await stop();
    assert.is(engine.channels.size, 0, 'every connection closed');
  });

  s('receives in flight: waiting messages go to the calls in the order they were made', async () => {
    const a = channel();
    const r = channel();
    const pa = await a.join('g');
    await r.join('g');
    await Promise.all(Array.from({ length: 40 }, (_, i) => a.sendTo([r.pid!], `m${i}`)));
    const calls = Array.from({ length: 40 }, () => r.recvFromAny(5000));
    const got = await within(Promise.all(calls), 10000);
    assert.equal(got, Array.from({ length: 40 }, (_, i) => [pa, `m${i}`]));
    assert.is(await r.recvFromAny(50), null, 'nothing left, nothing duplicated');
  });

  s('a window of receives over a live stream from two senders: none lost or duplicated, each sender in order', async () => {
    const a = channel();
    const b = channel();
    const r = channel();
    const [pa, pb] = [await a.join('g'), await b.join('g')];
    await r.join('g');
    const N = 300;
    const order: [string, unknown][] = [];
    let left = 2 * N;
    const workers = Array.from({ length: 16 }, async () => {
      while (left > 0) {
        left--;
        const m = await r.recvFromAny(5000);
        if (m === null) throw new Error('a receive timed out');
        order.push(m);
      }
    });
    const sending = Promise.all([
      (async () => {
        for (let i = 0; i < N; i++) await a.sendTo([r.pid!], i);
      })(),
      Promise.all(Array.from({ length: N }, (_, i) => b.sendTo([r.pid!], i))),
    ]);
    await within(Promise.all([sending, ...workers]), 20000);
    assert.is(order.length, 2 * N);
    assert.equal(order.filter(([s]) => s === pa).map(([, m]) => m), Array.from({ length: N }, (_, i) => i));
    assert.equal(order.filter(([s]) => s === pb).map(([, m]) => m), Array.from({ length: N }, (_, i) => i));
    assert.equal([await queue(pa, r.pid!), await queue(pb, r.pid!)], [[], []]);
  });

  s('a member that left: its messages are not received and go back to its queue in order, even from a window', async () => {
    const l = channel();
    const r = channel({ rescan: 60000 });
    const pl = await l.join('g');
    const pr = await r.join('g');
    await l.sendTo([pr], 'before');
    assert.equal(await r.recvFromAny(), [pl, 'before'], 'the receiver has seen the leaver as a member');
    for (const m of ['m1', 'm2', 'm3']) await l.sendTo([pr], m);
    await l.leave('g');
    // Every one of these is written over the old membership (the leaver's queue included).
    const got = await within(Promise.all([r.recvFromAny(300), r.recvFromAny(300), r.recvFromAny(300)]), 5000);
    assert.equal(got, [null, null, null]);
    assert.equal(await queue(pl, pr), ['m1', 'm2', 'm3'].map((m) => dumps(m, { protocol: 2 }).toString('latin1')), 'back at the head, in order');
    // The pid joins again: its messages are delivered, in order.
    await admin.command('SADD', 'members', pl);
    assert.equal(await r.recvFromAny(2000), [pl, 'm1']);
    assert.equal(await r.recvFrom([pl], 2000), [pl, 'm2']);
    assert.equal(await r.recvFromAny(2000), [pl, 'm3']);
  });

  s('the caller removed from members while a message waits: NotJoinedError, the message stays', async () => {
    const a = channel();
    const r = channel();
    const pa = await a.join('g');
    const pr = await r.join('g');
    await a.sendTo([pr], 'first');
    assert.equal(await r.recvFromAny(), [pa, 'first']);
    await a.sendTo([pr], 'kept');
    await admin.command('SREM', 'members', pr); // (a leave made elsewhere)
    const e = await error_of(r.recvFromAny(2000));
    assert.instance(e, NotJoinedError);
    assert.equal(await queue(pa, pr), [dumps('kept', { protocol: 2 }).toString('latin1')]);
    const e2 = await error_of(r.recvFrom([pa], 2000));
    assert.instance(e2, NotJoinedError);
    assert.is((await queue(pa, pr)).length, 1);
  });

  s('a joiner missing from the last membership seen (no wake-up token: a Python peer) is heard at once, not after rescan', async () => {
    const a = channel();
    const r = channel({ rescan: 60000 });
    const pa = await a.join('g');
    const pr = await r.join('g');
    await a.sendTo([pr], 'seen');
    assert.equal(await r.recvFromAny(), [pa, 'seen']);
    const py = ['30', '31', '29'].find((p) => p !== pa && p !== pr)!;
    await admin.command('SADD', 'members', py);
    await admin.command('RPUSH', queue_key(py, pr), dumps('from python', { protocol: 2 }));
    const t0 = Date.now();
    assert.equal(await within(r.recvFromAny(20000), 5000), [py, 'from python']);
    assert.ok(Date.now() - t0 < 5000);
  });

  s('a joiner while a window of receives is blocked is heard, and the calls get its messages in call order', async () => {
    const r = channel({ rescan: 60000 });
    await r.join('g');
    const settled: unknown[] = [];
    const calls = [0, 1, 2].map(() =>
      r.recvFromAny(10000).then((m) => {
        settled.push(m);
        return m;
      }),
    );
    await blocked_clients(admin, 1);
    const late = channel();
    const pl = await late.join('g');
    for (const m of ['x', 'y', 'z']) await late.sendTo([r.pid!], m);
    // The first call's request is woken by the join's token and issued again behind the
    // others: the calls still get the messages in the order they were made.
    assert.equal(await within(Promise.all(calls), 5000), [[pl, 'x'], [pl, 'y'], [pl, 'z']]);
    assert.equal(settled, [[pl, 'x'], [pl, 'y'], [pl, 'z']]);
  });

  s('mixed receives in flight: calls with different senders each get their messages in call order', async () => {
    const a = channel();
    const b = channel();
    const r = channel({ rescan: 60000 });
    const [pa, pb] = [await a.join('g'), await b.join('g')];
    await r.join('g');
    const from_a = [r.recvFrom([pa], 5000), r.recvFrom([pa], 5000)];
    const any = [r.recvFrom([pb], 5000), r.recvFrom([pb, pb], 5000)];
    const from_a2 = r.recvFrom([pa], 5000);
    await b.sendTo([r.pid!], 'b1');
    await b.sendTo([r.pid!], 'b2');
    for (const m of ['a1', 'a2', 'a3']) await a.sendTo([r.pid!], m);
    const got = await within(Promise.all([...from_a, ...any, from_a2]), 5000);
    assert.equal(got.slice(0, 2), [[pa, 'a1'], [pa, 'a2']]);
    assert.equal(got[4], [pa, 'a3']);
    assert.equal(got.slice(2, 4), [[pb, 'b1'], [pb, 'b2']]);
  });

  s('close() with receives in flight: they reject, close is prompt, and later messages stay in Redis', async () => {
    const a = channel();
    const r = channel();
    const pa = await a.join('g');
    const pr = await r.join('g');
    const calls = Array.from({ length: 4 }, () => error_of(r.recvFromAny()));
    await blocked_clients(admin, 1);
    const t0 = Date.now();
    await r.close();
    assert.ok(Date.now() - t0 < 900, 'woken, not timed out');
    for (const c of calls) assert.instance(await c, RedisClosedError);
    assert.instance(await error_of(r.recvFromAny(10)), RedisClosedError);
    await a.sendTo([pr], 'after');
    assert.is((await queue(pa, pr)).length, 1);
    const r2 = channel();
    r2.bind(pr);
    assert.equal(await r2.recvFromAny(2000), [pa, 'after'], 'a leftover wake-up token costs nothing but a round trip');
  });

  s.run();
}

for (const [name, start] of backends()) receive_suite(name, start);
