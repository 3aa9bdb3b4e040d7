/**
 * The yoton examples: the tour stop, the chat (a host that re-binds for each guest), the
 * RPC service with two clients.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Engine } from '../lib/index.js';
import { Chat } from '../examples/yoton_chat.js';
import { client, serve } from '../examples/yoton_rpc.js';
import { tour } from '../examples/yoton_tour.js';
import { within } from './_helpers.js';
import { until } from './yoton_world.js';

const ex = suite('yoton examples');

ex('the tour passes its checks and leaves nothing open', async () => {
  const engine = new Engine();
  const lines: string[] = [];
  await within(tour(engine, (l) => lines.push(l)), 10000, 'tour');
  assert.is(lines.length, 4);
  await within(engine.stop({ timeout: 2000 }), 5000, 'stop');
  assert.is(engine.channels.size, 0);
});

ex('chat: a host and two guests hear each other', async () => {
  const engine = new Engine();
  const heard: Record<string, string[]> = { alice: [], bob: [], carol: [] };
  const chats = Object.keys(heard).map((n) => new Chat(n, (l) => heard[n]!.push(l), engine));
  try {
    const [alice, bob, carol] = chats as [Chat, Chat, Chat];
    const conn = await alice.host('localhost:0');
    await bob.join(`localhost:${conn.port1}`);
    await until(() => alice.context.connections_all.length === 2, 'host bound again');
    await carol.join(`localhost:${conn.port1}`);
    void bob.say('hi all');
    await until(() => heard['alice']!.length === 1 && heard['carol']!.length === 1, 'bob heard');
    void carol.say('hello');
    await until(() => heard['alice']!.length === 2 && heard['bob']!.length === 1, 'carol heard');
    assert.equal(heard['carol'], ['bob: hi all']);
    assert.equal(heard['bob'], ['carol: hello']);
  } finally {
    for (const c of chats) c.close();
    await engine.stop({ timeout: 2000 });
  }
});

ex('rpc: one service, two clients', async () => {
  const engine = new Engine();
  const { context, port } = await serve('localhost:0', engine);
  const a = await client(`localhost:${port}`, engine);
  await until(() => context.connections_all.length === 2, 'service bound again');
  const b = await client(`localhost:${port}`, engine);
  try {
    assert.is(await a.req.call('add', 3, 4).result(2000), 7);
    assert.is(await b.req.call('sum', [1, 2, 3]).result(2000), 6);
    assert.equal([...((await b.req.call('divmod', 7, 2).result(2000)) as number[])], [3, 1]);
  } finally {
    a.context.close();
    b.context.close();
    context.close();
    await engine.stop({ timeout: 2000 });
  }
});

ex.run();
