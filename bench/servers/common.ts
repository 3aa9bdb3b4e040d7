/**
 * Shared plumbing for the benchmark servers: the handle every `start()` returns, and the tiny
 * command-line wrapper (`node <server>.js PORT|PATH [HOST]`) the bench runner uses.
 *
 * The CLI prints `LISTENING <port>` (or `LISTENING <path>` for a Unix socket) once the server is
 * ready and runs until SIGTERM / SIGINT or until its stdin is closed. A line `heap` on stdin
 * prints `HEAP <heapUsed> <external> <arrayBuffers>` (bytes, after a full collection when node
 * runs with `--expose-gc`).
 *
 * @module
 */

/** Where a bench server listens: a TCP/UDP port (0 = ephemeral) or a Unix socket path. */
export type ListenTarget = number | string;

/** What every bench server's `start()` resolves to. */
export interface RunningServer {
  /** The bound port (0 for a Unix socket). */
  readonly port: number;
  /** The bound host, or the Unix socket path. */
  readonly address: string;
  /** Closes the server and every connection it has; resolves once all handles are gone. */
  close(): Promise<void>;
}

/** A server module's factory. */
export type StartFn = (target?: ListenTarget, host?: string) => Promise<RunningServer>;

/** `PORT` (digits) or a Unix socket path, as given on the command line. */
export function parse_target(arg: string | undefined): ListenTarget {
  if (arg === undefined || arg === '') return 0;
  return /^\d+$/.test(arg) ? Number(arg) : arg;
}

/**
 * Runs a server from the command line: `argv[2]` is the port or path, `argv[3]` the host
 * (default 127.0.0.1). Exits on SIGTERM / SIGINT / stdin EOF.
 */
export function run_cli(start: StartFn): void {
  const target = parse_target(process.argv[2]);
  const host = process.argv[3] ?? '127.0.0.1';
  start(target, host).then(
    (server) => {
      process.stdout.write(`LISTENING ${typeof target === 'string' ? server.address : server.port}\n`);
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        // A bench server has nothing to save: exit promptly even if a close hangs.
        setTimeout(() => process.exit(0), 1000).unref();
        server.close().then(
          () => process.exit(0),
          () => process.exit(0),
        );
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      // `heap` on stdin: print the V8 heap (after a full collection when node runs with
      // --expose-gc), for the runner's memory case.
      let input = '';
      process.stdin.on('data', (d: Buffer) => {
        input += d.toString();
        for (let nl = input.indexOf('\n'); nl >= 0; nl = input.indexOf('\n')) {
          const line = input.slice(0, nl).trim();
          input = input.slice(nl + 1);
          if (line !== 'heap') continue;
          const gc = (globalThis as { gc?: () => void }).gc;
          if (gc !== undefined) gc();
          const m = process.memoryUsage();
          process.stdout.write(`HEAP ${m.heapUsed} ${m.external} ${m.arrayBuffers}\n`);
        }
      });
      process.stdin.on('end', stop);
      process.stdin.on('error', stop);
      process.stdin.resume();
    },
    (err: unknown) => {
      process.stderr.write(`failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
