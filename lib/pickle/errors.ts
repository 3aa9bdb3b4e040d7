/**
 * The errors of `trousers/pickle`.
 *
 * Reading: every way a pickle can be bad ends in one {@link UnpicklingError}, a
 * {@link TrousersError} whose `code` says what was wrong (switch on the code, not the message):
 *
 * | code                    | the pickle...                                                     |
 * |-------------------------|-------------------------------------------------------------------|
 * | `ERR_PICKLE_TRUNCATED`  | ends inside an opcode or before `STOP`, or a length field is longer than the bytes left |
 * | `ERR_PICKLE_OPCODE`     | holds a byte that is no opcode                                      |
 * | `ERR_PICKLE_PROTOCOL`   | asks for a protocol above 5                                        |
 * | `ERR_PICKLE_STACK`      | misuses the stack: pops an empty stack, lacks a `MARK`, appends to a non-list, hashes a list... |
 * | `ERR_PICKLE_MEMO`       | reads a memo slot never written, or names a memo slot out of range |
 * | `ERR_PICKLE_GLOBAL`     | names a global that is neither on the allow-list nor accepted by `find_class`, or uses one wrongly |
 * | `ERR_PICKLE_VALUE`      | holds a malformed literal: bad decimal text, bad escape, bad UTF-8, a Python 2 `str` that is not ASCII under `encoding: 'ascii'` |
 * | `ERR_PICKLE_UNSUPPORTED`| needs what a pure decoder does not have: persistent ids, the extension registry, out-of-band buffers |
 * | `ERR_PICKLE_TOO_LARGE`  | is longer than `max_bytes`                                          |
 * | `ERR_PICKLE_TOO_DEEP`   | nests deeper than `max_depth`                                       |
 *
 * Writing: a value `dumps` cannot represent throws a {@link PicklingError}, which is a
 * `TypeError` (as the issue asks and as Node does for values of the wrong type) naming the
 * path of the value inside the argument, e.g. `value[2].get("cb")`.
 *
 * @module
 */

import { TrousersError } from '../index.js';

/** The codes an {@link UnpicklingError} carries. */
export type UnpicklingErrorCode =
  | 'ERR_PICKLE_TRUNCATED'
  | 'ERR_PICKLE_OPCODE'
  | 'ERR_PICKLE_PROTOCOL'
  | 'ERR_PICKLE_STACK'
  | 'ERR_PICKLE_MEMO'
  | 'ERR_PICKLE_GLOBAL'
  | 'ERR_PICKLE_VALUE'
  | 'ERR_PICKLE_UNSUPPORTED'
  | 'ERR_PICKLE_TOO_LARGE'
  | 'ERR_PICKLE_TOO_DEEP';

/** A pickle could not be read. `offset` is where in the input the offending opcode starts. */
export class UnpicklingError extends TrousersError {
  /** Which rule the pickle broke. */
  declare readonly code: UnpicklingErrorCode;
  /** Byte offset of the opcode being read when the error was found (-1 when not about one). */
  readonly offset: number;
  /**
   * @param code - which rule the pickle broke
   * @param message - what was wrong (never contains the pickle's data beyond names of globals)
   * @param offset - byte offset of the offending opcode, or -1
   * @param cause - the underlying error, if any
   */
  constructor(code: UnpicklingErrorCode, message: string, offset = -1, cause?: unknown) {
    super(code, offset >= 0 ? `${message} (at byte ${offset})` : message, cause === undefined ? undefined : { cause });
    this.offset = offset;
  }
}

/**
 * A value `dumps` cannot write: `undefined`, a function, a symbol, a class instance, a typed
 * array other than `Uint8Array`, a nesting deeper than `max_depth`. A `TypeError` (so
 * `instanceof TypeError` holds) with a stable `code` and the value's `path`.
 */
export class PicklingError extends TypeError {
  /** `'ERR_PICKLE_UNSUPPORTED_TYPE'` for a value of no Python type, `'ERR_PICKLE_TOO_DEEP'` for nesting. */
  readonly code: 'ERR_PICKLE_UNSUPPORTED_TYPE' | 'ERR_PICKLE_TOO_DEEP';
  /** Where the value sits in the argument of `dumps`, e.g. `value.items[3]`. */
  path: string;
  /** What is wrong, without the path. */
  readonly reason: string;
  /**
   * @param code - the stable code
   * @param reason - what is wrong with the value
   * @param path - where it sits (more is prepended as the error travels outwards)
   */
  constructor(code: 'ERR_PICKLE_UNSUPPORTED_TYPE' | 'ERR_PICKLE_TOO_DEEP', reason: string, path = 'value') {
    super(`${path}: ${reason}`);
    this.code = code;
    this.reason = reason;
    this.path = path;
  }

  /** The class name as the error's `name`. */
  override get name(): string {
    return 'PicklingError';
  }

  /** Puts `segment` (e.g. `[3]` or `.get("key")`) in front of the path below `value`. @internal */
  prefix(segment: string): void {
    this.path = `value${segment}${this.path.slice('value'.length)}`;
    this.message = `${this.path}: ${this.reason}`;
  }
}
