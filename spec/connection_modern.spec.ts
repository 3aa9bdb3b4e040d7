/**
 * The modern (Python >= 3.12) authentication handshake, met even where the machine's
 * Python is older: spec/py/modern_peer.py speaks `{digest}` challenges and replies by
 * hand with `hmac` over a raw socket (any Python 3). Plus trousers-to-trousers handshakes,
 * and the handshake's byte-level shape, failures and time limit.
 */

import * as net from 'node:net';
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import {
  AuthenticationError,
  connect,
  ConnectionEOFError,
  HandshakeTimeoutError,
  listen,
  type DigestName,
  type Listener,
  type MessageConnection,
} from '../lib/connection/index.js';
import { Engine } from '../lib/index.js';
import { deferred, raw_connect, raw_server, read_n, sock_path, TCP4, UNIX, within } from './_helpers.js';
import { find_pythons, kill_all, start_peer, type Peer } from './py/pythons.js';

const KEY = Buffer.from('modern secret');
const OTHER = Buffer.from('another secret');

async function rejects<E extends Error>(promise: Promise<unknown>, cls: new (...a: never[]) => E, what: string): Promise<E> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, cls, `${what}: got ${String(err)}`);
    return err as E;
  }
  assert.unreachable(`${what}: expected ${cls.name}`);
  throw new Error('unreachable');
}

/** Frames a payload the way Python does (short header). */
function frame(payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeInt32BE(payload.length);
  return Buffer.concat([h, payload]);
}

/** Reads one framed message from a raw socket. */
async function read_frame(socket: net.Socket): Promise<Buffer> {
  const header = await read_n(socket, 4);
  const n = header.readInt32BE(0);
  const rest = header.subarray(4);
  if (rest.length >= n) {
    if (rest.length > n) socket.unshift(rest.subarray(n));
    return rest.subarray(0, n);
  }
  const more = await read_n(socket, n - rest.length);
  const all = Buffer.concat([rest, more]);
  if (all.length > n) socket.unshift(all.subarray(n));
  return all.subarray(0, n);
}

// ---------------------------------------------------------------------------------------
// against the hand-written modern peer

const { machine } = find_pythons();
const modern = suite('connection/modern handshake (hand-written Python peer)');
modern.after(kill_all);

interface Case {
  /** Digest named in the peer's challenge to us ('legacy': a bare 20-byte challenge). */
  challenge: DigestName | 'legacy';
  /** How the peer answers our challenge. */
  reply: DigestName | 'named' | 'bare-md5';
  /** Digest our side names in its challenge. */
  ours?: DigestName;
}

const CASES: Case[] = [
  { challenge: 'sha256', reply: 'named' },
  { challenge: 'sha384', reply: 'sha384' },
  { challenge: 'sha3_256', reply: 'sha3_384' },
  { challenge: 'sha3_384', reply: 'sha3_256' },
  { challenge: 'md5', reply: 'md5' },
  { challenge: 'legacy', reply: 'bare-md5' },
  { challenge: 'sha256', reply: 'named', ours: 'sha384' },
  { challenge: 'sha384', reply: 'named', ours: 'sha3_256' },
];

async function echo_and_close(conn: MessageConnection, peer: Peer): Promise<void> {
  for (const size of [0, 1, 1000]) {
    const payload = Buffer.alloc(size, 0x5a);
    await conn.send_bytes(payload);
    assert.ok((await conn.recv_bytes()).equals(payload), `echo of ${size} bytes`);
  }
  conn.close();
  assert.is(await peer.line('ECHOED'), 'ECHOED 3');
}

async function with_peer(args: string[], body: (peer: Peer) => Promise<void>): Promise<void> {
  const peer = start_peer(machine!.exe, 'modern_peer.py', args);
  try {
    await within(body(peer), 10000, `modern_peer ${args.join(' ')}`);
  } finally {
    await peer.kill();
  }
}

function addr_arg(address: Listener['address']): string {
  return typeof address === 'string' ? address : `${address[0]}:${address[1]}`;
}

if (machine === null) {
  modern('python3 is absent: modern handshake specs skipped', () => {
    console.log('\n  SKIP connection/modern: no python3 on this machine');
  });
} else {
  for (const c of CASES) {
    const tag = `peer challenges {${c.challenge}}, replies ${c.reply}${c.ours ? `, we challenge {${c.ours}}` : ''}`;

    modern(`Python-style client -> trousers listener: ${tag}`, async () => {
      const listener = await listen(['127.0.0.1', 0], { authkey: KEY, ...(c.ours ? { digest: c.ours } : {}) });
      try {
        await with_peer(['connect', addr_arg(listener.address), KEY.toString('hex'), c.challenge, c.reply], async (peer) => {
          const conn = await listener.accept();
          assert.is(await peer.line('AUTH'), 'AUTHOK');
          await echo_and_close(conn, peer);
        });
      } finally {
        listener.close();
      }
    });

    modern(`trousers client -> Python-style listener: ${tag}`, async () => {
      await with_peer(['listen', '127.0.0.1:0', KEY.toString('hex'), c.challenge, c.reply], async (peer) => {
        const [, host, port] = (await peer.line('READY')).split(' ');
        const conn = await connect([host!, Number(port)], { authkey: KEY, ...(c.ours ? { digest: c.ours } : {}) });
        assert.is(await peer.line('AUTH'), 'AUTHOK');
        await echo_and_close(conn, peer);
      });
    });
  }

  modern('wrong key, trousers listener: AuthenticationError on both sides, connection closed', async () => {
    const listener = await listen(sock_path('modern'), { authkey: KEY });
    try {
      await with_peer(['connect', listener.address as string, OTHER.toString('hex'), 'sha256', 'named'], async (peer) => {
        const err = await rejects(listener.accept(), AuthenticationError, 'accept');
        assert.is(err.code, 'ERR_AUTHENTICATION');
        assert.match(await peer.line('AUTH'), /^AUTHFAIL AuthFail digest sent was rejected/);
        assert.is(await peer.exited, 0);
      });
    } finally {
      listener.close();
    }
  });

  modern('wrong key, trousers client: AuthenticationError on both sides', async () => {
    await with_peer(['listen', sock_path('modern'), OTHER.toString('hex'), 'sha256', 'named'], async (peer) => {
      const path = (await peer.line('READY')).split(' ')[1]!;
      const err = await rejects(connect(path, { authkey: KEY }), AuthenticationError, 'connect');
      assert.is(err.message, 'digest sent was rejected');
      assert.match(await peer.line('AUTH'), /^AUTHFAIL AuthFail wrong digest/);
    });
  });
}

// ---------------------------------------------------------------------------------------
// trousers to trousers, and the handshake's edges

const auth = suite('connection/handshake, trousers to trousers');

for (const transport of [TCP4, UNIX]) {
  for (const digest of ['sha256', 'sha384', 'sha3_256', 'sha3_384', 'md5'] as const) {
    auth(`${transport.name}: authkey with a {${digest}} challenge`, async () => {
      const listener = await listen(transport.listen_address() as string | [string, number], { authkey: 'shared', digest });
      try {
        const [server, client] = await within(Promise.all([listener.accept(), connect(listener.address, { authkey: Buffer.from('shared'), digest })]));
        await client.send_bytes(Buffer.from('after the handshake'));
        assert.is(String(await server.recv_bytes()), 'after the handshake');
        client.close();
        await rejects(server.recv_bytes(), ConnectionEOFError, 'EOF');
      } finally {
        listener.close();
      }
    });
  }
}

auth('wrong key: both sides reject, the listener keeps listening', async () => {
  const listener = await listen(['127.0.0.1', 0], { authkey: 'right' });
  try {
    const [a, b] = await Promise.allSettled([listener.accept(), connect(listener.address, { authkey: 'wrong' })]);
    assert.is(a.status, 'rejected');
    assert.is(b.status, 'rejected');
    assert.instance((a as PromiseRejectedResult).reason, AuthenticationError);
    assert.instance((b as PromiseRejectedResult).reason, AuthenticationError);
    assert.is(((a as PromiseRejectedResult).reason as Error).message, 'digest received was wrong');
    const [s, c] = await Promise.all([listener.accept(), connect(listener.address, { authkey: 'right' })]);
    await c.send_bytes(Buffer.from('ok'));
    assert.is(String(await s.recv_bytes()), 'ok');
    c.close();
    s.close();
  } finally {
    listener.close();
  }
});

auth('the challenge on the wire: #CHALLENGE#{sha256} + 40 random bytes, framed like Python', async () => {
  const listener = await listen(['127.0.0.1', 0], { authkey: 'k', handshake_timeout: 5000 });
  const socket = raw_connect(listener.address as [string, number]);
  try {
    const challenge = await read_frame(socket);
    assert.is(challenge.length, 11 + 8 + 40);
    assert.is(challenge.subarray(0, 19).toString('latin1'), '#CHALLENGE#{sha256}');
    // a bare 16-byte reply is taken as (wrong) HMAC-MD5: #FAILURE# comes back
    socket.write(frame(Buffer.alloc(16)));
    assert.is(String(await read_frame(socket)), '#FAILURE#');
    await rejects(listener.accept(), AuthenticationError, 'accept');
  } finally {
    socket.destroy();
    listener.close();
  }
});

auth('a reply over 256 bytes is rejected without reading it', async () => {
  const listener = await listen(['127.0.0.1', 0], { authkey: 'k' });
  const socket = raw_connect(listener.address as [string, number]);
  try {
    await read_frame(socket);
    const h = Buffer.alloc(4);
    h.writeInt32BE(100_000_000);
    socket.write(h); // announces 100 MB and sends none of it
    const err = await rejects(listener.accept(), AuthenticationError, 'accept');
    assert.match(err.message, /over 256/);
  } finally {
    socket.destroy();
    listener.close();
  }
});

auth('client: a malformed challenge, an unknown digest, a short challenge', async () => {
  const bad: Buffer[] = [
    Buffer.from('#HELLO#' + 'x'.repeat(40)),
    Buffer.from('#CHALLENGE#{sha1}' + 'x'.repeat(40)),
    Buffer.from('#CHALLENGE#' + 'x'.repeat(19)),
    Buffer.from('#CHALLENGE#' + 'x'.repeat(30)),
  ];
  for (const message of bad) {
    const sockets: net.Socket[] = [];
    const srv = await raw_server(TCP4, (s) => {
      sockets.push(s);
      s.write(frame(message));
    });
    try {
      await rejects(connect(srv.address as [string, number], { authkey: 'k' }), AuthenticationError, message.toString());
    } finally {
      for (const s of sockets) s.destroy();
      await srv.close();
    }
  }
});

auth('a client whose server never challenges times out (HandshakeTimeoutError)', async () => {
  const sockets: net.Socket[] = [];
  const srv = await raw_server(TCP4, (s) => sockets.push(s));
  try {
    const err = await rejects(connect(srv.address as [string, number], { authkey: 'k', handshake_timeout: 100 }), HandshakeTimeoutError, 'connect');
    assert.is(err.code, 'ERR_HANDSHAKE_TIMEOUT');
    assert.is(err.timeout, 100);
  } finally {
    for (const s of sockets) s.destroy();
    await srv.close();
  }
});

auth('a listener whose client never answers times out; on_handshake_error gets it', async () => {
  const failed = deferred<Error>();
  const engine = new Engine();
  const listener = await listen(['127.0.0.1', 0], { authkey: 'k', handshake_timeout: 100, engine, on_handshake_error: (e) => failed.resolve(e) });
  const socket = raw_connect(listener.address as [string, number]);
  try {
    const err = await within(failed.promise);
    assert.instance(err, HandshakeTimeoutError);
    // the stalled connection is closed by us
    await within(new Promise<void>((resolve) => socket.once('end', () => resolve()).resume()));
  } finally {
    socket.destroy();
    listener.close();
  }
});

auth('a client that hangs up mid-handshake: accept() rejects with ConnectionEOFError', async () => {
  const listener = await listen(['127.0.0.1', 0], { authkey: 'k' });
  const socket = raw_connect(listener.address as [string, number]);
  try {
    await read_frame(socket);
    socket.end();
    await rejects(listener.accept(), ConnectionEOFError, 'accept');
  } finally {
    socket.destroy();
    listener.close();
  }
});

modern.run();
auth.run();
