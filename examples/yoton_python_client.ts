/**
 * A Node client of a Python yoton publisher: Node connects to a Python context, subscribes
 * to its `news` slot and prints what it publishes. The Python side (any Python, 2.7 to 3.13,
 * with pyzo's yoton on `PYTHONPATH`):
 *
 * ```python
 * import time, yoton
 * ct = yoton.Context()
 * conn = ct.bind('localhost:yoton-news')   # Debian's yoton listens one port higher:
 * print(conn.port1)                        # ...so tell the client this port
 * pub = yoton.PubChannel(ct, 'news')
 * while not conn.is_connected: time.sleep(0.01)
 * for i in range(5):
 *     pub.send(u'news item %i \u2713' % i); time.sleep(0.1)
 * ```
 *
 * ```
 * node dist/examples/yoton_python_client.js localhost:<port1>
 * node dist/examples/yoton_python_client.js --spawn     # starts that publisher itself
 * ```
 *
 * With `--spawn` it runs the publisher above with `python3` and the yoton that
 * `npm run peers` unpacked into `.peers/pyzo`.
 *
 * @module
 */

import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
// In your own code: `from 'trousers/yoton'`.
import { Context, SubChannel } from '../lib/yoton/index.js';

/** The Python publisher `--spawn` runs (argv[1]: the folder holding the `yoton` package). */
export const PUBLISHER = `
import sys, time
sys.path.insert(0, sys.argv[1])
import yoton
ct = yoton.Context()
conn = ct.bind('localhost:yoton-news', max_tries=5)
sys.stdout.write('%i\\n' % conn.port1); sys.stdout.flush()
pub = yoton.PubChannel(ct, 'news')
while not conn.is_connected: time.sleep(0.01)
time.sleep(0.1)
for i in range(5):
    pub.send(u'news item %i \\u2713' % i); time.sleep(0.1)
pub.send(u'that is all')
time.sleep(0.5)
`;

/** Subscribes to `news` at `address` and prints items until "that is all" or `count` items. */
export async function listen(address: string, count = Infinity, print = console.log): Promise<void> {
  const ctx = new Context();
  const news = new SubChannel(ctx, 'news');
  try {
    await ctx.connect(address, { timeout: 3000 });
    for (let n = 0; n < count; n++) {
      const item = await news.recv(5000);
      if (item === '' || item === 'that is all') break;
      print(item);
    }
  } finally {
    ctx.close();
  }
}

// The command line.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = process.argv[2] ?? '--spawn';
  if (arg === '--spawn') {
    const yoton = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../.peers/pyzo/usr/share/pyzo/pyzo');
    const py = spawn('python3', ['-c', PUBLISHER, yoton], { stdio: ['ignore', 'pipe', 'inherit'] });
    py.stdout.once('data', (port: Buffer) => {
      listen(`localhost:${Number(String(port).trim())}`).catch((err: Error) => {
        console.error(`yoton client: ${err.message}`);
        process.exitCode = 1;
      });
    });
    py.on('error', (err) => console.error(`cannot start python3: ${err.message}`));
  } else {
    listen(arg).catch((err: Error) => {
      console.error(`yoton client: ${err.message}`);
      process.exitCode = 1;
    });
  }
}
