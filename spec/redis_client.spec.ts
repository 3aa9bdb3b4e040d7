/**
 * RedisClient against a real, private redis-server (a free port and a Unix socket): every
 * reply type, pipelining 10,000 commands, transactions with a conflicting WATCH, BLPOP
 * timeouts, AUTH, duplicate(), a server killed and restarted mid-run, and the offline
 * queue's bounds. Faults from a scripted peer are in redis_faults.spec.ts.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../lib/index.js';
import {
  RedisClient,
  RedisClosedError,
  RedisConnectionError,
  RedisError,
  RedisQueueFullError,
  type RedisReply,
} from '../lib/redis/index.js';
import { within } from './_helpers.js';
import { HAVE_REDIS, RedisPeer, free_port } from './_redis_peer.js';

const Client = suite('redis client: real redis-server');
let peer: RedisPeer;
let engine: Engine;

Client.before(async () => {
  peer = await RedisPeer.start();
  engine = new Engine();
});
Client.after(async () => {
  await peer.stop();
  assert.is(engine.channels.size, 0, 'every connection closed');
});

function client(options: ConstructorParameters<typeof RedisClient>[0] = {}): RedisClient {
  return new RedisClient({ address: peer.address, engine, ...options });
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

Client('every RESP2 reply type', async () => {
  const r = client();
  assert.is(await r.command('FLUSHALL'), 'OK');
  assert.is(await r.command('PING'), 'PONG');
  assert.is(await r.command('SET', 'k', Buffer.from([0, 13, 10, 255])), 'OK');
  const bytes = await r.command('GET', 'k');
  assert.ok(Buffer.isBuffer(bytes) && bytes.equals(Buffer.from([0, 13, 10, 255])));
  assert.is(await r.command('GET', 'missing'), null);
  assert.is(await r.command('INCRBY', 'n', 41), 41);
  assert.is(await r.command('INCRBY', 'big', 9007199254740993n), 9007199254740993n, 'beyond the safe range: a bigint');
  assert.is(await r.command('DECRBY', 'neg', 9223372036854775807n), -9223372036854775807n);
  await r.command('RPUSH', 'l', 'a', 'é', 3);
  assert.equal((await r.command<Buffer[]>('LRANGE', 'l', 0, -1)).map(String), ['a', 'é', '3']);
  assert.equal(await r.command('LRANGE', 'nothing', 0, -1), []);
  const err = await rejection(r.command('LPUSH', 'k', 'x'));
  assert.instance(err, RedisError);
  assert.is((err as RedisError).prefix, 'WRONGTYPE');
  assert.is((err as RedisError).code, 'ERR_REDIS_REPLY');
  const unknown = await rejection(r.command('NOSUCHCOMMAND'));
  assert.match(unknown.message, /unknown command/);
  // Nested arrays: a transaction's replies, an error in place.
  const nested = await r.multi().command('SET', 'z', 1).command('LPUSH', 'z', 2).command('LRANGE', 'l', 0, 0).exec();
  assert.is(nested![0], 'OK');
  assert.instance(nested![1], RedisError);
  assert.equal((nested![2] as Buffer[]).map(String), ['a']);
  await r.close();
});

Client('an encoding gives strings; RESP3 through HELLO 3 gives maps, sets, doubles', async () => {
  const s = client({ encoding: 'utf8' });
  await s.command('HSET', 'h', 'f1', 'v1', 'f2', 'v2');
  assert.equal(await s.command('HGETALL', 'h'), ['f1', 'v1', 'f2', 'v2']);
  const r3 = client({ protocol: 3, encoding: 'utf8' });
  const map = (await r3.command('HGETALL', 'h')) as Map<RedisReply, RedisReply>;
  assert.instance(map, Map);
  assert.is(map.get('f2'), 'v2');
  await r3.command('SADD', 'set3', 'x', 'y');
  const set = (await r3.command('SMEMBERS', 'set3')) as Set<RedisReply>;
  assert.instance(set, Set);
  assert.ok(set.has('x') && set.has('y'));
  await r3.command('ZADD', 'zz', 1.5, 'm');
  assert.is(await r3.command('ZSCORE', 'zz', 'm'), 1.5);
  assert.is(await r3.command('GET', 'missing'), null);
  await Promise.all([s.close(), r3.close()]);
});

Client('10,000 pipelined commands: one write per tick, replies matched in order', async () => {
  const r = client();
  await r.command('DEL', 'counter');
  const replies = await within(Promise.all(Array.from({ length: 10000 }, () => r.command('INCR', 'counter'))), 10000, 'pipeline');
  for (let i = 0; i < replies.length; i++) if (replies[i] !== i + 1) assert.unreachable(`reply ${i} was ${String(replies[i])}`);
  assert.is(await r.command('GET', 'counter').then(String), '10000');
  await r.close();
});

Client('WATCH: a conflicting write makes exec() resolve null; no conflict runs it', async () => {
  const a = client();
  const b = client();
  await a.command('SET', 'w', '1');
  const tx = await a.watch('w');
  const seen = await a.command('GET', 'w');
  await b.command('SET', 'w', 'changed');
  assert.is(await tx.command('SET', 'w', String(Number(seen) + 1)).exec(), null, 'the watched key changed');
  assert.is(String(await a.command('GET', 'w')), 'changed');
  const again = await a.watch('w');
  const ok = await again.command('SET', 'w', 'mine').command('GET', 'w').exec();
  assert.equal(ok!.map(String), ['OK', 'mine']);
  // A command Redis refuses to queue aborts the whole transaction.
  const bad = await rejection(a.multi().command('SET', 'w', 'x').command('SET', 'w').exec());
  assert.instance(bad, RedisError);
  assert.match(bad.message, /^EXECABORT/);
  assert.is(String(await a.command('GET', 'w')), 'mine');
  // Watches on one client take turns: the second waits for the first's exec.
  const first = await a.watch('w');
  const order: string[] = [];
  const second = a.watch('w').then((t) => {
    order.push('second');
    return t;
  });
  await a.command('PING');
  order.push('first exec');
  await first.command('SET', 'w', '1').exec();
  const t2 = await second;
  assert.equal(order, ['first exec', 'second']);
  await t2.discard();
  await Promise.all([a.close(), b.close()]);
});

Client('BLPOP: a timeout gives null; a push wakes it; later commands wait behind it', async () => {
  const r = client();
  const pusher = r.duplicate();
  await r.command('DEL', 'q');
  const t0 = Date.now();
  assert.is(await r.command('BLPOP', 'q', 0.2), null);
  assert.ok(Date.now() - t0 >= 150, 'waited for the timeout');
  const popped = r.command<Buffer[]>('BLPOP', 'q', 5);
  const behind = r.command('PING');
  let behind_done = false;
  void behind.then(() => (behind_done = true));
  await pusher.command('PING');
  assert.not.ok(behind_done, 'PING waits behind the blocked BLPOP');
  await pusher.command('RPUSH', 'q', 'job');
  assert.equal((await popped).map(String), ['q', 'job']);
  assert.is(await behind, 'PONG');
  await Promise.all([r.close(), pusher.close()]);
});

Client('duplicate() opens its own connection with the same options', async () => {
  const r = client({ db: 3 });
  const d = r.duplicate();
  const [id1, id2] = await Promise.all([r.command('CLIENT', 'ID'), d.command('CLIENT', 'ID')]);
  assert.is.not(id1, id2);
  await d.command('SET', 'dbkey', 'three');
  const zero = client();
  assert.is(await zero.command('GET', 'dbkey'), null, 'db 3, not db 0');
  assert.is(String(await r.command('GET', 'dbkey')), 'three');
  await Promise.all([r.close(), d.close(), zero.close()]);
});

Client('a Unix socket', async () => {
  const r = new RedisClient({ address: peer.socket, engine });
  assert.is(String(await r.command('ECHO', 'over unix')), 'over unix');
  assert.is(r.connected, true);
  assert.is(String(await r.command('ECHO', 'x')), 'x');
  await r.close();
});

Client('close(): unanswered commands reject with RedisClosedError, and so does anything later', async () => {
  const r = client();
  await r.ready();
  const blocked = rejection(r.command('BLPOP', 'never', 0));
  await r.close();
  assert.instance(await blocked, RedisClosedError);
  assert.instance(await rejection(r.command('PING')), RedisClosedError);
  await r.close();
});

Client('a server killed and restarted mid-run: written commands rejected, never resent; later ones go out', async () => {
  const r = client({ reconnect: { min_delay: 20, max_delay: 100, retries: 100 } });
  await r.command('DEL', 'log');
  const after_restart = new Set<number>();
  const rejected: number[] = [];
  let restarted = false;
  const all: Promise<void>[] = [];
  let i = 0;
  const issue = (): void => {
    const n = i++;
    all.push(
      r.command('RPUSH', 'log', n).then(
        () => {
          if (restarted) after_restart.add(n);
        },
        (err: Error) => {
          assert.instance(err, RedisConnectionError, String(err));
          rejected.push(n);
        },
      ),
    );
  };
  // A first stretch, half of it still in flight when the server dies.
  for (let k = 0; k < 2000; k++) issue();
  await all[999];
  await peer.kill();
  // Once the client has seen the connection go (a state change, checked each turn):
  for (let turn = 0; r.connected; turn++) {
    if (turn > 100000) throw new Error('the client never noticed the dead server');
    await new Promise((resolve) => setImmediate(resolve));
  }
  // Issued while the server is down: they wait.
  for (let k = 0; k < 300; k++) issue();
  restarted = true;
  await peer.restart();
  for (let k = 0; k < 300; k++) issue();
  await within(Promise.all(all), 15000, 'every command settled');
  const stored = ((await r.command('LRANGE', 'log', 0, -1)) as Buffer[]).map((b) => Number(String(b)));
  assert.is(new Set(stored).size, stored.length, 'no command ran twice');
  assert.equal(new Set(stored), after_restart, 'exactly the commands answered by the new server are stored');
  assert.ok(after_restart.size >= 600, 'the 600 issued after the kill all went through');
  for (const n of rejected) assert.not.ok(after_restart.has(n));
  await r.close();
});

Client('engine.stop() closes the client for good: no reconnection after it', async () => {
  const own = new Engine();
  const r = new RedisClient({ address: peer.address, engine: own, reconnect: { min_delay: 1 } });
  assert.is(await r.command('PING'), 'PONG');
  await within(own.stop(), 5000, 'engine.stop()');
  assert.ok(r.closed);
  assert.is(own.channels.size, 0);
  assert.instance(await rejection(r.command('PING')), RedisClosedError);
});

Client('reconnect: false, and max_waiting bounds what waits while disconnected', async () => {
  const port = await free_port();
  const none = new RedisClient({ address: ['127.0.0.1', port], engine, reconnect: false });
  const first = await rejection(none.command('PING'));
  assert.instance(first, RedisClosedError);
  assert.match(String((first as RedisClosedError).cause), /ECONNREFUSED|connect/);
  const bounded = new RedisClient({ address: ['127.0.0.1', port], engine, max_waiting: 2, reconnect: { min_delay: 1000 } });
  const w1 = rejection(bounded.command('PING'));
  const w2 = rejection(bounded.command('PING'));
  assert.instance(await rejection(bounded.command('PING')), RedisQueueFullError);
  const zero = new RedisClient({ address: ['127.0.0.1', port], engine, max_waiting: 0, reconnect: { min_delay: 1000 } });
  assert.instance(await rejection(zero.command('PING')), RedisConnectionError);
  await Promise.all([bounded.close(), zero.close(), none.close()]);
  assert.instance(await w1, RedisClosedError);
  assert.instance(await w2, RedisClosedError);
});

const Auth = suite('redis client: AUTH');
let locked: RedisPeer;
Auth.before(async () => {
  locked = await RedisPeer.start(['--requirepass', 's3cret', '--user', 'alice', 'on', '>wonder', '~*', '+@all']);
});
Auth.after(() => locked.stop());

Auth('a password, a user and password, a wrong one, none', async () => {
  const good = new RedisClient({ address: locked.address, engine, password: 's3cret' });
  assert.is(await good.command('PING'), 'PONG');
  const user = new RedisClient({ address: locked.socket, engine, username: 'alice', password: 'wonder', protocol: 3 });
  assert.is(await user.command('ACL', 'WHOAMI').then(String), 'alice');
  const wrong = new RedisClient({ address: locked.address, engine, password: 'nope' });
  const err = await rejection(wrong.ready());
  assert.instance(err, RedisClosedError);
  assert.instance((err as RedisClosedError).cause, RedisError);
  assert.match(String((err as RedisClosedError).cause), /WRONGPASS|invalid/);
  const anon = new RedisClient({ address: locked.address, engine });
  const noauth = await rejection(anon.command('GET', 'x'));
  assert.is((noauth as RedisError).prefix, 'NOAUTH');
  await Promise.all([good.close(), user.close(), wrong.close(), anon.close()]);
});

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../spec/fixtures');
const Tls = suite('redis client: TLS');
let secure: RedisPeer;
let tls_port = 0;
Tls.before(async () => {
  tls_port = await free_port();
  secure = await RedisPeer.start([
    '--port', '0', '--tls-port', String(tls_port),
    '--tls-cert-file', path.join(FIXTURES, 'server.crt'), '--tls-key-file', path.join(FIXTURES, 'server.key'),
    '--tls-ca-cert-file', path.join(FIXTURES, 'ca.crt'), '--tls-auth-clients', 'no',
  ]);
});
Tls.after(() => secure.stop());

Tls('commands over TLS, the server verified against the test CA', async () => {
  const r = new RedisClient({ address: ['127.0.0.1', tls_port], engine, tls: { ca: fs.readFileSync(path.join(FIXTURES, 'ca.crt')), servername: 'localhost' } });
  assert.is(await r.command('PING'), 'PONG');
  assert.is(String(await r.command('ECHO', 'secret')), 'secret');
  const untrusting = new RedisClient({ address: ['127.0.0.1', tls_port], engine, tls: {}, reconnect: false });
  const err = await rejection(untrusting.ready());
  assert.instance(err, RedisClosedError, 'an unverified server is refused');
  assert.match(String((err as RedisClosedError).cause), /SELF_SIGNED|certificate|TLS/);
  await Promise.all([r.close(), untrusting.close()]);
});

if (HAVE_REDIS) {
  Client.run();
  Auth.run();
  Tls.run();
} else {
  console.log('redis-server not installed (bash .ci/peers): redis client specs skipped');
}
