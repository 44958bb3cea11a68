import * as tf from '@tensorflow/tfjs';
import { backendParity } from '../../helpers/backend-parity.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { isNativeKernel } from '../../../src/backend/native-kernels.js';
import { PATCHED_KERNELS, TRANSIENT_FILTER_FLOATS } from '../../../src/backend/wasm-kernels.js';

/**
 * Every patched wasm kernel must equal the pure-JS cpu backend, forward and backward.
 * Each case runs f on both backends from the same inputs and compares outputs and the
 * gradients of sum(f(x) * r) for a random r.
 */

const { makeCase, expectSameOnWasmAndCpu } = backendParity(1);

beforeAll(async () => {
  // these are the kernels used where the native addon is not built: test them, not the native
  // ones that initBackend would otherwise register over them (native-kernels.test.ts tests those)
  process.env.DD3D_NATIVE = '0';
  await initBackend('wasm');
  delete process.env.DD3D_NATIVE;
  expect(isNativeKernel('BatchMatMul')).toBe(false);
  // IS_TEST makes tfjs check every kernel for leaked data ids: our kernels must free their temporaries.
  tf.env().set('IS_TEST', true);
});

describe('patched wasm kernels equal the cpu backend', () => {
  it('registers every replacement', () => {
    for (const name of PATCHED_KERNELS) expect(tf.getKernel(name, 'wasm')).toBeDefined();
    expect(3 * 3 * 192 * 160).toBeGreaterThan(TRANSIENT_FILTER_FLOATS);
  });

  describe('matMul', () => {
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      it(`2-D transposeA=${ta} transposeB=${tb}`, async () => {
        const a = ta ? [13, 7] : [7, 13];
        const b = tb ? [5, 13] : [13, 5];
        await expectSameOnWasmAndCpu(makeCase([a, b], (x, y) => tf.matMul(x, y, ta, tb)));
      });
      it(`batched 3-D transposeA=${ta} transposeB=${tb}`, async () => {
        const a = ta ? [3, 13, 7] : [3, 7, 13];
        const b = tb ? [3, 5, 13] : [3, 13, 5];
        await expectSameOnWasmAndCpu(makeCase([a, b], (x, y) => tf.matMul(x, y, ta, tb)));
      });
    }
    it('batched a with shared b, and shared a with batched b', async () => {
      await expectSameOnWasmAndCpu(
        makeCase(
          [
            [4, 6, 9],
            [9, 5],
          ],
          (x, y) => tf.matMul(x, y),
        ),
        false,
      );
      await expectSameOnWasmAndCpu(
        makeCase(
          [
            [6, 9],
            [4, 9, 5],
          ],
          (x, y) => tf.matMul(x, y),
        ),
        false,
      );
      await expectSameOnWasmAndCpu(
        makeCase(
          [
            [1, 6, 9],
            [4, 5, 9],
          ],
          (x, y) => tf.matMul(x, y, false, true),
        ),
        false,
      );
    });
    it('4-D attention-shaped batches', async () => {
      await expectSameOnWasmAndCpu(
        makeCase(
          [
            [2, 3, 10, 8],
            [2, 3, 12, 8],
          ],
          (q, k) => tf.matMul(q, k, false, true),
        ),
      );
    });
    it('fused matMul with bias and activation, transposed and batched', async () => {
      // tfjs's own fused-matMul gradient trips the leak check on wasm even on the native path; not ours to test here.
      tf.env().set('IS_TEST', false);
      await expectSameOnWasmAndCpu(
        makeCase([[7, 13], [5, 13], [5]], (x, y, b) => tf.fused.matMul({ a: x, b: y, transposeB: true, bias: b, activation: 'relu' })),
      );
      await expectSameOnWasmAndCpu(
        makeCase([[3, 7, 13], [13, 5], [5]], (x, y, b) => tf.fused.matMul({ a: x, b: y, bias: b, activation: 'elu' })),
        false,
      );
      await expectSameOnWasmAndCpu(makeCase([[3, 13, 7], [3, 13, 5], [5]], (x, y, b) => tf.fused.matMul({ a: x, b: y, transposeA: true, bias: b })));
      tf.env().set('IS_TEST', true);
    });
  });

  describe('conv2d forward, input gradient and filter gradient', () => {
    const configs: Array<[number[], number[], 1 | 2, 'same' | 'valid']> = [];
    for (const stride of [1, 2] as const)
      for (const pad of ['same', 'valid'] as const) {
        configs.push([[2, 9, 7, 3], [3, 3, 3, 4], stride, pad]);
        configs.push([[1, 8, 8, 5], [1, 1, 5, 6], stride, pad]);
        configs.push([[2, 10, 11, 4], [4, 3, 4, 2], stride, pad]);
      }
    // a filter over TRANSIENT_FILTER_FLOATS, which Conv2D passes as a per-call copy
    configs.push([[1, 6, 5, 192], [3, 3, 192, 160], 1, 'same']);
    for (const [x, w, stride, pad] of configs) {
      it(`x ${x} filter ${w} stride ${stride} ${pad}`, async () => {
        await expectSameOnWasmAndCpu(makeCase([x, w], (a, f) => tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, stride, pad)));
      });
    }
  });

  describe('Identity and Cast share data instead of copying', () => {
    it('clone and same-dtype cast add no backend data, survive disposing the source, and free it last', async () => {
      await tf.setBackend('wasm');
      const backend = tf.backend() as unknown as { numDataIds(): number };
      const x = tf.tensor1d([1.5, -2.5, 3]);
      const ids = backend.numDataIds();
      const clone = tf.clone(x);
      const same = tf.cast(x, 'float32');
      expect(backend.numDataIds()).toBe(ids);
      x.dispose();
      expect(Array.from(clone.dataSync())).toEqual([1.5, -2.5, 3]);
      expect(Array.from(same.dataSync())).toEqual([1.5, -2.5, 3]);
      clone.dispose();
      same.dispose();
      expect(backend.numDataIds()).toBe(ids - 1);
    });
    it('a cast to another dtype still converts', async () => {
      await tf.setBackend('wasm');
      const y = tf.cast(tf.tensor1d([1.7, -2.7, 3]), 'int32');
      expect(y.dtype).toBe('int32');
      expect(Array.from(y.dataSync())).toEqual([1, -2, 3]);
    });
  });

  describe('gather gradient (UnsortedSegmentSum)', () => {
    it('repeated and unused indices along axis 0 and 1', async () => {
      const idx = [3, 0, 3, 5, 1, 3, 0];
      await expectSameOnWasmAndCpu(makeCase([[7, 4]], (t) => tf.gather(t, tf.tensor1d(idx, 'int32'), 0)));
      await expectSameOnWasmAndCpu(makeCase([[2, 7, 3]], (t) => tf.gather(t, tf.tensor1d(idx, 'int32'), 1)));
    });
    it('2-D segment ids with out-of-range ids dropped', async () => {
      await tf.setBackend('wasm');
      const out = tf.unsortedSegmentSum(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]), tf.tensor1d([1, 7, 1], 'int32'), 3);
      expect(Array.from(out.dataSync())).toEqual([0, 0, 6, 8, 0, 0]);
    });
  });
});

describe('slicing reads the heap in place', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  const cases: Array<[number[], number[], number[]]> = [
    [
      [7, 5],
      [2, 1],
      [3, 4],
    ],
    [
      [3, 4, 40],
      [1, 0, 3],
      [2, 4, 35],
    ],
    [
      [2, 5, 6, 3],
      [1, 1, 2, 0],
      [1, 3, 4, 2],
    ],
    [
      [2, 5, 6, 64],
      [0, 2, 0, 16],
      [2, 2, 6, 40],
    ],
    [[9], [3], [4]],
  ];
  for (const [shape, begin, size] of cases) {
    it(`slice ${shape} from ${begin} size ${size}, and its gradient`, async () => {
      await expectSameOnWasmAndCpu(makeCase([shape], (x) => tf.slice(x, begin, size)));
    });
  }
  it('split along any axis, and concat gradients', async () => {
    await expectSameOnWasmAndCpu(makeCase([[2, 3, 4, 10]], (x) => tf.split(x, [3, 7], 3)[1]));
    await expectSameOnWasmAndCpu(makeCase([[2, 6, 4, 3]], (x) => tf.split(x, 3, 1)[2]));
    await expectSameOnWasmAndCpu(
      makeCase(
        [
          [2, 3, 4, 5],
          [2, 3, 4, 7],
        ],
        (a, b) => tf.mul(tf.concat([a, b], 3), 2),
      ),
    );
    await tf.setBackend('wasm');
    const ints = tf.split(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32'), [1, 2], 1);
    expect(ints.map((t) => Array.from(t.dataSync()))).toEqual([
      [1, 4],
      [2, 3, 5, 6],
    ]);
  });
});
