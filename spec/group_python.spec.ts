/**
 * A Python process (spec/py/group_channel.py over redis-py, /usr/bin/python3) in the same
 * group as Node processes, on a real redis-server and on the embedded hub: pickled messages
 * both ways, and joins from both sides racing without a duplicate pid.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { Engine, type Address } from '../lib/index.js';
import { Channel } from '../lib/group/index.js';
import { Tuple, tuple } from '../lib/pickle/index.js';
import { RedisClient } from '../lib/redis/index.js';
import { within } from './_helpers.js';
import { backends } from './_redis_peer.js';
import { kill_all, start_peer } from './py/pythons.js';

const PYTHON = '/usr/bin/python3';
const HAVE_PY_REDIS = fs.existsSync(PYTHON);

function text(address: Address): string {
  return typeof address === 'string' ? address : `${(address as [string, number])[0]}:${(address as [string, number])[1]}`;
}

function python_suite(name: string, start: () => Promise<{ address: Address; stop(): Promise<void> }>): void {
  const s = suite(`group with Python: ${name}`);
  let address: Address;
  let stop: () => Promise<void>;
  let engine: Engine;
  let admin: RedisClient;
  s.before(async () => {
    const t = await start();
    address = t.address;
    stop = t.stop;
    engine = new Engine();
    admin = new RedisClient({ address, engine });
  });
  s.after(async () => {
    await kill_all();
    await admin.close();
    await stop();
    assert.is(engine.channels.size, 0);
  });

  s('messages both ways, pickled: Python types arrive as trousers values and back', async () => {
    await admin.command('FLUSHALL');
    const node = new Channel({ redis: address, engine });
    const me = await node.join('node');
    const py = start_peer(PYTHON, 'group_peer.py', ['echo', text(address)]);
    const pid = (await within(py.line('PID'), 10000, 'python joined')).split(' ')[1]!;
    const [sender, greeting] = (await within(node.recvFromAny(10000), 10000))!;
    assert.is(sender, pid);
    const g = greeting as Map<string, unknown>;
    assert.is(g.get('from'), 'python');
    assert.is(g.get('big'), 2n ** 70n);
    assert.ok(Buffer.from([0, 255]).equals(g.get('bytes') as Buffer));
    assert.is(g.get('float'), 1.5);
    assert.instance(g.get('tuple'), Tuple);
    assert.equal([...(g.get('tuple') as Tuple)], [1, 'two']);
    assert.is(g.get('none'), null);
    assert.is(g.get('flag'), true);
    assert.is(g.get('text'), 'héllo');
    const messages: unknown[] = ['hello', 42, -(2n ** 64n), 1.25, tuple<unknown>('LOOKUP_REQ', 7), [1, [2, 'x']], new Map([['k', 1]]), Buffer.from('raw'), null, true];
    for (const m of messages) await node.sendTo([pid], m);
    for (const m of messages) {
      const got = (await within(node.recvFrom([pid], 10000), 10000))!;
      assert.is(got[0], pid);
      assert.instance(got[1], Tuple);
      const [tag, echoed] = got[1] as Tuple;
      assert.is(tag, 'echo');
      assert.equal(echoed instanceof Tuple ? [...echoed] : echoed, m instanceof Tuple ? [...m] : m);
    }
    await node.sendTo([pid], 'stop');
    await within(py.line('STOP'), 10000);
    assert.is(await py.exited, 0, py.errors);
    assert.ok(me.length > 0);
    await node.close();
  });

  s('joins from Node and Python racing: 30 joins, 30 different pids', async () => {
    await admin.command('FLUSHALL');
    const py = start_peer(PYTHON, 'group_peer.py', ['race', text(address), '15']);
    await within(py.line('READY'), 10000);
    const chans = Array.from({ length: 15 }, () => new Channel({ redis: address, engine }));
    await Promise.all(chans.map((c) => c.redis.ready()));
    await admin.command('RPUSH', 'go', 'now');
    const node_pids = await Promise.all(chans.map((c) => c.join('node')));
    const py_pids = (await within(py.line('PIDS'), 10000)).split(' ').slice(1);
    assert.is(py_pids.length, 15);
    const all = [...node_pids, ...py_pids];
    assert.is(new Set(all).size, 30, `duplicates in ${all.join(',')}`);
    assert.is(((await admin.command('SMEMBERS', 'members')) as Buffer[]).length, 30);
    assert.is(await py.exited, 0, py.errors);
    await Promise.all(chans.map((c) => c.close()));
  });

  s.run();
}

if (!HAVE_PY_REDIS) {
  console.log('/usr/bin/python3 with redis-py is missing (bash .ci/peers): group Python specs skipped');
} else {
  for (const [name, start] of backends()) python_suite(name, start);
}
