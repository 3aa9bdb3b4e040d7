/**
 * Python peers for the connection specs: which Pythons this machine has, and child
 * processes that are always cleaned up.
 *
 * Pythons: the machine's `python3` plus every `$(pyenv root)/versions/<v>/bin/python`,
 * one per version. `TROUSERS_PYTHONS=3.11,2.7` narrows the set (by version prefix).
 */

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One Python interpreter. */
export interface Python {
  /** Absolute path of the interpreter. */
  exe: string;
  /** Its version, e.g. `'3.11.7'`. */
  version: string;
  /** Whether this is the machine's `python3`. */
  machine: boolean;
}

/** The directory holding the Python peer scripts (in the source tree, not dist/). */
export const PY_DIR: string = (() => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // dist/spec/py -> spec/py
  const candidates = [path.resolve(here, '../../../spec/py'), here];
  return candidates.find((d) => fs.existsSync(path.join(d, 'mp_peer.py'))) ?? here;
})();

function probe(exe: string): { exe: string; version: string } | null {
  try {
    const out = execFileSync(exe, ['-c', 'import sys; print(sys.executable); print(sys.version.split()[0])'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10000,
    });
    const [real, version] = out.trim().split('\n');
    return real && version ? { exe: real.trim(), version: version.trim() } : null;
  } catch {
    return null;
  }
}

function pyenv_root(): string | null {
  try {
    return execFileSync('pyenv', ['root'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10000 }).trim() || null;
  } catch {
    const guess = process.env['PYENV_ROOT'] ?? path.join(os.homedir(), '.pyenv');
    return fs.existsSync(guess) ? guess : null;
  }
}

function version_key(v: string): number[] {
  return v.split('.').map((x) => Number.parseInt(x, 10) || 0);
}

function compare(a: string, b: string): number {
  const x = version_key(a), y = version_key(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

let found: { machine: Python | null; all: Python[] } | undefined;

/** The machine's python3 (null when absent) and every Python found, oldest first. */
export function find_pythons(): { machine: Python | null; all: Python[] } {
  if (found) return found;
  const by_version = new Map<string, Python>();
  const m = probe('python3');
  const machine = m ? { ...m, machine: true } : null;
  if (machine) by_version.set(machine.version, machine);
  const root = pyenv_root();
  if (root !== null) {
    const dir = path.join(root, 'versions');
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      names = [];
    }
    for (const name of names) {
      const exe = path.join(dir, name, 'bin', 'python');
      if (!fs.existsSync(exe)) continue;
      const p = probe(exe);
      if (p && !by_version.has(p.version)) by_version.set(p.version, { ...p, machine: false });
    }
  }
  let all = [...by_version.values()].sort((a, b) => compare(a.version, b.version));
  const only = process.env['TROUSERS_PYTHONS'];
  if (only) {
    const wanted = only.split(',').map((s) => s.trim()).filter(Boolean);
    all = all.filter((p) => wanted.some((w) => p.version === w || p.version.startsWith(`${w}.`)));
  }
  found = { machine, all };
  return found;
}

/** Whether `version` speaks the modern `{sha256}` handshake (Python >= 3.12). */
export function is_modern(version: string): boolean {
  return compare(version, '3.12') >= 0;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A running peer process, read line by line. */
export class Peer {
  readonly child: ChildProcess;
  private lines: string[] = [];
  private stderr = '';
  private waiters: { test(line: string): boolean; resolve(line: string): void }[] = [];
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;

  /** @param exe - interpreter; @param args - script and arguments */
  constructor(exe: string, args: string[]) {
    const child = spawn(exe, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    this.child = child;
    live.add(child);
    let partial = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl).trimEnd();
        partial = partial.slice(nl + 1);
        this.lines.push(line);
        for (const w of [...this.waiters]) {
          if (w.test(line)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      // 'close' (not 'exit'): stdout has been read to its end by then.
      child.once('close', (code, signal) => {
        live.delete(child);
        resolve(code ?? signal ?? -1);
      });
      child.once('error', () => {
        live.delete(child);
        resolve(-1);
      });
    });
  }

  /** Every stdout line so far. */
  get output(): readonly string[] {
    return this.lines;
  }

  /** What the process wrote to stderr so far. */
  get errors(): string {
    return this.stderr;
  }

  /**
   * The first line (already seen or still to come) starting with `prefix`; rejects when
   * the process exits without printing one.
   */
  line(prefix: string): Promise<string> {
    const seen = this.lines.find((l) => l.startsWith(prefix));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const waiter = { test: (l: string) => l.startsWith(prefix), resolve };
      this.waiters.push(waiter);
      void this.exited.then((code) => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        reject(new Error(`peer exited (${code}) without printing "${prefix}"; stdout: ${this.lines.join(' | ')}; stderr: ${this.stderr.slice(-2000)}`));
      });
    });
  }

  /** Kills the process (idempotent) and waits for it to be gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Starts `script` (in spec/py) under `exe`. */
export function start_peer(exe: string, script: string, args: string[]): Peer {
  return new Peer(exe, [path.join(PY_DIR, script), ...args]);
}

/** Kills every peer still running. */
export async function kill_all(): Promise<void> {
  const children = [...live];
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('close', r)))));
}
