/**
 * The book's first channel example: one server and 10 clients, each its own process. The
 * driver joins everyone (as `doit.py` does before forking), then starts one Node process per
 * member; each binds to its pid. Every client sends "Hello from <pid>" to the server and
 * waits for "Received Hello from <pid>".
 *
 * Run: `node dist/examples/group_clientserver.js [address]` (no address: an embedded hub).
 *
 * ```python
 * # The same server in Python (spec/py/group_channel.py), in the same group:
 * chan = Channel(); me = chan.join('server')
 * while True:
 *     sender, msg = chan.recvFromAny()
 *     chan.sendTo([sender], 'Received ' + msg)
 * ```
 *
 * @module
 */

import { Engine, type Address } from '../lib/index.js';
// In your own code: `from 'trousers/group'`.
import { Channel, serve_hub } from '../lib/group/index.js';
import { is_main, member_args, parse_address_text, report, run_member, type MemberResult } from './group_procs.js';

const CLIENTS = 10;

/** The server: answers `clients` messages, then stops (the book's loops for ever). */
async function server(chan: Channel, clients: number): Promise<void> {
  for (let i = 0; i < clients; i++) {
    const [sender, message] = (await chan.recvFromAny())!;
    await chan.sendTo([sender], `Received ${String(message)}`);
  }
}

/** A client: hello to the server(s), then the answer. */
async function client(chan: Channel): Promise<void> {
  const servers = await chan.subgroup('server');
  await chan.sendTo(servers, `Hello from ${chan.pid}`);
  report(await chan.recvFrom(servers));
}

/**
 * Runs the example on `address`: joins a server and `clients` clients, runs each in its own
 * process, and resolves with what every member process reported.
 */
export async function run(address: Address, clients = CLIENTS): Promise<MemberResult[]> {
  const engine = new Engine();
  const chan = new Channel({ redis: address, engine });
  await chan.redis.command('FLUSHALL');
  const server_pid = await new Channel({ redis: chan.redis }).join('server');
  const client_pids: string[] = [];
  for (let i = 0; i < clients; i++) client_pids.push(await new Channel({ redis: chan.redis }).join('client'));
  await chan.close();
  return Promise.all([
    run_member(import.meta.url, 'server', server_pid, address, [String(clients)]),
    ...client_pids.map((pid) => run_member(import.meta.url, 'client', pid, address)),
  ]);
}

async function member(): Promise<void> {
  const args = member_args()!;
  const chan = new Channel({ redis: args.address });
  chan.bind(args.pid);
  try {
    if (args.role === 'server') await server(chan, Number(args.extra[0]));
    else await client(chan);
  } finally {
    await chan.close();
  }
}

async function main(): Promise<void> {
  const given = process.argv[2];
  const hub = given === undefined ? await serve_hub(['127.0.0.1', 0]) : null;
  const results = await run(hub?.address ?? parse_address_text(given!));
  for (const r of results) for (const line of r.output) console.log(`${r.role} ${r.pid}:`, JSON.stringify(line));
  await hub?.stop();
  if (results.some((r) => r.code !== 0)) process.exitCode = 1;
}

if (is_main(import.meta.url)) {
  (member_args() !== null ? member() : main()).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
