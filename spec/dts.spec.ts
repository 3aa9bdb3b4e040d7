/**
 * The published type declarations: the engine's internals stay out of them. Reads the
 * emitted `dist/lib/**\/*.d.ts` (built by `npm test`'s pretest) and fails if a hook of the
 * reader, the outbox, the socket listeners or the invoker reappears on a public class, where
 * a subclass could override it by accident (a user's `written()` used to break flushing).
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const LIB = fileURLToPath(new URL('../lib/', import.meta.url));

/** The files whose classes users subclass or hold. */
const PUBLIC_CLASS_FILES = [
  'engine/channel.d.ts',
  'engine/stream.d.ts',
  'engine/stream_server.d.ts',
  'engine/server.d.ts',
  'engine/client.d.ts',
  'engine/datagram.d.ts',
  'engine/engine.d.ts',
  'engine/compose.d.ts',
  'engine/errors.d.ts',
  'engine/struct.d.ts',
  'engine/framing.d.ts',
];

/** Hooks that once were public members of Stream / Channel (the issue's list, and kin). */
const FORBIDDEN = [
  'written',
  'pause_writing',
  'resume_writing',
  'file_failed',
  '_on_data',
  '_on_end',
  '_on_idle',
  '_abandon',
  '_connect_later',
  '_on_socket_error',
  '_on_socket_close',
  '_call',
  '_call_read',
  '_callback_threw',
  '_observe',
  '_notify',
  '_error',
  '_register',
  '_finish_close',
  '_drop',
  '_socket',
  '_add',
  '_remove',
];

/** Every `.d.ts` under dist/lib, relative to it. */
function declaration_files(dir = LIB, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix + entry.name;
    if (entry.isDirectory()) out.push(...declaration_files(path.join(dir, entry.name), `${rel}/`));
    else if (entry.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** The members of each `declare class` in `text` that are not private: `[class, member]` pairs. */
function visible_members(text: string): [string, string][] {
  const out: [string, string][] = [];
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const classes = code.matchAll(/declare\s+(?:abstract\s+)?class\s+(\w+)[^{]*\{([\s\S]*?)\n\}/g);
  for (const [, name, body] of classes) {
    for (const line of body!.split('\n')) {
      if (!/^    \S/.test(line)) continue; // members sit at one indent; deeper lines are types
      const m = /^    (?:(?:public|protected|private|static|readonly|abstract|get|set)\s+)*(#?[A-Za-z_$][\w$]*)/.exec(line);
      if (m === null) continue;
      if (/^    (?:\w+\s+)*private\s/.test(line) || m[1]!.startsWith('#')) continue;
      out.push([name!, m[1]!]);
    }
  }
  return out;
}

const t = suite('published .d.ts');

t('the build emitted declarations for the entry points', () => {
  for (const entry of ['index.d.ts', 'engine/stream.d.ts', 'connection/index.d.ts', 'cluster/index.d.ts']) {
    assert.ok(fs.existsSync(path.join(LIB, entry)), `${entry} exists (run the build first)`);
  }
});

t('the parser sees members, and would see a forbidden one (the check can fail)', () => {
  const sample = 'export declare class Stream extends Channel {\n    #private;\n    written(): void;\n    private hidden;\n    get state(): string;\n    protected _call(name: string): boolean;\n}\n';
  assert.equal(visible_members(sample), [
    ['Stream', 'written'],
    ['Stream', 'state'],
    ['Stream', '_call'],
  ]);
});

t('no engine internal is a visible member of a public class', () => {
  const found: string[] = [];
  for (const file of PUBLIC_CLASS_FILES) {
    const text = fs.readFileSync(path.join(LIB, file), 'utf8');
    for (const [cls, member] of visible_members(text)) {
      if (FORBIDDEN.includes(member) || member.startsWith('_')) found.push(`${file}: ${cls}.${member}`);
    }
  }
  assert.equal(found, [], `internals in the published types:\n${found.join('\n')}`);
});

t("Stream's declaration names none of its private parts (core, reader, outbox, TLS lifecycle)", () => {
  const text = fs.readFileSync(path.join(LIB, 'engine/stream.d.ts'), 'utf8');
  for (const word of ['StreamCore', 'Reader', 'Outbox', 'StreamTls', 'stream_of', 'abandon_stream_of']) {
    assert.not.ok(new RegExp(`\\b${word}\\b`).test(text.replace(/\/\*[\s\S]*?\*\//g, '')), `stream.d.ts mentions ${word}`);
  }
  assert.match(text, /get state\(\): StreamState;/, 'the public state getter is declared');
});

/** The folders this check covers: the engine and every layer. */
const CHECKED = /^(index\.d\.ts|engine\/|connection\/|cluster\/|pickle\/|yoton\/|csp\/|redis\/|group\/)/;

t('the declarations type-check on their own (nothing refers to a declaration stripInternal removed)', () => {
  // A stripped name still used elsewhere would break a user's type check (with
  // skipLibCheck off): compile the emitted files alone, as a user's project would see them.
  const files = declaration_files()
    .filter((f) => CHECKED.test(f))
    .map((f) => path.join(LIB, f));
  const tsc = path.join(path.dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  const args = ['--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', 'false', '--types', 'node', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'];
  const run = spawnSync(process.execPath, [tsc, ...args, ...files], { encoding: 'utf8', timeout: 120000 });
  assert.is(run.error, undefined, String(run.error));
  assert.is(run.status, 0, `tsc on the emitted declarations:\n${run.stdout}${run.stderr}`);
});

t.run();
