/**
 * trousers UDP echo server: every datagram is written back to its sender.
 *
 * CLI: `node trousers_udp.js PORT [HOST]` (HOST decides udp4 / udp6)
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { Datagram } from '../../lib/index.js';
import { run_cli, type ListenTarget, type RunningServer } from './common.js';
import { start_datagram } from './trousers_common.js';

/** Echoes each datagram to its sender. */
export class UdpEcho extends Datagram {
  override on_read(data: Buffer): void {
    this.write(data); // inside on_read: to the packet's sender
  }
}

/** Starts the UDP echo server on `port` (0 = ephemeral). */
export function start(target: ListenTarget = 0, host = '127.0.0.1'): Promise<RunningServer> {
  if (typeof target !== 'number') return Promise.reject(new TypeError('UDP needs a port'));
  return start_datagram(UdpEcho, target, host);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) run_cli(start);
