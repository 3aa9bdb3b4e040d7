/**
 * Runs last (uvu sorts spec files by name): after every other spec, no socket, server,
 * UDP socket, child process or file handle may be left open, and the default engine holds
 * no channel.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Engine } from '../lib/index.js';

// PipeWrap is not listed: the process's own stdio pipes come and go under it (child
// processes' pipes go with their ProcessWrap, which is listed).
const LEAKY = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TCPWrap', 'PipeServerWrap', 'UDPWrap', 'ProcessWrap', 'FileHandle', 'TLSWrap', 'JSStreamSocket']);

/** Lets pending close callbacks run: a few turns of the event loop. */
async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

test('no socket, server, child process or file handle is left open by the specs', async () => {
  await settle();
  const leaked = process.getActiveResourcesInfo().filter((r) => LEAKY.has(r));
  assert.equal(leaked, [], `leaked handles: ${leaked.join(', ')}`);
});

test('the default engine holds no channel after the specs', () => {
  assert.is(Engine.instance().channels.size, 0);
});

test.run();
