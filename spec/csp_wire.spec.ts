/**
 * trousers/csp on the wire, byte for byte, against a scripted raw peer (what pycsp sends,
 * as captured in the seed notes): a process behind NAT, whose advertised address cannot be
 * reached, is served over the connection it opened (CHANTHREAD_ENTER with NATFIX); the
 * home's ACQUIRE / ACCEPT / NOTIFY / RELEASE sequence and the payload of a read.
 */

import * as net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Channel, retire, shutdown } from '../lib/csp/index.js';
import {
  CHANTHREAD_ENTER,
  CHANTHREAD_POST_READ,
  CHANTHREAD_POST_WRITE,
  CHANTHREAD_REGISTER,
  decode_header,
  encode_message,
  EXCLUSIVE_MARK,
  header,
  HEADER_SIZE,
  LOCKTHREAD_ACCEPT_LOCK,
  LOCKTHREAD_ACQUIRE_LOCK,
  LOCKTHREAD_NOTIFY_SUCCESS,
  LOCKTHREAD_RELEASE_LOCK,
  READY,
  type Header,
} from '../lib/csp/header.js';
import { dumps, loads } from '../lib/pickle/index.js';
import { within } from './_helpers.js';

const test = suite('csp wire');

test.after.each(async () => {
  await within(shutdown(), 5000, 'shutdown');
});

/** Reads whole messages from a raw socket. */
class RawPeer {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async next(): Promise<{ h: Header; payload: Buffer }> {
    for (;;) {
      if (this.buf.length >= HEADER_SIZE) {
        const h = decode_header(this.buf);
        const n = h.cmd & 0x400 ? Number(h.arg) : 0;
        if (this.buf.length >= HEADER_SIZE + n) {
          const payload = Buffer.from(this.buf.subarray(HEADER_SIZE, HEADER_SIZE + n));
          this.buf = this.buf.subarray(HEADER_SIZE + n);
          return { h, payload };
        }
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}

function connect(address: [string, number]): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: address[0], port: address[1] }, () => resolve(s));
    s.once('error', reject);
  });
}

async function dead_port(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

test('a writer behind NAT: the home answers over the connection the writer opened', async () => {
  const c = new Channel('nat');
  await c.ready();
  const r = c.reader();
  const reading = r.read();
  const nat_port = await dead_port(); // the writer advertises an address nobody can reach
  const src = { source_host: '127.0.0.1', source_port: nat_port, source_id: 'f00dfeed.__INIT__' };
  const s = await connect(c.address!);
  const peer = new RawPeer(s);
  s.write(encode_message(header(CHANTHREAD_REGISTER, { id: 'nat', ...src })));
  s.write(encode_message(header(CHANTHREAD_ENTER, { id: 'nat', ...src })));
  s.write(encode_message(header(CHANTHREAD_POST_WRITE, { id: 'nat', seq: 2n, ...src }), dumps(['hello'])));
  const acquire = await within(peer.next(), 3000, 'ACQUIRE');
  assert.is(acquire.h.cmd, LOCKTHREAD_ACQUIRE_LOCK);
  assert.is(acquire.h.id, src.source_id);
  assert.is(acquire.h.source_id, 'nat');
  assert.equal([acquire.h.source_host, acquire.h.source_port], c.address);
  s.write(encode_message(header(LOCKTHREAD_ACCEPT_LOCK, { id: 'nat', seq: 2n, arg: BigInt(READY), source_host: '127.0.0.1', source_port: nat_port })));
  const notify = await within(peer.next(), 3000, 'NOTIFY');
  assert.is(notify.h.cmd, LOCKTHREAD_NOTIFY_SUCCESS);
  assert.is(notify.h.result_id, 'nat');
  assert.is(notify.payload.length, 0, 'a writer is notified without a message (arg 0)');
  const release = await within(peer.next(), 3000, 'RELEASE');
  assert.is(release.h.cmd, LOCKTHREAD_RELEASE_LOCK);
  assert.is(await within(reading, 3000, 'read'), 'hello');
  s.write(encode_message(header(0x0811, { id: 'nat', ...src }))); // DEREGISTER
  s.end();
  await retire(r);
});

test('a reader behind NAT gets the message pickled as PyCSP sends it', async () => {
  const c = new Channel('nat2');
  await c.ready();
  const w = c.writer();
  const writing = w.write(new Map<string, unknown>([['k', [1, 2]]]));
  const nat_port = await dead_port();
  const src = { source_host: '127.0.0.1', source_port: nat_port, source_id: 'fade.__INIT__' };
  const s = await connect(c.address!);
  const peer = new RawPeer(s);
  s.write(encode_message(header(CHANTHREAD_ENTER, { id: 'nat2', ...src })));
  s.write(encode_message(header(CHANTHREAD_POST_READ, { id: 'nat2', seq: 7n, ...src })));
  const acquire = await within(peer.next(), 3000, 'ACQUIRE');
  assert.is(acquire.h.cmd, LOCKTHREAD_ACQUIRE_LOCK);
  s.write(encode_message(header(LOCKTHREAD_ACCEPT_LOCK, { id: 'nat2', seq: 7n, arg: BigInt(READY), ...src })));
  const notify = await within(peer.next(), 3000, 'NOTIFY');
  assert.is(notify.h.cmd, LOCKTHREAD_NOTIFY_SUCCESS);
  assert.is(notify.payload[0], 0x80, 'a pickle');
  assert.is(notify.payload[1], 2, 'protocol 2');
  const list = loads(notify.payload) as unknown[];
  assert.equal(list, [new Map([['k', [1, 2]]])], 'pickle.dumps([msg], 2)');
  await within(writing, 3000, 'write');
  s.destroy();
  await retire(w);
});

test('a trousers peer\'s plain write (marked exclusive) is committed without a lock round trip', async () => {
  const c = new Channel('excl');
  await c.ready();
  const r = c.reader();
  const reading = r.read();
  const src = { source_host: '127.0.0.1', source_port: await dead_port(), source_id: 'beef.__INIT__' };
  const s = await connect(c.address!);
  const peer = new RawPeer(s);
  s.write(encode_message(header(CHANTHREAD_ENTER, { id: 'excl', ...src })));
  s.write(encode_message(header(CHANTHREAD_POST_WRITE, { id: 'excl', seq: 9n, result_id: EXCLUSIVE_MARK, ...src }), dumps(['fast'])));
  const notify = await within(peer.next(), 3000, 'NOTIFY');
  assert.is(notify.h.cmd, LOCKTHREAD_NOTIFY_SUCCESS, 'no ACQUIRE first');
  assert.is(notify.h.seq, 9n, 'the commit names the request');
  assert.is(await within(reading, 3000, 'read'), 'fast');
  s.destroy();
  await retire(r);
});

test.run();
