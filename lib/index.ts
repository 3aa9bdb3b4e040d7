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

export { Engine, type Timer, type StopOptions } from './engine.js';
export { Channel, type ChannelOptions } from './channel.js';
export { Stream, type StreamOptions, type ConnectOptions, type WriteFileOptions } from './stream.js';
export { StreamServer, type StreamServerOptions } from './stream_server.js';
export { Datagram, type DatagramOptions } from './datagram.js';
export { Client } from './client.js';
export { Connection } from './connection.js';
export { Server, type ConnectionClass } from './server.js';
export { Struct, type StructValue } from './struct.js';
export type { TlsOptions, TlsInfo } from './tls.js';
export { Framer, NO_FRAME } from './framing.js';
export type { ReadDelimiter } from './delimiter.js';
export type { Address, InetAddress, ReportedAddress } from './address.js';
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
} from './errors.js';
