/**
 * trousers/connection, Node to Node and against hand-made bytes: addresses and families,
 * messages and codecs, framing errors, bounded memory, poll/wait, lifecycles.
 * (Python interop: connection_python.spec.ts; handshakes: connection_modern.spec.ts.)
 */

import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import {
  address_family,
  AuthenticationError,
  connect,
  ConnectionEOFError,
  JSON_CODEC,
  listen,
  ProtocolError,
  wait,
  type Codec,
  type Listener,
  type MessageConnection,
} from '../lib/connection/index.js';
import { encode_message, write_header } from '../lib/connection/wire.js';
import { create_response, split_digest, verify_response } from '../lib/connection/auth.js';
import { ChannelClosedError, ConnectError, Engine, SocketError, TrousersError } from '../lib/index.js';
import { deferred, raw_connect, raw_server, read_all, sock_path, TCP4, UNIX, within, type Transport } from './_helpers.js';

async function rejects<E extends Error>(promise: Promise<unknown>, cls: new (...a: never[]) => E, what = 'promise'): Promise<E> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, cls, `${what}: got ${String(err)}`);
    return err as E;
  }
  assert.unreachable(`${what}: expected ${cls.name}`);
  throw new Error('unreachable');
}

/** Asserts that `fn` throws an instance of `cls` (uvu's `throws` takes a predicate, not a class). */
function throws(fn: () => unknown, cls: new (...a: never[]) => Error, what = String(fn)): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, cls, `${what}: threw ${String(err)}`);
    return;
  }
  assert.unreachable(`${what}: expected ${cls.name}`);
}

function header(n: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeInt32BE(n);
  return h;
}

const frame = (payload: Buffer | string): Buffer => {
  const p = Buffer.from(payload);
  return Buffer.concat([header(p.length), p]);
};

/** A listener and a connected pair over a transport. */
async function pair(transport: Transport, options: Parameters<typeof listen>[1] = {}): Promise<{ listener: Listener; server: MessageConnection; client: MessageConnection; done(): void }> {
  const listener = await listen(transport.listen_address() as string | [string, number], options);
  const [server, client] = await within(Promise.all([listener.accept(), connect(listener.address, options)]));
  return {
    listener,
    server,
    client,
    done() {
      client.close();
      server.close();
      listener.close();
    },
  };
}

/** A listener plus a raw socket connected to it, and the accepted connection. */
async function raw_peer(options: Parameters<typeof listen>[1] = {}): Promise<{ socket: net.Socket; conn: MessageConnection; done(): void }> {
  const listener = await listen(['127.0.0.1', 0], options);
  const socket = raw_connect(listener.address as [string, number]);
  const conn = await within(listener.accept());
  return {
    socket,
    conn,
    done() {
      socket.destroy();
      conn.close();
      listener.close();
    },
  };
}

// ---------------------------------------------------------------------------------------
const addresses = suite('connection/addresses and families');

addresses('families are inferred like Python', () => {
  assert.is(address_family(['127.0.0.1', 80]), 'AF_INET');
  assert.is(address_family({ host: '::1', port: 80 }), 'AF_INET');
  assert.is(address_family('/tmp/x.sock'), 'AF_UNIX');
  assert.is(address_family('relative.sock'), 'AF_UNIX');
  assert.is(address_family('\\\\.\\pipe\\trousers'), 'AF_PIPE');
  for (const bad of [4000, null, undefined, {}, [1, 2], ['h'], { host: 'h' }, true]) {
    throws(() => address_family(bad), TypeError, JSON.stringify(bad));
  }
});

addresses('bad addresses and options throw at once', () => {
  throws(() => listen(4000 as unknown as string), TypeError);
  throws(() => connect(4000 as unknown as string), TypeError);
  throws(() => connect(undefined as unknown as string), TypeError);
  throws(() => connect({ port: 1 } as unknown as string), TypeError);
  throws(() => listen(['127.0.0.1', 0], { family: 'AF_UNIX' }), TypeError);
  throws(() => listen('/tmp/x', { family: 'AF_INET' }), TypeError);
  throws(() => listen(null, { family: 'AF_BOGUS' as 'AF_INET' }), TypeError);
  throws(() => listen(null, { codec: 'xml' as 'json' }), TypeError);
  throws(() => listen(null, { buffer_size: 0 }), RangeError);
  throws(() => listen(null, { handshake_timeout: -1 }), RangeError);
  throws(() => listen(null, { digest: 'sha1' as 'sha256' }), RangeError);
  throws(() => listen(null, { authkey: 42 as unknown as string }), TypeError);
  throws(() => listen(null, { backlog: -1 }), RangeError);
  throws(() => listen(null, { on_accept: 'x' as unknown as () => void }), TypeError);
  if (process.platform !== 'win32') {
    throws(() => listen('\\\\.\\pipe\\trousers'), RangeError);
    throws(() => listen(null, { family: 'AF_PIPE' }), RangeError);
  }
});

addresses('no address: a temp Unix socket, removed with its directory on close', async () => {
  const listener = await listen();
  assert.is(listener.family, process.platform === 'win32' ? 'AF_INET' : 'AF_UNIX');
  if (listener.family !== 'AF_UNIX') return listener.close();
  const file = listener.address as string;
  assert.ok(fs.statSync(file).isSocket());
  const client = await connect(file);
  const server = await listener.accept();
  await client.send_bytes(Buffer.from('x'));
  assert.is(String(await server.recv_bytes()), 'x');
  listener.close();
  assert.not.ok(fs.existsSync(file), 'socket file removed');
  assert.not.ok(fs.existsSync(path.dirname(file)), 'temp directory removed');
  // connections already handed out stay open, as in Python
  await server.send_bytes(Buffer.from('still here'));
  assert.is(String(await client.recv_bytes()), 'still here');
  client.close();
  server.close();
});

addresses('family AF_INET with no address: an ephemeral port on 127.0.0.1, reported as [host, port]', async () => {
  const listener = await listen(null, { family: 'AF_INET' });
  const [host, port] = listener.address as [string, number];
  assert.is(host, '127.0.0.1');
  assert.ok(port > 0);
  assert.is(listener.last_accepted, null);
  const client = await connect({ host, port });
  const server = await listener.accept();
  const [lhost, lport] = listener.last_accepted as [string, number];
  assert.is(lhost, '127.0.0.1');
  assert.is(lport, (client.local_address as { port: number }).port);
  assert.match(String(client), /MessageConnection/);
  assert.match(String(listener), /Listener\(127\.0\.0\.1:\d+\)/);
  client.close();
  server.close();
  listener.close();
});

addresses('a Unix path listener; a path already served is refused', async () => {
  const file = sock_path('conn');
  const listener = await listen(file, { mode: 0o600 });
  assert.is(listener.address, file);
  assert.is(fs.statSync(file).mode & 0o777, 0o600);
  const err = await rejects(listen(file), TrousersError, 'second listen');
  assert.is(err.code, 'ERR_LISTEN');
  listener.close();
  assert.not.ok(fs.existsSync(file));
});

addresses('connecting to nothing is a ConnectError', async () => {
  const file = sock_path('nobody');
  await rejects(connect(file), ConnectError, 'connect');
  throws(() => connect(file, { timeout: -5 }), RangeError);
});

// ---------------------------------------------------------------------------------------
const hmac = suite('connection/handshake arithmetic (vectors from Python\'s hmac)');

hmac('a 20-byte challenge gets a bare HMAC-MD5; a {digest} challenge gets {digest} + HMAC of the whole message', () => {
  const key = Buffer.from('k');
  assert.is(create_response(key, Buffer.from('x'.repeat(20))).toString('hex'), 'e8c8a369cca81fe93c49565f5bd38a4f');
  const m384 = Buffer.from('{sha384}' + 'y'.repeat(40));
  const r384 = create_response(key, m384);
  assert.is(r384.subarray(0, 8).toString(), '{sha384}');
  assert.is(
    r384.subarray(8).toString('hex'),
    'e2544ae6afa69d97f52f840b817fbcfec0cb978d9ec177689d83eafb34a1d54ec80bf3b9ad7ac1c8c912af531b969297',
  );
  const m3 = Buffer.from('{sha3_256}' + 'z'.repeat(40));
  assert.is(create_response(key, m3).subarray(10).toString('hex'), 'afdbdb9ad2c1b5668d03b9090c55aaa4dcbc5ec00f72afbf0aee26b168795508');
  verify_response(key, m3, create_response(key, m3));
  verify_response(key, m384, r384);
});

hmac('verify_response: bare MD5 replies, other digests, wrong lengths, unknown names', () => {
  const key = Buffer.from('secret');
  const message = Buffer.from('{sha256}' + 'q'.repeat(40));
  const legacy = create_response(key, Buffer.alloc(20, 1));
  assert.is(legacy.length, 16);
  // a legacy answerer sends a bare HMAC-MD5 of our modern challenge
  const bare = createHmac('md5', key).update(message).digest();
  verify_response(key, message, bare);
  const sha512ish = Buffer.concat([Buffer.from('{sha384}'), createHmac('sha384', key).update(message).digest()]);
  verify_response(key, message, sha512ish);
  throws(() => verify_response(key, message, Buffer.concat([Buffer.from('{sha256}'), Buffer.alloc(31)])), AuthenticationError);
  throws(() => verify_response(key, message, Buffer.concat([Buffer.from('{sha256}'), Buffer.alloc(32)])), AuthenticationError);
  throws(() => verify_response(key, message, Buffer.from('{sha1}' + 'x'.repeat(20))), AuthenticationError);
  throws(() => verify_response(key, message, Buffer.from('no prefix at all, 33 bytes long...')), AuthenticationError);
  throws(() => split_digest(Buffer.from('{}' + 'x'.repeat(30))), AuthenticationError);
  throws(() => split_digest(Buffer.from('{md5' + 'x'.repeat(30))), AuthenticationError);
  assert.is(split_digest(Buffer.from('{md5}abc')).digest, 'md5');
});

// ---------------------------------------------------------------------------------------
const messages = suite('connection/messages');

for (const transport of [TCP4, UNIX]) {
  messages(`${transport.name}: 0 bytes, 1 byte, 1 MiB, 5 MiB, both ways`, async () => {
    const p = await pair(transport);
    try {
      for (const size of [0, 1, 1 << 20, 5 << 20]) {
        const payload = Buffer.alloc(size);
        for (let i = 0; i < size; i += 4093) payload[i] = i & 0xff;
        // Not `await send_bytes()` first: a big message waits for the reader (backpressure),
        // and here the reader is this same code.
        const sending = p.client.send_bytes(payload);
        const got = await p.server.recv_bytes();
        await sending;
        assert.is(got.length, size);
        assert.ok(got.equals(payload));
        const back = p.server.send_bytes(got);
        assert.ok((await p.client.recv_bytes()).equals(payload));
        await back;
      }
    } finally {
      p.done();
    }
  });

  messages(`${transport.name}: 2000 messages in a row keep their order`, async () => {
    const p = await pair(transport);
    try {
      for (let i = 0; i < 2000; i++) void p.client.send_bytes(Buffer.from(`message ${i} ${'.'.repeat(i % 97)}`));
      for (let i = 0; i < 2000; i++) assert.is(String(await p.server.recv_bytes()), `message ${i} ${'.'.repeat(i % 97)}`);
    } finally {
      p.done();
    }
  });
}

messages('send_bytes: offset and size, typed arrays, a copy is taken', async () => {
  const p = await pair(TCP4);
  try {
    const buf = Buffer.from('0123456789');
    await p.client.send_bytes(buf, 2, 3);
    assert.is(String(await p.server.recv_bytes()), '234');
    await p.client.send_bytes(buf, 7);
    assert.is(String(await p.server.recv_bytes()), '789');
    await p.client.send_bytes(buf, 10);
    assert.is((await p.server.recv_bytes()).length, 0);
    await p.client.send_bytes(new Uint16Array([0x0102, 0x0304]));
    assert.is((await p.server.recv_bytes()).length, 4);
    await p.client.send_bytes(new DataView(new ArrayBuffer(3)));
    assert.is((await p.server.recv_bytes()).length, 3);
    await p.client.send_bytes(new ArrayBuffer(2));
    assert.is((await p.server.recv_bytes()).length, 2);
    const reused = Buffer.from('before');
    void p.client.send_bytes(reused);
    reused.write('after!');
    assert.is(String(await p.server.recv_bytes()), 'before');
    throws(() => p.client.send_bytes(buf, 11), RangeError);
    throws(() => p.client.send_bytes(buf, 5, 6), RangeError);
    throws(() => p.client.send_bytes(buf, -1), RangeError);
    throws(() => p.client.send_bytes(buf, 0, 1.5), RangeError);
    throws(() => p.client.send_bytes('text' as unknown as Buffer), TypeError);
    throws(() => p.client.send_bytes(null as unknown as Buffer), TypeError);
    throws(() => void p.server.recv_bytes(-1), RangeError);
  } finally {
    p.done();
  }
});

messages('the bytes on the wire are Python\'s: a 4-byte big-endian length, then the payload', async () => {
  let captured: Promise<Buffer> | undefined;
  const srv = await raw_server(TCP4, (s) => {
    captured = read_all(s).finally(() => s.destroy());
  });
  try {
    const conn = await connect(srv.address as [string, number]);
    await conn.send_bytes(Buffer.from('hello'));
    await conn.send_bytes(Buffer.alloc(0));
    conn.close();
    const bytes = await within(captured!);
    assert.is(bytes.toString('hex'), '0000000568656c6c6f' + '00000000');
  } finally {
    await srv.close();
  }
});

messages('headers over 0x7fffffff bytes: ff ff ff ff then an 8-byte length', () => {
  const b = Buffer.alloc(12);
  assert.is(write_header(b, 0x80000000), 12);
  assert.is(b.toString('hex'), 'ffffffff' + '0000000080000000');
  assert.is(write_header(b, 0x7fffffff), 4);
  assert.is(b.subarray(0, 4).toString('hex'), '7fffffff');
  const [one] = encode_message(Buffer.from('ab'));
  assert.is(one!.toString('hex'), '000000026162');
});

messages('send/recv: structured values with v8 (Map, Set, Date, typed arrays, bigint)', async () => {
  const p = await pair(TCP4);
  try {
    const value = {
      map: new Map<string, unknown>([['a', 1], ['b', [2, 3]]]),
      set: new Set([1, 2, 3]),
      when: new Date(1700000000000),
      bytes: new Uint8Array([1, 2, 3]),
      floats: new Float64Array([0.5, -1]),
      big: 2n ** 70n,
      nothing: undefined,
    };
    await p.client.send(value);
    const got = (await p.server.recv()) as typeof value;
    assert.instance(got.map, Map);
    assert.equal([...got.map], [['a', 1], ['b', [2, 3]]]);
    assert.equal([...got.set], [1, 2, 3]);
    assert.is(got.when.getTime(), 1700000000000);
    assert.equal([...got.bytes], [1, 2, 3]);
    assert.instance(got.floats, Float64Array);
    assert.is(got.big, 2n ** 70n);
    assert.ok('nothing' in got);
    throws(() => p.client.send(() => 1), Error);
  } finally {
    p.done();
  }
});

messages('send/recv: the JSON codec, and a codec of your own', async () => {
  const p = await pair(UNIX, { codec: 'json' });
  try {
    await p.client.send({ a: [1, 'two', null] });
    assert.equal(await p.server.recv(), { a: [1, 'two', null] });
    await p.client.send('text');
    assert.is(String(await p.server.recv_bytes()), '"text"');
    throws(() => p.client.send(undefined), TypeError);
  } finally {
    p.done();
  }
  const upper: Codec = {
    encode: (v) => Buffer.from(String(v).toUpperCase()),
    decode: (d) => d.toString().toLowerCase(),
  };
  const q = await pair(TCP4, { codec: upper });
  try {
    await q.client.send('MiXeD');
    assert.is(String(await q.server.recv_bytes()), 'MIXED');
    await q.server.send_bytes(Buffer.from('LOUD'));
    assert.is(await q.client.recv(), 'loud');
  } finally {
    q.done();
  }
  assert.is(JSON_CODEC.decode(Buffer.from('[1]')) instanceof Array, true);
});

messages('for await over a connection yields messages until the peer closes', async () => {
  const p = await pair(TCP4);
  try {
    for (const word of ['a', 'b', 'c']) void p.client.send_bytes(Buffer.from(word));
    p.client.close();
    const got: string[] = [];
    for await (const m of p.server) got.push(String(m));
    assert.equal(got, ['a', 'b', 'c']);
  } finally {
    p.done();
  }
});

// ---------------------------------------------------------------------------------------
const errors = suite('connection/framing errors (nothing half-read)');

errors('end of stream at a message boundary: messages first, then ConnectionEOFError, again and again', async () => {
  const r = await raw_peer();
  try {
    r.socket.end(Buffer.concat([frame('one'), frame('two')]));
    assert.is(String(await r.conn.recv_bytes()), 'one');
    assert.is(String(await r.conn.recv_bytes()), 'two');
    const err = await rejects(r.conn.recv_bytes(), ConnectionEOFError);
    assert.is(err.code, 'ERR_CONNECTION_EOF');
    await rejects(r.conn.recv_bytes(), ConnectionEOFError);
    await rejects(r.conn.recv(), ConnectionEOFError);
    assert.is(await r.conn.poll(), true);
    assert.is(r.conn.closed, true);
    throws(() => r.conn.send_bytes(Buffer.from('x')), ChannelClosedError);
  } finally {
    r.done();
  }
});

const truncations: [string, Buffer][] = [
  ['inside a header', Buffer.from([0, 0])],
  ['right after a header', header(10)],
  ['inside a payload', Buffer.concat([header(10), Buffer.from('abc')])],
  ['inside a long header', Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0])],
];
for (const [where, tail] of truncations) {
  errors(`end of stream ${where}: earlier messages, then ProtocolError`, async () => {
    const r = await raw_peer();
    try {
      r.socket.end(Buffer.concat([frame('whole'), tail]));
      assert.is(String(await r.conn.recv_bytes()), 'whole');
      const err = await rejects(r.conn.recv_bytes(), ProtocolError);
      assert.is(err.code, 'ERR_PROTOCOL');
      await rejects(r.conn.recv_bytes(), ProtocolError);
    } finally {
      r.done();
    }
  });
}

errors('a negative length is a ProtocolError', async () => {
  const r = await raw_peer();
  try {
    r.socket.write(header(-5));
    const err = await rejects(r.conn.recv_bytes(), ProtocolError);
    assert.is(err.length, -5);
  } finally {
    r.done();
  }
});

errors('a long header (-1 then 8 bytes) is read, for any length', async () => {
  const r = await raw_peer();
  try {
    const long = Buffer.alloc(12);
    long.writeInt32BE(-1, 0);
    long.writeBigUInt64BE(5n, 4);
    r.socket.write(Buffer.concat([long, Buffer.from('hello'), frame('next')]));
    assert.is(String(await r.conn.recv_bytes()), 'hello');
    assert.is(String(await r.conn.recv_bytes()), 'next');
    long.writeBigUInt64BE(0n, 4);
    r.socket.write(long);
    assert.is((await r.conn.recv_bytes()).length, 0);
    long.writeBigUInt64BE(2n ** 40n, 4);
    r.socket.write(long);
    const err = await rejects(r.conn.recv_bytes(), ProtocolError);
    assert.is(err.length, 2 ** 40);
  } finally {
    r.done();
  }
});

errors('max_message_size: a longer announced message is refused on its header', async () => {
  const r = await raw_peer({ max_message_size: 1000 });
  try {
    r.socket.write(Buffer.concat([frame('x'.repeat(1000)), header(1001)]));
    assert.is((await r.conn.recv_bytes()).length, 1000);
    const err = await rejects(r.conn.recv_bytes(), ProtocolError);
    assert.is(err.limit, 1000);
    assert.is(err.length, 1001);
  } finally {
    r.done();
  }
});

errors('recv_bytes(maxlength): a longer message is a ProtocolError and closes, like Python', async () => {
  const r = await raw_peer();
  try {
    const closed = new Promise<void>((resolve) => r.socket.once('end', () => resolve()));
    r.socket.write(Buffer.concat([frame('x'.repeat(100)), frame('later')]));
    const err = await rejects(r.conn.recv_bytes(10), ProtocolError);
    assert.is(err.length, 100);
    assert.is(err.limit, 10);
    assert.is(r.conn.closed, true);
    await rejects(r.conn.recv_bytes(), ProtocolError);
    await within(closed);
  } finally {
    r.done();
  }
});

errors('recv_bytes(maxlength) refuses a huge message on its header alone', async () => {
  const r = await raw_peer();
  try {
    r.socket.write(header(50_000_000)); // and not one byte of it
    assert.is(await r.conn.poll(null), true); // a message is announced
    const err = await rejects(r.conn.recv_bytes(1000), ProtocolError);
    assert.is(err.length, 50_000_000);
  } finally {
    r.done();
  }
});

errors('a peer reset is a SocketError', async () => {
  const r = await raw_peer();
  try {
    r.socket.write(header(10));
    await r.conn.poll(5); // let the header arrive (or not): the reset decides either way
    r.socket.resetAndDestroy();
    const err = await rejects(r.conn.recv_bytes(), TrousersError);
    assert.ok(err instanceof SocketError || err instanceof ProtocolError, String(err));
  } finally {
    r.done();
  }
});

// ---------------------------------------------------------------------------------------
const memory = suite('connection/bounded memory');

memory('reading pauses once buffer_size bytes wait unreceived, and resumes as they are taken', async () => {
  const r = await raw_peer({ buffer_size: 16384 });
  try {
    const stream = r.conn._endpoint.stream;
    const paused = deferred();
    const pause = stream.pause_reading.bind(stream);
    stream.pause_reading = () => {
      paused.resolve();
      pause();
    };
    const all: Buffer[] = [];
    for (let i = 0; i < 200; i++) all.push(frame(Buffer.alloc(1024, i)));
    r.socket.write(Buffer.concat(all));
    await within(paused.promise, 5000, 'pause');
    assert.ok(stream.reading_paused);
    for (let i = 0; i < 200; i++) {
      const m = await r.conn.recv_bytes();
      assert.is(m.length, 1024);
      assert.is(m[0], i & 0xff);
    }
    assert.not.ok(stream.reading_paused);
  } finally {
    r.done();
  }
});

memory('a message over buffer_size is read only when asked for', async () => {
  const r = await raw_peer({ buffer_size: 65536 });
  try {
    const big = Buffer.alloc(4 << 20, 7);
    r.socket.write(frame(big));
    assert.is(await r.conn.poll(null), true);
    const stream = r.conn._endpoint.stream;
    assert.ok(stream.reading_paused, 'paused on the header');
    assert.ok(stream.read_buffer_size < big.length, `holds ${stream.read_buffer_size} bytes, not the message`);
    const got = await r.conn.recv_bytes();
    assert.ok(got.equals(big));
    assert.is(stream.buffer_size, 65536, 'buffer_size restored after the message');
  } finally {
    r.done();
  }
});

memory('send_bytes waits while the peer does not read, and resumes when it does', async () => {
  const p = await pair(TCP4);
  try {
    let sent = false;
    const big = Buffer.alloc(32 << 20, 1);
    const pending = p.client.send_bytes(big).then(() => {
      sent = true;
    });
    assert.is(await p.server.poll(null), true); // the header is in; the server does not read on
    assert.is(sent, false);
    const got = await p.server.recv_bytes();
    assert.is(got.length, big.length);
    await within(pending);
    assert.is(sent, true);
  } finally {
    p.done();
  }
});

// ---------------------------------------------------------------------------------------
const polling = suite('connection/poll and wait');

polling('poll: 0 answers at once, a timeout answers false, null waits for a message', async () => {
  const p = await pair(TCP4);
  try {
    assert.is(await p.server.poll(), false);
    assert.is(await p.server.poll(0), false);
    assert.is(await p.server.poll(20), false);
    const waiting = p.server.poll(null);
    await p.client.send_bytes(Buffer.from('x'));
    assert.is(await within(waiting), true);
    assert.is(await p.server.poll(1000), true);
    assert.is(String(await p.server.recv_bytes()), 'x');
    const waiting_eof = p.server.poll(60000);
    p.client.close();
    assert.is(await within(waiting_eof), true, 'EOF is pending');
    throws(() => void p.server.poll(-1), RangeError);
    throws(() => void p.server.poll('1' as unknown as number), TypeError);
  } finally {
    p.done();
  }
});

polling('wait: resolves with the connections ready to read', async () => {
  const a = await pair(TCP4);
  const b = await pair(UNIX);
  try {
    assert.equal(await wait([a.server, b.server], 0), []);
    assert.equal(await wait([a.server, b.server], 15), []);
    assert.equal(await wait([], null), []);
    const ready = wait([a.server, b.server]);
    await b.client.send_bytes(Buffer.from('b'));
    const got = await within(ready);
    assert.is(got.length, 1);
    assert.is(got[0], b.server);
    await a.client.send_bytes(Buffer.from('a'));
    await a.server.poll(null);
    assert.equal(await wait(new Set([a.server, b.server])), [a.server, b.server]);
    throws(() => void wait([a.server], -1), RangeError);
  } finally {
    a.done();
    b.done();
  }
});

// ---------------------------------------------------------------------------------------
const life = suite('connection/lifecycle');

life('close(): pending and later receives reject, sends throw, queued sends still go out', async () => {
  const p = await pair(TCP4);
  try {
    const pending = p.client.recv_bytes();
    void p.client.send_bytes(Buffer.from('last words'));
    p.client.close();
    p.client.close();
    assert.is(p.client.closed, true);
    await rejects(pending, ChannelClosedError);
    await rejects(p.client.recv_bytes(), ChannelClosedError);
    throws(() => p.client.send_bytes(Buffer.from('x')), ChannelClosedError);
    assert.is(String(await p.server.recv_bytes()), 'last words');
    await rejects(p.server.recv_bytes(), ConnectionEOFError);
  } finally {
    p.done();
  }
});

life('listener: close() rejects waiting accepts; accept after close rejects', async () => {
  const listener = await listen(['127.0.0.1', 0]);
  const waiting = listener.accept();
  listener.close();
  listener.close();
  assert.is(listener.closed, true);
  await rejects(waiting, ChannelClosedError);
  await rejects(listener.accept(), ChannelClosedError);
});

life('listener: for await yields connections, skipping failed handshakes, until close()', async () => {
  const failures: Error[] = [];
  const listener = await listen(['127.0.0.1', 0], { authkey: 'k', on_handshake_error: (e) => failures.push(e) });
  const clients: MessageConnection[] = [];
  const accepted: MessageConnection[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      accepted.push(conn);
      if (accepted.length === 2) listener.close();
    }
  })();
  await rejects(connect(listener.address, { authkey: 'wrong' }), AuthenticationError);
  clients.push(await connect(listener.address, { authkey: 'k' }));
  clients.push(await connect(listener.address, { authkey: 'k' }));
  await within(loop);
  assert.is(accepted.length, 2);
  assert.is(failures.length, 1);
  assert.instance(failures[0], AuthenticationError);
  for (const c of [...clients, ...accepted]) c.close();
});

life('listener: the async iterator also skips failures when no on_handshake_error is set', async () => {
  const listener = await listen(['127.0.0.1', 0], { authkey: 'k' });
  const loop = (async () => {
    for await (const conn of listener) {
      conn.close();
      listener.close();
    }
  })();
  await rejects(connect(listener.address, { authkey: 'wrong' }), AuthenticationError);
  const c = await connect(listener.address, { authkey: 'k' });
  await within(loop);
  c.close();
});

life('listener: on_accept, engine style', async () => {
  const got = deferred<MessageConnection>();
  const listener = await listen(sock_path('cb'), { on_accept: (conn) => got.resolve(conn) });
  const client = await connect(listener.address);
  const server = await within(got.promise);
  await client.send_bytes(Buffer.from('via callback'));
  assert.is(String(await server.recv_bytes()), 'via callback');
  assert.is(listener.last_accepted, listener.address);
  client.close();
  server.close();
  listener.close();
});

life('failed handshakes queue for accept() when nobody waits; old ones are dropped', async () => {
  const listener = await listen(['127.0.0.1', 0], { authkey: 'k' });
  try {
    for (let i = 0; i < 20; i++) await rejects(connect(listener.address, { authkey: 'bad' }), AuthenticationError);
    const good = await connect(listener.address, { authkey: 'k' });
    let failures = 0;
    for (;;) {
      try {
        const conn = await listener.accept();
        conn.close();
        break;
      } catch (err) {
        assert.instance(err, AuthenticationError);
        failures++;
      }
    }
    assert.is(failures, 16);
    good.close();
  } finally {
    listener.close();
  }
});

life('engine.stop() closes the engine\'s connections: receives reject', async () => {
  const engine = new Engine();
  const p = await pair(TCP4, { engine });
  const pending = rejects(p.server.recv_bytes(), TrousersError);
  await engine.stop({ timeout: 1000 });
  await pending;
  assert.is(p.client.closed, true);
  p.done();
});

addresses.run();
hmac.run();
messages.run();
errors.run();
memory.run();
polling.run();
life.run();
