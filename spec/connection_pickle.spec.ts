/**
 * trousers/connection with `codec: 'pickle'` against Python's own multiprocessing.connection
 * `send`/`recv`, on every Python this machine has (2.7 to 3.13 and the machine's python3),
 * both roles (Python Listener <- Node connect, Node listen <- Python Client), with an authkey
 * (so the legacy and the modern handshakes both run).
 *
 * On each connection, for every corpus value (spec/pickle_corpus.ts): Node sends it and
 * Python compares it with its own corpus; Python echoes it back pickled in its own default
 * protocol (2 on 2.7, 3 on 3.6-3.7, 4 on 3.8+); Python sends its own copy. Node compares both.
 * Each corpus item travels in one request and one reply; a few also one request per step.
 *
 * Python 2's `str` (its bytes) comes back through a codec object made by
 * `pickle_codec({ encoding: 'bytes' })`; everything else uses the name `'pickle'`.
 */

import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { connect, listen, type Codec, type ConnectionAddress, type MessageConnection } from '../lib/connection/index.js';
import { PicklingError, UnpicklingError, pickle_codec, tuple } from '../lib/pickle/index.js';
import { corpus, same } from './pickle_corpus.js';
import { sock_path, within } from './_helpers.js';
import { find_pythons, kill_all, start_peer, type Peer, type Python } from './py/pythons.js';

const KEY = Buffer.from('pickled secret');
const CORPUS = corpus();
const TABLE = new Map(CORPUS);

const test = suite("connection: codec 'pickle' against Python's send/recv");

function codec_for(py: Python): 'pickle' | Codec {
  return py.version.startsWith('2.') ? pickle_codec({ encoding: 'bytes' }) : 'pickle';
}

/**
 * Runs the corpus over one connection: one request and one reply per item (small replies
 * sent back to back by Python wait for our delayed ACK under Python's Nagle: 40 ms each), then
 * the three separate requests for a few items.
 */
async function exchange(conn: MessageConnection, label: string): Promise<void> {
  const failures: string[] = [];
  const check = (name: string, value: unknown, verdict: unknown, echoed: unknown, theirs: unknown): void => {
    const v = verdict as unknown[];
    if (v[0] !== 'ok' || v[1] !== name) failures.push(`Python on ${name}: ${String(v[2] ?? v)}`);
    const why_echo = same(echoed, value);
    if (why_echo) failures.push(`echo of ${name}: ${why_echo}`);
    const why_theirs = same(theirs, TABLE.get(name));
    if (why_theirs) failures.push(`Python's ${name}: ${why_theirs}`);
  };
  for (const [name, value] of CORPUS) {
    await conn.send(tuple('all', name, value));
    const [verdict, echoed, theirs] = (await conn.recv()) as unknown[];
    check(name, value, verdict, echoed, theirs);
  }
  for (const [name, value] of CORPUS.filter(([n]) => ['message', 'rec2', 'shared1', 'int30', 'str6'].includes(n))) {
    await conn.send(tuple('check', name, value));
    const verdict = await conn.recv();
    await conn.send(tuple('echo', value));
    const echoed = await conn.recv();
    await conn.send(tuple('corpus', name));
    check(name, value, verdict, echoed, await conn.recv());
  }
  assert.equal(failures, [], `${label}:\n${failures.slice(0, 20).join('\n')}`);

  // a value with no Python type is refused on our side; the connection carries on
  let refused: unknown;
  try {
    await conn.send([1, undefined]);
  } catch (err) {
    refused = err;
  }
  assert.instance(refused, PicklingError);
  assert.is((refused as PicklingError).path, 'value[1]');

  await conn.send(tuple('bye'));
  assert.is(await conn.recv(), 'bye');
}

function ready_address(line: string): ConnectionAddress {
  const words = line.split(' ');
  return words.length === 4 ? [words[2]!, Number(words[3])] : words[2]!;
}

const { all } = find_pythons();
if (all.length === 0) console.log('connection_pickle: no Python found on this machine; skipped');

for (const py of all) {
  const fam = py.machine ? 'unix' : 'tcp';
  test(`Python ${py.version} Listener <- Node connect (${fam}, authkey)`, async () => {
    const peer: Peer = start_peer(py.exe, 'mp_pickle_peer.py', ['listen', fam === 'tcp' ? '127.0.0.1:0' : sock_path('pyp'), KEY.toString('hex')]);
    let conn: MessageConnection | undefined;
    try {
      const address = ready_address(await within(peer.line('READY'), 20000, 'Python listening'));
      conn = await connect(address, { authkey: KEY, codec: codec_for(py) });
      await within(exchange(conn, `Python ${py.version} Listener`), 60000, 'the exchange');
      await within(peer.line('DONE'), 20000, 'Python done');
      assert.is(await peer.exited, 0, `exit code; stderr: ${peer.errors.slice(-2000)}`);
    } finally {
      conn?.close();
      await peer.kill();
    }
  });

  test(`Node listen <- Python ${py.version} Client (${fam}, authkey)`, async () => {
    const listener = await listen(fam === 'tcp' ? ['127.0.0.1', 0] : sock_path('nodep'), { authkey: KEY, codec: codec_for(py) });
    const target = typeof listener.address === 'string' ? listener.address : `${(listener.address as [string, number])[0]}:${(listener.address as [string, number])[1]}`;
    const peer = start_peer(py.exe, 'mp_pickle_peer.py', ['connect', target, KEY.toString('hex')]);
    let conn: MessageConnection | undefined;
    try {
      conn = await within(listener.accept(), 20000, 'accept');
      await within(exchange(conn, `Python ${py.version} Client`), 60000, 'the exchange');
      await within(peer.line('DONE'), 20000, 'Python done');
      assert.is(await peer.exited, 0, `exit code; stderr: ${peer.errors.slice(-2000)}`);
    } finally {
      conn?.close();
      listener.close();
      await peer.kill();
    }
  });
}

test("a bad pickle makes recv reject with an UnpicklingError; the connection stays usable", async () => {
  const listener = await listen(['127.0.0.1', 0], { codec: 'pickle' });
  const client = await connect(listener.address, { codec: 'pickle' });
  const server = await listener.accept();
  try {
    await client.send_bytes(Buffer.from('cos\nsystem\n(S\'id\'\ntR.', 'latin1'));
    await client.send(new Map([['after', tuple(1, 2)]]));
    let err: unknown;
    try {
      await server.recv();
    } catch (e) {
      err = e;
    }
    assert.instance(err, UnpicklingError);
    assert.is((err as UnpicklingError).code, 'ERR_PICKLE_GLOBAL');
    assert.is(same(await server.recv(), new Map([['after', tuple(1, 2)]])), undefined);
    assert.throws(() => listen(['127.0.0.1', 0], { codec: 'pickles' as 'pickle' }), TypeError);
  } finally {
    client.close();
    server.close();
    listener.close();
  }
});

test.after(async () => {
  await kill_all();
});

test.run();
