/**
 * Composition: listening(), connected(), closed() and observe() over real sockets. Each
 * promise settles after the channel's own callback ran; errors reject with the error the
 * channel was given; observers see lifecycle callbacks without replacing any of them.
 */

import * as net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CallbackError,
  ChannelClosedError,
  Client,
  closed,
  ConnectError,
  connected,
  Connection,
  Datagram,
  Engine,
  ListenError,
  listening,
  observe,
  Server,
  WaitTimeoutError,
  type Address,
  type Channel,
  type ChannelObserver,
  type InetAddress,
} from '../lib/index.js';
import { deferred, sock_path, TCP4, UNIX, within, type Transport } from './_helpers.js';

/** An engine whose on_error records instead of printing. */
class QuietEngine extends Engine {
  errors: Error[] = [];
  override on_error(err: Error): void {
    this.errors.push(err);
  }
}

/** A server that records its own callbacks into a shared log. */
class LoggedServer extends Server {
  log: string[] = [];
  errors: Error[] = [];
  override on_listen(): void {
    this.log.push('own on_listen');
  }
  override on_error(err: Error): void {
    this.log.push('own on_error');
    this.errors.push(err);
    this.close(false);
  }
  override on_close(): void {
    this.log.push('own on_close');
  }
}

class Echo extends Connection {
  override on_read(data: Buffer): void {
    this.write(data);
  }
}

/** A client that records its own callbacks. */
class LoggedClient extends Client {
  log: string[] = [];
  frames: string[] = [];
  errors: Error[] = [];
  got = deferred<string>();
  override on_connect(): void {
    this.log.push('own on_connect');
  }
  override on_connect_error(err: ConnectError): void {
    this.log.push('own on_connect_error');
    this.errors.push(err);
  }
  override on_read(data: Buffer): void {
    this.frames.push(data.toString());
    this.got.resolve(data.toString());
  }
  override on_error(err: Error): void {
    this.log.push('own on_error');
    this.errors.push(err);
  }
  override on_close(): void {
    this.log.push('own on_close');
  }
}

/** Names of `on_*` properties set on the instance itself (none may be: callbacks are the class's). */
function own_callbacks(channel: Channel): string[] {
  return Object.getOwnPropertyNames(channel).filter((n) => n.startsWith('on_'));
}

/** An address nobody listens on: a Unix path never bound, or a TCP port just released. */
async function refused(transport: Transport): Promise<Address> {
  if (transport === UNIX) return sock_path('nobody');
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return ['127.0.0.1', port];
}

const t = suite('compose');

for (const transport of [TCP4, UNIX]) {
  t(`${transport.name}: listening, connected and closed each settle after the channel's own callback`, async () => {
    const engine = new QuietEngine();
    const server = new LoggedServer(Echo, { engine });
    server.listen(transport.listen_address());
    const got = await within(listening(server), 5000, 'listening');
    assert.is(got, server);
    server.log.push('listening resolved');
    assert.equal(server.log, ['own on_listen', 'listening resolved']);

    const client = new LoggedClient({ engine });
    client.connect(transport.connect_address(server.local_address));
    assert.is(await within(connected(client), 5000, 'connected'), client);
    client.log.push('connected resolved');
    assert.equal(client.log, ['own on_connect', 'connected resolved']);
    client.write('ping');
    assert.is(await within(client.got.promise), 'ping');

    client.close();
    await within(closed(client), 5000, 'closed client');
    client.log.push('closed resolved');
    assert.equal(client.log, ['own on_connect', 'connected resolved', 'own on_close', 'closed resolved']);

    server.close();
    await within(closed(server), 5000, 'closed server');
    assert.equal(server.log, ['own on_listen', 'listening resolved', 'own on_close']);
    assert.equal(own_callbacks(server), []);
    assert.equal(own_callbacks(client), []);
    assert.equal(engine.errors, []);
  });

  t(`${transport.name}: connected() rejects with the ConnectError of a refused connect, after on_connect_error`, async () => {
    const engine = new QuietEngine();
    const client = new LoggedClient({ engine });
    client.connect(await refused(transport));
    const err = await within(
      connected(client).then(
        () => null,
        (e: unknown) => e,
      ),
    );
    assert.instance(err, ConnectError);
    assert.is(err, client.errors[0]);
    assert.equal(client.log, ['own on_connect_error', 'own on_close']);
    assert.ok(client.closed);
    assert.equal(own_callbacks(client), []);
  });

  t(`${transport.name}: listening() rejects with the ListenError of an address in use, after the server's on_error`, async () => {
    const engine = new QuietEngine();
    const first = new LoggedServer(Echo, { engine });
    first.listen(transport.listen_address());
    await within(listening(first));
    const second = new LoggedServer(Echo, { engine });
    const address = transport === UNIX ? (first.local_address as string) : (['127.0.0.1', (first.local_address as InetAddress).port] as Address);
    second.listen(address);
    const err = await within(
      listening(second).then(
        () => null,
        (e: unknown) => e,
      ),
    );
    assert.instance(err, ListenError);
    assert.is(err, second.errors[0]);
    assert.equal(second.log, ['own on_error', 'own on_close']);
    assert.is(first.listening, true, 'the first server is untouched');
    first.close();
    await within(closed(first));
    assert.equal(own_callbacks(second), []);
  });
}

t('listening() rejects with ChannelClosedError when the server closes before it listens', async () => {
  const engine = new QuietEngine();
  const server = new LoggedServer(Echo, { engine });
  server.listen(['127.0.0.1', 0]);
  const waiting = listening(server).then(
    () => null,
    (e: unknown) => e,
  );
  server.close();
  const err = await within(waiting);
  assert.instance(err, ChannelClosedError);
  assert.equal(server.log, ['own on_close']);
});

t('connected() rejects with ChannelClosedError when the stream closes before it connects', async () => {
  const engine = new QuietEngine();
  const server = new LoggedServer(Echo, { engine });
  server.listen(['127.0.0.1', 0]);
  await within(listening(server));
  const client = new LoggedClient({ engine });
  client.connect(['127.0.0.1', (server.local_address as InetAddress).port]);
  const waiting = connected(client).then(
    () => null,
    (e: unknown) => e,
  );
  client.close(false);
  assert.instance(await within(waiting), ChannelClosedError);
  assert.equal(client.log, ['own on_close']);
  server.close();
  await within(closed(server));
});

t('already listening, connected or closed: each promise settles at once', async () => {
  const engine = new QuietEngine();
  const server = new LoggedServer(Echo, { engine });
  server.listen(['127.0.0.1', 0]);
  await within(listening(server));
  assert.is(await listening(server), server, 'listening again');
  const client = new LoggedClient({ engine });
  client.connect(['127.0.0.1', (server.local_address as InetAddress).port]);
  await within(connected(client));
  assert.is(await connected(client), client, 'connected again');
  client.close();
  await within(closed(client));
  await closed(client);
  const late = await connected(client).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(late, ChannelClosedError, 'connected() of a closed stream');
  server.close();
  await within(closed(server));
  const late_listen = await listening(server).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(late_listen, ChannelClosedError, 'listening() of a closed server');
  // One of each: both log exactly one own callback per event.
  assert.equal(client.log, ['own on_connect', 'own on_close']);
});

t('WaitTimeoutError when nothing happens in time; the channel is left as it is', async () => {
  const engine = new QuietEngine();
  const client = new LoggedClient({ engine });
  const err = await connected(client, { timeout: 20 }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(err, WaitTimeoutError);
  assert.is((err as WaitTimeoutError).code, 'ERR_WAIT_TIMEOUT');
  assert.is((err as WaitTimeoutError).event, 'connected');
  assert.is((err as WaitTimeoutError).timeout, 20);
  assert.not.ok(client.closed);
  const server = new LoggedServer(Echo, { engine });
  const err2 = await listening(server, { timeout: 0 }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(err2, WaitTimeoutError);
  assert.is((err2 as WaitTimeoutError).event, 'listening');
  // The timer went with the settled promise: the channel can still be used.
  server.listen(['127.0.0.1', 0]);
  await within(listening(server, { timeout: 5000 }));
  server.close();
  await within(closed(server));
});

t('bad arguments throw at once', () => {
  const engine = new QuietEngine();
  const client = new Client({ engine });
  assert.throws(() => listening(client as never), TypeError);
  assert.throws(() => connected({} as never), TypeError);
  assert.throws(() => closed(null as never), TypeError);
  assert.throws(() => observe({} as never, {}), TypeError);
  assert.throws(() => observe(client, null as never), TypeError);
  assert.throws(() => connected(client, { timeout: -1 }), RangeError);
  assert.throws(() => connected(client, { timeout: Infinity }), RangeError);
  assert.throws(() => connected(client, null as never), TypeError);
});

t('several observers see every lifecycle callback, in order, after the channel; unsubscribing stops one', async () => {
  const engine = new QuietEngine();
  const server = new LoggedServer(Echo, { engine });
  const seen: string[] = [];
  const watcher = (tag: string): ChannelObserver => ({
    on_listen: (c) => {
      assert.is(c, server);
      seen.push(`${tag} listen after ${server.log.at(-1)}`);
    },
    on_close: () => seen.push(`${tag} close`),
  });
  observe(server, watcher('a'));
  const stop_b = observe(server, watcher('b'));
  const stop_c = observe(server, watcher('c'));
  stop_c();
  stop_c(); // twice is harmless
  server.listen(['127.0.0.1', 0]);
  await within(listening(server));

  const client = new LoggedClient({ engine });
  const stream_seen: string[] = [];
  const stop_stream = observe(client, {
    on_connect: () => stream_seen.push(`connect after ${client.log.at(-1)}`),
    on_write: () => stream_seen.push('write'),
    on_error: (_c, err) => stream_seen.push(`error ${err.message}`),
    on_close: () => stream_seen.push(`close after ${client.log.at(-1)}`),
  });
  client.connect(['127.0.0.1', (server.local_address as InetAddress).port]);
  await within(connected(client));
  client.write('x');
  assert.is(await within(client.got.promise), 'x');
  assert.ok(stream_seen.includes('write'), 'on_write observed');
  stop_b();
  client.close();
  await within(closed(client));
  assert.equal(stream_seen.filter((s) => s !== 'write'), ['connect after own on_connect', 'close after own on_close']);
  stop_stream(); // after close: harmless
  server.close();
  await within(closed(server));
  assert.equal(seen, ['a listen after own on_listen', 'b listen after own on_listen', 'a close']);
  assert.equal(own_callbacks(server), []);
  assert.equal(own_callbacks(client), []);
});

t("an observer that throws goes to engine.on_error; the channel and other observers are unaffected", async () => {
  const engine = new QuietEngine();
  const server = new LoggedServer(Echo, { engine });
  const other: string[] = [];
  observe(server, {
    on_listen: () => {
      throw new Error('observer broke');
    },
  });
  observe(server, { on_listen: () => other.push('still told') });
  server.listen(['127.0.0.1', 0]);
  await within(listening(server));
  assert.equal(other, ['still told']);
  assert.is(engine.errors.length, 1);
  assert.instance(engine.errors[0], CallbackError);
  assert.is((engine.errors[0]!.cause as Error).message, 'observer broke');
  assert.equal(server.errors, [], "the server's own on_error never heard of it");
  assert.ok(server.listening);

  const client = new LoggedClient({ engine });
  observe(client, {
    on_connect: () => {
      throw new Error('connect observer broke');
    },
  });
  client.connect(['127.0.0.1', (server.local_address as InetAddress).port]);
  await within(connected(client));
  client.write('still works');
  assert.is(await within(client.got.promise), 'still works');
  assert.equal(client.errors, []);
  assert.is(engine.errors.length, 2);
  client.close();
  await within(closed(client));
  server.close();
  await within(closed(server));
});

t("observers see on_error with the channel's error; the channel's own on_error still runs", async () => {
  const engine = new QuietEngine();
  class Thrower extends LoggedClient {
    override on_connect(): void {
      super.on_connect();
      throw new Error('user bug');
    }
  }
  const server = new LoggedServer(Echo, { engine });
  server.listen(['127.0.0.1', 0]);
  await within(listening(server));
  const client = new Thrower({ engine });
  const errors: Error[] = [];
  observe(client, { on_error: (_c, err) => errors.push(err) });
  client.connect(['127.0.0.1', (server.local_address as InetAddress).port]);
  await within(connected(client));
  assert.is(errors.length, 1);
  assert.instance(errors[0], CallbackError);
  assert.is(errors[0], client.errors[0]);
  client.close();
  await within(closed(client));
  server.close();
  await within(closed(server));
});

t('datagrams: listening() and closed() work on a Datagram', async () => {
  const engine = new QuietEngine();
  const log: string[] = [];
  class D extends Datagram {
    override on_listen(): void {
      log.push('own on_listen');
    }
  }
  const d = new D({ engine });
  d.listen(['127.0.0.1', 0]);
  await within(listening(d));
  log.push('resolved');
  assert.equal(log, ['own on_listen', 'resolved']);
  d.close();
  await within(closed(d));
  assert.equal(own_callbacks(d), []);
});

t.run();
