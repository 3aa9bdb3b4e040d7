/**
 * Raw `node:net` line server: "\r\n"-terminated lines, each line answered with itself plus
 * "\r\n". Partial lines are buffered across 'data' events; the replies produced by one
 * 'data' event go out in a single write.
 *
 * CLI: `node raw_line.js PORT|PATH [HOST]`
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { run_cli, type ListenTarget, type RunningServer } from './common.js';
import { start_tcp, write_with_backpressure } from './raw_common.js';

const CRLF = Buffer.from('\r\n');
/** Longest line accepted before the connection is dropped. */
const MAX_LINE = 64 * 1024;

/** The application: one line in, replies out. */
function on_line(line: Buffer, replies: Buffer[]): void {
  replies.push(line, CRLF);
}

/** Starts the line server on `target` (port, 0 = ephemeral, or Unix path). */
export function start(target: ListenTarget = 0, host = '127.0.0.1'): Promise<RunningServer> {
  return start_tcp((socket) => {
    let pending: Buffer | null = null;
    socket.on('data', (chunk: Buffer) => {
      // Resume the search just before the old tail, in case "\r" and "\n" were split.
      const from = pending ? pending.length - 1 : 0;
      const buf: Buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
      const replies: Buffer[] = [];
      let start = 0;
      let i = buf.indexOf(CRLF, from);
      while (i !== -1) {
        on_line(buf.subarray(start, i), replies);
        start = i + 2;
        i = buf.indexOf(CRLF, start);
      }
      pending = start < buf.length ? buf.subarray(start) : null;
      if (pending && pending.length > MAX_LINE) {
        socket.destroy();
        return;
      }
      if (replies.length > 0) write_with_backpressure(socket, Buffer.concat(replies));
    });
  }, target, host);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) run_cli(start);
