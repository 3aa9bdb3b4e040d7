/**
 * The JavaScript side of Python's value types: the runtime classes that keep a Python type
 * distinct where JavaScript has no type of its own for it, shared by every layer that moves
 * Python values (`trousers/pickle`, `trousers/yoton`, `trousers/csp`, `trousers/group`).
 *
 * | Python            | JavaScript                                     |
 * |-------------------|------------------------------------------------|
 * | `None`            | `null`                                         |
 * | `bool`            | `boolean`                                      |
 * | `int`             | `number` (safe integer) or `bigint`            |
 * | `float`           | `number`; {@link Float} forces a float          |
 * | `str`             | `string`                                       |
 * | `bytes`           | `Buffer` / `Uint8Array`                        |
 * | `bytearray`       | {@link ByteArray}                              |
 * | `tuple`           | {@link Tuple}                                  |
 * | `list`            | `Array`                                        |
 * | `dict`            | `Map` (or a plain object, on request)          |
 * | `set`             | `Set`                                          |
 * | `frozenset`       | {@link FrozenSet}                              |
 *
 * @module
 */

/**
 * Tuple's base class, holding its `Symbol.species`: map(), filter() and slice() on a tuple
 * give plain arrays, as Python's list operations do. Not on Tuple itself: V8 constructs a
 * class that has its own `Symbol.species` some twenty times slower (about 200 ns a tuple
 * instead of 10), and inherited it costs nothing.
 */
class ArrayOfPlainSpecies<T> extends Array<T> {
  /** `Array`: what map(), filter(), slice() and the like make from a tuple. */
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }
}

/**
 * A Python `tuple`: an Array subclass, so it indexes and iterates as an array. Builds from
 * its items as arrays do: `Tuple.of(1, 2)` or `Tuple.from(iterable)`; `new Tuple(3)`
 * follows Array's constructor rules. map(), filter() and slice() on a tuple give plain arrays.
 */
export class Tuple<T = unknown> extends ArrayOfPlainSpecies<T> {}

/** Makes a {@link Tuple} of the items given. */
export function tuple<T>(...items: T[]): Tuple<T> {
  // made at its length and filled by index: push on an Array subclass takes V8's slow path
  const n = items.length;
  const t = new Tuple<T>(n);
  for (let i = 0; i < n; i++) t[i] = items[i]!;
  return t;
}

/** A Python `bytearray`: a Uint8Array subclass. */
export class ByteArray extends Uint8Array {}

/** A Python `frozenset`: a Set subclass. */
export class FrozenSet<T = unknown> extends Set<T> {}

/**
 * A number that must travel as a Python `float` even when it is an integer: `float(3)` is
 * written as `3.0`. Values read from the wire are plain numbers; this wrapper only steers
 * writing.
 */
export class Float {
  /** The number. */
  readonly value: number;
  /** @param value - the number */
  constructor(value: number) {
    if (typeof value !== 'number') throw new TypeError('Float wraps a number');
    this.value = value;
  }
  /** The number, so `+f` and arithmetic work. */
  valueOf(): number {
    return this.value;
  }
  /** Python's repr of the float, e.g. `3.0`. */
  toString(): string {
    const v = this.value;
    if (Number.isInteger(v) && !Object.is(v, -0)) return `${v}.0`;
    if (Object.is(v, -0)) return '-0.0';
    return String(v);
  }
}

/** Wraps `value` so it is written as a Python `float`. */
export function float(value: number): Float {
  return new Float(value);
}

/**
 * The values the Python layers read and write. Containers hold further values; `Map` keys
 * may be any value (tuples included).
 */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Float
  | Uint8Array
  | PyValue[]
  | Map<unknown, unknown>
  | Set<unknown>
  | { [key: string]: unknown };
