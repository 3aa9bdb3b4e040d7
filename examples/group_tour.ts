/**
 * The group tour, on the embedded hub (nothing installed, loopback only): a server and three
 * clients in one process, the Redis layout they leave behind, a receiver that hears a member
 * who joined while it was blocked, `leave`, and the raw client under it all.
 *
 * @module
 */

import type { Engine } from '../lib/index.js';
// In your own code: `from 'trousers/group'` and `from 'trousers/redis'`.
import { Channel, NotJoinedError, queue_key, serve_hub } from '../lib/group/index.js';
import { RedisClient } from '../lib/redis/index.js';

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`group tour: ${what}`);
}

/** Runs the tour; throws if a check fails; leaves nothing open. */
export async function tour(engine: Engine, log: (line: string) => void): Promise<void> {
  const hub = await serve_hub(['127.0.0.1', 0], { engine });
  const [host, port] = hub.address as [string, number];
  log(`hub listening on ${host}:${port} (a Redis-compatible server written on trousers)`);
  const redis = new RedisClient({ address: hub.address, engine });
  const channels: Channel[] = [];
  const open = (): Channel => {
    const c = new Channel({ redis: hub.address, engine });
    channels.push(c);
    return c;
  };
  try {
    const server = open();
    const s = await server.join('server');
    log(`server joined as pid ${s}`);
    const clients = [open(), open(), open()];
    const pids = await Promise.all(clients.map((c) => c.join('client')));
    log(`clients joined as ${pids.join(', ')}`);
    const serving = (async () => {
      for (let i = 0; i < clients.length; i++) {
        const [sender, message] = (await server.recvFromAny(5000))!;
        await server.sendTo([sender], `Received ${String(message)}`);
      }
    })();
    const answers = await Promise.all(
      clients.map(async (c) => {
        await c.sendTo(await c.subgroup('server'), `Hello from ${c.pid}`);
        return (await c.recvFrom([s], 5000))!;
      }),
    );
    await serving;
    for (const [i, [sender, text]] of answers.entries()) {
      log(`client ${pids[i]} got ${JSON.stringify(text)} from ${sender}`);
      check(sender === s && text === `Received Hello from ${pids[i]}`, 'a client got the wrong answer');
    }
    const members = ((await redis.command('SMEMBERS', 'members')) as Buffer[]).map(String);
    log(`in Redis: members = {${members.join(', ')}}, a queue key looks like ${queue_key(pids[0]!, s)}`);
    check(members.length === 4, 'members holds four pids');

    // A receiver blocked before anyone else joined still hears the newcomer.
    const waiting = server.recvFromAny(5000);
    const late = open();
    const l = await late.join('client');
    await late.sendTo([s], 'late but heard');
    const heard = await waiting;
    log(`blocked server heard pid ${l}, who joined after it blocked: ${JSON.stringify(heard)}`);
    check(heard?.[0] === l && heard[1] === 'late but heard', 'the late joiner was not heard');

    await late.leave('client');
    let refused = false;
    try {
      await server.sendTo([l], 'gone?');
    } catch (err) {
      refused = err instanceof Error && err.name === 'UnknownDestinationError';
    }
    check(refused, 'a member that left is an unknown destination');
    late.bind(l);
    try {
      await late.sendTo([s], 'x');
      check(false, 'a member that left cannot send');
    } catch (err) {
      check(err instanceof NotJoinedError, 'NotJoinedError after leave');
    }
    log(`pid ${l} left: sending to it fails with UnknownDestinationError, it gets NotJoinedError`);

    const replies = await Promise.all(Array.from({ length: 1000 }, (_, i) => redis.command('RPUSH', 'tour:list', i)));
    check(replies[999] === 1000, 'pipelined RPUSH');
    log('1,000 pipelined RPUSHes answered in order');
  } finally {
    await Promise.all(channels.map((c) => c.close()));
    await redis.close();
    await hub.stop();
  }
}
