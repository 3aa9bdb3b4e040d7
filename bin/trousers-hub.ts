#!/usr/bin/env node
/**
 * `trousers-hub`: runs the embedded Redis-compatible hub of `trousers/group` in its own
 * process, for groups of Node and Python processes on one machine with nothing installed.
 *
 * ```
 * npx trousers-hub                    # 127.0.0.1:6379
 * npx trousers-hub --port 6390
 * npx trousers-hub --host 0.0.0.0 --port 6390
 * npx trousers-hub --unix /tmp/hub.sock
 * ```
 *
 * It prints one line once it listens (`trousers-hub listening on 127.0.0.1:6390`) and stops
 * on SIGINT / SIGTERM.
 *
 * @module
 */

import { Engine, type Address } from '../lib/index.js';
import { serve_hub } from '../lib/group/index.js';

const USAGE = 'usage: trousers-hub [--host HOST] [--port PORT] [--unix PATH]';

/** Parses the command line into an address; throws with the usage on nonsense. */
function parse_args(argv: readonly string[]): Address {
  let host = '127.0.0.1';
  let port = 6379;
  let unix: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = argv[i + 1];
    if (arg === '--help' || arg === '-h') throw new Error(USAGE);
    if (value === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
    if (arg === '--port' || arg === '-p') {
      port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port ${value}\n${USAGE}`);
    } else if (arg === '--host') host = value;
    else if (arg === '--unix') unix = value;
    else throw new Error(`unknown option ${arg}\n${USAGE}`);
    i++;
  }
  return unix ?? [host, port];
}

async function main(): Promise<void> {
  let address: Address;
  try {
    address = parse_args(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const engine = new Engine();
  const hub = await serve_hub(address, { engine });
  const where = hub.address;
  process.stdout.write(`trousers-hub listening on ${typeof where === 'string' ? where : `${where[0]}:${where[1]}`}\n`);
  const stop = (): void => {
    void hub.stop().then(() => engine.stop());
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await engine.start();
}

main().catch((err: unknown) => {
  process.stderr.write(`trousers-hub: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
