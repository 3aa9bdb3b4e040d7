/**
 * A binary protocol with {@link Struct}: length-prefixed messages, both ends.
 *
 * Every message is a 3-byte header, packed with the Python-style format `'!BH'` (network
 * byte order: an unsigned byte `kind`, an unsigned 16-bit `length`), followed by `length`
 * bytes of body:
 *
 * ```
 * +------+------------+-------------------+
 * | kind | length     | body (length B)   |
 * | u8   | u16, big   |                   |
 * +------+------------+-------------------+
 * ```
 *
 * | kind | request body            | reply                                  |
 * |------|-------------------------|----------------------------------------|
 * | 1    | ECHO: any bytes         | ECHO with the same bytes               |
 * | 2    | SUM: big-endian int32s  | SUM with one big-endian int64, the sum |
 * | 255  | (never sent by clients) | ERROR with a UTF-8 message             |
 *
 * What it shows:
 * - `read_delimiter = HEADER` (a Struct): `on_read` receives the unpacked fields;
 * - `read_delimiter = n` (an integer): `on_read` receives exactly n bytes;
 * - switching the delimiter inside `on_read`: header, then body, then header again. The
 *   change applies at once, even to bytes that already arrived;
 * - `Struct.pack` and `Struct.iter_unpack`, 64-bit integers as `bigint`;
 * - a {@link Client} speaking the same protocol, with replies matched to requests in order.
 *
 * Run the server (after `npm run build`):
 *
 * ```sh
 * node dist/examples/binary_protocol.js [port]    # default port 4003
 * printf '\001\000\005hello' | socat - TCP:127.0.0.1:4003 | xxd    # ECHO "hello"
 * printf '\002\000\010\000\000\000\050\000\000\000\002' | socat - TCP:127.0.0.1:4003 | xxd   # SUM 40 2
 * ```
 *
 * @module
 */

import { fileURLToPath } from 'node:url';
// In your own code: `from 'trousers'`.
import { Client, Connection, Server, Struct, type Address, type ChannelOptions, type InetAddress } from '../lib/index.js';
import { listen_on } from './_listen.js';

/** The port the command line uses when none is given. */
export const DEFAULT_PORT = 4003;

/** The message header: kind (u8), body length (u16), network byte order. 3 bytes. */
export const HEADER = new Struct('!BH');

/** Message kinds. */
export const Kind = { ECHO: 1, SUM: 2, ERROR: 255 } as const;

const INT32 = new Struct('!i');
const INT64 = new Struct('!q');

/** A whole message: header and body, ready to `write()`. */
export function message(kind: number, body: Uint8Array = Buffer.alloc(0)): Buffer {
  return Buffer.concat([HEADER.pack(kind, body.length), body]);
}

/** The body of a SUM request: the numbers as big-endian int32s. */
export function sum_request(numbers: number[]): Buffer {
  return Buffer.concat(numbers.map((n) => INT32.pack(n)));
}

/**
 * Reads header-then-body messages on `stream` and hands each whole one to `deliver`; call
 * it from `on_read` with the arguments `on_read` received. Used by both ends below.
 */
function read_message(
  stream: Connection | Client,
  state: { kind: number },
  fields: unknown[],
  deliver: (kind: number, body: Buffer) => void,
): void {
  if (stream.read_delimiter === HEADER) {
    // A header: the Struct's fields, already unpacked.
    const [kind, length] = fields as [number, number];
    if (length === 0) return deliver(kind, Buffer.alloc(0)); // an integer delimiter must be > 0
    state.kind = kind;
    stream.read_delimiter = length; // the next on_read gets exactly `length` bytes
  } else {
    // A body: one Buffer of the length we asked for.
    stream.read_delimiter = HEADER; // back to headers for the next message
    deliver(state.kind, fields[0] as Buffer);
  }
}

/** The server side: one per client. */
export class BinaryConnection extends Connection {
  /** The kind of the message whose body we are reading. */
  private readonly pending = { kind: 0 };

  override on_connect(): void {
    this.read_delimiter = HEADER;
  }

  override on_read(...fields: unknown[]): void {
    read_message(this, this.pending, fields, (kind, body) => this.handle(kind, body));
  }

  private handle(kind: number, body: Buffer): void {
    switch (kind) {
      case Kind.ECHO:
        this.write(message(Kind.ECHO, body));
        break;
      case Kind.SUM: {
        if (body.length % INT32.size !== 0) {
          this.write(message(Kind.ERROR, Buffer.from('SUM needs a whole number of int32s')));
          break;
        }
        let sum = 0n;
        for (const [n] of INT32.iter_unpack(body)) sum += BigInt(n as number);
        this.write(message(Kind.SUM, INT64.pack(sum)));
        break;
      }
      default:
        this.write(message(Kind.ERROR, Buffer.from(`unknown message kind ${kind}`)));
    }
  }
}

/** A reply as {@link BinaryClient.request} resolves it. */
export interface Reply {
  kind: number;
  body: Buffer;
}

/**
 * The client side: `request()` sends a message and resolves with the reply. The server
 * answers in order, so the replies are matched to requests first-in, first-out.
 *
 * ```ts
 * const client = new BinaryClient().connect(['127.0.0.1', 4003]);
 * const reply = await client.request(Kind.SUM, sum_request([40, 2]));
 * BinaryClient.sum_of(reply);              // 42n
 * ```
 */
export class BinaryClient extends Client {
  private readonly pending = { kind: 0 };
  private readonly waiting: { resolve(reply: Reply): void; reject(err: Error): void }[] = [];

  constructor(options: ChannelOptions = {}) {
    super(options);
    // Set before connecting: nothing can be read before on_connect anyway.
    this.read_delimiter = HEADER;
  }

  /** Sends one message; resolves with its reply, rejects if the connection ends first. */
  request(kind: number, body?: Uint8Array): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      this.write(message(kind, body)); // queued until connected if need be
      this.waiting.push({ resolve, reject });
    });
  }

  /** The sum in a SUM reply. */
  static sum_of(reply: Reply): bigint {
    return INT64.unpack(reply.body)[0] as bigint;
  }

  override on_read(...fields: unknown[]): void {
    read_message(this, this.pending, fields, (kind, body) => this.waiting.shift()?.resolve({ kind, body }));
  }

  override on_connect_error(): void {
    // The reason follows in on_close (close_reason); nothing to print here.
  }

  override on_close(): void {
    const why = this.close_reason ?? new Error('connection closed before the reply');
    for (const w of this.waiting.splice(0)) w.reject(why);
  }
}

/**
 * Starts the server.
 * @param address - where to listen; default `['127.0.0.1', 4003]`
 * @param options - `{ engine }`
 * @returns a promise of the listening server
 */
export function start(address: Address = ['127.0.0.1', DEFAULT_PORT], options: ChannelOptions = {}): Promise<Server<BinaryConnection>> {
  return listen_on(new Server(BinaryConnection, options), address);
}

// The command line: `node dist/examples/binary_protocol.js [port]`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  start(['127.0.0.1', Number(process.argv[2] ?? DEFAULT_PORT)]).then(
    (server) => {
      const { port } = server.local_address as InetAddress;
      console.log(`binary server listening on 127.0.0.1:${port}; try: printf '\\001\\000\\005hello' | socat - TCP:127.0.0.1:${port} | xxd`);
    },
    (err: Error) => {
      console.error(`binary server: ${err.message}`);
      process.exitCode = 1;
    },
  );
}
