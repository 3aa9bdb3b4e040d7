/**
 * trousers/csp: PyCSP's networked any-to-any channels (pycsp.parallel 0.9.2), wire-compatible,
 * with retire, poison and alternation, on the trousers engine.
 *
 * ```ts
 * import { Channel, retire, shutdown } from 'trousers/csp';
 * const c = new Channel('numbers');
 * await c.ready();                            // c.address: give it to a Python process
 * const cin = c.reader();
 * for (;;) console.log(await cin.read());     // ends with ChannelRetireError once writers retire
 * ```
 *
 * @module
 */

export { Channel, ChannelEnd, ChannelEndRead, ChannelEndWrite, retire, poison, type ChannelOptions, type EndDescription, type Ends } from './channel.js';
export { AltSelect, PriSelect, FairSelect, InputGuard, OutputGuard, SkipGuard, TimeoutGuard, type Guard, type Selected } from './alternation.js';
export { process, Parallel, Spawn, Sequence, multiprocess, shutdown, CspProcess, type ProcessFactory } from './process.js';
export { configure, type CspOptions } from './config.js';
export {
  ChannelPoisonError,
  ChannelRetireError,
  ChannelSocketError,
  ChannelConnectError,
  ChannelLostError,
  ChannelBindError,
  ChannelMovedError,
  CspUsageError,
  CspProtocolError,
  type CspAddress,
} from './errors.js';
