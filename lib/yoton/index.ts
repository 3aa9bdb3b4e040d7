/**
 * trousers/yoton: Yoton messaging (contexts, pub/sub, req/rep, state) on the trousers engine,
 * wire-compatible with Python's yoton 2.2.
 *
 * ```ts
 * import { Context, SubChannel } from 'trousers/yoton';
 * const ctx = new Context();
 * await ctx.connect('localhost:yoton-demo');      // a Python yoton context bound there
 * const sub = new SubChannel(ctx, 'news');
 * console.log(await sub.recv());
 * ctx.close();
 * ```
 *
 * @module
 */

export { split_address, resolve_address, port_hash, slot_hash, new_context_id, type SplitAddress } from './address.js';
export { Context, type ContextOptions, type BindOptions, type ConnectOptions } from './context.js';
export { Connection, ConnectionCollection, TIMEOUT_MIN, HEARTBEAT_INTERVAL, STATUS, bind_ports } from './connection.js';
export { BaseChannel } from './channels_base.js';
export { PubChannel, SubChannel, select_sub_channel, SEND_LOCK_WAIT, SEND_LOCK_EXPIRY, SYNC_STATUS_INTERVAL } from './channels_pubsub.js';
export { ReqChannel, RepChannel, REQREP_SEQ_REF, ERROR_OBJECT, type RemoteApi } from './channels_reqrep.js';
export { Future, AUTO_CANCEL_TIMEOUT } from './future.js';
export { StateChannel } from './channels_state.js';
export {
  MessageType,
  TextMessageType,
  BinaryMessageType,
  ObjectMessageType,
  TEXT,
  BINARY,
  OBJECT,
  encode_object,
  decode_object,
  MAX_OBJECT_DEPTH,
} from './message_types.js';
export { Signal, Timer, call_later, process_events, type Handler } from './events.js';
export { RequestServer, do_request } from './clientserver.js';
export { PackageQueue, DEFAULT_QUEUE_PARAMS, type QueueParams } from './queue.js';
export {
  HEADER_SIZE,
  CONTROL_BYTES,
  SLOT_DUMMY,
  SLOT_CONTEXT,
  DEFAULT_MAX_MESSAGE_SIZE,
  STOP,
  WireReader,
  encode_package,
  decode_header,
  handshake_line,
  parse_handshake,
  make_package,
  type Package,
  type Header,
  type HandshakeInfo,
  type WireSink,
} from './wire.js';
export {
  YotonConnectError,
  YotonBindError,
  YotonTimeoutError,
  YotonCancelledError,
  YotonRemoteError,
  YotonClosedError,
  YotonDecodeError,
} from './errors.js';
export { Tuple, tuple, Float, float } from '../pickle/types.js';
