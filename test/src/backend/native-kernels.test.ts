import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendParity } from '../../helpers/backend-parity.js';
import { initBackend } from '../../../src/backend/backend.js';
import { groupNorm } from '../../../src/models/nn.js';
import { isNativeKernel, NATIVE_KERNELS, nativeAddonPath, nativeStatus } from '../../../src/backend/native-kernels.js';

/**
 * The native kernels (src/backend/native-kernels.ts) must equal the pure-JS cpu backend,
 * forward and backward, at the tolerance wasm-kernels.test.ts holds the wasm kernels to. Each
 * case runs f on both backends from the same inputs and compares outputs and the gradients of
 * sum(f(x) * r) for a random r.
 *
 * They skip only where the addon could not be built (no compiler when `npm ci` ran its
 * postinstall), the CPU lacks AVX2+FMA, or DD3D_NATIVE=0; CI sets DD3D_REQUIRE_NATIVE=1, so
 * there a missing build fails them.
 */

const status = nativeStatus();
// DD3D_REQUIRE_NATIVE=1 (CI): the addon must have been built and load; only a CPU without
// AVX2+FMA (or not x86-64) may still skip.
const required = process.env.DD3D_REQUIRE_NATIVE === '1';
const unsupportedCpu = /neither AVX-512 nor AVX2|x86-64 with GCC only/.test(status.reason);
const skip = !status.available && (!required || unsupportedCpu);

const { randn, makeCase, expectSameOnWasmAndCpu, reseed } = backendParity(7);

/** Counts the calls that reach each native kernel, to show a case really ran natively. */
function countNativeCalls<T>(f: () => T): { result: T; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const saved = NATIVE_KERNELS.map((name) => {
    const k = tf.getKernel(name, 'wasm') as tf.KernelConfig;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        calls[name] = (calls[name] ?? 0) + 1;
        return k.kernelFunc(args);
      },
    });
    return k;
  });
  try {
    return { result: f(), calls };
  } finally {
    for (const k of saved) {
      tf.unregisterKernel(k.kernelName, 'wasm');
      tf.registerKernel(k);
    }
  }
}

const savedNative = process.env.DD3D_NATIVE;

beforeAll(async () => {
  delete process.env.DD3D_NATIVE;
  await initBackend('wasm');
  // IS_TEST makes tfjs check every kernel for leaked data ids.
  tf.env().set('IS_TEST', true);
});

afterAll(() => {
  if (savedNative === undefined) delete process.env.DD3D_NATIVE;
  else process.env.DD3D_NATIVE = savedNative;
});

describe.skipIf(skip)('native kernels equal the cpu backend', () => {
  it('are available and registered, and the backend says so', async () => {
    expect(status.available, status.reason).toBe(true);
    const info = await initBackend('wasm');
    expect(info.reason).toMatch(/native kernels: (AVX-512|AVX2)/);
    for (const name of NATIVE_KERNELS) expect(isNativeKernel(name)).toBe(true);
    // wasm-kernels.ts's replacements are still there underneath
    expect(info.patchedKernels).toContain('Conv2DBackpropFilter');
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
      it(`batched a with shared b, and shared a with batched b, transposeA=${ta} transposeB=${tb}`, async () => {
        const a = ta ? [9, 6] : [6, 9];
        const b = tb ? [5, 9] : [9, 5];
        await expectSameOnWasmAndCpu(
          makeCase([[4, ...a], b], (x, y) => tf.matMul(x, y, ta, tb)),
          false,
        );
        await expectSameOnWasmAndCpu(
          makeCase([a, [4, ...b]], (x, y) => tf.matMul(x, y, ta, tb)),
          false,
        );
        await expectSameOnWasmAndCpu(
          makeCase(
            [
              [1, ...a],
              [4, ...b],
            ],
            (x, y) => tf.matMul(x, y, ta, tb),
          ),
          false,
        );
        await expectSameOnWasmAndCpu(
          makeCase([[2, 3, ...a], b], (x, y) => tf.matMul(x, y, ta, tb)),
          false,
        );
      });
    }
    it('4-D attention-shaped batches, and a projection-sized product', async () => {
      await expectSameOnWasmAndCpu(
        makeCase(
          [
            [2, 3, 10, 8],
            [2, 3, 12, 8],
          ],
          (q, k) => tf.matMul(q, k, false, true),
        ),
      );
      await expectSameOnWasmAndCpu(
        makeCase(
          [
            [2, 3, 10, 12],
            [2, 3, 12, 8],
          ],
          (p, v) => tf.matMul(p, v),
        ),
      );
      await expectSameOnWasmAndCpu(
        makeCase(
          [
            [2, 64, 48],
            [48, 96],
          ],
          (x, w) => tf.matMul(x, w),
        ),
        false,
      );
    });
    it('products past the GEMM blocking (k slices of 128, row blocks of 96) with ragged edges', async () => {
      for (const [ta, tb] of [
        [false, false],
        [true, true],
      ] as const) {
        const a = ta ? [300, 150] : [150, 300];
        const b = tb ? [37, 300] : [300, 37];
        await expectSameOnWasmAndCpu(makeCase([a, b], (x, y) => tf.matMul(x, y, ta, tb)));
      }
    });
    it('a ones-row column sum (GEMV) and a vector product', async () => {
      await expectSameOnWasmAndCpu(
        makeCase(
          [
            [1, 300],
            [300, 7],
          ],
          (o, x) => tf.matMul(o, x),
        ),
      );
      await expectSameOnWasmAndCpu(
        makeCase(
          [
            [9, 1],
            [1, 4],
          ],
          (a, b) => tf.matMul(a, b),
        ),
      );
    });
    it('runs natively (forward and both gradients)', async () => {
      await tf.setBackend('wasm');
      const { calls } = countNativeCalls(() =>
        tf.tidy(() => {
          const [a, b] = [tf.randomNormal([3, 7, 13]), tf.randomNormal([3, 13, 5])];
          return tf
            .grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x, y)))([a, b])
            .map((g) => g.dataSync());
        }),
      );
      expect(calls.BatchMatMul).toBe(3);
    });
    it('fused matMul with bias and every native activation, transposed and batched', async () => {
      // tfjs's own fused-matMul gradient trips the leak check on wasm even on the native path; not ours to test here.
      tf.env().set('IS_TEST', false);
      for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const) {
        await expectSameOnWasmAndCpu(
          makeCase([[7, 13], [5, 13], [5]], (x, y, b) => tf.fused.matMul({ a: x, b: y, transposeB: true, bias: b, activation, leakyreluAlpha: 0.3 })),
          activation !== 'relu6' && activation !== 'leakyrelu', // tfjs-core has no gradient for these fused activations
        );
      }
      await expectSameOnWasmAndCpu(
        makeCase([[3, 7, 13], [13, 5], [5]], (x, y, b) => tf.fused.matMul({ a: x, b: y, bias: b, activation: 'elu' })),
        false,
      );
      await expectSameOnWasmAndCpu(makeCase([[3, 13, 7], [3, 13, 5], [5]], (x, y, b) => tf.fused.matMul({ a: x, b: y, transposeA: true, bias: b })));
      await expectSameOnWasmAndCpu(makeCase([[3, 13, 7], [3, 13, 5], [1]], (x, y, b) => tf.fused.matMul({ a: x, b: y, transposeA: true, bias: b })));
      await expectSameOnWasmAndCpu(
        makeCase(
          [
            [7, 13],
            [13, 5],
          ],
          (x, y) => tf.fused.matMul({ a: x, b: y, activation: 'relu' }),
        ),
      );
      // prelu falls back to the wasm kernels
      await expectSameOnWasmAndCpu(
        makeCase([[7, 13], [13, 5], [5], [5]], (x, y, b, w) => tf.fused.matMul({ a: x, b: y, bias: b, activation: 'prelu', preluActivationWeights: w })),
        false,
      );
      tf.env().set('IS_TEST', true);
    });
  });

  describe('conv2d forward, input gradient and filter gradient', () => {
    type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
    const configs: Array<[number[], number[], 1 | 2, Pad]> = [];
    const explicit1: Pad = [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ];
    const asymmetric: Pad = [
      [0, 0],
      [0, 1],
      [0, 1],
      [0, 0],
    ];
    for (const stride of [1, 2] as const)
      for (const pad of ['same', 'valid', explicit1, asymmetric] as const) {
        configs.push([[2, 9, 7, 3], [3, 3, 3, 4], stride, pad]);
        configs.push([[1, 8, 8, 5], [1, 1, 5, 6], stride, pad]);
        configs.push([[2, 10, 11, 4], [4, 3, 4, 2], stride, pad]);
      }
    // UNet/VAE-sized channels, and a filter over wasm-kernels.ts's TRANSIENT_FILTER_FLOATS
    configs.push([[2, 8, 8, 32], [3, 3, 32, 64], 1, explicit1]);
    configs.push([[2, 8, 8, 64], [3, 3, 64, 64], 2, asymmetric]);
    configs.push([[2, 8, 8, 64], [1, 1, 64, 32], 1, 'valid']);
    configs.push([[1, 6, 5, 192], [3, 3, 192, 160], 1, 'same']);
    for (const [x, w, stride, pad] of configs) {
      it(`x ${x} filter ${w} stride ${stride} ${JSON.stringify(pad)}`, async () => {
        await expectSameOnWasmAndCpu(makeCase([x, w], (a, f) => tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, stride, pad)));
      });
    }
    it('dilated forward conv', async () => {
      await expectSameOnWasmAndCpu(
        makeCase(
          [
            [2, 9, 9, 3],
            [3, 3, 3, 4],
          ],
          (a, f) => tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 1, 'same', 'NHWC', 2),
        ),
        false,
      );
    });
    it('runs natively (forward and both gradients)', async () => {
      await tf.setBackend('wasm');
      const { calls } = countNativeCalls(() =>
        tf.tidy(() => {
          const [x, w] = [tf.randomNormal([2, 8, 8, 4]) as tf.Tensor4D, tf.randomNormal([3, 3, 4, 6]) as tf.Tensor4D];
          return tf
            .grads((a: tf.Tensor, f: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 2, 'same')))([x, w])
            .map((g) => g.dataSync());
        }),
      );
      expect(calls).toEqual({ Conv2D: 1, Conv2DBackpropInput: 1, Conv2DBackpropFilter: 1 });
    });
  });

  /** Starts the wasm backend with the native kernels, or (nativeOff) without them, and checks which `kernel` is registered. */
  async function startWasmWith(kernel: string, nativeOff: boolean): Promise<void> {
    if (nativeOff) process.env.DD3D_NATIVE = '0';
    await initBackend('wasm');
    delete process.env.DD3D_NATIVE;
    expect(isNativeKernel(kernel)).toBe(!nativeOff);
  }

  describe('GroupNorm forward (Dd3dGroupNorm)', () => {
    /** groupNorm(x) on wasm with the native kernel or (nativeOff) the JS one of fused-kernels.ts. */
    async function groupNormOut(shape: number[], groups: number, act: 'none' | 'silu', eps: number, nativeOff: boolean) {
      await startWasmWith('Dd3dGroupNorm', nativeOff);
      reseed(12);
      const c = shape[3];
      const [xv, gv, bv] = [randn(shape.reduce((a, b) => a * b, 1)), randn(c), randn(c)];
      const before = tf.memory().numTensors;
      const out = tf.tidy(() =>
        groupNorm(tf.tensor(xv, shape).mul(3).add(1) as tf.Tensor4D, tf.tensor1d(gv), tf.tensor1d(bv), groups, eps, act)
          .dataSync()
          .slice(),
      );
      expect(tf.memory().numTensors).toBe(before);
      await initBackend('wasm');
      return out;
    }
    for (const [shape, groups] of [
      [[2, 5, 7, 8], 4],
      [[3, 4, 4, 6], 3],
      [[2, 32, 32, 96], 32],
      [[1, 3, 3, 5], 1],
    ] as Array<[number[], number]>)
      for (const act of ['none', 'silu'] as const)
        it(`x ${shape}, ${groups} groups, ${act}: bitwise the JS kernel's`, async () => {
          const native = await groupNormOut(shape, groups, act, 1e-5, false);
          const js = await groupNormOut(shape, groups, act, 1e-5, true);
          expect(native.every(Number.isFinite)).toBe(true);
          expect(Buffer.from(native.buffer).equals(Buffer.from(js.buffer))).toBe(true);
        });
    it('a large eps: still bitwise', async () => {
      const native = await groupNormOut([1, 2, 2, 4], 2, 'silu', 0.5, false);
      const js = await groupNormOut([1, 2, 2, 4], 2, 'silu', 0.5, true);
      expect(Buffer.from(native.buffer).equals(Buffer.from(js.buffer))).toBe(true);
    });
  });

  describe('GroupNorm gradient (Dd3dGroupNormGrad)', () => {
    // groupNorm's custom op keeps the forward kernel's statistics for the backward pass, which
    // tfjs's IS_TEST leak check counts as a leak of 'forward' on any backend; not ours to test here.
    beforeAll(() => tf.env().set('IS_TEST', false));
    afterAll(() => tf.env().set('IS_TEST', true));
    /** dx, dγ, dβ of sum(groupNorm(x)·r) on wasm, with the native kernel or (nativeOff) the JS one of fused-kernels.ts. */
    async function groupNormGrads(shape: number[], groups: number, act: 'none' | 'silu', learn: boolean, nativeOff: boolean) {
      await startWasmWith('Dd3dGroupNormGrad', nativeOff);
      reseed(11);
      const c = shape[3];
      const [xv, gv, bv, rv] = [randn(shape.reduce((a, b) => a * b, 1)), randn(c), randn(c), randn(shape.reduce((a, b) => a * b, 1))];
      const out = tf.tidy(() => {
        const x = tf.tensor(xv, shape) as tf.Tensor4D;
        const r = tf.tensor(rv, shape);
        const gamma = learn ? tf.variable(tf.tensor1d(gv)) : tf.tensor1d(gv);
        const beta = learn ? tf.variable(tf.tensor1d(bv)) : tf.tensor1d(bv);
        const f = (xi: tf.Tensor) => tf.sum(tf.mul(groupNorm(xi as tf.Tensor4D, gamma, beta, groups, 1e-5, act), r));
        if (!learn) return [tf.grad(f)(x).dataSync().slice()];
        const { grads } = tf.variableGrads(() => f(x) as tf.Scalar, [gamma as tf.Variable, beta as tf.Variable]);
        const dx = tf.grad(f)(x);
        return [dx.dataSync().slice(), grads[(gamma as tf.Variable).name].dataSync().slice(), grads[(beta as tf.Variable).name].dataSync().slice()];
      });
      await initBackend('wasm');
      return out;
    }
    for (const [shape, groups] of [
      [[2, 5, 7, 8], 4],
      [[3, 4, 4, 6], 3],
      [[2, 8, 8, 96], 32],
      [[1, 3, 3, 5], 1],
    ] as Array<[number[], number]>)
      for (const act of ['none', 'silu'] as const)
        for (const learn of [false, true])
          it(`x ${shape}, ${groups} groups, ${act}, ${learn ? 'learning γ/β' : 'frozen'}: bitwise the JS kernel's`, async () => {
            const native = await groupNormGrads(shape, groups, act, learn, false);
            const js = await groupNormGrads(shape, groups, act, learn, true);
            expect(native.length).toBe(learn ? 3 : 1);
            for (let i = 0; i < native.length; i++) expect(Buffer.from(native[i].buffer).equals(Buffer.from(js[i].buffer))).toBe(true);
          });
    // (fused-kernels.test.ts holds the JS kernel to the cpu backend and to autodiff; bitwise equal to it is the stronger check here.)
  });

  it("a row's result does not depend on the batch: a split batch gives the same bits (dd3d's --workers)", async () => {
    await tf.setBackend('wasm');
    const bytes = (t: tf.Tensor) => Buffer.from(t.dataSync().buffer);
    tf.tidy(() => {
      for (const [m, k, n] of [
        [37, 70, 45],
        [200, 300, 45],
      ]) {
        const a = tf.randomNormal([m, k]);
        const b = tf.randomNormal([k, n]);
        expect(bytes(tf.matMul(a, b).slice([0, 0], [5, n])).equals(bytes(tf.matMul(a.slice([0, 0], [5, k]), b)))).toBe(true);
        if (m > 107) expect(bytes(tf.matMul(a, b).slice([100, 0], [7, n])).equals(bytes(tf.matMul(a.slice([100, 0], [7, k]), b)))).toBe(true);
      }
      const x = tf.randomNormal([3, 9, 9, 16]) as tf.Tensor4D;
      const dy = tf.randomNormal([3, 9, 9, 32]) as tf.Tensor4D;
      for (const [kh, ci, co] of [
        [3, 16, 32],
        [3, 16, 5],
        [1, 16, 32],
      ]) {
        const xi = x.slice([0, 0, 0, 0], [3, 9, 9, ci]) as tf.Tensor4D;
        const w = tf.randomNormal([kh, kh, ci, co]) as tf.Tensor4D;
        const first = (t: tf.Tensor) => t.slice([0, 0, 0, 0], [1, ...t.shape.slice(1)]);
        expect(bytes(first(tf.conv2d(xi, w, 1, 'same'))).equals(bytes(tf.conv2d(first(xi) as tf.Tensor4D, w, 1, 'same')))).toBe(true);
        const dyi = dy.slice([0, 0, 0, 0], [3, 9, 9, co]) as tf.Tensor4D;
        const dx = (d: tf.Tensor4D) => tf.conv2dTranspose(d, w, [d.shape[0], 9, 9, ci], 1, 'same');
        expect(bytes(first(dx(dyi))).equals(bytes(dx(first(dyi) as tf.Tensor4D)))).toBe(true);
      }
    });
  });

  describe('Erf, Exp and the bias gradient (Dd3dColumnSum)', () => {
    it('erf and exp equal the cpu backend, values and gradients', async () => {
      await expectSameOnWasmAndCpu(makeCase([[3, 1000]], (x) => tf.erf(tf.mul(x, 2))));
      await expectSameOnWasmAndCpu(makeCase([[3, 1000]], (x) => tf.exp(tf.mul(x, 3))));
      // GELU as geglu computes it, and its gradient (which goes through Exp)
      await expectSameOnWasmAndCpu(makeCase([[64, 33]], (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))))));
    });
    it('special values', async () => {
      await tf.setBackend('wasm');
      const x = tf.tensor1d([NaN, Infinity, -Infinity, 0, -0, 100, -100, 1e-30, 0.49999, 0.5, -0.5, 3, -3]);
      const e = Array.from(tf.exp(x).dataSync());
      const f = Array.from(tf.erf(x).dataSync());
      expect(e.slice(0, 8)).toEqual([NaN, Infinity, 0, 1, 1, Infinity, 0, 1]);
      expect(f.slice(0, 7)).toEqual([NaN, 1, -1, 0, -0, 1, -1]);
      expect(f[7] * 1e30).toBeCloseTo(1.1283791670955126, 6);
      const ref = [0.520491078, 0.520499878, -0.520499878, 0.99997791, -0.99997791]; // erf of the float32 inputs (Python math.erf)
      for (let i = 0; i < ref.length; i++) expect(Math.abs(f[8 + i] - ref[i])).toBeLessThan(3e-7);
    });
    it('the column sum is bitwise the JS kernel', async () => {
      const sums: Buffer[] = [];
      for (const off of [false, true]) {
        await startWasmWith('Dd3dColumnSum', off);
        reseed(5);
        const x = tf.tensor2d(randn(203 * 37), [203, 37]);
        const y = tf.engine().runKernel('Dd3dColumnSum', { x }, {}) as tf.Tensor;
        sums.push(Buffer.from(y.dataSync().buffer));
        tf.dispose([x, y]);
      }
      await initBackend('wasm');
      expect(sums[0].equals(sums[1])).toBe(true);
    });
  });

  it('the number of tensors and backend buffers stays flat across training-like iterations', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const w1 = tf.variable(tf.randomNormal([3, 3, 4, 8], 0, 0.1));
    const w2 = tf.variable(tf.randomNormal([8, 5], 0, 0.1));
    const x = tf.randomNormal([2, 8, 8, 4]) as tf.Tensor4D;
    const step = () =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const h = tf.relu(tf.conv2d(x, w1 as unknown as tf.Tensor4D, 2, 'same'));
          return tf.sum(tf.matMul(tf.reshape(h, [-1, 8]), w2));
        });
        w1.assign(tf.sub(w1, tf.mul(grads[w1.name], 0.01)));
        w2.assign(tf.sub(w2, tf.mul(grads[w2.name], 0.01)));
      });
    step();
    const tensors = tf.memory().numTensors;
    const ids = backend.numDataIds();
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(ids);
    tf.dispose([w1, w2, x]);
  });

  it('is safe in worker threads: concurrent products on two workers equal the main thread, bit for bit', async () => {
    const file = nativeAddonPath() as string;
    // Each thread loads the addon (context-aware) and multiplies the same operands, several times over,
    // in a SharedArrayBuffer-backed heap like the threaded wasm build's.
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = require(workerData.file);
      addon.init();
      const { m, n, k } = workerData;
      const heap = new Float32Array(new SharedArrayBuffer(4 * (m * k + k * n + m * n)));
      for (let i = 0; i < m * k + k * n; i++) heap[i] = Math.sin(i * 0.37);
      let out;
      for (let rep = 0; rep < 20; rep++) {
        addon.matmul(heap, 1, m, n, k, 0, 0, m * k, 0, m * k + k * n, 0, 1, -1, 0, 0, 0);
        addon.conv2d(heap, 0, m * k, m * k + k * n, 4, 8, 8, 16, 3, 3, 8, 8, 8, 1, 1, 1, 1, 1, 1);
        out = heap.slice(m * k + k * n);
      }
      parentPort.postMessage(out);
    `;
    const workerData = { file, m: 256, n: 256, k: 256 };
    const run = () =>
      new Promise<Float32Array>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const results = await Promise.all([run(), run()]);
    // the same on this thread
    const addon = createRequire(import.meta.url)(file) as {
      matmul(...a: unknown[]): void;
      conv2d(...a: unknown[]): void;
    };
    const { m, n, k } = workerData;
    const heap = new Float32Array(m * k + k * n + m * n);
    for (let i = 0; i < m * k + k * n; i++) heap[i] = Math.sin(i * 0.37);
    addon.matmul(heap, 1, m, n, k, 0, 0, m * k, 0, m * k + k * n, 0, 1, -1, 0, 0, 0);
    addon.conv2d(heap, 0, m * k, m * k + k * n, 4, 8, 8, 16, 3, 3, 8, 8, 8, 1, 1, 1, 1, 1, 1);
    const expected = heap.slice(m * k + k * n);
    for (const r of results) expect(Buffer.from(r.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
  });

  it('AVX-512 and AVX2 give the same bits', () => {
    // one process per instruction set (the addon picks it once per process)
    const script = `
      const addon = require(${JSON.stringify(nativeAddonPath())});
      const isa = addon.init();
      const heap = new Float32Array(200000);
      for (let i = 0; i < heap.length; i++) heap[i] = Math.sin(i * 0.37) * Math.cos(i * 0.011);
      addon.matmul(heap, 2, 29, 45, 70, 0, 29 * 70, 5000, 0, 100000, 0, 1, -1, 0, 0, 0);
      addon.conv2d(heap, 0, 20000, 110000, 2, 9, 9, 16, 3, 3, 32, 9, 9, 1, 1, 1, 1, 1, 1);
      addon.conv2dBackpropInput(heap, 20000, 30000, 130000, 2, 9, 9, 16, 3, 3, 32, 9, 9, 1, 1, 1, 1, 1, 1);
      addon.conv2dBackpropFilter(heap, 0, 20000, 150000, 2, 9, 9, 16, 3, 3, 32, 5, 5, 2, 2, 1, 1, 1, 1);
      process.stdout.write(isa + ' ' + Buffer.from(heap.buffer, 100000 * 4).toString('base64'));
    `;
    const run = (isa?: string) => {
      const env = { ...process.env, DD3D_NATIVE_ISA: isa ?? '' };
      const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.split(' ');
    };
    const [defaultIsa, defaultBits] = run();
    const [avx2, avx2Bits] = run('avx2');
    expect(avx2).toBe('AVX2');
    expect(['AVX-512', 'AVX2']).toContain(defaultIsa);
    expect(avx2Bits === defaultBits).toBe(true);
  });

  it('rejects an operand outside the heap instead of touching other memory', () => {
    const addon = createRequire(import.meta.url)(nativeAddonPath() as string) as { matmul(...a: unknown[]): void };
    const heap = new Float32Array(100);
    expect(() => addon.matmul(heap, 1, 10, 10, 10, 0, 0, 0, 0, 50, 0, 0, -1, 0, 0, 0)).toThrow(/outside the wasm heap/);
  });
});

describe.skipIf(skip)('DD3D_NATIVE=0', () => {
  afterAll(async () => {
    delete process.env.DD3D_NATIVE;
    await initBackend('wasm');
  });
  it('leaves the wasm kernels exactly as without the addon, and says so', async () => {
    process.env.DD3D_NATIVE = '0';
    const info = await initBackend('wasm');
    expect(info.reason).toContain('native kernels off (DD3D_NATIVE=0)');
    for (const name of NATIVE_KERNELS) expect(isNativeKernel(name)).toBe(false);
    const { calls } = countNativeCalls(() => tf.tidy(() => tf.matMul(tf.ones([3, 4]), tf.ones([4, 2])).dataSync()));
    expect(calls.BatchMatMul).toBe(1); // the wrapper counts whichever kernel is registered
    await expectSameOnWasmAndCpu(
      makeCase(
        [
          [2, 9, 7, 3],
          [3, 3, 3, 4],
        ],
        (a, f) => tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 2, 'same'),
      ),
    );
    delete process.env.DD3D_NATIVE;
    const back = await initBackend('wasm');
    expect(back.reason).toMatch(/native kernels: (AVX-512|AVX2)/);
    for (const name of NATIVE_KERNELS) expect(isNativeKernel(name)).toBe(true);
  });
});
