/**
 * trousers line server: `read_delimiter = '\r\n'`, each line answered with itself + "\r\n".
 *
 * CLI: `node trousers_line.js PORT|PATH [HOST]`
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import type { StreamOptions } from '../../lib/index.js';
import { run_cli, type ListenTarget, type RunningServer } from './common.js';
import { BackpressureConnection, start_stream_server } from './trousers_common.js';

const CRLF = Buffer.from('\r\n');

/** Answers each "\r\n" line with itself. */
export class Line extends BackpressureConnection {
  constructor(options: StreamOptions) {
    super(options);
    this.read_delimiter = '\r\n';
  }

  override on_read(line: Buffer): void {
    this.write(line);
    this.write(CRLF);
  }
}

/** Starts the line server on `target` (port, 0 = ephemeral, or Unix path). */
export function start(target: ListenTarget = 0, host = '127.0.0.1'): Promise<RunningServer> {
  return start_stream_server(Line, target, host);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) run_cli(start);
