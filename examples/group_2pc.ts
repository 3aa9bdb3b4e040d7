/**
 * Two-phase commit (the book's `08-21/coordinator.py` and `participant.py`): the coordinator
 * asks every participant to vote, collects the votes with `recvFrom(participants, TIMEOUT)`,
 * and decides GLOBAL_COMMIT only if all voted VOTE_COMMIT in time; a participant that
 * crashed never answers, the coordinator's receive times out (null), and it decides
 * GLOBAL_ABORT. Participants wait for the decision and report it.
 *
 * Run: `node dist/examples/group_2pc.js [address] [--crash]` (no address: an embedded hub).
 *
 * @module
 */

import { Engine, type Address } from '../lib/index.js';
// In your own code: `from 'trousers/group'`.
import { Channel, serve_hub } from '../lib/group/index.js';
import { is_main, member_args, parse_address_text, report, run_member, type MemberResult } from './group_procs.js';

const VOTE_REQUEST = 'VOTE_REQUEST';
const VOTE_COMMIT = 'VOTE_COMMIT';
const GLOBAL_COMMIT = 'GLOBAL_COMMIT';
const GLOBAL_ABORT = 'GLOBAL_ABORT';
/** The coordinator's vote timeout, in ms (the book: 1 s). */
const TIMEOUT = 500;
const PARTICIPANTS = 3;

/** The coordinator: one round of votes, then the decision. */
async function coordinator(chan: Channel, timeout: number): Promise<string> {
  const participants = await chan.subgroup('participant');
  await chan.sendTo(participants, VOTE_REQUEST);
  let decision = GLOBAL_COMMIT;
  const waiting = new Set(participants);
  while (waiting.size > 0) {
    const vote = await chan.recvFrom([...waiting], timeout);
    if (vote === null) {
      decision = GLOBAL_ABORT; // someone crashed: no vote in time
      break;
    }
    waiting.delete(vote[0]);
    if (vote[1] !== VOTE_COMMIT) decision = GLOBAL_ABORT;
  }
  await chan.sendTo(participants, decision);
  return decision;
}

/** A participant: votes to commit, then reports the decision. */
async function participant(chan: Channel): Promise<string> {
  const [coordinator_pid] = await chan.subgroup('coordinator');
  const request = await chan.recvFrom([coordinator_pid!]);
  if (request?.[1] === VOTE_REQUEST) await chan.sendTo([coordinator_pid!], VOTE_COMMIT);
  const decision = await chan.recvFrom([coordinator_pid!]);
  return String(decision![1]);
}

/**
 * Runs a coordinator and 3 participants in their own processes; with `crash`, the last
 * participant dies right after binding, before it can vote.
 */
export async function run(address: Address, crash: boolean, timeout = TIMEOUT): Promise<MemberResult[]> {
  const engine = new Engine();
  const chan = new Channel({ redis: address, engine });
  await chan.redis.command('FLUSHALL');
  const coordinator_pid = await new Channel({ redis: chan.redis }).join('coordinator');
  const pids: string[] = [];
  for (let i = 0; i < PARTICIPANTS; i++) pids.push(await new Channel({ redis: chan.redis }).join('participant'));
  await chan.close();
  return Promise.all([
    run_member(import.meta.url, 'coordinator', coordinator_pid, address, [String(timeout)]),
    ...pids.map((pid, i) => run_member(import.meta.url, crash && i === PARTICIPANTS - 1 ? 'crash' : 'participant', pid, address)),
  ]);
}

async function member(): Promise<void> {
  const args = member_args()!;
  if (args.role === 'crash') process.exit(3); // dies before it can vote
  const chan = new Channel({ redis: args.address });
  chan.bind(args.pid);
  try {
    if (args.role === 'coordinator') report({ decision: await coordinator(chan, Number(args.extra[0])) });
    else report({ decision: await participant(chan) });
  } finally {
    await chan.close();
  }
}

async function main(): Promise<void> {
  const positional = process.argv.slice(2).filter((a) => a !== '--crash');
  const hub = positional[0] === undefined ? await serve_hub(['127.0.0.1', 0]) : null;
  const results = await run(hub?.address ?? parse_address_text(positional[0]!), process.argv.includes('--crash'));
  for (const r of results) console.log(`${r.role} ${r.pid}: exit ${r.code}`, r.output.map((o) => JSON.stringify(o)).join(' '));
  await hub?.stop();
}

if (is_main(import.meta.url)) {
  (member_args() !== null ? member() : main()).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
