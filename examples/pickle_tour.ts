/**
 * The pickle stop of the tour (`npm start`), Node only, on loopback: values travel as Python
 * pickles between two `trousers/connection` ends with `codec: 'pickle'` (what a Python peer's
 * `Connection.send`/`recv` speak); then `loads`/`dumps` directly, every protocol; then a
 * hostile pickle is refused without harming the connection. Every check throws when it fails;
 * everything is closed at the end.
 *
 * @module
 */

import { fileURLToPath } from 'node:url';
import { Engine } from '../lib/index.js';
// In your own code: `from 'trousers/connection'` and `from 'trousers/pickle'`.
import { connect, listen } from '../lib/connection/index.js';
import { ByteArray, FrozenSet, Tuple, UnpicklingError, dumps, float, loads, tuple } from '../lib/pickle/index.js';

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`pickle tour: ${what}`);
}

/**
 * Runs the pickle tour on `engine`, narrating through `log`.
 * @throws Error when a check fails
 */
export async function tour(engine: Engine, log: (line: string) => void): Promise<void> {
  const listener = await listen(['127.0.0.1', 0], { codec: 'pickle', engine });
  const client = await connect(listener.address, { codec: 'pickle', engine });
  const server = await listener.accept();
  try {
    // a Python-shaped message: tuple keys, a big int, a float that is integral, bytes, sets
    const shared = [1, 2, 3];
    const job = new Map<unknown, unknown>([
      ['id', 2n ** 64n],
      [tuple('x', 'y'), float(2)],
      ['payload', Buffer.from([0, 255])],
      ['tags', new Set(['a', 'b'])],
      ['frozen', new FrozenSet([1])],
      ['buf', new ByteArray([7])],
      ['twice', [shared, shared]],
    ]);
    await client.send(job);
    const got = (await server.recv()) as Map<unknown, unknown>;
    check(got.get('id') === 2n ** 64n, 'a 65-bit int arrives as a bigint');
    const key = [...got.keys()].find((k) => k instanceof Tuple) as Tuple;
    check(key !== undefined && key[0] === 'x' && got.get(key) === 2, 'a tuple key arrives as a Tuple');
    check(Buffer.isBuffer(got.get('payload')) && (got.get('payload') as Buffer).equals(Buffer.from([0, 255])), 'bytes arrive as a Buffer');
    check(got.get('tags') instanceof Set && got.get('frozen') instanceof FrozenSet && got.get('buf') instanceof ByteArray, 'set, frozenset, bytearray keep their types');
    const twice = got.get('twice') as unknown[][];
    check(twice[0] === twice[1], 'a list sent twice arrives as one list');
    log(`pickle: a dict with a tuple key, 2**64, bytes, sets and a shared list went over codec 'pickle' intact (${dumps(job).length} bytes, protocol 2)`);

    // a list that contains itself, back the other way
    const loop: unknown[] = ['me'];
    loop.push(loop);
    await server.send(loop);
    const back = (await client.recv()) as unknown[];
    check(back[1] === back, 'a recursive list keeps its cycle');
    log('pickle: a list containing itself came back as one');

    // every protocol, directly
    const sizes: string[] = [];
    for (const protocol of [0, 1, 2, 3, 4, 5] as const) {
      const data = dumps(job, { protocol });
      const again = loads(data) as Map<unknown, unknown>;
      check(again.get('id') === 2n ** 64n && again.size === job.size, `protocol ${protocol} round trip`);
      sizes.push(`${protocol}: ${data.length} B`);
    }
    log(`pickle: dumps/loads in every protocol (${sizes.join(', ')})`);

    // a hostile pickle: os.system('id') is refused, and the connection carries on
    await client.send_bytes(Buffer.from("cos\nsystem\n(S'id'\ntR.", 'latin1'));
    let refused: unknown;
    try {
      await server.recv();
    } catch (err) {
      refused = err;
    }
    check(refused instanceof UnpicklingError && refused.code === 'ERR_PICKLE_GLOBAL', 'a pickle naming os.system is refused');
    await client.send('still here');
    check((await server.recv()) === 'still here', 'the connection survives a refused pickle');
    log(`pickle: a pickle calling os.system was refused (${(refused as UnpicklingError).code}); the connection carried on`);
  } finally {
    client.close();
    server.close();
    listener.close();
  }
}

// The command line: `node dist/examples/pickle_tour.js`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const engine = new Engine();
  tour(engine, (line) => console.log(line))
    .then(() => engine.stop({ timeout: 2000 }))
    .then(
      () => console.log('pickle tour: all checks passed'),
      async (err: Error) => {
        console.error(err.message);
        await engine.stop({ timeout: 1000 });
        process.exitCode = 1;
      },
    );
}
