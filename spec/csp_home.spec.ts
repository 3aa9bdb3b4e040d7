/**
 * trousers/csp channel home logic, driven without sockets: a port hands the home ProcessLocks
 * directly (synchronously, or through promises to stand for remote processes), so the
 * two-phase lock / commit protocol, buffers, retire and poison are checked on their own.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ChannelHome, type Grant, type LockPort, type ProcRef } from '../lib/csp/home.js';
import { ProcessLock } from '../lib/csp/lock.js';
import { FAIL, POISON, READY, RETIRE, SUCCESS } from '../lib/csp/header.js';

const test = suite('csp home');

interface World {
  home: ChannelHome<string>;
  locks: Map<string, ProcessLock<string>>;
  log: string[];
  proc(id: string): ProcRef;
  /** Async mode: pending grants to hand out by hand. */
  pending: (() => void)[];
}

function world(capacity = 0, async_locks = false, peek = false): World {
  const locks = new Map<string, ProcessLock<string>>();
  const log: string[] = [];
  const pending: (() => void)[] = [];
  const H = 'home/A';
  const lock = (p: ProcRef): ProcessLock<string> => locks.get(p.id)!;
  const port: LockPort<string> = {
    acquire(p): Grant | null | Promise<Grant | null> {
      log.push(`acquire ${p.id}`);
      if (!locks.has(p.id)) return null;
      if (!async_locks) return lock(p).acquire(H);
      return new Promise<Grant>((resolve) => pending.push(() => void Promise.resolve(lock(p).acquire(H)).then(resolve)));
    },
    notify(p, result, msg) {
      log.push(`notify ${p.id} ${msg}`);
      assert.ok(lock(p).notify(H, result, msg, true), 'notify by the holder');
    },
    notify_writer(p, result) {
      log.push(`notify ${p.id} -`);
      assert.ok(lock(p).notify(H, result, undefined, false), 'notify by the holder');
    },
    poison(p) {
      log.push(`poison ${p.id}`);
      lock(p).poison(H);
    },
    retire(p) {
      log.push(`retire ${p.id}`);
      lock(p).retire(H);
    },
    release(p) {
      log.push(`release ${p.id}`);
      assert.ok(lock(p).release(H), 'release by the holder');
    },
    ack(p) {
      log.push(`ack ${p.id}`);
    },
    quit(p) {
      log.push(`quit ${p.id}`);
    },
  };
  if (peek) {
    // The synchronous local path: free locks are read and committed without being taken.
    port.peek = (p) => (locks.has(p.id) ? lock(p).peek() : null);
    port.commit = (p, result, msg, reader) => {
      log.push(`commit ${p.id} ${reader ? String(msg) : '-'}`);
      lock(p).commit(result, msg, reader);
    };
  }
  const home = new ChannelHome<string>('A', capacity, port);
  return {
    home,
    locks,
    log,
    pending,
    proc(id: string): ProcRef {
      if (!locks.has(id)) locks.set(id, new ProcessLock<string>(id));
      return { id, addr: '', active: true };
    },
  };
}

function begin(w: World, id: string): { p: ProcRef; lock: ProcessLock<string> } {
  const p = w.proc(id);
  const lock = w.locks.get(id)!;
  lock.begin();
  return { p, lock };
}

test('a rendezvous: locks taken in id order, reader gets the message, released in reverse order', () => {
  const w = world();
  const wr = begin(w, 'b-writer');
  const rd = begin(w, 'a-reader');
  w.home.submit({ op: 'post_write', proc: wr.p, seq: wr.lock.seq, msg: 'hello', ack: false });
  assert.equal(w.log, [], 'a lone writer waits');
  w.home.submit({ op: 'post_read', proc: rd.p, seq: rd.lock.seq, ack: false });
  assert.equal(w.log, ['acquire a-reader', 'acquire b-writer', 'notify a-reader hello', 'notify b-writer -', 'release b-writer', 'release a-reader']);
  assert.is(rd.lock.state, SUCCESS);
  assert.is(rd.lock.result, 'hello');
  assert.is(rd.lock.result_id, 'A');
  assert.is(wr.lock.state, SUCCESS);
  assert.is(w.home.state.queued_reads + w.home.state.queued_writes, 0);
});

test('stale requests (seq moved on, or not READY) are dropped; the next pair commits', () => {
  const w = world();
  const old = begin(w, 'p1');
  w.home.submit({ op: 'post_read', proc: old.p, seq: old.lock.seq, ack: false });
  old.lock.begin(); // p1 went on to another operation: its request is stale
  const r2 = begin(w, 'p2');
  w.home.submit({ op: 'post_read', proc: r2.p, seq: r2.lock.seq, ack: false });
  const wr = begin(w, 'p3');
  w.home.submit({ op: 'post_write', proc: wr.p, seq: wr.lock.seq, msg: 'm', ack: true });
  assert.is(old.lock.state, READY, 'the stale one was not committed');
  assert.is(r2.lock.state, SUCCESS);
  assert.is(r2.lock.result, 'm');
  assert.is(w.log[w.log.length - 1], 'ack p3');
  assert.is(w.home.state.queued_reads, 0, 'the stale request was removed');
});

test('a process never meets itself (an alternation reading and writing one channel)', () => {
  const w = world();
  const alt = begin(w, 'p1');
  w.home.submit({ op: 'post_read', proc: alt.p, seq: alt.lock.seq, ack: false });
  w.home.submit({ op: 'post_write', proc: alt.p, seq: alt.lock.seq, msg: 'x', ack: false });
  assert.equal(w.log, []);
  const r = begin(w, 'p2');
  w.home.submit({ op: 'post_read', proc: r.p, seq: r.lock.seq, ack: false });
  assert.is(r.lock.result, 'x');
  assert.is(alt.lock.state, SUCCESS);
});

test('exactly one of two homes commits an alternation that posted to both', () => {
  const w1 = world();
  const w2 = world();
  // One shared lock object for the alternating process, seen by both homes.
  const alt = new ProcessLock<string>('alt');
  w1.locks.set('alt', alt);
  w2.locks.set('alt', alt);
  alt.begin();
  const p = { id: 'alt', addr: '', active: true };
  w1.home.submit({ op: 'post_read', proc: p, seq: alt.seq, ack: false });
  w2.home.submit({ op: 'post_read', proc: { ...p }, seq: alt.seq, ack: false });
  const a = begin(w1, 'x1');
  const b = begin(w2, 'x2');
  w1.home.submit({ op: 'post_write', proc: a.p, seq: a.lock.seq, msg: 'one', ack: false });
  w2.home.submit({ op: 'post_write', proc: b.p, seq: b.lock.seq, msg: 'two', ack: false });
  assert.is(alt.result, 'one');
  assert.is(a.lock.state, SUCCESS);
  assert.is(b.lock.state, READY, 'the second writer is still waiting');
  assert.is(w2.home.state.queued_writes, 1);
  assert.is(w2.home.state.queued_reads, 0, 'the stale alternation request was dropped');
});

test('a suspended home (remote locks) queues later commands and runs them in order', async () => {
  const w = world(0, true);
  const wr = begin(w, 'w');
  const rd = begin(w, 'r');
  w.home.submit({ op: 'post_write', proc: wr.p, seq: wr.lock.seq, msg: 'v', ack: false });
  w.home.submit({ op: 'post_read', proc: rd.p, seq: rd.lock.seq, ack: false });
  w.home.submit({ op: 'join_reader' });
  assert.is(w.home.state.readers, 0, 'join waits behind the offer');
  while (w.pending.length > 0) {
    w.pending.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  assert.is(rd.lock.result, 'v');
  assert.is(w.home.state.readers, 1);
});

test('an unreachable process is dropped and the home keeps serving the others', () => {
  const w = world();
  const ghost = { id: 'ghost', addr: 'gone:1', active: true };
  w.home.submit({ op: 'post_read', proc: ghost, seq: 5, ack: false });
  const r = begin(w, 'r2');
  w.home.submit({ op: 'post_read', proc: r.p, seq: r.lock.seq, ack: false });
  const wr = begin(w, 'w');
  w.home.submit({ op: 'post_write', proc: wr.p, seq: wr.lock.seq, msg: 'ok', ack: false });
  assert.is(ghost.active, false);
  assert.is(r.lock.result, 'ok');
});

test('buffered: writers complete into free slots, readers drain in order, full buffer blocks', () => {
  const w = world(2);
  const results: string[] = [];
  for (const m of ['a', 'b', 'c']) {
    const x = begin(w, `w${m}`);
    w.home.submit({ op: 'post_write', proc: x.p, seq: x.lock.seq, msg: m, ack: false });
    results.push(`${m}:${x.lock.state === SUCCESS ? 'done' : 'wait'}`);
  }
  assert.equal(results, ['a:done', 'b:done', 'c:wait']);
  const got: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = begin(w, `r${i}`);
    w.home.submit({ op: 'post_read', proc: r.p, seq: r.lock.seq, ack: false });
    got.push(r.lock.result!);
  }
  assert.equal(got, ['a', 'b', 'c']);
  assert.is(w.locks.get('wc')!.state, SUCCESS, 'the blocked writer got in once a slot was free');
});

test('retire: the channel retires only when every reader has retired', () => {
  const w = world();
  w.home.submit({ op: 'join_reader' });
  w.home.submit({ op: 'join_reader' });
  w.home.submit({ op: 'join_writer' });
  const wr = begin(w, 'w');
  w.home.submit({ op: 'post_write', proc: wr.p, seq: wr.lock.seq, msg: 'x', ack: false });
  w.home.submit({ op: 'retire_reader' });
  assert.is(wr.lock.state, READY);
  w.home.submit({ op: 'retire_reader' });
  assert.is(wr.lock.state, RETIRE, 'the queued writer is retired');
  const late = begin(w, 'late');
  w.home.submit({ op: 'post_read', proc: late.p, seq: late.lock.seq, ack: false });
  assert.is(late.lock.state, RETIRE, 'every later request is retired');
});

test('writer-side retire on a buffered channel waits for readers to drain the buffer', () => {
  const w = world(3);
  w.home.submit({ op: 'join_writer' });
  for (const m of ['1', '2']) {
    const x = begin(w, `w${m}`);
    w.home.submit({ op: 'post_write', proc: x.p, seq: x.lock.seq, msg: m, ack: false });
  }
  w.home.submit({ op: 'retire_writer' });
  const intruder = begin(w, 'w3');
  w.home.submit({ op: 'post_write', proc: intruder.p, seq: intruder.lock.seq, msg: '3', ack: false });
  assert.is(intruder.lock.state, RETIRE, 'no new writes after the writers retired');
  const states: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = begin(w, `r${i}`);
    w.home.submit({ op: 'post_read', proc: r.p, seq: r.lock.seq, ack: false });
    states.push(r.lock.state === SUCCESS ? r.lock.result! : r.lock.state === RETIRE ? 'RETIRE' : 'wait');
  }
  assert.equal(states, ['1', '2', 'RETIRE']);
});

test('poison from a reader poisons at once; from a writer, after the buffer drains', () => {
  const a = world();
  const r = begin(a, 'r');
  a.home.submit({ op: 'post_read', proc: r.p, seq: r.lock.seq, ack: false });
  a.home.submit({ op: 'poison_reader' });
  assert.is(r.lock.state, POISON);
  const b = world(2);
  const x = begin(b, 'w');
  b.home.submit({ op: 'post_write', proc: x.p, seq: x.lock.seq, msg: 'kept', ack: false });
  b.home.submit({ op: 'poison_writer' });
  const r1 = begin(b, 'r1');
  b.home.submit({ op: 'post_read', proc: r1.p, seq: r1.lock.seq, ack: false });
  assert.is(r1.lock.result, 'kept', 'the buffered item is still delivered');
  const r2 = begin(b, 'r2');
  b.home.submit({ op: 'post_read', proc: r2.p, seq: r2.lock.seq, ack: false });
  assert.is(r2.lock.state, POISON);
});

test('leave drops the process requests and answers quit; references end the home', () => {
  const w = world();
  let finished = 0;
  w.home.on_finished = () => finished++;
  const p = begin(w, 'p');
  w.home.submit({ op: 'register' });
  w.home.submit({ op: 'register', from: '10.0.0.1:5' });
  w.home.submit({ op: 'post_read', proc: p.p, seq: p.lock.seq, ack: false });
  w.home.submit({ op: 'leave', proc: p.p });
  assert.is(w.home.state.queued_reads, 0);
  assert.is(w.log[w.log.length - 1], 'quit p');
  w.home.submit({ op: 'lost', addr: '10.0.0.1:5' });
  assert.is(finished, 0);
  w.home.submit({ op: 'deregister' });
  assert.is(finished, 1);
  assert.is(w.home.done, true);
});

test('the process lock: one holder at a time, FIFO, only the holder commits', async () => {
  const lock = new ProcessLock<string>('p');
  lock.begin();
  const g1 = lock.acquire('h1');
  assert.equal(g1, { state: READY, seq: 2 });
  const g2 = lock.acquire('h2');
  assert.instance(g2, Promise);
  assert.is(lock.notify('h2', 'X', 'no', true), false, 'a non-holder cannot commit');
  assert.is(lock.notify('h1', 'A', 'yes', true), true);
  assert.is(lock.release('h1'), true);
  assert.equal(await g2, { state: SUCCESS, seq: 2 });
  assert.is(lock.poison('h2'), true);
  assert.is(lock.state, SUCCESS, 'poison only applies while READY');
  lock.release('h2');
  lock.begin();
  lock.fail(new Error('lost'));
  assert.is(lock.state, FAIL);
});

test('the synchronous path (peek / commit) gives the same outcomes: rendezvous, stale requests, self, two homes', () => {
  const w = world(0, false, true);
  const wr = begin(w, 'b-writer');
  const rd = begin(w, 'a-reader');
  w.home.submit({ op: 'post_write', proc: wr.p, seq: wr.lock.seq, msg: 'hello', ack: false });
  w.home.submit({ op: 'post_read', proc: rd.p, seq: rd.lock.seq, ack: true });
  assert.equal(w.log, ['commit a-reader hello', 'commit b-writer -', 'ack a-reader']);
  assert.is(rd.lock.result, 'hello');
  // stale and self
  const old = begin(w, 'p1');
  w.home.submit({ op: 'post_read', proc: old.p, seq: old.lock.seq, ack: false });
  old.lock.begin();
  w.home.submit({ op: 'post_write', proc: old.p, seq: old.lock.seq, msg: 'self', ack: false });
  const r2 = begin(w, 'p2');
  w.home.submit({ op: 'post_read', proc: r2.p, seq: r2.lock.seq, ack: false });
  assert.is(r2.lock.result, 'self', 'p1 never met itself');
  assert.is(w.home.state.queued_reads, 1, 'the stale read waits until someone offers to it');
  const w3 = begin(w, 'p3');
  w.home.submit({ op: 'post_write', proc: w3.p, seq: w3.lock.seq, msg: 'x', ack: false });
  assert.is(w.home.state.queued_reads, 0, 'offered to, the stale read was dropped');
  assert.is(w3.lock.state, READY);
  assert.is(w.home.state.queued_writes, 1);
  w.home.submit({ op: 'leave', proc: w3.p });
  // a held lock (a remote home mid-offer) sends the post down the slow path: nothing is lost
  const held = begin(w, 'h');
  held.lock.acquire('elsewhere');
  const x = begin(w, 'x');
  w.home.submit({ op: 'post_write', proc: held.p, seq: held.lock.seq, msg: 'late', ack: false });
  w.home.submit({ op: 'post_read', proc: x.p, seq: x.lock.seq, ack: false });
  assert.is(x.lock.state, READY, 'waits for the lock');
});

test.run();
