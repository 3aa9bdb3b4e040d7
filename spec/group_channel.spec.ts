/**
 * The group Channel, one suite run against a real redis-server and against the embedded hub:
 * the Python package's layout byte for byte, send and receive with pickled values, timeouts,
 * typed errors, `leave`, a joiner heard by a receiver already blocked, racing joins.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Engine, type Address } from '../lib/index.js';
import {
  Channel,
  GroupFullError,
  NoSendersError,
  NotBoundError,
  NotJoinedError,
  UnknownDestinationError,
  UnknownSenderError,
  queue_key,
} from '../lib/group/index.js';
import { dumps, loads, tuple, Tuple } from '../lib/pickle/index.js';
import { RedisClient } from '../lib/redis/index.js';
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

function group_suite(name: string, start: () => Promise<{ address: Address; stop(): Promise<void> }>): void {
  const s = suite(`group channel: ${name}`);
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

  s('join: a random free pid below 2^nBits, in members and its subgroup, xchan pairs; it binds', async () => {
    const a = channel();
    const b = channel();
    const pa = await a.join('server');
    assert.match(pa, /^([0-9]|[12][0-9]|3[01])$/);
    assert.is(a.pid, pa);
    const pb = await b.join('client');
    const pb2 = await b.join('client');
    assert.is(b.pid, pb, 'a second join does not rebind');
    assert.equal((await a.subgroup('client')).sort(), [pb, pb2].sort());
    assert.equal(await a.subgroup('server'), [pa]);
    assert.equal(((await admin.command('SMEMBERS', 'members')) as Buffer[]).map(String).sort(), [pa, pb, pb2].sort());
    const xchan = ((await admin.command('LRANGE', 'xchan', 0, -1)) as Buffer[]).map((x) => (loads(x) as string[]).join('>'));
    const pairs = [[pb, pa], [pa, pb], [pb2, pa], [pa, pb2], [pb2, pb], [pb, pb2]].map((p) => p.join('>'));
    assert.equal(xchan.sort(), pairs.sort(), 'both directions for every earlier member');
    assert.ok(await a.exists(pb));
    assert.not.ok(await a.exists(99));
  });

  s('the layout: messages are pickled (protocol 2) in the "[\'<s>\', \'<r>\']" list', async () => {
    const a = channel();
    const b = channel();
    const pa = await a.join('x');
    const pb = await b.join('x');
    const message = tuple<unknown>('LOOKUP_REQ', 42, [1.5, null, true], new Map([['k', 'v']]));
    await a.sendTo([pb], message);
    const raw = (await admin.command('LRANGE', queue_key(pa, pb), 0, -1)) as Buffer[];
    assert.is(raw.length, 1);
    assert.ok(raw[0]!.equals(dumps(message, { protocol: 2 })));
    const got = await b.recvFromAny();
    assert.is(got![0], pa);
    assert.instance(got![1], Tuple);
    assert.equal([...(got![1] as Tuple)], ['LOOKUP_REQ', 42, [1.5, null, true], new Map([['k', 'v']])]);
  });

  s('recvFrom and recvFromAny: per-pair FIFO, sendToAll includes the caller, timeouts give null', async () => {
    const a = channel();
    const b = channel();
    const c = channel();
    const [pa, pb, pc] = [await a.join('g'), await b.join('g'), await c.join('g')];
    for (let i = 0; i < 50; i++) void a.sendTo([pc], `a${i}`);
    await b.sendTo([pc], 'from b');
    assert.equal(await c.recvFrom([pb]), [pb, 'from b']);
    for (let i = 0; i < 50; i++) assert.equal(await c.recvFrom([pa]), [pa, `a${i}`]);
    await b.sendToAll('everyone');
    assert.equal(await a.recvFromAny(), [pb, 'everyone']);
    assert.equal(await b.recvFromAny(), [pb, 'everyone'], 'the sender too');
    assert.equal(await c.recvFromAny(), [pb, 'everyone']);
    const t0 = Date.now();
    assert.is(await c.recvFromAny(150), null);
    assert.ok(Date.now() - t0 >= 140, 'waited the timeout');
    assert.is(await c.recvFrom([pa, pb], 50), null);
  });

  s('typed errors: not bound, not joined, unknown destination or sender, no senders, full', async () => {
    const a = channel();
    assert.instance(await error_of(a.sendTo(['1'], 'x')), NotBoundError);
    assert.instance(await error_of(a.recvFromAny(10)), NotBoundError);
    a.bind(7);
    assert.instance(await error_of(a.sendTo(['1'], 'x')), NotJoinedError);
    const pa = await a.join('g');
    assert.is(a.pid, '7', 'bind came first');
    a.bind(pa);
    const stranger = String((Number(pa) + 1) % 32);
    const e = await error_of(a.sendTo([stranger], 'x'));
    assert.instance(e, UnknownDestinationError);
    assert.is((e as UnknownDestinationError).pid, stranger);
    assert.is((e as UnknownDestinationError).code, 'ERR_GROUP_UNKNOWN_DESTINATION');
    assert.instance(await error_of(a.recvFrom([stranger], 10)), UnknownSenderError);
    assert.instance(await error_of(a.recvFrom([], 10)), NoSendersError);
    assert.throws(() => a.bind('x1'), (err: unknown) => err instanceof TypeError);
    await admin.command('FLUSHALL');
    const tiny = channel({ nBits: 1 });
    assert.equal([await tiny.join('g'), await tiny.join('g')].sort(), ['0', '1']);
    const full = await error_of(tiny.join('g'));
    assert.instance(full, GroupFullError);
    assert.is((full as GroupFullError).size, 2);
  });

  s('leave works: out of members, subgroup and xchan; unbound; others get UnknownDestination', async () => {
    const a = channel();
    const b = channel();
    const pa = await a.join('server');
    const pb = await b.join('client');
    await b.leave('client');
    assert.is(b.pid, null);
    assert.not.ok(await a.exists(pb));
    assert.equal(await a.subgroup('client'), []);
    const xchan = ((await admin.command('LRANGE', 'xchan', 0, -1)) as Buffer[]).map((x) => loads(x) as string[]);
    assert.not.ok(xchan.some((pair) => pair.includes(pb)));
    assert.instance(await error_of(a.sendTo([pb], 'x')), UnknownDestinationError);
    assert.instance(await error_of(b.sendTo([pa], 'x')), NotBoundError);
    b.bind(pb);
    assert.instance(await error_of(b.sendTo([pa], 'x')), NotJoinedError);
  });

  s('a member that joins while a receiver is blocked is heard without the receiver calling again', async () => {
    const a = channel({ rescan: 60000 });
    await a.join('server');
    const waiting = a.recvFromAny(10000);
    // The receiver is blocked on the old member list before the newcomer joins.
    await blocked_clients(admin, 1);
    const late = channel();
    const pl = await late.join('client');
    await late.sendTo([a.pid!], 'hello from a latecomer');
    assert.equal(await within(waiting, 5000), [pl, 'hello from a latecomer']);
  });

  s('a joiner that pushes no wake-up token (a Python peer) is heard within rescan ms', async () => {
    const a = channel({ rescan: 100 });
    const pa = await a.join('server');
    const waiting = a.recvFromAny(10000);
    await blocked_clients(admin, 1);
    // What the Python package does, by hand: SADD members, then RPUSH a pickled message.
    await admin.command('SADD', 'members', '31' === pa ? '30' : '31');
    const py = '31' === pa ? '30' : '31';
    await admin.command('RPUSH', queue_key(py, pa), dumps('from python', { protocol: 4 }));
    assert.equal(await within(waiting, 5000), [py, 'from python']);
  });

  s('member_cache trusts a members snapshot that long (the documented trade-off); the default does not', async () => {
    const cached = channel({ member_cache: 60000 });
    const fresh = channel();
    const b = channel();
    await cached.join('g');
    await fresh.join('g');
    const pb = await b.join('g');
    await cached.sendTo([pb], 'seen in a refreshed snapshot');
    await fresh.sendTo([pb], 'checked afresh');
    await b.leave('g');
    await cached.sendTo([pb], 'accepted: the snapshot still lists it');
    assert.instance(await error_of(fresh.sendTo([pb], 'refused')), UnknownDestinationError);
    assert.is(await admin.command('LLEN', queue_key(cached.pid!, pb)), 2);
  });

  s('concurrent joins never share a pid; codec json for Node-only groups', async () => {
    const chans = Array.from({ length: 24 }, () => channel());
    const pids = await Promise.all(chans.map((c) => c.join('crowd')));
    assert.is(new Set(pids).size, 24);
    assert.is(((await admin.command('SMEMBERS', 'members')) as Buffer[]).length, 24);
    await Promise.all(open.splice(0).map((c) => c.close()));
    await admin.command('FLUSHALL');
    const j1 = channel({ codec: 'json' });
    const j2 = channel({ codec: 'json' });
    await j1.join('j');
    const p2 = await j2.join('j');
    await j1.sendTo([p2], { nested: [1, 'two'] });
    assert.equal(await j2.recvFrom([j1.pid!]), [j1.pid, { nested: [1, 'two'] }]);
  });

  s.run();
}

for (const [name, start] of backends()) group_suite(name, start);
