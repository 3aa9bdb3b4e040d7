/**
 * Chat server: a line-oriented chat room, broadcast through `server.channels`.
 *
 * What it shows:
 * - `read_delimiter = '\n'` plus `encoding = 'utf8'`: `on_read` gets one line at a time, as
 *   a string without its newline, however the bytes were split on the way;
 * - `on_connect` / `on_close` to announce arrivals and departures;
 * - `server.channels`, the live connections of a server: broadcasting is one loop;
 * - `buffer_size` and `on_overflow_error` to refuse absurdly long lines.
 *
 * The protocol, one line each way: anything you type is said to everyone else as
 * `<nick> text`; lines starting with `/` are commands (`/nick NAME`, `/who`, `/quit`);
 * notices from the server start with `* `.
 *
 * Run it (after `npm run build`):
 *
 * ```sh
 * node dist/examples/chat_server.js [port]        # default port 4001
 * nc 127.0.0.1 4001                               # in two or more terminals
 * ```
 *
 * @module
 */

import { fileURLToPath } from 'node:url';
// In your own code: `from 'trousers'`.
import { Connection, Server, type Address, type BufferOverflowError, type ChannelOptions, type InetAddress } from '../lib/index.js';
import { listen_on } from './_listen.js';

/** The port the command line uses when none is given. */
export const DEFAULT_PORT = 4001;

/** What a nickname may look like. */
const NICK = /^[A-Za-z0-9_-]{1,20}$/;

/** The chat room: a `Server` of {@link ChatConnection}s, with a broadcast helper. */
export class ChatServer extends Server<ChatConnection> {
  /** Numbers the guests: guest1, guest2, ... */
  guests = 0;

  constructor(options: ChannelOptions = {}) {
    super(ChatConnection, options);
  }

  /**
   * Sends `line` to every connected member except `except`. `channels` holds the live
   * connections only: a member is removed before its `on_close` runs. During a shutdown
   * every member is already closing (and can no longer be written to), hence `connected`.
   */
  broadcast(line: string, except?: ChatConnection): void {
    for (const member of this.channels) {
      if (member !== except && member.connected) member.write(`${line}\n`);
    }
  }

  /** The member called `nick`, if any. */
  find(nick: string): ChatConnection | undefined {
    for (const member of this.channels) if (member.nick === nick) return member;
    return undefined;
  }
}

/** One member of the chat room. */
export class ChatConnection extends Connection {
  /** This member's nickname. */
  nick = '';

  /** The room; `server` is set by the time `on_connect` runs. */
  get room(): ChatServer {
    return this.server as ChatServer;
  }

  override on_connect(): void {
    this.read_delimiter = '\n'; // on_read gets one line at a time...
    this.encoding = 'utf8'; //     ...as a string
    this.buffer_size = 1024; //    a "line" longer than this is refused (on_overflow_error)
    this.nick = `guest${++this.room.guests}`;
    this.write(`* welcome, ${this.nick}! commands: /nick NAME, /who, /quit\n`);
    this.room.broadcast(`* ${this.nick} joined`, this);
  }

  override on_read(line: string): void {
    line = line.replace(/\r$/, ''); // telnet and some terminals send \r\n
    if (line.startsWith('/')) {
      this.command(line);
    } else if (line.trim() !== '') {
      this.room.broadcast(`<${this.nick}> ${line}`, this);
    }
  }

  override on_overflow_error(_err: BufferOverflowError): void {
    this.write('* line too long, bye\n');
    this.close(); // graceful: the line above is still sent before the connection ends
  }

  override on_close(): void {
    // Already out of `room.channels`, so the notice goes to everyone else.
    if (this.nick !== '') this.room.broadcast(`* ${this.nick} left`);
  }

  private command(line: string): void {
    const [name, arg = ''] = line.split(/\s+/, 2);
    switch (name) {
      case '/nick':
        if (!NICK.test(arg)) {
          this.write('* usage: /nick NAME (letters, digits, _ and -, up to 20)\n');
        } else if (this.room.find(arg) !== undefined) {
          this.write(`* ${arg} is taken\n`);
        } else {
          this.room.broadcast(`* ${this.nick} is now ${arg}`, this);
          this.nick = arg;
          this.write(`* you are now ${arg}\n`);
        }
        break;
      case '/who':
        this.write(`* online: ${[...this.room.channels].map((m) => m.nick).join(', ')}\n`);
        break;
      case '/quit':
        this.write('* bye\n');
        this.close();
        break;
      default:
        this.write(`* unknown command ${name}\n`);
    }
  }
}

/**
 * Starts a chat server.
 * @param address - where to listen; default `['127.0.0.1', 4001]`
 * @param options - `{ engine }`
 * @returns a promise of the listening server
 */
export function start(address: Address = ['127.0.0.1', DEFAULT_PORT], options: ChannelOptions = {}): Promise<ChatServer> {
  return listen_on(new ChatServer(options), address);
}

// The command line: `node dist/examples/chat_server.js [port]`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  start(['127.0.0.1', Number(process.argv[2] ?? DEFAULT_PORT)]).then(
    (server) => {
      const { port } = server.local_address as InetAddress;
      console.log(`chat server listening on 127.0.0.1:${port}; try: nc 127.0.0.1 ${port} (in two terminals)`);
    },
    (err: Error) => {
      console.error(`chat server: ${err.message}`);
      process.exitCode = 1;
    },
  );
}
