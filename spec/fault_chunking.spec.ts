/**
 * Fault suite, chunking: whatever way a peer dribbles its bytes in (one byte per read, random
 * chunk sizes one per turn, bursts of writes the kernel coalesces at will), a trousers
 * Connection reading with any `read_delimiter` kind delivers exactly the frames of a one-shot
 * parse of the whole input, then the leftover to `on_incomplete`, then `on_close` once.
 *
 * 300 seeded cases over real sockets (TCP and Unix), 30 per delimiter kind, run in parallel
 * on one server per transport. Each connection starts with a 4-byte case number (read with
 * `read_delimiter = 4`, then the case's delimiter is set inside `on_read`), and the whole
 * stream, case number included, is chunked. Buffer frames are kept as `on_read` got them and
 * compared only at the end, so they must also stay valid and unchanged while more bytes
 * arrive.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compile_delimiter } from '../lib/engine/delimiter.js';
import { Connection, Engine, Framer, NO_FRAME, Server, Struct, type ReadDelimiter } from '../lib/index.js';
import { deferred, rng, TCP4, UNIX, within, type Deferred, type Transport } from './_helpers.js';
import { fault_baseline, guard, HostilePeer, type Pace } from './_hostile.js';

type Shape = 'bytes' | 'struct' | 'match' | 'raw';

interface Kind {
  name: string;
  delimiter: ReadDelimiter;
  search: boolean;
  shape: Shape;
  /** A seeded input; `size` is a rough target length. */
  make(r: () => number, size: number, big: boolean): Buffer;
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

function from_alphabet(r: () => number, n: number, alphabet: Buffer): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = alphabet[Math.floor(r() * alphabet.length)]!;
  return out;
}

function random_bytes(r: () => number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/** Random bytes over `alphabet`, with (when `big`) one long run that has no delimiter at all. */
function alphabet_input(alphabet: Buffer, filler: number) {
  return (r: () => number, size: number, big: boolean): Buffer => {
    const parts = [from_alphabet(r, size, alphabet)];
    if (big) parts.push(Buffer.alloc(16385 + Math.floor(r() * 4000), filler), from_alphabet(r, size >> 2, alphabet));
    return Buffer.concat(parts);
  };
}

const KINDS: Kind[] = [
  { name: 'string "\\r\\n"', delimiter: '\r\n', search: true, shape: 'bytes', make: alphabet_input(latin1('ab\r\n\r'), 0x61) },
  {
    name: 'multi-byte string "\u2192"',
    delimiter: '\u2192',
    search: true,
    shape: 'bytes',
    make: alphabet_input(Buffer.concat([latin1('xy'), Buffer.from('\u2192\u2190', 'utf8')]), 0x78),
  },
  {
    name: 'bytes deadbeef',
    delimiter: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
    search: true,
    shape: 'bytes',
    make: alphabet_input(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0xde, 0x00]), 0x00),
  },
  { name: 'count 7', delimiter: 7, search: true, shape: 'bytes', make: (r, size, big) => random_bytes(r, size + (big ? 20000 : 0)) },
  { name: 'RegExp search /;+/', delimiter: /;+/, search: true, shape: 'bytes', make: alphabet_input(latin1('ab;;c'), 0x61) },
  { name: 'RegExp search /\\r?\\n/', delimiter: /\r?\n/, search: true, shape: 'bytes', make: alphabet_input(latin1('x\r\ny\n'), 0x78) },
  {
    name: 'RegExp match /(\\w+)=(\\d+);/',
    delimiter: /(\w+)=(\d+);/,
    search: false,
    shape: 'match',
    make: (r, size, big) => {
      const word = latin1('abcxyzABC_019');
      const digits = latin1('0123456789');
      const parts: Buffer[] = [];
      let n = 0;
      while (n < size) {
        const key = from_alphabet(r, 1 + Math.floor(r() * (big && parts.length === 3 ? 17000 : 12)), word);
        const part = Buffer.concat([key, latin1('='), from_alphabet(r, 1 + Math.floor(r() * 6), digits), latin1(';')]);
        parts.push(part);
        n += part.length;
      }
      parts.push(latin1(r() < 0.5 ? 'tail=12' : 'junk ;x=1;'));
      return Buffer.concat(parts);
    },
  },
  { name: "Struct('!HI')", delimiter: new Struct('!HI'), search: true, shape: 'struct', make: (r, size, big) => random_bytes(r, size + (big ? 20000 : 0)) },
  { name: "Struct('<q')", delimiter: new Struct('<q'), search: true, shape: 'struct', make: (r, size, big) => random_bytes(r, size + (big ? 20000 : 0)) },
  { name: 'null (raw chunks)', delimiter: null, search: true, shape: 'raw', make: (r, size, big) => random_bytes(r, size + (big ? 20000 : 0)) },
];

/** One frame as comparable text. */
function norm(shape: Shape, frame: unknown): string {
  if (shape === 'struct') return JSON.stringify(frame, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  if (shape === 'match') return JSON.stringify(Array.from(frame as string[]));
  return (frame as Buffer).toString('hex');
}

interface Expected {
  frames: string[];
  leftover: string;
}

/** The reference: the whole input parsed at once, then end of stream. */
function one_shot(kind: Kind, input: Buffer): Expected {
  const f = new Framer();
  const d = compile_delimiter(kind.delimiter);
  const frames: string[] = [];
  f.feed(input);
  for (const ended of [false, true]) {
    for (;;) {
      const frame = f.next(d, kind.search, ended);
      if (frame === NO_FRAME) break;
      frames.push(norm(kind.shape, frame));
    }
  }
  return { frames, leftover: f.take_all().toString('hex') };
}

/** Piece sizes: mostly tiny, some medium, a few large. */
function random_sizes(r: () => number): (i: number) => number {
  return () => {
    const x = r();
    const max = x < 0.5 ? 16 : x < 0.8 ? 700 : x < 0.95 ? 5000 : 40000;
    return 1 + Math.floor(r() * max);
  };
}

interface Case {
  id: number;
  kind: Kind;
  input: Buffer;
  expected: Expected;
  sizes: (i: number) => number;
  pace: Pace;
  transport: Transport;
  label: string;
  // what the connection saw
  frames: string[];
  /** Buffer frames as on_read got them. */
  kept: Buffer[];
  incomplete: string[];
  errors: Error[];
  closes: number;
  order: string[];
  done: Deferred<void>;
}

const CASES_PER_KIND = Number(process.env.FAULT_CASES ?? 30);

function make_cases(kind: Kind, kind_index: number, first_id: number): Case[] {
  const cases: Case[] = [];
  for (let k = 0; k < CASES_PER_KIND; k++) {
    const seed = 1000 * (kind_index + 1) + k;
    const r = rng(seed);
    // 0..8: byte by byte, one per turn; 9..11: byte writes in a burst;
    // 12..20: random sizes one per turn; 21..29: random sizes in a burst.
    const bytewise = k < 12;
    const pace: Pace = k < 9 || (k >= 12 && k < 21) ? 'turn' : 'burst';
    const input = kind.make(r, bytewise ? 150 + Math.floor(r() * 250) : 1000 + Math.floor(r() * 20000), !bytewise && k % 3 === 0);
    const expected = one_shot(kind, input);
    const id = first_id + k;
    const transport = id % 3 === 2 ? UNIX : TCP4;
    cases.push({
      id,
      kind,
      input,
      expected,
      sizes: bytewise ? () => 1 : random_sizes(r),
      pace,
      transport,
      label: `${kind.name}, case ${k} (seed ${seed}, ${bytewise ? 'byte by byte' : 'random chunks'}, ${pace}, ${transport.name}, ${input.length} bytes)`,
      frames: [],
      kept: [],
      incomplete: [],
      errors: [],
      closes: 0,
      order: [],
      done: deferred(),
    });
  }
  return cases;
}

/** Sanity of the reference itself, independent of the Framer. */
function check_reference(c: Case): void {
  const { kind, input, expected } = c;
  if (kind.shape === 'bytes' && typeof kind.delimiter !== 'number' && !(kind.delimiter instanceof RegExp)) {
    const d = compile_delimiter(kind.delimiter) as Buffer;
    const rebuilt = Buffer.concat([...expected.frames.flatMap((h) => [Buffer.from(h, 'hex'), d]), Buffer.from(expected.leftover, 'hex')]);
    assert.ok(rebuilt.equals(input), `${c.label}: the reference does not rebuild the input`);
  }
  if (typeof kind.delimiter === 'number') {
    assert.is(expected.frames.length, Math.floor(input.length / kind.delimiter), `${c.label}: reference frame count`);
  }
  if (kind.delimiter instanceof Struct) {
    assert.is(expected.frames.length, Math.floor(input.length / kind.delimiter.size), `${c.label}: reference frame count`);
  }
}

const by_id = new Map<number, Case>();

class Subject extends Connection {
  private c: Case | undefined;
  override on_connect(): void {
    this.read_delimiter = 4;
  }
  override on_read(...args: unknown[]): void {
    if (this.c === undefined) {
      const c = by_id.get((args[0] as Buffer).readUInt32BE(0));
      if (c === undefined) throw new Error('unknown case number');
      this.c = c;
      this.regex_search = c.kind.search;
      this.read_delimiter = c.kind.delimiter;
      return;
    }
    const shape = this.c.kind.shape;
    this.c.order.push('on_read');
    if (shape === 'bytes' || shape === 'raw') {
      // Kept as given and compared only at the end: frames must stay valid and unchanged.
      this.c.kept.push(args[0] as Buffer);
      this.c.frames.push('');
    } else {
      this.c.frames.push(norm(shape, shape === 'struct' ? args : args[0]));
    }
  }
  override on_incomplete(rest: Buffer): void {
    this.c?.order.push('on_incomplete');
    this.c?.incomplete.push(rest.toString('hex'));
  }
  override on_error(err: Error): void {
    this.c?.errors.push(err);
  }
  override on_close(): void {
    const c = this.c;
    if (c === undefined) return;
    c.order.push('on_close');
    c.closes++;
    c.done.resolve();
  }
}

function first_difference(got: string[], want: string[]): string {
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (got[i] !== want[i]) return `frame ${i}: got ${String(got[i]).slice(0, 80)}, expected ${String(want[i]).slice(0, 80)} (${got.length} vs ${want.length} frames)`;
  }
  return 'no difference';
}

function check(c: Case): void {
  if (c.kept.length > 0) {
    assert.ok(c.kept.every((b) => Buffer.isBuffer(b)), `${c.label}: on_read got a non-Buffer`);
    let k = 0;
    c.frames = c.frames.map((f) => (f === '' ? c.kept[k++]!.toString('hex') : f));
  }
  assert.equal(c.errors.map(String), [], `${c.label}: errors`);
  assert.is(c.closes, 1, `${c.label}: on_close once`);
  if (c.kind.shape === 'raw') {
    // Raw chunks depend on the arrival by definition; their concatenation may not.
    const got = Buffer.concat(c.frames.map((h) => Buffer.from(h, 'hex')));
    assert.ok(got.equals(c.input), `${c.label}: the chunks do not concatenate to the input`);
    assert.ok(c.frames.every((h) => h.length > 0), `${c.label}: an empty chunk was delivered`);
    if (c.pace === 'turn' && c.input.length < 1000) {
      // The test does what it says: one byte per turn arrives as (mostly) one read each.
      const single = c.frames.filter((h) => h.length === 2).length;
      assert.ok(single >= c.input.length / 2, `${c.label}: only ${single} of ${c.input.length} bytes arrived alone`);
    }
  } else if (c.frames.length !== c.expected.frames.length || c.frames.some((f, i) => f !== c.expected.frames[i])) {
    assert.unreachable(`${c.label}: ${first_difference(c.frames, c.expected.frames)}`);
  }
  const want_incomplete = c.expected.leftover === '' ? [] : [c.expected.leftover];
  assert.equal(c.incomplete, want_incomplete, `${c.label}: on_incomplete`);
  const last = c.order.length - 1;
  assert.is(c.order[last], 'on_close', `${c.label}: on_close last`);
  if (want_incomplete.length > 0) assert.is(c.order[last - 1], 'on_incomplete', `${c.label}: on_incomplete right before on_close`);
}

async function run_case(c: Case, address: Parameters<typeof HostilePeer.connect>[0]): Promise<void> {
  const peer = HostilePeer.connect(address);
  await peer.connected;
  const header = Buffer.alloc(4);
  header.writeUInt32BE(c.id);
  await peer.send_chunks(Buffer.concat([header, c.input]), c.sizes, c.pace);
  peer.half_close();
  await peer.ended; // the connection closes gracefully after the end of stream
  peer.destroy();
  await peer.closed;
}

const t = suite('fault: chunking over real sockets');
t.before(() => void fault_baseline());

let total_cases = 0;
KINDS.forEach((kind, kind_index) => {
  t(
    `${kind.name}: ${CASES_PER_KIND} chunkings (byte by byte, random, bursts; TCP and Unix) give the frames of a one-shot parse, then on_incomplete(rest), then on_close once`,
    guard(async () => {
      const cases = make_cases(kind, kind_index, kind_index * CASES_PER_KIND);
      for (const c of cases) {
        check_reference(c);
        by_id.set(c.id, c);
      }
      const engine = new Engine();
      const servers = new Map<Transport, Server<Subject>>();
      const addresses = new Map<Transport, Parameters<typeof HostilePeer.connect>[0]>();
      for (const transport of [TCP4, UNIX]) {
        const listening = deferred();
        const server = new Server(Subject, { engine });
        server.on_listen = () => listening.resolve();
        server.on_error = (err: Error) => listening.reject(err);
        server.listen(transport.listen_address());
        await within(listening.promise, 5000, 'listen');
        servers.set(transport, server);
        addresses.set(transport, transport.connect_address(server.local_address));
      }
      try {
        await within(Promise.all(cases.map((c) => run_case(c, addresses.get(c.transport)!))), 30000, `${kind.name} cases`);
        await within(Promise.all(cases.map((c) => c.done.promise)), 10000, 'on_close of every case');
        for (const c of cases) check(c);
        total_cases += cases.length;
      } finally {
        await within(engine.stop({ timeout: 1000 }), 5000, 'engine.stop');
        for (const c of cases) by_id.delete(c.id);
      }
      assert.is(engine.channels.size, 0);
    }),
  );
});

t('all 300 cases ran', () => {
  assert.is(total_cases, KINDS.length * CASES_PER_KIND);
  assert.is(total_cases, 300);
});

t.run();
