/**
 * trousers/csp bad input and faults, over real loopback sockets: garbage, truncated and
 * unknown headers close only the offending connection (with a clear error), unknown channel
 * names and processes are answered as PyCSP answers them, oversized payloads are refused
 * before they are read, a peer that dies in the middle of a rendezvous is dropped while the
 * home keeps serving the others, a home that dies fails its pending operations with
 * ChannelLostError, unreachable homes give ChannelConnectError, a taken port ChannelBindError.
 */

import * as net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Channel, ChannelBindError, ChannelConnectError, ChannelLostError, configure, CspProtocolError, retire, shutdown } from '../lib/csp/index.js';
import {
  CHANTHREAD_JOIN_READER,
  CHANTHREAD_POST_WRITE,
  decode_header,
  encode_header,
  encode_message,
  header,
  LOCKTHREAD_ACQUIRE_LOCK,
  LOCKTHREAD_UNAVAILABLE,
} from '../lib/csp/header.js';
import { deferred, read_n, within } from './_helpers.js';

const test = suite('csp faults');

let errors: Error[] = [];
let next_error = deferred<Error>();

test.before.each(() => {
  errors = [];
  next_error = deferred<Error>();
  configure({
    on_error: (err) => {
      errors.push(err);
      next_error.resolve(err);
    },
  });
});

test.after.each(async () => {
  await within(shutdown(), 5000, 'shutdown');
  configure(null);
});

function raw(address: [string, number]): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: address[0], port: address[1] }, () => resolve(s));
    s.once('error', reject);
  });
}

function closed(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) resolve();
    else s.once('close', () => resolve());
    s.on('error', () => undefined);
    s.resume();
  });
}

/** A raw server standing in for a peer process; resolves with its address. */
function fake_peer(on_conn: (s: net.Socket) => void): Promise<{ server: net.Server; address: [string, number] }> {
  return new Promise((resolve) => {
    const server = net.createServer(on_conn);
    server.listen(0, '127.0.0.1', () => resolve({ server, address: ['127.0.0.1', (server.address() as net.AddressInfo).port] }));
  });
}

async function still_serves(c: Channel): Promise<void> {
  const r = c.reader(), w = c.writer();
  const p = r.read();
  await w.write('still here');
  assert.is(await within(p, 3000, 'rendezvous after the fault'), 'still here');
  await retire(r, w);
}

const BAD = [
  ['a header of zeros', Buffer.alloc(240), 'ERR_CSP_BAD_HEADER'],
  ['an unknown command', encode_header(header(0x0777, { id: 'bad' })), 'ERR_CSP_UNKNOWN_COMMAND'],
  ['a bad source port', encode_header(header(CHANTHREAD_JOIN_READER, { id: 'bad', source_port: 70000 })), 'ERR_CSP_BAD_HEADER'],
  ['a payload over the limit', encode_header(header(CHANTHREAD_POST_WRITE, { id: 'bad', arg: 10n ** 9n })), 'ERR_CSP_PAYLOAD'],
] as const;

for (const [what, bytes, code] of BAD) {
  test(`${what} closes only that connection with ${code}; the home keeps serving`, async () => {
    const c = new Channel('bad');
    await c.ready();
    const s = await raw(c.address!);
    s.write(bytes);
    const err = await within(next_error.promise, 3000, 'error report');
    assert.instance(err, CspProtocolError);
    assert.is((err as CspProtocolError).code, code);
    await within(closed(s), 3000, 'connection closed');
    await still_serves(c);
  });
}

test('a truncated message is reported when the connection ends inside it', async () => {
  const c = new Channel('trunc');
  await c.ready();
  const s = await raw(c.address!);
  s.end(encode_header(header(CHANTHREAD_JOIN_READER, { id: 'trunc' })).subarray(0, 100));
  const err = await within(next_error.promise, 3000, 'error report');
  assert.match(err.message, /ended inside a message \(100 bytes/);
  await closed(s);
  await still_serves(c);
});

test('an unknown channel name is reported and dropped; the connection stays usable', async () => {
  const c = new Channel('known');
  await c.ready();
  const s = await raw(c.address!);
  s.write(encode_header(header(CHANTHREAD_JOIN_READER, { id: 'nope', source_host: '127.0.0.1', source_port: 1 })));
  const err = await within(next_error.promise, 3000, 'error report');
  assert.is((err as CspProtocolError).code, 'ERR_CSP_UNKNOWN_CHANNEL');
  assert.match(err.message, /"nope"/);
  assert.is(s.destroyed, false);
  s.destroy();
  await still_serves(c);
});

test('a lock request for an unknown process is answered LOCKTHREAD_UNAVAILABLE, as PyCSP does', async () => {
  const got = deferred<Buffer>();
  const peer = await fake_peer((sock) => void read_n(sock, 240).then((b) => {
    got.resolve(b);
    sock.destroy();
  }));
  const c = new Channel('ask');
  await c.ready();
  const s = await raw(c.address!);
  s.write(encode_header(header(LOCKTHREAD_ACQUIRE_LOCK, { id: 'no-such-process', source_id: 'their-channel', source_host: peer.address[0], source_port: peer.address[1] })));
  const reply = decode_header(await within(got.promise, 3000, 'reply'));
  assert.is(reply.cmd, LOCKTHREAD_UNAVAILABLE);
  assert.is(reply.id, 'their-channel');
  s.destroy();
  await new Promise<void>((r) => peer.server.close(() => r()));
});

test('a writer process that dies mid-rendezvous is dropped; the reader is served by the next writer', async () => {
  const acquired = deferred();
  const peer = await fake_peer((sock) => void read_n(sock, 240).then(() => {
    acquired.resolve();
    sock.destroy(); // the "process" dies holding its part of the rendezvous
  }));
  const c = new Channel('mid');
  await c.ready();
  const r = c.reader();
  const reading = r.read();
  const s = await raw(c.address!);
  const payload = Buffer.from('80025d710058040000006465616471016124', 'hex'); // pickle of ['dead'] (short)
  s.write(encode_message(header(CHANTHREAD_POST_WRITE, { id: 'mid', seq: 2n, source_id: 'doomed.__INIT__', source_host: peer.address[0], source_port: peer.address[1] }), payload));
  await within(acquired.promise, 3000, 'the home asked the dead process for its lock');
  const w = c.writer();
  const p = w.write('alive');
  assert.is(await within(reading, 3000, 'reader served'), 'alive');
  await p;
  s.destroy();
  await retire(r, w);
  await new Promise<void>((res) => peer.server.close(() => res()));
});

test('a process that never answers a lock request is dropped after lock_timeout; the home serves the others', async () => {
  configure({ lock_timeout: 150 });
  const asked = deferred<net.Socket>();
  const peer = await fake_peer((sock) => void read_n(sock, 240).then(() => asked.resolve(sock))); // and never answers
  const c = new Channel('mute');
  await c.ready();
  const r = c.reader();
  const reading = r.read();
  const s = await raw(c.address!);
  s.write(encode_message(header(CHANTHREAD_POST_WRITE, { id: 'mute', seq: 2n, source_id: 'mute.__INIT__', source_host: peer.address[0], source_port: peer.address[1] }), Buffer.from('80025d71004e612e', 'hex')));
  const asked_sock = await within(asked.promise, 3000, 'ACQUIRE sent');
  const err = await within(next_error.promise, 3000, 'timeout report');
  assert.is((err as CspProtocolError).code, 'ERR_CSP_LOCK_TIMEOUT');
  await within(closed(asked_sock), 3000, 'the mute peer\'s connections are closed');
  const w = c.writer();
  const p = w.write('served');
  assert.is(await within(reading, 3000, 'reader served'), 'served');
  await p;
  s.destroy();
  await retire(r, w);
  await new Promise<void>((res) => peer.server.close(() => res()));
});

test('operations waiting on a home that dies fail with ChannelLostError', async () => {
  let posted = 0;
  const peer = await fake_peer((sock) => {
    sock.on('data', (d: Buffer) => {
      posted += d.length;
      if (posted >= 4 * 240) sock.destroy(); // REGISTER, JOIN, ENTER, POST_READ arrived: die
    });
  });
  const far = new Channel('far', { connect: peer.address });
  const r = far.reader();
  let err: unknown = null;
  try {
    await within(r.read(), 5000, 'read');
  } catch (e) {
    err = e;
  }
  assert.instance(err, ChannelLostError, String(err));
  assert.is((err as ChannelLostError).code, 'ERR_CSP_LOST');
  let again: unknown = null;
  try {
    await r.read();
  } catch (e) {
    again = e;
  }
  assert.instance(again, ChannelLostError, 'later operations fail too');
  await new Promise<void>((res) => peer.server.close(() => res()));
});

test('an unreachable home gives ChannelConnectError (after PyCSP-style retries)', async () => {
  configure({ connect_timeout: 300, connect_retry_delay: 50 });
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const far = new Channel('gone', { connect: ['127.0.0.1', port] });
  let err: unknown = null;
  try {
    await within(far.ready(), 5000, 'ready');
  } catch (e) {
    err = e;
  }
  assert.instance(err, ChannelConnectError, String(err));
  assert.equal((err as ChannelConnectError).addr, ['127.0.0.1', port]);
  let err2: unknown = null;
  try {
    await far.reader().read();
  } catch (e) {
    err2 = e;
  }
  assert.instance(err2, ChannelConnectError);
});

test('a port in use gives ChannelBindError', async () => {
  const blocker = await fake_peer(() => undefined);
  configure({ port: blocker.address[1], bind_timeout: 100, connect_retry_delay: 20 });
  const c = new Channel('nobind');
  let err: unknown = null;
  try {
    await within(c.ready(), 5000, 'ready');
  } catch (e) {
    err = e;
  }
  assert.instance(err, ChannelBindError, String(err));
  assert.is((err as ChannelBindError).code, 'ERR_CSP_BIND');
  await new Promise<void>((res) => blocker.server.close(() => res()));
});

test.run();
