import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { endianness } from 'node:os';
import { Struct } from '../lib/engine/struct.js';
import { StructError } from '../lib/engine/errors.js';

// Reference byte vectors below were produced with CPython's struct module and pasted as literals.

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const LE = endianness() === 'LE';

function throwsKind(fn: () => unknown, Kind: new (...args: never[]) => Error, pattern?: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, Kind);
    if (Kind === TypeError || Kind === RangeError) assert.not.instance(err, StructError);
    if (pattern) assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a ${Kind.name}`);
}

/** Packs, compares the bytes, unpacks and compares the values back. */
function vector(format: string, values: unknown[], bytes: string, expected: unknown[] = values): void {
  const s = new Struct(format);
  assert.is(s.pack(...values).toString('hex'), bytes, `pack ${format}`);
  assert.equal(s.unpack(hex(bytes)), expected, `unpack ${format}`);
}

const VECTORS: Array<[code: string, values: unknown[], little: string, big: string, expected?: unknown[]]> = [
  ['c', [Buffer.from('A')], '41', '41'],
  ['b', [-2], 'fe', 'fe'],
  ['B', [200], 'c8', 'c8'],
  ['?', [true], '01', '01'],
  ['h', [-2], 'feff', 'fffe'],
  ['H', [0x1234], '3412', '1234'],
  ['i', [-123456789], 'eb32a4f8', 'f8a432eb'],
  ['I', [0xdeadbeef], 'efbeadde', 'deadbeef'],
  ['l', [-2], 'feffffff', 'fffffffe'],
  ['L', [4000000000], '00286bee', 'ee6b2800'],
  ['q', [-2n], 'feffffffffffffff', 'fffffffffffffffe'],
  ['Q', [0x0102030405060708n], '0807060504030201', '0102030405060708'],
  ['e', [1.5], '003e', '3e00'],
  ['f', [1.5], '0000c03f', '3fc00000'],
  ['f', [0.1], 'cdcccc3d', '3dcccccd', [Math.fround(0.1)]],
  ['d', [-0.1], '9a9999999999b9bf', 'bfb999999999999a'],
  ['xBx', [7], '000700', '000700'],
  ['s', [Buffer.from('z')], '7a', '7a'],
  ['p', [Buffer.from('')], '00', '00'],
];

for (const [code, values, little, big, expected] of VECTORS) {
  test(`'${code}' packs and unpacks ${values.map(String).join(', ')} as known little- and big-endian bytes`, () => {
    vector(`<${code}`, values, little, expected);
    vector(`>${code}`, values, big, expected);
    vector(`!${code}`, values, big, expected);
    vector(`=${code}`, values, LE ? little : big, expected);
  });
}

test('native mode uses the machine byte order', () => {
  assert.equal(new Struct('H').pack(0x1234), new Struct(LE ? '<H' : '>H').pack(0x1234));
  assert.equal(new Struct('@H').pack(0x1234), new Struct(LE ? '<H' : '>H').pack(0x1234));
});

test('size matches Python calcsize for standard and native formats', () => {
  const sizes: Array<[string, number]> = [
    ['', 0], ['!HHI', 8], ['<qh', 10], ['@bi', 8], ['bi', 8], ['=bi', 5], ['<bi', 5],
    ['@bhiq', 16], ['@cd', 16], ['@b4h', 10], ['@3s i', 8], ['@ib', 5], ['@ihx', 7], ['@b0i', 4],
    ['@?e', 4], ['<e', 2], ['>f', 4], ['!d', 8], ['<10s', 10], ['<0s', 0], ['<3x', 3],
  ];
  for (const [format, size] of sizes) assert.is(new Struct(format).size, size, format);
});

test('native alignment inserts zero padding before each field', () => {
  vector('@bi', [1, 2], LE ? '0100000002000000' : '0100000000000002');
  vector('@bhiq', [1, 2, 3, 4n], LE ? '01000200030000000400000000000000' : '01000002000000030000000000000004');
  vector('@?e', [true, 1], LE ? '0100003c' : '01003c00');
});

test('count is the number of values, counting s and p once and x never', () => {
  assert.is(new Struct('<4h').count, 4);
  assert.is(new Struct('<10s').count, 1);
  assert.is(new Struct('<0s').count, 1);
  assert.is(new Struct('<5p2x').count, 1);
  assert.is(new Struct('<0h').count, 0);
  assert.is(new Struct('').count, 0);
});

test('format is kept exactly as given', () => {
  assert.is(new Struct(' h h ').format, ' h h ');
});

test('repeat counts repeat a code; whitespace between codes is ignored', () => {
  vector('<4h', [1, 2, 3, 4], '0100020003000400');
  vector('<2x3B', [1, 2, 3], '0000010203');
  vector('< h\t\nB ', [1, 2], '010002');
  vector('<12B', Array.from({ length: 12 }, (_, i) => i), '000102030405060708090a0b');
});

test('s zero-pads short values, truncates long ones and accepts strings and Uint8Arrays', () => {
  vector('5s', [Buffer.from('ab')], '6162000000', [Buffer.from('ab\0\0\0')]);
  vector('2s', [Buffer.from('abcd')], '6162', [Buffer.from('ab')]);
  assert.is(new Struct('3s').pack('é').toString('hex'), 'c3a900');
  assert.is(new Struct('2s').pack(new Uint8Array([9, 8, 7])).toString('hex'), '0908');
  assert.is(new Struct('0s').pack(Buffer.from('xyz')).length, 0);
  assert.equal(new Struct('0s').unpack(Buffer.alloc(0)), [Buffer.alloc(0)]);
});

test('p stores a length byte capped at count-1 and at 255', () => {
  vector('5p', [Buffer.from('ab')], '0261620000');
  vector('3p', [Buffer.from('abcd')], '026162', [Buffer.from('ab')]);
  vector('1p', [Buffer.from('abc')], '00', [Buffer.alloc(0)]);
  const long = new Struct('<300p').pack(Buffer.alloc(299, 0x61));
  assert.is(long.length, 300);
  assert.is(long[0], 255);
  assert.is(long[299], 0x61);
  assert.equal(new Struct('5p').unpack(hex('0961626364')), [Buffer.from('abcd')]);
  assert.equal(new Struct('5p').unpack(hex('0261626364')), [Buffer.from('ab')]);
  assert.equal(new Struct('0p').pack(Buffer.from('x')), Buffer.alloc(0));
  assert.equal(new Struct('0p').unpack(Buffer.alloc(0)), [Buffer.alloc(0)]);
});

test('c accepts a 1-byte Uint8Array or a 1-character ASCII string', () => {
  assert.equal(new Struct('c').pack(new Uint8Array([0xff])), hex('ff'));
  assert.equal(new Struct('c').pack('A'), hex('41'));
});

test('? packs truthiness and unpacks any non-zero byte as true', () => {
  assert.equal(new Struct('????').pack(0, 1, '', {}), hex('00010001'));
  assert.equal(new Struct('??').unpack(hex('0080')), [false, true]);
});

test('unpacked buffers are copies, not views of the input', () => {
  const input = hex('616263');
  const [s] = new Struct('3s').unpack(input) as [Buffer];
  input[0] = 0;
  assert.is(s.toString(), 'abc');
});

test('integer codes accept bigints in range', () => {
  assert.equal(new Struct('<hI').pack(-2n, 0xffffffffn), hex('feffffffffff'));
});

test('64-bit codes round-trip their extremes as bigints', () => {
  vector('<qQ', [-(2n ** 63n), 2n ** 64n - 1n], '0000000000000080ffffffffffffffff');
  vector('>qQ', [2n ** 63n - 1n, 0n], '7fffffffffffffff0000000000000000');
});

test('64-bit codes accept safe-integer numbers', () => {
  vector('<qQ', [-2, Number.MAX_SAFE_INTEGER], 'feffffffffffffffffffffffffff1f00', [-2n, 2n ** 53n - 1n]);
});

test('every integer code round-trips its minimum and maximum', () => {
  const ranges: Array<[string, number, number]> = [
    ['b', -128, 127], ['B', 0, 255], ['h', -32768, 32767], ['H', 0, 65535],
    ['i', -(2 ** 31), 2 ** 31 - 1], ['I', 0, 2 ** 32 - 1], ['l', -(2 ** 31), 2 ** 31 - 1], ['L', 0, 2 ** 32 - 1],
  ];
  for (const [code, min, max] of ranges) {
    for (const order of '<>') {
      const s = new Struct(`${order}${code}${code}`);
      assert.equal(s.unpack(s.pack(min, max)), [min, max], `${order}${code}`);
      throwsKind(() => s.pack(min - 1, 0), RangeError);
      throwsKind(() => s.pack(0, max + 1), RangeError);
    }
  }
});

test('e (half float) packs edge cases like CPython', () => {
  const cases: Array<[number, string, number]> = [
    [0, '0000', 0],
    [-0, '0080', -0],
    [1, '003c', 1],
    [-2, '00c0', -2],
    [65504, 'ff7b', 65504],
    [65519.99, 'ff7b', 65504],
    [Infinity, '007c', Infinity],
    [-Infinity, '00fc', -Infinity],
    [2 ** -24, '0100', 2 ** -24],                              // smallest subnormal
    [2 ** -14, '0004', 2 ** -14],                              // smallest normal
    [2 ** -25, '0000', 0],                                     // half the smallest subnormal: ties to even (0)
    [2 ** -25 * 1.0000001, '0100', 2 ** -24],                  // just above the tie rounds up
    [3 * 2 ** -25, '0200', 2 ** -23],                          // 1.5 ulp: ties to even (2)
    [5 * 2 ** -25, '0200', 2 ** -23],                          // 2.5 ulp: ties to even (2)
    [2047 * 2 ** -25, '0004', 2 ** -14],                       // largest subnormal region rounds up to normal
    [1 + 2 ** -11, '003c', 1],                                 // tie between 1 and next: to even (1)
    [1 + 3 * 2 ** -11, '023c', 1 + 2 ** -9],                   // tie: to even (0x3c02)
    [1 + 2 ** -11 + 2 ** -30, '013c', 1 + 2 ** -10],           // above the tie rounds up
    [1 / 3, '5535', 0.333251953125],
    [0.1, '662e', 0.0999755859375],
  ];
  const s = new Struct('<e');
  for (const [value, bytes, back] of cases) {
    assert.is(s.pack(value).toString('hex'), bytes, `pack ${value}`);
    assert.ok(Object.is(s.unpack(hex(bytes))[0], back), `unpack ${bytes}`);
  }
});

test('e packs NaN as 0x7e00 and unpacks any NaN pattern as NaN', () => {
  assert.is(new Struct('<e').pack(NaN).toString('hex'), '007e');
  assert.ok(Number.isNaN(new Struct('<e').unpack(hex('017c'))[0]));
  assert.ok(Number.isNaN(new Struct('>e').unpack(hex('fe00'))[0]));
});

test('e and f throw RangeError for finite values too large for the format', () => {
  throwsKind(() => new Struct('<e').pack(65520), RangeError, /too large/);
  throwsKind(() => new Struct('<e').pack(-1e300), RangeError, /too large/);
  throwsKind(() => new Struct('<f').pack(3.4028236e38), RangeError, /too large/);
  assert.is(new Struct('<f').pack(3.4028235e38).toString('hex'), 'ffff7f7f');
  assert.is(new Struct('<f').pack(Infinity).toString('hex'), '0000807f');
  assert.is(new Struct('<f').pack(NaN).toString('hex'), '0000c07f');
});

test('floats round-trip through their formats', () => {
  const s = new Struct('>dfe');
  const [d, f, e] = s.unpack(s.pack(Math.PI, Math.PI, Math.PI));
  assert.is(d, Math.PI);
  assert.is(f, Math.fround(Math.PI));
  assert.is(e, 3.140625);
  assert.is(new Struct('<d').pack(1.1).toString('hex'), '9a9999999999f13f');
});

test('a mixed record round-trips', () => {
  const s = new Struct('!HHI4s?xq');
  const values = [1, 2, 3, Buffer.from('abcd'), true, -5n];
  assert.is(s.size, 8 + 4 + 1 + 1 + 8);
  assert.equal(s.unpack(s.pack(...values)), values);
});

test('unpack_from reads at an offset and allows trailing bytes; negative offsets count from the end', () => {
  const s = new Struct('>H');
  const buf = hex('ff00010203');
  assert.equal(s.unpack_from(buf, 1), [0x0001]);
  assert.equal(s.unpack_from(buf), [0xff00]);
  assert.equal(s.unpack_from(buf, -2), [0x0203]);
  assert.equal(s.unpack_from(new Uint8Array([0, 0, 0x12, 0x34]), 2), [0x1234]);
});

test('unpack_from throws StructError when too few bytes remain', () => {
  const s = new Struct('>I');
  throwsKind(() => s.unpack_from(hex('0102030405'), 2), StructError, /at least 6 bytes/);
  throwsKind(() => s.unpack_from(hex('01020304'), 5), StructError);
  throwsKind(() => s.unpack_from(hex('01020304'), -5), StructError, /out of range/);
  throwsKind(() => s.unpack_from(hex('01020304'), 1.5), TypeError);
});

test('pack_into writes at an offset, zeroing pad bytes', () => {
  const buf = Buffer.alloc(6, 0xee);
  new Struct('>Hx').pack_into(buf, 1, 0x0102);
  assert.is(buf.toString('hex'), 'ee010200eeee');
  new Struct('<B').pack_into(buf, -1, 7);
  assert.is(buf.toString('hex'), 'ee010200ee07');
  throwsKind(() => new Struct('<I').pack_into(buf, 3, 1), StructError);
  throwsKind(() => new Struct('<I').pack_into(buf, 0), StructError);
});

test('iter_unpack yields one record per size bytes', () => {
  const s = new Struct('<H');
  assert.equal([...s.iter_unpack(hex('01000200ffff'))], [[1], [2], [0xffff]]);
  throwsKind(() => s.iter_unpack(hex('010002')), StructError, /multiple of 2/);
  throwsKind(() => new Struct('').iter_unpack(Buffer.alloc(0)), StructError);
});

test('a non-string format throws TypeError', () => {
  throwsKind(() => new Struct(42 as unknown as string), TypeError);
});

test('invalid formats throw StructError at construction', () => {
  for (const bad of ['z', '<h<h', ' <h', 'h<', '4', 'h4', '4 h', '<4 h', 'n', 'P', '-1h', '99999999999h', '2147483647h']) {
    throwsKind(() => new Struct(bad), StructError);
  }
  const err = (() => { try { new Struct('hz'); } catch (e) { return e as StructError; } return undefined; })();
  assert.is(err?.code, 'ERR_STRUCT');
});

test('pack with the wrong number of values throws StructError', () => {
  throwsKind(() => new Struct('<hh').pack(1), StructError, /expected 2 items/);
  throwsKind(() => new Struct('<hh').pack(1, 2, 3), StructError);
  throwsKind(() => new Struct('').pack(1), StructError);
});

test('pack with a wrongly typed value throws TypeError', () => {
  throwsKind(() => new Struct('<h').pack('1'), TypeError, /argument 1 \('h' format\)/);
  throwsKind(() => new Struct('<hh').pack(1, 1.5), TypeError, /argument 2/);
  throwsKind(() => new Struct('<i').pack(NaN), TypeError);
  throwsKind(() => new Struct('<q').pack('1'), TypeError);
  throwsKind(() => new Struct('<q').pack(1.5), TypeError);
  throwsKind(() => new Struct('<d').pack('1.0'), TypeError);
  throwsKind(() => new Struct('<5s').pack(5), TypeError);
  throwsKind(() => new Struct('<5p').pack(null), TypeError);
  throwsKind(() => new Struct('c').pack(65), TypeError);
});

test('pack with an out-of-range value throws RangeError', () => {
  throwsKind(() => new Struct('<B').pack(-1), RangeError, /0 <= number <= 255/);
  throwsKind(() => new Struct('<H').pack(70000n), RangeError);
  throwsKind(() => new Struct('<q').pack(2n ** 63n), RangeError);
  throwsKind(() => new Struct('<q').pack(-(2n ** 63n) - 1n), RangeError);
  throwsKind(() => new Struct('<Q').pack(-1n), RangeError);
  throwsKind(() => new Struct('<Q').pack(2n ** 64n), RangeError);
  throwsKind(() => new Struct('<Q').pack(2 ** 60), RangeError, /safe integer/);
  throwsKind(() => new Struct('c').pack(Buffer.from('ab')), RangeError);
  throwsKind(() => new Struct('c').pack('é'), RangeError);
});

test('unpack with the wrong length throws StructError', () => {
  const s = new Struct('<I');
  throwsKind(() => s.unpack(hex('010203')), StructError, /4 bytes/);
  throwsKind(() => s.unpack(hex('0102030405')), StructError);
  throwsKind(() => s.unpack('abcd' as unknown as Uint8Array), TypeError);
});

test.run();
