/**
 * trousers/yoton, the pure parts (no sockets): addresses and hashes against the values
 * Python yoton 2.2 gives, the 56-byte header and the WireReader at every chunk split and
 * with hostile bytes, the handshake line, the OBJECT encoding byte for byte against Python's
 * packer, and the bounded queue.
 */

import { Buffer } from 'node:buffer';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CONTROL_BYTES,
  DEFAULT_MAX_MESSAGE_SIZE,
  Float,
  HEADER_SIZE,
  PackageQueue,
  STOP,
  Tuple,
  WireReader,
  bind_ports,
  decode_header,
  decode_object,
  encode_object,
  encode_package,
  handshake_line,
  make_package,
  new_context_id,
  parse_handshake,
  port_hash,
  slot_hash,
  split_address,
  tuple,
  type Package,
  type WireSink,
  YotonDecodeError,
} from '../lib/yoton/index.js';
import { rng } from './_helpers.js';

const addr = suite('yoton address');

addr('port_hash gives yoton values', () => {
  assert.is(port_hash('test'), 56337);
  assert.is(port_hash('pyzo'), 53281);
  assert.is(port_hash('a'), 65274);
  assert.is(port_hash(''), 49152);
});

addr('slot_hash gives yoton values (beyond 2^53: bigint)', () => {
  assert.is(slot_hash('chat.txt.pub-sub'), 17460451874447n);
  assert.is(slot_hash('chat.txt.sub-pub'), 17469545116738n);
  assert.is(slot_hash('duplicate.obj.req-rep'), 35202545273768n);
  assert.is(slot_hash('duplicate.obj.rep-req'), 35200150345757n);
  assert.is(slot_hash('status.txt.state'), 18872922488985n);
  assert.is(slot_hash('a-much-longer-slot-name-for-testing-overflow.bin.pub-sub'), 2186353479784727n);
});

addr('split_address as yoton', () => {
  assert.equal(split_address('localhost:test+3'), ['tcp', '127.0.0.1', 56340]);
  assert.equal(split_address('localhost:test'), ['tcp', '127.0.0.1', 56337]);
  assert.equal(split_address('TCP://LocalHost:1234'), ['tcp', '127.0.0.1', 1234]);
  assert.equal(split_address('10.0.0.1: 80 '), ['tcp', '10.0.0.1', 80]);
  assert.equal(split_address('publichost:1'), ['tcp', 'publichost0', 1]);
  assert.equal(split_address('h:0'), ['tcp', 'h', 0]);
  assert.throws(() => split_address(5 as unknown as string), /Address should be a string/);
  assert.throws(() => split_address('nocolon'), /format 'host:port'/);
  assert.throws(() => split_address('h:name+x'), /Invalid offset/);
  assert.throws(() => split_address('h:65536'), /range \[0, 2\^16>/);
  assert.throws(() => split_address('h:-1'), /range/);
});

addr('context ids have the UID layout, strictly increasing', () => {
  const a = new_context_id();
  const b = new_context_id();
  const now = BigInt(Date.now() % 2 ** 32);
  const high = a >> 32n;
  assert.ok(high >= now - 5000n && high <= now + 5000n, `time part ${high} vs ${now}`);
  assert.ok(b >> 32n > a >> 32n, 'strictly increasing time part');
  assert.ok(a < 2n ** 64n && a > 0n);
});

addr('bind tries p, p+1, p+2, p+3, p+5, p+7, p+9, p+11, p+13, p+16', () => {
  assert.equal(bind_ports(1000, 10), [1000, 1001, 1002, 1003, 1005, 1007, 1009, 1011, 1013, 1016]);
  assert.equal(bind_ports(5, 1), [5]);
});

addr.run();

const wire = suite('yoton wire');

function pkg(data: string | Buffer, slot = 17460451874447n, seq = 1n, dest = 0n, dseq = 0n): Package {
  const p = make_package(typeof data === 'string' ? Buffer.from(data) : data, slot, 0x0123456789abcdefn, dest, dseq);
  p.source_seq = seq;
  return p;
}

class Collect implements WireSink {
  events: string[] = [];
  on_line(line: string): void {
    this.events.push(`line:${line}`);
  }
  on_package(p: Package): void {
    this.events.push(`pkg:${p.slot}:${p.source_id}:${p.source_seq}:${p.dest_id}:${p.dest_seq}:${p.data.toString('hex')}`);
  }
  on_control(seq: bigint): void {
    this.events.push(`ctl:${seq}`);
  }
  on_problem(reason: string): void {
    this.events.push(`problem:${reason}`);
  }
}

wire('the header matches the captured package (YOTON magic, seven u64 LE)', () => {
  const bytes = encode_package(pkg('hello'));
  assert.is(bytes.length, HEADER_SIZE + 5);
  assert.is(bytes.subarray(0, 8).toString('latin1'), 'YOTON   ');
  assert.is(bytes.readBigUInt64LE(0), CONTROL_BYTES);
  const h = decode_header(bytes);
  assert.ok(h.ok);
  if (h.ok) {
    assert.is(h.slot, 17460451874447n);
    assert.is(h.source_id, 0x0123456789abcdefn);
    assert.is(h.source_seq, 1n);
    assert.is(h.length, 5n);
  }
  const big = pkg('x', 8n, 2n ** 64n - 1n, 2n ** 63n + 5n, 2n ** 63n + 1n);
  const h2 = decode_header(encode_package(big));
  assert.ok(h2.ok && h2.source_seq === 2n ** 64n - 1n && h2.dest_seq === 2n ** 63n + 1n);
  const bad = Buffer.from(bytes);
  bad[0] = 0x58;
  assert.equal(decode_header(bad), { ok: false });
});

/** A handshake line, then packages of many sizes, a heartbeat and an unknown control. */
function sample(): { bytes: Buffer; expect: string[] } {
  const parts: Buffer[] = [Buffer.from('YOTON!0123456789abcdef.4242\r\n')];
  const c = new Collect();
  c.on_line('YOTON!0123456789abcdef.4242');
  const heartbeat = Buffer.alloc(HEADER_SIZE);
  encode_package(pkg('')).copy(heartbeat);
  heartbeat.writeBigUInt64LE(0n, 24);
  for (let i = 0; i < 6; i++) {
    const p = pkg(Buffer.alloc(i * 97 + 1, i + 1), BigInt(8 + i), BigInt(i + 1), BigInt(i), BigInt(i * 3));
    parts.push(encode_package(p));
    c.on_package(p);
    if (i === 2) {
      parts.push(heartbeat);
      c.on_control(0n);
      const odd = Buffer.from(heartbeat);
      odd.writeBigUInt64LE(7n, 24);
      parts.push(odd);
      c.on_control(7n);
    }
  }
  return { bytes: Buffer.concat(parts), expect: c.events };
}

function run(chunks: Buffer[], max = DEFAULT_MAX_MESSAGE_SIZE): string[] {
  const c = new Collect();
  const r = new WireReader(c, max);
  for (const ch of chunks) r.feed(ch);
  return c.events;
}

wire('the reader gives the same events for every two-piece split and byte by byte', () => {
  const { bytes, expect } = sample();
  for (let i = 0; i <= bytes.length; i++) {
    assert.equal(run([bytes.subarray(0, i), bytes.subarray(i)]), expect, `split at ${i}`);
  }
  assert.equal(run([...bytes].map((b) => Buffer.from([b]))), expect, 'byte by byte');
});

wire('the reader gives the same events for seeded random splits', () => {
  const { bytes, expect } = sample();
  const rand = rng(12);
  for (let round = 0; round < 200; round++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; ) {
      const n = 1 + Math.floor(rand() * 150);
      chunks.push(bytes.subarray(at, at + n));
      at += n;
    }
    assert.equal(run(chunks), expect, `round ${round}`);
  }
});

wire('hostile bytes: wrong magic, 2^63 length, over max_message_size, endless line, close package', () => {
  const line = Buffer.from('YOTON!1.1\r\n');
  const garbage = Buffer.concat([line, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.padEnd(80, 'x'))]);
  assert.equal(run([garbage]), ['line:YOTON!1.1', `problem:${STOP.LOST_TRACK}`]);
  const huge = Buffer.from(encode_package(pkg('x')));
  huge.writeBigUInt64LE(2n ** 63n, 48);
  assert.equal(run([line, huge.subarray(0, HEADER_SIZE)]), ['line:YOTON!1.1', `problem:${STOP.TOO_LARGE}`]);
  const big = encode_package(pkg(Buffer.alloc(2000)));
  assert.equal(run([line, big], 1999), ['line:YOTON!1.1', `problem:${STOP.TOO_LARGE}`]);
  assert.equal(run([line, big], 2000).length, 2);
  const endless = Buffer.alloc(5000, 0x41);
  const c = new Collect();
  const r = new WireReader(c);
  for (let i = 0; i < 5000; i += 100) r.feed(endless.subarray(i, i + 100));
  assert.equal(c.events, [`problem:${STOP.HANDSHAKE_FAILED}`]);
  assert.ok(r.buffered_bytes === 0, 'nothing held after the problem');
  const close = Buffer.alloc(HEADER_SIZE);
  close.writeBigUInt64LE(CONTROL_BYTES, 0);
  close.writeBigUInt64LE(1n, 24);
  assert.equal(run([line, close]), ['line:YOTON!1.1', 'ctl:1']);
});

wire('handshake lines as yoton writes and reads them', () => {
  assert.is(handshake_line(0x0123456789abcdefn, 4242), 'YOTON!0123456789abcdef.4242\r\n');
  assert.is(handshake_line(5n, 1), 'YOTON!0000000000000005.1\r\n');
  assert.equal(parse_handshake('YOTON!012e5f5d54e8086f.8591'), { kind: 'yoton', id: 0x012e5f5d54e8086fn, pid: 8591 });
  assert.equal(parse_handshake('YOTON!abc.12\r\n'), { kind: 'yoton', id: 0xabcn, pid: 12 });
  assert.equal(parse_handshake('GET / HTTP/1.1'), { kind: 'not_yoton' });
  assert.equal(parse_handshake('YOTON!zz.1'), { kind: 'bad_id' });
  assert.equal(parse_handshake('YOTON!12'), { kind: 'bad_id' });
  assert.equal(parse_handshake('YOTON!12.x'), { kind: 'bad_id' });
  assert.equal(parse_handshake('YOTON!1ffffffffffffffff.1'), { kind: 'bad_id' });
});

wire.run();

const obj = suite('yoton OBJECT');

// Python 3: OBJECT.message_to_bytes({'foo': 3, 'bar': [1.5, None, True, False],
//   (2, 'aa', 3): ('x', -7), 'big': 2**40, 'neg': -2**63, 'u': 'é€😀', 'f': 3.0})
const PY_NESTED =
  '64077303666f6f69030000000000000073036261726c0466000000000000f83f6e62016200740369020000000000000073026161690300000000000000740273017869f9ffffffffffffff730362696769000000000001000073036e65676900000000000000807301757309c3a9e282acf09f9880730166660000000000000840';

obj('encodes byte for byte as Python yoton', () => {
  const value = new Map<unknown, unknown>([
    ['foo', 3],
    ['bar', [1.5, null, true, false]],
    [tuple<unknown>(2, 'aa', 3), tuple<unknown>('x', -7)],
    ['big', 2 ** 40],
    ['neg', -(2n ** 63n)],
    ['u', 'é€😀'],
    ['f', new Float(3)],
  ]);
  assert.is(encode_object(value).toString('hex'), PY_NESTED);
  assert.is(encode_object('a'.repeat(300)).subarray(0, 12).toString('hex'), '73ff2c010000000000006161');
  assert.is(encode_object(null).toString('hex'), '6e');
  assert.is(encode_object(undefined).toString('hex'), '6e');
  assert.is(encode_object({ a: 1 }).toString('hex'), '6401730161690100000000000000');
});

obj('decodes Python bytes to the documented JS types', () => {
  const v = decode_object(Buffer.from(PY_NESTED, 'hex')) as Map<unknown, unknown>;
  assert.instance(v, Map);
  assert.is(v.get('foo'), 3);
  assert.equal(v.get('bar'), [1.5, null, true, false]);
  const key = [...v.keys()][2] as unknown[];
  assert.instance(key, Tuple);
  assert.equal([...key], [2, 'aa', 3]);
  assert.instance(v.get(key), Tuple);
  assert.is(v.get('big'), 2 ** 40);
  assert.is(v.get('neg'), -(2n ** 63n));
  assert.is(v.get('u'), 'é€😀');
  assert.is(v.get('f'), 3);
  assert.is(decode_object(Buffer.alloc(0)), null);
  assert.is(decode_object(encode_object(2n ** 60n)), 2n ** 60n);
  assert.is(decode_object(encode_object(0.1)), 0.1);
  assert.is(decode_object(encode_object('a'.repeat(300))), 'a'.repeat(300));
});

obj('refuses what it cannot encode', () => {
  assert.throws(() => encode_object(2n ** 63n), (e: unknown) => e instanceof RangeError);
  assert.throws(() => encode_object(Buffer.from('x')), /Unsupported type/);
  assert.throws(() => encode_object(new Date()), /Unsupported type/);
  const loop: unknown[] = [];
  loop.push(loop);
  assert.throws(() => encode_object(loop), (e: unknown) => e instanceof TypeError);
});

obj('hostile bytes: truncated, bad tags, lying counts, deep nesting, bad UTF-8', () => {
  const good = Buffer.from(PY_NESTED, 'hex');
  for (let i = 1; i < good.length; i++) assert.throws(() => decode_object(good.subarray(0, i)), (e: unknown) => e instanceof YotonDecodeError, `cut at ${i}`);
  assert.throws(() => decode_object(Buffer.from('z')), (e: unknown) => e instanceof YotonDecodeError);
  const lying = Buffer.alloc(10);
  lying[0] = 0x6c;
  lying[1] = 0xff;
  lying.writeBigUInt64LE(2n ** 62n, 2);
  assert.throws(() => decode_object(lying), /count larger/);
  const deep = Buffer.concat([Buffer.alloc(100000, 0x6c).map((b, i) => (i % 2 ? 1 : 0x6c)), Buffer.from('n')]);
  assert.throws(() => decode_object(deep), /nest/);
  assert.throws(() => decode_object(Buffer.from([0x73, 2, 0xc3, 0x28])), /UTF-8/);
});

obj.run();

const queue = suite('yoton queue');

queue("mode 'old' drops the oldest, 'new' drops the pushed", () => {
  const old = new PackageQueue<number>(3, 'old');
  for (let i = 0; i < 10; i++) old.push(i);
  assert.equal([old.shift(), old.shift(), old.shift(), old.shift()], [7, 8, 9, undefined]);
  const neu = new PackageQueue<number>(3, 'new');
  for (let i = 0; i < 10; i++) neu.push(i);
  assert.is(neu.length, 3);
  assert.is(neu.discarded, 7);
  assert.equal([neu.peek(0), neu.peek(-1)], [0, 2]);
  neu.insert(-1);
  assert.equal([neu.shift(), neu.shift()], [-1, 0]);
  const big = new PackageQueue<number>(100000);
  for (let i = 0; i < 1000; i++) big.push(i);
  for (let i = 0; i < 1000; i++) assert.is(big.shift(), i);
});

queue.run();
