/**
 * The fused GroupNorm, LayerNorm and column-sum kernels (src/backend/fused-kernels.ts) against
 * the tfjs-op implementations they replace, on wasm and cpu: forward values, and the gradients
 * to x, γ and β of sum(f·R) for a random R, against tf's autodiff through the ops
 * (`setCustomGradients(false)`) and against the old hand-written gradient in tfjs ops
 * (`setFusedKernels(false)`). Odd shapes, one group and one channel per group, SiLU on and off,
 * trainable and frozen affines.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { FUSED_KERNELS } from '../../../src/backend/fused-kernels.js';
import { columnSum, groupNorm, layerNormLastAxis, setCustomGradients, setFusedKernels } from '../../../src/models/nn.js';

let seed = 7;
function randn(n: number, scale = 1, offset = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const u = seed / 2147483648;
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const v = seed / 2147483648;
    out[i] = offset + scale * Math.sqrt(-2 * Math.log(u + 1e-12)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

type Path = 'fused' | 'ops' | 'autodiff';

/**
 * Runs f under one implementation path and returns its value and the gradients of sum(f·r):
 * [dx, dγ, dβ] with `learn` (γ, β trainable variables, all three from one backward pass),
 * [dx] with frozen γ, β, [dx, dγ] with `learn` "gamma" (γ trainable, β a plain tensor).
 */
function run(
  path: Path,
  f: (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor,
  data: { x: Float32Array; xShape: number[]; gamma: Float32Array; beta: Float32Array; r: Float32Array },
  learn: boolean | 'gamma',
): { y: Float32Array; grads: Float32Array[] } {
  const fused = setFusedKernels(path === 'fused' || path === 'autodiff');
  const custom = setCustomGradients(path !== 'autodiff');
  const before = tf.memory().numTensors;
  try {
    const x = tf.tensor(data.x, data.xShape);
    const c = data.gamma.length;
    const g0 = tf.tensor(data.gamma, [c]);
    const b0 = tf.tensor(data.beta, [c]);
    const gamma = learn ? tf.variable(g0, true) : g0;
    const beta = learn === true ? tf.variable(b0, true) : b0;
    const r = tf.tensor(data.r, data.xShape);
    const y = tf.tidy(() => f(x, gamma, beta).dataSync() as Float32Array);
    const loss = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(xx, gg, bb), r));
    const grads =
      learn === true
        ? tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => loss(xx, gg, bb))([x, gamma, beta])
        : learn === 'gamma'
          ? tf.grads((xx: tf.Tensor, gg: tf.Tensor) => loss(xx, gg, beta))([x, gamma])
          : tf.grads((xx: tf.Tensor) => loss(xx, gamma, beta))([x]);
    const values = grads.map((t) => t.dataSync() as Float32Array);
    tf.dispose([...grads, x, g0, b0, gamma, beta, r]);
    expect(tf.memory().numTensors).toBe(before);
    return { y, grads: values };
  } finally {
    setFusedKernels(fused);
    setCustomGradients(custom);
  }
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  expect(scale).toBeGreaterThan(0);
  return err / Math.max(scale, 1e-3);
}

/** Which kernels one forward+backward of f runs. */
async function kernelNames(f: (x: tf.Tensor) => tf.Tensor, shape: number[]): Promise<string[]> {
  const x = tf.tensor(randn(size(shape)), shape);
  const info = await tf.profile(() => tf.grads((xx: tf.Tensor) => tf.sum(f(xx)))([x]));
  tf.dispose(info.result as tf.Tensor[]);
  x.dispose();
  return info.kernelNames;
}

beforeAll(async () => {
  await initBackend('wasm');
});

afterAll(async () => {
  setFusedKernels(true);
  setCustomGradients(true);
  await tf.setBackend('wasm');
});

describe('fused kernels', () => {
  it('are registered for wasm and cpu', () => {
    for (const name of FUSED_KERNELS) {
      expect(tf.getKernel(name, 'wasm')).toBeDefined();
      expect(tf.getKernel(name, 'cpu')).toBeDefined();
    }
  });

  it.each(['wasm', 'cpu'])('leave no data behind but their outputs on %s', async (backend) => {
    await tf.setBackend(backend);
    // IS_TEST makes tfjs check every kernel for data ids beyond its outputs. (Custom ops, which
    // keep tensors for their backward pass, fail that check by design: these are bare kernels.)
    tf.env().set('IS_TEST', true);
    try {
      const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>) =>
        tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as unknown as tf.Tensor[];
      const x = tf.tensor(randn(2 * 3 * 3 * 4), [2, 3, 3, 4]);
      const gamma = tf.tensor(randn(4));
      const beta = tf.tensor(randn(4));
      for (const silu of [false, true]) {
        const fwd = run('Dd3dGroupNorm', { x, gamma, beta }, { groups: 2, eps: 1e-5, silu });
        expect(fwd.length).toBe(silu ? 3 : 2);
        const [, stats, s] = fwd;
        for (const learn of [false, true]) {
          const bwd = run('Dd3dGroupNormGrad', { dy: x, x, gamma, beta, stats, ...(silu ? { s } : {}) }, { groups: 2, silu, learn });
          expect(bwd.map((t) => t.shape)).toEqual(learn ? [x.shape, [4], [4]] : [x.shape]);
          tf.dispose(bwd);
        }
        tf.dispose(fwd);
      }
      const x2 = x.reshape([18, 4]);
      const [y, stats] = run('Dd3dLayerNorm', { x: x2, gamma, beta }, { eps: 1e-5 });
      for (const learn of [false, true]) tf.dispose(run('Dd3dLayerNormGrad', { dy: x2, x: x2, gamma, stats }, { learn }));
      const sum = tf.engine().runKernel('Dd3dColumnSum', { x: x2 }, {}) as tf.Tensor;
      expect(sum.shape).toEqual([4]);
      tf.dispose([x, x2, gamma, beta, y, stats, sum]);
      expect(tf.memory().numTensors).toBe(0);
    } finally {
      tf.env().set('IS_TEST', false);
    }
  });
});

const GN_CASES: Array<{ shape: [number, number, number, number]; groups: number }> = [
  { shape: [2, 3, 5, 6], groups: 1 },
  { shape: [2, 3, 5, 6], groups: 2 },
  { shape: [2, 3, 5, 6], groups: 6 },
  { shape: [1, 4, 4, 32], groups: 32 },
  { shape: [3, 1, 7, 12], groups: 4 },
  { shape: [1, 1, 1, 9], groups: 3 },
  { shape: [2, 8, 8, 64], groups: 32 },
];

describe.each(['wasm', 'cpu'])('groupNorm on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });

  for (const { shape, groups } of GN_CASES) {
    for (const act of ['none', 'silu'] as const) {
      for (const learn of [true, false]) {
        it(`x [${shape}] groups ${groups} act ${act} ${learn ? 'trainable' : 'frozen'} γ, β`, () => {
          const c = shape[3];
          // An offset mean, so that the centring matters.
          const data = { x: randn(size(shape), 1.5, 0.7), xShape: shape, gamma: randn(c, 0.5, 1), beta: randn(c, 0.3), r: randn(size(shape)) };
          const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => groupNorm(x as tf.Tensor4D, g, b, groups, 1e-5, act);
          const fused = run('fused', f, data, learn);
          const ops = run('ops', f, data, learn);
          const auto = run('autodiff', f, data, learn);
          if (backend === 'wasm') {
            // Bit for bit the tfjs ops' forward on wasm.
            expect(Array.from(fused.y)).toEqual(Array.from(auto.y));
          } else {
            expect(maxRelErr(fused.y, auto.y)).toBeLessThan(2e-6);
          }
          expect(Array.from(ops.y)).toEqual(Array.from(auto.y));
          expect(fused.grads.length).toBe(learn ? 3 : 1);
          for (let i = 0; i < fused.grads.length; i++) {
            expect(maxRelErr(fused.grads[i], auto.grads[i])).toBeLessThan(2e-5);
            expect(maxRelErr(fused.grads[i], ops.grads[i])).toBeLessThan(2e-5);
          }
        });
      }
    }
  }

  it('trainable γ with a frozen β', () => {
    const shape = [2, 4, 3, 8];
    const data = { x: randn(size(shape), 1, 0.2), xShape: shape, gamma: randn(8, 0.5, 1), beta: randn(8, 0.3), r: randn(size(shape)) };
    const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => groupNorm(x as tf.Tensor4D, g, b, 4, 1e-6, 'silu');
    const fused = run('fused', f, data, 'gamma');
    const auto = run('autodiff', f, data, 'gamma');
    expect(fused.grads.length).toBe(2);
    for (let i = 0; i < 2; i++) expect(maxRelErr(fused.grads[i], auto.grads[i])).toBeLessThan(2e-5);
  });

  it('runs one fused kernel forward and one backward', async () => {
    const gamma = tf.variable(tf.ones([8]), true);
    const beta = tf.variable(tf.zeros([8]), true);
    const names = await kernelNames((x) => groupNorm(x as tf.Tensor4D, gamma, beta, 4, 1e-5, 'silu'), [2, 3, 3, 8]);
    expect(names).toContain('Dd3dGroupNorm');
    expect(names).toContain('Dd3dGroupNormGrad');
    for (const opKernel of ['Mean', 'Sub', 'Square', 'Rsqrt', 'Transpose', 'Sigmoid', 'BatchMatMul']) expect(names).not.toContain(opKernel);
    tf.dispose([gamma, beta]);
  });
});

const LN_CASES: number[][] = [
  [5, 7],
  [2, 3, 33],
  [4, 1],
  [1, 64],
  [3, 5, 128],
];

describe.each(['wasm', 'cpu'])('layerNormLastAxis on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });

  for (const shape of LN_CASES) {
    for (const learn of [true, false]) {
      it(`x [${shape}] ${learn ? 'trainable' : 'frozen'} γ, β`, () => {
        const c = shape[shape.length - 1];
        const data = { x: randn(size(shape), 2, -0.4), xShape: shape, gamma: randn(c, 0.5, 1), beta: randn(c, 0.3), r: randn(size(shape)) };
        const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNormLastAxis(x, g, b, 1e-5);
        const fused = run('fused', f, data, learn);
        const ops = run('ops', f, data, learn);
        const auto = run('autodiff', f, data, learn);
        if (backend === 'wasm') expect(Array.from(fused.y)).toEqual(Array.from(auto.y));
        else expect(maxRelErr(fused.y, auto.y)).toBeLessThan(2e-6);
        expect(fused.grads.length).toBe(learn ? 3 : 1);
        for (let i = 0; i < fused.grads.length; i++) {
          // A last axis of 1 normalises to β exactly: dx and dγ are 0 on every path.
          if (c === 1 && i < 2) {
            expect(Math.max(...fused.grads[i].map(Math.abs), ...auto.grads[i].map(Math.abs))).toBe(0);
            continue;
          }
          expect(maxRelErr(fused.grads[i], auto.grads[i])).toBeLessThan(2e-5);
          expect(maxRelErr(fused.grads[i], ops.grads[i])).toBeLessThan(2e-5);
        }
      });
    }
  }

  it('runs one fused kernel forward and one backward', async () => {
    const gamma = tf.variable(tf.ones([6]), true);
    const beta = tf.variable(tf.zeros([6]), true);
    const names = await kernelNames((x) => layerNormLastAxis(x, gamma, beta, 1e-5), [4, 6]);
    expect(names).toContain('Dd3dLayerNorm');
    expect(names).toContain('Dd3dLayerNormGrad');
    for (const opKernel of ['Mean', 'Sub', 'Square', 'Rsqrt', 'BatchMatMul']) expect(names).not.toContain(opKernel);
    tf.dispose([gamma, beta]);
  });
});

describe.each(['wasm', 'cpu'])('columnSum on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });

  it.each([
    [1, 5],
    [7, 1],
    [13, 9],
    [4, 4],
    [1030, 33],
  ])('[%i, %i] equals the matmul by ones', (rows, cols) => {
    const x = tf.tensor2d(randn(rows * cols), [rows, cols]);
    const fused = columnSum(x);
    const previous = setFusedKernels(false);
    const ref = columnSum(x);
    setFusedKernels(previous);
    expect(fused.shape).toEqual([cols]);
    expect(maxRelErr(fused.dataSync() as Float32Array, ref.dataSync() as Float32Array)).toBeLessThan(1e-5);
    tf.dispose([x, fused, ref]);
  });
});
