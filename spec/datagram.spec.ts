/**
 * Datagram: one on_read per packet with its sender, replies, boundaries, delimiters within a
 * packet, binding, closing.
 */

import * as dgram from 'node:dgram';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ChannelClosedError, Datagram, Engine, ListenError, type InetAddress } from '../lib/index.js';
import { deferred, has_ipv6, within } from './_helpers.js';

class Echo extends Datagram {
  override on_read(data: Buffer): void {
    this.write(data);
  }
}

function bound(d: Datagram, address: Parameters<Datagram['listen']>[0]): Promise<InetAddress> {
  const ready = deferred<InetAddress>();
  d.on_listen = () => ready.resolve(d.local_address!);
  d.on_error = (err: Error) => ready.reject(err);
  d.listen(address);
  return within(ready.promise).finally(() => {
    // Back to the class's own callbacks.
    delete (d as Partial<Datagram>).on_listen;
    delete (d as Partial<Datagram>).on_error;
  });
}

/** A raw dgram peer that collects replies. */
function peer(type: 'udp4' | 'udp6' = 'udp4'): { socket: dgram.Socket; next(n: number): Promise<Buffer[]>; close(): Promise<void> } {
  const socket = dgram.createSocket(type);
  const got: Buffer[] = [];
  let want = 0;
  let waiter: ((v: Buffer[]) => void) | undefined;
  socket.on('message', (m: Buffer) => {
    got.push(m);
    if (waiter && got.length >= want) waiter(got.splice(0, want));
  });
  return {
    socket,
    next(n: number) {
      want = n;
      return within(
        new Promise<Buffer[]>((resolve) => {
          if (got.length >= n) resolve(got.splice(0, n));
          else waiter = resolve;
        }),
      );
    },
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

const t = suite('datagram');

t('one on_read per packet with the sender address; write(data) in on_read replies to it', async () => {
  const engine = new Engine();
  const froms: InetAddress[] = [];
  class Rec extends Echo {
    override on_read(data: Buffer, from?: InetAddress): void {
      froms.push(from!);
      super.on_read(data);
    }
  }
  const d = new Rec({ engine });
  const at = await bound(d, ['127.0.0.1', 0]);
  const p = peer();
  for (const m of ['one', 'two', 'three']) p.socket.send(m, at.port, '127.0.0.1');
  const replies = await p.next(3);
  assert.equal(replies.map(String).sort(), ['one', 'three', 'two']);
  assert.is(froms.length, 3);
  assert.is(froms[0]!.host, '127.0.0.1');
  assert.is(froms[0]!.family, 'IPv4');
  assert.is(froms[0]!.port, p.socket.address().port);
  await p.close();
  await engine.stop();
});

t('packet boundaries are kept: packets from one sender are never glued together', async () => {
  const engine = new Engine();
  const sizes: number[] = [];
  const all = deferred();
  class Count extends Datagram {
    override on_read(data: Buffer): void {
      sizes.push(data.length);
      if (sizes.length === 20) all.resolve();
    }
  }
  const d = new Count({ engine });
  const at = await bound(d, ['127.0.0.1', 0]);
  const p = peer();
  for (let i = 1; i <= 20; i++) p.socket.send(Buffer.alloc(i * 10, i), at.port, '127.0.0.1');
  await within(all.promise);
  assert.equal([...sizes].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => (i + 1) * 10));
  await p.close();
  await engine.stop();
});

t('a 65507-byte packet arrives whole', async () => {
  const engine = new Engine();
  const got = deferred<Buffer>();
  class Big extends Datagram {
    override on_read(data: Buffer): void {
      got.resolve(data);
    }
  }
  const d = new Big({ engine });
  const at = await bound(d, ['127.0.0.1', 0]);
  const p = peer();
  const payload = Buffer.alloc(65507);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
  p.socket.send(payload, at.port, '127.0.0.1');
  const data = await within(got.promise);
  assert.ok(data.equals(payload));
  await p.close();
  await engine.stop();
});

t('read_delimiter applies within one packet; leftovers go to on_incomplete, never to the next packet', async () => {
  const engine = new Engine();
  const frames: string[] = [];
  const rests: string[] = [];
  const done = deferred();
  class Lines extends Datagram {
    override on_read(line: Buffer): void {
      frames.push(line.toString());
    }
    override on_incomplete(rest: Buffer): void {
      rests.push(rest.toString());
      if (rests.length === 2) done.resolve();
    }
  }
  const d = new Lines({ engine });
  d.read_delimiter = '\n';
  const at = await bound(d, ['127.0.0.1', 0]);
  const p = peer();
  p.socket.send('a\nb\npart', at.port, '127.0.0.1', () => p.socket.send('ial\nc', at.port, '127.0.0.1'));
  await within(done.promise);
  assert.equal(frames, ['a', 'b', 'ial']);
  assert.equal(rests, ['part', 'c']);
  await p.close();
  await engine.stop();
});

t('writing before listen binds an ephemeral port; write(data) without an address outside on_read throws', async () => {
  const engine = new Engine();
  const p = peer();
  await new Promise<void>((r) => p.socket.bind(0, '127.0.0.1', r));
  const d = new Datagram({ engine });
  const wrote = deferred();
  d.on_write = () => wrote.resolve();
  assert.throws(() => d.write('x'), (e: unknown) => e instanceof TypeError);
  d.write('ping', ['127.0.0.1', p.socket.address().port]);
  const [m] = await p.next(1);
  assert.is(String(m), 'ping');
  await within(wrote.promise);
  await p.close();
  await engine.stop();
});

t('IPv6 datagrams report family IPv6', async () => {
  if (!(await has_ipv6())) return;
  const engine = new Engine();
  const from = deferred<InetAddress>();
  class Six extends Datagram {
    override on_read(_d: Buffer, address: InetAddress): void {
      from.resolve(address);
    }
  }
  const d = new Six({ engine, family: 'udp6' });
  const at = await bound(d, ['::1', 0]);
  assert.is(at.family, 'IPv6');
  const p = peer('udp6');
  p.socket.send('x', at.port, '::1');
  assert.is((await within(from.promise)).family, 'IPv6');
  await p.close();
  await engine.stop();
});

t('binding a taken port is a ListenError to on_error, then on_close', async () => {
  const engine = new Engine();
  const a = new Datagram({ engine });
  const at = await bound(a, ['127.0.0.1', 0]);
  const b = new Datagram({ engine });
  const failed = deferred<Error>();
  const closed = deferred();
  b.on_error = (err: Error) => failed.resolve(err);
  b.on_close = () => closed.resolve();
  b.listen(['127.0.0.1', at.port]);
  const err = await within(failed.promise);
  assert.instance(err, ListenError);
  assert.is((err as ListenError).syscode, 'EADDRINUSE');
  await within(closed.promise);
  await engine.stop();
});

t('close fires on_close once; write after close throws; bad arguments throw', async () => {
  const engine = new Engine();
  const d = new Datagram({ engine });
  await bound(d, ['127.0.0.1', 0]);
  let closes = 0;
  const closed = deferred();
  d.on_close = () => {
    closes++;
    closed.resolve();
  };
  d.close();
  d.close();
  assert.throws(() => d.write('x', ['127.0.0.1', 9]), (e: unknown) => e instanceof ChannelClosedError);
  await within(closed.promise);
  assert.is(closes, 1);
  assert.throws(() => new Datagram({ family: 'udp5' as never }), (e: unknown) => e instanceof TypeError);
  assert.throws(() => new Datagram({ engine }).listen('/tmp/x'), (e: unknown) => e instanceof TypeError);
  await engine.stop();
});

t('broadcast and multicast settings are available once bound', async () => {
  const engine = new Engine();
  const d = new Datagram({ engine, reuse_address: true });
  assert.throws(() => d.set_broadcast(true), (e: unknown) => (e as { code?: string }).code === 'ERR_NOT_BOUND');
  await bound(d, 0);
  d.set_broadcast(true);
  d.set_multicast_ttl(1);
  d.set_multicast_loopback(true);
  d.add_membership('239.255.0.1');
  d.drop_membership('239.255.0.1');
  assert.ok(d.recv_buffer_size > 0);
  await engine.stop();
});

t('a throwing on_read goes to on_error and the socket keeps serving', async () => {
  const engine = new Engine();
  const errors: Error[] = [];
  class Flaky extends Datagram {
    override on_read(data: Buffer): void {
      if (String(data) === 'boom') throw new Error('bad packet');
      this.write(data);
    }
    override on_error(err: Error): void {
      errors.push(err);
    }
  }
  const d = new Flaky({ engine });
  const at = await bound(d, ['127.0.0.1', 0]);
  const p = peer();
  p.socket.send('boom', at.port, '127.0.0.1', () => p.socket.send('fine', at.port, '127.0.0.1'));
  const [m] = await p.next(1);
  assert.is(String(m), 'fine');
  assert.is(errors.length, 1);
  assert.is((errors[0] as { callback?: string }).callback, 'on_read');
  await p.close();
  await engine.stop();
});

t.run();
