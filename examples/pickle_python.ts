/**
 * Node and Python exchanging objects: a Node listener with `codec: 'pickle'`, and a Python
 * client using nothing but `multiprocessing.connection` and its own `send`/`recv`.
 *
 * The Python side (started here under `python3`, the same code you would write by hand):
 *
 * ```python
 * from multiprocessing.connection import Client
 * conn = Client(('127.0.0.1', port), authkey=b'secret')
 * conn.send({'op': 'sum', 'args': (1, 2, 3), 'tag': b'\x00\x01'})
 * print(conn.recv())          # {'op': 'sum', 'result': 6, 'seen': {'args', 'op', 'tag'}}
 * ```
 *
 * Run: `npx tsc -p tsconfig.json && node dist/examples/pickle_python.js`. Exits 0 when the
 * answer came back right (and says so, exiting 0, when there is no `python3`).
 *
 * @module
 */

import { spawn, spawnSync } from 'node:child_process';
// In your own code: `from 'trousers/connection'` and `from 'trousers/pickle'`.
import { listen } from '../lib/connection/index.js';
import { Tuple } from '../lib/pickle/index.js';

const PYTHON = `
import sys
from multiprocessing.connection import Client
conn = Client(('127.0.0.1', int(sys.argv[1])), authkey=b'secret')
conn.send({'op': 'sum', 'args': (1, 2, 3), 'tag': b'\\x00\\x01'})
reply = conn.recv()
assert reply == {'op': 'sum', 'result': 6, 'seen': set(['args', 'op', 'tag'])}, reply
print('python got %r' % (reply,))
conn.close()
`;

async function main(): Promise<void> {
  if (spawnSync('python3', ['-c', 'pass']).status !== 0) {
    console.log('pickle_python: no python3 on this machine; nothing to show');
    return;
  }
  const listener = await listen(['127.0.0.1', 0], { authkey: 'secret', codec: 'pickle' });
  const port = (listener.address as [string, number])[1];
  const python = spawn('python3', ['-c', PYTHON, String(port)], { stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => python.once('close', resolve));
  try {
    const conn = await listener.accept();
    // a Python dict arrives as a Map; its tuple as a Tuple; its bytes as a Buffer
    const request = (await conn.recv()) as Map<string, unknown>;
    const args = request.get('args') as Tuple<number>;
    console.log('node got', request);
    const result = args.reduce((a, b) => a + b, 0);
    await conn.send(new Map<string, unknown>([['op', request.get('op')], ['result', result], ['seen', new Set(request.keys())]]));
    conn.close();
    const code = await exited;
    if (code !== 0) throw new Error(`python exited with ${code}`);
    console.log('pickle_python: done');
  } finally {
    listener.close();
    python.kill();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
