/**
 * The text encodings inside pickles, done the way CPython does them:
 *
 * - UTF-8 with `surrogatepass` (`BINUNICODE`, `SHORT_BINUNICODE`, `BINUNICODE8`): a lone
 *   surrogate, which a Python `str` (and a JavaScript string) may hold, travels as its
 *   3-byte form `ED A0 80`..`ED BF BF`, where Node's own UTF-8 would write U+FFFD.
 * - `raw-unicode-escape` (protocol 0 `UNICODE`): Latin-1 bytes with `\uXXXX` and
 *   `\UXXXXXXXX` escapes.
 * - The repr-style quoted strings of protocol 0 `STRING` (`codecs.escape_decode`).
 * - Python's `repr` of a float, for protocol 0 `FLOAT`, and its parser.
 *
 * @module
 */

import { Buffer } from 'node:buffer';

/** Thrown by the decoders here; the reader turns it into an `UnpicklingError`. (not part of the public API) */
export class TextError extends Error {}

interface FastSlices {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
  utf8Write(text: string, offset: number, length?: number): number;
}

/** Node's own slice functions (what `toString` calls after checking its arguments). (not part of the public API) */
export function fast(buf: Buffer): FastSlices {
  return buf as unknown as FastSlices;
}

/**
 * Decodes UTF-8 `buf[start, end)` as Python's `utf-8` codec with `surrogatepass` does:
 * encoded surrogates are accepted, anything else malformed throws.
 */
export function decode_utf8(buf: Buffer, start: number, end: number): string {
  const text = fast(buf).utf8Slice(start, end);
  // Node replaces malformed input (and encoded surrogates) with U+FFFD; only then look closer.
  if (text.indexOf('\ufffd') < 0) return text;
  return decode_utf8_strict(buf, start, end);
}

function decode_utf8_strict(buf: Uint8Array, start: number, end: number): string {
  const units: number[] = [];
  let out = '';
  let i = start;
  while (i < end) {
    const b0 = buf[i]!;
    let cp: number;
    if (b0 < 0x80) {
      cp = b0;
      i += 1;
    } else if (b0 >= 0xc2 && b0 < 0xe0) {
      const b1 = i + 1 < end ? buf[i + 1]! : -1;
      if ((b1 & 0xc0) !== 0x80) throw new TextError(`invalid UTF-8 at byte ${i - start}`);
      cp = ((b0 & 0x1f) << 6) | (b1 & 0x3f);
      i += 2;
    } else if (b0 >= 0xe0 && b0 < 0xf0) {
      const b1 = i + 1 < end ? buf[i + 1]! : -1;
      const b2 = i + 2 < end ? buf[i + 2]! : -1;
      if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80) throw new TextError(`invalid UTF-8 at byte ${i - start}`);
      cp = ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f);
      if (cp < 0x800) throw new TextError(`overlong UTF-8 at byte ${i - start}`);
      i += 3; // surrogates (ED A0..BF) pass, as with Python's surrogatepass
    } else if (b0 >= 0xf0 && b0 < 0xf5) {
      const b1 = i + 1 < end ? buf[i + 1]! : -1;
      const b2 = i + 2 < end ? buf[i + 2]! : -1;
      const b3 = i + 3 < end ? buf[i + 3]! : -1;
      if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80 || (b3 & 0xc0) !== 0x80) throw new TextError(`invalid UTF-8 at byte ${i - start}`);
      cp = ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
      if (cp < 0x10000 || cp > 0x10ffff) throw new TextError(`invalid UTF-8 at byte ${i - start}`);
      i += 4;
    } else {
      throw new TextError(`invalid UTF-8 start byte 0x${b0.toString(16)} at byte ${i - start}`);
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      units.push(cp);
    }
    if (units.length > 4096) {
      out += String.fromCharCode(...units);
      units.length = 0;
    }
  }
  return out + String.fromCharCode(...units);
}

/**
 * Writes `text` as UTF-8 into `buf` at `offset` (room for `3 * text.length` bytes must be
 * there), lone surrogates as their 3-byte forms (`surrogatepass`). Returns the bytes written.
 */
export function encode_utf8_surrogatepass(text: string, buf: Uint8Array, offset: number): number {
  let p = offset;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      buf[p++] = c;
    } else if (c < 0x800) {
      buf[p++] = 0xc0 | (c >> 6);
      buf[p++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < n && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      buf[p++] = 0xf0 | (c >> 18);
      buf[p++] = 0x80 | ((c >> 12) & 0x3f);
      buf[p++] = 0x80 | ((c >> 6) & 0x3f);
      buf[p++] = 0x80 | (c & 0x3f);
    } else {
      buf[p++] = 0xe0 | (c >> 12);
      buf[p++] = 0x80 | ((c >> 6) & 0x3f);
      buf[p++] = 0x80 | (c & 0x3f);
    }
  }
  return p - offset;
}

/** Whether `text` holds a lone surrogate (which Node's UTF-8 encoder would replace). */
export function has_lone_surrogate(text: string): boolean {
  return !(text as string & { isWellFormed(): boolean }).isWellFormed();
}

const HEX = /^[0-9a-fA-F]+$/;

/**
 * Decodes Python's `raw-unicode-escape` of `buf[start, end)`: bytes are Latin-1 characters,
 * except that `\uXXXX` / `\UXXXXXXXX` after an odd number of backslashes is the code point.
 */
export function decode_raw_unicode_escape(buf: Uint8Array, start: number, end: number): string {
  let out = '';
  let run = start; // start of the pending run of plain bytes
  let i = start;
  while (i < end) {
    if (buf[i] !== 0x5c) {
      i++;
      continue;
    }
    // count the backslashes
    let j = i;
    while (j < end && buf[j] === 0x5c) j++;
    const odd = ((j - i) & 1) === 1;
    if (!odd || j >= end || (buf[j] !== 0x75 && buf[j] !== 0x55)) {
      i = j;
      continue;
    }
    const digits = buf[j] === 0x75 ? 4 : 8;
    if (j + 1 + digits > end) throw new TextError('truncated \\uXXXX escape');
    const hex = Buffer.from(buf.buffer, buf.byteOffset + j + 1, digits).toString('latin1');
    if (!HEX.test(hex)) throw new TextError('truncated \\uXXXX escape');
    const cp = Number.parseInt(hex, 16);
    if (cp > 0x10ffff) throw new TextError('\\Uxxxxxxxx out of range');
    out += latin1(buf, run, j - 1) + (cp > 0xffff ? String.fromCodePoint(cp) : String.fromCharCode(cp));
    i = j + 1 + digits;
    run = i;
  }
  return out + latin1(buf, run, end);
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  if (end <= start) return '';
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
}

/**
 * Python's `raw-unicode-escape` of `text` as Python 3's pickler writes it for `UNICODE`:
 * `\`, NUL, `\n`, `\r` and `\x1a` are escaped first (they would end or confuse the line),
 * characters above U+00FF become `\uXXXX` (or `\UXXXXXXXX` for astral ones).
 */
export function encode_raw_unicode_escape(text: string): Buffer {
  let simple = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff || c === 0x5c || c === 0 || c === 0x0a || c === 0x0d || c === 0x1a) {
      simple = false;
      break;
    }
  }
  if (simple) return Buffer.from(text, 'latin1');
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c || c === 0 || c === 0x0a || c === 0x0d || c === 0x1a) {
      out += `\\u${c.toString(16).padStart(4, '0')}`;
    } else if (c <= 0xff) {
      out += text[i];
    } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      const cp = text.codePointAt(i)!;
      i++;
      out += `\\U${cp.toString(16).padStart(8, '0')}`;
    } else {
      out += `\\u${c.toString(16).padStart(4, '0')}`;
    }
  }
  return Buffer.from(out, 'latin1');
}

const SIMPLE_ESCAPES: Record<number, number> = {
  0x5c: 0x5c, 0x27: 0x27, 0x22: 0x22, 0x61: 0x07, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x76: 0x0b,
};

const is_hex = (b: number): boolean => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
const hex_value = (b: number): number => (b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x61 + 10);

/**
 * Decodes the body of a protocol 0 `STRING` line: a Python 2 `repr` of a byte string, quotes
 * included, as `codecs.escape_decode` does (`\n`, `\xhh`, octal `\ooo`, ...).
 */
export function decode_string_repr(buf: Uint8Array, start: number, end: number): Buffer {
  if (end - start < 2 || buf[start] !== buf[end - 1] || (buf[start] !== 0x27 && buf[start] !== 0x22)) {
    throw new TextError('the STRING opcode argument must be quoted');
  }
  const out = Buffer.allocUnsafe(end - start - 2);
  let p = 0;
  let i = start + 1;
  const stop = end - 1;
  while (i < stop) {
    const b = buf[i++]!;
    if (b !== 0x5c) {
      out[p++] = b;
      continue;
    }
    if (i >= stop) throw new TextError('trailing \\ in string');
    const e = buf[i++]!;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out[p++] = simple;
    } else if (e === 0x0a) {
      // backslash-newline: a line continuation, nothing
    } else if (e >= 0x30 && e <= 0x37) {
      let v = e - 0x30;
      for (let k = 0; k < 2 && i < stop && buf[i]! >= 0x30 && buf[i]! <= 0x37; k++) v = v * 8 + (buf[i++]! - 0x30);
      out[p++] = v & 0xff;
    } else if (e === 0x78) {
      if (i + 2 > stop || !is_hex(buf[i]!) || !is_hex(buf[i + 1]!)) throw new TextError('invalid \\x escape');
      out[p++] = hex_value(buf[i]!) * 16 + hex_value(buf[i + 1]!);
      i += 2;
    } else {
      // unknown escapes stay as they are, backslash included
      out[p++] = 0x5c;
      out[p++] = e;
    }
  }
  return out.subarray(0, p);
}

/** Python's `repr(float)`: `1.5`, `3.0`, `1e-07`, `-0.0`, `nan`, `inf`, `-inf`. */
export function float_repr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (Object.is(value, -0)) return '-0.0';
  let text = String(value);
  const e = text.indexOf('e');
  if (e < 0) return Number.isInteger(value) && Math.abs(value) < 1e16 ? `${text}.0` : text;
  // JavaScript writes 1e-7 and 1e+21; Python writes 1e-07 and 1e+21 (two exponent digits at least)
  const mantissa = text.slice(0, e);
  let exp = text.slice(e + 1);
  const sign = exp[0] === '-' ? '-' : '+';
  exp = exp.replace(/^[+-]/, '');
  if (exp.length < 2) exp = `0${exp}`;
  text = `${mantissa}e${sign}${exp}`;
  return text;
}

const FLOAT_TEXT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)$/i;

/** Parses the text of a protocol 0 `FLOAT` as Python's `float()` does; throws when malformed. */
export function parse_float(text: string): number {
  // repr of a double is at most 24 characters; long text is refused before any regular expression sees it
  if (text.length > 400) throw new TextError('could not convert string to float: text too long');
  const t = text.trim();
  if (!FLOAT_TEXT.test(t)) throw new TextError(`could not convert string to float: ${JSON.stringify(t.slice(0, 40))}`);
  const lower = t.toLowerCase();
  const body = lower.replace(/^[+-]/, '');
  if (body === 'nan') return NaN;
  if (body === 'inf' || body === 'infinity') return lower[0] === '-' ? -Infinity : Infinity;
  return Number(t);
}
