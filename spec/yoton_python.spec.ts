/**
 * trousers/yoton against the real Python yoton 2.2 (Debian's pyzo, unpacked by
 * `npm run peers` into .peers/pyzo), on the machine's python3, Python 2.7 and the newest
 * Python here. One Python process per scenario group and Python:
 *
 * - peer (Node binds, Python connects): pub/sub both ways with non-ASCII text, binary and
 *   nested OBJECT values; req/rep both ways with errors crossing over; a request made before
 *   its replier exists; load balancing over a Node and a Python replier; state reaching the
 *   late joiner; sync mode throttling each way; a Node–Python–Node chain delivering exactly
 *   once; heartbeat silence and EOF seen from Python; the close package seen from Python.
 * - host (Python binds, Node connects): handshake, pub/sub both ways, state, close; and
 *   clientserver both ways (do_request against RequestServer).
 *
 * Without the unpacked yoton the suite says how to get it and skips.
 */

import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BINARY,
  Float,
  HEADER_SIZE,
  OBJECT,
  PubChannel,
  RepChannel,
  ReqChannel,
  RequestServer,
  StateChannel,
  SubChannel,
  Tuple,
  YotonRemoteError,
  do_request,
  encode_object,
  handshake_line,
  tuple,
} from '../lib/yoton/index.js';
import { listen, PUBLISHER } from '../examples/yoton_python_client.js';
import { within } from './_helpers.js';
import { find_pythons, kill_all, PY_DIR, start_peer, type Peer, type Python } from './py/pythons.js';
import { until, World } from './yoton_world.js';

const YOTON_DIR = path.resolve(PY_DIR, '../../.peers/pyzo/usr/share/pyzo/pyzo');
const have_yoton = fs.existsSync(path.join(YOTON_DIR, 'yoton', '__init__.py'));

/** python3, 2.7 and the newest: the Pythons the issue asks for. */
function pythons(): Python[] {
  const { machine, all } = find_pythons();
  const picked = new Map<string, Python>();
  if (machine) picked.set(machine.version, machine);
  const py2 = all.find((p) => p.version.startsWith('2.7'));
  if (py2) picked.set(py2.version, py2);
  const newest = all[all.length - 1];
  if (newest) picked.set(newest.version, newest);
  return [...picked.values()];
}

/** What Python's yoton puts in its handshake for an id: hex without leading zeros, padded on the RIGHT. */
function python_handshake_id(real_hex16: string): bigint {
  const stripped = real_hex16.replace(/^0+/, '') || '0';
  return BigInt(`0x${stripped.padEnd(16, '0')}`);
}

/** Maps become sorted entry lists, so dicts compare whatever order Python 2 iterates them in. */
function norm(v: unknown): unknown {
  if (v instanceof Map) {
    return [...v.entries()].map(([k, x]) => [norm(k), norm(x)]).sort((a, b) => (JSON.stringify(a[0], big) < JSON.stringify(b[0], big) ? -1 : 1));
  }
  if (v instanceof Float) return v.value;
  if (Array.isArray(v)) return [v instanceof Tuple ? 'tuple' : 'list', ...v.map(norm)];
  return v;
}
function big(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `${v}n` : v;
}

class NodeCalc extends RepChannel {
  add(a: number, b: number): number {
    return a + b;
  }
  boom(): never {
    throw new Error('node says no');
  }
  async who(): Promise<string> {
    // Longer than Python yoton's own Nagle stall (it writes header and payload in two sends
    // without TCP_NODELAY, so each of its acks waits for a delayed ACK).
    await new Promise((r) => setTimeout(r, 100));
    return 'node';
  }
}

async function peer_group(py: Python): Promise<void> {
  const w = new World();
  let peer: Peer | null = null;
  try {
    const A = w.ctx();
    const h = A.bind('localhost:0');
    await h.bound();
    const txt = [new PubChannel(A, 'n2p'), new SubChannel(A, 'p2n')] as const;
    const bin = [new PubChannel(A, 'n2p', BINARY), new SubChannel(A, 'p2n', BINARY)] as const;
    const obj = [new PubChannel(A, 'n2p', OBJECT), new SubChannel(A, 'p2n', OBJECT)] as const;
    const ctl = new PubChannel(A, 'ctl');
    const state = new StateChannel(A, 'state');
    state.send('node-state ✓');
    const rep = new NodeCalc(A, 'node-calc');
    rep.set_mode('event');
    // a Node replier in its own context (a context never delivers to itself)
    const R = w.ctx();
    await w.link(A, R);
    const lb_rep = new NodeCalc(R, 'lb');
    lb_rep.set_mode('event');
    const py_calc = new ReqChannel(A, 'py-calc');
    const lb = new ReqChannel(A, 'lb');
    const sync = new PubChannel(A, 'sync');
    const sync2 = new SubChannel(A, 'sync2');
    const chain = new PubChannel(A, 'chain');
    const back = new SubChannel(A, 'back');
    // A raw "Node peer" that shakes hands and then says nothing (and ends when told).
    let raw_socket: net.Socket | null = null;
    const raw_port = await w.raw_server((s) => {
      raw_socket = s;
      s.once('data', () => s.write(handshake_line(0x1234567890abcdefn, 1)));
    });
    peer = start_peer(py.exe, 'yoton_peer.py', [YOTON_DIR, 'peer', String(h.port1), String(raw_port)]);
    const line = (prefix: string, ms = 10000): Promise<string> => within(peer!.line(prefix), ms, `${py.version}: "${prefix}"`);
    const [, id2_hex, own_hex] = (await line('CONNECTED ')).split(' ');
    await until(() => h.is_connected, 'Python connected');
    assert.is(id2_hex, A.id.toString(16).padStart(16, '0'), 'Python parsed our id');
    assert.ok(h.id2 === python_handshake_id(own_hex!) || h.id2 === BigInt(`0x${own_hex}`), "Python's id as its handshake gives it");
    assert.is(h.pid2, peer.child.pid);

    // Python's own messages
    assert.is(await within(txt[1].recv(), 5000, 'py text'), 'Grüße aus Python ✓');
    assert.is(h.id2, BigInt(`0x${own_hex}`), "Python's real id, once its first package came (its handshake pads on the right)");
    assert.equal([...(await within(bin[1].recv(), 5000, 'py bin'))], [0, 255, 0x70, 0x79]);
    const lit = (await within(obj[1].recv(), 5000, 'py obj')) as Map<unknown, unknown>;
    assert.is(lit.get('name'), 'Zoë');
    assert.equal(lit.get('nums'), [1, -2, 2 ** 40, 1.5]);
    assert.instance(lit.get('tup'), Tuple);
    assert.equal([...(lit.get('tup') as unknown[])], [null, true, false]);
    const tkey = [...lit.keys()].find((k) => k instanceof Tuple) as unknown[];
    assert.equal([...tkey], [1, 2]);
    assert.is(lit.get(tkey), 'tuple key');

    // round trips through Python
    const text = 'héllo → Python ✓ 😀 ' + 'x'.repeat(3000);
    void txt[0].send(text);
    assert.is(await within(txt[1].recv(), 5000, 'text echo'), text);
    const bytes = randomBytes(70000);
    void bin[0].send(bytes);
    assert.ok(Buffer.from(await within(bin[1].recv(), 5000, 'binary echo')).equals(bytes), 'binary echo');
    const value = new Map<unknown, unknown>([
      ['nested', [1, [2, [3, tuple<unknown>('deep', null, false)]]]],
      [tuple<unknown>(1, 'a'), new Map<unknown, unknown>([['x', new Float(3)], ['y', -0.5]])],
      ['ints', [0, -1, 2n ** 60n, -(2n ** 63n), 2n ** 63n - 1n, 2 ** 53 - 1]],
      ['text', 'Zoë ∑ 😀'],
      ['long', 'L'.repeat(400)],
      ['empty', [[], tuple(), new Map()]],
    ]);
    void obj[0].send(value);
    const echoed = await within(obj[1].recv(), 5000, 'object echo');
    assert.equal(norm(echoed), norm(value), 'OBJECT round trip');
    assert.is(encode_object((echoed as Map<string, unknown>).get('ints')).toString('hex'), encode_object(value.get('ints')).toString('hex'));

    // req/rep, Node asking Python
    assert.is(await py_calc.call('add', 3, 4).result(5000), 7);
    const e1 = await py_calc.call('boom').result(5000).catch((e: unknown) => e);
    assert.instance(e1, YotonRemoteError);
    assert.match((e1 as Error).message, /^python says no/);
    const e2 = await py_calc.call('nosuch').result(5000).catch((e: unknown) => e);
    assert.match((e2 as Error).message, /^Method 'nosuch' not implemented\./);
    // Python asking Node
    void ctl.send('reqs');
    assert.is(await line('PYREQ add'), 'PYREQ add 7');
    assert.is(await line('PYREQ boom'), 'PYREQ boom node says no');
    assert.is(await line('PYREQ nosuch'), "PYREQ nosuch Method 'nosuch' not implemented.");
    // a request before its replier exists
    void ctl.send('late');
    await line('LATE_SENT');
    await new Promise((r) => setTimeout(r, 700));
    const late = new NodeCalc(A, 'late');
    late.set_mode('event');
    assert.is(await line('LATE ', 10000), 'LATE 42');
    // load balancing over a Node and a Python replier
    const whos = await Promise.all(Array.from({ length: 10 }, () => lb.call<string>('who').result(10000)));
    assert.ok(whos.includes('node') && whos.includes('python'), `both served: ${whos.join(',')}`);
    // state reached Python, which joined after it was set
    void ctl.send('state');
    assert.is(await line('STATE '), 'STATE node-state ✓');

    // sync mode: a slow Python Sub throttles this Pub
    void ctl.send('syncsub');
    for (let i = 0; i < 50; i++) await sync.send(`s${i}`);
    await until(() => sync.send_locked, 'the Python subscriber sent "full"', 5000);
    const t_held = Date.now();
    await sync.send('s50');
    const held = Date.now() - t_held;
    for (let i = 51; i < 100; i++) await sync.send(`s${i}`);
    assert.is(await line('SYNCSUB', 20000), 'SYNCSUB 100 True');
    assert.ok(held >= 50, `a send was held while Python caught up (${held} ms)`);
    // and a slow Node Sub throttles a Python Pub
    sync2.set_sync_mode(true);
    void ctl.send('syncpub');
    await until(() => sync2.pending > 32, 'Node sub filled', 10000);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(sync2.pending < 45, `Python held back (${sync2.pending} queued)`);
    const got: string[] = [];
    while (got.length < 100) got.push(await within(sync2.recv(), 5000, 'sync2'));
    assert.equal(got, Array.from({ length: 100 }, (_, i) => `q${i}`));
    assert.match(await line('SYNCPUB', 20000), /^SYNCPUB True /);

    // a Node–Python–Node chain
    void ctl.send('bind');
    const port2 = Number((await line('BOUND ')).split(' ')[1]);
    const N2 = w.ctx();
    const n2_sub = new SubChannel(N2, 'chain');
    const n2_pub = new PubChannel(N2, 'back');
    await N2.connect(`localhost:${port2}`, { timeout: 3000 });
    await new Promise((r) => setTimeout(r, 100));
    void ctl.send('chain');
    for (let i = 0; i < 20; i++) void chain.send(`c${i}`);
    void chain.send('end');
    for (let i = 0; i < 20; i++) assert.is(await within(n2_sub.recv(), 5000, 'chain'), `c${i}`);
    assert.is(await n2_sub.recv(2000), 'end');
    assert.is(await line('CHAIN '), 'CHAIN 20 20');
    for (let i = 0; i < 10; i++) void n2_pub.send(`b${i}`);
    for (let i = 0; i < 10; i++) assert.is(await within(back.recv(), 5000, 'back'), `b${i}`);
    await Promise.all([A.flush(), N2.flush()]);
    await new Promise((r) => setTimeout(r, 100));
    assert.is(n2_sub.pending + back.pending, 0, 'exactly once through Python');

    // heartbeat silence and EOF, seen from Python
    void ctl.send('raw');
    await line('RAWCONNECTED');
    assert.is(await line('TIMEDOUT True', 5000), 'TIMEDOUT True');
    const hb = Buffer.alloc(HEADER_SIZE);
    hb.write('YOTON   ', 0, 'latin1');
    raw_socket!.write(hb);
    assert.is(await line('TIMEDOUT False', 5000), 'TIMEDOUT False');
    raw_socket!.end();
    assert.is(await line('RAWCLOSED'), 'RAWCLOSED Other end dropped the connection.');

    // our close package, seen from Python
    h.close();
    assert.is(await line('CLOSED'), 'CLOSED Closed from other end.');
    await within(peer.exited, 5000, 'Python exits');
  } finally {
    await peer?.kill();
    await w.end();
  }
}

async function host_group(py: Python): Promise<void> {
  const w = new World();
  let peer: Peer | null = null;
  try {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const free = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    peer = start_peer(py.exe, 'yoton_peer.py', [YOTON_DIR, 'host', String(free)]);
    const line = (prefix: string, ms = 10000): Promise<string> => within(peer!.line(prefix), ms, `${py.version}: "${prefix}"`);
    const port = Number((await line('BOUND ')).split(' ')[1]);
    const B = w.ctx();
    const state = new StateChannel(B, 'hstate');
    const sub = new SubChannel(B, 'hp2n');
    const pub = new PubChannel(B, 'hn2p');
    const conn = await B.connect(`localhost:${port}`, { timeout: 3000 });
    assert.is(await line('HOSTED '), `HOSTED ${B.id.toString(16).padStart(16, '0')}`);
    assert.is(conn.status_code, 4);
    assert.is(await within(sub.recv(), 5000, 'host text'), 'from the Python host ✓');
    void pub.send('abc€😀');
    assert.is(await within(sub.recv(), 5000, 'reversed'), '😀€cba');
    await until(() => state.recv() === 'python-state', "Python's state", 5000);
    void pub.send('state?');
    assert.is(await line('STATE '), 'STATE python-state');
    // clientserver both ways
    const rs_port = Number((await line('RS ')).split(' ')[1]);
    assert.is(await do_request(`localhost:${rs_port}`, 'hello', 3000, { engine: w.engine }), 'Requested: hello\r\n');
    class Upper extends RequestServer {
      override handle_request(r: string): string {
        return r.trim().toUpperCase();
      }
    }
    const upper = new Upper('localhost:0', { engine: w.engine });
    await upper.start();
    void pub.send(`dorequest ${upper.port}`);
    assert.is(await line('DOREQ'), 'DOREQ FROM PYTHON');
    upper.stop();
    conn.close();
    assert.is(await line('CLOSED'), 'CLOSED Closed from other end.');
    await within(peer.exited, 5000, 'Python exits');
  } finally {
    await peer?.kill();
    await w.end();
  }
}

const live = suite('yoton against Python yoton');

if (!have_yoton) {
  console.log(`  yoton_python: skipped: Python yoton not found in ${YOTON_DIR}; run \`npm run peers\` to unpack it`);
  live.skip('Python yoton interop (run `npm run peers`)', () => {});
} else {
  const found = pythons();
  if (found.length === 0) {
    console.log('  yoton_python: skipped: no Python interpreter found');
    live.skip('Python yoton interop (no python)', () => {});
  }
  for (const py of found) {
    live(`Python ${py.version}: Node binds, Python connects (pub/sub, req/rep, state, sync, chain, heartbeats, close)`, () => peer_group(py));
    live(`Python ${py.version}: Python binds, Node connects`, () => host_group(py));
  }
  const machine = find_pythons().machine;
  if (machine) {
    live(`Python ${machine.version}: the example client prints a Python publisher's news`, async () => {
      const pub = spawn(machine.exe, ['-c', PUBLISHER, YOTON_DIR], { stdio: ['ignore', 'pipe', 'ignore'] });
      try {
        const port = await within(new Promise<number>((r) => pub.stdout!.once('data', (d: Buffer) => r(Number(String(d).trim())))), 10000, 'publisher port');
        const printed: string[] = [];
        await within(listen(`localhost:${port}`, Infinity, (l) => void printed.push(l)), 10000, 'the example client');
        assert.equal(printed, [0, 1, 2, 3, 4].map((i) => `news item ${i} ✓`));
      } finally {
        pub.kill('SIGKILL');
        await new Promise((r) => (pub.exitCode !== null || pub.signalCode !== null ? r(null) : pub.once('close', r)));
      }
    });
  }
  live.after(async () => {
    await kill_all();
  });
}

live.run();
