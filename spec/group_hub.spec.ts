/**
 * One behaviour suite, run against a real redis-server and against the embedded hub: the
 * commands the client, the group package and the book's examples use, BLPOP timeouts and
 * fair wake-ups, WATCH/MULTI/EXEC. Then what only the hub needs proving: hostile bytes,
 * inline commands, and its store driven without sockets.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Engine, type Address } from '../lib/index.js';
import { serve_hub, Store, BLOCKED } from '../lib/group/index.js';
import { NULL_ARRAY, RedisClient, RedisError, type RedisReply, type RespOut } from '../lib/redis/index.js';
import { raw_connect, read_all, rng, sock_path, within } from './_helpers.js';
import { Deque } from '../lib/group/hub/deque.js';
import { HAVE_REDIS, RedisPeer, blocked_clients } from './_redis_peer.js';

interface Target {
  address: Address;
  stop(): Promise<void>;
}

async function rejection(p: Promise<unknown>): Promise<RedisError> {
  try {
    await p;
  } catch (err) {
    return err as RedisError;
  }
  throw new Error('expected a rejection');
}

function strings(v: RedisReply): string[] {
  return (v as Buffer[]).map(String);
}

function behaviour(name: string, start: () => Promise<Target>): void {
  const s = suite(`group hub behaviour: ${name}`);
  let target: Target;
  let engine: Engine;
  const clients: RedisClient[] = [];
  const client = (options: ConstructorParameters<typeof RedisClient>[0] = {}): RedisClient => {
    const c = new RedisClient({ address: target.address, engine, ...options });
    clients.push(c);
    return c;
  };
  s.before(async () => {
    engine = new Engine();
    target = await start();
  });
  s.after.each(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  s.after(async () => {
    await target.stop();
    assert.is(engine.channels.size, 0);
  });

  s('PING, ECHO, SELECT keeps databases apart, FLUSHALL empties them all', async () => {
    const r = client();
    assert.is(await r.command('PING'), 'PONG');
    assert.is(String(await r.command('PING', 'hi')), 'hi');
    assert.is(String(await r.command('ECHO', 'é')), 'é');
    await r.command('SET', 'k', 'zero');
    assert.is(await r.command('SELECT', 5), 'OK');
    assert.is(await r.command('GET', 'k'), null);
    await r.command('SET', 'k', 'five');
    await r.command('SELECT', 0);
    assert.is(String(await r.command('GET', 'k')), 'zero');
    assert.is(await r.command('FLUSHALL'), 'OK');
    assert.is(await r.command('EXISTS', 'k'), 0);
    await r.command('SELECT', 5);
    assert.is(await r.command('EXISTS', 'k'), 0);
    assert.match((await rejection(r.command('SELECT', 99))).message, /DB index is out of range/);
  });

  s('sets: SADD, SREM, SMEMBERS, SISMEMBER, and binary members', async () => {
    const r = client();
    await r.command('FLUSHALL');
    assert.is(await r.command('SADD', 'members', '3', '17', '3'), 2);
    assert.is(await r.command('SISMEMBER', 'members', '17'), 1);
    assert.is(await r.command('SISMEMBER', 'members', '4'), 0);
    assert.equal(strings(await r.command('SMEMBERS', 'members')).sort(), ['17', '3']);
    assert.is(await r.command('SREM', 'members', '17', 'nope'), 1);
    assert.is(await r.command('SREM', 'members', '3'), 1);
    assert.is(await r.command('EXISTS', 'members'), 0, 'an empty set is deleted');
    assert.equal(await r.command('SMEMBERS', 'members'), []);
    await r.command('SADD', 'bin', Buffer.from([0, 255]));
    assert.ok(((await r.command('SMEMBERS', 'bin')) as Buffer[])[0]!.equals(Buffer.from([0, 255])));
    const r3 = client({ protocol: 3, encoding: 'utf8' });
    await r3.command('SADD', 's3', 'a');
    assert.instance(await r3.command('SMEMBERS', 's3'), Set);
  });

  s("lists: RPUSH, LPOP, LREM, LRANGE, DEL, and the channel's queue keys", async () => {
    const r = client();
    await r.command('FLUSHALL');
    const key = "['3', '17']";
    assert.is(await r.command('RPUSH', key, 'a', 'b', 'a', 'c', 'a'), 5);
    assert.equal(strings(await r.command('LRANGE', key, 0, -1)), ['a', 'b', 'a', 'c', 'a']);
    assert.is(await r.command('LREM', key, 2, 'a'), 2);
    assert.equal(strings(await r.command('LRANGE', key, 0, -1)), ['b', 'c', 'a']);
    assert.is(await r.command('LREM', key, -1, 'a'), 1);
    assert.is(String(await r.command('LPOP', key)), 'b');
    assert.is(await r.command('LLEN', key), 1);
    assert.is(await r.command('DEL', key, 'nothing'), 1);
    assert.is(await r.command('LPOP', key), null);
    assert.is(await r.command('EXISTS', key), 0);
  });

  s('errors: WRONGTYPE, unknown commands, wrong argument counts', async () => {
    const r = client();
    await r.command('SET', 'str', 'x');
    assert.is((await rejection(r.command('RPUSH', 'str', 'y'))).prefix, 'WRONGTYPE');
    assert.is((await rejection(r.command('SADD', 'str', 'y'))).prefix, 'WRONGTYPE');
    assert.match((await rejection(r.command('FROBNICATE', 'a'))).message, /^ERR unknown command 'FROBNICATE', with args beginning with: 'a'/);
    assert.match((await rejection(r.command('SISMEMBER', 'k'))).message, /^ERR wrong number of arguments for 'sismember' command/);
    assert.match((await rejection(r.command('BLPOP', 'k', 'soon'))).message, /timeout is not a float/);
    assert.match((await rejection(r.command('BLPOP', 'k', -1))).message, /timeout is negative/);
  });

  s('BLPOP: a timeout answers null; keys are tried in order; a push wakes a waiter', async () => {
    const r = client();
    const other = client();
    await r.command('DEL', 'q1', 'q2');
    const t0 = Date.now();
    assert.is(await r.command('BLPOP', 'q1', 'q2', 0.1), null);
    assert.ok(Date.now() - t0 >= 80);
    await other.command('RPUSH', 'q2', 'two');
    await other.command('RPUSH', 'q1', 'one');
    assert.equal(strings(await r.command('BLPOP', 'q1', 'q2', 1)), ['q1', 'one'], 'the first key that has elements');
    assert.equal(strings(await r.command('BLPOP', 'q1', 'q2', 1)), ['q2', 'two']);
    const waiting = r.command('BLPOP', 'q1', 'q2', 0);
    const after = r.command('PING');
    await other.command('PING');
    await other.command('RPUSH', 'q2', 'late');
    assert.equal(strings(await waiting), ['q2', 'late']);
    assert.is(await after, 'PONG', 'commands behind a BLPOP run once it is answered');
  });

  s('BLPOP: fair wake-ups, first blocked first served, one element each', async () => {
    const pusher = client();
    await pusher.command('DEL', 'fair');
    const a = client();
    const b = client();
    const c = client();
    const got: string[] = [];
    const wait = (r: RedisClient, who: string) => r.command('BLPOP', 'fair', 5).then((v) => got.push(`${who}:${strings(v)[1]}`));
    // Each BLPOP is known to be blocked before the next client blocks: a PING on the same
    // connection could not tell (it waits behind), so ask the server who is blocked.
    const pa = wait(a, 'a');
    await blocked_clients(pusher, 1);
    const pb = wait(b, 'b');
    await blocked_clients(pusher, 2);
    const pc = wait(c, 'c');
    await blocked_clients(pusher, 3);
    await pusher.command('RPUSH', 'fair', '1', '2');
    await Promise.all([pa, pb]);
    assert.equal(got.sort(), ['a:1', 'b:2']);
    await pusher.command('RPUSH', 'fair', '3');
    await pc;
    assert.equal(got[2], 'c:3');
    assert.is(await pusher.command('LLEN', 'fair'), 0);
  });

  s('WATCH/MULTI/EXEC: a conflict gives null, DISCARD forgets, EXECABORT, an EXEC that pushes wakes a waiter', async () => {
    const a = client();
    const b = client();
    await a.command('DEL', 'members', 'w');
    let tx = await a.watch('members');
    await b.command('SADD', 'members', '1');
    assert.is(await tx.command('SADD', 'members', '2').exec(), null);
    tx = await a.watch('members');
    assert.equal(await tx.command('SADD', 'members', '2').command('SCARD', 'members').exec(), [1, 2]);
    // Raw commands, as redis-py sends them.
    assert.is(await a.command('MULTI'), 'OK');
    assert.is(await a.command('SET', 'w', '1'), 'QUEUED');
    assert.is(await a.command('DISCARD'), 'OK');
    assert.is(await a.command('GET', 'w'), null);
    assert.match((await rejection(a.command('EXEC'))).message, /EXEC without MULTI/);
    await a.command('MULTI');
    assert.match((await rejection(a.command('NOPE'))).message, /unknown command/);
    assert.match((await rejection(a.command('EXEC'))).message, /^EXECABORT/);
    // A transaction whose RPUSH serves a blocked client, after EXEC.
    const waiter = b.command('BLPOP', 'jobs', 5);
    await blocked_clients(a, 1);
    const replies = await a.multi().command('RPUSH', 'jobs', 'x').command('LLEN', 'jobs').exec();
    assert.equal(replies, [1, 1]);
    assert.equal(strings(await waiter), ['jobs', 'x']);
    // FLUSHALL counts as a write to every watched key that existed.
    await a.command('SET', 'existing', '1');
    tx = await a.watch('existing');
    await b.command('FLUSHALL');
    assert.is(await tx.command('SET', 'existing', '1').exec(), null);
    tx = await a.watch('missing');
    await b.command('FLUSHALL');
    assert.equal(await tx.command('SET', 'missing', '1').exec(), ['OK'], 'a missing key stays missing: no conflict');
  });

  s.run();
}


if (HAVE_REDIS) {
  behaviour('redis-server', async () => {
    const peer = await RedisPeer.start();
    return { address: peer.address, stop: () => peer.stop() };
  });
}
behaviour('embedded hub (TCP)', async () => {
  const hub = await serve_hub(['127.0.0.1', 0]);
  return { address: hub.address, stop: () => hub.stop() };
});

const Hub_ = suite('group hub: its own');

Hub_('serve_hub on a Unix socket; inline commands; hostile bytes close only that connection', async () => {
  const path = sock_path('hub');
  const hub = await serve_hub(path);
  assert.is(hub.address, path);
  const good = new RedisClient({ address: path });
  assert.is(await good.command('PING'), 'PONG');
  const inline = raw_connect(path);
  inline.end('PING\r\nECHO hello\r\n');
  assert.is((await within(read_all(inline))).toString(), '+PONG\r\n$5\r\nhello\r\n');
  const bad = raw_connect(path);
  bad.write('*2\r\n$3\r\nGET\r\n$-7\r\n');
  const answer = (await within(read_all(bad))).toString();
  assert.match(answer, /^-ERR Protocol error: a malformed bulk length/, answer);
  const nested = raw_connect(path);
  nested.write('*1\r\n*1\r\n$1\r\na\r\n');
  assert.match((await within(read_all(nested))).toString(), /^-ERR Protocol error/);
  const huge = raw_connect(path);
  huge.write('*1\r\n$99999999999\r\n');
  assert.match((await within(read_all(huge))).toString(), /^-ERR Protocol error: .*over the limit/);
  assert.is(await good.command('PING'), 'PONG', 'others are unaffected');
  await good.close();
  await hub.stop();
});

Hub_('a client that never reads its replies is paused, not buffered without bound; an over-long inline line is refused', async () => {
  const hub = await serve_hub(['127.0.0.1', 0]);
  const socket = raw_connect(hub.address);
  // 300 ECHOs of 60,000 bytes: 18 MB of replies, more than loopback's socket buffers hold.
  const n = 300;
  const payload = 'x'.repeat(60000);
  const command = `*2\r\n$4\r\nECHO\r\n$60000\r\n${payload}\r\n`;
  const reply_size = `$60000\r\n${payload}\r\n`.length;
  socket.write(Buffer.from(command.repeat(n)));
  socket.pause();
  let paused = false;
  for (let i = 0; i < 100000 && !paused; i++) {
    paused = [...hub.channels].some((c) => c.reading_paused);
    if (!paused) await new Promise((r) => setImmediate(r));
  }
  assert.ok(paused, 'the hub stopped reading the flood');
  let got = 0;
  const all = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got === n * reply_size) resolve();
    });
  });
  socket.resume();
  await within(all, 20000, 'every reply');
  socket.end();
  const long = raw_connect(hub.address);
  long.write('x'.repeat(200000));
  assert.match((await within(read_all(long))).toString(), /^-ERR Protocol error/);
  await hub.stop();
});

Hub_('the deque under the lists: both ends, wrap-around, growth, replace', () => {
  const d = new Deque<number>();
  const model: number[] = [];
  const random = rng(5);
  for (let i = 0; i < 5000; i++) {
    const op = Math.floor(random() * 4);
    if (op === 0) {
      d.push(i);
      model.push(i);
    } else if (op === 1) {
      d.unshift(i);
      model.unshift(i);
    } else if (op === 2) assert.is(d.shift(), model.shift());
    else assert.is(d.pop(), model.pop());
    assert.is(d.length, model.length);
  }
  assert.equal(d.slice(0, d.length), model);
  assert.is(d.at(-1), undefined);
  d.replace([1, 2, 3]);
  assert.equal(d.slice(1, 10), [2, 3]);
});

Hub_('the store without sockets: fair wake-ups, timeouts, drop', () => {
  const store = new Store();
  const inbox = new Map<number, RespOut[]>();
  const session = () => {
    const s = store.session((reply) => inbox.get(s.id)!.push(reply));
    inbox.set(s.id, []);
    return s;
  };
  const b = (...words: string[]) => words.map((w) => Buffer.from(w));
  const [x, y, z, p] = [session(), session(), session(), session()];
  assert.is(store.execute(x, b('BLPOP', 'k', '0')), BLOCKED);
  assert.is(store.execute(y, b('BLPOP', 'other', 'k', '1')), BLOCKED);
  assert.is(store.execute(z, b('BLPOP', 'k', '0')), BLOCKED);
  assert.is(store.blocked_count, 4);
  store.drop(z);
  assert.is(store.execute(p, b('RPUSH', 'k', '1', '2', '3')), 3);
  assert.equal(inbox.get(x.id)!.map((r) => strings(r as RedisReply)), [['k', '1']]);
  assert.equal(inbox.get(y.id)!.map((r) => strings(r as RedisReply)), [['k', '2']]);
  assert.equal(inbox.get(z.id), []);
  assert.is(store.execute(p, b('LLEN', 'k')), 1);
  assert.is(store.execute(x, b('BLPOP', 'none', '1')), BLOCKED);
  store.timeout(x);
  assert.is(inbox.get(x.id)![1], NULL_ARRAY);
  assert.is(store.blocked_count, 0);
});

Hub_.run();
