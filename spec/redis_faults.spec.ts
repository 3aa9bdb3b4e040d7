/**
 * RedisClient against a scripted raw peer on loopback (no Redis): malformed replies, a reply
 * nobody asked for, a server that closes mid-reply, replies trickled one byte at a time, an
 * over-long line. Each fault must close the connection with a protocol error, reject every
 * pending command, and let the client reconnect.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type * as net from 'node:net';
import { Engine } from '../lib/index.js';
import { RedisClient, RedisConnectionError, RedisProtocolError, encode_reply, OK } from '../lib/redis/index.js';
import { raw_server, TCP4, UNIX, within, type Transport } from './_helpers.js';

const Faults = suite('redis client: a scripted peer');

/**
 * A fake server: each connection runs the next script. A script gets the socket and the
 * commands (raw bytes) as they arrive.
 */
async function fake(transport: Transport, scripts: ((socket: net.Socket, data: Buffer) => void)[]) {
  const sockets = new Set<net.Socket>();
  let n = 0;
  const server = await raw_server(transport, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const script = scripts[Math.min(n++, scripts.length - 1)]!;
    socket.on('data', (data: Buffer) => script(socket, data));
  });
  return {
    address: server.address,
    get connections() {
      return n;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await server.close();
    },
  };
}

/** Counts RESP commands (arrays) in a chunk of client bytes (fine for these small scripts). */
function count_commands(data: Buffer): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) if (data[i] === 0x2a && (i === 0 || data[i - 1] === 0x0a)) n++;
  return n;
}

/** A well-behaved script: +PONG for every command. */
const PONGS = (socket: net.Socket, data: Buffer): void => {
  socket.write('+PONG\r\n'.repeat(count_commands(data)));
};

async function error_of(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

for (const transport of [TCP4, UNIX]) {
  Faults(`${transport.name}: a malformed reply rejects every pending command with a protocol error; the client reconnects`, async () => {
    const engine = new Engine();
    const peer = await fake(transport, [(socket) => socket.write('?garbage\r\n'), PONGS]);
    const r = new RedisClient({ address: peer.address, engine, reconnect: { min_delay: 5 } });
    const a = error_of(r.command('PING'));
    const b = error_of(r.command('PING'));
    for (const p of [a, b]) {
      const err = await within(p, 5000);
      assert.instance(err, RedisConnectionError);
      assert.instance(err.cause, RedisProtocolError);
      assert.match((err.cause as Error).message, /unknown RESP type/);
    }
    assert.is(await within(r.command('PING'), 5000), 'PONG');
    assert.is(peer.connections, 2);
    await r.close();
    await peer.close();
    assert.is(engine.channels.size, 0);
  });
}

Faults('replies trickled one byte at a time are framed like whole ones', async () => {
  const engine = new Engine();
  const reply = Buffer.concat([
    encode_reply(OK),
    encode_reply([1, Buffer.from('two\r\n'), [null, -(3n ** 40n)]]),
    encode_reply(Buffer.alloc(3000, 7)),
  ]);
  const peer = await fake(TCP4, [
    (socket) => {
      let i = 0;
      const next = (): void => {
        if (i < reply.length) socket.write(reply.subarray(i, ++i), next);
      };
      next();
    },
  ]);
  const r = new RedisClient({ address: peer.address, engine });
  const [ok, arr, big] = await within(Promise.all([r.command('A'), r.command('B'), r.command('C')]), 10000);
  assert.is(ok, 'OK');
  assert.equal(arr, [1, Buffer.from('two\r\n'), [null, -(3n ** 40n)]]);
  assert.ok(Buffer.isBuffer(big) && big.length === 3000 && big.every((b) => b === 7));
  await r.close();
  await peer.close();
});

Faults('a reply with no command waiting, a close in mid-reply, an over-long line: each a clean failure', async () => {
  const engine = new Engine();
  const peer = await fake(TCP4, [
    (socket) => socket.write('+PONG\r\n+EXTRA\r\n'),
    (socket) => socket.end('$10\r\nabc'),
    (socket) => socket.write('+' + 'x'.repeat(200000)),
    PONGS,
  ]);
  const r = new RedisClient({ address: peer.address, engine, reconnect: { min_delay: 5 } });
  assert.is(await r.command('PING'), 'PONG');
  // The unsolicited +EXTRA closes the first connection; the next command goes to the second.
  const mid = await error_of(r.command('GET', 'x'));
  assert.instance(mid, RedisConnectionError);
  const long = await error_of(r.command('GET', 'y'));
  assert.instance(long, RedisConnectionError);
  assert.instance(long.cause, RedisProtocolError);
  assert.match((long.cause as Error).message, /longer than/);
  assert.is(await r.command('PING'), 'PONG');
  assert.instance(r.last_error, RedisProtocolError);
  await r.close();
  await peer.close();
  assert.is(engine.channels.size, 0);
});

Faults('a server that accepts and never answers: close() still rejects and frees everything', async () => {
  const engine = new Engine();
  const peer = await fake(TCP4, [() => {}]);
  const r = new RedisClient({ address: peer.address, engine });
  const hung = error_of(r.command('PING'));
  await r.ready();
  await r.close();
  assert.is((await hung).name, 'RedisClosedError');
  await peer.close();
  assert.is(engine.channels.size, 0);
});

Faults.run();
