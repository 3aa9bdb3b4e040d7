/**
 * trousers/csp wire format: the 240-byte PyCSP header (LP64 ctypes layout), the commands and
 * flags, and the message reader at every chunk split and with hostile bytes. No sockets.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CHANTHREAD_ENTER,
  CHANTHREAD_POST_WRITE,
  COMMANDS,
  decode_header,
  encode_header,
  encode_message,
  header,
  HEADER_SIZE,
  LOCKTHREAD_ACCEPT_LOCK,
  LOCKTHREAD_ACQUIRE_LOCK,
  LOCKTHREAD_NOTIFY_SUCCESS,
  MessageReader,
  wire_name,
  user_name,
  type Message,
} from '../lib/csp/header.js';
import { CspProtocolError } from '../lib/csp/errors.js';
import { rng } from './_helpers.js';

const test = suite('csp header');

test('the command values are those of pycsp.parallel 0.9.2', () => {
  assert.is(LOCKTHREAD_ACQUIRE_LOCK, 0x1200);
  assert.is(LOCKTHREAD_ACCEPT_LOCK, 0x2901);
  assert.is(LOCKTHREAD_NOTIFY_SUCCESS, 0x1503);
  assert.is(CHANTHREAD_POST_WRITE, 0x0c13);
  assert.is(CHANTHREAD_ENTER, 0x0898);
  assert.is(COMMANDS.size, 25);
});

test('a header is 240 bytes at the ctypes offsets (a POST_WRITE as pycsp sends it)', () => {
  const h = header(CHANTHREAD_POST_WRITE, {
    id: 'A',
    seq: 2n,
    arg: 19n,
    source_host: '127.0.0.1',
    source_port: 40000,
    source_id: '0123456789abcdef0123456789abcdef.__INIT__',
  });
  const b = encode_header(h);
  assert.is(b.length, HEADER_SIZE);
  assert.is(b.readInt16LE(0), 0x0c13);
  assert.is(b.toString('latin1', 2, 3), 'A');
  assert.is(b[3], 0);
  assert.is(b.readBigInt64LE(72), 2n);
  assert.is(b.readBigInt64LE(80), 19n);
  assert.is(b.toString('latin1', 88, 97), '127.0.0.1');
  assert.is(b.readInt32LE(104), 40000);
  assert.is(b.toString('latin1', 108, 108 + 41), '0123456789abcdef0123456789abcdef.__INIT__');
  assert.is(b.subarray(66, 72).every((x) => x === 0), true, 'padding is zero');
  assert.is(b.subarray(236, 240).every((x) => x === 0), true, 'tail padding is zero');
  assert.equal(decode_header(b), h);
});

test('full-width char fields (64 bytes, no NUL) and negative / 64-bit numbers round-trip', () => {
  const h = header(LOCKTHREAD_NOTIFY_SUCCESS, {
    id: 'x'.repeat(64),
    seq: -(2n ** 63n),
    arg: 2n ** 63n - 1n,
    source_host: '255.255.255.255',
    source_port: 65535,
    source_id: 'y'.repeat(64),
    result_id: 'z'.repeat(64),
  });
  assert.equal(decode_header(encode_header(h)), h);
  assert.throws(() => encode_header(header(1, { id: 'x'.repeat(65) })), RangeError);
  assert.throws(() => encode_header(header(1, { source_host: '1'.repeat(17) })), RangeError);
  assert.throws(() => decode_header(Buffer.alloc(239)), RangeError);
});

test('names travel as their UTF-8 bytes', () => {
  const w = wire_name('kanal-æøå');
  assert.is(w.length, Buffer.byteLength('kanal-æøå'));
  assert.is(user_name(w), 'kanal-æøå');
});

function messages(): Buffer[] {
  const out: Buffer[] = [];
  out.push(encode_message(header(CHANTHREAD_ENTER, { id: 'A', source_host: '127.0.0.1', source_port: 1234, source_id: 'p1' })));
  out.push(encode_message(header(CHANTHREAD_POST_WRITE, { id: 'A', seq: 2n }), Buffer.from('80025d7100580500000068656c6c6f7101612e', 'hex')));
  out.push(encode_message(header(LOCKTHREAD_NOTIFY_SUCCESS, { id: 'p1', result_id: 'A' }), null)); // HAS_PAYLOAD, arg 0
  out.push(encode_message(header(CHANTHREAD_POST_WRITE, { id: 'B', seq: 3n }), Buffer.alloc(1000, 7)));
  return out;
}

/** Feeds `chunks` through a MessageReader the way a stream's byte-count delimiter would. */
function read_all(chunks: Buffer[], max = 1 << 20): Message[] {
  const reader = new MessageReader(max);
  const out: Message[] = [];
  let held = Buffer.alloc(0);
  for (const chunk of chunks) {
    held = Buffer.concat([held, chunk]);
    while (held.length >= reader.need) {
      const frame = held.subarray(0, reader.need);
      held = held.subarray(reader.need);
      const m = reader.take(Buffer.from(frame));
      if (m !== null) out.push(m);
    }
  }
  assert.is(held.length, 0);
  return out;
}

test('the reader gives the same messages at every split point of the stream', () => {
  const all = Buffer.concat(messages());
  const whole = read_all([all]);
  assert.is(whole.length, 4);
  assert.is(whole[1]!.payload.toString('hex'), '80025d7100580500000068656c6c6f7101612e');
  assert.is(whole[2]!.payload.length, 0);
  assert.is(whole[3]!.payload.length, 1000);
  for (let cut = 1; cut < all.length; cut += 7) {
    const got = read_all([all.subarray(0, cut), all.subarray(cut)]);
    assert.equal(got, whole, `split at ${cut}`);
  }
  for (const size of [1, 2, 3, 17, 239, 240, 241]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; i += size) chunks.push(all.subarray(i, i + size));
    assert.equal(read_all(chunks), whole, `chunks of ${size}`);
  }
  const r = rng(14);
  for (let round = 0; round < 50; round++) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; ) {
      const n = 1 + Math.floor(r() * 400);
      chunks.push(all.subarray(i, i + n));
      i += n;
    }
    assert.equal(read_all(chunks), whole, `random split ${round}`);
  }
});

function expect_protocol(bytes: Buffer, code: string, max = 1 << 20): void {
  try {
    read_all([bytes], max);
  } catch (err) {
    assert.instance(err, CspProtocolError);
    assert.is((err as CspProtocolError).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('hostile headers: command 0, unknown commands, bad ports, negative or huge payloads', () => {
  expect_protocol(Buffer.alloc(240), 'ERR_CSP_BAD_HEADER');
  expect_protocol(encode_header(header(0x7777)), 'ERR_CSP_UNKNOWN_COMMAND');
  expect_protocol(encode_header(header(-1)), 'ERR_CSP_UNKNOWN_COMMAND');
  expect_protocol(encode_header(header(CHANTHREAD_ENTER, { source_port: -5 })), 'ERR_CSP_BAD_HEADER');
  expect_protocol(encode_header(header(CHANTHREAD_POST_WRITE, { arg: -1n })), 'ERR_CSP_PAYLOAD');
  expect_protocol(encode_header(header(CHANTHREAD_POST_WRITE, { arg: 2n ** 62n })), 'ERR_CSP_PAYLOAD');
  expect_protocol(encode_header(header(CHANTHREAD_POST_WRITE, { arg: 1001n })), 'ERR_CSP_PAYLOAD', 1000);
  const r = rng(99);
  let rejected = 0;
  for (let i = 0; i < 500; i++) {
    const junk = Buffer.alloc(240);
    for (let j = 0; j < 240; j++) junk[j] = Math.floor(r() * 256);
    try {
      read_all([junk], 1 << 16);
    } catch (err) {
      assert.instance(err, CspProtocolError);
      rejected++;
    }
  }
  assert.ok(rejected > 490, `random junk is rejected (${rejected}/500)`);
  const reader = new MessageReader(10);
  assert.throws(() => reader.take(Buffer.alloc(5)), RangeError);
});

test.run();
