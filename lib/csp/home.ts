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
 * - Posts to an open channel are matched at once, several offers in flight together on
 *   disjoint pairs of requests (a buffered channel reserves its slots and items while they
 *   are in flight); every other command waits until the offers in flight are done and then
 *   runs alone, in arrival order, as in PyCSP's home thread. A lock taken on a remote
 *   process suspends only its own offer. Locks of local processes answer at once, so a
 *   purely local rendezvous runs synchronously, without generators ({@link ChannelHome}'s
 *   fast path).
 * - The rules themselves (PyCSP's, step by step) are in home_rules.ts.
 *
 * Fixes to PyCSP 0.9.2 (see docs/csp.md): a process never offers to itself (PyCSP deadlocks
 * when an alternation reads and writes the same channel); writers that post after a
 * writer-side poison or retire that waits on the buffer are refused at once (PyCSP would
 * take their messages); readers queued when such a buffer drains are told at once (PyCSP
 * waits for the next post); queues of retired sides are flushed.
 *
 * @module
 */

import { FAIL, READY } from './header.js';
import { HomeRules, remove, type Grant, type HomeCommand, type HomeState, type ProcRef, type Request, type StepOf } from './home_rules.js';

export type { Grant, HomeCommand, HomeState, LocalLock, LockPort, ProcRef, Request } from './home_rules.js';

/** What {@link ChannelHome.plain} answers when no partner waits. */
export const NO_PARTNER: unique symbol = Symbol('no partner');

/** One channel's home. */
export class ChannelHome<M> extends HomeRules<M> {
  private inbox: HomeCommand<M>[] = [];
  private head = 0;

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
   * A plain read (`write` false) or write of this process, decided synchronously, without a
   * lock of its own: an operation that is only this one request, and finds its partner at
   * once, is never seen by anyone else, so its own lock would always read READY at its
   * sequence number (what {@link ChannelHome.fast} would peek). The oldest waiting partner
   * whose lock answers at once and is READY at its request's seq is committed (a reader
   * with `msg`, a writer without); stale requests met on the way are dropped.
   * @returns the committed partner's request (for a read, its `msg` is the value), NO_PARTNER
   *   when nobody waits (nothing changed; the caller queues with {@link ChannelHome.enqueue}),
   *   or null when it cannot be decided synchronously (nothing changed; the caller posts as
   *   usual)
   * @throws what `prepare` throws (a message no remote reader can take), nothing changed
   */
  plain(write: boolean, msg: M): Request<M> | typeof NO_PARTNER | null {
    const port = this.port;
    if (this.capacity !== 0 || this.current !== null || this.head < this.inbox.length || this.poisoned || this.retired) return null;
    const others = write ? this.readqueue : this.writequeue;
    for (let i = 0; i < others.length; i++) {
      const o = others[i]!;
      if (o.busy === true) continue;
      const other = o.proc;
      let ready: boolean;
      const lock = other.lock;
      if (lock !== undefined) {
        const got = lock.offer(o.seq, this.name, write ? msg : undefined, write);
        if (got < 0) return null; // its lock is held: the home's driver decides
        ready = got === 1;
      } else {
        if (other.exclusive !== true) return null; // a remote lock: the full protocol
        ready = other.active;
        if (ready) {
          if (write) port.notify(other, this.name, port.prepare !== undefined ? port.prepare(msg, other) : msg);
          else port.notify_writer(other, this.name);
        }
      }
      if (i === 0) others.shift();
      else others.splice(i, 1);
      if (ready) return o;
      i--;
    }
    return NO_PARTNER;
  }

  /**
   * Queues a plain request after {@link ChannelHome.plain} found no partner. `req` is the
   * process's own request object, reused from one plain operation to the next: a plain
   * request leaves its queue in the same synchronous run that ends its operation (commit,
   * poison, retire, refusal), so it is never in a queue when it is reused.
   */
  enqueue(req: Request<M>, seq: number, write: boolean, msg: M): void {
    const r = req as { -readonly [K in keyof Request<M>]: Request<M>[K] };
    r.seq = seq;
    r.msg = write ? msg : undefined;
    r.busy = false;
    r.gone = false;
    (write ? this.writequeue : this.readqueue).push(req);
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
    const port = this.port;
    if (port.peek === undefined || port.commit === undefined || this.poisoned || this.retired || proc.addr !== '') return false;
    const others = write ? this.readqueue : this.writequeue;
    for (let i = 0; i < others.length; i++) {
      const o = others[i]!;
      const other = o.proc;
      if (o.busy === true || other.id === proc.id) continue;
      const remote = other.addr !== '';
      if (remote && other.exclusive !== true) return false;
      // Both locks are free and nothing runs in between: taking them (in id order),
      // committing and releasing them would change nothing else.
      const g_mine = port.peek(proc);
      if (g_mine === undefined) return false;
      const mine_state = g_mine === null || g_mine.seq !== seq ? FAIL : g_mine.state;
      const g_other = remote ? (other.active ? { state: READY, seq: o.seq } : null) : port.peek(other);
      if (g_other === undefined) return false;
      const other_state = g_other === null || g_other.seq !== o.seq ? FAIL : g_other.state;
      const success = mine_state === READY && other_state === READY;
      if (success) {
        if (write) {
          if (remote) port.notify(other, this.name, port.prepare !== undefined ? port.prepare(msg, other) : msg);
          else port.commit(other, this.name, msg, true);
          port.commit(proc, this.name, undefined, false);
        } else {
          port.commit(proc, this.name, o.msg as M, true);
          if (remote) port.notify_writer(other, this.name);
          else port.commit(other, this.name, undefined, false);
        }
      }
      if (success || other_state !== READY) {
        if (i === 0) others.shift();
        else others.splice(i, 1);
        i--;
      }
      if (success || mine_state !== READY) {
        if (ack) port.ack(proc);
        return true;
      }
    }
    (write ? this.writequeue : this.readqueue).push({ proc, seq, msg: write ? msg : undefined });
    if (ack) port.ack(proc);
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
        if (r.busy === true || r.gone === true) continue;
        this.start_buffer_task(r, false);
      }
      for (const w of this.writequeue.slice()) {
        if (this.items.length + this.reserved_in >= this.capacity) break;
        if (w.busy === true || w.gone === true) continue;
        this.start_buffer_task(w, true);
      }
      return;
    }
    // Free readers, oldest first; each free writer takes the first one from another process.
    const readers = this.readqueue.filter((r) => r.busy !== true);
    if (readers.length === 0) return;
    for (const w of this.writequeue.slice()) {
      if (w.busy === true || w.gone === true) continue;
      for (let j = 0; j < readers.length; j++) {
        const r = readers[j]!;
        if (r.busy === true || r.gone === true || (r.proc.id === w.proc.id && r.proc.addr === w.proc.addr)) continue;
        readers.splice(j, 1);
        this.start_offer(w, r);
        break;
      }
      if (readers.length === 0) return;
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
      req.gone = true;
      remove(insert ? this.writequeue : this.readqueue, req);
      this.schedule_match();
      if (this.tasks === 0) this.drain();
    });
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
      if (remove_read) {
        r.gone = true;
        remove(this.readqueue, r);
      }
      if (remove_write) {
        w.gone = true;
        remove(this.writequeue, w);
      }
      this.schedule_match();
      if (this.tasks === 0) this.drain();
    });
  }

}
