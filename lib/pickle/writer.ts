/**
 * `dumps`: values to pickles, protocols 0 to 5, opcode for opcode as CPython 3's C pickler
 * writes them (so every Python from 2.7 reads protocol 2 and below, and Python 3 reads the
 * rest), into one growing buffer written byte by byte.
 *
 * A value is first written without the memo (JSON-like: no `PUT` after each container, one
 * Set insert per container to notice a repeat). Only when a container turns up a second time
 * (a shared reference or a cycle) is the value written again from the start with every
 * container memoized (`PUT` / `MEMOIZE`), so that it is read back as one object and a
 * container holding itself ends in a `GET`.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { PicklingError } from './errors.js';
import { PyGlobal } from './globals.js';
import * as op from './opcodes.js';
import { Output, REPEAT } from './output.js';
import { ByteArray, Float, FrozenSet, Tuple } from './types.js';

/** Options of {@link dumps}. */
export interface DumpOptions {
  /**
   * The pickle protocol, 0 to 5 (default 2: Python 2.7 and every Python 3 read it; Python 3.0
   * to 3.7 write 3 by default, 3.8 and later 4). Protocols 3 and up need Python 3, 4 needs
   * Python 3.4, 5 needs Python 3.8.
   */
  protocol?: 0 | 1 | 2 | 3 | 4 | 5;
  /**
   * The deepest nesting written (default 1000, about Python's own recursion limit: Python 2.7
   * to 3.12 cannot pickle 900 nested lists); deeper values throw a `PicklingError`.
   */
  max_depth?: number;
}

/** Defaults of {@link DumpOptions}. */
export const DUMP_DEFAULTS = { protocol: op.DEFAULT_PROTOCOL, max_depth: 1000 } as const;

/** Items per `APPENDS` / `SETITEMS` / `ADDITEMS`, as CPython batches them. */
const BATCH = 1000;


const IDENT = /^[A-Za-z_$][\w$]*$/;

function describe(value: unknown): string {
  if (value === undefined) return 'undefined has no Python type (use null for None)';
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'}) cannot be pickled`;
  if (typeof value === 'symbol') return 'a symbol cannot be pickled';
  if (typeof value === 'object' && value !== null) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    return `an instance of ${name ?? 'a class'} cannot be pickled (only plain data: see the type table)`;
  }
  return `a ${typeof value} cannot be pickled`;
}

/** The writer reused by consecutive `dumps` calls (null while in use: a getter calling dumps gets its own). */
let pooled: Writer | null = null;

/** Writes `value` as a pickle; see {@link DumpOptions}. (not part of the public API) */
export function dump(value: unknown, options: DumpOptions | undefined): Buffer {
  let protocol: number = DUMP_DEFAULTS.protocol;
  let max_depth: number = DUMP_DEFAULTS.max_depth;
  if (options !== undefined) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    protocol = options.protocol ?? protocol;
    if (typeof protocol !== 'number' || !Number.isInteger(protocol) || protocol < 0 || protocol > op.HIGHEST_PROTOCOL) {
      throw new RangeError(`protocol must be an integer from 0 to ${op.HIGHEST_PROTOCOL}`);
    }
    max_depth = options.max_depth ?? max_depth;
    if (typeof max_depth !== 'number' || !Number.isSafeInteger(max_depth) || max_depth < 1) throw new RangeError('max_depth must be a positive integer');
  }
  const w = pooled ?? new Writer();
  pooled = null;
  try {
    w.start(protocol, max_depth, false);
    try {
      w.pickle(value);
    } catch (err) {
      if (err !== REPEAT) throw err;
      // a container met twice: write it all again, memoizing every container
      w.finish();
      w.start(protocol, max_depth, true);
      w.pickle(value);
    }
    return w.result();
  } catch (err) {
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      throw new PicklingError('ERR_PICKLE_TOO_DEEP', `nesting too deep for the JavaScript stack (${err.message})`);
    }
    throw err;
  } finally {
    if (w.finish()) pooled = w;
  }
}

/** @internal */
class Writer extends Output {
  pickle(value: unknown): void {
    let frame_at = -1;
    if (this.protocol >= 2) {
      this.ensure(11);
      this.buf[this.pos++] = op.PROTO;
      this.buf[this.pos++] = this.protocol;
      if (this.protocol >= 4) {
        frame_at = this.pos;
        this.pos += 9;
      }
    }
    this.save(value);
    this.ensure(1);
    this.buf[this.pos++] = op.STOP;
    if (frame_at >= 0) {
      const n = this.pos - frame_at - 9;
      if (n >= 4) {
        // one frame holding the whole pickle (CPython's frames are <= 64 KiB, but any size reads)
        this.buf[frame_at] = op.FRAME;
        this.buf.writeUInt32LE(n % 0x100000000, frame_at + 1);
        this.buf.writeUInt32LE(Math.floor(n / 0x100000000), frame_at + 5);
      } else {
        this.buf.copyWithin(frame_at, frame_at + 9, this.pos);
        this.pos -= 9;
      }
    }
  }

  // ------------------------------------------------------------------ dispatch

  protected save(v: unknown): void {
    switch (typeof v) {
      case 'string':
        this.str(v);
        return;
      case 'number':
        if (Number.isInteger(v) && !(v === 0 && 1 / v < 0)) {
          if (v >= -0x80000000 && v <= 0x7fffffff) this.int32(v);
          else if (Number.isSafeInteger(v)) this.long_number(v);
          else this.long_bigint(BigInt(v));
        } else {
          this.float(v);
        }
        return;
      case 'boolean':
        if (this.protocol >= 2) this.byte(v ? op.NEWTRUE : op.NEWFALSE);
        else this.ascii(v ? 'I01\n' : 'I00\n');
        return;
      case 'bigint':
        if (v >= -0x80000000n && v <= 0x7fffffffn) this.int32(Number(v));
        else this.long_bigint(v);
        return;
      case 'object':
        if (v === null) this.byte(op.NONE);
        else this.object(v);
        return;
      default:
        throw new PicklingError('ERR_PICKLE_UNSUPPORTED_TYPE', describe(v));
    }
  }

  protected object(v: object): void {
    if (this.memo_on) {
      const seen = this.memo_get(v);
      if (seen !== undefined) {
        this.get(seen);
        return;
      }
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto === Array.prototype) return this.list(v as unknown[]);
    if (proto === Map.prototype) return this.dict(v as Map<unknown, unknown>);
    if (proto === Object.prototype || proto === null) return this.plain(v as Record<string, unknown>);
    if (v instanceof Tuple) return this.tuple(v);
    if (Array.isArray(v)) return this.list(v);
    if (v instanceof Map) return this.dict(v);
    if (v instanceof FrozenSet) return this.frozenset(v);
    if (v instanceof Set) return this.set(v);
    if (v instanceof Uint8Array) {
      if (!this.memo_on) this.sight(v);
      return v instanceof ByteArray ? this.bytearray(v) : this.bytes(v);
    }
    if (v instanceof Float) return this.float(v.value);
    if (v instanceof PyGlobal) return this.global(v.module, v.name);
    throw new PicklingError('ERR_PICKLE_UNSUPPORTED_TYPE', describe(v));
  }

  /** Into container `v`: checks the depth, and without the memo records `v` as met. */
  protected enter(v: object): void {
    if (!this.memo_on) this.sight(v);
    if (++this.depth > this.max_depth) throw new PicklingError('ERR_PICKLE_TOO_DEEP', `nesting deeper than max_depth (${this.max_depth})`);
  }

  // ------------------------------------------------------------------ containers

  protected list(l: unknown[]): void {
    this.enter(l);
    if (this.bin) this.byte(op.EMPTY_LIST);
    else this.ascii('(l');
    this.memoize(l);
    const n = l.length;
    let i = 0;
    try {
      if (!this.bin) {
        for (; i < n; i++) {
          this.save(l[i]);
          this.byte(op.APPEND);
        }
      } else if (n === 1) {
        this.save(l[0]);
        this.byte(op.APPEND);
      } else {
        for (let start = 0; start < n; start += BATCH) {
          this.byte(op.MARK);
          const stop = Math.min(n, start + BATCH);
          for (i = start; i < stop; i++) this.save(l[i]);
          this.byte(op.APPENDS);
        }
      }
    } catch (err) {
      if (err instanceof PicklingError) err.prefix(`[${i}]`);
      throw err;
    }
    this.depth--;
  }

  /** Writes `count` items appended (`one` / `many` opcodes) in batches, as CPython does. */
  protected items(items: Iterable<unknown>, count: number, one: number, many: number, kind: 'list' | 'set'): void {
    let i = 0;
    try {
      if (!this.bin) {
        for (const x of items) {
          this.save(x);
          this.byte(one);
          i++;
        }
        return;
      }
      if (count === 1 && one !== 0) {
        for (const x of items) this.save(x);
        this.byte(one);
        return;
      }
      let in_batch = 0;
      for (const x of items) {
        if (in_batch === 0) this.byte(op.MARK);
        this.save(x);
        i++;
        if (++in_batch === BATCH) {
          this.byte(many);
          in_batch = 0;
        }
      }
      if (in_batch > 0) this.byte(many);
    } catch (err) {
      if (err instanceof PicklingError) err.prefix(kind === 'list' ? `[${i}]` : ` item ${i}`);
      throw err;
    }
  }

  protected tuple(t: Tuple<unknown>): void {
    const n = t.length;
    if (n === 0) {
      this.empty_tuple();
      return;
    }
    this.enter(t);
    let i = 0;
    try {
      if (n <= 3 && this.protocol >= 2) {
        for (; i < n; i++) this.save(t[i]);
        const seen = this.memo_get(t);
        if (seen !== undefined) {
          // the tuple was reached through its own items: drop them and fetch it
          for (let k = 0; k < n; k++) this.byte(op.POP);
          this.get(seen);
        } else {
          this.byte(op.TUPLE1 + n - 1);
          this.memoize(t);
        }
      } else {
        this.byte(op.MARK);
        for (; i < n; i++) this.save(t[i]);
        const seen = this.memo_get(t);
        if (seen !== undefined) {
          if (this.bin) this.byte(op.POP_MARK);
          else for (let k = 0; k <= n; k++) this.byte(op.POP);
          this.get(seen);
        } else {
          this.byte(op.TUPLE);
          this.memoize(t);
        }
      }
    } catch (err) {
      if (err instanceof PicklingError) err.prefix(`[${i}]`);
      throw err;
    }
    this.depth--;
  }

  protected dict(m: Map<unknown, unknown>): void {
    this.enter(m);
    if (this.bin) this.byte(op.EMPTY_DICT);
    else this.ascii('(d');
    this.memoize(m);
    const n = m.size;
    if (n === 0) {
      this.depth--;
      return;
    }
    // one SETITEM per item in protocol 0 and for a single item, else batches of SETITEMS
    const batched = this.bin && n > 1;
    let i = 0;
    try {
      if (batched) this.byte(op.MARK);
      let in_batch = 0;
      for (const [k, v] of m) {
        if (typeof k === 'string') this.key(k, i);
        else this.save(k);
        this.save(v);
        i++;
        if (!batched) {
          this.byte(op.SETITEM);
        } else if (++in_batch === BATCH || i === n) {
          this.byte(op.SETITEMS);
          if (i < n) this.byte(op.MARK);
          in_batch = 0;
        }
      }
    } catch (err) {
      if (err instanceof PicklingError) {
        let at: unknown;
        let k = 0;
        for (const key of m.keys()) if (k++ === i) at = key;
        const key = typeof at === 'string' ? JSON.stringify(at) : typeof at === 'number' || typeof at === 'boolean' || at === null ? String(at) : typeof at === 'bigint' ? `${at}n` : `<key ${i}>`;
        err.prefix(`.get(${key})`);
      }
      throw err;
    }
    this.depth--;
  }


  protected plain(o: Record<string, unknown>): void {
    this.enter(o);
    if (this.bin) this.byte(op.EMPTY_DICT);
    else this.ascii('(d');
    this.memoize(o);
    const keys = Object.keys(o);
    const n = keys.length;
    let i = 0;
    try {
      if (!this.bin || n === 1) {
        for (; i < n; i++) {
          this.key(keys[i]!, i);
          this.save(o[keys[i]!]);
          this.byte(op.SETITEM);
        }
      } else {
        for (let start = 0; start < n; start += BATCH) {
          this.byte(op.MARK);
          const stop = Math.min(n, start + BATCH);
          for (i = start; i < stop; i++) {
            this.key(keys[i]!, i - start);
            this.save(o[keys[i]!]);
          }
          this.byte(op.SETITEMS);
        }
      }
    } catch (err) {
      if (err instanceof PicklingError) {
        const k = keys[i]!;
        err.prefix(IDENT.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`);
      }
      throw err;
    }
    this.depth--;
  }

  protected set(s: Set<unknown>): void {
    this.enter(s);
    if (this.protocol >= 4) {
      this.byte(op.EMPTY_SET);
      this.memoize(s);
      if (s.size > 0) this.items(s, s.size, 0, op.ADDITEMS, 'set');
    } else {
      this.reduce_with_list('set', s);
      this.memoize(s);
    }
    this.depth--;
  }

  protected frozenset(s: FrozenSet<unknown>): void {
    this.enter(s);
    if (this.protocol >= 4) {
      this.byte(op.MARK);
      let i = 0;
      try {
        for (const x of s) {
          this.save(x);
          i++;
        }
      } catch (err) {
        if (err instanceof PicklingError) err.prefix(` item ${i}`);
        throw err;
      }
      const seen = this.memo_get(s);
      if (seen !== undefined) {
        this.byte(op.POP_MARK);
        this.get(seen);
      } else {
        this.byte(op.FROZENSET);
        this.memoize(s);
      }
    } else {
      this.reduce_with_list('frozenset', s);
      this.memoize(s);
    }
    this.depth--;
  }

  /** `name([items])`: how protocols 0-3 write sets. */
  protected reduce_with_list(name: string, items: Set<unknown>): void {
    this.global(this.builtins(), name);
    if (this.protocol < 2) this.byte(op.MARK);
    if (this.bin) this.byte(op.EMPTY_LIST);
    else this.ascii('(l');
    this.put(this.next_memo++);
    this.items(items, items.size, op.APPEND, op.APPENDS, 'set');
    this.byte(this.protocol >= 2 ? op.TUPLE1 : op.TUPLE);
    this.byte(op.REDUCE);
  }
}
