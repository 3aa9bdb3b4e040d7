/**
 * trousers echo server: every chunk received is written straight back.
 *
 * CLI: `node trousers_echo.js PORT|PATH [HOST]`
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { run_cli, type ListenTarget, type RunningServer } from './common.js';
import { BackpressureConnection, start_stream_server } from './trousers_common.js';

/**
 * Echoes every byte. An echo keeps nothing it reads, so it borrows its reads
 * (`lend_reads`): each read goes into the same warm buffer again once the kernel has taken
 * the reply.
 */
export class Echo extends BackpressureConnection {
  override lend_reads = true;

  override on_read(data: Buffer): void {
    this.write(data);
  }
}

/** Starts the echo server on `target` (port, 0 = ephemeral, or Unix path). */
export function start(target: ListenTarget = 0, host = '127.0.0.1'): Promise<RunningServer> {
  return start_stream_server(Echo, target, host);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) run_cli(start);
