/**
 * `trousers/redis`: a Redis client on the trousers engine, with a pure RESP2/RESP3 codec.
 *
 * ```ts
 * import { RedisClient } from 'trousers/redis';
 *
 * const redis = new RedisClient({ address: ['127.0.0.1', 6379] });
 * await redis.command('RPUSH', 'jobs', 'one', 'two');
 * const worker = redis.duplicate();                        // BLPOP holds its connection
 * const [key, job] = (await worker.command('BLPOP', 'jobs', 1)) as Buffer[];
 * await Promise.all([redis.close(), worker.close()]);
 * ```
 *
 * Python's redis-py sees the same data:
 *
 * ```python
 * import redis
 * r = redis.Redis(port=6379); r.rpush('jobs', 'three'); print(r.lrange('jobs', 0, -1))
 * ```
 *
 * @module
 */

export { RedisClient, type RedisClientOptions, type ReconnectOptions } from './client.js';
export { RedisConnection } from './connection.js';
export { Transaction } from './transaction.js';
export {
  encode_command,
  encode_reply,
  RespDecoder,
  RespPush,
  SimpleString,
  OK,
  NULL_ARRAY,
  INCOMPLETE,
  type RedisArg,
  type RedisReply,
  type RespOut,
  type RespLimits,
  type RespDecoderOptions,
} from './resp.js';
export { RespParser } from './parser.js';
export {
  RedisError,
  RedisProtocolError,
  RedisConnectionError,
  RedisClosedError,
  RedisQueueFullError,
  RedisWatchLostError,
} from './errors.js';
