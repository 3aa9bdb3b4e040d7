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
 *   with its own corpus and says OK or FAIL per item.
 *
 * Python 2 `str` (its bytes) is read with `encoding: 'bytes'`, as Python 3 code reading
 * Python 2 pickles of binary data does.
 */

import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { dumps, loads, type LoadOptions } from '../lib/pickle/index.js';
import { corpus, same } from './pickle_corpus.js';
import { within } from './_helpers.js';
import { find_pythons, kill_all, start_peer } from './py/pythons.js';

const test = suite('pickle: live Python, both directions');
const CORPUS = corpus();
const TABLE = new Map(CORPUS);

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
      lines.push('END\n');
      peer.child.stdin!.end(lines.join(''));
      const checked = await within(peer.line('CHECKED'), 60000, `Python ${py.version} reading Node's pickles`);
      for (const line of peer.output) if (line.startsWith('FAIL ')) failures.push(`Node -> Python ${py.version}: ${line.slice(5)}`);
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
