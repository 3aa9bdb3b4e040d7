/**
 * Connection: a {@link Stream} accepted by a {@link Server}.
 *
 * @module
 */

import { Stream, type StreamOptions } from './stream.js';
import type { Server } from './server.js';

/** A stream accepted by a server; `server` points at it. */
export class Connection extends Stream {
  /** The server that accepted this connection (set by `Server.on_accept`). */
  server: Server | null = null;

  /** @param options - `{ engine, socket }` */
  constructor(options: StreamOptions = {}) {
    super(options);
  }

  /** @internal Leaves `server.channels` before `on_close` runs. */
  protected override _finish_close(): void {
    if (this.closed) return;
    const server = this.server;
    server?.channels.delete(this);
    super._finish_close();
    server?._maybe_finish_close();
  }
}
