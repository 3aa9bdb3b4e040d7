/**
 * trousers/yoton between Node contexts over loopback: binding and connecting, the handshake
 * (refusing itself and strangers), flooding through chains and loops exactly once, queues
 * before the first connection, pub/sub (recv modes, types, iteration, ordered merge, sync
 * mode), req/rep (load balancing, requests before any replier, errors, Future API), state
 * for late joiners, the event system and clientserver.
 */

import { Buffer } from 'node:buffer';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BINARY,
  MessageType,
  OBJECT,
  resolve_address,
  PubChannel,
  RepChannel,
  ReqChannel,
  RequestServer,
  Signal,
  StateChannel,
  SubChannel,
  Timer,
  Tuple,
  YotonCancelledError,
  YotonConnectError,
  YotonRemoteError,
  YotonTimeoutError,
  call_later,
  process_events,
  do_request,
  select_sub_channel,
  tuple,
} from '../lib/yoton/index.js';
import { within } from './_helpers.js';
import { next, until, World } from './yoton_world.js';

async function rejects(p: Promise<unknown>, test: (e: unknown) => boolean, what: string): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    assert.ok(test(e), `${what}: ${String(e)}`);
    return e;
  }
  assert.unreachable(`${what}: did not reject`);
  return undefined;
}

const net_ = suite('yoton contexts and connections');

net_('bind waits for one peer; connect shakes hands; both sides know each other', async () => {
  const w = new World();
  try {
    const a = w.ctx();
    const b = w.ctx();
    const h = a.bind('localhost:0', { name: 'to-b' });
    assert.ok(h.is_waiting && h.is_alive && !h.is_connected);
    assert.is(a.connections_all.length, 1);
    assert.is(a.connection_count, 0);
    await h.bound();
    assert.ok(h.port1 > 0);
    const g = await b.connect(`127.0.0.1:${h.port1}`, { name: 'to-a' });
    await until(() => h.is_connected, 'hosting');
    assert.is(h.status_code, 3);
    assert.is(g.status_code, 4);
    assert.is(h.id2, b.id);
    assert.is(g.id2, a.id);
    assert.is(g.pid2, process.pid);
    assert.is(g.port2, h.port1);
    assert.is(h.port2, g.port1);
    assert.is(a.connections.get('to-b'), h);
    assert.is(b.connections.get(0), g);
    assert.throws(() => a.connections.get(''), /empty string/);
    assert.throws(() => a.connections.get('nope'), /No connection/);
    assert.throws(() => (h.timeout = 100), /at least 500/);
    h.timeout = 800;
    assert.is(h.timeout, 800);
    await a.flush(1000);
  } finally {
    await w.end();
  }
});

net_('connect fails with yoton messages: nobody there, itself, a stranger', async () => {
  const w = new World();
  try {
    const a = w.ctx();
    const h = a.bind('localhost:0');
    await h.bound();
    const failed = next(h.handshake_failed);
    const e = (await rejects(a.connect(`localhost:${h.port1}`), (e) => e instanceof YotonConnectError, 'self')) as Error;
    assert.is(e.message, 'Could not connect: Handshake failed (context cannot connect to self).');
    const [, why] = await failed;
    assert.is(why, 'Handshake failed (context cannot connect to self).');
    assert.ok(h.is_waiting, 'still waiting after a failed handshake');
    // a stranger that answers with something else
    const port = await w.raw_server((s) => s.once('data', () => s.end('HTTP/1.0 400 Bad\r\n')));
    const e2 = (await rejects(a.connect(`localhost:${port}`), (e) => e instanceof YotonConnectError, 'stranger')) as Error;
    assert.is(e2.message, 'Could not connect: Handshake failed.');
    // nobody listening (the stranger's port, once closed)
    const closed_port = await w.raw_server(() => {});
    await new Promise((r) => w.servers.pop()!.close(r));
    const t0 = Date.now();
    const e3 = (await rejects(a.connect(`localhost:${closed_port}`, { timeout: 150 }), (e) => e instanceof YotonConnectError, 'refused')) as Error;
    assert.match(e3.message, new RegExp(`^Cannot connect to 127.0.0.1 on ${closed_port}: `));
    assert.ok(Date.now() - t0 >= 140, 'kept trying for the timeout');
    // the bound connection still takes a real peer
    const b = w.ctx();
    await b.connect(`localhost:${h.port1}`);
    await until(() => h.is_connected, 'connected after failures');
  } finally {
    await w.end();
  }
});

net_('one peer per bind: the port stops listening and can be bound again', async () => {
  const w = new World();
  try {
    const [a, b, c] = [w.ctx(), w.ctx(), w.ctx()];
    const [h] = await w.link(a, b);
    await rejects(c.connect(`localhost:${h.port1}`, { timeout: 50 }), (e) => e instanceof YotonConnectError, 'second peer');
    const again = a.bind(`localhost:${h.port1}`);
    await again.bound();
    assert.is(again.port1, h.port1);
    await c.connect(`localhost:${h.port1}`);
  } finally {
    await w.end();
  }
});

net_('bind with max_tries walks past a busy port', async () => {
  const w = new World();
  try {
    const a = w.ctx();
    const first = a.bind('localhost:0');
    await first.bound();
    const second = a.bind(`localhost:${first.port1}`, { max_tries: 5 });
    await second.bound();
    assert.ok(second.port1 > first.port1 && second.port1 <= first.port1 + 5, `port ${second.port1}`);
    const third = a.bind(`localhost:${first.port1}`);
    await rejects(third.bound(), (e) => (e as Error).name === 'YotonBindError', 'busy port, one try');
    assert.ok(!third.is_alive);
  } finally {
    await w.end();
  }
});

net_('close sends the close package: the peer reports "Closed from other end."', async () => {
  const w = new World();
  try {
    const [h, g] = await w.link(w.ctx(), w.ctx());
    const peer = next(g.closed);
    const mine = next(h.closed);
    h.close();
    assert.equal((await mine)[1], 'Closed on command.');
    assert.equal((await peer)[1], 'Closed from other end.');
    assert.ok(!g.is_alive);
    const [h2, g2] = await w.link(w.contexts[0]!, w.contexts[1]!);
    const peer2 = next(g2.closed);
    h2.close_on_problem('bad things');
    assert.equal((await peer2)[1], 'Other end dropped the connection.');
  } finally {
    await w.end();
  }
});

net_.run();

const flood = suite('yoton flooding');

flood('a chain A-B-C delivers each message once, end to end', async () => {
  const w = new World();
  try {
    const [A, B, C] = [w.ctx(), w.ctx(), w.ctx()];
    await w.link(A, B);
    await w.link(B, C);
    const pub = new PubChannel(A, 'chain');
    const sb = new SubChannel(B, 'chain');
    const sc = new SubChannel(C, ' CHAIN');
    for (let i = 0; i < 50; i++) void pub.send(`m${i}`);
    for (let i = 0; i < 50; i++) {
      assert.is(await within(sc.recv(), 3000, 'C'), `m${i}`);
      assert.is(await within(sb.recv(), 3000, 'B'), `m${i}`);
    }
    await A.flush();
    await B.flush();
    assert.is(await sc.recv(30), '', 'nothing more at C');
  } finally {
    await w.end();
  }
});

flood('a loop A-B-C-A delivers each message once everywhere, never back to its sender', async () => {
  const w = new World();
  try {
    const [A, B, C] = [w.ctx(), w.ctx(), w.ctx()];
    await w.link(A, B);
    await w.link(B, C);
    await w.link(C, A);
    const pub = new PubChannel(A, 'loop');
    const subs = [new SubChannel(A, 'loop'), new SubChannel(B, 'loop'), new SubChannel(C, 'loop')];
    for (let i = 0; i < 30; i++) void pub.send(`m${i}`);
    void pub.send('end');
    for (const s of subs.slice(1)) {
      for (let i = 0; i < 30; i++) assert.is(await within(s.recv(), 3000, 'loop recv'), `m${i}`);
      assert.is(await s.recv(2000), 'end');
    }
    await Promise.all([A.flush(), B.flush(), C.flush()]);
    await new Promise((r) => setTimeout(r, 50)); // anything still circling would be here by now
    assert.is(subs[1]!.pending + subs[2]!.pending, 0, 'no duplicates');
    assert.is(subs[0]!.pending, 0, 'the sender never gets its own messages back');
  } finally {
    await w.end();
  }
});

flood('messages sent before any connection wait in the queue and go to the first one', async () => {
  const w = new World();
  try {
    const A = w.ctx();
    const small = w.ctx({ queue_params: [3, 'old'] });
    const pa = new PubChannel(A, 'early');
    const ps = new PubChannel(small, 'early');
    for (let i = 0; i < 5; i++) {
      void pa.send(`a${i}`);
      void ps.send(`s${i}`);
    }
    assert.is(A.queued, 5);
    assert.is(small.queued, 3, 'bounded by queue_params');
    const B = w.ctx();
    const sub = new SubChannel(B, 'early');
    const h = B.bind('localhost:0');
    await h.bound();
    await A.connect(`localhost:${h.port1}`);
    for (let i = 0; i < 5; i++) assert.is(await within(sub.recv(), 2000), `a${i}`);
    const B2 = w.ctx();
    const sub2 = new SubChannel(B2, 'early');
    const h2 = B2.bind('localhost:0');
    await h2.bound();
    await small.connect(`localhost:${h2.port1}`);
    for (let i = 2; i < 5; i++) assert.is(await within(sub2.recv(), 2000), `s${i}`, "'old' kept the newest");
    assert.is(A.queued + small.queued, 0);
  } finally {
    await w.end();
  }
});

flood.run();

const ps = suite('yoton pub/sub');

ps('recv modes, types, slots, closing', async () => {
  const w = new World();
  try {
    const [A, B] = [w.ctx(), w.ctx()];
    await w.link(A, B);
    const pub = new PubChannel(A, 'News');
    const sub = new SubChannel(B, ' news');
    assert.is(pub.slot_outgoing, 'News.txt.pub-sub');
    assert.is(pub.slot_incoming, 'News.txt.sub-pub');
    assert.throws(() => new PubChannel(A, 'NEWS'), /Slot not free: NEWS.txt.pub-sub/);
    assert.is(await sub.recv(false), '');
    const t0 = Date.now();
    assert.is(await sub.recv(60), '');
    assert.ok(Date.now() - t0 >= 55);
    const waiting = sub.recv(true);
    void pub.send('héllo wörld ✓');
    assert.is(await waiting, 'héllo wörld ✓');
    assert.throws(() => void pub.send(5 as unknown as string), /Text channel requires string messages/);
    void pub.send('');
    void pub.send('a');
    void pub.send('b');
    await until(() => sub.pending === 2, 'two pending');
    assert.equal(sub.recv_all(), ['a', 'b']);
    const bp = new PubChannel(A, 'raw', BINARY);
    const bs = new SubChannel(B, 'raw', BINARY);
    void bp.send(Buffer.from([0, 1, 2, 255]));
    assert.equal([...(await bs.recv())], [0, 1, 2, 255]);
    assert.equal([...(await bs.recv(false))], []);
    const op = new PubChannel(A, 'obj', OBJECT);
    const os = new SubChannel(B, 'obj', OBJECT);
    void op.send(new Map<unknown, unknown>([['k', [1, 2.5, tuple<unknown>('t', null)]]]));
    const got = (await os.recv()) as Map<string, unknown[]>;
    assert.instance(got.get('k')![2], Tuple);
    assert.is(await os.recv(false), null);
    void pub.send('x');
    void pub.send('y');
    await until(() => sub.pending === 2, 'two pending again');
    assert.equal([...sub], ['x', 'y']);
    const blocked = sub.recv();
    sub.close();
    assert.is(await blocked, '', 'a waiting recv ends with the empty message on close');
    assert.ok(sub.closed);
    assert.is(await sub.recv(), '');
    pub.close();
    assert.throws(() => void pub.send('z'), (e: unknown) => (e as { code?: string }).code === 'ERR_YOTON_CLOSED');
  } finally {
    await w.end();
  }
});

ps('for await ends when the channel closes; select_sub_channel merges in order', async () => {
  const w = new World();
  try {
    const [A, B] = [w.ctx(), w.ctx()];
    await w.link(A, B);
    const p1 = new PubChannel(A, 'one');
    const p2 = new PubChannel(A, 'two');
    const s1 = new SubChannel(B, 'one');
    const s2 = new SubChannel(B, 'two');
    const order = ['1a', '2a', '2b', '1b', '2c', '1c'];
    for (const m of order) void (m.startsWith('1') ? p1 : p2).send(m);
    await until(() => s1.pending + s2.pending === 6, 'all six');
    const merged: string[] = [];
    for (let s = select_sub_channel(s1 as SubChannel<unknown>, s2 as SubChannel<unknown>); s !== null; s = select_sub_channel(s1 as SubChannel<unknown>, s2 as SubChannel<unknown>)) merged.push(...(s.recv_selected() as string[]));
    assert.equal(merged, order);
    const seen: string[] = [];
    const loop = (async () => {
      for await (const m of s1) seen.push(m);
    })();
    void p1.send('x');
    void p1.send('y');
    await until(() => seen.length === 2, 'iterated');
    s1.close();
    await within(loop, 2000, 'for await ends');
    assert.equal(seen, ['x', 'y']);
  } finally {
    await w.end();
  }
});

ps('sync mode: a full subscriber send-locks the publisher until it reads', async () => {
  const w = new World();
  try {
    const [A, B] = [w.ctx(), w.ctx()];
    await w.link(A, B);
    const pub = new PubChannel(A, 'sync');
    const sub = new SubChannel(B, 'sync');
    sub.set_sync_mode(true);
    for (let i = 0; i < 40; i++) await pub.send(`m${i}`);
    await until(() => pub.send_locked, 'locked by "full"');
    const t0 = Date.now();
    let sent_at = 0;
    const pending = pub.send('after').then(() => (sent_at = Date.now()));
    await new Promise((r) => setTimeout(r, 100));
    assert.is(sent_at, 0, 'held while locked');
    assert.is(sub.recv_all().length, 40); // under the low-water mark: "ok"
    await within(pending, 2000, 'released');
    assert.ok(sent_at - t0 < 900, `released by "ok", not the 1 s wait (${sent_at - t0} ms)`);
    assert.is(await sub.recv(1000), 'after');
    assert.ok(!pub.send_locked);
  } finally {
    await w.end();
  }
});

ps('a subscriber that never reads holds at most maxlen messages', async () => {
  const w = new World();
  try {
    const A = w.ctx({ queue_params: [10, 'old'] });
    const B = w.ctx({ queue_params: [10, 'old'] });
    await w.link(A, B);
    const pub = new PubChannel(A, 'flood');
    const sub = new SubChannel(B, 'flood');
    const last = next(sub.received);
    for (let i = 0; i < 100; i++) void pub.send(`m${i}`);
    await last;
    await until(() => sub.recv_all !== undefined && sub.pending === 10, 'ten held');
    await A.flush();
    await new Promise((r) => setTimeout(r, 30));
    const all = sub.recv_all();
    assert.is(all.length, 10);
    assert.is(all[9], 'm99');
  } finally {
    await w.end();
  }
});

ps.run();

const rr = suite('yoton req/rep');

class Calc extends RepChannel {
  calls = 0;
  add(a: number, b: number): number {
    this.calls++;
    return a + b;
  }
  async slow(x: number): Promise<number> {
    this.calls++;
    await new Promise((r) => setTimeout(r, 15));
    return x;
  }
  boom(): never {
    throw new Error('kaput');
  }
  kw(a: number, kwargs?: Map<string, unknown>): unknown {
    return tuple<unknown>(a, kwargs?.get('scale') ?? null);
  }
}

rr('calls, errors crossing back, reserved names, keyword arguments', async () => {
  const w = new World();
  try {
    const [A, B] = [w.ctx(), w.ctx()];
    await w.link(A, B);
    const rep = new Calc(A, 'calc');
    rep.set_mode('event');
    const req = new ReqChannel(B, 'calc');
    assert.is(await req.call('add', 3, 4), 7);
    assert.is(await req.api.add!(10, -3), 7);
    const echo = (await req.call('echo', 'hi')) as unknown[];
    assert.equal([...echo], ['hi', `0x${A.id.toString(16)}`]);
    const e = (await rejects(req.call('boom').result(2000), (e) => e instanceof YotonRemoteError, 'boom')) as YotonRemoteError;
    assert.match(e.remote_message, /^kaput\n/);
    const e2 = (await rejects(req.call('nosuch').result(2000), (e) => e instanceof YotonRemoteError, 'missing')) as Error;
    assert.is(e2.message, "Method 'nosuch' not implemented.");
    await rejects(req.call('close').result(2000), (e) => e instanceof YotonRemoteError, 'channel machinery is not callable');
    await rejects(req.call('_send').result(2000), (e) => e instanceof YotonRemoteError, 'private names');
    assert.ok(!rep.closed);
    const kw = (await req.call_kw('kw', [2], { scale: 3 })) as unknown[];
    assert.equal([...kw], [2, 3]);
    const f = req.call('add', 1, 1);
    const done = new Promise<unknown[]>((r) => f.add_done_callback((x) => r([x])));
    await f;
    assert.is((await within(done, 1000))[0], f);
    assert.ok(f.done() && !f.cancelled() && !f.running());
    assert.is(await f.exception(), null);
    assert.throws(() => req.call('add', new Date()), /Unsupported type/);
    assert.throws(() => rep.set_mode('sometimes' as 'off'), /Invalid mode/);
  } finally {
    await w.end();
  }
});

rr('a request made before any replier exists is served once one appears', async () => {
  const w = new World();
  try {
    const [A, B] = [w.ctx(), w.ctx()];
    await w.link(A, B);
    const req = new ReqChannel(B, 'later');
    const f = req.call('add', 20, 22);
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(f.waiting());
    const rep = new Calc(A, 'later');
    rep.set_mode('event');
    assert.is(await f.result(3000), 42);
  } finally {
    await w.end();
  }
});

rr('load balancing spreads calls over repliers', async () => {
  const w = new World();
  try {
    const [hub, r1, r2, client] = [w.ctx(), w.ctx(), w.ctx(), w.ctx()];
    await w.link(hub, r1);
    await w.link(hub, r2);
    await w.link(hub, client);
    const reps = [new Calc(r1, 'lb'), new Calc(r2, 'lb')];
    for (const r of reps) r.set_mode('event');
    const req = new ReqChannel(client, 'lb');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => req.call('slow', i).result(8000)));
    assert.equal(results, Array.from({ length: 20 }, (_, i) => i));
    assert.is(reps[0]!.calls + reps[1]!.calls, 20, 'each call served once');
    assert.ok(reps[0]!.calls > 0 && reps[1]!.calls > 0, `both served: ${reps[0]!.calls} / ${reps[1]!.calls}`);
  } finally {
    await w.end();
  }
});

rr('Future: timeouts, cancel, auto-cancel, result_or_cancel', async () => {
  const w = new World();
  try {
    const A = w.ctx();
    const req = new ReqChannel(A, 'nobody');
    const f = req.call('add', 1, 2);
    await rejects(f.result(30), (e) => e instanceof YotonTimeoutError, 'timeout');
    await rejects(f.exception(10), (e) => e instanceof YotonTimeoutError, 'exception timeout');
    assert.ok(f.cancel());
    assert.ok(f.cancelled() && f.done());
    await rejects(f.result(), (e) => e instanceof YotonCancelledError, 'cancelled');
    const g = req.call('add', 1, 2);
    g.set_auto_cancel_timeout(150);
    assert.throws(() => g.set_auto_cancel_timeout(0), /negative/);
    await rejects(g.result(2000), (e) => e instanceof YotonCancelledError, 'auto-cancelled');
    assert.is(await req.call('add').result_or_cancel(20), null);
    const h = req.call('add');
    req.close();
    assert.ok(h.cancelled(), 'closing cancels waiting requests');
  } finally {
    await w.end();
  }
});

rr.run();

const st = suite('yoton state, events, clientserver');

st('state: sent on change, latest wins, late joiners get it', async () => {
  const w = new World();
  try {
    const [A, B, C] = [w.ctx(), w.ctx(), w.ctx()];
    await w.link(A, B);
    const sa = new StateChannel(A, 'status');
    const sb = new StateChannel(B, 'status');
    assert.is(sb.recv(), '');
    let changes = 0;
    sb.received.bind(() => changes++);
    sa.send('busy');
    sa.send('busy');
    await next(sb.received);
    assert.is(sb.recv(), 'busy');
    sa.send('ready');
    await until(() => sb.recv() === 'ready', 'ready');
    const sc = new StateChannel(C, 'status');
    await w.link(B, C); // C joins later, through B
    await until(() => sc.recv() === 'ready', 'late joiner');
    assert.ok(changes <= 3);
  } finally {
    await w.end();
  }
});

st('signals, timers and call_later on the engine', async () => {
  const w = new World();
  try {
    const sig = new Signal<[number]>(w.engine);
    const got: string[] = [];
    const h = (n: number): void => void got.push(`h${n}`);
    sig.bind(h);
    sig.bind(h);
    sig.emit(1);
    assert.equal(got, [], 'emit is asynchronous');
    sig.emit_now(2);
    assert.equal(got, ['h2']);
    await process_events();
    assert.equal(got, ['h2', 'h1']);
    sig.unbind(h);
    sig.emit_now(3);
    assert.is(got.length, 2);
    const t = new Timer(20, false, w.engine);
    let ticks = 0;
    t.bind(() => {
      if (++ticks === 3) t.stop();
    });
    t.start();
    assert.ok(t.running);
    await until(() => ticks === 3 && !t.running, 'three ticks');
    assert.throws(() => new Timer(0), /larger than 0/);
    const order: string[] = [];
    await new Promise<void>((resolve) => {
      call_later(() => order.push('later'), 5);
      call_later(() => order.push('zero'), 0);
      call_later(() => order.push('front'), -1);
      call_later(() => resolve(), 30);
    });
    assert.equal(order, ['front', 'zero', 'later']);
  } finally {
    await w.end();
  }
});

st('clientserver: do_request and RequestServer', async () => {
  const w = new World();
  try {
    const echo = new RequestServer('localhost:0', { engine: w.engine });
    await echo.start();
    assert.is(await do_request(`localhost:${echo.port}`, 'hello', 2000, { engine: w.engine }), 'Requested: hello\r\n');
    class Upper extends RequestServer {
      override async handle_request(r: string): Promise<string> {
        return r.trim().toUpperCase();
      }
    }
    const up = new Upper('localhost:0', { engine: w.engine });
    await up.start();
    assert.is(await do_request(`localhost:${up.port}`, 'shout\r\n', -1, { engine: w.engine }), 'SHOUT\r\n');
    echo.stop();
    up.stop();
    await rejects(do_request(`localhost:${echo.port}`, 'x', 500, { engine: w.engine }), (e) => e instanceof YotonConnectError, 'no server');
    const silent = await w.raw_server((s) => s.write('partial'));
    assert.is(await do_request(`localhost:${silent}`, 'x', 100, { engine: w.engine }), 'partial', 'the partial reply on timeout');
  } finally {
    await w.end();
  }
});

st('custom message types and publichost addresses', async () => {
  class Json extends MessageType<unknown> {
    message_to_bytes(m: unknown): Buffer {
      return Buffer.from(JSON.stringify(m));
    }
    message_from_bytes(b: Buffer): unknown {
      return b.length === 0 ? null : JSON.parse(b.toString());
    }
    message_type_name(): string {
      return 'json';
    }
  }
  const w = new World();
  try {
    const [A, B] = [w.ctx(), w.ctx()];
    await w.link(A, B);
    const pub = new PubChannel(A, 'cfg', new Json());
    const sub = new SubChannel(B, 'cfg', new Json());
    assert.is(pub.slot_outgoing, 'cfg.json.pub-sub');
    void pub.send({ a: [1, 2] });
    assert.equal(await within(sub.recv(), 2000), { a: [1, 2] });
    assert.is(await sub.recv(false), null);
    await rejects(resolve_address('publichost99:1'), (e) => /Invalid index \(99\) in public host addresses\./.test(String(e)), 'publichost99');
    assert.equal((await resolve_address('localhost:pyzo'))[2], 53281);
  } finally {
    await w.end();
  }
});

st.run();
