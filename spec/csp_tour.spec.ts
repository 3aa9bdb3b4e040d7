/**
 * The csp stop of the tour (examples/csp_tour.ts) runs, passes its own checks and leaves
 * nothing open on its engine.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Engine } from '../lib/index.js';
import { tour } from '../examples/csp_tour.js';
import { within } from './_helpers.js';

test('the csp tour runs and closes everything', async () => {
  const engine = new Engine();
  const lines: string[] = [];
  await within(tour(engine, (l) => lines.push(l)), 20000, 'tour');
  assert.is(lines.length, 4);
  assert.match(lines[2]!, /sum = 338350/);
  assert.is(engine.channels.size, 0);
});

test.run();
