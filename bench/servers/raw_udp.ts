/**
 * Raw `node:dgram` UDP echo server: every datagram is sent back to its sender with one
 * `socket.send` per packet.
 *
 * CLI: `node raw_udp.js PORT [HOST]` (HOST decides udp4 / udp6)
 *
 * @module
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { run_cli, type ListenTarget, type RunningServer } from './common.js';

/** Starts the UDP echo server on `port` (0 = ephemeral). */
export function start(target: ListenTarget = 0, host = '127.0.0.1'): Promise<RunningServer> {
  if (typeof target !== 'number') return Promise.reject(new TypeError('UDP needs a port'));
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  socket.on('message', (msg, rinfo) => {
    socket.send(msg, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(target, host, () => {
      socket.off('error', reject);
      // e.g. ECONNREFUSED echoes from a client that went away: not fatal for a server.
      socket.on('error', () => {});
      const a = socket.address();
      resolve({
        port: a.port,
        address: a.address,
        close: () => new Promise<void>((done) => socket.close(() => done())),
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) run_cli(start);
