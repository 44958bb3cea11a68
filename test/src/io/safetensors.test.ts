import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Dd3dError } from '../../../src/core/errors.js';
import { openSafetensors, parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors, type Tensor } from '../../../src/io/safetensors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-st-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Hand-built file: any header (even invalid), any data bytes. */
function rawFile(name: string, header: unknown, data: Uint8Array = new Uint8Array(0), headerLen?: bigint): string {
  const json = typeof header === 'string' ? header : JSON.stringify(header);
  const h = Buffer.from(json);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerLen ?? BigInt(h.length));
  const file = path.join(tmp, name);
  fs.writeFileSync(file, Buffer.concat([prefix, h, data]));
  return file;
}

const u16 = (...v: number[]) => new Uint8Array(new Uint16Array(v).buffer);
const bits = (a: Float32Array) => [...new Uint32Array(a.buffer, a.byteOffset, a.length)];

describe('reading the golden fixtures', () => {
  it('reads sd1-tiny/golden/text_encoder.safetensors names, shapes, metadata and values', () => {
    const { tensors, metadata } = readSafetensors('test/fixtures/sd1-tiny/golden/text_encoder.safetensors');
    expect([...tensors.keys()].sort()).toEqual(['grad_token_embeddings', 'input_ids', 'last_hidden_state', 'loss_weights', 'pooler_output']);
    expect(tensors.get('last_hidden_state')!.shape).toEqual([2, 77, 32]);
    expect(tensors.get('pooler_output')!.shape).toEqual([2, 32]);
    expect(metadata.layout).toBe('"torch (batch, seq, dim)"');
    expect(metadata.loss).toBe('"sum(last_hidden_state * loss_weights)"');

    const ids = tensors.get('input_ids')!;
    expect(ids.dtype).toBe('F32');
    expect([...ids.data.subarray(0, 6)]).toEqual([49406, 320, 1929, 2172, 49407, 49407]);
    const h = tensors.get('last_hidden_state')!.data;
    expect(h[0]).toBe(Math.fround(-0.42828845977783203));
    expect(h[h.length - 1]).toBe(Math.fround(0.2066964954137802));
  });

  it('reads single tensors of a checkpoint on demand', () => {
    const f = openSafetensors('test/fixtures/sd1-tiny/text_encoder/model.safetensors');
    try {
      expect(f.names).toHaveLength(36);
      expect(f.metadata).toEqual({ format: 'pt' });
      expect(f.info('embeddings.token_embedding.weight')).toEqual({ dtype: 'F32', shape: [49408, 32] });
      const emb = f.get('embeddings.token_embedding.weight');
      expect(emb.data).toBeInstanceOf(Float32Array);
      expect(emb.data.length).toBe(49408 * 32);
      expect(emb.data[49407 * 32 + 31]).toBe(Math.fround(0.0827414020895958));
      expect(f.get('embeddings.position_embedding.weight').data[0]).toBe(Math.fround(-0.021569889038801193));
      expect(() => f.get('nope')).toThrow(/model\.safetensors: no tensor "nope"/);
    } finally {
      f.close();
    }
  });

  it('parses from memory, also from an unaligned Buffer view', () => {
    const bytes = fs.readFileSync('test/fixtures/pixel-tiny/golden/unet.safetensors');
    const shifted = Buffer.alloc(bytes.length + 3);
    bytes.copy(shifted, 3);
    const a = readSafetensors('test/fixtures/pixel-tiny/golden/unet.safetensors').tensors;
    const b = parseSafetensors(shifted.subarray(3), 'unet.safetensors');
    expect(b.names.sort()).toEqual([...a.keys()].sort());
    for (const n of b.names) expect(b.get(n)).toEqual(a.get(n));
  });
});

describe('writing', () => {
  const special = new Float32Array(new Uint32Array([0x7fc00001, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x3f800000]).buffer);
  const tensors: Record<string, Tensor> = {
    'b.weight': { dtype: 'F32', shape: [2, 3], data: special },
    'a.ids': { dtype: 'I32', shape: [3], data: new Int32Array([-2147483648, 0, 2147483647]) },
    image: { dtype: 'U8', shape: [1, 5], data: new Uint8Array([0, 1, 127, 128, 255]) },
    empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
  };

  it('round-trips F32 (bitwise, incl. NaN payload, -0, inf, subnormal), I32, U8 and metadata', () => {
    const file = path.join(tmp, 'roundtrip.safetensors');
    writeSafetensors(file, tensors, { format: 'pt', note: 'ünïcode' });
    const { tensors: back, metadata } = readSafetensors(file);
    expect(metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    expect(bits(back.get('b.weight')!.data as Float32Array)).toEqual(bits(special));
    expect(back.get('b.weight')!.shape).toEqual([2, 3]);
    expect(back.get('a.ids')).toEqual(tensors['a.ids']);
    expect(back.get('image')).toEqual(tensors.image);
    expect(back.get('empty')!.shape).toEqual([0, 4]);
    expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('pads the header to 8 bytes and orders tensors by element size, then name', () => {
    const bytes = serializeSafetensors(new Map(Object.entries(tensors)));
    const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const json = Buffer.from(bytes.subarray(8, 8 + n)).toString();
    expect(json).toMatch(/^\{.*\} *$/);
    const header = JSON.parse(json);
    expect(Object.keys(header)).toEqual(['a.ids', 'b.weight', 'empty', 'image']);
    expect(header['image'].data_offsets).toEqual([36, 41]);
    expect(bytes.length).toBe(8 + n + 41);
  });

  it('writes nothing when the input is inconsistent or the folder is missing', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'w-'));
    const bad = { x: { dtype: 'F32', shape: [4], data: new Float32Array(3) } };
    expect(() => writeSafetensors(path.join(dir, 'x.safetensors'), bad)).toThrow(/shape \[4\] does not hold 3 values/);
    const wrongType = { x: { dtype: 'F32', shape: [3], data: new Int32Array(3) } };
    expect(() => writeSafetensors(path.join(dir, 'x.safetensors'), wrongType)).toThrow(/dtype F32 does not match its Int32Array/);
    expect(fs.readdirSync(dir)).toEqual([]);
    const missing = path.join(dir, 'no', 'x.safetensors');
    expect(() => writeSafetensors(missing, tensors)).toThrow(Dd3dError);
    expect(() => writeSafetensors(missing, tensors)).toThrow(/x\.safetensors: cannot write \(ENOENT/);
  });

  it('replaces an existing file whole', () => {
    const file = path.join(tmp, 'replace.safetensors');
    writeSafetensors(file, tensors);
    writeSafetensors(file, { only: tensors.image! });
    expect(openSafetensors(file).names).toEqual(['only']);
  });
});

describe('dtype conversion', () => {
  it('converts F16 bit patterns exactly, including subnormals, inf and nan', () => {
    const patterns = [0x3c00, 0xc000, 0x7c00, 0xfc00, 0x0001, 0x03ff, 0x0400, 0x7bff, 0x8000, 0x3555, 0x7e00];
    const file = rawFile('f16.safetensors', { h: { dtype: 'F16', shape: [11], data_offsets: [0, 22] } }, u16(...patterns));
    const t = readSafetensors(file).tensors.get('h')!;
    expect(t.dtype).toBe('F32');
    const v = [...t.data];
    expect(v.slice(0, 9)).toEqual([1, -2, Infinity, -Infinity, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, 65504, -0]);
    expect(Object.is(v[8], -0)).toBe(true);
    expect(v[9]).toBe(0.333251953125);
    expect(v[10]).toBeNaN();
    expect(openSafetensors(file).info('h').dtype).toBe('F16');
  });

  it('converts BF16 by widening the bits', () => {
    const file = rawFile(
      'bf16.safetensors',
      { b: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 12] } },
      u16(0x3f80, 0xc000, 0x7f80, 0x0001, 0x7fc1, 0x4049),
    );
    const t = readSafetensors(file).tensors.get('b')!;
    expect(t.shape).toEqual([2, 3]);
    expect(bits(t.data as Float32Array)).toEqual([0x3f800000, 0xc0000000, 0x7f800000, 0x00010000, 0x7fc10000, 0x40490000]);
    expect([...t.data].slice(0, 4)).toEqual([1, -2, Infinity, 2 ** -133]);
  });

  it('reads U8, I32 and in-range I64 (as Int32Array)', () => {
    const i64 = new BigInt64Array([-5n, 0n, 2147483647n, -2147483648n]);
    const data = Buffer.concat([Buffer.from([7, 8]), Buffer.from(new Int32Array([-1, 9]).buffer), Buffer.from(i64.buffer)]);
    const file = rawFile(
      'ints.safetensors',
      {
        u: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
        i: { dtype: 'I32', shape: [2], data_offsets: [2, 10] },
        l: { dtype: 'I64', shape: [4], data_offsets: [10, 42] },
      },
      data,
    );
    const t = readSafetensors(file).tensors;
    expect(t.get('u')).toEqual({ dtype: 'U8', shape: [2], data: new Uint8Array([7, 8]) });
    expect(t.get('i')).toEqual({ dtype: 'I32', shape: [2], data: new Int32Array([-1, 9]) });
    expect(t.get('l')).toEqual({ dtype: 'I32', shape: [4], data: new Int32Array([-5, 0, 2147483647, -2147483648]) });
  });

  it('refuses I64 outside int32 and unsupported dtypes, naming file, tensor and dtype', () => {
    const big = rawFile(
      'i64big.safetensors',
      { l: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } },
      new Uint8Array(new BigInt64Array([1n, 2147483648n]).buffer),
    );
    expect(() => readSafetensors(big)).toThrow(/i64big\.safetensors: tensor "l": I64 value 2147483648 at index 1 does not fit in int32/);
    const f64 = rawFile('f64.safetensors', { d: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    const f = openSafetensors(f64); // the header is valid, only decoding is refused
    expect(() => f.get('d')).toThrow(/f64\.safetensors: tensor "d": dtype F64 is not supported/);
    f.close();
  });
});

describe('validation errors', () => {
  const ok = { a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] } };
  const cases: [string, () => string, RegExp][] = [
    [
      'short file',
      () => {
        const f = path.join(tmp, 'short.safetensors');
        fs.writeFileSync(f, Buffer.from([1, 2, 3]));
        return f;
      },
      /short\.safetensors: not a safetensors file: 3 bytes, need at least 8/,
    ],
    [
      'header length past the end',
      () => rawFile('hlen.safetensors', ok, new Uint8Array(24), 5000n),
      /hlen\.safetensors: header length 5000 exceeds the file size \(\d+ bytes\)/,
    ],
    [
      'header length over 100 MB',
      () => rawFile('huge.safetensors', ok, new Uint8Array(24), 1n << 40n),
      /huge\.safetensors: header length 1099511627776 is over the 100 MB limit/,
    ],
    ['bad JSON', () => rawFile('json.safetensors', '{"a": [', new Uint8Array(0)), /json\.safetensors: header is not valid JSON/],
    ['JSON array', () => rawFile('arr.safetensors', '[1,2]'), /arr\.safetensors: header is not a JSON object/],
    [
      'missing dtype',
      () => rawFile('nodt.safetensors', { a: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /nodt\.safetensors: tensor "a": missing or non-string "dtype"/,
    ],
    [
      'bad shape',
      () => rawFile('shape.safetensors', { a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /shape\.safetensors: tensor "a": "shape" must be an array of non-negative integers/,
    ],
    [
      'bad offsets',
      () => rawFile('offs.safetensors', { a: { dtype: 'F32', shape: [1], data_offsets: ['0', 4] } }, new Uint8Array(4)),
      /offs\.safetensors: tensor "a": "data_offsets" must be \[begin, end\]/,
    ],
    [
      'reversed offsets',
      () => rawFile('rev.safetensors', { a: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4)),
      /rev\.safetensors: tensor "a": data_offsets \[4,0\] end before they begin/,
    ],
    [
      'unknown dtype',
      () => rawFile('dt.safetensors', { a: { dtype: 'Q7', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
      /dt\.safetensors: tensor "a": unknown dtype "Q7"/,
    ],
    [
      'shape/range mismatch',
      () => rawFile('x.safetensors', { a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, new Uint8Array(24)),
      /^x\.safetensors: tensor "a": shape \[2,3\] needs 24 bytes but data_offsets span 20$/,
    ],
    [
      'overlap',
      () =>
        rawFile(
          'ovl.safetensors',
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
          },
          new Uint8Array(12),
        ),
      /ovl\.safetensors: tensors "a" \[0,8\] and "b" \[4,12\] overlap/,
    ],
    [
      'truncated',
      () => rawFile('model.safetensors', { a: { dtype: 'U8', shape: [1234], data_offsets: [0, 1234] } }, new Uint8Array(1000)),
      /model\.safetensors: truncated: header says 1234 bytes of data, file has 1000$/,
    ],
    [
      'empty tensor past the end',
      () => rawFile('emp.safetensors', { a: { dtype: 'F32', shape: [0], data_offsets: [64, 64] } }),
      /emp\.safetensors: truncated: header says 64 bytes of data, file has 0/,
    ],
    ['non-string metadata', () => rawFile('meta.safetensors', { __metadata__: { steps: 4 } }), /meta\.safetensors: "__metadata__" key "steps" is not a string/],
    ['missing file', () => path.join(tmp, 'absent.safetensors'), /absent\.safetensors: file not found/],
    ['a folder', () => fs.mkdtempSync(path.join(tmp, 'dir-')), /dir-\w+: expected a \.safetensors file, got a folder/],
  ];

  it.each(cases)('%s', (_, make, message) => {
    const file = make();
    let error: unknown;
    try {
      openSafetensors(file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Dd3dError);
    // Messages name the file and fit on one line.
    expect((error as Error).message).not.toContain('\n');
    expect((error as Error).message.replace(tmp + path.sep, '')).toMatch(message);
    // The in-memory parser applies the same checks.
    if (fs.statSync(file, { throwIfNoEntry: false })?.isFile()) expect(() => parseSafetensors(fs.readFileSync(file), path.basename(file))).toThrow(message);
  });
});
