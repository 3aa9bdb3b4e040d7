/**
 * Yoton's bounded queue (`queue_params`): at `maxlen` items, mode `'old'` drops the oldest
 * item to make room, mode `'new'` drops the item being pushed. A ring buffer: push, pop,
 * insert at the front and peek are O(1).
 *
 * @module
 */

/** `[maxlen, discard_mode]`, as yoton's `queue_params`. */
export type QueueParams = readonly [maxlen: number, discard_mode: 'old' | 'new'];

/** yoton's default: `(10000, 'old')`. */
export const DEFAULT_QUEUE_PARAMS: QueueParams = [10000, 'old'];

/**
 * Checks `queue_params` and returns a normalised copy.
 * @throws TypeError / RangeError `queue_params should be a 2-element tuple.` or `Invalid discard mode.`
 */
export function check_queue_params(value: unknown): QueueParams {
  if (!Array.isArray(value) || value.length !== 2) throw new TypeError('queue_params should be a 2-element tuple.');
  const [maxlen, mode] = value as [unknown, unknown];
  if (typeof maxlen !== 'number' || !Number.isSafeInteger(maxlen) || maxlen < 1) {
    throw new RangeError(`queue_params maxlen must be an integer >= 1, got ${String(maxlen)}`);
  }
  const m = typeof mode === 'string' ? mode.toLowerCase() : mode;
  if (m !== 'old' && m !== 'new') throw new RangeError('Invalid discard mode.');
  return [maxlen, m];
}

/** A bounded FIFO with yoton's discard rule. */
export class PackageQueue<T> {
  private ring: (T | undefined)[];
  private start = 0;
  private count = 0;
  /** Items dropped because the queue was full. */
  discarded = 0;

  /**
   * @param maxlen - most items held
   * @param mode - which item goes when full: `'old'` (the oldest) or `'new'` (the pushed one)
   */
  constructor(
    readonly maxlen: number,
    readonly mode: 'old' | 'new' = 'old',
  ) {
    this.ring = new Array<T | undefined>(Math.min(maxlen, 16));
  }

  /** Items held. */
  get length(): number {
    return this.count;
  }

  /** True at `maxlen`. */
  full(): boolean {
    return this.count >= this.maxlen;
  }

  /** True when empty. */
  empty(): boolean {
    return this.count === 0;
  }

  private grow(): void {
    const old = this.ring;
    const next = new Array<T | undefined>(Math.min(this.maxlen, old.length * 2));
    for (let i = 0; i < this.count; i++) next[i] = old[(this.start + i) % old.length];
    this.ring = next;
    this.start = 0;
  }

  /** Appends `item`, discarding as the mode says when full. @returns false if `item` was dropped */
  push(item: T): boolean {
    if (this.count >= this.maxlen) {
      this.discarded++;
      if (this.mode === 'new') return false;
      this.shift();
    }
    if (this.count === this.ring.length) this.grow();
    this.ring[(this.start + this.count) % this.ring.length] = item;
    this.count++;
    return true;
  }

  /** Puts `item` in front (never discards; may exceed `maxlen` by the items inserted). */
  insert(item: T): void {
    if (this.count === this.ring.length) {
      // grow past maxlen only for inserts
      const old = this.ring;
      const next = new Array<T | undefined>(old.length * 2 || 1);
      for (let i = 0; i < this.count; i++) next[i] = old[(this.start + i) % old.length];
      this.ring = next;
      this.start = 0;
    }
    this.start = (this.start - 1 + this.ring.length) % this.ring.length;
    this.ring[this.start] = item;
    this.count++;
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.ring[this.start];
    this.ring[this.start] = undefined;
    this.start = (this.start + 1) % this.ring.length;
    this.count--;
    return item;
  }

  /** The item at `index` (0 the oldest, -1 the newest) without removing it, or undefined. */
  peek(index = 0): T | undefined {
    const i = index < 0 ? this.count + index : index;
    if (i < 0 || i >= this.count) return undefined;
    return this.ring[(this.start + i) % this.ring.length];
  }

  /** Removes everything. */
  clear(): void {
    this.ring = new Array<T | undefined>(Math.min(this.maxlen, 16));
    this.start = 0;
    this.count = 0;
  }
}
