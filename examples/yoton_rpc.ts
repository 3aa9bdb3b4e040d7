/**
 * An RPC service over req/rep: a {@link Calculator} replier and a client calling it. Run
 * several servers and the calls spread over them (yoton's pre-request load balancing);
 * Python clients call it too: `yoton.ReqChannel(ct, 'calc').add(3, 4).result(1.0)`.
 *
 * ```
 * node dist/examples/yoton_rpc.js serve           # binds localhost:yoton-rpc
 * node dist/examples/yoton_rpc.js call add 3 4    # prints 7
 * ```
 *
 * @module
 */

import { fileURLToPath } from 'node:url';
import type { Engine } from '../lib/index.js';
// In your own code: `from 'trousers/yoton'`.
import { Context, RepChannel, ReqChannel, tuple, type Tuple } from '../lib/yoton/index.js';

/** The service: each method is callable remotely; a method may be async. */
export class Calculator extends RepChannel {
  /** Adds two numbers. */
  add(a: number, b: number): number {
    return a + b;
  }
  /** Divides, failing on zero (the caller gets a YotonRemoteError). */
  div(a: number, b: number): number {
    if (b === 0) throw new RangeError('division by zero');
    return a / b;
  }
  /** Sums a list after a little (pretend) work. */
  async sum(values: number[]): Promise<number> {
    await new Promise((r) => setTimeout(r, 5));
    return values.reduce((s, v) => s + v, 0);
  }
  /** Splits a number into (quotient, remainder): tuples cross over as Python tuples. */
  divmod(a: number, b: number): Tuple<number> {
    return tuple(Math.floor(a / b), a % b);
  }
}

/** Starts a calculator service bound at `address`; resolves with its context and port. */
export async function serve(address: string, engine?: Engine): Promise<{ context: Context; port: number }> {
  const context = new Context(engine ? { engine } : {});
  const rep = new Calculator(context, 'calc');
  rep.set_mode('event');
  const port = await keep_binding(context, address);
  return { context, port };
}

/** Binds at `address`, and again at the same port each time a client has arrived (one peer per bind). */
async function keep_binding(context: Context, address: string): Promise<number> {
  const conn = context.bind(address);
  await conn.bound();
  conn.connected.bind(() => void keep_binding(context, `localhost:${conn.port1}`).catch(() => {}));
  return conn.port1;
}

/** Connects a client to `address`; call with `client.req.call('add', 3, 4)`. */
export async function client(address: string, engine?: Engine): Promise<{ context: Context; req: ReqChannel }> {
  const context = new Context(engine ? { engine } : {});
  const req = new ReqChannel(context, 'calc');
  await context.connect(address, { timeout: 3000 });
  return { context, req };
}

// The command line.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [mode = 'serve', ...rest] = process.argv.slice(2);
  const address = process.env['YOTON_RPC'] ?? 'localhost:yoton-rpc';
  if (mode === 'serve') {
    serve(address).then(
      ({ port }) => console.log(`calculator on port ${port}; try: yoton_rpc.js call add 3 4`),
      (err: Error) => {
        console.error(`yoton rpc: ${err.message}`);
        process.exitCode = 1;
      },
    );
  } else {
    const [name = 'add', ...args] = rest;
    client(address)
      .then(async ({ context, req }) => {
        try {
          console.log(await req.call(name, ...args.map(Number)).result(3000));
        } finally {
          context.close();
        }
      })
      .catch((err: Error) => {
        console.error(`yoton rpc: ${err.message}`);
        process.exitCode = 1;
      });
  }
}
