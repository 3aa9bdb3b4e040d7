/**
 * Spec helper: a private redis-server (never the system one on 6379) on a free port and a
 * Unix socket in a temp dir, with `--save '' --appendonly no`, stopped by its pid. Waits on
 * its "Ready to accept connections" log line, not on sleeps.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { temp_dir } from './_helpers.js';
import type { Address } from '../lib/index.js';
import { serve_hub } from '../lib/group/index.js';
import type { RedisClient } from '../lib/redis/index.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** Whether redis-server is installed here. */
export const HAVE_REDIS = fs.existsSync(REDIS_SERVER);

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A free TCP port on 127.0.0.1 (asked of the OS). */
export function free_port(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A running private redis-server. */
export class RedisPeer {
  child: ChildProcess | null = null;
  readonly dir = temp_dir('trousers-redis-');
  readonly socket = path.join(this.dir, 'redis.sock');
  port = 0;
  private constructor(private readonly extra: string[]) {}

  /** Starts one; `extra` are more redis-server arguments (e.g. `--requirepass`). */
  static async start(extra: string[] = []): Promise<RedisPeer> {
    const peer = new RedisPeer(extra);
    peer.port = await free_port();
    await peer.launch();
    return peer;
  }

  /** The TCP address, trousers form. */
  get address(): [string, number] {
    return ['127.0.0.1', this.port];
  }

  private launch(): Promise<void> {
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir,
      '--unixsocket', this.socket, '--unixsocketperm', '700', '--daemonize', 'no', '--loglevel', 'notice', ...this.extra,
    ];
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    child.once('close', () => live.delete(child));
    return new Promise((resolve, reject) => {
      let log = '';
      const on_data = (chunk: Buffer): void => {
        log += chunk.toString();
        if (log.includes('Ready to accept connections')) {
          child.stdout!.off('data', on_data);
          child.stdout!.resume();
          resolve();
        }
      };
      child.stdout!.on('data', on_data);
      child.stderr!.resume();
      child.once('close', (code) => reject(new Error(`redis-server exited (${code}) before it was ready: ${log.slice(-500)}`)));
    });
  }

  /** Kills it (SIGKILL: no goodbye to clients) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('close', r));
    child.kill('SIGKILL');
    await gone;
  }

  /** Starts it again on the same port and socket (empty: nothing is saved). */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /** Stops it. */
  stop(): Promise<void> {
    return this.kill();
  }
}

/**
 * Waits until the server (redis-server or the hub) reports at least `n` clients blocked
 * (INFO clients), asking once per event-loop turn: an event, never a sleep.
 */
export async function blocked_clients(r: RedisClient, n: number): Promise<void> {
  for (let i = 0; i < 10000; i++) {
    const info = String(await r.command('INFO', 'clients'));
    if (Number(/blocked_clients:(\d+)/.exec(info)?.[1]) >= n) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never saw ${n} blocked clients`);
}

/** A server the group specs run against: its address and how to stop it. */
export interface Backend {
  address: Address;
  stop(): Promise<void>;
}

/**
 * The backends every group behaviour suite runs on, by name: a private redis-server (when
 * it is installed) and the embedded hub.
 */
export function backends(): [string, () => Promise<Backend>][] {
  const out: [string, () => Promise<Backend>][] = [];
  if (HAVE_REDIS) {
    out.push([
      'redis-server',
      async () => {
        const peer = await RedisPeer.start();
        return { address: peer.address, stop: () => peer.stop() };
      },
    ]);
  }
  out.push([
    'embedded hub',
    async () => {
      const hub = await serve_hub(['127.0.0.1', 0]);
      return { address: hub.address, stop: () => hub.stop() };
    },
  ]);
  return out;
}
