/**
 * renderVolume's fused compositing (Dd3dComposite and its gradient; setFusedCompositing) and
 * the fields' fast paths together against the tf-op path before them: rgb, opacity, depth and
 * normal, and the gradients of a loss on all four with respect to the field's and a learned
 * background's variables, within 2e-5 of the largest magnitude, for each shading, with jitter
 * and an occupancy grid, on wasm and cpu; a render with no live sample; no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/backend.js';
import { setFieldKernels } from '../../nerf/field.js';
import { createField, OccupancyGrid } from '../../nerf/index.js';
import { orbitCamera } from '../../renderers/camera.js';
import { MlpBackground, renderVolume, setFusedCompositing, type VolumeRenderOptions, type VolumeShading } from '../../renderers/volume.js';

beforeAll(async () => {
  await initBackend('wasm');
});

afterAll(async () => {
  setFieldKernels(true);
  setFusedCompositing(true);
  await initBackend('wasm');
});

function render(shading: VolumeShading, fast: boolean, occupied: boolean) {
  const fieldWas = setFieldKernels(fast);
  const compositingWas = setFusedCompositing(fast);
  try {
    const field = createField({ kind: 'grid', levels: 3, minResolution: 8, maxResolution: 24 }, 2);
    const background = new MlpBackground({}, 4);
    const occupancy = new OccupancyGrid(field.bound, { resolution: 16, dilation: 1 });
    if (occupied) occupancy.update(field, 1);
    const camera = orbitCamera({ azimuth: 30, elevation: 20, radius: 2.6, fov: 45 });
    const opts: VolumeRenderOptions = {
      width: 12,
      height: 10,
      samplesPerRay: 24,
      jitterSeed: 7,
      shading,
      normals: shading === 'albedo' ? 'none' : 'finite-difference',
      light: { position: [1.5, 2, 1], ambient: 0.3 },
      occupancy,
      background: background.asBackground(),
    };
    const vars = [...field.variables(), ...background.variables()];
    const out = tf.tidy(() => {
      const r = renderVolume(field, camera, opts);
      const values = [r.rgb, r.opacity, r.depth, r.normal].map((t) => t.dataSync() as Float32Array);
      const { grads } = tf.variableGrads(
        () => {
          const x = renderVolume(field, camera, opts);
          const weigh = (t: tf.Tensor, k: number) => tf.sum(tf.mul(t, tf.sin(tf.mul(tf.range(0, t.size).reshape(t.shape), 0.37 * k))));
          return tf.addN([weigh(x.rgb, 1), weigh(x.opacity, 2), tf.mul(weigh(x.depth, 3), 0.1), weigh(x.normal, 4)]) as tf.Scalar;
        },
        vars.map(([, v]) => v),
      );
      // (textureless shading never reaches the albedo head: no gradient on either path)
      return { values, grads: new Map(vars.map(([name, v]) => [name, (grads[v.name]?.dataSync() as Float32Array | undefined) ?? new Float32Array(0)])) };
    });
    field.dispose();
    background.dispose();
    return out;
  } finally {
    setFieldKernels(fieldWas);
    setFusedCompositing(compositingWas);
  }
}

function expectClose(ours: Float32Array, ref: Float32Array, what: string) {
  expect(ours.length, what).toBe(ref.length);
  if (ref.length === 0) return;
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(ours[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  expect(err, what).toBeLessThanOrEqual(2e-5 * Math.max(1, scale));
}

describe.each(['wasm', 'cpu'] as const)('%s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });
  afterAll(async () => {
    await initBackend('wasm');
  });

  for (const shading of ['albedo', 'lambertian', 'textureless'] as const)
    it(`${shading}: the fused path renders and differentiates as the tf-op path`, () => {
      const fast = render(shading, true, true);
      const old = render(shading, false, true);
      ['rgb', 'opacity', 'depth', 'normal'].forEach((name, i) => expectClose(fast.values[i]!, old.values[i]!, name));
      let nonzero = 0;
      for (const [k, g] of old.grads) {
        expectClose(fast.grads.get(k)!, g, k);
        if (g.some((v) => v !== 0)) nonzero++;
      }
      expect(nonzero).toBeGreaterThan(4);
    });
});

it('a render without live samples (every cell empty) is the background, on both paths', () => {
  const field = createField({ kind: 'grid', levels: 2, minResolution: 8, maxResolution: 8 }, 1);
  const camera = orbitCamera({ azimuth: 0, elevation: 0, radius: 2.6, fov: 45 });
  const empty = { occupied: () => false };
  for (const fast of [true, false]) {
    setFusedCompositing(fast);
    const r = renderVolume(field, camera, { width: 4, height: 4, samplesPerRay: 8, occupancy: empty, background: { kind: 'solid', color: [0.2, 0.4, 0.6] } });
    const rgb = r.rgb.dataSync();
    for (let p = 0; p < 16; p++) expect([rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]].map((v) => +v.toFixed(6))).toEqual([0.2, 0.4, 0.6]);
    expect(Math.max(...r.opacity.dataSync())).toBe(0);
    tf.dispose([r.rgb, r.opacity, r.depth, r.normal]);
  }
  setFusedCompositing(true);
  field.dispose();
});

it('keeps the tensor count flat across render + gradient steps', () => {
  const field = createField({ kind: 'grid' }, 1);
  const camera = orbitCamera({ azimuth: 10, elevation: 15, radius: 2.6, fov: 45 });
  const step = () => {
    const { value, grads } = tf.variableGrads(() => {
      const r = renderVolume(field, camera, { width: 8, height: 8, samplesPerRay: 16, shading: 'lambertian' });
      return tf.add(tf.sum(r.rgb), tf.sum(r.normal)) as tf.Scalar;
    });
    tf.dispose([value, ...Object.values(grads)]);
  };
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) step();
  expect(tf.memory().numTensors).toBe(before);
  field.dispose();
});
