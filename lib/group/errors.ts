/**
 * The errors of `trousers/group`, each a {@link TrousersError} with a stable `code`. The
 * Python package raised `AssertionError` or `KeyError` for these, or let Redis fail.
 *
 * | class | code | when |
 * |---|---|---|
 * | {@link NotBoundError} | `ERR_GROUP_NOT_BOUND` | send / receive / leave before `join` or `bind` gave the channel a pid |
 * | {@link NotJoinedError} | `ERR_GROUP_NOT_JOINED` | the bound pid is not (or no longer) in `members` |
 * | {@link UnknownDestinationError} | `ERR_GROUP_UNKNOWN_DESTINATION` | `sendTo` names a pid that is not a member |
 * | {@link UnknownSenderError} | `ERR_GROUP_UNKNOWN_SENDER` | `recvFrom` names a pid that is not a member |
 * | {@link NoSendersError} | `ERR_GROUP_NO_SENDERS` | `recvFrom` with an empty sender set (Python: a Redis argument error) |
 * | {@link GroupFullError} | `ERR_GROUP_FULL` | `join` finds all 2^nBits pids taken |
 * | {@link JoinConflictError} | `ERR_GROUP_JOIN_CONFLICT` | `join` lost the WATCH race too many times in a row |
 *
 * @module
 */

import { TrousersError } from '../index.js';

/** The channel has no pid yet: call `join()` (which binds) or `bind(pid)` first. */
export class NotBoundError extends TrousersError {
  /** @param operation - what was attempted */
  constructor(operation: string) {
    super('ERR_GROUP_NOT_BOUND', `${operation}: this channel is not bound to a pid (join() or bind() first)`);
  }
}

/** The bound pid is not a member of the group. */
export class NotJoinedError extends TrousersError {
  /** The pid. */
  readonly pid: string;
  /** @param pid - the caller's pid */
  constructor(pid: string) {
    super('ERR_GROUP_NOT_JOINED', `pid ${pid} has not joined the group`);
    this.pid = pid;
  }
}

/** A destination of `sendTo` is not a member. */
export class UnknownDestinationError extends TrousersError {
  /** The pid. */
  readonly pid: string;
  /** @param pid - the destination */
  constructor(pid: string) {
    super('ERR_GROUP_UNKNOWN_DESTINATION', `destination ${pid} is not a member of the group`);
    this.pid = pid;
  }
}

/** A sender named in `recvFrom` is not a member. */
export class UnknownSenderError extends TrousersError {
  /** The pid. */
  readonly pid: string;
  /** @param pid - the sender */
  constructor(pid: string) {
    super('ERR_GROUP_UNKNOWN_SENDER', `sender ${pid} is not a member of the group`);
    this.pid = pid;
  }
}

/** `recvFrom` was given no senders. */
export class NoSendersError extends TrousersError {
  constructor() {
    super('ERR_GROUP_NO_SENDERS', 'recvFrom needs at least one sender');
  }
}

/** Every pid below 2^nBits is taken. */
export class GroupFullError extends TrousersError {
  /** How many pids the group has room for (2^nBits). */
  readonly size: number;
  /** @param size - 2^nBits */
  constructor(size: number) {
    super('ERR_GROUP_FULL', `all ${size} pids of the group are taken`);
    this.size = size;
  }
}

/** `join` retried its WATCH transaction too often (heavy contention). */
export class JoinConflictError extends TrousersError {
  /** @param attempts - how many times it tried */
  constructor(attempts: number) {
    super('ERR_GROUP_JOIN_CONFLICT', `join lost the race for a pid ${attempts} times in a row`);
  }
}
