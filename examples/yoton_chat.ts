/**
 * A yoton chat over pub/sub: every participant has a PubChannel and a SubChannel on the
 * slot `chat`, so everything anyone says reaches everyone else (Python yoton participants
 * too: `yoton.PubChannel(ct, 'chat')`).
 *
 * ```
 * node dist/examples/yoton_chat.js host alice        # binds localhost:yoton-chat (a hashed port)
 * node dist/examples/yoton_chat.js join bob          # connects to it; type lines, ^D to leave
 * ```
 *
 * yoton's rule is one peer per bind, so a host that wants more guests binds again after
 * each one arrives; {@link Chat.host} does that.
 *
 * @module
 */

import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../lib/index.js';
// In your own code: `from 'trousers/yoton'`.
import { Context, PubChannel, SubChannel, type Connection } from '../lib/yoton/index.js';

/** One chat participant. */
export class Chat {
  readonly context: Context;
  private readonly pub: PubChannel;
  private readonly sub: SubChannel;

  /**
   * @param name - shown before each line this participant says
   * @param on_line - called with each line someone else says
   * @param engine - the engine to run on
   */
  constructor(
    readonly name: string,
    on_line: (line: string) => void,
    engine?: Engine,
  ) {
    this.context = new Context(engine ? { engine } : {});
    this.pub = new PubChannel(this.context, 'chat');
    this.sub = new SubChannel(this.context, 'chat');
    this.sub.received.bind(() => {
      for (const line of this.sub.recv_all()) on_line(line);
    });
  }

  /** Hosts at `address`, binding again whenever a guest has arrived. */
  async host(address: string): Promise<Connection> {
    const conn = this.context.bind(address);
    await conn.bound();
    conn.connected.bind(() => void this.host(`localhost:${conn.port1}`).catch(() => {}));
    return conn;
  }

  /** Joins the chat hosted at `address`. */
  join(address: string): Promise<Connection> {
    return this.context.connect(address, { timeout: 3000 });
  }

  /** Says something to everyone. */
  say(text: string): Promise<void> {
    return this.pub.send(`${this.name}: ${text}`);
  }

  /** Leaves. */
  close(): void {
    this.context.close();
  }
}

// The command line.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [mode = 'host', name = 'anonymous', address = 'localhost:yoton-chat'] = process.argv.slice(2);
  const chat = new Chat(name, (line) => console.log(line));
  const ready = mode === 'join' ? chat.join(address) : chat.host(address);
  ready.then(
    (conn) => {
      console.log(mode === 'join' ? `joined ${address}` : `hosting on port ${conn.port1}; others: yoton_chat.js join <name>`);
      const rl = readline.createInterface({ input: process.stdin });
      rl.on('line', (line) => void chat.say(line));
      rl.on('close', () => chat.close());
    },
    (err: Error) => {
      console.error(`yoton chat: ${err.message}`);
      chat.close();
      process.exitCode = 1;
    },
  );
}
