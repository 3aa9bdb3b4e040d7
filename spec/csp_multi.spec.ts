/**
 * trousers/csp across Node processes (children started with multiprocess(), talking to this
 * process over loopback in PyCSP's wire format): a pipeline through two children shut down
 * by retire, poison crossing from process to process, alternations whose channels live in
 * another process, and a seeded fuzz of alternations with many writers and readers in three
 * processes (every value delivered exactly once, nothing lost, no deadlock).
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AltSelect,
  Channel,
  ChannelPoisonError,
  InputGuard,
  multiprocess,
  Parallel,
  poison,
  PriSelect,
  process,
  retire,
  shutdown,
  type ChannelEndRead,
} from '../lib/csp/index.js';
import { rng, within } from './_helpers.js';

const test = suite('csp multi-process');
const WORKERS = new URL('./_csp_workers.js', import.meta.url);
const producer = multiprocess(WORKERS, 'producer');
const doubler = multiprocess(WORKERS, 'doubler');
const alt_reader = multiprocess(WORKERS, 'alt_reader');
const fuzz_writer = multiprocess(WORKERS, 'fuzz_writer');
const end_user = multiprocess(WORKERS, 'end_user');
const remote_home_writer = multiprocess(WORKERS, 'remote_home_writer');

test.after.each(async () => {
  await within(shutdown(), 10000, 'shutdown');
});

test('a pipeline through two child processes ends by retire', async () => {
  const a = new Channel('mp-a'), b = new Channel('mp-b', { buffer: 4 });
  const got: unknown[] = [];
  const sink = process(async (cin: ChannelEndRead) => {
    for (;;) got.push(await cin.read());
  });
  const results = await within(Parallel(producer(a.writer(), 300), doubler(a.reader(), b.writer()), sink(b.reader())), 20000, 'pipeline');
  assert.is(results[0], 'produced 300');
  assert.is(got.length, 300);
  assert.equal(got.slice(0, 3), [0, 2, 4]);
  assert.is(got[299], 598);
});

test('poison crosses processes: the child stage poisons its output, the reader here sees it', async () => {
  const a = new Channel('mp-pa'), b = new Channel('mp-pb');
  const out = a.writer();
  const cin = b.reader();
  const stage = Parallel(doubler(a.reader(), b.writer()));
  await out.write(21);
  assert.is(await cin.read(), 42);
  await poison(out);
  await within(stage, 10000, 'child stage');
  let err: unknown = null;
  try {
    await cin.read();
  } catch (e) {
    err = e;
  }
  assert.instance(err, ChannelPoisonError);
});

test('alternation here over writers in a child; alternation in a child over channels hosted here', async () => {
  const a = new Channel('mp-alt-a'), b = new Channel('mp-alt-b');
  const ar = a.reader(), br = b.reader();
  const writers = Parallel(producer(a.writer(), 50, 0), producer(b.writer(), 50, 1000));
  const seen: number[] = [];
  let open = 2;
  const ins = [ar, br];
  while (open > 0) {
    try {
      const [, v] = await PriSelect(ins.map((c) => new InputGuard(c)));
      seen.push(v as number);
    } catch {
      // one side retired: keep reading the other with plain reads
      open = 0;
    }
  }
  for (const c of ins) {
    try {
      for (;;) seen.push((await c.read()) as number);
    } catch {
      // retired
    }
  }
  await writers;
  assert.is(seen.length, 100);
  assert.is(new Set(seen).size, 100);
  // the other way: a child alternates over channels hosted here
  const x = new Channel('mp-alt-x'), y = new Channel('mp-alt-y');
  const xw = x.writer(), yw = y.writer();
  const reader = Parallel(alt_reader([x.reader(), y.reader()], 60, 7));
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 30; i++) writes.push(xw.write(i), yw.write(100 + i));
  await Promise.all(writes);
  const [got] = (await within(reader, 20000, 'child alternation')) as [number[]];
  assert.is(got.length, 60);
  assert.is(new Set(got).size, 60);
  await retire(xw, yw, ar, br);
});

test('a channel end sent over a channel to a child reconnects there', async () => {
  const pass = new Channel('mp-pass'), target = new Channel('mp-target');
  const out = pass.writer(), tin = target.reader();
  const child = Parallel(end_user(pass.reader()));
  const moving = target.writer();
  await out.write(moving);
  assert.is(moving.moved, true);
  assert.is(await within(tin.read(), 10000, 'write through the moved end'), 'written in a child through a moved write end');
  await within(child, 10000, 'child');
  await retire(out, tin);
});

test('seeded fuzz: alternating writers in two children, alternating readers here and in a child', async () => {
  const seed = 1414;
  const r = rng(seed);
  const chans = [new Channel('fz-0'), new Channel('fz-1'), new Channel('fz-2', { buffer: 2 })];
  const N = 240;
  const values = Array.from({ length: N }, (_, i) => i);
  const half = [values.filter((v) => v % 2 === 0), values.filter((v) => v % 2 === 1)];
  const writer_procs = half.map((vs, k) => fuzz_writer(chans.map((c) => c.writer()), vs, seed + k));
  const child_reads = 80;
  const child_reader = alt_reader(chans.map((c) => c.reader()), child_reads, seed + 9);
  const local_ins = chans.map((c) => c.reader());
  const local = process(async () => {
    const got: number[] = [];
    while (got.length < N - child_reads) {
      const guards = local_ins.map((c) => new InputGuard(c));
      const [, v] = r() < 0.5 ? await PriSelect(guards) : await PriSelect(guards.reverse());
      got.push(v as number);
    }
    return got;
  });
  const results = (await within(Parallel(...writer_procs, child_reader, local()), 40000, 'fuzz')) as [number, number, number[], number[]];
  const all = [...results[2], ...results[3]].sort((p, q) => p - q);
  assert.is(all.length, N, 'nothing lost');
  assert.equal(all, values, 'every value exactly once');
});

test('seeded fuzz over homes in two processes: alternations in both directions, each value once', async () => {
  const seed = 2718;
  const r = rng(seed);
  const back = new Channel('fz-back'), here = new Channel('fz-here');
  const back_in = back.reader(), here_in = here.reader();
  const N = 150;
  const values = Array.from({ length: N }, (_, i) => i);
  const child = Parallel(remote_home_writer(back.writer(), here.writer(), values, seed));
  const child_in = (await within(back_in.read(), 10000, 'the child sends its end')) as ChannelEndRead;
  const got: number[] = [];
  while (got.length < N) {
    const guards = r() < 0.5 ? [new InputGuard(child_in), new InputGuard(here_in)] : [new InputGuard(here_in), new InputGuard(child_in)];
    const [, v] = await within(r() < 0.5 ? PriSelect(guards) : AltSelect(guards), 10000, `alternation ${got.length}`);
    got.push(v as number);
  }
  // let go of the child's channel first: its shutdown waits until no process references it
  await retire(child_in);
  const [via_here] = (await within(child, 20000, 'child')) as [number];
  assert.equal([...got].sort((a, b) => a - b), values, 'every value exactly once');
  assert.ok(via_here > 0 && via_here < N, `both homes were used (${via_here} of ${N} through the home here)`);
  await retire(back_in, here_in);
});

test.run();
