/**
 * Composition: how code that did not write a channel's class waits for it and watches it,
 * without replacing any of its callbacks.
 *
 * A messaging layer, a test or an application often drives a channel it did not subclass: it
 * needs to know when a server is listening, when a stream is connected, when either has
 * closed. Assigning `server.on_listen = ...` would clobber the user's own callback (and the
 * next layer's), so trousers offers two tools instead:
 *
 * - Promises: {@link listening}, {@link connected} and {@link closed}. Each settles after the
 *   channel's own callback has run, so the channel's class always sees the event first.
 * - Observers: {@link observe} adds a {@link ChannelObserver} to a channel; the channel's one
 *   invoker calls it after each lifecycle callback (`on_listen`, `on_connect`, `on_error`,
 *   `on_close`, ...). Any number of observers may watch one channel, and each can be removed.
 *
 * ```ts
 * const server = new Server(Echo);
 * server.listen(['127.0.0.1', 0]);
 * await listening(server);                 // rejects with the ListenError if binding failed
 * const client = new Client();
 * client.connect(server.local_address!);
 * await connected(client, { timeout: 1000 });
 * client.close();
 * await closed(client);                    // on_close has run
 * ```
 *
 * Observers are told, never asked: they cannot veto or replace the channel's behaviour (its
 * own `on_error` still runs, and still closes by default). An observer that throws is
 * reported to `engine.on_error`; it never reaches the channel. Frames (`on_read`) are not
 * observed: they belong to the channel's class.
 *
 * @module
 */

import { Channel } from './channel.js';
import { ChannelClosedError, TrousersError } from './errors.js';
import { StreamServer } from './stream_server.js';
import { Datagram } from './datagram.js';
import { Stream } from './stream.js';

/**
 * What an observer may watch. Each method is called after the channel's own callback of the
 * same name, with the channel first and that callback's arguments after it.
 */
export interface ChannelObserver<C extends Channel = Channel> {
  /** A server or datagram channel is listening. */
  on_listen?(channel: C): void;
  /** A stream is connected (after the TLS handshake, for TLS streams). */
  on_connect?(channel: C): void;
  /** A connection attempt failed; `on_close` follows. */
  on_connect_error?(channel: C, err: Error): void;
  /** A STARTTLS or TLS handshake completed. */
  on_ssl_handshake?(channel: C): void;
  /** A TLS handshake failed. */
  on_ssl_handshake_error?(channel: C, err: Error): void;
  /** Everything written so far was handed to the OS. */
  on_write?(channel: C): void;
  /** The write buffer rose above its high water mark. */
  on_pause_writing?(channel: C): void;
  /** The write buffer fell below its low water mark. */
  on_resume_writing?(channel: C): void;
  /** The channel's `on_error` was called with `err`. */
  on_error?(channel: C, err: Error): void;
  /** The channel closed; called once, after its own `on_close`. */
  on_close?(channel: C): void;
}

/** The events an observer may watch. */
export type ObservedEvent = keyof ChannelObserver;

/** Options of the waiting functions. */
export interface WaitOptions {
  /** Give up after this many milliseconds (rejecting with a {@link WaitTimeoutError}); default: wait for ever. */
  timeout?: number;
}

/** A {@link listening} or {@link connected} wait ran out of time. The channel is left as it is. */
export class WaitTimeoutError extends TrousersError {
  /** What was waited for: `'listening'` or `'connected'`. */
  readonly event: string;
  /** The time limit, in milliseconds. */
  readonly timeout: number;
  /**
   * @param event - what was waited for
   * @param timeout - the limit that elapsed (ms)
   */
  constructor(event: string, timeout: number) {
    super('ERR_WAIT_TIMEOUT', `not ${event} after ${timeout} ms`);
    this.event = event;
    this.timeout = timeout;
  }
}

/**
 * Adds `observer` to `channel`. Returns a function that removes it again (calling it twice is
 * harmless). Observers of a closed channel are dropped after their `on_close`.
 * @param channel - any trousers channel
 * @param observer - the callbacks to add
 */
export function observe<C extends Channel>(channel: C, observer: ChannelObserver<C>): () => void {
  if (!(channel instanceof Channel)) throw new TypeError('observe() needs a trousers channel');
  if (observer === null || typeof observer !== 'object') throw new TypeError('an observer must be an object');
  return channel._observe(observer as ChannelObserver);
}

/**
 * Resolves with the channel once a {@link StreamServer} or {@link Datagram} is listening (at
 * once if it is). Rejects with the error its `on_error` was given before it listened (a
 * `ListenError` when binding failed), with a `ChannelClosedError` if it closed first, or with a
 * {@link WaitTimeoutError}.
 * @param channel - a server or datagram channel that was told to `listen()`
 * @param options - `{ timeout }` in ms
 */
export function listening<C extends StreamServer | Datagram>(channel: C, options: WaitOptions = {}): Promise<C> {
  if (!(channel instanceof StreamServer) && !(channel instanceof Datagram)) {
    throw new TypeError('listening() needs a StreamServer or a Datagram');
  }
  return wait_for(channel, 'listening', () => channel.listening, 'on_listen', options);
}

/**
 * Resolves with the stream once it is connected (at once if it is). Rejects with the
 * `ConnectError` (or other error) reported before it connected, with a `ChannelClosedError` if
 * it closed first, or with a {@link WaitTimeoutError}.
 * @param stream - a stream that is connecting or was handed a socket
 * @param options - `{ timeout }` in ms
 */
export function connected<C extends Stream>(stream: C, options: WaitOptions = {}): Promise<C> {
  if (!(stream instanceof Stream)) throw new TypeError('connected() needs a Stream');
  return wait_for(stream, 'connected', () => stream.connected, 'on_connect', options);
}

/**
 * Resolves once the channel's `on_close` has run (at once if it has). Never rejects.
 * @param channel - any trousers channel
 */
export function closed(channel: Channel): Promise<void> {
  if (!(channel instanceof Channel)) throw new TypeError('closed() needs a trousers channel');
  if (channel.closed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const stop = channel._observe({
      on_close: () => {
        stop();
        resolve();
      },
    });
  });
}

function wait_for<C extends Channel>(
  channel: C,
  event: string,
  already: () => boolean,
  success: 'on_listen' | 'on_connect',
  options: WaitOptions,
): Promise<C> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const timeout = options.timeout;
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout))) {
    throw new RangeError('options.timeout must be a finite number of milliseconds >= 0');
  }
  if (already()) return Promise.resolve(channel);
  if (channel.closed) return Promise.reject(new ChannelClosedError(`wait until ${event}`));
  return new Promise<C>((resolve, reject) => {
    let error: Error | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = (err: Error | null): void => {
      stop();
      if (timer !== undefined) clearTimeout(timer);
      if (err === null) resolve(channel);
      else reject(err);
    };
    const observer: ChannelObserver = {
      [success]: () => settle(null),
      on_connect_error: (_c: Channel, err: Error) => {
        error ??= err;
      },
      on_error: (_c: Channel, err: Error) => {
        error ??= err;
      },
      on_close: () => settle(error ?? new ChannelClosedError(`wait until ${event}`)),
    };
    const stop = channel._observe(observer);
    if (timeout !== undefined) {
      // Not unref'd: a wait with a time limit keeps the process alive until it settles (at
      // most `timeout` ms), so `await connected(idle, { timeout })` cannot end the process
      // with the promise still pending.
      timer = setTimeout(() => settle(new WaitTimeoutError(event, timeout)), timeout);
    }
  });
}
