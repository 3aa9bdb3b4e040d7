/**
 * The globals a pickle may name, and what naming one does.
 *
 * A pickle builds anything that is not plain data by naming a Python global (`GLOBAL`,
 * `STACK_GLOBAL`, `INST`) and calling it (`REDUCE`, `NEWOBJ`, `NEWOBJ_EX`, `OBJ`, `INST`), then
 * perhaps handing it state (`BUILD`). That is how `pickle.loads` runs code, and why `loads`
 * here never imports or calls anything it was not given: a global resolves only through
 *
 * 1. the user's `find_class(module, name)` hook, when given (it returns a function, or
 *    `undefined` to fall through), then
 * 2. the fixed allow-list below: the constructors CPython itself names for plain data
 *    (`_codecs.encode` for bytes in protocols 0-2, `set`, `frozenset`, `bytearray`, `bytes`,
 *    `collections.OrderedDict`), under their Python 3 and Python 2 module names.
 *
 * Anything else throws an `UnpicklingError` with code `ERR_PICKLE_GLOBAL` naming the global.
 * The allow-listed constructors accept only the argument shapes CPython writes, never
 * allocate beyond the data the pickle itself carries (`bytes(10**9)` is refused), and return
 * the types of `types.ts`.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { ByteArray, FrozenSet, Tuple } from './types.js';

/** A function standing for a Python callable: called with the positional arguments a pickle gives it. */
export type PyCallable = (...args: unknown[]) => unknown;

/**
 * The hook `loads` asks for a global before its allow-list: return a function to accept the
 * global (it is called with the arguments of `REDUCE` / `NEWOBJ` / `OBJ` / `INST`; for
 * `NEWOBJ_EX` with non-empty keyword arguments, a `Map` of them comes last), or `undefined` to
 * fall through to the allow-list. Throwing rejects the pickle (the error becomes the `cause`
 * of an `UnpicklingError`). A value it builds may have a `__setstate__(state)` method, which
 * `BUILD` calls; `BUILD` on anything else is refused.
 */
export type FindClass = (module: string, name: string) => PyCallable | undefined | null;

/**
 * A Python global as a value: what `GLOBAL` pushes, and what stays in the result if a pickle
 * holds a class or function itself (`pickle.dumps(set)`). `dumps` writes it back as the
 * global it names.
 */
export class PyGlobal {
  /** The module, e.g. `'collections'`. */
  readonly module: string;
  /** The qualified name, e.g. `'OrderedDict'`. */
  readonly name: string;
  /** What calling it does. @internal */
  readonly call: PyCallable;
  /**
   * @param module - the module name
   * @param name - the qualified name
   * @param call - what calling it does
   */
  constructor(module: string, name: string, call: PyCallable) {
    this.module = module;
    this.name = name;
    this.call = call;
  }
  /** `module.name`. */
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Thrown by the allow-listed constructors for arguments CPython would not write. (not part of the public API) */
export class GlobalArgumentError extends Error {}

function text_arg(value: unknown, what: string): string {
  if (typeof value === 'string') return value;
  // a Python 2 str read with encoding: 'bytes'
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
  throw new GlobalArgumentError(`${what} must be a str`);
}

/** `str.encode(encoding)` for the encodings CPython's picklers name. */
function encode_text(text: string, encoding: string): Buffer {
  switch (encoding.toLowerCase().replace(/_/g, '-')) {
    case 'latin1':
    case 'latin-1':
    case 'iso-8859-1':
    case 'iso8859-1':
    case 'l1':
      for (let i = 0; i < text.length; i++) {
        if (text.charCodeAt(i) > 0xff) throw new GlobalArgumentError("'latin-1' codec can't encode a character above U+00FF");
      }
      return Buffer.from(text, 'latin1');
    case 'ascii':
    case 'us-ascii':
      for (let i = 0; i < text.length; i++) {
        if (text.charCodeAt(i) > 0x7f) throw new GlobalArgumentError("'ascii' codec can't encode a character above U+007F");
      }
      return Buffer.from(text, 'latin1');
    case 'utf8':
    case 'utf-8':
      return Buffer.from(text, 'utf8');
    default:
      throw new GlobalArgumentError(`unsupported encoding ${JSON.stringify(encoding.slice(0, 40))}`);
  }
}

function iterable_arg(value: unknown, what: string): Iterable<unknown> {
  if (Array.isArray(value) || value instanceof Set) return value;
  if (value instanceof Map) return value.keys();
  throw new GlobalArgumentError(`${what} takes a list, tuple or set`);
}

/** The bytes of `bytes(...)` / `bytearray(...)` arguments as CPython writes them. */
function bytes_of(args: unknown[], what: string): Uint8Array {
  if (args.length === 0) return new Uint8Array(0);
  const [source, encoding] = args;
  if (args.length === 2 || typeof source === 'string') {
    if (args.length !== 2) throw new GlobalArgumentError(`${what}(str) needs an encoding`);
    return encode_text(text_arg(source, what), text_arg(encoding, `${what} encoding`));
  }
  if (args.length !== 1) throw new GlobalArgumentError(`${what} takes at most 2 arguments`);
  if (source instanceof Uint8Array) return source;
  if (Array.isArray(source)) {
    const out = new Uint8Array(source.length);
    for (let i = 0; i < source.length; i++) {
      const b = source[i];
      if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) throw new GlobalArgumentError('bytes must be in range(0, 256)');
      out[i] = b;
    }
    return out;
  }
  // bytes(n) would allocate n bytes the pickle never carried
  throw new GlobalArgumentError(`${what} takes bytes, a str and an encoding, or a list of ints`);
}

function make_bytes(...args: unknown[]): Buffer {
  const b = bytes_of(args, 'bytes');
  return Buffer.copyBytesFrom(b);
}

function make_bytearray(...args: unknown[]): ByteArray {
  const b = bytes_of(args, 'bytearray');
  const out = new ByteArray(b.length);
  out.set(b);
  return out;
}

function make_set(...args: unknown[]): Set<unknown> {
  if (args.length > 1) throw new GlobalArgumentError('set takes at most 1 argument');
  return args.length === 0 ? new Set() : new Set(iterable_arg(args[0], 'set'));
}

function make_frozenset(...args: unknown[]): FrozenSet<unknown> {
  if (args.length > 1) throw new GlobalArgumentError('frozenset takes at most 1 argument');
  return args.length === 0 ? new FrozenSet() : new FrozenSet(iterable_arg(args[0], 'frozenset'));
}

function make_ordered_dict(...args: unknown[]): Map<unknown, unknown> {
  if (args.length > 1) throw new GlobalArgumentError('OrderedDict takes at most 1 argument');
  const map = new Map<unknown, unknown>();
  if (args.length === 0) return map;
  const source = args[0];
  if (source instanceof Map) {
    for (const [k, v] of source) map.set(k, v);
    return map;
  }
  for (const pair of iterable_arg(source, 'OrderedDict')) {
    // Python 2.7 writes [[key, value], ...]; any 2-item list or tuple will do
    if (!Array.isArray(pair) || pair.length !== 2) throw new GlobalArgumentError('OrderedDict items must be pairs');
    map.set(pair[0], pair[1]);
  }
  return map;
}

function codecs_encode(...args: unknown[]): Buffer {
  if (args.length < 1 || args.length > 3) throw new GlobalArgumentError('_codecs.encode takes 1 to 3 arguments');
  const text = args[0];
  if (text instanceof Uint8Array && args.length >= 2 && text_arg(args[1], 'encoding') === 'latin1') {
    return Buffer.copyBytesFrom(text); // a Python 2 str read as bytes
  }
  return encode_text(text_arg(text, '_codecs.encode argument'), args.length >= 2 ? text_arg(args[1], 'encoding') : 'utf-8');
}

/** The allow-list, by `module.name` (Python 3 names and the Python 2 names they were fixed from). */
const ALLOWED: ReadonlyMap<string, PyCallable> = new Map<string, PyCallable>([
  ['_codecs.encode', codecs_encode],
  ['builtins.bytes', make_bytes],
  ['__builtin__.bytes', make_bytes],
  ['builtins.bytearray', make_bytearray],
  ['__builtin__.bytearray', make_bytearray],
  ['builtins.set', make_set],
  ['__builtin__.set', make_set],
  ['builtins.frozenset', make_frozenset],
  ['__builtin__.frozenset', make_frozenset],
  ['collections.OrderedDict', make_ordered_dict],
]);

/** The globals `loads` accepts without a `find_class` hook, as `module.name`. */
export const ALLOWED_GLOBALS: readonly string[] = [...ALLOWED.keys()];

/**
 * Resolves a global: the hook first, then the allow-list; `undefined` when neither has it.
 * Errors thrown by the hook propagate. (not part of the public API) */
export function resolve_global(module: string, name: string, hook: FindClass | undefined): PyGlobal | undefined {
  if (hook !== undefined) {
    const fn = hook(module, name);
    if (typeof fn === 'function') return new PyGlobal(module, name, fn);
    if (fn !== undefined && fn !== null) throw new TypeError(`find_class(${module}, ${name}) returned a ${typeof fn}, not a function`);
  }
  const builtin = ALLOWED.get(`${module}.${name}`);
  return builtin === undefined ? undefined : new PyGlobal(module, name, builtin);
}

/** The Python type name of a value, for messages. (not part of the public API) */
export function py_type(value: unknown): string {
  if (value === null) return 'None';
  switch (typeof value) {
    case 'boolean': return 'bool';
    case 'number':
    case 'bigint': return 'int';
    case 'string': return 'str';
    case 'object':
      if (value instanceof Tuple) return 'tuple';
      if (Array.isArray(value)) return 'list';
      if (value instanceof Map) return 'dict';
      if (value instanceof FrozenSet) return 'frozenset';
      if (value instanceof Set) return 'set';
      if (value instanceof ByteArray) return 'bytearray';
      if (value instanceof Uint8Array) return 'bytes';
      if (value instanceof PyGlobal) return 'global';
      return 'object';
    default:
      return typeof value;
  }
}
