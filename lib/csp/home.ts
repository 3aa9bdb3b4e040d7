/**
 * The channel home: where a channel lives, and how it pairs offers (PyCSP's `ChannelHome`,
 * `ChannelReq.offer` and `Buffer`, with the same two-phase lock / validate / commit /
 * release protocol). Pure logic: it talks to processes only through a {@link LockPort}, so a
 * spec drives it without sockets, and the dispatcher drives it with them.
 *
 * - Readers and writers post requests `(process, seq)`; the home queues them and matches.
 * - To commit a pair it takes both processes' locks, in ascending process-id order (so two
 *   homes never deadlock), checks that each still has the sequence number of its request
 *   and is READY, and then notifies both (the reader gets the writer's message) and releases
 *   them in reverse order. A request whose process is no longer READY at that seq (an
 *   alternation that went elsewhere, an earlier operation) is dropped.
 * - Buffered channels put and take items under the same lock-check-notify-release, on one
 *   process at a time.
 * - Retire counts joins: when every reader (or every writer) has retired, the channel
 *   retires; a writer-side retire or poison waits for the buffer to drain first.
 * - The home handles one command at a time, in arrival order, as PyCSP's home thread does;
 *   a lock taken on a remote process suspends it until the answer arrives, while later
 *   commands queue. Locks of local processes answer at once, so a purely local rendezvous
 *   runs synchronously.
 *
 * Fixes to PyCSP 0.9.2 (see docs/csp.md): a process never offers to itself (PyCSP deadlocks
 * when an alternation reads and writes the same channel); writers that post after a
 * writer-side poison or retire that waits on the buffer are refused at once (PyCSP would
 * take their messages); readers queued when such a buffer drains are told at once (PyCSP
 * waits for the next post); queues of retired sides are flushed.
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
  readonly lock?: object;
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
}

/** The commands a home takes, in the order they arrive. */
export type HomeCommand<M> =
  | { readonly op: 'join_reader' | 'join_writer' | 'retire_reader' | 'retire_writer' | 'poison_reader' | 'poison_writer' }
  | { readonly op: 'register' | 'deregister'; readonly from?: string }
  | { readonly op: 'post_read'; readonly proc: ProcRef; readonly seq: number; readonly ack: boolean }
  | { readonly op: 'post_write'; readonly proc: ProcRef; readonly seq: number; readonly msg: M; readonly ack: boolean }
  | { readonly op: 'leave'; readonly proc: ProcRef }
  | { readonly op: 'lost'; readonly addr: string };

type Step = Generator<ProcRef, void, Grant | null>;
type StepOf<T> = Generator<ProcRef, T, Grant | null>;

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

/** One channel's home. */
export class ChannelHome<M> {
  /** The channel name (a byte string): every result a process gets names it. */
  readonly name: string;
  /** Buffer slots (0: rendezvous). */
  readonly capacity: number;
  private readonly port: LockPort<M>;
  private readqueue: Request<M>[] = [];
  private writequeue: Request<M>[] = [];
  private items: M[] = [];
  private poisoned = false;
  private retired = false;
  private buffer_poisoned = false;
  private buffer_retired = false;
  private readers = 0;
  private writers = 0;
  private references = 0;
  private readonly refs_from = new Map<string, number>();
  private inbox: HomeCommand<M>[] = [];
  private head = 0;
  private finished = false;
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

  /** A snapshot of the counters. */
  get state(): HomeState {
    return {
      readers: this.readers,
      writers: this.writers,
      references: this.references,
      poisoned: this.poisoned,
      retired: this.retired,
      queued_reads: this.readqueue.length,
      queued_writes: this.writequeue.length,
      buffered: this.items.length,
    };
  }

  /** True once the last reference was removed. */
  get done(): boolean {
    return this.finished;
  }

  /** Posts a read (`write` false) or write request: {@link ChannelHome.submit} without building a command when it can. */
  post_request(proc: ProcRef, seq: number, write: boolean, msg: M, ack: boolean): void {
    if (this.capacity === 0 && this.current === null && this.head >= this.inbox.length && this.fast(proc, seq, write, msg, ack)) return;
    this.submit(write ? { op: 'post_write', proc, seq, msg, ack } : { op: 'post_read', proc, seq, ack });
  }

  /**
   * Queues a command and runs what can run. Posts to an open rendezvous channel are matched
   * at once, several offers in flight together (each on its own pair of requests, so on
   * disjoint locks); every other command waits until the offers in flight have finished,
   * then runs alone, in order, as in PyCSP's home thread.
   */
  submit(cmd: HomeCommand<M>): void {
    if (this.capacity === 0 && (cmd.op === 'post_read' || cmd.op === 'post_write') && this.current === null && this.head >= this.inbox.length) {
      if (this.fast(cmd.proc, cmd.seq, cmd.op === 'post_write', cmd.op === 'post_write' ? cmd.msg : (undefined as M), cmd.ack)) return;
    }
    this.inbox.push(cmd);
    this.drain();
  }

  /**
   * The same matching as {@link ChannelHome.match} for a new request on an open rendezvous
   * channel, without generators, when every lock it needs answers synchronously. Returns
   * false (having changed nothing) when it cannot decide that way.
   */
  private fast(proc: ProcRef, seq: number, write: boolean, msg: M, ack: boolean): boolean {
    const try_acquire = this.port.try_acquire;
    if (try_acquire === undefined || this.poisoned || this.retired || proc.addr !== '') return false;
    const req = { proc, seq, msg: write ? msg : undefined } as Request<M>;
    const others = write ? this.readqueue : this.writequeue;
    for (let i = 0; i < others.length; i++) {
      const o = others[i]!;
      if (o.busy === true || o.proc.id === req.proc.id) continue;
      if (o.proc.addr !== '') return false;
      const w = write ? req : o;
      const r = write ? o : req;
      const w_first = w.proc.id < r.proc.id;
      const first = w_first ? w : r;
      const second = w_first ? r : w;
      const g1 = try_acquire.call(this.port, first.proc);
      if (g1 === undefined) return false;
      const g2 = try_acquire.call(this.port, second.proc);
      if (g2 === undefined) {
        if (g1 !== null) this.port.release(first.proc);
        return false;
      }
      const wg = w_first ? g1 : g2;
      const rg = w_first ? g2 : g1;
      const r_state = this.state_of(rg, r);
      const w_state = this.state_of(wg, w);
      const success = r_state === READY && w_state === READY;
      if (success) {
        this.port.notify(r.proc, this.name, w.msg as M);
        this.port.notify_writer(w.proc, this.name);
      }
      if (g2 !== null) this.port.release(second.proc);
      if (g1 !== null) this.port.release(first.proc);
      const o_state = write ? r_state : w_state;
      if (success || o_state !== READY) {
        others.splice(i, 1);
        i--;
      }
      if (success || (write ? w_state : r_state) !== READY) {
        if (ack) this.port.ack(proc);
        return true;
      }
    }
    (write ? this.writequeue : this.readqueue).push(req);
    if (ack) this.port.ack(proc);
    return true;
  }

  // ------------------------------------------------------------------ the driver

  private current: StepOf<unknown> | null = null;
  private tasks = 0;
  private draining = false;
  private redrain = false;
  private matching = false;
  private rematch = false;

  /** Whether a post may be matched concurrently (an open rendezvous channel, no ACK asked). */
  private concurrent(cmd: HomeCommand<M>): cmd is Extract<HomeCommand<M>, { op: 'post_read' | 'post_write' }> {
    return (cmd.op === 'post_read' || cmd.op === 'post_write') && !cmd.ack && !this.poisoned && !this.retired && !this.buffer_poisoned && !this.buffer_retired;
  }

  private drain(): void {
    if (this.draining) {
      this.redrain = true;
      return;
    }
    this.draining = true;
    try {
      do {
        this.redrain = false;
        while (this.current === null && this.head < this.inbox.length) {
          const cmd = this.inbox[this.head]!;
          if (this.concurrent(cmd)) {
            this.inbox[this.head++] = undefined as unknown as HomeCommand<M>;
            const req: Request<M> = { proc: cmd.proc, seq: cmd.seq, msg: cmd.op === 'post_write' ? cmd.msg : undefined };
            (cmd.op === 'post_write' ? this.writequeue : this.readqueue).push(req);
            this.schedule_match();
            continue;
          }
          if (this.tasks > 0) break; // wait for the offers in flight
          this.inbox[this.head++] = undefined as unknown as HomeCommand<M>;
          const gen = this.handle(cmd);
          this.current = gen;
          this.run(gen, () => {
            if (this.current === gen) this.current = null;
            this.drain();
          });
        }
        if (this.head >= this.inbox.length) {
          this.inbox.length = 0;
          this.head = 0;
        }
      } while (this.redrain);
    } finally {
      this.draining = false;
    }
  }

  /** Drives a step generator: locks answered at once continue at once, others when they come. */
  private run<T>(gen: StepOf<T>, done: (result: T | undefined) => void, value: Grant | null = null): void {
    for (;;) {
      let step: IteratorResult<ProcRef, T>;
      try {
        step = gen.next(value);
      } catch (err) {
        this.port.report?.(err);
        done(undefined);
        return;
      }
      if (step.done === true) {
        done(step.value);
        return;
      }
      const proc = step.value;
      let got: Grant | null | Promise<Grant | null>;
      try {
        got = proc.active ? this.port.acquire(proc) : null;
      } catch (err) {
        this.port.report?.(err);
        got = null;
      }
      if (got instanceof Promise) {
        got.then(
          (g) => {
            if (g === null) proc.active = false;
            this.run(gen, done, g);
          },
          () => {
            proc.active = false;
            this.run(gen, done, null);
          },
        );
        return;
      }
      if (got === null) proc.active = false;
      value = got;
    }
  }

  private schedule_match(): void {
    if (this.matching) {
      this.rematch = true;
      return;
    }
    this.matching = true;
    try {
      do {
        this.rematch = false;
        this.match_pass();
      } while (this.rematch);
    } finally {
      this.matching = false;
    }
  }

  /**
   * Starts an offer for every free writer that has a free reader (rendezvous channels), or
   * (buffered channels) an insert for every free writer while slots are free and an extract
   * for every free reader while items are there, slots and items reserved while in flight.
   */
  private match_pass(): void {
    if (this.poisoned || this.retired) return;
    if (this.capacity > 0) {
      for (const r of this.readqueue.slice()) {
        if (this.items.length - this.reserved_out <= 0) break;
        if (r.busy === true || !this.readqueue.includes(r)) continue;
        this.start_buffer_task(r, false);
      }
      for (const w of this.writequeue.slice()) {
        if (this.items.length + this.reserved_in >= this.capacity) break;
        if (w.busy === true || !this.writequeue.includes(w)) continue;
        this.start_buffer_task(w, true);
      }
      return;
    }
    for (const w of this.writequeue.slice()) {
      if (w.busy === true) continue;
      for (const r of this.readqueue.slice()) {
        if (r.busy === true || (r.proc.id === w.proc.id && r.proc.addr === w.proc.addr)) continue;
        if (!this.writequeue.includes(w)) break;
        if (!this.readqueue.includes(r)) continue;
        this.start_offer(w, r);
        break;
      }
    }
  }

  private reserved_in = 0;
  private reserved_out = 0;

  private start_buffer_task(req: Request<M>, insert: boolean): void {
    req.busy = true;
    this.tasks++;
    if (insert) this.reserved_in++;
    else this.reserved_out++;
    this.run(insert ? this.insert_one(req) : this.extract_one(req), () => {
      req.busy = false;
      this.tasks--;
      if (insert) this.reserved_in--;
      else this.reserved_out--;
      remove(insert ? this.writequeue : this.readqueue, req);
      this.schedule_match();
      if (this.tasks === 0) this.drain();
    });
  }

  /** One writer into the buffer: lock, check, store, notify, release. */
  private *insert_one(w: Request<M>): StepOf<void> {
    const g = yield w.proc;
    if (this.state_of(g, w) === READY) {
      this.items.push(w.msg as M);
      this.port.notify_writer(w.proc, this.name);
    }
    if (g !== null) this.port.release(w.proc);
  }

  /** One reader from the buffer: lock, check, take the oldest item, notify, release. */
  private *extract_one(r: Request<M>): StepOf<void> {
    const g = yield r.proc;
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
    if (g !== null) this.port.release(r.proc);
  }

  private start_offer(w: Request<M>, r: Request<M>): void {
    w.busy = true;
    r.busy = true;
    this.tasks++;
    this.run(this.offer(w, r), (result) => {
      w.busy = false;
      r.busy = false;
      this.tasks--;
      const [remove_write, remove_read] = result ?? [false, false, false];
      if (remove_read) remove(this.readqueue, r);
      if (remove_write) remove(this.writequeue, w);
      this.schedule_match();
      if (this.tasks === 0) this.drain();
    });
  }

  // ------------------------------------------------------------------ commands

  private *handle(cmd: HomeCommand<M>): Step {
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

  private unreference(n: number): void {
    this.references -= n;
    if (this.references <= 0 && !this.finished) {
      this.references = 0;
      this.finished = true;
      this.on_finished?.();
    }
  }

  private *post(req: Request<M>, write: boolean): Step {
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
  private *check_termination(write: boolean): StepOf<number | null> {
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

  private take_queue(which: 'read' | 'write'): Request<M>[] {
    const q = which === 'read' ? this.readqueue : this.writequeue;
    if (which === 'read') this.readqueue = [];
    else this.writequeue = [];
    return q;
  }

  /** Tells each request's process (if still waiting on it) that the channel is over. */
  private *end_requests(reqs: Request<M>[], end: number): Step {
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

  private *poison_all(): Step {
    this.poisoned = true;
    yield* this.end_requests(this.take_queue('read'), POISON);
    yield* this.end_requests(this.take_queue('write'), POISON);
  }

  private *poison_writer(): Step {
    if (this.capacity > 0 && this.items.length > 0) {
      // Readers drain the buffer first; the writers are poisoned now.
      this.buffer_poisoned = true;
      yield* this.end_requests(this.take_queue('write'), POISON);
      return;
    }
    yield* this.poison_all();
  }

  private *retire_reader(): Step {
    this.readers--;
    if (!this.retired && this.readers <= 0) {
      this.retired = true;
      yield* this.end_requests(this.take_queue('write'), RETIRE);
    }
  }

  private *retire_writer(): Step {
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

  private *match(): Step {
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

  private state_of(g: Grant | null, req: Request<M>): number {
    if (g === null || g.seq !== req.seq) return FAIL;
    return g.state;
  }

  /** PyCSP's ChannelReq.offer: both locks, in id order; commit if both are READY. */
  private *offer(w: Request<M>, r: Request<M>): StepOf<[boolean, boolean, boolean]> {
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
      wg = yield w.proc;
      rg = yield r.proc;
    } else {
      rg = yield r.proc;
      wg = yield w.proc;
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
      if (rg !== null) this.port.release(r.proc);
      if (wg !== null) this.port.release(w.proc);
    } else {
      if (wg !== null) this.port.release(w.proc);
      if (rg !== null) this.port.release(r.proc);
    }
    return [success || w_state !== READY, success || r_state !== READY, success];
  }

  /** Buffer: take one writer's message if there is room (PyCSP's insertfrom, over the queue). */
  private *insert(): Step {
    for (const w of this.writequeue.slice()) {
      if (this.items.length >= this.capacity) return;
      const g = yield w.proc;
      const state = this.state_of(g, w);
      if (state === READY) {
        this.items.push(w.msg as M);
        this.port.notify_writer(w.proc, this.name);
      }
      if (g !== null) this.port.release(w.proc);
      remove(this.writequeue, w);
      if (state === READY) return;
    }
  }

  /** Buffer: give one reader the oldest item (PyCSP's putinto, over the queue). */
  private *extract(): Step {
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
      const g = yield r.proc;
      const state = this.state_of(g, r);
      if (state === READY) {
        this.items.shift();
        this.port.notify(r.proc, this.name, msg);
      }
      if (g !== null) this.port.release(r.proc);
      remove(this.readqueue, r);
      if (state === READY) return;
    }
  }
}

function remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}
