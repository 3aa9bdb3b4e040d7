/**
 * Raw `node:net` length-prefixed frame server: 4-byte big-endian length + payload; each
 * frame is answered with a frame carrying the same payload. Partial frames are buffered
 * across 'data' events; the replies produced by one 'data' event go out in a single write.
 *
 * CLI: `node raw_frame.js PORT|PATH [HOST]`
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { run_cli, type ListenTarget, type RunningServer } from './common.js';
import { start_tcp, write_with_backpressure } from './raw_common.js';

/** Largest frame accepted before the connection is dropped. */
const MAX_FRAME = 16 * 1024 * 1024;

/** The application: one payload in, reply frames out. */
function on_frame(payload: Buffer, replies: Buffer[]): void {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(payload.length, 0);
  replies.push(header, payload);
}

/** Starts the frame server on `target` (port, 0 = ephemeral, or Unix path). */
export function start(target: ListenTarget = 0, host = '127.0.0.1'): Promise<RunningServer> {
  return start_tcp((socket) => {
    let pending: Buffer | null = null;
    socket.on('data', (chunk: Buffer) => {
      const buf: Buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
      const replies: Buffer[] = [];
      let off = 0;
      while (buf.length - off >= 4) {
        const len = buf.readUInt32BE(off);
        if (len > MAX_FRAME) {
          socket.destroy();
          return;
        }
        if (buf.length - off - 4 < len) break;
        on_frame(buf.subarray(off + 4, off + 4 + len), replies);
        off += 4 + len;
      }
      pending = off < buf.length ? buf.subarray(off) : null;
      if (replies.length > 0) write_with_backpressure(socket, Buffer.concat(replies));
    });
  }, target, host);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) run_cli(start);
