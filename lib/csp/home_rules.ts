/**
 * PyCSP's rules for a channel home, as steps: what a post, a retire, a poison, a join, a
 * leave do to the queues and counters, and the offers themselves (lock both processes in
 * id order, check sequence numbers and READY, commit, release). Each step is a generator
 * that yields the process whose lock it needs and receives the grant (or null when that
 * process cannot be reached), so the same rules run synchronously for local processes and
 * suspend for remote ones. {@link ChannelHome} (home.ts) drives them.
 *
 * @module
 */

import { FAIL, POISON, READY, RETIRE } from './header.js';


/** A process as a home knows it: id, where it lives, and whether it still answers. */
export interface ProcRef {
  /** The process id (a byte string). */
  readonly id: string;
  /** Where it lives: `'host:port'`, or `''` for this process. */
  readonly addr: string;
  /** False once its lock could not be reached: later locks on it fail at once. */
  active: boolean;
  /** For a process of this address space: its lock object (saves a lookup). */
  readonly lock?: LocalLock;
  /**
   * A remote trousers process's plain read or write (not an alternation): its request is
   * the only one of its operation, so only this home can end it, and the home commits it
   * without taking its lock (PyCSP peers never mark requests so).
   */
  readonly exclusive?: boolean;
  /** The sequence number of the request this reference came with (remote processes). */
  readonly seq?: number;
}

/** The lock of a process of this address space, as a home may use it directly. */
export interface LocalLock {
  /**
   * Commits (SUCCESS on `result_id`, with `msg` for a reader) if the lock is free and the
   * process READY at `seq`, as taking, notifying and releasing the free lock would.
   * @returns 1 when committed, 0 when the process is no longer READY at `seq` (a stale
   *   request), -1 when the lock is held (the home must take it the long way)
   */
  offer(seq: number, result_id: string, msg: unknown, has_msg: boolean): number;
}

/** What a lock grant reports: the process's state and sequence number. */
export interface Grant {
  /** READY, FAIL, SUCCESS, POISON or RETIRE. */
  state: number;
  /** The process's current sequence number. */
  seq: number;
}

/**
 * How a home reaches processes. `acquire` answers a grant, or null when the process cannot
 * be reached; a Promise suspends the home until it settles (it must never reject).
 * Every other call sends and forgets.
 */
export interface LockPort<M> {
  /** Take the process's lock and report its state. */
  acquire(proc: ProcRef): Grant | null | Promise<Grant | null>;
  /** Commit a reader: it succeeded on `result_id` and takes `msg`. */
  notify(proc: ProcRef, result_id: string, msg: M): void;
  /** Commit a writer: it succeeded on `result_id`. */
  notify_writer(proc: ProcRef, result_id: string): void;
  /** Poison the process if it is still READY. */
  poison(proc: ProcRef): void;
  /** Retire the process if it is still READY. */
  retire(proc: ProcRef): void;
  /** Release the process's lock. */
  release(proc: ProcRef): void;
  /** The request was checked (PriSelect's ACK). */
  ack(proc: ProcRef): void;
  /** The answer to LEAVE: nothing more will come from this home. */
  quit(proc: ProcRef): void;
  /**
   * Optional: turns a stored message into what `reader` can take (a pickle for a remote
   * reader). It may throw; the home then refuses the message (see {@link LockPort.refuse}).
   */
  prepare?(msg: M, reader: ProcRef): M;
  /**
   * Optional: takes the lock only if that can be done synchronously (a local process whose
   * lock is free): the grant, null when the process is gone, undefined when it cannot.
   * Lets a home commit a purely local rendezvous without suspending.
   */
  try_acquire?(proc: ProcRef): Grant | null | undefined;
  /**
   * Optional: the state of a local process whose lock is free, read without taking it
   * (undefined when that cannot be done). The caller then decides and commits with
   * {@link LockPort.commit} in the same synchronous run, which is what taking, committing
   * and releasing the free lock would do, without the bookkeeping.
   */
  peek?(proc: ProcRef): Grant | null | undefined;
  /** Optional: commits a process just peeked (its lock still free): a reader with `msg`, a writer without. */
  commit?(proc: ProcRef, result_id: string, msg: M | undefined, reader: boolean): void;
  /** Optional: tells a (local) writer its message could not be delivered. */
  refuse?(proc: ProcRef, seq: number, err: unknown): void;
  /** Optional: reports a problem no process can be told about. */
  report?(err: unknown): void;
}

/** A queued request. */
export interface Request<M> {
  /** The requesting process. */
  readonly proc: ProcRef;
  /** Its sequence number when it posted. */
  readonly seq: number;
  /** The writer's message (undefined for readers). */
  readonly msg: M | undefined;
  /** True while an offer in flight holds this request. */
  busy?: boolean;
  /** True once removed from its queue (matching passes skip it). */
  gone?: boolean;
}

/** The commands a home takes, in the order they arrive. */
export type HomeCommand<M> =
  | { readonly op: 'join_reader' | 'join_writer' | 'retire_reader' | 'retire_writer' | 'poison_reader' | 'poison_writer' }
  | { readonly op: 'register' | 'deregister'; readonly from?: string }
  | { readonly op: 'post_read'; readonly proc: ProcRef; readonly seq: number; readonly ack: boolean }
  | { readonly op: 'post_write'; readonly proc: ProcRef; readonly seq: number; readonly msg: M; readonly ack: boolean }
  | { readonly op: 'leave'; readonly proc: ProcRef }
  | { readonly op: 'lost'; readonly addr: string };

/** A step of the rules: yields processes to lock, receives grants. */
export type Step = Generator<ProcRef, void, Grant | null>;
/** A step with a result. */
export type StepOf<T> = Generator<ProcRef, T, Grant | null>;

/** Counters a home keeps, for specs and diagnostics. */
export interface HomeState {
  readers: number;
  writers: number;
  references: number;
  poisoned: boolean;
  retired: boolean;
  queued_reads: number;
  queued_writes: number;
  buffered: number;
}

/** A channel home's state and PyCSP's rules over it; see {@link ChannelHome}. */
export abstract class HomeRules<M> {
  /** The channel name (a byte string): every result a process gets names it. */
  readonly name: string;
  /** Buffer slots (0: rendezvous). */
  readonly capacity: number;
  protected readonly port: LockPort<M>;
  protected readqueue: Request<M>[] = [];
  protected writequeue: Request<M>[] = [];
  protected items: M[] = [];
  protected poisoned = false;
  protected retired = false;
  protected buffer_poisoned = false;
  protected buffer_retired = false;
  protected readers = 0;
  protected writers = 0;
  protected references = 0;
  protected readonly refs_from = new Map<string, number>();
  protected finished = false;
  /** Called once when the last reference is gone (PyCSP's home thread ends then). */
  on_finished: (() => void) | null = null;

  /**
   * @param name - the channel name (byte string)
   * @param capacity - buffer slots, 0 for a rendezvous channel
   * @param port - how to reach processes
   */
  constructor(name: string, capacity: number, port: LockPort<M>) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) throw new RangeError(`buffer must be an integer >= 0, got ${capacity}`);
    this.name = name;
    this.capacity = capacity;
    this.port = port;
  }

  /** The lock of a request's process (an exclusive request's is not taken: it is READY at its seq until this home ends it). */
  protected *take(req: Request<M>): StepOf<Grant | null> {
    if (req.proc.exclusive === true) return req.proc.active ? { state: READY, seq: req.seq } : null;
    return yield req.proc;
  }

  /** Releases what {@link HomeRules.take} took. */
  protected give(req: Request<M>, g: Grant | null): void {
    if (g !== null && req.proc.exclusive !== true) this.port.release(req.proc);
  }

  /** One writer into the buffer: lock, check, store, notify, release. */
  protected *insert_one(w: Request<M>): StepOf<void> {
    const g = yield* this.take(w);
    if (this.state_of(g, w) === READY) {
      this.items.push(w.msg as M);
      this.port.notify_writer(w.proc, this.name);
    }
    this.give(w, g);
  }

  /** One reader from the buffer: lock, check, take the oldest item, notify, release. */
  protected *extract_one(r: Request<M>): StepOf<void> {
    const g = yield* this.take(r);
    if (this.state_of(g, r) === READY && this.items.length > 0) {
      let msg = this.items.shift() as M;
      let ok = true;
      if (this.port.prepare !== undefined) {
        try {
          msg = this.port.prepare(msg, r.proc);
        } catch (err) {
          this.port.report?.(err);
          ok = false;
        }
      }
      if (ok) this.port.notify(r.proc, this.name, msg);
    }
    this.give(r, g);
  }

  // ------------------------------------------------------------------ commands

  protected *handle(cmd: HomeCommand<M>): Step {
    switch (cmd.op) {
      case 'join_reader':
        this.readers++;
        return;
      case 'join_writer':
        this.writers++;
        return;
      case 'retire_reader':
        yield* this.retire_reader();
        return;
      case 'retire_writer':
        yield* this.retire_writer();
        return;
      case 'poison_reader':
        yield* this.poison_all();
        return;
      case 'poison_writer':
        yield* this.poison_writer();
        return;
      case 'register':
        this.references++;
        if (cmd.from !== undefined) this.refs_from.set(cmd.from, (this.refs_from.get(cmd.from) ?? 0) + 1);
        return;
      case 'deregister':
        if (cmd.from !== undefined) {
          const n = this.refs_from.get(cmd.from) ?? 0;
          if (n <= 1) this.refs_from.delete(cmd.from);
          else this.refs_from.set(cmd.from, n - 1);
        }
        this.unreference(1);
        return;
      case 'lost': {
        // Every reference taken from a process that is gone goes with it; its requests too.
        const n = this.refs_from.get(cmd.addr) ?? 0;
        this.refs_from.delete(cmd.addr);
        this.readqueue = this.readqueue.filter((r) => r.proc.addr !== cmd.addr);
        this.writequeue = this.writequeue.filter((r) => r.proc.addr !== cmd.addr);
        if (n > 0) this.unreference(n);
        return;
      }
      case 'leave': {
        const id = cmd.proc.id;
        this.readqueue = this.readqueue.filter((r) => r.proc.id !== id);
        this.writequeue = this.writequeue.filter((r) => r.proc.id !== id);
        this.port.quit(cmd.proc);
        return;
      }
      case 'post_read':
        yield* this.post({ proc: cmd.proc, seq: cmd.seq, msg: undefined }, false);
        if (cmd.ack) this.port.ack(cmd.proc);
        return;
      case 'post_write':
        yield* this.post({ proc: cmd.proc, seq: cmd.seq, msg: cmd.msg }, true);
        if (cmd.ack) this.port.ack(cmd.proc);
        return;
    }
  }

  protected unreference(n: number): void {
    this.references -= n;
    if (this.references <= 0 && !this.finished) {
      this.references = 0;
      this.finished = true;
      this.on_finished?.();
    }
  }

  protected *post(req: Request<M>, write: boolean): Step {
    const end = yield* this.check_termination(write);
    if (end === null) {
      (write ? this.writequeue : this.readqueue).push(req);
      yield* this.match();
      if (this.capacity > 0 && (this.buffer_poisoned || this.buffer_retired) && this.items.length === 0) {
        yield* this.check_termination(false);
      }
      return;
    }
    // The channel is over: tell the poster, if it is still waiting on this request.
    const g = yield req.proc;
    if (g !== null) {
      if (g.seq === req.seq && g.state === READY) {
        if (end === POISON) this.port.poison(req.proc);
        else this.port.retire(req.proc);
      }
      this.port.release(req.proc);
    }
  }

  /**
   * PyCSP's check_termination: applies a poison or retire that waited for the buffer to
   * drain, and says whether the channel is over for a new request (POISON, RETIRE or null).
   */
  protected *check_termination(write: boolean): StepOf<number | null> {
    if (this.capacity > 0 && this.items.length === 0) {
      if (this.buffer_poisoned && !this.poisoned) yield* this.poison_all();
      if (this.buffer_retired && !this.retired) {
        this.retired = true;
        yield* this.end_requests(this.take_queue('read'), RETIRE);
      }
    }
    if (this.poisoned) return POISON;
    if (this.retired) return RETIRE;
    if (write && this.buffer_poisoned) return POISON;
    if (write && this.buffer_retired) return RETIRE;
    return null;
  }

  protected take_queue(which: 'read' | 'write'): Request<M>[] {
    const q = which === 'read' ? this.readqueue : this.writequeue;
    if (which === 'read') this.readqueue = [];
    else this.writequeue = [];
    return q;
  }

  /** Tells each request's process (if still waiting on it) that the channel is over. */
  protected *end_requests(reqs: Request<M>[], end: number): Step {
    for (const r of reqs) {
      const g = yield r.proc;
      if (g === null) continue;
      if (g.seq === r.seq) {
        if (end === POISON) this.port.poison(r.proc);
        else this.port.retire(r.proc);
      }
      this.port.release(r.proc);
    }
  }

  protected *poison_all(): Step {
    this.poisoned = true;
    yield* this.end_requests(this.take_queue('read'), POISON);
    yield* this.end_requests(this.take_queue('write'), POISON);
  }

  protected *poison_writer(): Step {
    if (this.capacity > 0 && this.items.length > 0) {
      // Readers drain the buffer first; the writers are poisoned now.
      this.buffer_poisoned = true;
      yield* this.end_requests(this.take_queue('write'), POISON);
      return;
    }
    yield* this.poison_all();
  }

  protected *retire_reader(): Step {
    this.readers--;
    if (!this.retired && this.readers <= 0) {
      this.retired = true;
      yield* this.end_requests(this.take_queue('write'), RETIRE);
    }
  }

  protected *retire_writer(): Step {
    this.writers--;
    if (!this.retired && this.writers <= 0) {
      if (this.capacity > 0 && this.items.length > 0) {
        this.buffer_retired = true;
        return;
      }
      this.retired = true;
      yield* this.end_requests(this.take_queue('read'), RETIRE);
    }
  }

  // ------------------------------------------------------------------ matching

  protected *match(): Step {
    if (this.capacity > 0) {
      if (this.items.length >= this.capacity) {
        yield* this.extract();
        yield* this.insert();
      } else {
        yield* this.insert();
        yield* this.extract();
      }
      return;
    }
    for (const w of this.writequeue.slice()) {
      for (const r of this.readqueue.slice()) {
        // A process (an alternation reading and writing this channel) never meets itself.
        if (w.proc.id === r.proc.id && w.proc.addr === r.proc.addr) continue;
        const [remove_write, remove_read, success] = yield* this.offer(w, r);
        if (remove_read) remove(this.readqueue, r);
        if (remove_write) {
          remove(this.writequeue, w);
          if (success) return;
          break;
        }
        if (success) return;
      }
    }
  }

  protected state_of(g: Grant | null, req: Request<M>): number {
    if (g === null || g.seq !== req.seq) return FAIL;
    return g.state;
  }

  /** PyCSP's ChannelReq.offer: both locks, in id order; commit if both are READY. */
  protected *offer(w: Request<M>, r: Request<M>): StepOf<[boolean, boolean, boolean]> {
    let msg = w.msg as M;
    if (this.port.prepare !== undefined) {
      try {
        msg = this.port.prepare(msg, r.proc);
      } catch (err) {
        this.port.refuse?.(w.proc, w.seq, err);
        return [true, false, false];
      }
    }
    const w_first = w.proc.id < r.proc.id;
    let wg: Grant | null, rg: Grant | null;
    if (w_first) {
      wg = yield* this.take(w);
      rg = yield* this.take(r);
    } else {
      rg = yield* this.take(r);
      wg = yield* this.take(w);
    }
    const r_state = this.state_of(rg, r);
    const w_state = this.state_of(wg, w);
    let success = false;
    if (r_state === READY && w_state === READY) {
      this.port.notify(r.proc, this.name, msg);
      this.port.notify_writer(w.proc, this.name);
      success = true;
    }
    if (w_first) {
      this.give(r, rg);
      this.give(w, wg);
    } else {
      this.give(w, wg);
      this.give(r, rg);
    }
    return [success || w_state !== READY, success || r_state !== READY, success];
  }

  /** Buffer: take one writer's message if there is room (PyCSP's insertfrom, over the queue). */
  protected *insert(): Step {
    for (const w of this.writequeue.slice()) {
      if (this.items.length >= this.capacity) return;
      const g = yield* this.take(w);
      const state = this.state_of(g, w);
      if (state === READY) {
        this.items.push(w.msg as M);
        this.port.notify_writer(w.proc, this.name);
      }
      this.give(w, g);
      remove(this.writequeue, w);
      if (state === READY) return;
    }
  }

  /** Buffer: give one reader the oldest item (PyCSP's putinto, over the queue). */
  protected *extract(): Step {
    for (const r of this.readqueue.slice()) {
      if (this.items.length === 0) return;
      let msg: M = this.items[0] as M;
      if (this.port.prepare !== undefined) {
        try {
          msg = this.port.prepare(msg, r.proc);
        } catch (err) {
          this.items.shift();
          this.port.report?.(err);
          continue;
        }
      }
      const g = yield* this.take(r);
      const state = this.state_of(g, r);
      if (state === READY) {
        this.items.shift();
        this.port.notify(r.proc, this.name, msg);
      }
      this.give(r, g);
      remove(this.readqueue, r);
      if (state === READY) return;
    }
  }
}

/** Removes `item` from `list` (if there). */
export function remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}
