/**
 * trousers/connection against the real thing: Python's own multiprocessing.connection,
 * under the machine's python3 and every other Python this machine offers (pyenv, 2.7 to
 * 3.13), so both the legacy HMAC-MD5 handshake (<= 3.11) and the modern {sha256} one
 * (>= 3.12) meet it. For each Python, over TCP and over a Unix socket path:
 *
 * - Python Listener <- trousers connect(), without and with authkey, wrong key rejected;
 * - Python Client -> trousers listen(), the same;
 * - on every connection: messages of 0 bytes, 1 byte, 1 MiB both ways, 100 messages in a
 *   row both ways checked with sha256, and the end of stream at a message boundary.
 *
 * The whole matrix runs for every Python found (they run in about a second each). Set
 * TROUSERS_PYTHONS=2.7,3.13 to narrow it. Without python3 the suite says so and skips.
 */

import { createHash, randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import {
  AuthenticationError,
  connect,
  ConnectionEOFError,
  listen,
  type ConnectionAddress,
  type Listener,
  type MessageConnection,
} from '../lib/connection/index.js';
import { sock_path, within } from './_helpers.js';
import { find_pythons, is_modern, kill_all, start_peer, type Peer, type Python } from './py/pythons.js';

const KEY = Buffer.from('trousers and a shared secret');
const WRONG = Buffer.from('not the secret');
const MiB = 1 << 20;

const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

type Fam = 'tcp' | 'unix';

function py_address(fam: Fam): string {
  return fam === 'tcp' ? '127.0.0.1:0' : sock_path('py');
}

function node_address(fam: Fam): ConnectionAddress {
  return fam === 'tcp' ? ['127.0.0.1', 0] : sock_path('node');
}

function as_arg(address: ConnectionAddress): string {
  if (typeof address === 'string') return address;
  const [host, port] = Array.isArray(address) ? address : [(address as { host: string }).host, (address as { port: number }).port];
  return `${host}:${port}`;
}

/** Parses `READY <version> <host> <port>` / `READY <version> <path>`. */
function ready_address(line: string): ConnectionAddress {
  const words = line.split(' ');
  return words.length === 4 ? [words[2]!, Number(words[3])] : words[2]!;
}

async function expect_reject<E extends Error>(promise: Promise<unknown>, cls: new (...a: never[]) => E, what: string): Promise<E> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, cls, `${what}: ${String(err)}`);
    return err as E;
  }
  assert.unreachable(`${what}: expected ${cls.name}, nothing was thrown`);
  throw new Error('unreachable');
}

/** What one test started: closed / killed in its `finally`, whatever happened. */
interface Resources {
  peers: Peer[];
  listeners: Listener[];
  connections: MessageConnection[];
}

function track<T extends MessageConnection>(res: Resources, conn: T): T {
  res.connections.push(conn);
  return conn;
}

async function release(res: Resources): Promise<void> {
  for (const c of res.connections) c.close();
  for (const l of res.listeners) l.close();
  await Promise.all(res.peers.map((p) => p.kill()));
}

const cmd = (c: string, body: Uint8Array = Buffer.alloc(0)): Buffer => Buffer.concat([Buffer.from(c, 'latin1'), body]);

/** The messages every connection carries, whoever listens. */
async function exercise(conn: MessageConnection, label: string): Promise<void> {
  // 0 bytes and 1 byte, each way (the peer echoes messages of 0 and 1 bytes)
  await conn.send_bytes(Buffer.alloc(0));
  assert.is((await conn.recv_bytes()).length, 0, `${label}: 0-byte echo`);
  await conn.send_bytes(Buffer.from([0xa5]));
  assert.equal([...(await conn.recv_bytes())], [0xa5], `${label}: 1-byte echo`);

  // 1 MiB to Python and back, and 1 MiB made by Python
  const big = randomBytes(MiB);
  await conn.send_bytes(cmd('E', big));
  const back = await conn.recv_bytes();
  assert.is(back.length, MiB, `${label}: 1 MiB echo length`);
  assert.ok(back.equals(big), `${label}: 1 MiB echo bytes`);
  await conn.send_bytes(cmd('H', big));
  assert.is(String(await conn.recv_bytes()), sha256(big).toString('hex'), `${label}: Python's sha256 of 1 MiB`);
  const gen1 = Buffer.alloc(8);
  gen1.writeUInt32BE(1, 0);
  gen1.writeUInt32BE(MiB, 4);
  await conn.send_bytes(cmd('G', gen1));
  const made = await conn.recv_bytes();
  assert.is(made.length, MiB, `${label}: 1 MiB from Python`);
  assert.ok((await conn.recv_bytes()).equals(sha256(made)), `${label}: 1 MiB from Python, checksum`);

  // 100 messages in a row to Python (no waiting for replies), then 100 checksums back
  const sent: Buffer[] = [];
  for (let i = 0; i < 100; i++) {
    const payload = randomBytes(1 + ((i * 397) % 3000));
    sent.push(payload);
    await conn.send_bytes(cmd('H', payload));
  }
  for (let i = 0; i < 100; i++) {
    assert.is(String(await conn.recv_bytes()), sha256(sent[i]!).toString('hex'), `${label}: checksum of message ${i}`);
  }

  // 100 messages in a row from Python, then their checksums
  const gen = Buffer.alloc(8);
  gen.writeUInt32BE(100, 0);
  gen.writeUInt32BE(777, 4);
  await conn.send_bytes(cmd('G', gen));
  const digests: Buffer[] = [];
  for (let i = 0; i < 100; i++) {
    const m = await conn.recv_bytes();
    assert.is(m.length, 777, `${label}: size of Python's message ${i}`);
    digests.push(sha256(m));
  }
  assert.ok((await conn.recv_bytes()).equals(Buffer.concat(digests)), `${label}: checksums of Python's 100 messages`);
}

/** Python listens, trousers connects: without a key, then with (a wrong key first). */
async function python_listens(py: Python, fam: Fam, res: Resources): Promise<void> {
  const label = `Python ${py.version} Listener (${fam})`;
  // without a key
  const open = start_peer(py.exe, 'mp_peer.py', ['listen', py_address(fam), '-']);
  res.peers.push(open);
  const open_address = ready_address(await open.line('READY'));
  const c1 = track(res, await connect(open_address));
  await exercise(c1, `${label}, no key`);
  await c1.send_bytes(Buffer.from('K')); // Python closes: end of stream at a message boundary
  await expect_reject(c1.recv_bytes(), ConnectionEOFError, `${label}: EOF`);
  await expect_reject(c1.recv_bytes(), ConnectionEOFError, `${label}: EOF again`);
  c1.close();
  await open.line('CLOSED');
  const c2 = track(res, await connect(open_address));
  await c2.send_bytes(Buffer.from('X'));
  assert.is(String(await c2.recv_bytes()), 'BYE');
  c2.close();

  // with a key: the wrong one is rejected on both sides, the right one works
  const locked = start_peer(py.exe, 'mp_peer.py', ['listen', py_address(fam), KEY.toString('hex')]);
  res.peers.push(locked);
  const locked_address = ready_address(await locked.line('READY'));
  const err = await expect_reject(connect(locked_address, { authkey: WRONG }), AuthenticationError, `${label}: wrong key, our side`);
  assert.is(err.code, 'ERR_AUTHENTICATION');
  await locked.line('AUTHFAIL AuthenticationError');
  const c3 = track(res, await connect(locked_address, { authkey: KEY }));
  await locked.line('ACCEPTED');
  await exercise(c3, `${label}, authkey`);
  await c3.send_bytes(Buffer.from('X'));
  assert.is(String(await c3.recv_bytes()), 'BYE');
  c3.close();

  assert.is(await open.exited, 0, `${label}: exit code (no key); stderr: ${open.errors}`);
  assert.is(await locked.exited, 0, `${label}: exit code (key); stderr: ${locked.errors}`);
}

/** trousers listens, Python connects: a wrong key, the right key, then a listener without a key. */
async function python_connects(py: Python, fam: Fam, res: Resources): Promise<void> {
  const label = `Python ${py.version} Client (${fam})`;
  const locked: Listener = await listen(node_address(fam), { authkey: KEY });
  res.listeners.push(locked);
  const open: Listener = await listen(node_address(fam));
  res.listeners.push(open);
  {
    const client = start_peer(py.exe, 'mp_peer.py', [
      'connect',
      as_arg(locked.address), WRONG.toString('hex'),
      as_arg(locked.address), KEY.toString('hex'),
      as_arg(open.address), '-',
    ]);
    res.peers.push(client);
    const err = await expect_reject(locked.accept(), AuthenticationError, `${label}: wrong key, our side`);
    assert.is(err.code, 'ERR_AUTHENTICATION');
    await client.line('AUTHFAIL AuthenticationError');

    const c1 = track(res, await locked.accept());
    await exercise(c1, `${label}, authkey`);
    await c1.send_bytes(Buffer.from('K'));
    await expect_reject(c1.recv_bytes(), ConnectionEOFError, `${label}: EOF`);
    c1.close();

    const c2 = track(res, await open.accept());
    assert.ok(open.last_accepted !== null, 'last_accepted is set');
    await exercise(c2, `${label}, no key`);
    c2.close(); // Python sees EOF at a message boundary
    await client.line('DONE');
    assert.equal(
      client.output.filter((l) => !l.startsWith('READY')),
      ['AUTHFAIL AuthenticationError', 'CONNECTED', 'CLOSED', 'CONNECTED', 'EOF', 'DONE'],
      `${label}: what Python saw`,
    );
    assert.is(await client.exited, 0, `${label}: exit code; stderr: ${client.errors}`);
  }
}

const { machine, all } = find_pythons();
const met: string[] = [];
const test = suite('connection/python interop');

test.after(async () => {
  await kill_all();
  if (met.length > 0) {
    console.log(`\n  connection/python: met multiprocessing.connection of Python ${met.join(', ')}`);
  }
});

if (machine === null) {
  test('python3 is absent: interop specs skipped', () => {
    console.log('\n  SKIP connection/python: no python3 on this machine, so Python interop was not tested');
  });
} else {
  for (const py of all) {
    for (const fam of ['tcp', 'unix'] as const) {
      const kind = is_modern(py.version) ? 'modern {sha256}' : 'legacy HMAC-MD5';
      test(`Python ${py.version}${py.machine ? ' (python3)' : ''}, ${kind}, ${fam}: both roles, with and without authkey`, async () => {
        const res: Resources = { peers: [], listeners: [], connections: [] };
        try {
          await within(Promise.all([python_listens(py, fam, res), python_connects(py, fam, res)]), 30000, `Python ${py.version} ${fam}`);
          if (fam === 'unix') met.push(py.version);
        } finally {
          await release(res);
        }
      });
    }
  }
}

test.run();
