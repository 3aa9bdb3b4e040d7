/**
 * Echo server: the smallest useful trousers program.
 *
 * What it shows:
 * - a channel is a class: subclass {@link Connection} and override the callbacks you need
 *   (here only `on_read`, which receives whatever bytes arrived);
 * - a {@link Server} builds one instance of your connection class per accepted client;
 * - `write()` never blocks: it queues the bytes and returns at once.
 *
 * Run it (after `npm run build`):
 *
 * ```sh
 * node dist/examples/echo_server.js [port]        # default port 4000
 * nc 127.0.0.1 4000                               # type a line: it comes straight back
 * ```
 *
 * @module
 */

import { fileURLToPath } from 'node:url';
// In your own code: `from 'trousers'`.
import { Connection, Server, type Address, type ChannelOptions, type InetAddress } from '../lib/index.js';
import { listen_on } from './_listen.js';

/** The port the command line uses when none is given. */
export const DEFAULT_PORT = 4000;

/** One client of the echo server. */
export class Echo extends Connection {
  /**
   * Called with each chunk of bytes as it arrives. With no `read_delimiter` (the default) a
   * chunk is whatever the network delivered, so an echo is just: write it back.
   */
  override on_read(data: Buffer): void {
    this.write(data);
  }
}

/**
 * Starts an echo server.
 * @param address - where to listen; default `['127.0.0.1', 4000]` (`['127.0.0.1', 0]` picks a free port)
 * @param options - `{ engine }`: the engine that owns the server and its connections
 * @returns a promise of the listening server (its `local_address` holds the real port)
 */
export function start(address: Address = ['127.0.0.1', DEFAULT_PORT], options: ChannelOptions = {}): Promise<Server<Echo>> {
  return listen_on(new Server(Echo, options), address);
}

// The command line: `node dist/examples/echo_server.js [port]`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  start(['127.0.0.1', Number(process.argv[2] ?? DEFAULT_PORT)]).then(
    (server) => {
      const { port } = server.local_address as InetAddress;
      console.log(`echo server listening on 127.0.0.1:${port}; try: nc 127.0.0.1 ${port}`);
    },
    (err: Error) => {
      console.error(`echo server: ${err.message}`);
      process.exitCode = 1;
    },
  );
}
