/**
 * The Engine: timers (callback, loop, defer, cycle), error reporting, start/stop, and an
 * orderly stop of real loopback channels.
 *
 * Every spec uses its own `new Engine()`. Waiting is done on events: setImmediate turns,
 * timers of the engine itself, socket events; `within` is only a safety net.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type * as net from 'node:net';
import { Client, Connection, Engine, Server, type InetAddress, type Timer } from '../lib/index.js';
import { TCP4, capture_stderr, countdown, deferred, raw_server, within } from './_helpers.js';

/** Resolves after `n` turns of the event loop (a chain of setImmediate). */
function turns(n: number): Promise<void> {
  return new Promise((resolve) => {
    const step = (left: number): void => {
      if (left === 0) resolve();
      else setImmediate(step, left - 1);
    };
    setImmediate(step, n - 1);
  });
}

/** Resolves when a `ms` defer of a separate engine fires: a later event to check at. */
function later(ms: number): Promise<void> {
  return new Promise((resolve) => {
    new Engine().defer(ms, () => resolve());
  });
}

function throws_kind(fn: () => unknown, Kind: typeof TypeError | typeof RangeError, label: string): void {
  try {
    fn();
  } catch (err) {
    assert.is((err as Error).constructor, Kind, `${label}: expected ${Kind.name}, got ${(err as Error)?.constructor?.name}`);
    return;
  }
  assert.unreachable(`${label}: expected ${Kind.name}`);
}

// ---------------------------------------------------------------------------- instances

const instances = suite('engine: instances');

instances('Engine.instance() returns the same default engine on every call', () => {
  const a = Engine.instance();
  assert.instance(a, Engine);
  assert.is(Engine.instance(), a);
});

instances('new Engine() is a separate engine with its own empty channel Set', () => {
  const e = new Engine();
  assert.is.not(e, Engine.instance());
  assert.is.not(e, new Engine());
  assert.instance(e.channels, Set);
  assert.is(e.channels.size, 0);
  assert.is.not(e.channels, Engine.instance().channels);
  assert.is(e.running, false);
});

instances('stopping one engine does not cancel another engine’s timers', async () => {
  const a = new Engine();
  const b = new Engine();
  let ran_a = 0;
  let ran_b = 0;
  a.callback(() => ran_a++);
  b.callback(() => ran_b++);
  await a.stop();
  await turns(2);
  assert.is(ran_a, 0);
  assert.is(ran_b, 1);
});

instances.run();

// ---------------------------------------------------------------------------- callback / loop

const queued = suite('engine: callback and loop');

queued('callback(fn, ...args) runs fn once, on the next turn, with the arguments', async () => {
  const e = new Engine();
  const obj = { k: 1 };
  const calls: unknown[][] = [];
  const t = e.callback((...args: unknown[]) => calls.push(args), 1, 'two', obj);
  assert.is(calls.length, 0, 'not synchronously');
  assert.is(t.cancelled, false);
  await turns(1);
  assert.is(calls.length, 1, 'ran on the next turn');
  assert.is(calls[0]![2], obj, 'the same object is passed');
  assert.equal(calls[0], [1, 'two', obj]);
  assert.is(t.cancelled, true, 'a one-shot timer counts as cancelled once run');
  await turns(3);
  assert.is(calls.length, 1, 'only once');
});

queued('callbacks of one turn run in the order they were scheduled; one scheduled during a turn runs on the next turn, after them', async () => {
  const e = new Engine();
  const order: string[] = [];
  e.callback(() => {
    order.push('a');
    e.callback(() => order.push('c (scheduled by a)'));
  });
  for (let i = 0; i < 5; i++) e.callback((n: number) => order.push(`b${n}`), i);
  await turns(1);
  assert.equal(order, ['a', 'b0', 'b1', 'b2', 'b3', 'b4']);
  await turns(1);
  assert.equal(order, ['a', 'b0', 'b1', 'b2', 'b3', 'b4', 'c (scheduled by a)']);
});

queued('loop(fn, ...args) runs on every successive turn, with the arguments, until cancelled', async () => {
  const e = new Engine();
  let turn = 0;
  let chain = true;
  const tick = (): void => {
    turn++;
    if (chain) setImmediate(tick);
  };
  setImmediate(tick);
  const seen: number[] = [];
  const done = deferred();
  const obj = {};
  const t: Timer = e.loop(
    (x: object, y: string) => {
      assert.is(x, obj);
      assert.is(y, 'y');
      seen.push(turn);
      if (seen.length === 6) {
        t.cancel();
        done.resolve();
      }
    },
    obj,
    'y',
  );
  await within(done.promise, 5000, 'six loop runs');
  for (let i = 1; i < seen.length; i++) assert.is(seen[i], seen[i - 1]! + 1, `run ${i} is one turn after the previous: ${seen.join(',')}`);
  await turns(3);
  chain = false;
  assert.is(seen.length, 6, 'no run after cancel');
  assert.is(t.cancelled, true);
});

queued('a loop that cancels itself from inside its function after 3 runs never runs again', async () => {
  const e = new Engine();
  let runs = 0;
  const t: Timer = e.loop(() => {
    runs++;
    if (runs === 3) t.cancel();
  });
  await turns(8);
  assert.is(runs, 3);
  assert.is(t.cancelled, true);
});

queued('cancelling a pending callback from an earlier callback of the same turn stops it', async () => {
  const e = new Engine();
  const order: string[] = [];
  let victim: Timer | undefined;
  let loop_victim: Timer | undefined;
  e.callback(() => {
    order.push('first');
    victim!.cancel();
    loop_victim!.cancel();
  });
  victim = e.callback(() => order.push('victim'));
  loop_victim = e.loop(() => order.push('loop victim'));
  e.callback(() => order.push('last'));
  await turns(3);
  assert.equal(order, ['first', 'last']);
});

queued('a loop cancelled by another timer after its run this turn does not run again', async () => {
  const e = new Engine();
  let runs = 0;
  const l = e.loop(() => runs++);
  e.callback(() => l.cancel());
  await turns(4);
  assert.is(runs, 1);
});

queued('cancelling twice, or after the timer ran, is harmless', async () => {
  const e = new Engine();
  let runs = 0;
  const c = e.callback(() => runs++);
  const l = e.loop(() => runs++);
  l.cancel();
  l.cancel();
  await turns(2);
  assert.is(runs, 1);
  c.cancel();
  c.cancel();
  const d = e.callback(() => runs++);
  d.cancel();
  d.cancel();
  await turns(2);
  assert.is(runs, 1);
  assert.is(d.cancelled, true);
});

queued('callback and loop need a function: TypeError otherwise', () => {
  const e = new Engine();
  for (const bad of [undefined, null, 1, 'fn', {}]) {
    throws_kind(() => e.callback(bad as never), TypeError, `callback(${String(bad)})`);
    throws_kind(() => e.loop(bad as never), TypeError, `loop(${String(bad)})`);
  }
});

queued.run();

// ---------------------------------------------------------------------------- defer / cycle

const timed = suite('engine: defer and cycle');

timed('defer(ms, fn, ...args) runs fn once with the arguments, shorter delays first', async () => {
  const e = new Engine();
  const order: string[] = [];
  const done = deferred();
  const obj = {};
  e.defer(40, (a: string, o: object) => {
    assert.is(o, obj);
    order.push(a);
    done.resolve();
  }, 'long', obj);
  const short = e.defer(5, (a: string) => order.push(a), 'short');
  assert.is(short.cancelled, false);
  await within(done.promise, 5000, 'the 40 ms defer');
  assert.equal(order, ['short', 'long']);
  assert.is(short.cancelled, true, 'a one-shot timer counts as cancelled once run');
  await later(20);
  assert.equal(order, ['short', 'long'], 'each ran once');
});

timed('a cancelled defer never runs (checked when a longer defer fires)', async () => {
  const e = new Engine();
  let ran = 0;
  const t = e.defer(5, () => ran++);
  t.cancel();
  const u = e.defer(10, () => ran++);
  e.callback(() => u.cancel());
  await new Promise<void>((resolve) => e.defer(60, () => resolve()));
  assert.is(ran, 0);
  t.cancel();
  u.cancel();
});

timed('cycle(ms, fn, ...args) repeats with the arguments; cancelling itself after 3 runs stops it for good', async () => {
  const e = new Engine();
  const args: unknown[][] = [];
  const third = deferred();
  const t: Timer = e.cycle(
    5,
    (...a: unknown[]) => {
      args.push(a);
      if (args.length === 3) {
        t.cancel();
        third.resolve();
      }
    },
    'x',
    7,
  );
  await within(third.promise, 5000, 'three cycles');
  await new Promise<void>((resolve) => e.defer(50, () => resolve())); // ten more periods
  assert.equal(args, [['x', 7], ['x', 7], ['x', 7]]);
  assert.is(t.cancelled, true);
  t.cancel();
});

timed('a cycle cancelled from outside stops', async () => {
  const e = new Engine();
  let runs = 0;
  const two = deferred();
  const c = e.cycle(3, () => {
    runs++;
    if (runs === 2) two.resolve();
  });
  await within(two.promise, 5000, 'two cycles');
  c.cancel();
  c.cancel();
  await later(30);
  assert.is(runs, 2);
});

timed('defer and cycle: RangeError for a delay that is not a finite number > 0, TypeError for a non-number', () => {
  const e = new Engine();
  const fn = (): void => assert.unreachable('a rejected timer must not run');
  for (const ms of [0, -0, -1, -0.5, NaN, Infinity, -Infinity]) {
    throws_kind(() => e.defer(ms, fn), RangeError, `defer(${ms})`);
    throws_kind(() => e.cycle(ms, fn), RangeError, `cycle(${ms})`);
  }
  for (const ms of ['10', undefined, null, 10n, {}, [5]]) {
    throws_kind(() => e.defer(ms as never, fn), TypeError, `defer(${String(ms)})`);
    throws_kind(() => e.cycle(ms as never, fn), TypeError, `cycle(${String(ms)})`);
  }
  for (const bad of [undefined, null, 'fn']) {
    throws_kind(() => e.defer(10, bad as never), TypeError, `defer(10, ${String(bad)})`);
    throws_kind(() => e.cycle(10, bad as never), TypeError, `cycle(10, ${String(bad)})`);
  }
});

timed('a fractional delay above 0 is accepted', async () => {
  const e = new Engine();
  const done = deferred();
  e.defer(0.5, () => done.resolve());
  await within(done.promise, 5000, 'defer(0.5)');
});

timed('defer and cycle with a delay of 2**31 ms (finite, > 0) do not run within the first 50 ms', async () => {
  // Node turns any setTimeout/setInterval delay above 2**31 - 1 into 1 ms.
  const e = new Engine();
  let deferred_runs = 0;
  let cycle_runs = 0;
  const long_defer = e.defer(2 ** 31, () => deferred_runs++);
  const long_cycle = e.cycle(2 ** 31, () => cycle_runs++);
  try {
    await later(50);
    assert.is(deferred_runs, 0, 'defer(2**31) ran within 50 ms');
    assert.is(cycle_runs, 0, 'cycle(2**31) ran within 50 ms');
  } finally {
    long_defer.cancel();
    long_cycle.cancel();
  }
});

timed.run();

// ---------------------------------------------------------------------------- errors

const errors = suite('engine: timer functions that throw');

errors('a throwing callback, loop, defer and cycle are each reported to engine.on_error; other timers keep running', async () => {
  const e = new Engine();
  const reported: Error[] = [];
  e.on_error = (err: Error) => {
    reported.push(err);
  };
  const boom = new Error('callback boom');
  let after = 0;
  e.callback(() => {
    throw boom;
  });
  e.callback(() => after++);
  let loop_runs = 0;
  const l: Timer = e.loop(() => {
    loop_runs++;
    if (loop_runs === 3) l.cancel();
    throw new Error(`loop boom ${loop_runs}`);
  });
  const d_done = deferred();
  e.defer(2, () => {
    d_done.resolve();
    throw new Error('defer boom');
  });
  let cycle_runs = 0;
  const c_done = deferred();
  const c: Timer = e.cycle(2, () => {
    cycle_runs++;
    if (cycle_runs === 2) {
      c.cancel();
      c_done.resolve();
    }
    throw new Error(`cycle boom ${cycle_runs}`);
  });
  await within(Promise.all([d_done.promise, c_done.promise]), 5000, 'the throwing defer and cycle');
  await turns(4);
  assert.is(after, 1, 'the callback after the throwing one ran');
  assert.is(loop_runs, 3, 'the loop kept running after throwing');
  assert.is(cycle_runs, 2, 'the cycle kept running after throwing');
  assert.ok(reported.includes(boom), 'the very error thrown is reported');
  const messages = reported.map((r) => r.message).sort();
  assert.equal(messages, ['callback boom', 'cycle boom 1', 'cycle boom 2', 'defer boom', 'loop boom 1', 'loop boom 2', 'loop boom 3'].sort());
});

errors('a thrown non-Error is reported as an Error carrying its text', async () => {
  const e = new Engine();
  const reported: Error[] = [];
  e.on_error = (err) => {
    reported.push(err);
  };
  e.callback(() => {
    throw 'plain string'; // eslint-disable-line no-throw-literal
  });
  await turns(1);
  assert.is(reported.length, 1);
  assert.instance(reported[0], Error);
  assert.match(reported[0]!.message, 'plain string');
});

errors('an on_error that throws does not escape and does not stop other timers', async () => {
  const e = new Engine();
  let on_error_calls = 0;
  e.on_error = () => {
    on_error_calls++;
    throw new Error('on_error itself fails');
  };
  let after = 0;
  e.callback(() => {
    throw new Error('x');
  });
  e.callback(() => after++);
  await turns(2);
  assert.is(on_error_calls, 1);
  assert.is(after, 1);
});

errors('the default on_error writes the error to stderr', async () => {
  const e = new Engine();
  const { text } = await capture_stderr(async () => {
    e.callback(() => {
      throw new Error('default report 4f2a');
    });
    await turns(1);
  });
  assert.match(text, 'default report 4f2a');
});

errors.run();

// ---------------------------------------------------------------------------- start / stop without channels

const lifecycle = suite('engine: start and stop');

lifecycle('start() returns a Promise (the same one until stopped) that resolves when stop() is called', async () => {
  const e = new Engine();
  const p = e.start();
  assert.instance(p, Promise);
  assert.is(e.start(), p);
  assert.is(e.running, true);
  let resolved = false;
  void p.then(() => {
    resolved = true;
  });
  await turns(2);
  assert.is(resolved, false, 'not before stop()');
  await within(e.stop(), 5000, 'stop');
  await within(p, 5000, 'start() promise');
  assert.is(e.running, false);
});

lifecycle('after stop() an engine can be started and stopped again', async () => {
  const e = new Engine();
  const first = e.start();
  await e.stop();
  await first;
  const second = e.start();
  assert.is.not(second, first);
  let ran = 0;
  e.callback(() => ran++);
  await turns(1);
  assert.is(ran, 1, 'timers work again after a stop');
  await within(e.stop(), 5000, 'second stop');
  await within(second, 5000, 'second start() promise');
});

lifecycle('stop() with no channels resolves; a second stop() also resolves', async () => {
  const e = new Engine();
  await within(e.stop(), 5000, 'stop');
  await within(e.stop(), 5000, 'stop again');
});

lifecycle("stop() cancels the engine's pending callback, loop, defer and cycle", async () => {
  const e = new Engine();
  let ran = 0;
  const timers = [e.callback(() => ran++), e.loop(() => ran++), e.defer(5, () => ran++), e.cycle(5, () => ran++)];
  await e.stop();
  assert.ok(timers.every((t) => t.cancelled));
  await turns(3);
  await later(40);
  assert.is(ran, 0);
});

lifecycle('stop() rejects a negative or NaN timeout with RangeError', () => {
  const e = new Engine();
  throws_kind(() => e.stop({ timeout: -1 }), RangeError, 'timeout -1');
  throws_kind(() => e.stop({ timeout: NaN }), RangeError, 'timeout NaN');
});

lifecycle.run();

// ---------------------------------------------------------------------------- stop with channels

const stopping = suite('engine: stop() closes real channels');

stopping('a server with 20 connected clients: stop() closes all 41 channels, each on_close exactly once, and empties engine.channels', async () => {
  const e = new Engine();
  const connection_closes = new Map<Connection, number>();
  const client_closes = new Map<Client, number>();
  const connected = countdown(40);
  class Conn extends Connection {
    override on_connect(): void {
      connected.tick();
    }
    override on_close(): void {
      connection_closes.set(this, (connection_closes.get(this) ?? 0) + 1);
    }
  }
  class Cli extends Client {
    override on_connect(): void {
      connected.tick();
    }
    override on_close(): void {
      client_closes.set(this, (client_closes.get(this) ?? 0) + 1);
    }
  }
  const server = new Server(Conn, { engine: e });
  let server_closes = 0;
  server.on_close = () => server_closes++;
  const listening = deferred();
  server.on_listen = () => listening.resolve();
  server.listen(['127.0.0.1', 0]);
  await within(listening.promise, 5000, 'listen');
  const port = (server.local_address as InetAddress).port;
  const clients = Array.from({ length: 20 }, () => new Cli({ engine: e }).connect(['127.0.0.1', port]));
  await within(connected.done, 5000, '40 on_connect');
  assert.is(e.channels.size, 41);
  assert.is(server.channels.size, 20);

  let all_closed_when_resolved = false;
  const stopped = e.stop().then(() => {
    all_closed_when_resolved =
      server_closes === 1 && clients.every((c) => client_closes.get(c) === 1) && [...connection_closes.values()].length === 20;
  });
  await within(stopped, 5000, 'stop');
  assert.ok(all_closed_when_resolved, 'every on_close ran before stop() resolved');
  await turns(2);
  assert.is(server_closes, 1);
  assert.is(client_closes.size, 20);
  assert.ok([...client_closes.values()].every((n) => n === 1), 'each client closed once');
  assert.is(connection_closes.size, 20);
  assert.ok([...connection_closes.values()].every((n) => n === 1), 'each connection closed once');
  assert.is(e.channels.size, 0);
  assert.is(server.channels.size, 0);
  assert.ok(clients.every((c) => c.closed));
});

stopping('stop() resolves start() only after the channels have closed', async () => {
  const e = new Engine();
  const accepted = deferred<net.Socket>();
  const raw = await raw_server(TCP4, (socket) => {
    socket.on('error', () => {});
    socket.on('end', () => socket.end());
    socket.resume();
    accepted.resolve(socket);
  });
  try {
    const started = e.start();
    const client = new Client({ engine: e });
    let closes = 0;
    client.on_close = () => closes++;
    const up = deferred();
    client.on_connect = () => up.resolve();
    client.connect(raw.address);
    await within(Promise.all([up.promise, accepted.promise]), 5000, 'connect');
    let closes_at_start_resolution = -1;
    const done = started.then(() => {
      closes_at_start_resolution = closes;
    });
    void e.stop();
    await within(done, 5000, 'start() promise');
    assert.is(closes_at_start_resolution, 1);
    assert.is(e.channels.size, 0);
  } finally {
    await raw.close();
  }
});

stopping('stop() is graceful: output queued when it is called still reaches the peer before the close', async () => {
  const e = new Engine();
  const received = deferred<number>();
  const raw = await raw_server(TCP4, (socket) => {
    let n = 0;
    socket.on('data', (chunk: Buffer) => (n += chunk.length));
    socket.on('error', (err) => received.reject(err));
    socket.on('end', () => {
      received.resolve(n);
      socket.end();
    });
  });
  try {
    const client = new Client({ engine: e });
    const up = deferred();
    client.on_connect = () => up.resolve();
    client.connect(raw.address);
    await within(up.promise, 5000, 'connect');
    const payload = Buffer.alloc(4 * 1024 * 1024, 0x61);
    client.write(payload);
    const stopped = e.stop();
    assert.is(await within(received.promise, 10000, 'peer sees the end'), payload.length);
    await within(stopped, 10000, 'stop');
    assert.ok(client.closed);
  } finally {
    await raw.close();
  }
});

stopping('stop({ timeout: 200 }) resolves, and on_close runs once, even with 50 MB queued to a peer that never reads', async () => {
  const e = new Engine();
  const peers: net.Socket[] = [];
  const accepted = deferred();
  const raw = await raw_server(TCP4, (socket) => {
    socket.pause();
    socket.on('error', () => {});
    peers.push(socket);
    accepted.resolve();
  });
  try {
    const client = new Client({ engine: e });
    let closes = 0;
    client.on_close = () => closes++;
    const up = deferred();
    client.on_connect = () => up.resolve();
    client.connect(raw.address);
    await within(Promise.all([up.promise, accepted.promise]), 5000, 'connect');
    client.write(Buffer.alloc(50 * 1024 * 1024));
    await within(e.stop({ timeout: 200 }), 5000, 'stop with timeout 200');
    assert.is(closes, 1);
    assert.ok(client.closed);
    assert.is(e.channels.size, 0);
    await turns(2);
    assert.is(closes, 1, 'on_close exactly once');
  } finally {
    for (const p of peers) p.destroy();
    await raw.close();
  }
});

stopping('stop({ timeout: 2**31 }) does not force-close a channel that is still flushing 100 ms later', async () => {
  // Node turns a setTimeout delay above 2**31 - 1 into 1 ms, so the "force" timer fires at once.
  const e = new Engine();
  const peers: net.Socket[] = [];
  const accepted = deferred();
  const raw = await raw_server(TCP4, (socket) => {
    socket.pause();
    socket.on('error', () => {});
    peers.push(socket);
    accepted.resolve();
  });
  const client = new Client({ engine: e });
  let closes = 0;
  client.on_close = () => closes++;
  try {
    const up = deferred();
    client.on_connect = () => up.resolve();
    client.connect(raw.address);
    await within(Promise.all([up.promise, accepted.promise]), 5000, 'connect');
    client.write(Buffer.alloc(16 * 1024 * 1024));
    void e.stop({ timeout: 2 ** 31 });
    await later(100);
    assert.is(closes, 0, 'closed while the peer had not read anything and the timeout was far away');
  } finally {
    client.close(false);
    for (const p of peers) p.destroy();
    await raw.close();
  }
});

stopping.run();
