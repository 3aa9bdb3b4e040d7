/**
 * The fast paths of the second performance pass keep the contract:
 * - a graceful close after the peer's FIN closes the socket without a shutdown call: every
 *   byte still queued in the kernel arrives, then EOF, never a reset;
 * - accepted sockets start with TCP_NODELAY from the listening socket, and `no_delay` still
 *   turns it off and on;
 * - switching `read_delimiter` between a length prefix and its payload reuses the header's
 *   compiled form, but an invalid integer still throws and bytes delimiters are never cached;
 * - a Struct of one integer packs and unpacks exactly as Node's Buffer readers and writers;
 * - the outbox joins a burst of pieces of every size in order.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Connection, Struct } from '../lib/index.js';
import { start_server } from './_channels.js';
import { deferred, raw_connect, read_all, rng, TCP4, UNIX, within, type Transport } from './_helpers.js';

/** Answers one request byte with `size` bytes, then closes gracefully. */
function big_reply(size: number): typeof Connection {
  return class BigReply extends Connection {
    override on_read(): void {
      const out = Buffer.allocUnsafe(size);
      for (let i = 0; i < size; i++) out[i] = (i * 7 + 3) & 0xff;
      this.write(out);
      this.close();
    }
    override on_incomplete(): void {}
  };
}

for (const transport of [TCP4, UNIX] as Transport[]) {
  const t = suite(`fast paths over ${transport.name}`);

  t('after the peer FIN, a graceful close delivers every queued byte, then EOF', async () => {
    const size = 8 * 1024 * 1024; // far more than the kernel buffers hold at the close
    const s = await start_server(transport, big_reply(size) as never);
    const sock = raw_connect(s.address);
    const got = read_all(sock);
    sock.end('x'); // the request, then our FIN: the server sees the end before it closes
    const data = await within(got, 15000, 'reply');
    assert.is(data.length, size);
    for (let i = 0; i < size; i += 4099) assert.is(data[i], (i * 7 + 3) & 0xff, `byte ${i}`);
    assert.is(data[size - 1], ((size - 1) * 7 + 3) & 0xff);
    await s.stop();
  });

  t('an accepted connection starts with no_delay on and can turn it off and on', async () => {
    const seen = deferred<boolean[]>();
    class Toggle extends Connection {
      override on_connect(): void {
        const states = [this.no_delay];
        this.no_delay = false;
        states.push(this.no_delay);
        this.no_delay = true;
        states.push(this.no_delay);
        seen.resolve(states);
        this.write('ok');
        this.close();
      }
    }
    const s = await start_server(transport, Toggle);
    const sock = raw_connect(s.address);
    const got = read_all(sock);
    assert.equal(await within(seen.promise), [true, false, true]);
    assert.is((await within(got)).toString(), 'ok');
    await s.stop();
  });

  t.run();
}

const r = suite('fast paths: read_delimiter switching');

/** A client that frames `!H`-prefixed payloads by switching its delimiter, recording what it sees. */
class Prefixed extends Client {
  static header = new Struct('!H');
  frames: string[] = [];
  errors: string[] = [];
  done = deferred();
  override on_connect(): void {
    this.read_delimiter = Prefixed.header;
  }
  override on_read(field: unknown): void {
    if (typeof field === 'number') {
      // An invalid integer still throws and leaves the header in place.
      for (const bad of [0, -1, 1.5, NaN]) {
        try {
          this.read_delimiter = bad;
          this.errors.push(`accepted ${bad}`);
        } catch (err) {
          if (!(err instanceof RangeError)) this.errors.push(`${bad}: ${String(err)}`);
        }
      }
      if (this.read_delimiter !== Prefixed.header) this.errors.push('header lost');
      if (field === 0) this.frames.push('');
      else this.read_delimiter = field;
      return;
    }
    this.frames.push((field as Buffer).toString());
    this.read_delimiter = Prefixed.header;
    if (this.frames.length === 200) this.done.resolve();
  }
}

r('length prefix and payload alternate at every chunk split; bad integers still throw', async () => {
  const payloads = Array.from({ length: 200 }, (_, i) => (i % 7 === 0 ? '' : `m${i}-`.repeat(i % 13)));
  const wire = Buffer.concat(
    payloads.map((p) => {
      const b = Buffer.from(p);
      const h = Buffer.alloc(2);
      h.writeUInt16BE(b.length, 0);
      return Buffer.concat([h, b]);
    }),
  );
  const random = rng(15);
  class Feeder extends Connection {
    override on_connect(): void {
      // Random splits, each its own write on its own tick.
      let at = 0;
      const next = (): void => {
        if (at >= wire.length || this.closing) return;
        const n = 1 + Math.floor(random() * 9);
        this.write(wire.subarray(at, at + n));
        at += n;
        setImmediate(next);
      };
      next();
    }
  }
  const s = await start_server(TCP4, Feeder);
  const c = new Prefixed({ engine: s.engine }).connect(s.address);
  await within(c.done.promise, 15000, 'frames');
  assert.equal(c.errors, []);
  assert.equal(c.frames, payloads);
  await s.stop();
});

r('a bytes delimiter is copied at every assignment, never reused from before', async () => {
  const got = deferred<string[]>();
  class Lines extends Client {
    delim = Uint8Array.from([0x7c]); // '|'
    seen: string[] = [];
    override on_connect(): void {
      this.read_delimiter = this.delim;
    }
    override on_read(line: Buffer): void {
      this.seen.push(line.toString());
      // The same Uint8Array, changed in place: the new bytes apply.
      this.delim[0] = 0x3b; // ';'
      this.read_delimiter = this.delim;
      if (this.seen.length === 2) got.resolve(this.seen);
    }
  }
  class Sender extends Connection {
    override on_connect(): void {
      this.write('a|b;c|');
    }
  }
  const s = await start_server(TCP4, Sender);
  const c = new Lines({ engine: s.engine }).connect(s.address);
  assert.equal(await within(got.promise), ['a', 'b']);
  c.close();
  await s.stop();
});

r.run();

const p = suite('fast paths: Struct of one integer, outbox joins');

p('one-integer Structs pack and unpack as Node does, at every offset', () => {
  const cases: [string, string, string, number[]][] = [
    ['!H', 'writeUInt16BE', 'readUInt16BE', [0, 1, 255, 256, 4660, 65535]],
    ['<H', 'writeUInt16LE', 'readUInt16LE', [0, 1, 255, 256, 4660, 65535]],
    ['!h', 'writeInt16BE', 'readInt16BE', [0, 1, -1, 127, -128, 32767, -32768]],
    ['<h', 'writeInt16LE', 'readInt16LE', [0, 1, -1, 127, -128, 32767, -32768]],
    ['!I', 'writeUInt32BE', 'readUInt32BE', [0, 1, 255, 65536, 0x12345678, 0x80000000, 4294967295]],
    ['<I', 'writeUInt32LE', 'readUInt32LE', [0, 1, 255, 65536, 0x12345678, 0x80000000, 4294967295]],
    ['!i', 'writeInt32BE', 'readInt32BE', [0, 1, -1, 0x12345678, -2147483648, 2147483647]],
    ['<i', 'writeInt32LE', 'readInt32LE', [0, 1, -1, 0x12345678, -2147483648, 2147483647]],
  ];
  type Rw = Record<string, (v: number, o?: number) => number>;
  for (const [format, write, read, values] of cases) {
    const s = new Struct(format);
    for (const v of values) {
      const ref = Buffer.alloc(s.size);
      (ref as unknown as Rw)[write]!(v, 0);
      assert.ok(s.pack(v).equals(ref), `${format} pack ${v}`);
      for (const at of [0, 1, 3]) {
        const b = Buffer.concat([Buffer.alloc(at, 0xee), ref, Buffer.alloc(2, 0xee)]);
        assert.is(s.unpack_from(b, at)[0], (b as unknown as Rw)[read]!(at), `${format} unpack_from ${v} at ${at}`);
      }
      assert.is(s.unpack(ref)[0], v, `${format} unpack ${v}`);
    }
    assert.throws(() => s.pack(Math.max(...values) + 1), (e: unknown) => e instanceof RangeError, `${format} range`);
  }
});

for (const [name, sizes] of [
  ['joined into one buffer', [0, 1, 2, 4, 15, 16, 17, 28, 64]],
  ['handed over as they are', [0, 1, 4, 16, 17, 700, 5000]],
] as [string, number[]][]) p(`a burst of writes of every size is ${name}, in order`, async () => {
  const random = rng(sizes.length);
  const pieces: Buffer[] = [];
  for (let i = 0; i < 300; i++) {
    const n = sizes[Math.floor(random() * sizes.length)]!;
    const b = Buffer.allocUnsafe(n);
    for (let k = 0; k < n; k++) b[k] = Math.floor(random() * 256);
    pieces.push(b);
  }
  const expected = Buffer.concat(pieces);
  class Burst extends Connection {
    override on_read(): void {
      for (const piece of pieces) this.write(piece); // one burst inside one on_read
      this.close();
    }
    override on_incomplete(): void {}
  }
  const s = await start_server(TCP4, Burst);
  const sock = raw_connect(s.address);
  const got = read_all(sock);
  sock.write('go');
  const data = await within(got);
  assert.ok(data.equals(expected), `got ${data.length} bytes, expected ${expected.length}`);
  await s.stop();
});

p.run();
