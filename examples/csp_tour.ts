/**
 * The csp stop of the tour (`npm start`): PyCSP channels on loopback, Node only. A
 * rendezvous and an alternation in this process, a pipeline whose middle stage runs in a
 * child Node process (speaking PyCSP's wire format to this one) and ends by retire, and the
 * dining philosophers. Every result is checked; a failed check throws. `shutdown()` at the
 * end leaves no socket, timer or child process.
 *
 * @module
 */

import { fileURLToPath } from 'node:url';
import { Engine } from '../lib/index.js';
// In your own code: `from 'trousers/csp'`.
import { AltSelect, Channel, configure, InputGuard, retire, shutdown, TimeoutGuard } from '../lib/csp/index.js';
import { dine } from './csp_philosophers.js';
import { run_pipeline } from './csp_pipeline.js';

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`csp tour: ${what}`);
}

/**
 * Runs the csp tour on `engine`, narrating through `log`.
 * @throws Error when a check fails
 */
export async function tour(engine: Engine, log: (line: string) => void): Promise<void> {
  configure({ engine });
  try {
    const c = new Channel('tour');
    await c.ready();
    const cin = c.reader(), cout = c.writer();
    const sent = cout.write({ hello: 'csp' });
    const got = (await cin.read()) as { hello: string };
    await sent;
    check(got.hello === 'csp', 'rendezvous');
    log(`csp: channel "tour" hosted at ${c.address!.join(':')}; a rendezvous passed ${JSON.stringify(got)}`);

    const quiet = new Channel();
    const qin = quiet.reader();
    const pending = cout.write('picked');
    const [chosen, value] = await AltSelect(new InputGuard(qin), new InputGuard(cin), new TimeoutGuard(2000));
    await pending;
    check(chosen === cin && value === 'picked', 'alternation');
    log('csp: AltSelect chose the ready channel over a quiet one and a timeout');
    await retire(cin, cout, qin);

    const total = await run_pipeline(100);
    check(total === 338350, `pipeline sum ${total}`);
    log(`csp: numbers -> square (child process) -> sum = ${total}, shut down by retire`);

    const meals = await dine(10);
    check(meals.every((m) => m === 10), `philosophers ate ${meals.join(',')}`);
    log(`csp: five philosophers ate ${meals.join(' ')} meals, no deadlock`);
  } finally {
    await shutdown();
    configure({ engine: undefined });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const engine = new Engine();
  await tour(engine, (line) => console.log(line));
}
