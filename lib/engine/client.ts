/**
 * Client: a {@link Stream} for outgoing connections.
 *
 * ```ts
 * class Hello extends Client {
 *   override on_connect() { this.write('hello\n'); }
 *   override on_read(data: Buffer) { console.log(String(data)); this.close(); }
 * }
 * new Hello().connect(['localhost', 4000]);
 * ```
 *
 * @module
 */

import { Stream } from './stream.js';

/** A stream that connects out. Everything is inherited from {@link Stream}. */
export class Client extends Stream {}
