/**
 * Runs last (uvu sorts spec files by name): after every other spec, no socket, server,
 * UDP socket, child process or file handle may be left open, and the default engine holds
 * no channel.
 */

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Engine } from '../lib/index.js';

const LEAKY = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TCPWrap', 'PipeWrap', 'PipeServerWrap', 'UDPWrap', 'ProcessWrap', 'FileHandle', 'TLSWrap', 'JSStreamSocket']);

/**
 * Pipes open when the spec files are loaded (before any test runs): the process's own stdio
 * when its output goes to a pipe. Those are not the specs' to close.
 */
void process.stdout; // (stdio handles are created on first use)
void process.stderr;
const stdio_pipes = process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap').length;

/** Lets pending close callbacks run: a few turns of the event loop. */
async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

test('no socket, server, child process or file handle is left open by the specs', async () => {
  await settle();
  let pipes = stdio_pipes;
  const leaked = process.getActiveResourcesInfo().filter((r) => LEAKY.has(r) && !(r === 'PipeWrap' && pipes-- > 0));
  assert.equal(leaked, [], `leaked handles: ${leaked.join(', ')}`);
});

test('the default engine holds no channel after the specs', () => {
  assert.is(Engine.instance().channels.size, 0);
});

test.run();
