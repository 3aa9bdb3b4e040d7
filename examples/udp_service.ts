/**
 * UDP packet service: one request per packet, one reply packet back to the sender.
 *
 * What it shows:
 * - a {@link Datagram} channel: `on_read(data, from)` once per packet, with the sender's
 *   address; no connections, no ordering, no delivery guarantee;
 * - `write(reply)` inside `on_read` answers the sender of the packet being handled
 *   (elsewhere, give an address: `write(data, ['127.0.0.1', 4002])`);
 * - `encoding = 'utf8'` to receive strings instead of Buffers.
 *
 * Requests (case-insensitive, surrounding whitespace ignored): `ping` (replies `pong`),
 * `time` (the server's clock, ISO 8601), `upper TEXT` (TEXT in capitals) and `stats` (how
 * many packets were served, from how many senders).
 *
 * Run it (after `npm run build`):
 *
 * ```sh
 * node dist/examples/udp_service.js [port]        # default port 4002
 * nc -u 127.0.0.1 4002                            # then type: ping
 * ```
 *
 * @module
 */

import { fileURLToPath } from 'node:url';
// In your own code: `from 'trousers'`.
import { Datagram, type Address, type DatagramOptions, type InetAddress } from '../lib/index.js';
import { listen_on } from './_listen.js';

/** The port the command line uses when none is given. */
export const DEFAULT_PORT = 4002;

/** The packet service: a UDP socket that answers each request packet. */
export class PacketService extends Datagram {
  /** Packets answered so far. */
  served = 0;
  /** Everyone who sent a packet, as `host:port`. */
  readonly senders = new Set<string>();

  constructor(options: DatagramOptions = {}) {
    super(options);
    this.encoding = 'utf8'; // on_read gets strings
  }

  /** One call per packet: the whole packet (UDP keeps packet boundaries) and its sender. */
  override on_read(packet: string, from: InetAddress): void {
    this.served++;
    this.senders.add(`${from.host}:${from.port}`);
    this.write(`${this.answer(packet.trim())}\n`); // no address: reply to `from`
  }

  /** The reply to one request. */
  answer(request: string): string {
    const space = request.search(/\s/);
    const command = (space < 0 ? request : request.slice(0, space)).toLowerCase();
    const text = space < 0 ? '' : request.slice(space + 1).trim();
    switch (command) {
      case 'ping':
        return 'pong';
      case 'time':
        return new Date().toISOString();
      case 'upper':
        return text.toUpperCase();
      case 'stats':
        return `served ${this.served} packets from ${this.senders.size} senders`;
      default:
        return `error: unknown request ${JSON.stringify(command)}; try ping, time, upper TEXT, stats`;
    }
  }
}

/**
 * Starts the packet service.
 * @param address - where to bind; default `['127.0.0.1', 4002]`
 * @param options - `{ engine, family }`
 * @returns a promise of the bound channel
 */
export function start(address: Address = ['127.0.0.1', DEFAULT_PORT], options: DatagramOptions = {}): Promise<PacketService> {
  return listen_on(new PacketService(options), address);
}

// The command line: `node dist/examples/udp_service.js [port]`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  start(['127.0.0.1', Number(process.argv[2] ?? DEFAULT_PORT)]).then(
    (service) => {
      const { port } = service.local_address!;
      console.log(`udp service bound to 127.0.0.1:${port}; try: nc -u 127.0.0.1 ${port} (then type: ping)`);
    },
    (err: Error) => {
      console.error(`udp service: ${err.message}`);
      process.exitCode = 1;
    },
  );
}
