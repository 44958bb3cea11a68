/**
 * The multi-view UNet extensions (camera conditioning by MLP and by ray map, cross-view self-attention) on a tiny
 * config: gradients of every weight against autodiff, what each extension does and does not
 * change, and the config keys' errors.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { Dd3dError } from '../../../src/core/errors.js';
import { CAMERA_FEATURES, cameraBatch, cameraFeatures } from '../../../src/models/camera-embedding.js';
import { encodeRayMap, LEVEL_CHANNELS, POINT_CHANNELS, RAY_CHANNELS, rayMap } from '../../../src/models/camera-rays.js';
import { orbitPosition } from '../../../renderers/camera.js';
import { Params, randomInit, setCustomGradients } from '../../../src/models/nn.js';
import { UNet2DConditionModel } from '../../../src/models/unet.js';
import { tinyUnetConfig } from '../../helpers/tiny-configs.js';

beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(() => {
  setCustomGradients(true);
});

const config = (extra: Record<string, unknown> = {}) => tinyUnetConfig(true, extra);

const MV = { dd3d_camera_dim: CAMERA_FEATURES, dd3d_num_views: 2 };
const RAYS = { ...MV, dd3d_camera_rays: true };
const LEVELS = { ...RAYS, dd3d_camera_ray_levels: true };
/** The tiny config's level maps: at down block 1's input (8 channels) and the mid block's (16). */
const LEVEL_KEYS = ['camera_ray_levels.0.weight', 'camera_ray_levels.1.weight'];

/** A tiny model on fresh weights; vectors moved off 0 and 1 so no term vanishes by accident. */
function weights(seed: number, extra: Record<string, unknown> = MV, trainable = false): { unet: UNet2DConditionModel; params: Params } {
  const params = new Params(new Map(), 'random tiny unet', randomInit(seed));
  if (trainable) params.toVariables();
  let unet = new UNet2DConditionModel(config(extra), params); // declares every weight
  let s = 1000 * seed;
  for (const [key, t] of [...params.tensors]) {
    if (t.rank !== 1) continue;
    const moved = tf.tidy(() => tf.add(t, tf.randomNormal(t.shape, 0, 0.2, 'float32', s++)));
    if (t instanceof tf.Variable) {
      t.assign(moved);
      moved.dispose();
    } else {
      params.tensors.set(key, moved);
      t.dispose();
    }
  }
  if (!trainable) unet = new UNet2DConditionModel(config(extra), params);
  return { unet, params };
}

const cams = [
  { azimuth: 10, elevation: 20, fov: 50, radius: 2.5 },
  { azimuth: 100, elevation: 20, fov: 50, radius: 2.5 },
  { azimuth: -30, elevation: 5, fov: 60, radius: 2.2 },
  { azimuth: 150, elevation: 5, fov: 60, radius: 2.2 },
];
const maxAbs = (t: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]!);
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => maxAbs(tf.sub(a, b)));
const rows = (t: tf.Tensor4D, from: number, n: number) => t.slice([from, 0, 0, 0], [n, -1, -1, -1]);

describe('camera features', () => {
  it('are the six documented numbers, and a null camera is a zero row', () => {
    const f = cameraFeatures({ azimuth: 90, elevation: 30, fov: 60, radius: 2 });
    [1, 0, 0.5, Math.sqrt(3) / 2, Math.PI / 3, 1].forEach((want, i) => expect(f[i]).toBeCloseTo(want, 6));
    const b = cameraBatch([cams[0]!, null]);
    expect(b.shape).toEqual([2, CAMERA_FEATURES]);
    expect(Array.from(b.dataSync().slice(CAMERA_FEATURES))).toEqual([0, 0, 0, 0, 0, 0]);
    b.dispose();
  });
});

describe('camera ray map', () => {
  it('is [d, o × d] per pixel: the centre ray points from the camera at the origin, the edge rays span the fov, a null camera gives zeros', () => {
    const c = { azimuth: 130, elevation: 25, fov: 50, radius: 2.6 };
    const o = orbitPosition(c.azimuth, c.elevation, c.radius);
    const centre = rayMap(cameraFeatures(c), 1, 1);
    const want = [-o.x / c.radius, -o.y / c.radius, -o.z / c.radius, 0, 0, 0];
    want.forEach((x, i) => expect(centre[i]).toBeCloseTo(x, 5));
    // 2 rows: the top and bottom pixel centres sit at ±tan(fov/2)/2 in NDC-scaled image space
    const col = rayMap(cameraFeatures(c), 2, 1);
    const cosAngle = col[0]! * col[6]! + col[1]! * col[7]! + col[2]! * col[8]!;
    const half = Math.atan(Math.tan((c.fov * Math.PI) / 360) / 2);
    expect(Math.acos(cosAngle)).toBeCloseTo(2 * half, 5);
    expect(col[1]!).toBeGreaterThan(col[7]!); // row 0 is the top: it looks further up
    // |o × d| is the ray's distance to the origin: inside the unit sphere's frame
    const m = rayMap(cameraFeatures(c), 8, 8);
    for (let p = 0; p < 64; p++) expect(Math.hypot(m[p * 6 + 3]!, m[p * 6 + 4]!, m[p * 6 + 5]!)).toBeLessThan(c.radius * Math.sin((c.fov * Math.PI) / 180));
    expect(Array.from(rayMap(new Array(CAMERA_FEATURES).fill(0), 2, 2))).toEqual(new Array(4 * RAY_CHANNELS).fill(0));
    expect(() => rayMap([0, 1, 0, 1, -0.5, 1], 2, 2)).toThrow(/camera features \[0,1,0,1,-0.5,1\] are not an orbit camera/);
  });

  it('with points adds each ray\'s point nearest the origin: on the ray, at right angles to it, zero on the centre ray', () => {
    const c = { azimuth: -70, elevation: 35, fov: 60, radius: 2.3 };
    const o = orbitPosition(c.azimuth, c.elevation, c.radius);
    const [h, w] = [5, 4];
    const plain = rayMap(cameraFeatures(c), h, w);
    const full = rayMap(cameraFeatures(c), h, w, true);
    const C = RAY_CHANNELS + POINT_CHANNELS;
    expect(full.length).toBe(h * w * C);
    let farthest = 0;
    for (let p = 0; p < h * w; p++) {
      const ray = full.subarray(p * C, p * C + RAY_CHANNELS);
      expect(Array.from(ray)).toEqual(Array.from(plain.subarray(p * RAY_CHANNELS, (p + 1) * RAY_CHANNELS)));
      const [dx, dy, dz] = [ray[0]!, ray[1]!, ray[2]!];
      const [qx, qy, qz] = [full[p * C + 6]!, full[p * C + 7]!, full[p * C + 8]!];
      expect(qx * dx + qy * dy + qz * dz).toBeCloseTo(0, 5); // q ⟂ d
      // q − o is along d: their cross product vanishes
      const [ux, uy, uz] = [qx - o.x, qy - o.y, qz - o.z];
      expect(Math.hypot(uy * dz - uz * dy, uz * dx - ux * dz, ux * dy - uy * dx)).toBeLessThan(1e-5);
      // |q| is the ray's distance to the origin, |o × d|
      expect(Math.hypot(qx, qy, qz)).toBeCloseTo(Math.hypot(ray[3]!, ray[4]!, ray[5]!), 5);
      farthest = Math.max(farthest, Math.hypot(qx, qy, qz));
    }
    expect(farthest).toBeGreaterThan(0.5); // the corner rays pass well off the centre
    const centre = rayMap(cameraFeatures(c), 1, 1, true);
    for (const i of [6, 7, 8]) expect(Math.abs(centre[i]!)).toBeLessThan(1e-6);
    expect(Array.from(rayMap(new Array(CAMERA_FEATURES).fill(0), 2, 2, true))).toEqual(new Array(4 * C).fill(0));
  });

  it('is encoded for the levels as [m, sin(πm), cos(πm), sin(2πm), cos(2πm)], grouped by function; a null pixel stays zero', () => {
    const C = RAY_CHANNELS + POINT_CHANNELS;
    const m = rayMap(cameraFeatures(cams[1]!), 2, 3, true);
    const nulls = new Float32Array(C); // a null camera's pixel
    const both = new Float32Array([...m.subarray(0, C), ...nulls]);
    const e = encodeRayMap(both, C, 2);
    expect(e.length).toBe(2 * LEVEL_CHANNELS);
    expect(LEVEL_CHANNELS).toBe(45);
    for (let c = 0; c < C; c++) {
      const x = m[c]!;
      const want = [x, Math.sin(Math.PI * x), Math.cos(Math.PI * x), Math.sin(2 * Math.PI * x), Math.cos(2 * Math.PI * x)];
      want.forEach((w, f) => expect(e[f * C + c]).toBeCloseTo(w, 6));
    }
    expect(Array.from(e.subarray(LEVEL_CHANNELS))).toEqual(new Array(LEVEL_CHANNELS).fill(0));
  });
});

describe('multi-view UNet: every parameter gets the autodiff gradient', () => {
  it('camera MLP, camera ray maps (the levels included) and cross-view attention included, a null camera among the rows', () => {
    const { unet, params } = weights(3, LEVELS, true);
    const sample = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 21) as tf.Tensor4D;
    const context = tf.randomNormal([4, 5, 8], 0, 1, 'float32', 22) as tf.Tensor3D;
    const target = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 23);
    const camera = cameraBatch([cams[0]!, cams[1]!, null, null]);
    const loss = () => tf.mean(tf.squaredDifference(unet.forward(sample, [10, 10, 700, 700], context, { camera, views: 2 }), target)) as tf.Scalar;
    const before = tf.memory().numTensors;
    const grads = () => {
      const vars = params.variables();
      const { value, grads } = tf.variableGrads(loss, [...vars.values()]);
      const out = new Map([...vars].map(([k, v]) => [k, grads[v.name]!]));
      const l = value.dataSync()[0]!;
      value.dispose();
      return { loss: l, grads: out };
    };
    const fast = grads();
    const previous = setCustomGradients(false);
    let ref: ReturnType<typeof grads>;
    try {
      ref = grads();
    } finally {
      setCustomGradients(previous);
    }
    expect(fast.loss).toBe(ref.loss);
    const keys = [...params.tensors.keys()];
    for (const k of [
      'camera_embedding.linear_1.weight',
      'camera_embedding.linear_1.bias',
      'camera_embedding.linear_2.weight',
      'camera_embedding.linear_2.bias',
      'camera_rays.weight',
      ...LEVEL_KEYS,
    ]) {
      expect(keys).toContain(k);
    }
    const bad: string[] = [];
    for (const k of keys) {
      const g = fast.grads.get(k)!;
      const r = ref.grads.get(k)!;
      const scale = maxAbs(r);
      if (!(scale > 0)) bad.push(`${k}: zero gradient`);
      const err = maxDiff(g, r) / scale;
      if (!(err <= 1e-3)) bad.push(`${k}: relative error ${err.toExponential(2)}`);
    }
    expect(bad).toEqual([]);
    tf.dispose([...fast.grads.values(), ...ref.grads.values()]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([sample, context, target, camera]);
    params.dispose();
  });

  it('the input gradient through cross-view attention matches central differences', () => {
    const { unet, params } = weights(5);
    const sample = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 31) as tf.Tensor4D;
    const context = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 32) as tf.Tensor3D;
    const w = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 33);
    // The loss reads only view 0's output, so view 1's input gradient exists only through cross-view attention.
    const mask = tf.concat([tf.ones([1, 8, 8, 3]), tf.zeros([1, 8, 8, 3])]);
    const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.mul(unet.forward(x as tf.Tensor4D, 400, context, { views: 2 }), w), mask)) as tf.Scalar;
    const g = tf.grad(f)(sample);
    const gView1 = g.slice([1, 0, 0, 0], [1, -1, -1, -1]);
    expect(maxAbs(gView1)).toBeGreaterThan(1e-4);
    const x = sample.dataSync().slice();
    const gd = g.dataSync();
    const h = 1e-2;
    // view 1's three largest entries (192 = 8·8·3 values per view), and one of view 0
    const view1 = Array.from({ length: 192 }, (_, k) => 192 + k).sort((a, b) => Math.abs(gd[b]!) - Math.abs(gd[a]!));
    for (const i of [...view1.slice(0, 3), 3]) {
      const at = (d: number) => {
        const y = x.slice();
        y[i]! += d;
        return tf.tidy(() => f(tf.tensor4d(y, [2, 8, 8, 3])).dataSync()[0]!);
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      // large enough that the tolerance's absolute floor cannot pass a zero gradient
      if (i >= 192) expect(Math.abs(numeric)).toBeGreaterThan(2e-2);
      expect(Math.abs(numeric - gd[i]!)).toBeLessThan(2e-2 * Math.abs(numeric) + 2e-3);
    }
    // Per-view attention (views 1): view 1 cannot reach view 0's output.
    const g1 = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.mul(unet.forward(xx as tf.Tensor4D, 400, context), w), mask)))(sample);
    expect(maxAbs(g1.slice([1, 0, 0, 0], [1, -1, -1, -1]))).toBe(0);
    tf.dispose([sample, context, w, mask, g, gView1, g1]);
    params.dispose();
  });
});

describe('what each extension changes', () => {
  it('views: groups are independent of each other, and permuting the views of a group permutes its outputs', () => {
    const { unet, params } = weights(7);
    const x = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 41) as tf.Tensor4D;
    const ctx = tf.randomNormal([4, 5, 8], 0, 1, 'float32', 42) as tf.Tensor3D;
    const camera = cameraBatch(cams);
    const out = unet.forward(x, 300, ctx, { camera, views: 2 });
    // change the second group: the first group's outputs stay bit for bit
    const x2 = tf.concat([rows(x, 0, 2), tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 43)]) as tf.Tensor4D;
    const out2 = unet.forward(x2, 300, ctx, { camera, views: 2 });
    expect(maxDiff(rows(out, 0, 2), rows(out2, 0, 2))).toBe(0);
    expect(maxDiff(rows(out, 2, 2), rows(out2, 2, 2))).toBeGreaterThan(1e-3);
    // swap the two views of group 0 (images, text and cameras together)
    const order = [1, 0, 2, 3];
    const perm = (t: tf.Tensor) => tf.gather(t, order);
    const swapped = unet.forward(perm(x) as tf.Tensor4D, 300, perm(ctx) as tf.Tensor3D, { camera: perm(camera) as tf.Tensor2D, views: 2 });
    expect(maxDiff(perm(out), swapped)).toBeLessThan(1e-5);
    // and with views 2 the other view matters, with views 1 it does not
    const alone = unet.forward(x, 300, ctx, { camera, views: 1 });
    expect(maxDiff(alone, out)).toBeGreaterThan(1e-3);
    tf.dispose([x, ctx, camera, out, x2, out2, swapped, alone]);
    params.dispose();
  });

  it('a null camera, or a camera MLP with a zero last layer and zero ray projections, gives exactly the model without camera conditioning', () => {
    const { unet, params } = weights(9, LEVELS);
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 51) as tf.Tensor4D;
    const ctx = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 52) as tf.Tensor3D;
    const plain = unet.forward(x, 500, ctx);
    const nulls = cameraBatch([null, null]);
    expect(maxDiff(unet.forward(x, 500, ctx, { camera: nulls }), plain)).toBe(0);
    const real = cameraBatch([cams[0]!, cams[2]!]);
    expect(maxDiff(unet.forward(x, 500, ctx, { camera: real }), plain)).toBeGreaterThan(1e-4);
    // each camera path alone changes the output
    const mlpOnly = new UNet2DConditionModel(config(MV), params);
    const raysOnly = new UNet2DConditionModel(config(RAYS), params);
    const withLevels = unet.forward(x, 500, ctx, { camera: real });
    expect(maxDiff(mlpOnly.forward(x, 500, ctx, { camera: real }), plain)).toBeGreaterThan(1e-4);
    expect(maxDiff(raysOnly.forward(x, 500, ctx, { camera: real }), raysOnly.forward(x, 500, ctx, { camera: nulls }))).toBeGreaterThan(1e-4);
    expect(maxDiff(withLevels, mlpOnly.forward(x, 500, ctx, { camera: real }))).toBeGreaterThan(1e-4);
    expect(maxDiff(withLevels, raysOnly.forward(x, 500, ctx, { camera: real }))).toBeGreaterThan(1e-4);
    // the zero-initialized start of a fine-tune: linear_2 and the ray projections zero
    for (const k of ['camera_embedding.linear_2.weight', 'camera_embedding.linear_2.bias', 'camera_rays.weight', ...LEVEL_KEYS]) {
      const t = params.tensors.get(k)!;
      params.tensors.set(k, tf.zerosLike(t));
      t.dispose();
    }
    const fresh = new UNet2DConditionModel(config(LEVELS), params);
    expect(maxDiff(fresh.forward(x, 500, ctx, { camera: real }), plain)).toBe(0);
    // and a model without the keys, on the same weights, computes the same
    const without = new UNet2DConditionModel(config(), params);
    expect(maxDiff(without.forward(x, 500, ctx), plain)).toBe(0);
    tf.dispose([x, ctx, nulls, real, withLevels]);
    params.dispose();
  });
});

describe('multi-view config keys and inputs', () => {
  it('are off unless named; a folder without them loads as before', () => {
    const c = config();
    expect(c.camera_dim).toBeNull();
    expect(c.num_views).toBeNull();
    expect(config(MV)).toMatchObject({ camera_dim: 6, num_views: 2 });
    expect(() => config({ dd3d_num_views: 0 })).toThrow(/key "dd3d_num_views" is 0 \(expected a positive integer\)/);
    expect(() => config({ dd3d_camera_dim: 'six' })).toThrow(/key "dd3d_camera_dim"/);
    expect(config(RAYS).camera_rays).toBe(true);
    expect(config(MV).camera_rays).toBe(false);
    expect(() => config({ dd3d_camera_rays: true })).toThrow(/key "dd3d_camera_rays" needs "dd3d_camera_dim": 6 .*got null/);
    expect(() => config({ ...MV, dd3d_camera_rays: 1 })).toThrow(/key "dd3d_camera_rays"/);
    expect(config(LEVELS).camera_ray_levels).toBe(true);
    expect(config(RAYS).camera_ray_levels).toBe(false);
    expect(() => config({ ...MV, dd3d_camera_ray_levels: true })).toThrow(/key "dd3d_camera_ray_levels" needs "dd3d_camera_rays": true/);
  });

  it('camera weights whose shapes do not match the config, views the model was not trained for, and a camera for a model without one are one-line errors', () => {
    // each a Dd3dError, which the CLI prints as one line (a plain Error would print a stack)
    const oneLine = (run: () => unknown, message: RegExp) => {
      expect(run).toThrow(Dd3dError);
      expect(run).toThrow(message);
    };
    const p = new Params(new Map(), 'random tiny unet', randomInit(2));
    new UNet2DConditionModel(config(MV), p);
    oneLine(() => config({ ...MV, dd3d_camera_dim: 4 }), /key "dd3d_camera_dim" is 4 \(expected 6: /);
    const pm = new Params(new Map([['camera_embedding.linear_1.weight', tf.zeros([32, 4])]]), 'camera weights of the wrong width', randomInit(2));
    oneLine(() => new UNet2DConditionModel(config(MV), pm), /weight "camera_embedding\.linear_1\.weight" has shape \[32,4\], expected \[32,6\]/);
    pm.dispose();
    const pr = new Params(new Map([['camera_rays.weight', tf.zeros([32, RAY_CHANNELS])]]), 'ray weights of the wrong width', randomInit(2));
    oneLine(() => new UNet2DConditionModel(config(RAYS), pr), /weight "camera_rays\.weight" has shape \[32,6\], expected \[\d+,6\]/);
    pr.dispose();
    const pl = new Params(new Map([['camera_ray_levels.1.weight', tf.zeros([16, 9])]]), 'level weights without the encoding', randomInit(2));
    oneLine(() => new UNet2DConditionModel(config(LEVELS), pl), /weight "camera_ray_levels\.1\.weight" has shape \[16,9\], expected \[16,45\]/);
    pl.dispose();
    const mv = new UNet2DConditionModel(config(MV), p);
    const plain = new UNet2DConditionModel(config(), p);
    const x = tf.zeros([4, 8, 8, 3]) as tf.Tensor4D;
    const ctx = tf.zeros([4, 5, 8]) as tf.Tensor3D;
    oneLine(() => mv.forward(x, 1, ctx, { views: 4 }), /views 4: this model was trained for 2 views; use 1 or 2/);
    oneLine(() => plain.forward(x, 1, ctx, { views: 2 }), /denoises one view at a time/);
    const camera = cameraBatch([null, null, null, null]);
    oneLine(() => plain.forward(x, 1, ctx, { camera }), /no camera conditioning/);
    oneLine(() => mv.forward(x, 1, ctx, { camera: camera.slice([0, 0], [2, -1]) }), /camera features have shape \[2,6\], expected \[4, 6\]/);
    oneLine(() => mv.checkViews(3, false), /^--views 3: this model was trained for 2 views; use 1 or 2$/);
    // a batch that is not whole groups of V views
    const three = tf.zeros([3, 8, 8, 3]) as tf.Tensor4D;
    const ctx3 = tf.zeros([3, 5, 8]) as tf.Tensor3D;
    oneLine(() => mv.forward(three, 1, ctx3, { views: 2 }), /a batch of 3 is not a whole number of 2-view groups/);
    tf.dispose([three, ctx3]);
    tf.dispose([x, ctx, camera]);
    p.dispose();
  });
});
