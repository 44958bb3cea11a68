/**
 * The renderer's kernels (src/backend/fused-kernels.ts, native-kernels.ts):
 * - Dd3dGridEncode / Dd3dGridEncodeGrad, GridField's trilinear blend: the native kernel, the JS
 *   kernel on wasm (DD3D_NATIVE=0) and on the cpu backend all give the bits of the JS loops they
 *   replaced (written out again here over nerf's trilinearCorners), values and table gradients,
 *   for points inside, outside and on the cube, NaN included; a split batch gives the same rows;
 * - Dd3dComposite / Dd3dCompositeGrad, renderVolume's quadrature: against the tf ops it replaced
 *   (gather, cumsum, exp, weighted sums) and their autodiff, on wasm and cpu, at 2e-5.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { isNativeKernel, nativeStatus } from '../../../src/backend/native-kernels.js';
import { trilinearCorners } from '../../../nerf/grid-field.js';
import { backendParity } from '../../helpers/backend-parity.js';

const { randn, reseed } = backendParity(23);
const savedNative = process.env.DD3D_NATIVE;
const native = nativeStatus().available;

beforeAll(async () => {
  delete process.env.DD3D_NATIVE;
  await initBackend('wasm');
});

afterAll(async () => {
  if (savedNative === undefined) delete process.env.DD3D_NATIVE;
  else process.env.DD3D_NATIVE = savedNative;
  await initBackend('wasm');
});

/** Runs f on 'native' (wasm with the addon), 'wasm-js' (wasm, DD3D_NATIVE=0) or 'cpu'. */
async function on<T>(where: 'native' | 'wasm-js' | 'cpu', f: () => T): Promise<T> {
  if (where === 'cpu') {
    await initBackend('cpu');
  } else {
    if (where === 'wasm-js') process.env.DD3D_NATIVE = '0';
    await initBackend('wasm');
    delete process.env.DD3D_NATIVE;
    expect(isNativeKernel('Dd3dGridEncode')).toBe(where === 'native');
  }
  try {
    return f();
  } finally {
    await initBackend('wasm');
  }
}

const WHERE = [...(native ? (['native'] as const) : []), 'wasm-js', 'cpu'] as const;
/** Bit for bit, except that any NaN equals any NaN (its sign and payload are the hardware's). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) if (ua[i] !== ub[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Grid encoding

const BOUND = 1.3;
const RES = [5, 7, 12];
/** Features per level: 4 (GridField's default) has its own native loop. */
let F = 3;

/** Points: random in and around the cube, exactly on its faces and corners, and one NaN. */
function gridPoints(n: number): Float32Array {
  reseed(3);
  const xyz = Float32Array.from(randn(3 * n), (v) => v * 0.9);
  xyz.set([BOUND, -BOUND, BOUND, -BOUND, -BOUND, -BOUND, 0, 0, 0, 2.5, -3, 0.2, -0, 0.5, 1e-9], 0);
  xyz.set([NaN, 0.1, 0.2], 3 * (n - 1));
  return xyz;
}

function gridTables(): Float32Array[] {
  reseed(4);
  return RES.map((r) => Float32Array.from(randn(r ** 3 * F)));
}

/** The JS loops GridField ran before the kernels (its fusedTrilinear), on nerf's trilinearCorners. */
function referenceEncode(xyz: Float32Array, tables: Float32Array[], dy: Float32Array) {
  const n = xyz.length / 3;
  const width = RES.length * F;
  const out = new Float32Array(n * width);
  const grads = tables.map((t) => new Float32Array(t.length));
  RES.forEach((r, l) => {
    const { index, weight } = trilinearCorners(xyz, BOUND, r);
    for (let p = 0; p < n; p++) {
      const o = p * width + l * F;
      for (let c = 8 * p; c < 8 * p + 8; c++) {
        for (let j = 0; j < F; j++) out[o + j] += weight[c] * tables[l][index[c] * F + j];
        for (let j = 0; j < F; j++) grads[l][index[c] * F + j] += weight[c] * dy[o + j];
      }
    }
  });
  return { out, grads };
}

function kernelEncode(xyz: Float32Array, tables: Float32Array[], dy: Float32Array) {
  return tf.tidy(() => {
    const n = xyz.length / 3;
    const points = tf.tensor2d(xyz, [n, 3]);
    const inputs: Record<string, tf.Tensor> = { points };
    tables.forEach((t, l) => (inputs[`t${l}`] = tf.tensor2d(t, [RES[l] ** 3, F])));
    const attrs = { bound: BOUND, resolutions: RES };
    const out = tf.engine().runKernel('Dd3dGridEncode', inputs, attrs) as tf.Tensor;
    const dyT = tf.tensor2d(dy, [n, RES.length * F]);
    const grads = tf.engine().runKernel('Dd3dGridEncodeGrad', { dy: dyT, points }, { ...attrs, features: F }) as tf.Tensor[];
    return { out: out.dataSync() as Float32Array, grads: grads.map((g) => g.dataSync() as Float32Array) };
  });
}

describe('Dd3dGridEncode and its gradient', () => {
  const n = 301;
  const xyz = gridPoints(n);

  for (const features of [3, 4])
    for (const where of WHERE)
      it(`${features} features, ${where}: the bits of the JS loops it replaced, values and table gradients`, async () => {
        F = features;
        const tables = gridTables();
        reseed(5);
        const dy = Float32Array.from(randn(n * RES.length * F));
        const ref = referenceEncode(xyz, tables, dy);
        const got = await on(where, () => kernelEncode(xyz, tables, dy));
        // the NaN point's features are NaN (and it adds NaN to its corners' gradient, as before)
        for (let j = 0; j < RES.length * F; j++) expect(got.out[(n - 1) * RES.length * F + j]).toBeNaN();
        for (const g of got.grads) expect(g.some((v) => Number.isNaN(v))).toBe(true);
        expect(sameBits(got.out, ref.out)).toBe(true);
        got.grads.forEach((g, l) => expect(sameBits(g, ref.grads[l])).toBe(true));
      });

  it("a point's features do not depend on the batch: a split batch gives the same rows", async () => {
    F = 4;
    const tables = gridTables();
    reseed(5);
    const dy = Float32Array.from(randn(n * RES.length * F));
    const whole = await on(WHERE[0], () => kernelEncode(xyz, tables, dy));
    const k = 3 * 140;
    const head = await on(WHERE[0], () => kernelEncode(xyz.slice(0, k), tables, dy.slice(0, (k / 3) * RES.length * F)));
    expect(sameBits(head.out, whole.out.slice(0, (k / 3) * RES.length * F))).toBe(true);
  });

  it('more levels than the native kernel takes fall back to the JS kernel', async () => {
    const res = Array.from({ length: 9 }, () => 2);
    const out = tf.tidy(() => {
      const inputs: Record<string, tf.Tensor> = { points: tf.tensor2d([0.5, 0.5, 0.5], [1, 3]) };
      res.forEach((_, l) => (inputs[`t${l}`] = tf.fill([8, 1], l + 1)));
      return (tf.engine().runKernel('Dd3dGridEncode', inputs, { bound: 1, resolutions: res }) as tf.Tensor).dataSync();
    });
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('rejects tables of the wrong size', () => {
    expect(() =>
      tf.tidy(() => tf.engine().runKernel('Dd3dGridEncode', { points: tf.zeros([2, 3]), t0: tf.zeros([9, 2]) }, { bound: 1, resolutions: [3] })),
    ).toThrow(/Dd3dGridEncode/);
  });
});

// ---------------------------------------------------------------------------------------------
// Compositing

/** The tf-op quadrature renderVolume ran before the kernel, on [live + 1] rows (the last zero). */
function opsComposite(table: tf.Tensor2D, slot: Int32Array, delta: Float32Array, z: Float32Array, s: number): tf.Tensor2D {
  const rays = slot.length / s;
  const c = table.shape[1];
  const padded = tf.pad(table, [
    [0, 1],
    [0, 0],
  ]);
  const perSample = tf.gather(padded, tf.tensor1d(slot, 'int32'));
  const [sigma, shaded] = tf.split(perSample, [1, c - 1], 1);
  const tau = tf.mul(tf.reshape(sigma, [rays, s]), tf.tensor2d(delta, [rays, s]));
  const weights = tf.mul(tf.exp(tf.neg(tf.cumsum(tau, 1, true))), tf.sub(1, tf.exp(tf.neg(tau))));
  const composited = tf.sum(tf.reshape(tf.mul(tf.reshape(weights, [rays * s, 1]), shaded), [rays, s, c - 1]), 1);
  const opacity = tf.sum(weights, 1, true);
  const depth = tf.sum(tf.mul(weights, tf.tensor2d(z, [rays, s])), 1, true);
  return tf.concat([composited, opacity, depth], 1) as tf.Tensor2D;
}

function kernelComposite(table: tf.Tensor2D, slot: Int32Array, delta: Float32Array, z: Float32Array, s: number): tf.Tensor2D {
  const inputs = { slot: tf.tensor1d(slot, 'int32'), delta: tf.tensor1d(delta), z: tf.tensor1d(z) };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const t = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([t, inputs.slot, inputs.delta, inputs.z]);
    return {
      value: tf.engine().runKernel('Dd3dComposite', { table: t, ...inputs }, { samplesPerRay: s }) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, [ts, sl, dl, zs]: tf.Tensor[]) =>
        tf.engine().runKernel('Dd3dCompositeGrad', { dy, table: ts!, slot: sl!, delta: dl!, z: zs! }, { samplesPerRay: s }) as tf.Tensor,
    };
  });
  return op(table) as tf.Tensor2D;
}

describe('Dd3dComposite and its gradient', () => {
  // 37 rays of 11 samples: about 60% live, densities from 0 to ~6 per unit, bin widths 0.05–0.35,
  // a ray that misses the cube (δ = 0, all dead), one fully dead ray that hits it, and one opaque ray.
  const rays = 37;
  const s = 11;
  const c = 7;
  reseed(9);
  const u = randn(4 * rays * s).map((v) => 0.5 + 0.5 * Math.tanh(v));
  const slot = new Int32Array(rays * s);
  const delta = new Float32Array(rays * s);
  const z = new Float32Array(rays * s);
  let live = 0;
  for (let q = 0; q < rays * s; q++) {
    const ray = Math.floor(q / s);
    delta[q] = ray === 0 ? 0 : 0.05 + 0.3 * u[q];
    z[q] = 2 + 0.1 * (q % s) + u[rays * s + q];
    slot[q] = ray === 0 || ray === 1 || u[2 * rays * s + q] < 0.4 ? -1 : live++;
  }
  for (let q = 0; q < rays * s; q++) if (slot[q] < 0) slot[q] = live;
  const values = randn(live * c).map((v, i) => (i % c === 0 ? 3 * (1 + Math.tanh(v)) : v));
  for (let q = 2 * s; q < 3 * s; q++) if (slot[q] < live) values[slot[q] * c] = 500; // an opaque ray
  const r = randn(rays * (c + 1));

  async function run(backend: 'wasm' | 'cpu', f: typeof opsComposite) {
    await initBackend(backend);
    try {
      return tf.tidy(() => {
        const table = tf.tensor2d(values, [live, c]);
        const rt = tf.tensor2d(r, [rays, c + 1]);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor2D, slot, delta, z, s), rt)))(table);
        return { y: f(table, slot, delta, z, s).dataSync() as Float32Array, g: g.dataSync() as Float32Array };
      });
    } finally {
      await initBackend('wasm');
    }
  }

  function expectClose(ours: Float32Array, ref: Float32Array) {
    expect(ours.length).toBe(ref.length);
    let err = 0;
    let scale = 0;
    for (let i = 0; i < ref.length; i++) {
      err = Math.max(err, Math.abs(ours[i] - ref[i]));
      scale = Math.max(scale, Math.abs(ref[i]));
    }
    expect(scale).toBeGreaterThan(0);
    expect(err).toBeLessThanOrEqual(2e-5 * Math.max(1, scale));
  }

  for (const backend of ['wasm', 'cpu'] as const)
    it(`${backend}: the tf-op quadrature's values and gradients`, async () => {
      const ours = await run(backend, kernelComposite);
      const ref = await run('cpu', opsComposite);
      expectClose(ours.y, ref.y);
      expectClose(ours.g, ref.g);
      // the ray that misses and the dead ray composite nothing; the opaque one is opaque
      for (const ray of [0, 1]) for (let j = 0; j <= c; j++) expect(ours.y[ray * (c + 1) + j]).toBe(0);
      expect(ours.y[2 * (c + 1) + c - 1]).toBeCloseTo(1, 6);
    });

  it('rejects a slot that is not int32 and mismatched lengths', () => {
    expect(() =>
      tf.tidy(() =>
        tf.engine().runKernel('Dd3dComposite', { table: tf.zeros([2, 4]), slot: tf.zeros([6]), delta: tf.zeros([6]), z: tf.zeros([6]) }, { samplesPerRay: 3 }),
      ),
    ).toThrow(/Dd3dComposite/);
    expect(() =>
      tf.tidy(() =>
        tf
          .engine()
          .runKernel('Dd3dComposite', { table: tf.zeros([2, 4]), slot: tf.zeros([6], 'int32'), delta: tf.zeros([5]), z: tf.zeros([6]) }, { samplesPerRay: 3 }),
      ),
    ).toThrow(/Dd3dComposite/);
  });
});
