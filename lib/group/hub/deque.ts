/**
 * Deque: the hub's list type, a ring buffer with O(1) pushes and pops at both ends (a
 * JavaScript array's `shift`/`unshift` copy the whole array once it is large, which made a
 * long queue quadratic to drain).
 *
 * @module
 */

/** A double-ended queue over a power-of-two ring buffer. */
export class Deque<T> {
  private buf: (T | undefined)[] = new Array<T | undefined>(8);
  private head = 0;
  private size = 0;

  /** Elements held. */
  get length(): number {
    return this.size;
  }

  /** Appends at the tail. */
  push(item: T): void {
    if (this.size === this.buf.length) this.grow();
    this.buf[(this.head + this.size) & (this.buf.length - 1)] = item;
    this.size++;
  }

  /** Prepends at the head. */
  unshift(item: T): void {
    if (this.size === this.buf.length) this.grow();
    this.head = (this.head - 1) & (this.buf.length - 1);
    this.buf[this.head] = item;
    this.size++;
  }

  /** Removes and returns the head, or undefined. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.size--;
    return item;
  }

  /** Removes and returns the tail, or undefined. */
  pop(): T | undefined {
    if (this.size === 0) return undefined;
    const at = (this.head + this.size - 1) & (this.buf.length - 1);
    const item = this.buf[at];
    this.buf[at] = undefined;
    this.size--;
    return item;
  }

  /** The element at index `i` (0 = head), or undefined. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.size) return undefined;
    return this.buf[(this.head + i) & (this.buf.length - 1)];
  }

  /** Elements `from` to `to` (exclusive), in order. */
  slice(from: number, to: number): T[] {
    const out: T[] = [];
    for (let i = Math.max(0, from); i < Math.min(to, this.size); i++) out.push(this.at(i)!);
    return out;
  }

  /** Replaces the contents (after a removal in the middle). */
  replace(items: T[]): void {
    let cap = 8;
    while (cap < items.length) cap *= 2;
    this.buf = new Array<T | undefined>(cap);
    for (let i = 0; i < items.length; i++) this.buf[i] = items[i];
    this.head = 0;
    this.size = items.length;
  }

  private grow(): void {
    const old = this.buf;
    const next = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = old[(this.head + i) & (old.length - 1)];
    this.buf = next;
    this.head = 0;
  }
}
