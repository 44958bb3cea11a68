import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { Dd3dError } from '../../../src/core/errors.js';
import { crc32, parseNpy, parseNpz, readNpy, readNpz, toFloat32 } from '../../../src/io/npz.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-npz-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A .npy file: the header dict numpy writes, padded so the data starts 64-aligned. */
function npy(descr: string, shape: number[], data: Uint8Array, opts: { version?: 1 | 2; fortran?: boolean } = {}): Buffer {
  const version = opts.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const d = descr.startsWith('[') ? descr : `'${descr}'`; // structured dtypes are a list literal
  let header = `{'descr': ${d}, 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const prefix = version === 1 ? 10 : 12;
  header += ' '.repeat(63 - ((prefix + header.length) % 64)) + '\n';
  const head = Buffer.alloc(prefix);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head);
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), data]);
}

interface ZipInput {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
  zip64?: boolean;
}

/** Minimal zip writer: local headers, central directory, end record; optional zip64 size fields. */
function zip(entries: ZipInput[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const body = e.deflate ? deflateRawSync(e.data) : Buffer.from(e.data);
    const name = Buffer.from(e.name);
    const extra = Buffer.alloc(e.zip64 ? 20 : 0);
    if (e.zip64) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(16, 2);
      extra.writeBigUInt64LE(BigInt(e.data.length), 4);
      extra.writeBigUInt64LE(BigInt(body.length), 12);
    }
    const [usize, csize] = e.zip64 ? [0xffffffff, 0xffffffff] : [e.data.length, body.length];
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(e.zip64 ? 45 : 20, 4);
    local.writeUInt16LE(e.deflate ? 8 : 0, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc32(e.data), 14);
    local.writeUInt32LE(csize, 18);
    local.writeUInt32LE(usize, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(e.zip64 ? 45 : 20, 6);
    central.writeUInt16LE(e.deflate ? 8 : 0, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc32(e.data), 16);
    central.writeUInt32LE(csize, 20);
    central.writeUInt32LE(usize, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, extra, body);
    centrals.push(central, name, extra);
    offset += 30 + name.length + extra.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
function utf32(strings: string[], width: number): Uint8Array {
  const out = new Uint32Array(strings.length * width);
  strings.forEach((s, i) => [...s].forEach((ch, j) => (out[i * width + j] = ch.codePointAt(0)!)));
  return bytesOf(out);
}

const arrays: [string, Buffer][] = [
  ['weights', npy('<f4', [2, 3], bytesOf(new Float32Array([1.5, -2, 0, 3.25, 1e-8, -0])))],
  ['scale', npy('<f8', [], bytesOf(new Float64Array([0.1])), { version: 2 })],
  ['ids', npy('<i4', [3], bytesOf(new Int32Array([-7, 0, 49407])))],
  ['steps', npy('<i8', [2], bytesOf(new BigInt64Array([-3n, 1000n])))],
  ['mask', npy('|b1', [4], new Uint8Array([1, 0, 0, 1]))],
  ['pixels', npy('|u1', [1, 2], new Uint8Array([0, 255]))],
  ['names', npy('<U5', [3], utf32(['chair', '', 'hé🙂'], 5))],
];

function checkArrays(m: Map<string, ReturnType<typeof parseNpy>>) {
  expect([...m.keys()]).toEqual(arrays.map(([n]) => n));
  expect(m.get('weights')).toEqual({ dtype: '<f4', shape: [2, 3], data: new Float32Array([1.5, -2, 0, 3.25, 1e-8, -0]) });
  expect(m.get('scale')).toEqual({ dtype: '<f8', shape: [], data: new Float64Array([0.1]) });
  expect(m.get('ids')).toEqual({ dtype: '<i4', shape: [3], data: new Int32Array([-7, 0, 49407]) });
  expect(m.get('steps')).toEqual({ dtype: '<i8', shape: [2], data: new Int32Array([-3, 1000]) });
  expect(m.get('mask')).toEqual({ dtype: '|b1', shape: [4], data: new Uint8Array([1, 0, 0, 1]) });
  expect(m.get('pixels')!.data).toEqual(new Uint8Array([0, 255]));
  expect(m.get('names')).toEqual({ dtype: '<U5', shape: [3], data: ['chair', '', 'hé🙂'] });
}

describe('DreamDistribution fixture', () => {
  const m = readNpz('test/fixtures/dreamdistribution-npz/final-1000.npz');

  it('has means, stds (float64, 1x77x32) and prompt_texts', () => {
    expect([...m.keys()].sort()).toEqual(['means', 'prompt_texts', 'stds']);
    for (const k of ['means', 'stds']) {
      const a = m.get(k)!;
      expect(a.dtype).toBe('<f8');
      expect(a.shape).toEqual([1, 77, 32]);
      expect(a.data).toBeInstanceOf(Float64Array);
      expect((a.data as Float64Array).every(Number.isFinite)).toBe(true);
    }
    const means = m.get('means')!.data as Float64Array;
    const stds = m.get('stds')!.data as Float64Array;
    // Exact float64 values as numpy prints them: no precision lost on the way.
    expect(means[0]).toBe(2.0409191213851825);
    expect(means[76 * 32 + 31]).toBe(0.3269564631002771);
    expect(stds[0]).toBe(0.09301929345388833);
    expect(means.reduce((a, b) => a + b, 0)).toBeCloseTo(66.9881840727727, 9);
    expect(stds.every((s) => s > 0)).toBe(true);

    const texts = m.get('prompt_texts')!;
    expect(texts.dtype).toBe('<U7');
    expect(texts.shape).toEqual([1]);
    expect(texts.data).toEqual(['X X X X']);
  });

  it('toFloat32 rounds float64 and refuses strings', () => {
    const f = toFloat32(m.get('means')!);
    expect(f).toHaveLength(77 * 32);
    expect(f[0]).toBe(Math.fround(2.0409191213851825));
    expect(() => toFloat32(m.get('prompt_texts')!, 'final-1000.npz: prompt_texts')).toThrow(
      /final-1000\.npz: prompt_texts: expected a numeric array, got strings \(<U7\)/,
    );
  });
});

describe('hand-built npz', () => {
  it('crc32 matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('reads stored, deflated and zip64-marked entries alike', () => {
    for (const mode of [{}, { deflate: true }, { zip64: true }, { deflate: true, zip64: true }]) {
      checkArrays(parseNpz(zip(arrays.map(([n, d]) => ({ name: `${n}.npy`, data: d, ...mode }))), 'built.npz'));
    }
  });

  it('reads a file from disk, .npy too, and ignores entries that are not .npy', () => {
    const file = path.join(tmp, 'ok.npz');
    fs.writeFileSync(file, zip([...arrays.map(([n, d]) => ({ name: `${n}.npy`, data: d })), { name: 'README', data: Buffer.from('hi') }]));
    checkArrays(readNpz(file));
    fs.writeFileSync(path.join(tmp, 'one.npy'), arrays[0]![1]);
    expect(readNpy(path.join(tmp, 'one.npy')).shape).toEqual([2, 3]);
  });
});

describe('errors', () => {
  const good = zip([{ name: 'a.npy', data: arrays[0]![1] }]);
  const one = (name: string, data: Uint8Array, deflate = false) => zip([{ name, data, deflate }]);
  const corruptStored = Buffer.from(good);
  corruptStored[30 + 5 + 130] ^= 0xff; // a byte in the array data of a.npy
  const deflated = one('a.npy', arrays[0]![1], true);
  const corruptDeflate = Buffer.from(deflated);
  corruptDeflate.fill(0xff, 35, 45);

  const cases: [string, Uint8Array, RegExp][] = [
    ['not a zip', Buffer.from('definitely not a zip file, just some text'), /^bad\.npz: not an npz\/zip file, or truncated/],
    ['truncated zip', good.subarray(0, good.length - 10), /^bad\.npz: not an npz\/zip file, or truncated/],
    ['CRC mismatch', corruptStored, /^bad\.npz: entry "a\.npy": CRC mismatch, the file is corrupt$/],
    ['corrupt deflate', corruptDeflate, /^bad\.npz: entry "a\.npy": corrupt deflate data/],
    ['bad npy magic', one('a.npy', Buffer.from('NUMPY but not really')), /^bad\.npz: entry "a\.npy": not a \.npy array \(bad magic\)/],
    [
      'fortran order',
      one('f.npy', npy('<f4', [2, 2], new Uint8Array(16), { fortran: true })),
      /entry "f\.npy": Fortran-order arrays are not supported; re-save with np\.ascontiguousarray/,
    ],
    ['big-endian', one('b.npy', npy('>f8', [1], new Uint8Array(8))), /entry "b\.npy": dtype '>f8' is not supported/],
    ['complex', one('c.npy', npy('<c16', [1], new Uint8Array(16))), /entry "c\.npy": dtype '<c16' is not supported/],
    ['structured', one('s.npy', npy("[('x', '<f4')]", [1], new Uint8Array(4))), /entry "s\.npy": unsupported \.npy header/],
    [
      'int64 out of range',
      one('i.npy', npy('<i8', [2], bytesOf(new BigInt64Array([1n, -(2n ** 40n)])))),
      /entry "i\.npy": int64 value -1099511627776 at index 1 does not fit in int32/,
    ],
    ['truncated data', one('t.npy', npy('<f4', [2, 3], new Uint8Array(20))), /entry "t\.npy": truncated: shape \(2, 3\) of <f4 needs 24 bytes, file has 20/],
  ];

  it.each(cases)('%s', (_, bytes, message) => {
    let error: unknown;
    try {
      parseNpz(bytes, 'bad.npz');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Dd3dError);
    expect((error as Error).message).not.toContain('\n');
    expect((error as Error).message).toMatch(message);
  });

  it('names a missing file', () => {
    expect(() => readNpz(path.join(tmp, 'nope.npz'))).toThrow(/nope\.npz: file not found/);
  });
});
