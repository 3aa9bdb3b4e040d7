/**
 * The entry point of a `multiprocess()` child: receives the module, export name and
 * portable arguments from the parent over IPC, runs the export as a CSP process with its
 * channel ends reconnected here, shuts the node down and reports the return value.
 *
 * @module
 */

import { CspProcess, from_portable, process as make_process, shutdown, type Portable } from './process.js';

interface Job {
  module: string;
  name: string;
  args: Portable[];
}

function reply(m: unknown): Promise<void> {
  return new Promise<void>((resolve) => {
    if (typeof globalThis.process.send !== 'function') {
      resolve();
      return;
    }
    globalThis.process.send(m, undefined, {}, () => resolve());
  });
}

async function run(job: Job): Promise<void> {
  try {
    const mod = (await import(job.module)) as Record<string, unknown>;
    const exported = mod[job.name];
    if (typeof exported !== 'function') throw new TypeError(`${job.module} has no function export ${job.name}`);
    const fn = ((exported as { csp_fn?: unknown }).csp_fn ?? exported) as (...a: unknown[]) => unknown;
    const args = job.args.map(from_portable);
    const proc: CspProcess = make_process(fn)(...args);
    const value = await proc.start();
    await shutdown();
    await reply({ ok: true, value });
  } catch (err) {
    try {
      await shutdown();
    } catch {
      // reporting the first error matters more
    }
    await reply({ ok: false, error: err instanceof Error ? err.message : String(err), code: (err as { code?: string }).code });
  }
  globalThis.process.disconnect?.();
}

globalThis.process.once('message', (m) => {
  void run(m as Job);
});
