/**
 * The yoton stop of the tour (`npm start`): three Node contexts on loopback, no Python
 * needed. A hub binds twice (one peer per bind), a publisher and a calculator join; news
 * flows over pub/sub through the hub, calls over req/rep, and a state reaches a late joiner.
 * Every answer is checked; a failed check throws. Everything is closed at the end.
 *
 * @module
 */

import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Engine } from '../lib/index.js';
// In your own code: `from 'trousers/yoton'`.
import { Context, PubChannel, ReqChannel, StateChannel, SubChannel, YotonRemoteError } from '../lib/yoton/index.js';
import { Calculator } from './yoton_rpc.js';

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`yoton tour: ${what}`);
}

/**
 * Runs the yoton tour on `engine`, narrating through `log`.
 * @throws Error when a check fails
 */
export async function tour(engine: Engine, log: (line: string) => void): Promise<void> {
  const hub = new Context({ engine });
  const alice = new Context({ engine });
  const calc = new Context({ engine });
  try {
    const first = hub.bind('localhost:0');
    await first.bound();
    await alice.connect(`localhost:${first.port1}`);
    const second = hub.bind('localhost:0');
    await second.bound();
    await calc.connect(`localhost:${second.port1}`);
    log(`yoton: hub bound twice (ports ${first.port1}, ${second.port1}); alice and calc joined`);

    // pub/sub through the hub: calc publishes, alice (two hops away) subscribes
    const news = new PubChannel(calc, 'news');
    const reader = new SubChannel(alice, 'news');
    for (const item of ['héllo', 'wörld', '✓']) void news.send(item);
    const got = [await reader.recv(2000), await reader.recv(2000), await reader.recv(2000)];
    check(isDeepStrictEqual(got, ['héllo', 'wörld', '✓']), `pub/sub gave ${JSON.stringify(got)}`);
    log(`yoton: pub/sub over two hops: ${got.join(' ')}`);

    // req/rep: alice calls the calculator
    const rep = new Calculator(calc, 'calc');
    rep.set_mode('event');
    const req = new ReqChannel(alice, 'calc');
    const sum = await req.call('add', 3, 4).result(2000);
    check(sum === 7, `add(3, 4) gave ${String(sum)}`);
    const err = await req.call('div', 1, 0).result(2000).then(
      () => null,
      (e: unknown) => e,
    );
    check(err instanceof YotonRemoteError && err.message.startsWith('division by zero'), `div(1, 0) gave ${String(err)}`);
    log(`yoton: req/rep: add(3, 4) = ${String(sum)}; div(1, 0) -> ${(err as Error).message.split('\n')[0]}`);

    // state: set before a newcomer joins, and the newcomer still gets it
    const status = new StateChannel(hub, 'status');
    status.send('open for business');
    const late = new Context({ engine });
    const watcher = new StateChannel(late, 'status');
    const third = hub.bind('localhost:0');
    await third.bound();
    await late.connect(`localhost:${third.port1}`);
    for (let i = 0; i < 200 && watcher.recv() !== 'open for business'; i++) await new Promise((r) => setTimeout(r, 5));
    check(watcher.recv() === 'open for business', `late joiner saw ${JSON.stringify(watcher.recv())}`);
    log(`yoton: a late joiner got the state: ${watcher.recv()}`);
    late.close();
  } finally {
    hub.close();
    alice.close();
    calc.close();
  }
}

// The command line: `node dist/examples/yoton_tour.js`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const engine = new Engine();
  tour(engine, (line) => console.log(line))
    .then(() => engine.stop({ timeout: 2000 }))
    .then(
      () => console.log('yoton tour: all checks passed'),
      async (err: Error) => {
        console.error(err.message);
        await engine.stop({ timeout: 1000 });
        process.exitCode = 1;
      },
    );
}
