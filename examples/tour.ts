/**
 * The tour: starts each example on loopback, talks to it, and checks every answer.
 *
 * What it runs, in order:
 * 1. `echo_server` with `client` (TCP), 2. `chat_server`, 3. `udp_service`, 4. `unix_daemon`
 *    (with `client` over a Unix socket), 5. `binary_protocol`, 6. `starttls_lines` (a line
 *    protocol upgraded to TLS in place), 7. `workers` (Python worker processes over
 *    `trousers/connection`; when there is no `python3` it says so and counts as skipped, not
 *    passed), then 8. the messaging layers' own tours (`examples/<layer>_tour.ts`, see
 *    {@link LAYER_TOURS}: pickle, yoton, csp, and group on the embedded Redis-compatible hub,
 *    which drives the `trousers/redis` client too).
 *
 * Everything runs on 127.0.0.1 with ports the OS picks (port 0) and a Unix socket in a fresh
 * temp directory: nothing outside is contacted. The engine's channels belong to one dedicated
 * {@link Engine}, so a single `await engine.stop()` at the end closes every server and
 * client; the workers' Python processes are waited for; the process then exits by itself.
 *
 * Run it with `npm start` (which builds first), or `node dist/examples/tour.js`.
 * It prints what happens, exits 0 when every check passed and 1 otherwise, and gives up
 * (failing) if the whole tour takes longer than 60 s.
 *
 * @module
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual, inspect } from 'node:util';
// In your own code: `from 'trousers'`.
import { Client, Datagram, Engine, type Address, type InetAddress } from '../lib/index.js';
import * as binary from './binary_protocol.js';
import * as chat from './chat_server.js';
import * as client from './client.js';
import * as echo from './echo_server.js';
import * as daemon from './unix_daemon.js';
import * as starttls from './starttls_lines.js';
import * as udp from './udp_service.js';
import { run_workers } from './workers.js';
import { tour as csp_tour } from './csp_tour.js';
import { tour as group_tour } from './group_tour.js';
import { tour as pickle_tour } from './pickle_tour.js';
import { tour as yoton_tour } from './yoton_tour.js';

/**
 * The messaging layers' tours, run after the engine's examples, in this order. Each is
 * `examples/<layer>_tour.ts`, exporting `tour(engine, log): Promise<void>`, which throws if a
 * check fails and leaves nothing open. The group tour runs on the embedded hub and drives the
 * `trousers/redis` client as well. (This list is the one place to add a layer's tour.)
 */
export const LAYER_TOURS: readonly { name: string; tour: LayerTour['tour'] }[] = [
  { name: 'pickle', tour: pickle_tour },
  { name: 'yoton', tour: yoton_tour },
  { name: 'csp', tour: csp_tour },
  { name: 'group', tour: group_tour },
];

/** What a layer's tour module exports. */
interface LayerTour {
  tour(engine: Engine, log: (line: string) => void): Promise<void>;
}

/** Options of {@link run_tour}. */
export interface TourOptions {
  /** Where the narrative goes; default `console.log`. */
  log?: (line: string) => void;
  /** Give up (and fail) after this many ms; default 60000. */
  timeout?: number;
}

/** `['127.0.0.1', port]` of a channel listening on loopback. */
function loopback(channel: { local_address: unknown }): Address {
  return ['127.0.0.1', (channel.local_address as InetAddress).port];
}

const show = (value: unknown): string => inspect(value, { breakLength: Infinity });

/**
 * A chat member for the tour: collects the lines the server sends and lets us wait for
 * the next one that matches.
 */
class ChatMember extends Client {
  private readonly lines: string[] = [];
  private wanted: { test(line: string): boolean; resolve(line: string): void; reject(err: Error): void } | null = null;

  override on_connect(): void {
    this.read_delimiter = '\n';
    this.encoding = 'utf8';
  }

  override on_read(line: string): void {
    this.lines.push(line);
    this.check();
  }

  override on_close(): void {
    this.wanted?.reject(new Error('chat connection closed'));
    this.wanted = null;
  }

  /** Resolves with the first line (received, or still to come) that passes `test`, dropping those before it. */
  expect(test: (line: string) => boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      this.wanted = { test, resolve, reject };
      this.check();
    });
  }

  private check(): void {
    while (this.wanted !== null && this.lines.length > 0) {
      const line = this.lines.shift()!;
      if (this.wanted.test(line)) {
        const { resolve } = this.wanted;
        this.wanted = null;
        resolve(line);
      }
    }
  }
}

/** A UDP client for the tour: sends one packet, resolves with the reply packet. */
class Asker extends Datagram {
  private waiting: { resolve(reply: string): void; reject(err: Error): void } | null = null;

  ask(question: string, to: Address): Promise<string> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.write(question, to); // the first write binds an ephemeral port
    });
  }

  override on_read(reply: Buffer): void {
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.resolve(reply.toString('utf8').trimEnd());
  }

  override on_close(): void {
    this.waiting?.reject(new Error('udp socket closed'));
    this.waiting = null;
  }
}

/**
 * Runs the tour.
 * @returns true when every check passed
 */
export async function run_tour(options: TourOptions = {}): Promise<boolean> {
  const log = options.log ?? ((line: string) => console.log(line));
  const limit = options.timeout ?? 60_000;
  const engine = new Engine();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trousers-tour-')); // for the Unix socket
  const began = Date.now();
  let passed = 0;
  let failed = 0;
  const skipped: string[] = [];
  let abandoned = false;

  /** Narrates one step; once the tour has been given up, ends the steps instead. */
  const say = (line: string): void => {
    if (abandoned) throw new Error('tour abandoned');
    log(line);
  };

  /** Prints one result line and counts it. */
  const check = (what: string, got: unknown, expected: unknown, shown = show(got)): void => {
    if (abandoned) throw new Error('tour abandoned');
    if (isDeepStrictEqual(got, expected)) {
      passed++;
      say(`${what} -> got ${shown} ✓`);
    } else {
      failed++;
      say(`${what} -> got ${shown}, expected ${show(expected)} ✗`);
    }
  };

  const steps = async (): Promise<void> => {
    // ---------------------------------------------------------------- echo + client
    const echo_server = await echo.start(['127.0.0.1', 0], { engine });
    say(`echo: server listening on 127.0.0.1:${(echo_server.local_address as InetAddress).port}`);
    const replies = await client.start(loopback(echo_server), ['hello', 'trousers ✂'], { engine }).done;
    check("echo: sent 'hello'", replies[0], 'hello');
    check("echo: sent 'trousers ✂'", replies[1], 'trousers ✂');

    // ---------------------------------------------------------------- chat
    const room = await chat.start(['127.0.0.1', 0], { engine });
    say(`chat: room open on 127.0.0.1:${(room.local_address as InetAddress).port}`);
    const alice = new ChatMember({ engine }).connect(loopback(room));
    await alice.expect((l) => l.startsWith('* welcome'));
    alice.write('/nick alice\n');
    check("chat: alice sends '/nick alice'", await alice.expect((l) => l.startsWith('* you are')), '* you are now alice');
    const bob = new ChatMember({ engine }).connect(loopback(room));
    await bob.expect((l) => l.startsWith('* welcome'));
    bob.write('/nick bob\n');
    await bob.expect((l) => l.startsWith('* you are'));
    check("chat: bob joins, says '/nick bob'; alice sees", await alice.expect((l) => l.includes(' is now ')), '* guest2 is now bob');
    alice.write('hi bob\n');
    check("chat: alice says 'hi bob'; bob sees", await bob.expect((l) => l.startsWith('<')), '<alice> hi bob');
    bob.write('/who\n');
    check("chat: bob says '/who'", await bob.expect((l) => l.startsWith('* online')), '* online: alice, bob');
    bob.write('/quit\n');
    check("chat: bob says '/quit'; alice sees", await alice.expect((l) => l.endsWith(' left')), '* bob left');

    // ---------------------------------------------------------------- udp
    const service = await udp.start(['127.0.0.1', 0], { engine });
    say(`udp: service bound to 127.0.0.1:${service.local_address!.port}`);
    const asker = new Asker({ engine });
    check("udp: sent 'ping'", await asker.ask('ping', loopback(service)), 'pong');
    check("udp: sent 'upper pants'", await asker.ask('upper pants', loopback(service)), 'PANTS');
    check("udp: sent 'stats'", await asker.ask('stats', loopback(service)), 'served 3 packets from 1 senders');

    // ---------------------------------------------------------------- unix daemon
    const sock = path.join(dir, 'kv.sock');
    await daemon.start(sock, { engine });
    say(`unix: kv daemon listening on ${sock}`);
    const requests = ['SET colour blue', 'SET size 42', 'GET colour', 'KEYS', 'DEL size', 'GET size', 'QUIT'];
    const answers = await client.start(sock, requests, { engine }).done;
    const expected = ['OK', 'OK', 'OK blue', 'OK colour size', 'OK', 'ERR no such key', 'OK bye'];
    requests.forEach((request, i) => check(`unix: ${request}`, answers[i], expected[i]));

    // ---------------------------------------------------------------- binary protocol
    const bin_server = await binary.start(['127.0.0.1', 0], { engine });
    say(`binary: server listening on 127.0.0.1:${(bin_server.local_address as InetAddress).port}`);
    const bin = new binary.BinaryClient({ engine }).connect(loopback(bin_server));
    const echoed = await bin.request(binary.Kind.ECHO, Buffer.from('hi'));
    check("binary: ECHO 'hi'", [echoed.kind, echoed.body.toString()], [binary.Kind.ECHO, 'hi'], `ECHO '${echoed.body}'`);
    const sum = await bin.request(binary.Kind.SUM, binary.sum_request([40, 2, -7, 2_000_000_000, 2_000_000_000]));
    check('binary: SUM [40, 2, -7, 2e9, 2e9]', binary.BinaryClient.sum_of(sum), 4_000_000_035n);
    const empty = await bin.request(binary.Kind.SUM);
    check('binary: SUM []', binary.BinaryClient.sum_of(empty), 0n);
    const bad = await bin.request(9, Buffer.from('?'));
    check('binary: kind 9', [bad.kind, bad.body.toString()], [binary.Kind.ERROR, 'unknown message kind 9'], `ERROR '${bad.body}'`);

    // ---------------------------------------------------------------- STARTTLS
    const tls_server = await starttls.start_server(['127.0.0.1', 0], { engine });
    say(`starttls: line server listening on 127.0.0.1:${(tls_server.local_address as InetAddress).port} (plaintext until STARTTLS)`);
    const secured = await starttls.run_client(loopback(tls_server), { engine, lines: ['hello', 'upgraded in place'] });
    check("starttls: STARTTLS, then over TLS 'hello' and 'upgraded in place'", secured, ['HELLO', 'UPGRADED IN PLACE']);

    // ---------------------------------------------------------------- workers (Python)
    const worker_lines: string[] = [];
    const workers_ok = await run_workers(2, 4, (line) => worker_lines.push(line));
    if (worker_lines[0]?.startsWith('python3 is not on this machine')) {
      skipped.push('workers (no python3)');
      say('workers: skipped: python3 is not on this machine');
    } else {
      say(`workers: ${worker_lines.at(-1) ?? ''}`);
      check('workers: 4 jobs on 2 Python workers over trousers/connection, every result right', workers_ok, true);
    }

    // ---------------------------------------------------------------- the layers' tours
    for (const { name: layer, tour } of LAYER_TOURS) {
      try {
        await tour(engine, say); // each layer's lines name their layer
        check(`${layer}: its tour`, 'passed', 'passed');
      } catch (err) {
        if (abandoned) throw err;
        check(`${layer}: its tour`, err instanceof Error ? err.message : String(err), 'passed');
      }
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const too_slow = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), limit);
  });
  const running = steps();
  const settled = running.then(
    () => {},
    () => {}, // if we gave up, whatever it rejects with later is moot
  );
  try {
    const outcome = await Promise.race([running, too_slow]);
    if (outcome === 'timeout') {
      failed++;
      abandoned = true;
      log(`tour: gave up after ${limit} ms ✗`);
    }
  } catch (err) {
    failed++;
    log(`tour: ${err instanceof Error ? err.message : String(err)} ✗`);
  } finally {
    clearTimeout(timer);
    // Close every server and client of the tour: gracefully, but without waiting long.
    await engine.stop({ timeout: 1000 });
    if (abandoned) {
      // Closing its channels ends the abandoned step (its awaits reject, or its next line
      // throws); stop again in case it opened a channel on its way out.
      await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 1000))]);
      await engine.stop({ timeout: 0 });
    }
    // The daemon removed its socket file as it closed; the directory is ours to remove.
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const ms = Date.now() - began;
  const skips = skipped.length > 0 ? `; skipped: ${skipped.join(', ')}` : '';
  if (failed === 0) log(`tour: all ${passed} checks passed in ${ms} ms${skips}`);
  else log(`tour: FAILED (${passed} checks passed, ${failed} failed, ${ms} ms)${skips}`);
  return failed === 0;
}

// The command line: `node dist/examples/tour.js` (or `npm start`).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log('trousers tour: the examples (echo, client, chat, udp, unix daemon, binary, STARTTLS, Python workers) and the layers\' tours, on loopback, checked.\n');
  // A last resort: should even stopping hang, fail rather than wait forever.
  setTimeout(() => {
    console.error('tour: still running after 70 s; giving up');
    process.exit(1);
  }, 70_000).unref();
  run_tour().then(
    (ok) => {
      process.exitCode = ok ? 0 : 1;
    },
    (err: unknown) => {
      console.error('tour:', err);
      process.exitCode = 1;
    },
  );
}
