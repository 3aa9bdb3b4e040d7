/**
 * The benchmark servers (bench/servers/) answer correctly: each trousers and raw Node server
 * is started in-process, spoken to over real loopback sockets with plain node:net / node:dgram,
 * every reply is compared byte for byte, and everything is closed again with no handle left.
 * No timing assertions; the specs wait on socket events only.
 */

import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningServer, StartFn } from '../bench/servers/common.js';
import { start as raw_echo } from '../bench/servers/raw_echo.js';
import { start as raw_frame } from '../bench/servers/raw_frame.js';
import { start as raw_line } from '../bench/servers/raw_line.js';
import { start as raw_udp } from '../bench/servers/raw_udp.js';
import { start as trousers_echo } from '../bench/servers/trousers_echo.js';
import { start as trousers_frame } from '../bench/servers/trousers_frame.js';
import { start as trousers_line } from '../bench/servers/trousers_line.js';
import { start as trousers_udp } from '../bench/servers/trousers_udp.js';

/** Rejects if `promise` has not settled in `ms`: a safety net against hanging, never a wait. */
function within<T>(promise: Promise<T>, what: string, ms = 10000): Promise<T> {
  let timer: NodeJS.Timeout;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

// PipeWrap is left out: the process's own stdio pipes come and go under it.
const HANDLE_KINDS = ['TCPServerWrap', 'TCPSocketWrap', 'PipeServerWrap', 'UDPWrap'];

/** Counts of the socket handles Node has open. */
function socket_handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of HANDLE_KINDS) counts[kind] = 0;
  for (const r of process.getActiveResourcesInfo()) if (r in counts) counts[r]! += 1;
  return counts;
}

/**
 * A closed handle leaves Node's list in libuv's close phase, which comes after the current
 * callbacks: let the event loop turn (a bounded number of times, no timers) until the counts
 * are back to `before`, then compare.
 */
async function assert_no_leak(before: Record<string, number>): Promise<void> {
  // Handles other specs were still closing when `before` was taken may be gone by now:
  // what must not happen is that this test leaves more than it found.
  const same = (): boolean => HANDLE_KINDS.every((k) => socket_handles()[k]! <= before[k]!);
  for (let turn = 0; turn < 20 && !same(); turn++) await new Promise((resolve) => setImmediate(resolve));
  const now = socket_handles();
  for (const k of HANDLE_KINDS) assert.ok(now[k]! <= before[k]!, `no ${k} left open (${now[k]} now, ${before[k]} before)`);
}

/** A plain node:net client that writes chunks and waits for exact replies. */
class Peer {
  private received = Buffer.alloc(0);
  private want: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.received = Buffer.concat([this.received, d]);
      this.check();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('end', () => this.fail(new Error(`server ended the connection with ${this.received.length} bytes unread`)));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static connect(options: net.NetConnectOpts): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(options);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new Peer(socket));
      });
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    if (this.want) {
      const w = this.want;
      this.want = null;
      w.reject(err);
    }
  }

  private check(): void {
    if (!this.want || this.received.length < this.want.n) return;
    const w = this.want;
    this.want = null;
    const got = this.received.subarray(0, w.n);
    this.received = this.received.subarray(w.n);
    w.resolve(got);
  }

  /** Writes each chunk with its own write() call, then waits for `expect` and compares. */
  async exchange(chunks: (string | Buffer)[], expect: string | Buffer, what: string): Promise<void> {
    const expected = typeof expect === 'string' ? Buffer.from(expect, 'latin1') : expect;
    if (this.failure) throw this.failure;
    const got = new Promise<Buffer>((resolve, reject) => {
      this.want = { n: expected.length, resolve, reject };
    });
    for (const c of chunks) this.socket.write(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
    this.check();
    const reply = await within(got, what);
    if (!reply.equals(expected)) {
      let i = 0;
      while (reply[i] === expected[i]) i++;
      assert.unreachable(`${what}: reply differs at byte ${i} of ${expected.length}`);
    }
  }

  /** Asserts nothing unexpected arrived, closes and waits for 'close'. */
  async close(): Promise<void> {
    assert.is(this.received.length, 0, 'no bytes beyond the expected replies');
    this.socket.destroy();
    await within(this.closed, 'client close');
  }
}

/** A deterministic pseudo-random buffer (so replies are checked on varied bytes). */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** A line body of printable bytes (no "\r" or "\n"). */
function line_body(n: number, seed: number): Buffer {
  const b = bytes(n, seed);
  for (let i = 0; i < n; i++) b[i] = 0x21 + (b[i]! % 94);
  return b;
}

function frame(payload: Buffer): Buffer {
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE(payload.length, 0);
  return Buffer.concat([h, payload]);
}

type Conversation = (peer: Peer) => Promise<void>;

const echo_talk: Conversation = async (peer) => {
  await peer.exchange(['x'], 'x', 'one byte');
  await peer.exchange(['hello ', 'world'], 'hello world', 'two writes');
  const big = bytes(200_000, 7);
  await peer.exchange([big.subarray(0, 70_000), big.subarray(70_000)], big, '200 KB');
};

const line_talk: Conversation = async (peer) => {
  await peer.exchange(['hello\r\n'], 'hello\r\n', 'one line');
  await peer.exchange(['a\r\nbb\r\nc'], 'a\r\nbb\r\n', 'two lines and a partial one');
  await peer.exchange(['d\r', '\ne\r\n'], 'cd\r\ne\r\n', 'partial line completed, CR and LF in separate writes');
  await peer.exchange(['\r\n'], '\r\n', 'an empty line');
  await peer.exchange(['tab\there \x00\x7f\xff\r\n'], 'tab\there \x00\x7f\xff\r\n', 'binary-ish bytes');
  const long = Buffer.concat([line_body(30_000, 3), Buffer.from('\r\n')]);
  await peer.exchange([long.subarray(0, 10_000), long.subarray(10_000)], long, 'a 30 KB line in two writes');
  const many = Buffer.concat(Array.from({ length: 500 }, (_, i) => Buffer.concat([line_body(30, i + 10), Buffer.from('\r\n')])));
  await peer.exchange([many], many, '500 lines in one write');
};

const frame_talk: Conversation = async (peer) => {
  const f28 = frame(bytes(28, 1));
  await peer.exchange([f28], f28, 'one frame');
  const pair = Buffer.concat([frame(Buffer.alloc(0)), frame(bytes(5, 2))]);
  await peer.exchange([pair], pair, 'an empty frame and a 5-byte frame in one write');
  const f10 = frame(bytes(10, 3));
  const f100 = frame(bytes(100, 4));
  await peer.exchange([Buffer.concat([f10, f100.subarray(0, 2)])], f10, 'a frame and half a header');
  await peer.exchange([f100.subarray(2, 50), f100.subarray(50)], f100, 'the rest of the frame in two writes');
  const big = frame(bytes(150_000, 5));
  await peer.exchange([big.subarray(0, 3), big.subarray(3, 90_000), big.subarray(90_000)], big, 'a 150 KB frame in three writes');
  const many = Buffer.concat(Array.from({ length: 500 }, (_, i) => frame(bytes(28, i + 20))));
  await peer.exchange([many], many, '500 frames in one write');
};

const STREAM_SERVERS: [string, StartFn, Conversation][] = [
  ['raw echo', raw_echo, echo_talk],
  ['trousers echo', trousers_echo, echo_talk],
  ['raw line', raw_line, line_talk],
  ['trousers line', trousers_line, line_talk],
  ['raw frame', raw_frame, frame_talk],
  ['trousers frame', trousers_frame, frame_talk],
];

const tcp = suite('bench servers: TCP');

for (const [name, start, talk] of STREAM_SERVERS) {
  tcp(`${name}: replies are exact, on two connections at once`, async () => {
    const before = socket_handles();
    const server = await within(start(0, '127.0.0.1'), 'start');
    assert.ok(server.port > 0, 'an ephemeral port was bound');
    const peers = await Promise.all([0, 1].map(() => Peer.connect({ host: '127.0.0.1', port: server.port })));
    await Promise.all(peers.map((p) => talk(p)));
    for (const p of peers) await p.close();
    await within(server.close(), 'server close');
    await assert_no_leak(before);
  });
}

const unix = suite('bench servers: Unix sockets');
const sock_dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trousers-bench-'));
process.once('exit', () => fs.rmSync(sock_dir, { recursive: true, force: true }));

for (const [name, start, talk] of STREAM_SERVERS) {
  unix(`${name}: works on a Unix socket path`, async () => {
    const before = socket_handles();
    const where = path.join(sock_dir, `${name.replace(' ', '_')}.sock`);
    const server: RunningServer = await within(start(where), 'start');
    assert.is(server.port, 0);
    const peer = await Peer.connect({ path: where });
    await talk(peer);
    await peer.close();
    await within(server.close(), 'server close');
    await assert_no_leak(before);
  });
}

const udp = suite('bench servers: UDP echo');

for (const [name, start] of [
  ['raw', raw_udp],
  ['trousers', trousers_udp],
] as [string, StartFn][]) {
  udp(`${name} udp: every datagram comes back unchanged to its sender`, async () => {
    const before = socket_handles();
    const server = await within(start(0, '127.0.0.1'), 'start');
    const client = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', () => resolve()));
    try {
      // One at a time, each awaited: loopback does not drop an unhurried datagram.
      for (const [i, size] of [1, 64, 1000, 8000, 0].entries()) {
        const payload = bytes(size, i + 100);
        const reply = new Promise<[Buffer, dgram.RemoteInfo]>((resolve) => client.once('message', (m, r) => resolve([m, r])));
        client.send(payload, server.port, '127.0.0.1');
        const [msg, rinfo] = await within(reply, `a ${size}-byte datagram`);
        assert.ok(msg.equals(payload), `${size}-byte datagram echoed exactly`);
        assert.is(rinfo.port, server.port, 'the reply comes from the server port');
      }
    } finally {
      await new Promise<void>((resolve) => client.close(() => resolve()));
      await within(server.close(), 'server close');
    }
    await assert_no_leak(before);
  });
}

udp('raw udp: refuses a Unix path', async () => {
  await raw_udp('/tmp/x.sock').then(
    () => assert.unreachable('should reject'),
    (err: Error) => assert.instance(err, TypeError),
  );
});

tcp.run();
unix.run();
udp.run();
