/**
 * RegExp framing for interactive protocols: a match that reaches the end of the buffered
 * bytes is delivered at once when no further byte could change it, and held only when it
 * could still grow. Pinned at every chunk size (frames equal the whole-input frames), for
 * each side of the rule, for its documented limits, and over a real socket with a peer that
 * waits for each reply before it sends the next line (which deadlocked under the old rule).
 */

import * as net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Connection, Framer, NO_FRAME } from '../lib/index.js';
import { start_server } from './_channels.js';
import { deferred, raw_connect, TCP4, UNIX, within } from './_helpers.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** A comparable frame: Buffers as latin1 text, match arrays as arrays of strings. */
function form(frame: unknown): unknown {
  return Buffer.isBuffer(frame) ? frame.toString('latin1') : Array.from(frame as unknown[]);
}

/** Feeds `pieces` one by one, collecting the frames due after each; then, optionally, the end. */
function frames_of(pieces: Buffer[], re: RegExp, search: boolean, end: boolean): { frames: unknown[]; after_each: number[] } {
  const f = new Framer();
  const frames: unknown[] = [];
  const after_each: number[] = [];
  for (const p of pieces) {
    f.feed(p);
    for (let frame = f.next(re, search, false); frame !== NO_FRAME; frame = f.next(re, search, false)) frames.push(form(frame));
    after_each.push(frames.length);
  }
  if (end) for (let frame = f.next(re, search, true); frame !== NO_FRAME; frame = f.next(re, search, true)) frames.push(form(frame));
  return { frames, after_each };
}

function split(input: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) out.push(input.subarray(i, i + size));
  return out;
}

/** Every way to cut `input` in two and in three. */
function* cuts(input: Buffer): Generator<Buffer[]> {
  for (let i = 1; i < input.length; i++) {
    yield [input.subarray(0, i), input.subarray(i)];
    for (let j = i + 1; j < input.length; j++) yield [input.subarray(0, i), input.subarray(i, j), input.subarray(j)];
  }
}

const t = suite('framing: RegExp matches at the end of the buffer');

t('a match no further byte could change is delivered at once (the stream need not end)', () => {
  for (const [re, input, frame] of [
    [/\r?\n/, 'hello\r\n', 'hello'],
    [/\r?\n/, 'hello\n', 'hello'],
    [/\n/, 'x\n', 'x'],
    [/END\r\n/, 'bodyEND\r\n', 'body'],
    [/[,;]/, 'a,', 'a'],
    [/\r\n|\n/, 'q\n', 'q'],
  ] as [RegExp, string, string][]) {
    const { frames } = frames_of([b(input)], re, true, false);
    assert.equal(frames, [frame], `${re} on ${JSON.stringify(input)}`);
  }
  const m = frames_of([b('k=42;')], /(\w+)=(\d+);/, false, false);
  assert.equal(m.frames, [['k=42;', 'k', '42']], 'match mode too');
});

t('a match that could still grow is held until the next byte or the end', () => {
  for (const [re, input, grown] of [
    [/;+/, 'a;', 'a;;b'],
    [/\s+/, 'a ', 'a \tb'],
    [/\n(?!\.)/, 'a\n', 'a\n.b\nc'],
    [/\r\n?/, 'a\r', 'a\r\nb'],
  ] as [RegExp, string, string][]) {
    assert.equal(frames_of([b(input)], re, true, false).frames, [], `${re} holds ${JSON.stringify(input)}`);
    assert.equal(frames_of([b(input)], re, true, true).frames, [input.slice(0, 1)], `${re}: final at the end`);
    const whole = frames_of([b(grown)], re, true, true).frames;
    assert.equal(frames_of([b(input), b(grown.slice(input.length))], re, true, true).frames, whole, `${re} split after the match`);
  }
  // A long match reaching the end is held (not probed).
  const long = `x${'-'.repeat(100)}`;
  assert.equal(frames_of([b(long)], /-{100}/, true, false).frames, []);
  assert.equal(frames_of([b(long)], /-{100}/, true, true).frames, ['x']);
});

t('frames never depend on the split, at every chunk size and every 2- and 3-way cut', () => {
  const inputs: [RegExp, boolean, string][] = [
    [/\r?\n/, true, 'one\r\ntwo\nthree\r\n\r\nfour\n\rfive\r'],
    [/;+/, true, 'a;;b;c;;;d;e'],
    [/\s+/, true, 'w1  w2\tw3 \n w4 '],
    [/\r\n|\n/, true, 'x\r\ny\nz\r\r\n'],
    [/(\w+)=(\d+);/, false, 'a=1;bb=22;ccc=333;'],
    [/END\r\n/, true, 'oneEND\r\ntwoEN\r\nD\r\nthreeEND\r\n'],
  ];
  for (const [re, search, text] of inputs) {
    const input = b(text);
    const whole = frames_of([input], re, search, true).frames;
    for (let size = 1; size <= input.length; size++) {
      assert.equal(frames_of(split(input, size), re, search, true).frames, whole, `${re} in chunks of ${size}`);
    }
    for (const pieces of cuts(input)) {
      assert.equal(frames_of(pieces, re, search, true).frames, whole, `${re} cut ${pieces.map((p) => p.length).join('+')}`);
    }
  }
});

t('/\\r?\\n/ byte by byte: each line is delivered as its newline arrives, not one byte later', () => {
  const input = b('ab\r\ncd\nef\r\n');
  const { frames, after_each } = frames_of(split(input, 1), /\r?\n/, true, false);
  assert.equal(frames, ['ab', 'cd', 'ef']);
  // Frames due after each byte: the line is out on its '\n' (bytes 4, 7 and 11).
  assert.equal(after_each, [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3]);
});

t('the documented limits: a tail of two bytes, an earlier alternative needing more bytes', () => {
  // /;(?:xy)?/ on "a;": no single byte changes the match (";x" still matches ";"), so ";"
  // is delivered; had "xy" come in the same chunk, the match would have been ";xy".
  assert.equal(frames_of([b('a;'), b('xyb;c')], /;(?:xy)?/, true, true).frames, ['a', 'xyb']);
  assert.equal(frames_of([b('a;xyb;c')], /;(?:xy)?/, true, true).frames, ['a', 'b']);
  // /a\w*z|b/ on "ab": "b" is delivered; "abz" would have matched from 0.
  assert.equal(frames_of([b('ab'), b('z;')], /a\w*z|b/, true, true).frames, ['a']);
  assert.equal(frames_of([b('abz')], /a\w*z|b/, true, true).frames, ['']);
});

t.run();

const live = suite('framing: /\\r?\\n/ over a real socket, a peer that waits for each reply');

class LineEcho extends Connection {
  override on_connect(): void {
    this.read_delimiter = /\r?\n/;
  }
  override on_read(line: Buffer): void {
    this.write(`echo ${line.toString()}\r\n`);
  }
}

/** Sends `lines` one at a time over `socket`, each only after the reply to the previous one. */
async function lockstep(socket: net.Socket, lines: string[]): Promise<string[]> {
  const replies: string[] = [];
  let pending = '';
  let waiting = deferred<string>();
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    const at = pending.indexOf('\r\n');
    if (at >= 0) {
      const reply = pending.slice(0, at);
      pending = pending.slice(at + 2);
      waiting.resolve(reply);
    }
  });
  for (const line of lines) {
    waiting = deferred<string>();
    socket.write(line);
    replies.push(await within(waiting.promise, 3000, `the reply to ${JSON.stringify(line)} (held back?)`));
  }
  return replies;
}

for (const transport of [TCP4, UNIX]) {
  live(`${transport.name}: every typed line is answered before the next is sent (\\n and \\r\\n endings)`, async () => {
    const s = await start_server(transport, LineEcho);
    const socket = raw_connect(s.address);
    try {
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      const lines = ['HELO\r\n', 'MAIL\n', 'x\r\n', '\r\n', 'QUIT\n'];
      const replies = await lockstep(socket, lines);
      assert.equal(replies, ['echo HELO', 'echo MAIL', 'echo x', 'echo ', 'echo QUIT']);
    } finally {
      socket.destroy();
      await s.stop();
    }
  });
}

live.run();
