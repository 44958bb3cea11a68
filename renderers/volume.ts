/**
 * The differentiable volume renderer: a radiance field seen through a three.js camera.
 *
 * Rays come from `cameraRays`, so pixel (i, j) here is pixel (i, j) of the CPU rasterizer
 * (same pixel centres, row 0 at the top). Each ray is clipped to the field's cube and split
 * into `samplesPerRay` equal bins with one sample per bin (the bin centre, or a seeded
 * stratified jitter). Samples outside the cube or in empty occupancy cells are skipped: the
 * CPU plans which samples are live, only those are sent through the field, and a gather with
 * a zero row for the dead ones lays the results back out per ray. Compositing is the usual
 * emission–absorption quadrature:
 *   alpha_i = 1 − exp(−σ_i δ_i),  T_i = exp(−Σ_{j<i} σ_j δ_j),  w_i = T_i · alpha_i,
 *   rgb = Σ w_i c_i + (1 − Σ w_i) · background,
 * with δ_i the bin width. Everything after the plan is tf ops, differentiable with respect to
 * the field's (and a learned background's) variables.
 */
import * as tf from '@tensorflow/tfjs';
import * as THREE from 'three';
import { mulberry32 } from '../src/core/random.js';
import { createMlp, runMlp, subSeed, type DenseLayer, type RadianceField } from '../nerf/field.js';
import { cameraForward, cameraRays } from './camera.js';
import { SRGB_KNEE, type RGB } from './color.js';
import { DEFAULT_LIGHT } from './rasterizer.js';

export type VolumeBackground =
  | { kind: 'solid'; color: RGB }
  /** Linear RGB [R, 3] in [0, 1] for unit ray directions [R, 3]; may be learned (see MlpBackground). */
  | { kind: 'function'; fn: (dirs: tf.Tensor2D) => tf.Tensor2D };

/**
 * - albedo: the field's albedo, unlit.
 * - lambertian: albedo · (ambient + (1 − ambient) · max(0, n·l)).
 * - textureless: the same shading on white, which shows geometry alone (DreamFusion).
 */
export type VolumeShading = 'albedo' | 'lambertian' | 'textureless';

/** A point light (`position`) or a directional one (`direction`, toward the light, as the rasterizer's). */
export type VolumeLight = { position: [number, number, number]; ambient?: number } | { direction: [number, number, number]; ambient?: number };

/** What the renderer needs of an occupancy grid (nerf/occupancy.ts's OccupancyGrid has it). */
export interface OccupancyTest {
  occupied(x: number, y: number, z: number): boolean;
}

export interface VolumeRenderOptions {
  width: number;
  height: number;
  samplesPerRay: number;
  /** Ray distance limits, intersected with the field's cube; defaults 0 and Infinity (the cube alone decides). */
  near?: number;
  far?: number;
  /** Seed for stratified jitter within each bin; omitted, samples sit at bin centres. */
  jitterSeed?: number;
  /** Default solid white, as the rasterizer's. */
  background?: VolumeBackground;
  /** Default 'albedo'. */
  shading?: VolumeShading;
  /** Default: the rasterizer's DEFAULT_LIGHT (directional, from above-front-right) with ambient 0.3. */
  light?: VolumeLight;
  /** Skip samples in cells this reports as empty. */
  occupancy?: OccupancyTest;
  /**
   * 'finite-difference' (default): n = −∇σ/‖∇σ‖ from forward differences, 3 extra density
   * queries per live sample; everything stays first-order, so tf gradients flow. 'none' skips
   * them (the `normal` output is then 0) and is only allowed with 'albedo' shading.
   */
  normals?: 'finite-difference' | 'none';
  /** Finite-difference step in world units; default 0.01. */
  normalEps?: number;
}

export interface VolumeRenderResult {
  /** Linear RGB in [0, 1], composited over the background. */
  rgb: tf.Tensor3D;
  /** Σ w_i: the fraction of each ray the field absorbs. */
  opacity: tf.Tensor2D;
  /** Σ w_i z_i with z the view-space depth (the rasterizer's convention); divide by opacity for the mean depth of what the ray hits. */
  depth: tf.Tensor2D;
  /** Σ w_i n_i, world space: length ≈ opacity where the surface is crisp; 0 where nothing is hit or with normals 'none'. */
  normal: tf.Tensor3D;
}

/** The CPU half of a render: which samples are live, where they are, and how they map back to rays. */
export interface SamplePlan {
  rays: number;
  samplesPerRay: number;
  /** Live samples. */
  live: number;
  /** Live sample positions, [live, 3]. */
  points: Float32Array;
  /** Per (ray, sample), ray-major: the live index, or `live` for a dead sample (the zero row). */
  slot: Int32Array;
  /** Per (ray, sample): the bin width δ (0 on rays that miss the cube). */
  delta: Float32Array;
  /** Per (ray, sample): view-space depth of the sample. */
  z: Float32Array;
  /** Unit ray directions, [rays, 3]. */
  directions: Float32Array;
}

/** Ray-cube slab test: [tEnter, tExit] of the ray within [-b, b]³, or null if it misses. */
function intersectCube(o: ArrayLike<number>, d: ArrayLike<number>, p: number, b: number): [number, number] | null {
  let t0 = -Infinity;
  let t1 = Infinity;
  for (let a = 0; a < 3; a++) {
    const oa = o[p + a];
    const da = d[p + a];
    if (Math.abs(da) < 1e-12) {
      if (Math.abs(oa) > b) return null;
      continue;
    }
    const ta = (-b - oa) / da;
    const tb = (b - oa) / da;
    t0 = Math.max(t0, Math.min(ta, tb));
    t1 = Math.min(t1, Math.max(ta, tb));
  }
  return t0 < t1 ? [t0, t1] : null;
}

export function planSamples(camera: THREE.PerspectiveCamera, bound: number, opts: VolumeRenderOptions): SamplePlan {
  const { width, height, samplesPerRay: s } = opts;
  if (!Number.isInteger(s) || s < 1) throw new RangeError(`renderVolume: samplesPerRay must be a positive integer, got ${s}`);
  const rays = cameraRays(camera, width, height);
  const n = width * height;
  const forward = cameraForward(camera);
  const jitter = opts.jitterSeed === undefined ? undefined : mulberry32(opts.jitterSeed).next;
  const near = opts.near ?? 0;
  const far = opts.far ?? Infinity;
  const slot = new Int32Array(n * s);
  const delta = new Float32Array(n * s);
  const z = new Float32Array(n * s);
  const points: number[] = [];
  let live = 0;
  const { origins: o, directions: d } = rays;
  for (let r = 0; r < n; r++) {
    const p = 3 * r;
    const hit = intersectCube(o, d, p, bound);
    const t0 = hit ? Math.max(hit[0], near) : 0;
    const t1 = hit ? Math.min(hit[1], far) : 0;
    const cos = d[p] * forward.x + d[p + 1] * forward.y + d[p + 2] * forward.z;
    const bin = t1 > t0 ? (t1 - t0) / s : 0;
    for (let k = 0; k < s; k++) {
      const q = r * s + k;
      // Draw the jitter for every sample, hit or not, so one ray's samples do not depend on another's.
      const u = jitter ? jitter() : 0.5;
      const t = t0 + (k + u) * bin;
      z[q] = t * cos;
      slot[q] = -1;
      if (bin === 0) continue;
      delta[q] = bin;
      const x = o[p] + t * d[p];
      const y = o[p + 1] + t * d[p + 1];
      const w = o[p + 2] + t * d[p + 2];
      if (opts.occupancy && !opts.occupancy.occupied(x, y, w)) continue;
      slot[q] = live++;
      points.push(x, y, w);
    }
  }
  for (let q = 0; q < slot.length; q++) if (slot[q] < 0) slot[q] = live;
  return { rays: n, samplesPerRay: s, live, points: Float32Array.from(points), slot, delta, z, directions: d };
}

/** [3·M, 3]: each point moved by +eps along x, y, z, in that order, point-major. */
function offsetPoints(points: Float32Array, eps: number): Float32Array {
  const m = points.length / 3;
  const out = new Float32Array(9 * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < 3; k++) {
      const q = 3 * (3 * i + k);
      out[q] = points[3 * i];
      out[q + 1] = points[3 * i + 1];
      out[q + 2] = points[3 * i + 2];
      out[q + k] += eps;
    }
  }
  return out;
}

/**
 * Unit normals −∇σ/‖∇σ‖ [M, 3] by forward differences from σ at the points themselves (the
 * query's, [M]): 3 extra density queries per sample where central differences take 6. The
 * error is O(eps) rather than O(eps²); at the default eps the main command's chairs and the
 * README's tables came out as with central differences, and with the occupancy margin cut in
 * src/generate/generate-asset.ts an SDS iteration's render and backprop took half the time
 * (docs/generate-record.md, "Where an SDS iteration's time went").
 */
function finiteDifferenceNormals(field: RadianceField, points: Float32Array, sigma: tf.Tensor1D, eps: number): tf.Tensor2D {
  const m = points.length / 3;
  const shifted = tf.reshape(field.density(tf.tensor2d(offsetPoints(points, eps), [3 * m, 3])), [m, 3]);
  const g = tf.div(tf.sub(shifted, tf.reshape(sigma, [m, 1])), -eps);
  return tf.div(g, tf.sqrt(tf.add(tf.sum(tf.square(g), 1, true), 1e-12))) as tf.Tensor2D;
}

/** Unit directions toward the light per point [M, 3]. */
function lightDirections(light: VolumeLight, points: Float32Array): Float32Array {
  const m = points.length / 3;
  const out = new Float32Array(3 * m);
  for (let i = 0; i < m; i++) {
    const [x, y, z] =
      'position' in light ? [light.position[0] - points[3 * i], light.position[1] - points[3 * i + 1], light.position[2] - points[3 * i + 2]] : light.direction;
    const len = Math.hypot(x, y, z) || 1;
    out[3 * i] = x / len;
    out[3 * i + 1] = y / len;
    out[3 * i + 2] = z / len;
  }
  return out;
}

const DEFAULT_VOLUME_LIGHT: VolumeLight = {
  direction: [DEFAULT_LIGHT.direction.x, DEFAULT_LIGHT.direction.y, DEFAULT_LIGHT.direction.z],
  ambient: DEFAULT_LIGHT.ambient,
};

/**
 * Linear RGB → sRGB as tensors, differentiable: what renderVolume's linear `rgb` becomes in an
 * image (color.ts's linearToSRGB per element). The two branches meet at the knee k (both give
 * 12.92·k there), so the curve is 1.055·max(c, k)^(1/2.4) − 0.055 + 12.92·(min(c, k) − k): no
 * comparison op on the tape (tfjs has no gradient for them) and the pow stays away from 0.
 */
export function linearToSrgbTensor(x: tf.Tensor): tf.Tensor {
  const k = SRGB_KNEE;
  return tf.tidy(() => {
    const c = tf.clipByValue(x, 0, 1);
    const curve = tf.sub(tf.mul(tf.pow(tf.maximum(c, k), 1 / 2.4), 1.055), 0.055);
    return tf.add(curve, tf.mul(tf.sub(tf.minimum(c, k), k), 12.92));
  });
}

/**
 * Renders `field` from `camera` at width × height. Returned tensors are the caller's to
 * dispose; everything else is freed. Deterministic for a given `jitterSeed`.
 */
export function renderVolume(field: RadianceField, camera: THREE.PerspectiveCamera, opts: VolumeRenderOptions): VolumeRenderResult {
  const shading = opts.shading ?? 'albedo';
  const normalsMode = opts.normals ?? 'finite-difference';
  if (normalsMode === 'none' && shading !== 'albedo')
    throw new RangeError(`renderVolume: ${shading} shading needs normals; normals 'none' allows only 'albedo'`);
  const plan = planSamples(camera, field.bound, opts);
  const { width: w, height: h } = opts;
  const { rays, live } = plan;
  const withNormals = normalsMode === 'finite-difference';
  const columns = withNormals ? 7 : 4;

  const fused = hasCompositeKernels();
  return tf.tidy(() => {
    // Per live sample: [σ, colour (3), normal (3)?], then (for the tf-op compositing) one zero row for every dead sample.
    let table: tf.Tensor2D;
    if (live === 0) {
      table = tf.zeros([1, columns]);
    } else {
      const points = tf.tensor2d(plan.points, [live, 3]);
      const { density, albedo } = field.query(points);
      const normal = withNormals ? finiteDifferenceNormals(field, plan.points, density, opts.normalEps ?? 0.01) : undefined;
      let colour: tf.Tensor2D = albedo;
      if (shading !== 'albedo' && normal) {
        const light = opts.light ?? DEFAULT_VOLUME_LIGHT;
        const ambient = light.ambient ?? 0.3;
        const toLight = tf.tensor2d(lightDirections(light, plan.points), [live, 3]);
        const lit = tf.add(ambient, tf.mul(1 - ambient, tf.relu(tf.sum(tf.mul(normal, toLight), 1, true))));
        colour = (shading === 'lambertian' ? tf.mul(albedo, lit) : tf.tile(lit, [1, 3])) as tf.Tensor2D;
      }
      const parts = [tf.reshape(density, [live, 1]), colour, ...(normal ? [normal] : [])];
      table = tf.concat(parts, 1) as tf.Tensor2D;
      if (!fused)
        table = tf.pad(table, [
          [0, 1],
          [0, 0],
        ]);
    }
    const { composited, opacity, depth } = fused ? compositeFused(table, plan) : compositeOps(table, plan);
    const [rgbOverBlack, normal] = withNormals ? tf.split(composited, [3, 3], 1) : [composited, tf.zeros([rays, 3])];
    const background = backgroundColours(opts.background, plan.directions, rays);
    const rgb = tf.add(rgbOverBlack, tf.mul(tf.sub(1, tf.reshape(opacity, [rays, 1])), background));
    return {
      rgb: tf.reshape(rgb, [h, w, 3]) as tf.Tensor3D,
      opacity: tf.reshape(opacity, [h, w]) as tf.Tensor2D,
      depth: tf.reshape(depth, [h, w]) as tf.Tensor2D,
      normal: tf.reshape(normal, [h, w, 3]) as tf.Tensor3D,
    };
  });
}

interface Composited {
  /** Σ w_i · (colour, normal?)_i: [rays, 3 or 6]. */
  composited: tf.Tensor2D;
  opacity: tf.Tensor1D;
  depth: tf.Tensor1D;
}

/**
 * The quadrature as tf ops, on [live + 1, columns] (the last row zero, for the dead samples): a
 * gather lays the samples out per ray, then cumsum, exp and weighted sums. Used where the
 * backend lacks the fused kernels below.
 */
function compositeOps(table: tf.Tensor2D, plan: SamplePlan): Composited {
  const { rays, samplesPerRay: s } = plan;
  const columns = table.shape[1];
  const perSample = tf.gather(table, tf.tensor1d(plan.slot, 'int32')); // [rays·s, columns]
  const [sigma, shaded] = tf.split(perSample, [1, columns - 1], 1);
  const opticalDepth = tf.mul(tf.reshape(sigma, [rays, s]), tf.tensor2d(plan.delta, [rays, s]));
  const transmittance = tf.exp(tf.neg(tf.cumsum(opticalDepth, 1, true)));
  const alpha = tf.sub(1, tf.exp(tf.neg(opticalDepth)));
  const weights = tf.mul(transmittance, alpha); // [rays, s]
  const opacity = tf.sum(weights, 1) as tf.Tensor1D;
  const depth = tf.sum(tf.mul(weights, tf.tensor2d(plan.z, [rays, s])), 1) as tf.Tensor1D;
  const composited = tf.sum(tf.reshape(tf.mul(tf.reshape(weights, [rays * s, 1]), shaded), [rays, s, columns - 1]), 1) as tf.Tensor2D;
  return { composited, opacity, depth };
}

let fusedCompositing = true;

/**
 * Turns the fused compositing kernels off (false: the tf-op quadrature, as before them) or back
 * on; returns the previous setting. For tests and `npm run bench -- render`.
 */
export function setFusedCompositing(enabled: boolean): boolean {
  const previous = fusedCompositing;
  fusedCompositing = enabled;
  return previous;
}

/** Whether the active backend has the compositing kernels (dd3d registers them on wasm and cpu: src/backend/fused-kernels.ts). */
function hasCompositeKernels(): boolean {
  if (!fusedCompositing) return false;
  const backend = tf.getBackend();
  return tf.getKernel('Dd3dComposite', backend) !== undefined && tf.getKernel('Dd3dCompositeGrad', backend) !== undefined;
}

/**
 * The same quadrature as one kernel each way, Dd3dComposite and its hand-written gradient
 * Dd3dCompositeGrad, on [live, columns] (rows of dead samples are skipped, not read): one pass
 * per ray instead of a dozen ops over [rays·s, columns] and the gather's scatter-add gradient.
 */
function compositeFused(table: tf.Tensor2D, plan: SamplePlan): Composited {
  const columns = table.shape[1];
  const attrs = { samplesPerRay: plan.samplesPerRay };
  const slot = tf.tensor1d(plan.slot, 'int32');
  const delta = tf.tensor1d(plan.delta);
  const z = tf.tensor1d(plan.z);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const t = args[0] as tf.Tensor;
    // The plan's tensors are the tidy's: saved, they live until the backward pass.
    (args[1] as tf.GradSaveFunc)([t, slot, delta, z]);
    return {
      value: tf.engine().runKernel('Dd3dComposite', { table: t, slot, delta, z }, attrs) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, [ts, ss, ds, zs]: tf.Tensor[]) =>
        tf.engine().runKernel('Dd3dCompositeGrad', { dy, table: ts!, slot: ss!, delta: ds!, z: zs! }, attrs) as tf.Tensor,
    };
  });
  const [composited, opacity, depth] = tf.split(op(table) as tf.Tensor2D, [columns - 1, 1, 1], 1);
  return {
    composited: composited as tf.Tensor2D,
    opacity: tf.reshape(opacity, [plan.rays]) as tf.Tensor1D,
    depth: tf.reshape(depth, [plan.rays]) as tf.Tensor1D,
  };
}

function backgroundColours(background: VolumeBackground | undefined, directions: Float32Array, rays: number): tf.Tensor {
  const bg = background ?? { kind: 'solid', color: [1, 1, 1] };
  if (bg.kind === 'solid') return tf.tensor2d([bg.color], [1, 3]);
  const out = bg.fn(tf.tensor2d(directions, [rays, 3]));
  if (out.shape[0] !== rays || out.shape[1] !== 3) throw new RangeError(`renderVolume: background fn returned [${out.shape}], expected [${rays}, 3]`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// A learned background

export interface MlpBackgroundConfig {
  /** Octaves of sin/cos of the direction; default 2 (a background should stay smooth). */
  frequencies?: number;
  /** Hidden width; default 16. */
  hiddenWidth?: number;
}

/**
 * A small seeded MLP from ray direction to colour (threestudio's neural environment map):
 * it lets score distillation explain the backdrop without painting it onto the object.
 */
export class MlpBackground {
  private readonly vars = new Map<string, tf.Variable>();
  private readonly layers: DenseLayer[];
  private readonly frequencies: number;

  constructor(config: MlpBackgroundConfig = {}, seed = 0) {
    this.frequencies = config.frequencies ?? 2;
    const width = 3 + 6 * this.frequencies;
    this.layers = createMlp('background_mlp', [width, config.hiddenWidth ?? 16, 3], subSeed(seed, 7), this.vars);
  }

  /** Colours [R, 3] in (0, 1) for unit directions [R, 3]. */
  colours(dirs: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const features: tf.Tensor[] = [dirs];
      for (let k = 0; k < this.frequencies; k++) {
        const phase = tf.mul(dirs, Math.pow(2, k) * Math.PI);
        features.push(tf.sin(phase), tf.cos(phase));
      }
      return tf.sigmoid(runMlp(this.layers, tf.concat(features, 1) as tf.Tensor2D)) as tf.Tensor2D;
    });
  }

  /** This background as renderVolume's `background` option. */
  asBackground(): VolumeBackground {
    return { kind: 'function', fn: (dirs) => this.colours(dirs) };
  }

  variables(): Map<string, tf.Variable> {
    return new Map(this.vars);
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
