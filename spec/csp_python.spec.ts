/**
 * trousers/csp against the real pycsp 0.9.2 (spec/py/csp_peer.py, PYTHONPATH=
 * ../shared/peers/pycsp-0.9.2): Python writers into channels hosted here and Node writers
 * into channels hosted by Python; a pipeline Node -> Python -> Node shut down by retire;
 * poison crossing both ways; alternation in Node over Python-hosted channels and in Python
 * (2.7 and 3.9, whose pycsp alternation still runs) over Node-hosted channels, each value
 * taken exactly once. Set TROUSERS_PYTHONS to narrow the Pythons; without pycsp or the
 * Pythons the suite says so and skips.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AltSelect,
  Channel,
  ChannelEndWrite,
  ChannelPoisonError,
  ChannelRetireError,
  InputGuard,
  poison,
  PriSelect,
  retire,
  shutdown,
  type ChannelEndRead,
} from '../lib/csp/index.js';
import { Tuple } from '../lib/pickle/index.js';
import { within } from './_helpers.js';
import { find_pythons, kill_all, Peer, PY_DIR, type Python } from './py/pythons.js';

const test = suite('csp python');
const PYCSP = path.resolve(PY_DIR, '../../../shared/peers/pycsp-0.9.2');
const have_pycsp = fs.existsSync(path.join(PYCSP, 'pycsp', 'parallel', 'channel.py'));

const ENV = { PYTHONPATH: PYCSP, PYCSP_HOST: '127.0.0.1', PYTHONDONTWRITEBYTECODE: '1' };

/** Starts the peer (Peer takes the environment of this process: set it for the spawn only). */
function start(py: Python, mode: string, node: [string, number]): Peer {
  const saved = Object.keys(ENV).map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, ENV);
  try {
    return new Peer(py.exe, [path.join(PY_DIR, 'csp_peer.py'), mode, node[0], String(node[1])]);
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function ready(peer: Peer): Promise<[string, number]> {
  const line = await within(peer.line('READY'), 15000, 'python READY');
  const [, host, port] = line.split(' ');
  return [host!, Number(port)];
}

async function read_until_end(cin: ChannelEndRead, into: unknown[]): Promise<Error> {
  for (;;) {
    try {
      into.push(await cin.read());
    } catch (err) {
      return err as Error;
    }
  }
}

const { machine, all } = find_pythons();
const alt_pythons = all.filter((p) => /^(2\.7|3\.[6-9])\./.test(p.version));
const newest = all[all.length - 1];
const host_pythons = [machine, all.find((p) => p.version.startsWith('2.7.')), newest && newest.exe !== machine?.exe && newest.version !== machine?.version ? newest : undefined].filter(
  (p): p is Python => p !== null && p !== undefined,
);

test.after(async () => {
  await kill_all();
});

for (const py of have_pycsp ? host_pythons : []) {
  test(`python ${py.version}: writers into Node channels, a pipeline through Python, poison crossing both ways`, async () => {
    const NA = new Channel('NA'), NP = new Channel('NP'), NQ = new Channel('NQ'), NE = new Channel('NE'), NR = new Channel('NR'), NS = new Channel('NS');
    await NA.ready();
    const na = NA.reader(), np = NP.writer(), nq = NQ.reader(), ne = NE.reader(), nr = NR.writer(), ns = NS.reader();
    const peer = start(py, 'host', NA.address!);
    try {
      const addr = await ready(peer);
      const PA = new Channel('PA', { connect: addr }), PB = new Channel('PB', { connect: addr });
      const pa = PA.writer(), pb = PB.reader();
      // Python writers into a channel hosted here (three Python processes, then retire)
      const from_python: unknown[] = [];
      const na_end = read_until_end(na, from_python);
      // a pipeline Node -> Python (doubler, hosted there) -> Node, ended by retire
      const doubled: unknown[] = [];
      const pb_end = read_until_end(pb, doubled);
      for (let i = 0; i < 50; i++) await pa.write(i);
      await retire(pa);
      assert.instance(await within(pb_end, 10000, 'pipeline end'), ChannelRetireError);
      assert.equal(doubled, Array.from({ length: 50 }, (_, i) => i * 2));
      assert.instance(await within(na_end, 10000, 'python writers'), ChannelRetireError);
      assert.is(from_python.length, 30);
      const first = from_python.find((m) => (m as Map<string, unknown>).get('i') === 0) as Map<string, unknown>;
      assert.is(first.get('from'), 'python');
      assert.is(first.get('text'), 'æøå');
      assert.instance(first.get('tuple'), Tuple);
      const is = from_python.map((m) => (m as Map<string, unknown>).get('i') as number).sort((a, b) => a - b);
      assert.equal(is, [...Array.from({ length: 10 }, (_, i) => i), ...Array.from({ length: 10 }, (_, i) => 100 + i), ...Array.from({ length: 10 }, (_, i) => 200 + i)]);
      // poison: Node -> Python stage (propagates) -> Node
      await np.write(41);
      assert.is(await nq.read(), 42);
      await poison(np);
      let err: unknown = null;
      try {
        await within(nq.read(), 10000, 'poisoned read');
      } catch (e) {
        err = e;
      }
      assert.instance(err, ChannelPoisonError, String(err));
      // a PyCSP end sent by Python arrives as a live end
      const mobile = await within(ne.read(), 10000, 'mobile end');
      assert.instance(mobile, ChannelEndWrite);
      await (mobile as ChannelEndWrite).write('via a mobile end');
      assert.is(await within(peer.line('RESULT mobile'), 10000, 'python read'), 'RESULT mobile via a mobile end');
      await retire(mobile as ChannelEndWrite);
      // a Node end sent to Python: pickled as pycsp pickles one, it reconnects there
      const ns_writer = NS.writer();
      await within(nr.write(ns_writer), 10000, 'send an end to python');
      assert.is(ns_writer.moved, true, 'the end moved');
      assert.is(await within(ns.read(), 10000, 'python wrote through the node end'), 'from python through a node end');
      await within(peer.line('RESULT host finished'), 10000, 'python processes end');
      await retire(pb, na, nq, ne, nr, ns);
      await within(shutdown(), 15000, 'node shutdown');
      await within(peer.line('DONE'), 15000, 'python shutdown');
      assert.is(await peer.exited, 0, peer.errors);
    } finally {
      await peer.kill();
      await shutdown();
    }
  });
}

for (const py of have_pycsp ? alt_pythons.filter((p) => /^(2\.7|3\.9)\./.test(p.version)) : []) {
  test(`python ${py.version}: alternation in Node over Python channels and in Python over Node channels`, async () => {
    const YA = new Channel('YA'), YB = new Channel('YB'), YC = new Channel('YC');
    await YA.ready();
    const ya = YA.writer(), yb = YB.writer(), yc = YC.reader();
    const peer = start(py, 'alt', YA.address!);
    try {
      const addr = await ready(peer);
      const XA = new Channel('XA', { connect: addr }), XB = new Channel('XB', { connect: addr });
      const xa = XA.reader(), xb = XB.reader();
      // Node writers for Python's alternation
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 20; i++) writes.push(ya.write(i), yb.write(500 + i));
      // Node alternation over the Python-hosted channels
      const seen: number[] = [];
      let alternating = true;
      let round = 0;
      while (alternating) {
        try {
          const guards = [new InputGuard(xa), new InputGuard(xb)];
          const [, v] = round++ % 2 === 0 ? await within(PriSelect(guards), 10000, 'PriSelect') : await within(AltSelect(guards), 10000, 'AltSelect');
          seen.push(v as number);
        } catch (e) {
          assert.instance(e, ChannelRetireError);
          alternating = false;
        }
      }
      for (const c of [xa, xb]) await read_until_end(c, seen);
      assert.is(seen.length, 60, 'every value taken');
      assert.is(new Set(seen).size, 60, 'none twice');
      await within(Promise.all(writes), 10000, 'node writers');
      const count = await within(peer.line('RESULT altcount'), 10000, 'python alternation');
      const expected = Array.from({ length: 20 }, (_, i) => i + 500 + i).reduce((a, b) => a + b, 0);
      assert.is(count, `RESULT altcount 40 40 ${expected}`);
      assert.is(await within(yc.read(), 10000, 'python output guard'), 'offered');
      await within(peer.line('RESULT outguard ok'), 10000, 'python output guard');
      await within(peer.line('RESULT alt finished'), 10000, 'python processes end');
      await retire(ya, yb, yc, xa, xb);
      await within(shutdown(), 15000, 'node shutdown');
      await within(peer.line('DONE'), 15000, 'python shutdown');
      assert.is(await peer.exited, 0, peer.errors);
    } finally {
      await peer.kill();
      await shutdown();
    }
  });
}

if (have_pycsp && machine !== null) {
  test(`python ${machine.version}: the worker pool example, fed by the example's Python producer`, async () => {
    const { serve } = await import('../examples/csp_worker_pool.js');
    let peer: Peer | null = null;
    try {
      await within(
        serve(3, ([host, port]) => {
          const saved = Object.keys(ENV).map((k) => [k, process.env[k]] as const);
          Object.assign(process.env, ENV);
          peer = new Peer(machine.exe, [path.resolve(PY_DIR, '../../examples/csp_producer.py'), host, String(port), '12']);
          for (const [k, v] of saved) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
          }
        }, false),
        15000,
        'worker pool',
      );
      const p = peer as Peer | null;
      assert.ok(p !== null);
      const line = await within(p!.line('python:'), 10000, 'producer summary');
      assert.match(line, /^python: 12 results from 1 Node worker processes; first: 'JOB NUMBER 0'$/);
      await within(shutdown(), 15000, 'node shutdown');
      assert.is(await p!.exited, 0, p!.errors);
    } finally {
      await (peer as Peer | null)?.kill();
      await shutdown();
    }
  });
}

if (!have_pycsp || host_pythons.length === 0) {
  test('pycsp peers (skipped: pycsp or Python not found)', () => {
    console.log(`  csp python: skipped (pycsp at ${PYCSP}: ${have_pycsp}, pythons: ${all.length})`);
  });
}

test.run();
