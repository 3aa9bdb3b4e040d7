/**
 * TLS benchmark: bulk echo MB/s and handshakes/s, a trousers TLS echo server vs a hand-written
 * `node:tls` echo server, in the same run.
 *
 * ```
 * npm run build && node dist/bench/tls_bench.js [--rounds=3] [--duration=2] [--warmup=0.3]
 * ```
 *
 * Each server runs in its own child process pinned to core 0 (`taskset -c 0`, skipped when
 * taskset is missing); the load client is another child process, written with raw `node:tls`
 * (the same client for both servers), pinned to core 1. Workloads:
 *
 * - bulk: 4 connections, each writing 64 KiB chunks with at most 1 MiB sent and not yet echoed;
 *   echoed bytes are counted over `duration` seconds after `warmup`; every byte sent and
 *   received over the whole run goes through a running sha256 per connection, and the run fails
 *   unless both digests match once the connection has drained.
 * - handshakes: 8 slots, each doing connect + full handshake (no session reuse, the client
 *   verifies the chain against `ca.crt` and the name `localhost`) + one 32-byte round trip
 *   (checked) + close, for `duration` seconds after `warmup`.
 *
 * Rounds alternate which server goes first; the report gives medians, min–max, the
 * trousers/raw ratio, the client's CPU % (process.cpuUsage over the window) and the server's
 * CPU % (/proc/PID/stat over the client run), and is written to `bench/tls_results.md`.
 *
 * The same file is the server (`--role=trousers|raw`) and the client (`--role=client`).
 *
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Engine, Server } from '../lib/index.js';
import { BackpressureConnection } from './servers/trousers_common.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../../spec/fixtures');
const results_path = path.resolve(here, '../../bench/tls_results.md');

function arg(name: string, dflt: string): string {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? dflt : hit.slice(name.length + 3);
}

// ---------------------------------------------------------------- servers

/** trousers echo: every chunk back, reading paused while the write buffer is full. */
class Echo extends BackpressureConnection {
  override on_read(data: Buffer): void {
    this.write(data);
  }
}

function serve_trousers(key: Buffer, cert: Buffer): Promise<number> {
  const engine = new Engine();
  return new Promise((resolve, reject) => {
    class TlsEchoServer extends Server<Echo> {
      override on_listen(): void {
        const a = this.local_address;
        resolve(a !== null && typeof a === 'object' ? a.port : 0);
      }
      override on_error(err: Error): void {
        reject(err);
        super.on_error(err);
      }
    }
    new TlsEchoServer(Echo, { engine, tls: { key, cert } }).listen(['127.0.0.1', 0]);
  });
}

function serve_raw(key: Buffer, cert: Buffer): Promise<number> {
  const server = tls.createServer({ key, cert }, (s) => {
    s.setNoDelay(true);
    s.on('error', () => s.destroy()); // a peer reset is normal in a benchmark
    s.on('data', (d: Buffer) => {
      if (!s.write(d)) {
        s.pause();
        s.once('drain', () => s.resume());
      }
    });
  });
  server.on('tlsClientError', () => {}); // counted by the client, not logged per connection
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a !== null ? a.port : 0);
    });
  });
}

async function run_server(kind: string): Promise<void> {
  const key = fs.readFileSync(path.join(fixtures, 'server.key'));
  const cert = fs.readFileSync(path.join(fixtures, 'server.crt'));
  const port = kind === 'trousers' ? await serve_trousers(key, cert) : await serve_raw(key, cert);
  process.stdout.write(`LISTENING ${port}\n`);
  const stop = (): void => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

// ---------------------------------------------------------------- client

interface ClientResult {
  mode: string;
  value: number; // MB/s or handshakes/s
  count: number; // bytes or handshakes in the window
  client_cpu_pct: number;
  errors: number;
  verified: boolean;
  detail: string;
}

const CHUNK = 64 * 1024;
const MAX_INFLIGHT = 1024 * 1024;

function connect_opts(port: number, ca: Buffer): tls.ConnectionOptions {
  return { host: '127.0.0.1', port, ca, servername: 'localhost' };
}

function bulk(port: number, ca: Buffer, warmup: number, duration: number): Promise<ClientResult> {
  const CONNS = 4;
  return new Promise((resolve) => {
    let in_window = false;
    let window_bytes = 0;
    let stopping = false;
    let errors = 0;
    let done_conns = 0;
    let verified = true;
    let total_bytes = 0;
    let cpu0 = process.cpuUsage();
    let t0 = 0n;
    let cpu_pct = 0;
    let elapsed = 0;
    const socks: tls.TLSSocket[] = [];
    const checks: (() => void)[] = [];
    let cipher = '?';
    const finish_one = (): void => {
      if (++done_conns < CONNS) return;
      clearTimeout(guard);
      resolve({
        mode: 'bulk',
        value: window_bytes / 1e6 / elapsed,
        count: window_bytes,
        client_cpu_pct: cpu_pct,
        errors,
        verified: verified && errors === 0,
        detail: `${(total_bytes / 1e6).toFixed(0)} MB echoed and sha256-checked in all, ${cipher}`,
      });
    };
    for (let c = 0; c < CONNS; c++) {
      // 16 distinct random chunks per connection, sent in rotation.
      const chunks = Array.from({ length: 16 }, () => randomBytes(CHUNK));
      const sent_hash: Hash = createHash('sha256');
      const recv_hash: Hash = createHash('sha256');
      let sent = 0;
      let received = 0;
      let next = 0;
      let finished = false;
      const s = tls.connect(connect_opts(port, ca));
      socks.push(s);
      s.setNoDelay(true);
      const pump = (): void => {
        while (!stopping && sent - received < MAX_INFLIGHT) {
          const chunk = chunks[next++ & 15]!;
          sent_hash.update(chunk);
          sent += chunk.length;
          if (!s.write(chunk)) break; // resumed from 'drain' or 'data'
        }
      };
      const check_done = (): void => {
        if (finished || !stopping || received < sent) return;
        finished = true;
        total_bytes += received;
        if (received !== sent || sent_hash.digest('hex') !== recv_hash.digest('hex')) verified = false;
        s.end();
        finish_one();
      };
      checks.push(check_done);
      s.on('secureConnect', () => {
        cipher = `${s.getProtocol() ?? '?'} ${s.getCipher().standardName}`;
        pump();
      });
      s.on('drain', pump);
      s.on('data', (d: Buffer) => {
        recv_hash.update(d);
        received += d.length;
        if (in_window) window_bytes += d.length;
        if (received > sent) verified = false;
        if (stopping) check_done();
        else pump();
      });
      s.on('error', () => {
        errors++;
        if (!finished) {
          finished = true;
          verified = false;
          finish_one();
        }
      });
    }
    setTimeout(() => {
      in_window = true;
      cpu0 = process.cpuUsage();
      t0 = process.hrtime.bigint();
      setTimeout(() => {
        in_window = false;
        elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = process.cpuUsage(cpu0);
        cpu_pct = ((cpu.user + cpu.system) / 1e6 / elapsed) * 100;
        stopping = true;
        for (const check of checks) check(); // connections already drained finish now
      }, duration * 1000);
    }, warmup * 1000);
    // Everything stops by itself: a connection that never drains fails the run.
    const guard = setTimeout(() => {
      verified = false;
      for (const s of socks) s.destroy();
      resolve({ mode: 'bulk', value: 0, count: 0, client_cpu_pct: cpu_pct, errors, verified: false, detail: 'timed out draining' });
    }, (warmup + duration + 5) * 1000);
  });
}

function handshakes(port: number, ca: Buffer, warmup: number, duration: number): Promise<ClientResult> {
  const SLOTS = 8;
  return new Promise((resolve) => {
    let in_window = false;
    let stopping = false;
    let count = 0;
    let total = 0;
    let errors = 0;
    let bad = 0;
    let active = 0;
    let cpu0 = process.cpuUsage();
    let t0 = 0n;
    let cpu_pct = 0;
    let elapsed = 0;
    let seq = 0;
    const protocols = new Map<string, number>();
    const one = (): void => {
      if (stopping) {
        if (active === 0) {
          clearTimeout(guard);
          resolve({
            mode: 'handshakes',
            value: count / elapsed,
            count,
            client_cpu_pct: cpu_pct,
            errors,
            verified: bad === 0 && errors === 0 && total > 0,
            detail: `${total} handshakes in all, ${[...protocols].map(([p, n]) => `${p}×${n}`).join(' ')}`,
          });
        }
        return;
      }
      active++;
      const msg = Buffer.alloc(32);
      msg.writeUInt32BE(seq++, 0);
      randomBytes(28).copy(msg, 4);
      let got = Buffer.alloc(0);
      let answered = false;
      const s = tls.connect(connect_opts(port, ca));
      s.setNoDelay(true);
      s.on('secureConnect', () => {
        const p = s.getProtocol() ?? '?';
        protocols.set(p, (protocols.get(p) ?? 0) + 1);
        s.write(msg);
      });
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (!answered && got.length >= 32) {
          answered = true;
          if (!got.subarray(0, 32).equals(msg)) bad++;
          total++;
          if (in_window) count++;
          s.end();
        }
      });
      s.on('error', () => {
        errors++;
        s.destroy();
      });
      s.on('close', () => {
        active--;
        if (!answered) bad++;
        one();
      });
    };
    for (let i = 0; i < SLOTS; i++) one();
    setTimeout(() => {
      in_window = true;
      cpu0 = process.cpuUsage();
      t0 = process.hrtime.bigint();
      setTimeout(() => {
        in_window = false;
        elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = process.cpuUsage(cpu0);
        cpu_pct = ((cpu.user + cpu.system) / 1e6 / elapsed) * 100;
        stopping = true;
      }, duration * 1000);
    }, warmup * 1000);
    const guard = setTimeout(() => {
      resolve({ mode: 'handshakes', value: 0, count, client_cpu_pct: cpu_pct, errors, verified: false, detail: 'timed out closing' });
    }, (warmup + duration + 5) * 1000);
  });
}

async function run_client(): Promise<void> {
  const port = Number(arg('port', '0'));
  const mode = arg('mode', 'bulk');
  const warmup = Number(arg('warmup', '0.3'));
  const duration = Number(arg('duration', '2'));
  const ca = fs.readFileSync(path.join(fixtures, 'ca.crt'));
  const r = mode === 'bulk' ? await bulk(port, ca, warmup, duration) : await handshakes(port, ca, warmup, duration);
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}

// ---------------------------------------------------------------- orchestrator

const self = fileURLToPath(import.meta.url);
const has_taskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const children = new Set<ChildProcess>();

function pinned(core: number, args: string[]): ChildProcess {
  const argv = [process.execPath, self, ...args];
  const child = has_taskset
    ? spawn('taskset', ['-c', String(core), ...argv], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function kill_all(): void {
  for (const c of children) c.kill('SIGKILL');
}
process.on('exit', kill_all);

/** Reads the child's stdout until a line matching `re`, or fails after `ms`. */
function wait_line(child: ChildProcess, re: RegExp, ms: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms: ${buf}`)), ms);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = buf.match(re);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before ${re}: ${buf}`));
    });
  });
}

/** utime + stime of a process, in seconds (Linux /proc). */
function proc_cpu(pid: number | undefined): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

interface Sample {
  value: number;
  client_cpu: number;
  server_cpu: number;
  ok: boolean;
  detail: string;
}

const IMPLS = ['trousers', 'raw'] as const;
const MODES = ['bulk', 'handshakes'] as const;
type Impl = (typeof IMPLS)[number];
type Mode = (typeof MODES)[number];

async function one_run(impl: Impl, warmup: number, duration: number): Promise<Record<Mode, Sample>> {
  const server = pinned(0, [`--role=${impl}`]);
  let stderr = '';
  server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const port = Number((await wait_line(server, /LISTENING (\d+)/, 5000))[1]);
    const out = {} as Record<Mode, Sample>;
    for (const mode of MODES) {
      const s0 = proc_cpu(server.pid);
      const w0 = process.hrtime.bigint();
      const client = pinned(1, ['--role=client', `--mode=${mode}`, `--port=${port}`, `--warmup=${warmup}`, `--duration=${duration}`]);
      client.stderr!.pipe(process.stderr);
      const line = (await wait_line(client, /^\{.*\}$/m, (warmup + duration + 10) * 1000))[0];
      const wall = Number(process.hrtime.bigint() - w0) / 1e9;
      const r = JSON.parse(line) as ClientResult;
      out[mode] = {
        value: r.value,
        client_cpu: r.client_cpu_pct,
        server_cpu: ((proc_cpu(server.pid) - s0) / wall) * 100,
        ok: r.verified,
        detail: `${r.detail}${r.errors ? `, ${r.errors} errors` : ''}`,
      };
    }
    if (stderr.trim() !== '') process.stderr.write(`${impl} server stderr:\n${stderr.split('\n').slice(0, 5).join('\n')}\n`);
    return out;
  } finally {
    server.stdin!.end();
    server.kill('SIGTERM');
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function orchestrate(): Promise<void> {
  const rounds = Number(arg('rounds', '3'));
  const duration = Number(arg('duration', '2'));
  const warmup = Number(arg('warmup', '0.3'));
  const hard = setTimeout(() => {
    process.stderr.write('tls_bench: over the time bound, giving up\n');
    kill_all();
    process.exit(2);
  }, 90_000);
  hard.unref();
  const started = Date.now();
  const samples: Record<Impl, Record<Mode, Sample[]>> = {
    trousers: { bulk: [], handshakes: [] },
    raw: { bulk: [], handshakes: [] },
  };
  for (let round = 0; round < rounds; round++) {
    const order: Impl[] = round % 2 === 0 ? ['trousers', 'raw'] : ['raw', 'trousers'];
    for (const impl of order) {
      const r = await one_run(impl, warmup, duration);
      for (const mode of MODES) {
        samples[impl][mode].push(r[mode]);
        const s = r[mode];
        process.stdout.write(
          `round ${round + 1} ${impl.padEnd(8)} ${mode.padEnd(10)} ${s.value.toFixed(1).padStart(8)} ` +
            `client ${s.client_cpu.toFixed(0)}% server ${s.server_cpu.toFixed(0)}% ${s.ok ? 'ok' : 'FAILED'} (${s.detail})\n`,
        );
      }
    }
  }
  const fmt = (xs: number[], d: number): string => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;
  const all_ok = IMPLS.every((i) => MODES.every((m) => samples[i][m].every((s) => s.ok)));
  const rows: string[] = [];
  for (const mode of MODES) {
    const unit = mode === 'bulk' ? 'MB/s' : 'handshakes/s';
    const t = samples.trousers[mode];
    const r = samples.raw[mode];
    const ratio = median(t.map((s) => s.value)) / median(r.map((s) => s.value));
    const d = mode === 'bulk' ? 1 : 0;
    rows.push(
      `| ${mode === 'bulk' ? 'bulk echo, 4 conns × 64 KiB chunks, ≤ 1 MiB in flight' : 'handshakes, 8 at a time, full handshake + 32 B round trip + close'} | ${unit} ` +
        `| ${fmt(t.map((s) => s.value), d)} | ${fmt(r.map((s) => s.value), d)} | **${ratio.toFixed(3)}**${ratio >= 0.95 ? '' : ' (< 0.95)'} ` +
        `| ${median(t.map((s) => s.client_cpu)).toFixed(0)} / ${median(r.map((s) => s.client_cpu)).toFixed(0)} ` +
        `| ${median(t.map((s) => s.server_cpu)).toFixed(0)} / ${median(r.map((s) => s.server_cpu)).toFixed(0)} |`,
    );
  }
  const client_bound = MODES.filter((m) =>
    IMPLS.every((i) => median(samples[i][m].map((s) => s.client_cpu)) >= 90 && median(samples[i][m].map((s) => s.server_cpu)) < 90),
  );
  const note =
    client_bound.length > 0
      ? `**Client-bound:** in ${client_bound.join(' and ')} the client used ≥ 90 % of its core while neither server reached 90 % of ` +
        'its own, so those rows show that trousers keeps up with raw `node:tls` under this load, not either server\'s ceiling; ' +
        'the ratio is then bounded by what the client can drive, and differences between the servers show mostly as server CPU %.'
      : 'Neither workload was client-bound (client below 90 % of its core, or a server at 90 % or more of its own).';
  const cpus = os.cpus();
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const report = [
    '# TLS benchmark: trousers vs raw `node:tls`',
    '',
    `Generated by \`node dist/bench/tls_bench.js\` (${rounds} rounds, ${warmup} s warm-up + ${duration} s window per measurement, ` +
      `rounds alternate which server goes first; took ${secs} s).`,
    '',
    `Machine: ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? '?'}), Node ${process.version}, ${os.platform()} ${os.release()}, ` +
      `OpenSSL ${process.versions.openssl}, ${new Date().toISOString()}. ` +
      (has_taskset ? 'Servers pinned to core 0, client to core 1 (`taskset`).' : 'No taskset: nothing pinned.'),
    '',
    '| workload | unit | trousers median (min–max) | raw node:tls median (min–max) | ratio trousers/raw | client CPU % trousers / raw | server CPU % trousers / raw |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    note,
    '',
    `All echoed data verified: ${all_ok ? 'yes' : '**NO — see the run output**'} (bulk: per-connection running sha256 of every byte sent vs received; ` +
      'handshakes: each 32-byte reply compared with its request; any client error fails the run).',
    '',
    '- Both servers: one process, `127.0.0.1`, key/cert from `spec/fixtures/` (`server.key`, `server.crt`), Node defaults ' +
      `(negotiated by the bulk client: ${samples.trousers.bulk[0]?.detail.split(', ').pop() ?? '?'} with trousers, ` +
      `${samples.raw.bulk[0]?.detail.split(', ').pop() ?? '?'} with raw). trousers: ` +
      '`new Server(Echo, { engine, tls: { key, cert } })`, `Echo.on_read` writes the ' +
      'data back and pauses reading above the write buffer\'s high water mark; raw: `tls.createServer({ key, cert })`, ' +
      '`data` → `write`, `pause()` until `drain` when `write` returns false.',
    '- Client: one raw `node:tls` process (the same for both servers), verifying the chain against `ca.crt` and the name ' +
      '`localhost`, no session reuse (every handshake is a full one). Client CPU % is its own user+system time over the ' +
      'window (100 % = one core saturated, i.e. the client, not the server, may be the limit); server CPU % is from ' +
      '`/proc/PID/stat` over the whole client run including warm-up and drain.',
    '',
  ].join('\n');
  process.stdout.write('\n' + report);
  fs.writeFileSync(results_path, report);
  process.stdout.write(`\nwrote ${results_path}\n`);
  process.exit(all_ok ? 0 : 1);
}

const role = arg('role', '');
if (role === 'trousers' || role === 'raw') void run_server(role);
else if (role === 'client') void run_client();
else
  orchestrate().catch((err: unknown) => {
    process.stderr.write(`tls_bench: ${err instanceof Error ? err.stack : String(err)}\n`);
    kill_all();
    process.exit(2);
  });
