/**
 * The Redis key names of a group (the Python package's layout, plus trousers' wake-up list).
 * (not part of the public API beyond the two functions `trousers/group` re-exports)
 *
 * @module
 */

/** The queue key of messages from `sender` to `receiver`, as Python's `str([s, r])` writes it. */
export function queue_key(sender: string, receiver: string): string {
  return `['${sender}', '${receiver}']`;
}

/** The wake-up list of `pid` (a trousers addition). */
export function wake_key(pid: string): string {
  return `group:wake:${pid}`;
}

/** The sender's pid in a queue key written by {@link queue_key}. */
export function sender_of(key: string): string {
  return key.split("'")[1]!;
}
