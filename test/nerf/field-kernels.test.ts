/**
 * The fields' fast paths (nerf/field.ts's setFieldKernels): the dense layers' hand-written
 * gradient and GridField's grid-encoding kernels give the values and gradients of the path
 * before them (tf.fused.matMul with tf's gradients; the JS blend), within 2e-5 of the largest
 * magnitude, on wasm (native kernels where built, and without them) and on cpu; outside a
 * gradient tape they run exactly the old ops; no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/backend.js';
import { setFieldKernels } from '../../nerf/field.js';
import { createField, type FieldConfig } from '../../nerf/index.js';

const savedNative = process.env.DD3D_NATIVE;

beforeAll(async () => {
  await initBackend('wasm');
});

afterAll(async () => {
  if (savedNative === undefined) delete process.env.DD3D_NATIVE;
  else process.env.DD3D_NATIVE = savedNative;
  setFieldKernels(true);
  await initBackend('wasm');
});

function points(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: 3 * n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (2 * (s / 2 ** 32) - 1) * 1.1;
  });
}

/** density, albedo and the gradients of Σ density·a + Σ albedo·b (a, b fixed) by variable, with the fast paths on or off. */
function run(config: FieldConfig, fast: boolean) {
  const was = setFieldKernels(fast);
  try {
    const field = createField(config, 5);
    const n = 257;
    const xyz = tf.tensor2d(points(n, 9), [n, 3]);
    const a = tf.tensor1d(points(n, 11).slice(0, n));
    const b = tf.tensor2d(points(n, 12), [n, 3]);
    const vars = field.variables();
    const out = tf.tidy(() => {
      const q = field.query(xyz);
      const d = field.density(xyz);
      const { grads } = tf.variableGrads(() => {
        const r = field.query(xyz);
        // the density alone too, as the renderer's normals ask for it
        return tf.addN([
          tf.sum(tf.mul(r.density, a)),
          tf.sum(tf.mul(r.albedo, b)),
          tf.sum(tf.mul(field.density(xyz), b.slice([0, 0], [n, 1]).reshape([n]))),
        ]) as tf.Scalar;
      }, [...vars.values()]);
      const g = new Map([...vars].map(([name, v]) => [name, grads[v.name]!.dataSync() as Float32Array]));
      return { density: q.density.dataSync() as Float32Array, albedo: q.albedo.dataSync() as Float32Array, alone: d.dataSync() as Float32Array, grads: g };
    });
    tf.dispose([xyz, a, b]);
    field.dispose();
    return out;
  } finally {
    setFieldKernels(was);
  }
}

function expectClose(ours: Float32Array, ref: Float32Array, what: string) {
  expect(ours.length, what).toBe(ref.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(ours[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  expect(scale, what).toBeGreaterThan(0);
  expect(err, what).toBeLessThanOrEqual(2e-5 * Math.max(1, scale));
}

const CONFIGS: Record<string, FieldConfig> = {
  grid: { kind: 'grid', levels: 3, minResolution: 8, maxResolution: 20, featuresPerLevel: 2, hiddenWidth: 16 },
  'grid (defaults)': { kind: 'grid' },
  fourier: { kind: 'fourier', frequencies: 3, hiddenWidth: 16, hiddenLayers: 2 },
};

describe.each([
  ['wasm', '1'],
  ['wasm', '0'],
  ['cpu', '1'],
] as const)('%s (DD3D_NATIVE=%s)', (backend, nativeFlag) => {
  beforeAll(async () => {
    process.env.DD3D_NATIVE = nativeFlag;
    await initBackend(backend);
    delete process.env.DD3D_NATIVE;
  });
  afterAll(async () => {
    await initBackend('wasm');
  });

  for (const [name, config] of Object.entries(CONFIGS))
    it(`${name} field: the fast paths give the old values and gradients`, () => {
      const fast = run(config, true);
      const old = run(config, false);
      // without a tape the dense layers are the same op as before, and the blend the same bits
      if (config.kind === 'grid') expect(Buffer.from(fast.alone.buffer).equals(Buffer.from(old.alone.buffer))).toBe(true);
      expectClose(fast.density, old.density, 'density');
      expectClose(fast.albedo, old.albedo, 'albedo');
      expect([...fast.grads.keys()]).toEqual([...old.grads.keys()]);
      for (const [k, g] of old.grads) expectClose(fast.grads.get(k)!, g, k);
    });
});

it('leaks no tensors across gradient steps', async () => {
  await initBackend('wasm');
  const field = createField({ kind: 'grid' }, 3);
  const xyz = tf.tensor2d(points(100, 4), [100, 3]);
  const step = () => {
    const { value, grads } = tf.variableGrads(() => {
      const q = field.query(xyz);
      return tf.add(tf.sum(q.density), tf.sum(field.density(xyz))) as tf.Scalar;
    });
    tf.dispose([value, ...Object.values(grads)]);
  };
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) step();
  expect(tf.memory().numTensors).toBe(before);
  xyz.dispose();
  field.dispose();
});
