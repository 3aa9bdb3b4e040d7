/**
 * Helpers for the raw `node:net` bench servers: listen on a port or Unix path, track the
 * connections, and close everything on request.
 *
 * @module
 */
import net from 'node:net';
import type { ListenTarget, RunningServer } from './common.js';

/** Per-connection handler of a raw TCP bench server. */
export type ConnectionHandler = (socket: net.Socket) => void;

/**
 * Creates a `net.Server` (Nagle off) whose connections get `handler`, listens on `target`
 * and resolves once listening.
 */
export function start_tcp(handler: ConnectionHandler, target: ListenTarget = 0, host = '127.0.0.1'): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    // A peer that resets is normal in a benchmark; 'close' follows and cleans up.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    handler(socket);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const on_listening = (): void => {
      server.off('error', reject);
      server.on('error', (err) => process.stderr.write(`raw server error: ${err.message}\n`));
      const a = server.address();
      const running: RunningServer = {
        port: typeof a === 'object' && a ? a.port : 0,
        address: typeof a === 'object' && a ? a.address : String(a),
        close: () =>
          new Promise<void>((done) => {
            let pending = sockets.size + 1;
            const one = (): void => {
              if (--pending === 0) done();
            };
            for (const s of sockets) {
              s.once('close', one);
              s.destroy();
            }
            server.close(() => one());
          }),
      };
      resolve(running);
    };
    if (typeof target === 'string') server.listen(target, on_listening);
    else server.listen(target, host, on_listening);
  });
}

/**
 * Echoes with backpressure: stop reading while the kernel send buffer is full.
 * `write` returns false when the socket's buffer is over its high-water mark.
 */
export function write_with_backpressure(socket: net.Socket, data: Buffer): void {
  if (!socket.write(data)) {
    socket.pause();
    socket.once('drain', () => socket.resume());
  }
}
