/**
 * The book's examples as Node processes (one per member), on a real redis-server and on the
 * embedded hub: one server with 10 clients, Lamport mutual exclusion over 3 processes,
 * two-phase commit with and without a crashed participant. And the group tour.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Engine, type Address } from '../lib/index.js';
import { serve_hub } from '../lib/group/index.js';
import * as clientserver from '../examples/group_clientserver.js';
import * as lamport from '../examples/group_lamport.js';
import * as twopc from '../examples/group_2pc.js';
import { tour } from '../examples/group_tour.js';
import { within } from './_helpers.js';
import { HAVE_REDIS, RedisPeer } from './_redis_peer.js';

function examples(name: string, start: () => Promise<{ address: Address; stop(): Promise<void> }>): void {
  const s = suite(`group examples: ${name}`);
  let target: { address: Address; stop(): Promise<void> };
  s.before(async () => {
    target = await start();
  });
  s.after(() => target.stop());

  s('one server, 10 clients: every client gets its own answer', async () => {
    const results = await within(clientserver.run(target.address), 30000, 'client/server');
    const server = results.find((r) => r.role === 'server')!;
    assert.is(server.code, 0, server.errors);
    const clients = results.filter((r) => r.role === 'client');
    assert.is(clients.length, 10);
    for (const c of clients) {
      assert.is(c.code, 0, c.errors);
      assert.equal(c.output, [[server.pid, `Received Hello from ${c.pid}`]]);
    }
  });

  s('Lamport mutual exclusion over 3 processes: the critical-section log never overlaps', async () => {
    const { members, log } = await within(lamport.run(target.address, 4), 30000, 'lamport');
    for (const m of members) {
      assert.is(m.code, 0, m.errors);
      assert.equal(m.output, [{ entered: 4 }]);
    }
    assert.is(log.length, 3 * 4 * 2);
    assert.ok(lamport.mutually_exclusive(log), log.join(' | '));
  });

  s('two-phase commit: all vote, GLOBAL_COMMIT; a crashed participant is caught by the timeout, GLOBAL_ABORT', async () => {
    const ok = await within(twopc.run(target.address, false), 30000, '2pc');
    for (const r of ok) {
      assert.is(r.code, 0, r.errors);
      assert.equal(r.output, [{ decision: 'GLOBAL_COMMIT' }]);
    }
    const t0 = Date.now();
    const crashed = await within(twopc.run(target.address, true, 400), 30000, '2pc with a crash');
    assert.ok(Date.now() - t0 >= 400, 'the coordinator waited for its timeout');
    const dead = crashed.filter((r) => r.role === 'crash');
    assert.is(dead.length, 1);
    assert.is(dead[0]!.code, 3);
    for (const r of crashed.filter((x) => x.role !== 'crash')) {
      assert.is(r.code, 0, r.errors);
      assert.equal(r.output, [{ decision: 'GLOBAL_ABORT' }]);
    }
  });

  s.run();
}

if (HAVE_REDIS) {
  examples('redis-server', async () => {
    const peer = await RedisPeer.start();
    return { address: peer.address, stop: () => peer.stop() };
  });
}
examples('embedded hub', async () => {
  const hub = await serve_hub(['127.0.0.1', 0]);
  return { address: hub.address, stop: () => hub.stop() };
});

const Tour = suite('group tour');
Tour('runs on the embedded hub and leaves nothing open', async () => {
  const engine = new Engine();
  const lines: string[] = [];
  await within(tour(engine, (l) => lines.push(l)), 20000, 'tour');
  assert.ok(lines.length >= 6);
  assert.is(engine.channels.size, 0);
});
Tour.run();
