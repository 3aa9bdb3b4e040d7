/**
 * `trousers/group`: the channel package of van Steen & Tanenbaum's *Distributed Systems*
 * (join a group, send to one, some or all members, receive from any or some), over Redis
 * with the Python package's exact key layout and pickled values, so Node and Python
 * processes share one group; and an embedded Redis-compatible hub for one machine.
 *
 * ```ts
 * import { Channel, serve_hub } from 'trousers/group';
 *
 * const hub = await serve_hub(['127.0.0.1', 6390]);     // or a real redis-server
 * const server = new Channel({ redis: hub.address });
 * const client = new Channel({ redis: hub.address });
 * const s = await server.join('server');
 * const c = await client.join('client');
 * await client.sendTo(await client.subgroup('server'), 'Hello from ' + c);
 * const [sender, message] = (await server.recvFromAny())!;
 * await server.sendTo([sender], 'Received ' + message);
 * console.log(await client.recvFrom([s]));               // [s, 'Received Hello from ...']
 * await Promise.all([server.close(), client.close()]);
 * await hub.stop();
 * ```
 *
 * @module
 */

export { serve_hub, Hub, HubConnection, type HubOptions } from './hub/server.js';
export { Store, BLOCKED, type Session, type Blocked } from './hub/store.js';
export { Channel, queue_key, wake_key, type ChannelOptions, type GroupCodec, type Received } from './channel.js';
export {
  NotBoundError,
  NotJoinedError,
  UnknownDestinationError,
  UnknownSenderError,
  NoSendersError,
  GroupFullError,
  JoinConflictError,
} from './errors.js';
