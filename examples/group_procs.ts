/**
 * What the book's drivers do with `os.fork()`, for the group examples: start one Node
 * process per member (the same example file, with `--role`), each of which binds to the pid
 * its parent joined for it, and collect what each prints (one JSON value per line).
 *
 * @module
 */

import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Address } from '../lib/index.js';

/** What a member process printed and how it ended. */
export interface MemberResult {
  /** The role and pid it ran as. */
  role: string;
  pid: string;
  /** Exit code (or signal name). */
  code: number | string;
  /** Its stdout lines, parsed as JSON. */
  output: unknown[];
  /** Its stderr. */
  errors: string;
}

/** `host:port` or a socket path, for the command line. */
export function address_text(address: Address): string {
  if (typeof address === 'string') return address;
  if (typeof address === 'number') return `127.0.0.1:${address}`;
  if (Array.isArray(address)) return `${address[0]}:${address[1]}`;
  const a = address as { host?: string; port: number };
  return `${a.host ?? '127.0.0.1'}:${a.port}`;
}

/** The inverse of {@link address_text}. */
export function parse_address_text(text: string): Address {
  if (text.startsWith('/') || !text.includes(':')) return text;
  const at = text.lastIndexOf(':');
  return [text.slice(0, at), Number(text.slice(at + 1))];
}

/**
 * Runs `file` (an example's compiled module URL) as a member process:
 * `node file --role <role> --pid <pid> --redis <address> [extra...]`.
 */
export function run_member(file: string, role: string, pid: string, address: Address, extra: string[] = []): Promise<MemberResult> {
  const child = spawn(process.execPath, [fileURLToPath(file), '--role', role, '--pid', pid, '--redis', address_text(address), ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let errors = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (errors += c));
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      const output = out
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as unknown);
      resolve({ role, pid, code: code ?? signal ?? -1, output, errors });
    });
  });
}

/** The arguments a member process was started with, or null in the driver. */
export function member_args(argv: readonly string[] = process.argv.slice(2)): { role: string; pid: string; address: Address; extra: string[] } | null {
  if (argv[0] !== '--role') return null;
  return { role: argv[1]!, pid: argv[3]!, address: parse_address_text(argv[5]!), extra: argv.slice(6) };
}

/** True when `url` (a module's `import.meta.url`) is the program node was started with. */
export function is_main(url: string): boolean {
  return process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === url;
}

/** Prints one JSON line (what a member reports to its driver). */
export function report(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
