/**
 * trousers/pickle against live Python, on every interpreter this machine has (the pyenv
 * versions 2.7 to 3.13 and the machine's python3; TROUSERS_PYTHONS=2.7,3.13 narrows the set).
 *
 * For each interpreter, ONE Python process (spec/py/pickle_peer.py):
 * - pickles the corpus (spec/pickle_corpus.ts and its twin in the script: ints at every size
 *   boundary, floats with NaN/inf/-0.0, unicode incl. astral and lone surrogates, bytes,
 *   bytearray, nested and empty containers, tuple and frozenset keys, sets, OrderedDict,
 *   shared and recursive references) with every protocol it writes, with its C and its
 *   pure-Python pickler; Node reads each pickle and compares it with its own corpus;
 * - then reads Node's pickles of the same corpus in every protocol that Python reads, unpickles
 *   each with both the C and the pure-Python unpickler (cPickle and pickle on 2.7), compares
 *   with its own corpus and says OK or FAIL per item;
 * - and loads 300 seeded random values Node pickled (every type, random nesting, shared
 *   references, random unicode) and pickles them again in a rotating protocol; Node reads
 *   them back and compares with the originals.
 *
 * Python 2 `str` (its bytes) is read with `encoding: 'bytes'`, as Python 3 code reading
 * Python 2 pickles of binary data does.
 */

import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { dumps, loads, type LoadOptions } from '../lib/pickle/index.js';
import { corpus, random_value, same } from './pickle_corpus.js';
import { rng, within } from './_helpers.js';
import { find_pythons, kill_all, start_peer } from './py/pythons.js';

const test = suite('pickle: live Python, both directions');
const CORPUS = corpus();
const TABLE = new Map(CORPUS);
/** Random values per interpreter, pickled by Node, loaded and pickled again by Python. */
const RANDOM = 300;

const { all } = find_pythons();

if (all.length === 0) {
  console.log('pickle_live: no Python found on this machine; skipped');
}

for (const py of all) {
  test(`Python ${py.version}: Python's pickles read by Node, Node's read by Python (every protocol)`, async () => {
    const peer = start_peer(py.exe, 'pickle_peer.py', []);
    try {
      await within(peer.line('DUMPED'), 60000, `Python ${py.version} pickling the corpus`);
      const highest = Number((await peer.line('PROTOCOLS')).split(' ')[1]);
      const options: LoadOptions = py.version.startsWith('2.') ? { encoding: 'bytes' } : {};
      const failures: string[] = [];
      let read = 0;
      for (const line of peer.output) {
        if (!line.startsWith('P ') && !line.startsWith('Q ')) continue;
        const [which, name, proto, hex] = line.split(' ') as [string, string, string, string];
        let why: string | undefined;
        try {
          why = same(loads(Buffer.from(hex, 'hex'), options), TABLE.get(name));
        } catch (err) {
          why = `loads threw ${String(err)}`;
        }
        read++;
        if (why) failures.push(`Python ${py.version} (${which === 'P' ? 'C' : 'pure'} pickler) -> Node, ${name} protocol ${proto}: ${why}`);
      }
      assert.is(read, 2 * CORPUS.length * (highest + 1), `Python ${py.version} pickled every item in every protocol, with both picklers`);

      const lines: string[] = [];
      for (let proto = 0; proto <= highest; proto++) {
        for (const [name, value] of CORPUS) {
          lines.push(`${name} ${proto} ${dumps(value, { protocol: proto as 0 | 1 | 2 | 3 | 4 | 5 }).toString('hex')}\n`);
        }
      }
      // random values: Node pickles, Python loads and pickles again, Node compares
      const r = rng(0x5eed + highest);
      const randoms = Array.from({ length: RANDOM }, () => random_value(r));
      randoms.forEach((value, i) => {
        const p_in = i % (Math.min(highest, 5) + 1);
        const p_out = (i * 7) % (highest + 1);
        lines.push(`R ${i} ${p_out} ${dumps(value, { protocol: p_in as 0 | 1 | 2 | 3 | 4 | 5 }).toString('hex')}\n`);
      });
      lines.push('END\n');
      peer.child.stdin!.end(lines.join(''));
      const checked = await within(peer.line('CHECKED'), 60000, `Python ${py.version} reading Node's pickles`);
      for (const line of peer.output) if (line.startsWith('FAIL ')) failures.push(`Node -> Python ${py.version}: ${line.slice(5)}`);
      let round_trips = 0;
      for (const line of peer.output) {
        if (!line.startsWith('R ')) continue;
        const [, index, hex] = line.split(' ') as [string, string, string];
        const why = same(loads(Buffer.from(hex, 'hex'), options), randoms[Number(index)]);
        if (why) failures.push(`random value ${index} through Python ${py.version}: ${why}`);
        round_trips++;
      }
      assert.is(round_trips, RANDOM, 'every random value came back');
      assert.equal(failures, [], failures.slice(0, 20).join('\n'));
      assert.is(checked, `CHECKED ${CORPUS.length * (highest + 1)}`);
      assert.is(peer.output.filter((l) => l.startsWith('OK ')).length, CORPUS.length * (highest + 1));
      assert.is(await peer.exited, 0, `exit code; stderr: ${peer.errors.slice(-2000)}`);
    } finally {
      await peer.kill();
    }
  });
}

test.after(async () => {
  await kill_all();
});

test.run();
