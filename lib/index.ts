/**
 * trousers: a callback-driven, non-blocking networking engine for Node.js.
 *
 * Subclass a channel, override its `on_*` callbacks, connect or listen:
 *
 * ```ts
 * import { Server, Connection } from 'trousers';
 * class Echo extends Connection {
 *   override on_read(data: Buffer) { this.write(data); }
 * }
 * new Server(Echo).listen(4000);
 * ```
 *
 * @module
 */

export { Engine, type Timer, type StopOptions } from './engine/engine.js';
export { Channel, type ChannelOptions } from './engine/channel.js';
export { Stream, type StreamOptions, type StreamState, type ConnectOptions, type WriteFileOptions } from './engine/stream.js';
export { StreamServer, type StreamServerOptions } from './engine/stream_server.js';
export { Datagram, type DatagramOptions } from './engine/datagram.js';
export { Client } from './engine/client.js';
export { Server, Connection, type ConnectionClass } from './engine/server.js';
export {
  observe,
  listening,
  connected,
  closed,
  WaitTimeoutError,
  type ChannelObserver,
  type ObservedEvent,
  type WaitOptions,
} from './engine/compose.js';
export { Struct, type StructValue } from './engine/struct.js';
export type { TlsOptions, TlsInfo } from './engine/tls.js';
export { Framer, NO_FRAME } from './engine/framing.js';
export type { ReadDelimiter } from './engine/delimiter.js';
export type { Address, InetAddress, ReportedAddress } from './engine/address.js';
export {
  TrousersError,
  ConnectError,
  ConnectTimeoutError,
  ListenError,
  AcceptError,
  BufferOverflowError,
  ChannelClosedError,
  CallbackError,
  SocketError,
  FileError,
  TimeoutError,
  StructError,
  TlsError,
  type TrousersErrorOptions,
} from './engine/errors.js';
