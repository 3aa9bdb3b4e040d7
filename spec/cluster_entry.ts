/**
 * The entry script of the cluster specs (`dist/spec/cluster_entry.js`). One script, both roles,
 * as node:cluster requires:
 *
 * - as a worker (forked by `run_cluster`, from `spec/cluster.spec.ts` with `exec`, or by this
 *   script's own primary role) it serves a line protocol on 127.0.0.1 over TCP:
 *   - `WHO` → the worker's pid;
 *   - `BULK n` → n bytes of `x`, then `\r\nEND\r\n`; then the worker tells the primary
 *     `{ entry: 'bulk', pid }` (the reply is queued by then);
 *   - `CRASH` → the worker exits with code 3;
 *   - `HANG` → `OK`, and the next shutdown never finishes (`on_shutdown` never settles);
 *   - anything else is echoed.
 *   When shutdown begins it tells the primary `{ entry: 'stopping', pid, queued, connections }`
 *   (bytes still queued on its connections) and writes `BYE` to every connection.
 * - run directly (`node dist/spec/cluster_entry.js serve [workers]`) it is the primary: it prints
 *   `READY <port> <pid> <pid>...` once every worker listens and `EXIT <pid> <code> <signal>
 *   <reason>` for each worker exit, and stops on SIGTERM / SIGINT (run_cluster's default).
 *
 * Modes (argv[2]), for the failure specs: `serve` (default); `fail` (start() throws); `unix
 * PATH` (listens on a Unix socket); `port N` (listens on 127.0.0.1:N); `idle` (never listens).
 *
 * @module
 */
import { Connection, Server, type StreamOptions } from '../lib/index.js';
import { run_cluster, type ClusterHandle } from '../lib/cluster/index.js';

const mode = process.argv[2] ?? 'serve';
const CRLF = Buffer.from('\r\n');
const BIG = Buffer.alloc(8 * 1024 * 1024, 'x');
let hang = false;

function tell(message: Record<string, unknown>): void {
  process.send?.(message);
}

/** The line protocol above. */
class Lines extends Connection {
  constructor(options: StreamOptions) {
    super(options);
    this.read_delimiter = '\r\n';
  }

  override on_read(line: Buffer): void {
    const text = line.toString('latin1');
    if (text === 'WHO') {
      this.write(`${process.pid}\r\n`);
    } else if (text.startsWith('BULK ')) {
      const n = Number(text.slice(5));
      for (let left = n; left > 0; left -= BIG.length) this.write(BIG.subarray(0, Math.min(left, BIG.length)));
      this.write('\r\nEND\r\n');
      tell({ entry: 'bulk', pid: process.pid });
    } else if (text === 'CRASH') {
      process.exit(3);
    } else if (text === 'HANG') {
      hang = true;
      this.write('OK\r\n');
    } else {
      this.write(line);
      this.write(CRLF);
    }
  }
}

/**
 * The entry's server: its bind errors reach the primary (run_cluster rejects with them), so
 * it does not also print them as the default `on_error` would.
 */
class QuietServer extends Server<Lines> {
  override on_error(_err: Error): void {
    this.close(false);
  }
}

function start(): Server<Lines> {
  if (mode === 'fail') throw new Error('start failed on purpose');
  const server = new QuietServer(Lines);
  if (mode === 'unix') return server.listen(process.argv[3]!);
  if (mode === 'port') return server.listen(['127.0.0.1', Number(process.argv[3])]);
  if (mode === 'idle') return server; // never listens
  return server.listen(['127.0.0.1', 0]);
}

const workers = mode === 'serve' && process.argv[3] !== undefined ? Number(process.argv[3]) : 2;

const handle = await run_cluster({
  workers,
  start,
  on_shutdown(server) {
    const channels = (server as Server<Lines>).channels;
    let queued = 0;
    for (const c of channels) queued += c.write_buffer_size;
    tell({ entry: 'stopping', pid: process.pid, queued, connections: channels.size });
    // A member may be closing already (its client left): it takes no more writes.
    for (const c of channels) if (!c.closing && !c.closed) c.write('BYE\r\n');
    if (hang) return new Promise<void>(() => {});
    return undefined;
  },
  // Primary role (run directly): report on stdout, synchronous on pipes.
  on_worker_exit(exit) {
    process.stdout.write(`EXIT ${exit.pid} ${exit.code} ${exit.signal} ${exit.reason}\n`);
  },
});

if (handle.role === 'primary') {
  const primary: ClusterHandle = handle;
  const port = typeof primary.address === 'string' ? primary.address : primary.address.port;
  process.stdout.write(`READY ${port} ${primary.workers.map((w) => w.process.pid).join(' ')}\n`);
}
