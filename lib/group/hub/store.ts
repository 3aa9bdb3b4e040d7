/**
 * The hub's store: an in-memory Redis keyspace and the commands the group package, the
 * client and the book's examples use. Pure: no sockets, no timers. The hub's connections
 * feed it commands (arrays of Buffers) and get replies back; blocked `BLPOP`s are answered
 * later through their session's `send`, and the hub owns their timers.
 *
 * Semantics follow Redis 7:
 * - Keys are binary-safe (Buffers, held as latin1 strings); values are strings (Buffers),
 *   lists or sets; the wrong kind gives `WRONGTYPE`. Empty lists and sets are deleted.
 * - `BLPOP` serves clients in the order they blocked (fair wake-ups): after each command (or
 *   `EXEC`) every key that received elements hands one to each waiting client in turn, FIFO,
 *   while elements last; a client waiting on several keys is served by the first ready one.
 * - `WATCH`: a write to a watched key marks its watchers dirty; `EXEC` of a dirty client
 *   fails (null). `FLUSHALL`/`FLUSHDB` dirty the watchers of the keys they delete.
 * - `MULTI` queues commands (`+QUEUED`); an unknown command or a wrong argument count while
 *   queueing makes `EXEC` fail with `EXECABORT`. Inside a transaction `BLPOP` does not block
 *   (it answers null at once if no list has elements), as in Redis.
 * - Anything else gets Redis' own "unknown command" error.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { NULL_ARRAY, OK, RedisError, SimpleString, type RespOut } from '../../redis/index.js';
import { Deque } from './deque.js';

/** One client of the store. The hub makes one per connection. */
export interface Session {
  /** A number unique in the store (CLIENT ID). */
  readonly id: number;
  /** Selected database. */
  db: number;
  /** 2 or 3 (after `HELLO 3`). */
  protocol: 2 | 3;
  /** Queued transaction commands while in MULTI, else null. */
  multi: Buffer[][] | null;
  /** A command failed while queueing: EXEC will abort. */
  multi_failed: boolean;
  /** Watched keys (`db:key`), or null. */
  watched: Set<string> | null;
  /** A watched key was written since WATCH: EXEC will fail. */
  dirty: boolean;
  /** Set while blocked in BLPOP. */
  blocked: Blocked | null;
  /** Delivers a reply later (a woken BLPOP). */
  send(reply: RespOut): void;
}

/** A client blocked in BLPOP. */
export interface Blocked {
  /** Keys in the order given (`db:key` ids). */
  readonly keys: string[];
  /** Seconds to wait (0: for ever). */
  readonly timeout: number;
}

/** {@link Store.execute}'s answer when the client is now blocked (no reply yet). */
export const BLOCKED: unique symbol = Symbol('BLOCKED');

type Value = Buffer | Deque<Buffer> | Set<string>;

/** Database count, as Redis' default. */
const DATABASES = 16;

function err(text: string): RedisError {
  return new RedisError(text);
}

const WRONGTYPE = (): RedisError => err('WRONGTYPE Operation against a key holding the wrong kind of value');
const NOT_INT = (): RedisError => err('ERR value is not an integer or out of range');
const SYNTAX = (): RedisError => err('ERR syntax error');

/** Parses a Redis integer argument, or null. */
function int_arg(b: Buffer): number | null {
  const s = b.toString('latin1');
  if (!/^-?\d{1,16}$/.test(s)) return null;
  return Number(s);
}

/** Arity per command: positive = exact count (with the name), negative = at least. */
const ARITY: Record<string, number> = {
  ping: -1, echo: 2, info: -1, select: 2, quit: -1, hello: -1, client: -2, dbsize: 1, time: 1,
  sadd: -3, srem: -3, smembers: 2, sismember: 3, scard: 2,
  rpush: -3, lpush: -3, lpop: -2, rpop: -2, blpop: -3, lrem: 4, lrange: 4, llen: 2, lindex: 3,
  del: -2, exists: -2, type: 2, keys: 2, flushall: -1, flushdb: -1,
  get: 2, set: -3, incr: 2, incrby: 3, decr: 2,
  watch: -2, unwatch: 1, multi: 1, exec: 1, discard: 1,
};

/** Commands that may not be queued inside MULTI. */
const NOT_IN_MULTI = new Set(['watch', 'multi']);

/** The in-memory keyspace. */
export class Store {
  private readonly dbs: Map<string, Value>[] = Array.from({ length: DATABASES }, () => new Map());
  /** Clients watching each `db:key`. */
  private readonly watchers = new Map<string, Set<Session>>();
  /** Clients blocked per `db:key`, in the order they blocked. */
  private readonly waiters = new Map<string, Session[]>();
  /** Keys that received list elements while clients wait on them. */
  private ready: string[] = [];
  private next_id = 1;

  /** A fresh session for a new client. */
  session(send: (reply: RespOut) => void): Session {
    return { id: this.next_id++, db: 0, protocol: 2, multi: null, multi_failed: false, watched: null, dirty: false, blocked: null, send };
  }

  /** Clients currently blocked (for specs and `INFO`-like checks). */
  get blocked_count(): number {
    let n = 0;
    for (const list of this.waiters.values()) n += list.length;
    return n;
  }

  /**
   * Runs one command.
   * @returns the reply, or {@link BLOCKED} when the client now waits in BLPOP (its reply
   *   comes through `session.send`, or {@link Store.timeout} ends the wait)
   */
  execute(session: Session, args: Buffer[]): RespOut | typeof BLOCKED {
    if (args.length === 0) return err('ERR empty command');
    const name = args[0]!.toString('latin1').toLowerCase();
    const arity = ARITY[name];
    if (session.multi !== null && name !== 'exec' && name !== 'discard' && name !== 'multi' && name !== 'watch' && name !== 'quit') {
      const problem = arity === undefined ? unknown_command(args) : arity_error(name, arity, args.length);
      if (problem !== null) {
        session.multi_failed = true;
        return problem;
      }
      session.multi.push(args);
      return new SimpleString('QUEUED');
    }
    if (arity === undefined) return unknown_command(args);
    const bad = arity_error(name, arity, args.length);
    if (bad !== null) return bad;
    if (session.multi !== null && NOT_IN_MULTI.has(name)) {
      return err(name === 'multi' ? 'ERR MULTI calls can not be nested' : 'ERR WATCH inside MULTI is not allowed');
    }
    const reply = this.run(session, name, args, false);
    if (this.ready.length > 0) this.serve_ready();
    return reply;
  }

  /** The BLPOP of `session` timed out: it gets a null array. */
  timeout(session: Session): void {
    if (session.blocked === null) return;
    this.unblock(session);
    session.send(NULL_ARRAY);
  }

  /** The client went away: forget its waits and watches. */
  drop(session: Session): void {
    if (session.blocked !== null) this.unblock(session);
    this.unwatch(session);
    session.multi = null;
  }

  // ------------------------------------------------------------------ commands

  private run(s: Session, name: string, a: Buffer[], in_exec: boolean): RespOut | typeof BLOCKED {
    const db = this.dbs[s.db]!;
    switch (name) {
      case 'ping':
        if (a.length > 2) return err("ERR wrong number of arguments for 'ping' command");
        return a.length === 2 ? a[1]! : new SimpleString('PONG');
      case 'echo':
        return a[1]!;
      case 'info': {
        // A few of Redis' fields, in its format (clients such as specs poll blocked_clients).
        const keys = this.dbs.map((d, i) => (d.size > 0 ? `db${i}:keys=${d.size},expires=0,avg_ttl=0\r\n` : '')).join('');
        return `# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n\r\n# Clients\r\nblocked_clients:${this.blocked_count}\r\n\r\n# Keyspace\r\n${keys}`;
      }
      case 'quit':
        return OK;
      case 'select': {
        const n = int_arg(a[1]!);
        if (n === null) return NOT_INT();
        if (n < 0 || n >= DATABASES) return err('ERR DB index is out of range');
        s.db = n;
        return OK;
      }
      case 'hello':
        return this.hello(s, a);
      case 'client': {
        const sub = a[1]!.toString('latin1').toLowerCase();
        if (sub === 'id') return s.id;
        if (sub === 'setname' || sub === 'setinfo') return OK;
        return err(`ERR unknown subcommand '${a[1]!.toString('latin1')}'. Try CLIENT HELP.`);
      }
      case 'dbsize':
        return db.size;
      case 'time': {
        const now = Date.now();
        return [String(Math.floor(now / 1000)), String((now % 1000) * 1000)];
      }
      case 'sadd':
      case 'srem': {
        const key = a[1]!.toString('latin1');
        const cur = db.get(key);
        if (cur !== undefined && !(cur instanceof Set)) return WRONGTYPE();
        let set = cur;
        let n = 0;
        if (name === 'sadd') {
          if (set === undefined) db.set(key, (set = new Set()));
          for (let i = 2; i < a.length; i++) {
            const m = a[i]!.toString('latin1');
            if (!set.has(m)) {
              set.add(m);
              n++;
            }
          }
        } else if (set !== undefined) {
          for (let i = 2; i < a.length; i++) if (set.delete(a[i]!.toString('latin1'))) n++;
          if (set.size === 0) db.delete(key);
        }
        if (n > 0) this.touch(s.db, key);
        return n;
      }
      case 'smembers': {
        const set = db.get(a[1]!.toString('latin1'));
        if (set === undefined) return [];
        if (!(set instanceof Set)) return WRONGTYPE();
        const members = [...set].map((m) => Buffer.from(m, 'latin1'));
        return s.protocol === 3 ? new Set(members) : members;
      }
      case 'sismember':
      case 'scard': {
        const set = db.get(a[1]!.toString('latin1'));
        if (set === undefined) return 0;
        if (!(set instanceof Set)) return WRONGTYPE();
        return name === 'scard' ? set.size : set.has(a[2]!.toString('latin1')) ? 1 : 0;
      }
      case 'rpush':
      case 'lpush': {
        const key = a[1]!.toString('latin1');
        const cur = db.get(key);
        if (cur !== undefined && !(cur instanceof Deque)) return WRONGTYPE();
        const list = cur ?? new Deque<Buffer>();
        if (cur === undefined) db.set(key, list);
        if (name === 'rpush') for (let i = 2; i < a.length; i++) list.push(a[i]!);
        else for (let i = 2; i < a.length; i++) list.unshift(a[i]!);
        this.touch(s.db, key);
        const id = `${s.db}:${key}`;
        if (this.waiters.has(id)) this.ready.push(id);
        return list.length;
      }
      case 'lpop':
      case 'rpop':
        return this.pop(s, name, a);
      case 'blpop':
        return this.blpop(s, a, in_exec);
      case 'lrem': {
        const key = a[1]!.toString('latin1');
        const count = int_arg(a[2]!);
        if (count === null) return NOT_INT();
        const list = db.get(key);
        if (list === undefined) return 0;
        if (!(list instanceof Deque)) return WRONGTYPE();
        const target = a[3]!;
        let removed = 0;
        const limit = count === 0 ? Infinity : Math.abs(count);
        const items = list.slice(0, list.length);
        if (count >= 0) {
          for (let i = 0; i < items.length && removed < limit; ) {
            if (items[i]!.equals(target)) {
              items.splice(i, 1);
              removed++;
            } else i++;
          }
        } else {
          for (let i = items.length - 1; i >= 0 && removed < limit; i--) {
            if (items[i]!.equals(target)) {
              items.splice(i, 1);
              removed++;
            }
          }
        }
        if (removed > 0) list.replace(items);
        if (list.length === 0) db.delete(key);
        if (removed > 0) this.touch(s.db, key);
        return removed;
      }
      case 'lrange': {
        const list = db.get(a[1]!.toString('latin1'));
        const start = int_arg(a[2]!);
        const stop = int_arg(a[3]!);
        if (start === null || stop === null) return NOT_INT();
        if (list === undefined) return [];
        if (!(list instanceof Deque)) return WRONGTYPE();
        const n = list.length;
        const from = start < 0 ? Math.max(0, n + start) : start;
        const to = stop < 0 ? n + stop : Math.min(stop, n - 1);
        return from > to ? [] : list.slice(from, to + 1);
      }
      case 'llen': {
        const list = db.get(a[1]!.toString('latin1'));
        if (list === undefined) return 0;
        return list instanceof Deque ? list.length : WRONGTYPE();
      }
      case 'lindex': {
        const list = db.get(a[1]!.toString('latin1'));
        const i = int_arg(a[2]!);
        if (i === null) return NOT_INT();
        if (list === undefined) return null;
        if (!(list instanceof Deque)) return WRONGTYPE();
        return list.at(i < 0 ? list.length + i : i) ?? null;
      }
      case 'del': {
        let n = 0;
        for (let i = 1; i < a.length; i++) {
          const key = a[i]!.toString('latin1');
          if (db.delete(key)) {
            n++;
            this.touch(s.db, key);
          }
        }
        return n;
      }
      case 'exists': {
        let n = 0;
        for (let i = 1; i < a.length; i++) if (db.has(a[i]!.toString('latin1'))) n++;
        return n;
      }
      case 'type': {
        const v = db.get(a[1]!.toString('latin1'));
        return new SimpleString(v === undefined ? 'none' : Buffer.isBuffer(v) ? 'string' : v instanceof Deque ? 'list' : 'set');
      }
      case 'keys': {
        const pattern = glob(a[1]!.toString('latin1'));
        return [...db.keys()].filter((k) => pattern.test(k)).map((k) => Buffer.from(k, 'latin1'));
      }
      case 'flushall':
      case 'flushdb': {
        // As Redis: watchers of keys that existed are dirty (a missing key stays missing).
        for (const [id, set] of this.watchers) {
          const colon = id.indexOf(':');
          const n = Number(id.slice(0, colon));
          if ((name === 'flushall' || n === s.db) && this.dbs[n]!.has(id.slice(colon + 1))) for (const w of set) w.dirty = true;
        }
        if (name === 'flushall') for (const d of this.dbs) d.clear();
        else db.clear();
        return OK;
      }
      case 'get': {
        const v = db.get(a[1]!.toString('latin1'));
        if (v === undefined) return null;
        return Buffer.isBuffer(v) ? v : WRONGTYPE();
      }
      case 'set': {
        if (a.length !== 3) return SYNTAX();
        const key = a[1]!.toString('latin1');
        db.set(key, a[2]!);
        this.touch(s.db, key);
        return OK;
      }
      case 'incr':
      case 'decr':
      case 'incrby': {
        const key = a[1]!.toString('latin1');
        const by = name === 'incr' ? 1 : name === 'decr' ? -1 : int_arg(a[2]!);
        if (by === null) return NOT_INT();
        const cur = db.get(key);
        if (cur !== undefined && !Buffer.isBuffer(cur)) return WRONGTYPE();
        const n = cur === undefined ? 0 : int_arg(cur);
        if (n === null) return NOT_INT();
        const next = n + by;
        if (!Number.isSafeInteger(next)) return err('ERR increment or decrement would overflow');
        db.set(key, Buffer.from(String(next)));
        this.touch(s.db, key);
        return next;
      }
      case 'watch': {
        if (s.watched === null) {
          s.watched = new Set();
          s.dirty = false;
        }
        for (let i = 1; i < a.length; i++) {
          const id = `${s.db}:${a[i]!.toString('latin1')}`;
          s.watched.add(id);
          let set = this.watchers.get(id);
          if (set === undefined) this.watchers.set(id, (set = new Set()));
          set.add(s);
        }
        return OK;
      }
      case 'unwatch':
        this.unwatch(s);
        return OK;
      case 'multi':
        s.multi = [];
        s.multi_failed = false;
        return OK;
      case 'discard':
        if (s.multi === null) return err('ERR DISCARD without MULTI');
        s.multi = null;
        this.unwatch(s);
        return OK;
      case 'exec':
        return this.exec(s);
      default:
        return unknown_command(a);
    }
  }

  private hello(s: Session, a: Buffer[]): RespOut {
    let protocol: 2 | 3 = s.protocol;
    if (a.length > 1) {
      const v = int_arg(a[1]!);
      if (v !== 2 && v !== 3) return err('NOPROTO unsupported protocol version');
      protocol = v;
    }
    for (let i = 2; i < a.length; i++) {
      const opt = a[i]!.toString('latin1').toLowerCase();
      if (opt === 'auth') {
        if (i + 2 >= a.length) return SYNTAX();
        // The hub has no users: like Redis without a password, the default user is on.
        if (a[i + 1]!.toString('latin1') !== 'default') return err('WRONGPASS invalid username-password pair or user is disabled.');
        i += 2;
      } else if (opt === 'setname') {
        if (i + 1 >= a.length) return SYNTAX();
        i += 1;
      } else return SYNTAX();
    }
    s.protocol = protocol;
    return new Map<RespOut, RespOut>([
      ['server', 'redis'],
      ['version', '7.0.0'],
      ['proto', protocol],
      ['id', s.id],
      ['mode', 'standalone'],
      ['role', 'master'],
      ['modules', []],
    ]);
  }

  private exec(s: Session): RespOut {
    const queued = s.multi;
    if (queued === null) return err('ERR EXEC without MULTI');
    s.multi = null;
    const failed = s.multi_failed;
    s.multi_failed = false;
    const dirty = s.watched !== null && s.dirty;
    this.unwatch(s);
    if (failed) return err('EXECABORT Transaction discarded because of previous errors.');
    if (dirty) return NULL_ARRAY;
    const replies: RespOut[] = [];
    for (const args of queued) {
      const name = args[0]!.toString('latin1').toLowerCase();
      const r = this.run(s, name, args, true);
      replies.push(r === BLOCKED ? NULL_ARRAY : r);
    }
    return replies;
  }

  private unwatch(s: Session): void {
    const watched = s.watched;
    if (watched === null) return;
    s.watched = null;
    s.dirty = false;
    for (const id of watched) {
      const set = this.watchers.get(id);
      if (set === undefined) continue;
      set.delete(s);
      if (set.size === 0) this.watchers.delete(id);
    }
  }

  private pop(s: Session, name: string, a: Buffer[]): RespOut {
    const db = this.dbs[s.db]!;
    const key = a[1]!.toString('latin1');
    let count: number | null = null;
    if (a.length === 3) {
      count = int_arg(a[2]!);
      if (count === null || count < 0) return err('ERR value is out of range, must be positive');
    } else if (a.length > 3) return SYNTAX();
    const list = db.get(key);
    if (list === undefined) return count === null ? null : NULL_ARRAY;
    if (!(list instanceof Deque)) return WRONGTYPE();
    const n = Math.min(count ?? 1, list.length);
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) out.push((name === 'lpop' ? list.shift() : list.pop())!);
    if (list.length === 0) db.delete(key);
    if (n > 0) this.touch(s.db, key);
    return count === null ? out[0]! : out;
  }

  private blpop(s: Session, a: Buffer[], in_exec: boolean): RespOut | typeof BLOCKED {
    const db = this.dbs[s.db]!;
    const text = a[a.length - 1]!.toString('latin1');
    const timeout = Number(text);
    if (text.length === 0 || !Number.isFinite(timeout) || !/^[-+0-9.eE]+$/.test(text)) return err('ERR timeout is not a float or out of range');
    if (timeout < 0) return err('ERR timeout is negative');
    const keys: string[] = [];
    for (let i = 1; i < a.length - 1; i++) {
      const key = a[i]!.toString('latin1');
      const v = db.get(key);
      if (v !== undefined && !(v instanceof Deque)) return WRONGTYPE();
      if (v !== undefined && v.length > 0) {
        const item = v.shift()!;
        if (v.length === 0) db.delete(key);
        this.touch(s.db, key);
        return [a[i]!, item];
      }
      keys.push(`${s.db}:${key}`);
    }
    if (in_exec) return NULL_ARRAY;
    s.blocked = { keys, timeout };
    for (const id of keys) {
      const list = this.waiters.get(id);
      if (list === undefined) this.waiters.set(id, [s]);
      else if (!list.includes(s)) list.push(s);
    }
    return BLOCKED;
  }

  private unblock(s: Session): void {
    const blocked = s.blocked;
    if (blocked === null) return;
    s.blocked = null;
    for (const id of blocked.keys) {
      const list = this.waiters.get(id);
      if (list === undefined) continue;
      const at = list.indexOf(s);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0) this.waiters.delete(id);
    }
  }

  /** Hands elements of keys that received some to their waiting clients, first come first served. */
  private serve_ready(): void {
    while (this.ready.length > 0) {
      const id = this.ready.shift()!;
      const colon = id.indexOf(':');
      const db = this.dbs[Number(id.slice(0, colon))]!;
      const key = id.slice(colon + 1);
      for (;;) {
        const list = db.get(key);
        const waiting = this.waiters.get(id);
        if (!(list instanceof Deque) || list.length === 0 || waiting === undefined || waiting.length === 0) break;
        const client = waiting[0]!;
        const item = list.shift()!;
        if (list.length === 0) db.delete(key);
        this.touch(Number(id.slice(0, colon)), key);
        this.unblock(client);
        client.send([Buffer.from(key, 'latin1'), item]);
      }
    }
  }

  private touch(db: number, key: string): void {
    if (this.watchers.size === 0) return;
    const set = this.watchers.get(`${db}:${key}`);
    if (set !== undefined) for (const w of set) w.dirty = true;
  }
}

function unknown_command(a: Buffer[]): RedisError {
  const args = a.slice(1, 20).map((b) => `'${b.toString('latin1').slice(0, 128)}' `).join('');
  return err(`ERR unknown command '${a[0]!.toString('latin1').slice(0, 128)}', with args beginning with: ${args}`);
}

function arity_error(name: string, arity: number, n: number): RedisError | null {
  if (arity > 0 ? n === arity : n >= -arity) return null;
  return err(`ERR wrong number of arguments for '${name}' command`);
}

function glob(pattern: string): RegExp {
  let re = '^';
  for (const ch of pattern) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`${re}$`, 's');
}
