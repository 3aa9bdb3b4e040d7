/**
 * The workers example (examples/workers.ts) runs: a Node server hands jobs to Python
 * workers over trousers/connection and checks every answer.
 */

import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { run_workers } from '../examples/workers.js';
import { within } from './_helpers.js';
import { find_pythons } from './py/pythons.js';

test('examples/workers: Python workers take jobs from a Node server', async () => {
  if (find_pythons().machine === null) {
    console.log('\n  SKIP examples/workers: no python3 on this machine');
    return;
  }
  const lines: string[] = [];
  const ok = await within(run_workers(2, 6, (line) => lines.push(line)), 20000, 'workers example');
  assert.ok(ok, lines.join('\n'));
  assert.match(lines.at(-1)!, /^6 results from \d workers; 0 wrong; worker exit codes 0, 0$/);
});

test.run();
