/**
 * `trousers-hub`, the command: it listens where it is told, prints where, serves clients,
 * stops on SIGTERM, and refuses bad arguments with its usage.
 */

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedisClient } from '../lib/redis/index.js';
import { sock_path, within } from './_helpers.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/trousers-hub.js');

function start(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | string>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal ?? -1)));
  const line = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`exited ${code}: ${err}`)));
  });
  return { child, line, exited, errors: () => err };
}

const Bin = suite('trousers-hub command');

Bin('--port 0 on 127.0.0.1: prints its address, serves, stops on SIGTERM', async () => {
  const hub = start(['--port', '0']);
  const where = await within(hub.line, 10000, 'hub listening');
  const [host, port] = [where.slice(0, where.lastIndexOf(':')), Number(where.slice(where.lastIndexOf(':') + 1))];
  assert.is(host, '127.0.0.1');
  const r = new RedisClient({ address: [host, port] });
  assert.is(await r.command('PING'), 'PONG');
  await r.close();
  hub.child.kill('SIGTERM');
  assert.is(await within(hub.exited, 10000), 0, hub.errors());
});

Bin('--unix PATH', async () => {
  const path = sock_path('hubbin');
  const hub = start(['--unix', path]);
  assert.is(await within(hub.line, 10000), path);
  const r = new RedisClient({ address: path });
  assert.is(await r.command('SADD', 'members', '1'), 1);
  await r.close();
  hub.child.kill('SIGINT');
  assert.is(await within(hub.exited, 10000), 0);
});

Bin('an address in use: one clear line, exit 1', async () => {
  const first = start(['--port', '0']);
  const where = await within(first.line, 10000);
  const second = start(['--port', where.slice(where.lastIndexOf(':') + 1)]);
  second.line.catch(() => {});
  assert.is(await within(second.exited, 10000), 1);
  assert.is(second.errors().trim().split('\n').length, 1, second.errors());
  assert.match(second.errors(), /EADDRINUSE/);
  first.child.kill('SIGTERM');
  await first.exited;
});

Bin('bad arguments: exit 2 and the usage', async () => {
  const hub = start(['--port', 'x']);
  hub.line.catch(() => {});
  assert.is(await within(hub.exited, 10000), 2);
  assert.match(hub.errors(), /usage: trousers-hub/);
});

Bin.run();
