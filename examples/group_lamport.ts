/**
 * Lamport's mutual exclusion over 3 processes (the book's `06-11/process.py`): a process
 * that wants the critical section timestamps an ENTER request with its Lamport clock and
 * sends it to the others; each queues it and answers ALLOW; the requester enters once its
 * request heads its queue (ordered by clock, then pid) and every other process has allowed
 * it; leaving, it sends RELEASE. Messages are tuples `(clock, pid, kind)` with the book's
 * string constants.
 *
 * Each process enters the section `rounds` times and, inside it, appends "enter <pid>" and
 * "exit <pid>" to the Redis list `cs_log`: mutual exclusion holds exactly when that log
 * alternates enter/exit of one pid at a time. Then it sends DONE and keeps answering until
 * every other process is done too.
 *
 * Run: `node dist/examples/group_lamport.js [address] [rounds]` (no address: an embedded hub).
 *
 * @module
 */

import { Engine, type Address } from '../lib/index.js';
// In your own code: `from 'trousers/group'` and `from 'trousers/pickle'`.
import { Channel, serve_hub } from '../lib/group/index.js';
import { tuple, Tuple } from '../lib/pickle/index.js';
import { is_main, member_args, parse_address_text, report, run_member, type MemberResult } from './group_procs.js';

const ENTER = '0';
const ALLOW = '1';
const RELEASE = '2';
const DONE = '3';
const PROCESSES = 3;

type Request = [clock: number, pid: number];

function before(a: Request, b: Request): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/** One process of the algorithm; resolves when every process is done. */
async function lamport(chan: Channel, rounds: number): Promise<number> {
  const me = Number(chan.pid);
  const others = (await chan.subgroup('proc')).filter((p) => Number(p) !== me);
  let clock = 0;
  let queue: Request[] = [];
  let mine: Request | null = null;
  let allowed = new Set<string>();
  const done = new Set<string>();
  let left = rounds;
  let entered = 0;
  const send = (to: string[], kind: string): Promise<void> => {
    clock++;
    return chan.sendTo(to, tuple<unknown>(clock, me, kind));
  };
  for (;;) {
    if (mine === null && left > 0) {
      clock++;
      mine = [clock, me];
      queue.push(mine);
      allowed = new Set();
      await chan.sendTo(others, tuple<unknown>(clock, me, ENTER));
    }
    if (mine !== null && allowed.size === others.length && queue.every((r) => r === mine || before(mine!, r))) {
      // The critical section.
      await chan.redis.command('RPUSH', 'cs_log', `enter ${me}`);
      await chan.redis.command('RPUSH', 'cs_log', `exit ${me}`);
      entered++;
      queue = queue.filter((r) => r !== mine);
      mine = null;
      left--;
      await send(others, RELEASE);
      if (left === 0) await send(others, DONE);
      continue;
    }
    if (left === 0 && done.size === others.length) return entered;
    const [sender, message] = (await chan.recvFrom(others))!;
    const [stamp, pid, kind] = [...(message as Tuple)] as [number, number, string];
    clock = Math.max(clock, stamp) + 1;
    if (kind === ENTER) {
      queue.push([stamp, pid]);
      await send([sender], ALLOW);
    } else if (kind === ALLOW) {
      allowed.add(sender);
    } else if (kind === RELEASE) {
      queue = queue.filter((r) => r[1] !== pid);
    } else if (kind === DONE) {
      done.add(sender);
    }
  }
}

/** Runs 3 processes for `rounds` critical sections each; resolves with their reports and the log. */
export async function run(address: Address, rounds = 5): Promise<{ members: MemberResult[]; log: string[] }> {
  const engine = new Engine();
  const chan = new Channel({ redis: address, engine });
  await chan.redis.command('FLUSHALL');
  const pids: string[] = [];
  for (let i = 0; i < PROCESSES; i++) pids.push(await new Channel({ redis: chan.redis }).join('proc'));
  const members = await Promise.all(pids.map((pid) => run_member(import.meta.url, 'proc', pid, address, [String(rounds)])));
  const log = ((await chan.redis.command('LRANGE', 'cs_log', 0, -1)) as Buffer[]).map(String);
  await chan.close();
  return { members, log };
}

/** True when the log alternates "enter p" / "exit p": never two processes inside at once. */
export function mutually_exclusive(log: readonly string[]): boolean {
  if (log.length % 2 !== 0) return false;
  for (let i = 0; i < log.length; i += 2) {
    const [a, b] = [log[i]!.split(' '), log[i + 1]!.split(' ')];
    if (a[0] !== 'enter' || b[0] !== 'exit' || a[1] !== b[1]) return false;
  }
  return true;
}

async function member(): Promise<void> {
  const args = member_args()!;
  const chan = new Channel({ redis: args.address });
  chan.bind(args.pid);
  try {
    report({ entered: await lamport(chan, Number(args.extra[0])) });
  } finally {
    await chan.close();
  }
}

async function main(): Promise<void> {
  const given = process.argv[2];
  const hub = given === undefined || given === '-' ? await serve_hub(['127.0.0.1', 0]) : null;
  const { members, log } = await run(hub?.address ?? parse_address_text(given!), Number(process.argv[3] ?? 5));
  console.log(log.join('\n'));
  console.log(mutually_exclusive(log) ? 'mutual exclusion held' : 'MUTUAL EXCLUSION VIOLATED');
  await hub?.stop();
  if (members.some((m) => m.code !== 0) || !mutually_exclusive(log)) process.exitCode = 1;
}

if (is_main(import.meta.url)) {
  (member_args() !== null ? member() : main()).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
