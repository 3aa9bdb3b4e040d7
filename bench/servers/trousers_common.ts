/**
 * Helpers for the trousers bench servers: each server gets its own {@link Engine}, so
 * `close()` is `engine.stop()`, which resolves once every channel (the listener and all its
 * connections) has run `on_close`.
 *
 * @module
 */
import { Connection, Engine, listening, Server, type ConnectionClass, type Datagram, type InetAddress } from '../../lib/index.js';
import type { ListenTarget, RunningServer } from './common.js';

/**
 * A connection that honours backpressure the way the docs suggest: stop reading while the
 * write buffer is above its high water mark.
 */
export class BackpressureConnection extends Connection {
  override on_pause_writing(): void {
    this.pause_reading();
  }

  override on_resume_writing(): void {
    this.resume_reading();
  }
}

function running(engine: Engine, address: InetAddress | string | null): RunningServer {
  return {
    port: address !== null && typeof address === 'object' ? address.port : 0,
    address: address !== null && typeof address === 'object' ? address.host : String(address),
    close: () => engine.stop({ timeout: 0 }),
  };
}

/** Starts a `Server` building `cls` per connection; resolves once `on_listen` has run. */
export async function start_stream_server<C extends Connection>(
  cls: ConnectionClass<C>,
  target: ListenTarget = 0,
  host = '127.0.0.1',
): Promise<RunningServer> {
  const engine = new Engine();
  const server = new Server<C>(cls, { engine });
  server.listen(typeof target === 'string' ? target : [host, target]);
  await listening(server);
  return running(engine, server.local_address);
}

/** Starts a UDP channel of class `cls` on `[host, port]`; resolves once `on_listen` has run. */
export async function start_datagram<D extends Datagram>(
  cls: new (options: { engine: Engine; family: 'udp4' | 'udp6' }) => D,
  port: number,
  host: string,
): Promise<RunningServer> {
  const engine = new Engine();
  const channel = new cls({ engine, family: host.includes(':') ? 'udp6' : 'udp4' });
  channel.listen([host, port]);
  await listening(channel);
  return running(engine, channel.local_address);
}
