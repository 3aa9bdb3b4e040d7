/**
 * Raw `node:net` echo server: every chunk received is written straight back, with
 * backpressure (pause reading until 'drain').
 *
 * CLI: `node raw_echo.js PORT|PATH [HOST]`
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { run_cli, type ListenTarget, type RunningServer } from './common.js';
import { start_tcp, write_with_backpressure } from './raw_common.js';

/** Starts the echo server on `target` (port, 0 = ephemeral, or Unix path). */
export function start(target: ListenTarget = 0, host = '127.0.0.1'): Promise<RunningServer> {
  return start_tcp((socket) => {
    socket.on('data', (chunk: Buffer) => write_with_backpressure(socket, chunk));
  }, target, host);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) run_cli(start);
