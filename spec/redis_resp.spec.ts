/**
 * The RESP codec, pure: encoding commands and replies, decoding every RESP2/RESP3 type at
 * every chunk split, frame-by-frame decoding as a stream drives it, and hostile bytes.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  encode_command,
  encode_reply,
  INCOMPLETE,
  NULL_ARRAY,
  OK,
  RedisError,
  RedisProtocolError,
  RespDecoder,
  RespParser,
  RespPush,
  SimpleString,
  type RedisReply,
} from '../lib/redis/index.js';
import { rng } from './_helpers.js';

const Encode = suite('redis resp: encoding');

Encode('a command is an array of bulk strings; strings are UTF-8, numbers decimal', () => {
  assert.is(encode_command(['SET', 'k', 'v']).toString(), '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n');
  assert.is(encode_command(['SET', 'é', 12, -3n, 0.5]).toString(), '*5\r\n$3\r\nSET\r\n$2\r\né\r\n$2\r\n12\r\n$2\r\n-3\r\n$3\r\n0.5\r\n');
  const bin = Buffer.from([0, 13, 10, 255]);
  const out = encode_command(['SET', 'k', bin]);
  assert.ok(out.equals(Buffer.concat([Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n'), bin, Buffer.from('\r\n')])));
  assert.is(encode_command(['ZADD', 'z', Infinity, 'm']).toString(), '*4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$3\r\ninf\r\n$1\r\nm\r\n');
});

Encode('arguments RESP cannot carry throw at once', () => {
  assert.throws(() => encode_command([]), (e: unknown) => e instanceof RangeError);
  assert.throws(() => encode_command(['SET', null as unknown as string]), (e: unknown) => e instanceof TypeError);
  assert.throws(() => encode_command(['SET', true as unknown as string]), (e: unknown) => e instanceof TypeError);
  assert.throws(() => encode_command(['SET', NaN]), (e: unknown) => e instanceof RangeError);
});

Encode('replies in RESP2 and RESP3', () => {
  const s = (v: Parameters<typeof encode_reply>[0], p: 2 | 3 = 2) => encode_reply(v, p).toString('latin1');
  assert.is(s(OK), '+OK\r\n');
  assert.is(s(new RedisError('ERR no')), '-ERR no\r\n');
  assert.is(s(42), ':42\r\n');
  assert.is(s(2n ** 70n), `:${2n ** 70n}\r\n`);
  assert.is(s('hé'), '$3\r\nhé\r\n'.replace('é', '\xc3\xa9'));
  assert.is(s(null), '$-1\r\n');
  assert.is(s(null, 3), '_\r\n');
  assert.is(s(NULL_ARRAY), '*-1\r\n');
  assert.is(s([1, 'a', [null]]), '*3\r\n:1\r\n$1\r\na\r\n*1\r\n$-1\r\n');
  assert.is(s(new Map([['a', 1]])), '*2\r\n$1\r\na\r\n:1\r\n');
  assert.is(s(new Map([['a', 1]]), 3), '%1\r\n$1\r\na\r\n:1\r\n');
  assert.is(s(new Set(['x']), 3), '~1\r\n$1\r\nx\r\n');
  assert.is(s(true, 3), '#t\r\n');
  assert.is(s(true), ':1\r\n');
  assert.is(s(1.5, 3), ',1.5\r\n');
  assert.is(s(1.5), '$3\r\n1.5\r\n');
  assert.throws(() => s(new SimpleString('a\r\nb')), (e: unknown) => e instanceof RangeError);
});

const Decode = suite('redis resp: decoding');

/** Every RESP2 and RESP3 type, with what it decodes to. */
function corpus(): { bytes: Buffer; values: RedisReply[] } {
  const parts: [string | Buffer, RedisReply][] = [
    ['+OK\r\n', 'OK'],
    ['-ERR unknown command\r\n', new RedisError('ERR unknown command')],
    [':0\r\n', 0],
    [':-12345\r\n', -12345],
    [`:${Number.MAX_SAFE_INTEGER}\r\n`, Number.MAX_SAFE_INTEGER],
    [':9223372036854775807\r\n', 9223372036854775807n],
    [':-9223372036854775808\r\n', -9223372036854775808n],
    ['$5\r\nhello\r\n', Buffer.from('hello')],
    ['$0\r\n\r\n', Buffer.alloc(0)],
    [Buffer.concat([Buffer.from('$4\r\n'), Buffer.from([13, 10, 0, 255]), Buffer.from('\r\n')]), Buffer.from([13, 10, 0, 255])],
    ['$-1\r\n', null],
    ['*-1\r\n', null],
    ['*0\r\n', []],
    ['*3\r\n:1\r\n$1\r\na\r\n*2\r\n+x\r\n$-1\r\n', [1, Buffer.from('a'), ['x', null]]],
    ['*2\r\n-ERR in array\r\n:7\r\n', [new RedisError('ERR in array'), 7]],
    ['_\r\n', null],
    ['#t\r\n', true],
    ['#f\r\n', false],
    [',3.25\r\n', 3.25],
    [',-inf\r\n', -Infinity],
    ['(3492890328409238509324850943850943825024385\r\n', 3492890328409238509324850943850943825024385n],
    ['!21\r\nSYNTAX invalid syntax\r\n', new RedisError('SYNTAX invalid syntax')],
    ['=15\r\ntxt:Some string\r\n', Buffer.from('Some string')],
    ['%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n:2\r\n', new Map<RedisReply, RedisReply>([['first', 1], ['second', 2]])],
    ['~2\r\n+a\r\n:1\r\n', new Set<RedisReply>(['a', 1])],
    ['>3\r\n+message\r\n+chan\r\n+hi\r\n', new RespPush(['message', 'chan', 'hi'])],
    ['|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:5\r\n', [5]],
    ['*1\r\n|1\r\n+ttl\r\n:3600\r\n:9\r\n', [9]],
  ];
  return {
    bytes: Buffer.concat(parts.map(([b]) => (typeof b === 'string' ? Buffer.from(b, 'latin1') : b))),
    values: parts.map(([, v]) => v),
  };
}

function same(actual: RedisReply[], expected: RedisReply[]): void {
  assert.equal(normalise(actual), normalise(expected));
}

function normalise(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return { buf: v.toString('hex') };
  if (v instanceof RedisError) return { err: v.message, prefix: v.prefix };
  if (v instanceof RespPush) return { push: normalise(v.data) };
  if (Array.isArray(v)) return v.map(normalise);
  if (v instanceof Map) return { map: [...v].map(([k, x]) => [normalise(k), normalise(x)]) };
  if (v instanceof Set) return { set: [...v].map(normalise) };
  if (typeof v === 'bigint') return { big: v.toString() };
  return v;
}

Decode('the whole corpus in one chunk', () => {
  const { bytes, values } = corpus();
  const parser = new RespParser();
  same(parser.feed(bytes), values);
  assert.ok(parser.idle);
});

Decode('every split point into two chunks gives the same values', () => {
  const { bytes, values } = corpus();
  for (let i = 0; i <= bytes.length; i++) {
    const parser = new RespParser();
    const got = [...parser.feed(bytes.subarray(0, i)), ...parser.feed(bytes.subarray(i))];
    same(got, values);
    assert.ok(parser.idle, `idle after split ${i}`);
  }
});

Decode('one byte at a time, and seeded random splits', () => {
  const { bytes, values } = corpus();
  const one = new RespParser();
  const got: RedisReply[] = [];
  for (let i = 0; i < bytes.length; i++) got.push(...one.feed(bytes.subarray(i, i + 1)));
  same(got, values);
  const random = rng(13);
  for (let run = 0; run < 200; run++) {
    const parser = new RespParser();
    const out: RedisReply[] = [];
    for (let at = 0; at < bytes.length; ) {
      const n = 1 + Math.floor(random() * 40);
      out.push(...parser.feed(bytes.subarray(at, at + n)));
      at += n;
    }
    same(out, values);
  }
});

Decode('frame by frame, as a stream with read_delimiter drives it', () => {
  const { bytes, values } = corpus();
  const decoder = new RespDecoder();
  const out: RedisReply[] = [];
  let at = 0;
  while (at < bytes.length) {
    let frame: Buffer;
    if (decoder.want > 0) {
      frame = bytes.subarray(at, at + decoder.want);
      at += decoder.want;
    } else {
      const end = bytes.indexOf('\r\n', at);
      frame = bytes.subarray(at, end);
      at = end + 2;
    }
    const v = decoder.frame(frame);
    if (v !== INCOMPLETE) out.push(v);
  }
  same(out, values);
});

Decode('encode_reply round-trips through the parser, RESP2 and RESP3', () => {
  const value = [OK, 1, -(2n ** 64n), 'text', Buffer.from([0, 1]), null, [new RedisError('E x'), []]] as const;
  const r2 = new RespParser().feed(encode_reply(value, 2));
  same(r2, [['OK', 1, -(2n ** 64n), Buffer.from('text'), Buffer.from([0, 1]), null, [new RedisError('E x'), []]]]);
  const r3 = new RespParser({ encoding: 'utf8' }).feed(encode_reply(new Map([['k', new Set(['v'])]]), 3));
  same(r3, [new Map([['k', new Set(['v'])]])]);
});

Decode('an encoding decodes bulk strings to strings', () => {
  same(new RespParser({ encoding: 'utf8' }).feed(Buffer.from('*2\r\n$2\r\nhi\r\n$-1\r\n')), [['hi', null]]);
});

Decode('inline commands (server side)', () => {
  const parser = new RespParser({ inline: true, encoding: 'utf8' });
  same(parser.feed(Buffer.from('PING\r\n\r\nSET  a b\r\n*1\r\n$4\r\nPING\r\n')), [['PING'], ['SET', 'a', 'b'], ['PING']]);
});

const Hostile = suite('redis resp: hostile bytes');

function rejects(bytes: string | Buffer, pattern: RegExp, options = {}): void {
  const parser = new RespParser(options);
  try {
    parser.feed(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  } catch (err) {
    assert.instance(err, RedisProtocolError);
    assert.is((err as RedisProtocolError).code, 'ERR_REDIS_PROTOCOL');
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify(String(bytes))}`);
}

Hostile('unknown type bytes, malformed numbers and lengths', () => {
  rejects('?what\r\n', /unknown RESP type/);
  rejects('HTTP/1.1 200 OK\r\n', /unknown RESP type/);
  rejects(':12a\r\n', /malformed integer/);
  rejects(':\r\n', /malformed integer/);
  rejects('$-2\r\n', /malformed bulk length/);
  rejects('$abc\r\n', /malformed bulk length/);
  rejects('*-5\r\n', /malformed aggregate length/);
  rejects('\r\n', /empty line/);
  rejects('#x\r\n', /malformed boolean/);
  rejects(',1.2.3x\r\n', /malformed double/);
  rejects('_x\r\n', /malformed null/);
  rejects('*?\r\n', /streamed aggregates/);
});

Hostile('a bulk string without its CRLF', () => {
  rejects('$3\r\nabcXY', /not followed by CRLF/);
});

Hostile('limits are checked before anything is buffered', () => {
  rejects('$1000000\r\n', /over the limit of 1000/, { max_bulk: 1000 });
  rejects('*100\r\n', /over the limit of 10/, { max_elements: 10 });
  rejects('*1\r\n'.repeat(10), /nested deeper than 4/, { max_depth: 4 });
  rejects(Buffer.alloc(100, 0x2b), /line longer than 64/, { max_line: 64 });
  // A decoder fed a too-long line frame refuses it too.
  assert.throws(() => new RespDecoder({ max_line: 8 }).frame(Buffer.from('+123456789')), (e: unknown) => e instanceof RedisProtocolError);
});

Hostile('a line trickled byte by byte is still bounded', () => {
  const parser = new RespParser({ max_line: 1024 });
  let thrown: unknown = null;
  for (let i = 0; i < 4096 && thrown === null; i++) {
    try {
      parser.feed(Buffer.from('+'));
    } catch (err) {
      thrown = err;
    }
  }
  assert.instance(thrown, RedisProtocolError);
  assert.ok(parser.buffered <= 1026);
});

Hostile('seeded random garbage never throws anything but RedisProtocolError', () => {
  const random = rng(7);
  const alphabet = Buffer.from('+-:$*%~>_#,(!=|\r\n0123456789-?ab');
  for (let run = 0; run < 2000; run++) {
    const n = 1 + Math.floor(random() * 30);
    const bytes = Buffer.alloc(n);
    for (let i = 0; i < n; i++) bytes[i] = alphabet[Math.floor(random() * alphabet.length)]!;
    const parser = new RespParser({ max_bulk: 1 << 16, max_depth: 8 });
    try {
      parser.feed(bytes);
    } catch (err) {
      if (!(err instanceof RedisProtocolError)) throw err;
    }
  }
});

Encode.run();
Decode.run();
Hostile.run();
