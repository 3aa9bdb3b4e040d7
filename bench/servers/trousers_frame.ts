/**
 * trousers length-prefixed frame server: a `Struct('!I')` delimiter reads the 4-byte
 * big-endian length, then an integer delimiter reads exactly that many payload bytes; each
 * frame is answered with a frame carrying the same payload.
 *
 * CLI: `node trousers_frame.js PORT|PATH [HOST]`
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { Struct, type StreamOptions } from '../../lib/index.js';
import { run_cli, type ListenTarget, type RunningServer } from './common.js';
import { BackpressureConnection, start_stream_server } from './trousers_common.js';

const header = new Struct('!I');

/** Answers each frame with a frame of the same payload. */
export class Frame extends BackpressureConnection {
  constructor(options: StreamOptions) {
    super(options);
    this.read_delimiter = header;
  }

  // With the Struct delimiter on_read gets the unpacked length (a number); with an
  // integer delimiter it gets the payload (a Buffer).
  override on_read(field: unknown): void {
    if (typeof field === 'number') {
      if (field === 0) this.write(header.pack(0));
      else this.read_delimiter = field;
      return;
    }
    const payload = field as Buffer;
    this.write(header.pack(payload.length));
    this.write(payload);
    this.read_delimiter = header;
  }
}

/** Starts the frame server on `target` (port, 0 = ephemeral, or Unix path). */
export function start(target: ListenTarget = 0, host = '127.0.0.1'): Promise<RunningServer> {
  return start_stream_server(Frame, target, host);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) run_cli(start);
