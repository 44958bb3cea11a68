/**
 * Field benchmarks: speed of a render's forward + backward pass, and how well each field
 * fits a procedural object from rasterized views in the same wall time, so the better
 * field can be kept. Also the fitting loop the volume renderer's test uses.
 */
import * as tf from '@tensorflow/tfjs';
import type * as THREE from 'three';
import { orbitCamera } from '../../renderers/camera.js';
import type { RGB } from '../../renderers/color.js';
import { renderScene } from '../../renderers/rasterizer.js';
import { planSamples, renderVolume, type VolumeRenderOptions } from '../../renderers/volume.js';
import { disposeObject, makeObject } from '../../scenes/index.js';
import { fmt, formatTable } from '../core/table.js';
import type { RadianceField } from '../../nerf/field.js';
import { mulberry32 } from '../core/random.js';
import { createField, type FieldConfig } from '../../nerf/index.js';
import { OccupancyGrid } from '../../nerf/occupancy.js';

/** A training or test image: linear RGB over `background`, and the object's coverage. */
export interface TargetView {
  camera: THREE.PerspectiveCamera;
  width: number;
  height: number;
  /** [H·W·3], row 0 at the top. */
  rgb: Float32Array;
  /** [H·W]. */
  alpha: Float32Array;
}

/** Orbit cameras on a ring (radius 2.6, fov 50: the unit sphere fills the frame), elevations alternating. */
export function ringCameras(count: number, opts: { azimuthOffset?: number; elevations?: number[] } = {}): THREE.PerspectiveCamera[] {
  const elevations = opts.elevations ?? [15, 35];
  return Array.from({ length: count }, (_, k) =>
    orbitCamera({ azimuth: (opts.azimuthOffset ?? 0) + (360 * k) / count, elevation: elevations[k % elevations.length], radius: 2.6, fov: 50 }),
  );
}

/**
 * Unlit (albedo-only) rasterizer renders of `root`, which the volume renderer's 'albedo'
 * shading can match exactly: ambient 1 and no direct light make the rasterizer's colour
 * the material's albedo.
 */
export function rasterTargets(root: THREE.Object3D, cameras: THREE.PerspectiveCamera[], size: number, background: RGB): TargetView[] {
  const light = { direction: cameras[0].position.clone(), intensity: 0, ambient: 1 };
  return cameras.map((camera) => {
    const r = renderScene(root, camera, { width: size, height: size, background, light });
    const rgb = new Float32Array(3 * size * size);
    for (let p = 0; p < size * size; p++) {
      const a = r.alpha[p];
      for (let c = 0; c < 3; c++) rgb[3 * p + c] = r.rgba[4 * p + c] * a + background[c] * (1 - a);
    }
    return { camera, width: size, height: size, rgb, alpha: r.alpha };
  });
}

export interface FitOptions {
  /** Stop after this many steps… */
  steps?: number;
  /** …or once this much wall time has passed, whichever comes first. */
  budgetMs?: number;
  samplesPerRay: number;
  /** Adam learning rate per parameter group of the field (see RadianceField.groups); groups not listed use `defaultLearningRate`. */
  learningRates?: Record<string, number>;
  defaultLearningRate?: number;
  /** Weight of the MSE between opacity and the target's coverage; default 0.5. */
  maskWeight?: number;
  background: RGB;
  seed: number;
  /** Refresh the occupancy grid every this many steps, starting at step `occupancyFrom`; omit to render without one. */
  occupancyEvery?: number;
  occupancyFrom?: number;
}

export interface FitResult {
  steps: number;
  ms: number;
  /** The loss of each step. */
  losses: number[];
  /** The grid used, if any; pass it to later renders. */
  occupancy?: OccupancyGrid;
}

/** Fits `field` to `views` with Adam, one whole view per step in a seeded random order. */
export function fitField(field: RadianceField, views: TargetView[], opts: FitOptions): FitResult {
  const groups = field.groups();
  const vars = field.variables();
  const optimizers = Object.entries(groups).map(([group, names]) => ({
    optimizer: tf.train.adam(opts.learningRates?.[group] ?? opts.defaultLearningRate ?? 1e-2, 0.9, 0.99, 1e-15),
    variables: names.map((n) => vars.get(n)!),
  }));
  const targets = views.map((v) => ({ rgb: tf.tensor3d(v.rgb, [v.height, v.width, 3]), alpha: tf.tensor2d(v.alpha, [v.height, v.width]) }));
  const pick = mulberry32(opts.seed).next;
  const occupancy = opts.occupancyEvery ? new OccupancyGrid(field.bound) : undefined;
  const maskWeight = opts.maskWeight ?? 0.5;
  const losses: number[] = [];
  const start = performance.now();
  let step = 0;
  const maxSteps = opts.steps ?? Infinity;
  const budget = opts.budgetMs ?? Infinity;
  while (step < maxSteps && performance.now() - start < budget) {
    const useOccupancy = occupancy && step >= (opts.occupancyFrom ?? 0);
    if (useOccupancy && (step - (opts.occupancyFrom ?? 0)) % opts.occupancyEvery! === 0) occupancy.update(field, opts.seed + step);
    const k = Math.floor(pick() * views.length);
    const view = views[k];
    const render: VolumeRenderOptions = {
      width: view.width,
      height: view.height,
      samplesPerRay: opts.samplesPerRay,
      jitterSeed: opts.seed * 100003 + step,
      background: { kind: 'solid', color: opts.background },
      normals: 'none',
      occupancy: useOccupancy ? occupancy : undefined,
    };
    const { value, grads } = tf.variableGrads(() => {
      const r = renderVolume(field, view.camera, render);
      const colour = tf.mean(tf.squaredDifference(r.rgb, targets[k].rgb));
      const mask = tf.mean(tf.squaredDifference(r.opacity, targets[k].alpha));
      return tf.add(colour, tf.mul(maskWeight, mask)) as tf.Scalar;
    }, [...vars.values()]);
    for (const { optimizer, variables } of optimizers) {
      optimizer.applyGradients(variables.filter((v) => grads[v.name]).map((v) => ({ name: v.name, tensor: grads[v.name] })));
    }
    losses.push(value.dataSync()[0]);
    tf.dispose([value, grads]);
    step++;
  }
  const ms = performance.now() - start;
  for (const { optimizer } of optimizers) optimizer.dispose();
  tf.dispose(targets);
  return { steps: step, ms, losses, occupancy };
}

/** Mean PSNR (dB, linear RGB) of `field`'s renders against `views`, samples at bin centres. */
export function viewsPsnr(field: RadianceField, views: TargetView[], opts: { samplesPerRay: number; background: RGB; occupancy?: OccupancyGrid }): number {
  let sum = 0;
  for (const view of views) {
    const mse = tf.tidy(() => {
      const r = renderVolume(field, view.camera, {
        width: view.width,
        height: view.height,
        samplesPerRay: opts.samplesPerRay,
        background: { kind: 'solid', color: opts.background },
        normals: 'none',
        occupancy: opts.occupancy,
      });
      return tf.mean(tf.squaredDifference(r.rgb, tf.tensor3d(view.rgb, [view.height, view.width, 3]))).dataSync()[0];
    });
    sum += psnrFromMse(mse);
  }
  return sum / views.length;
}

export function psnrFromMse(mse: number): number {
  return 10 * Math.log10(1 / Math.max(mse, 1e-10));
}

// ---------------------------------------------------------------------------------------------
// The benchmark

export interface FieldBenchRow {
  field: string;
  shading: string;
  occupancy: boolean;
  liveFraction: number;
  ms: number;
}

export interface FieldFitRow {
  field: string;
  steps: number;
  ms: number;
  psnrBefore: number;
  psnrAfter: number;
}

export interface FieldBenchResult {
  speed: FieldBenchRow[];
  fit: FieldFitRow[];
}

export const BENCH_FIELDS: Record<string, FieldConfig> = {
  grid: { kind: 'grid' },
  'grid (gather)': { kind: 'grid', interpolation: 'gather' },
  fourier: { kind: 'fourier' },
};

/** A blob that covers the unit sphere, for fitting objects that reach it (the default ball is smaller). */
const FIT_BLOB = { density: 5, radius: 1 };

/** The reconstruction task the bench and the test share: chair #1, 10 ring views to fit, 2 held-out views between them. */
export function chairFitTask(size: number, background: RGB): { train: TargetView[]; test: TargetView[] } {
  const object = makeObject('chair', 1);
  const train = rasterTargets(object.group, ringCameras(10), size, background);
  const test = rasterTargets(object.group, ringCameras(2, { azimuthOffset: 45, elevations: [25] }), size, background);
  disposeObject(object.group);
  return { train, test };
}

/** The fit settings the bench and the test share (the grid is learned fast, the MLPs slower). */
export const FIT_SETTINGS = { samplesPerRay: 32, learningRates: { encoding: 3e-2, mlp: 1e-2 }, seed: 1, occupancyEvery: 8, occupancyFrom: 16 };

/**
 * Times forward + backward of renderVolume at 32×32 and 64 samples per ray for each field
 * (albedo and Lambertian shading, with and without an occupancy grid fitted to the fresh
 * field's blob), then fits each field to 10 views of a chair for the same wall time and
 * reports the PSNR on 2 held-out views. Prints tables; returns the numbers.
 */
export function benchFields(opts: { reps?: number; fitBudgetMs?: number; fields?: string[] } = {}): FieldBenchResult {
  const reps = opts.reps ?? 3;
  const names = opts.fields ?? Object.keys(BENCH_FIELDS);
  const camera = orbitCamera({ azimuth: 30, elevation: 20, radius: 2.6, fov: 50 });
  const speed: FieldBenchRow[] = [];
  for (const name of names) {
    const field = createField(BENCH_FIELDS[name], 1);
    const vars = [...field.variables().values()];
    const occupancy = new OccupancyGrid(field.bound);
    occupancy.update(field, 1);
    for (const shading of ['albedo', 'lambertian'] as const) {
      for (const useOccupancy of [false, true]) {
        const render: VolumeRenderOptions = {
          width: 32,
          height: 32,
          samplesPerRay: 64,
          jitterSeed: 1,
          shading,
          normals: shading === 'albedo' ? 'none' : 'finite-difference',
          occupancy: useOccupancy ? occupancy : undefined,
        };
        const once = () => {
          const { value, grads } = tf.variableGrads(() => tf.mean(renderVolume(field, camera, render).rgb) as tf.Scalar, vars);
          value.dataSync();
          tf.dispose([value, grads]);
        };
        once(); // warm-up
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) once();
        const ms = (performance.now() - t0) / reps;
        speed.push({ field: name, shading, occupancy: useOccupancy, liveFraction: liveFraction(field.bound, camera, render), ms });
      }
    }
    field.dispose();
  }
  console.log('Radiance fields: renderVolume forward + backward, 32×32, 64 samples/ray (occupancy from the fresh blob)');
  console.log(
    formatTable(
      ['field', 'shading', 'occupancy', 'live samples', 'ms'],
      speed.map((r) => [r.field, r.shading, r.occupancy ? 'yes' : 'no', `${fmt(100 * r.liveFraction)}%`, fmt(r.ms)]),
    ),
  );
  console.log();

  const budget = opts.fitBudgetMs ?? 20_000;
  const background: RGB = [1, 1, 1];
  const { train, test } = chairFitTask(32, background);
  const fit: FieldFitRow[] = [];
  for (const name of names) {
    const field = createField({ ...BENCH_FIELDS[name], blob: FIT_BLOB }, 1);
    const psnrBefore = viewsPsnr(field, test, { samplesPerRay: 48, background });
    const r = fitField(field, train, { ...FIT_SETTINGS, budgetMs: budget, background });
    const psnrAfter = viewsPsnr(field, test, { samplesPerRay: 48, background, occupancy: r.occupancy });
    fit.push({ field: name, steps: r.steps, ms: r.ms, psnrBefore, psnrAfter });
    field.dispose();
  }
  console.log(`Radiance fields: fit to 10 albedo views of chair #1 at 32×32 for ${fmt(budget / 1000)} s, PSNR on 2 held-out views`);
  console.log(
    formatTable(
      ['field', 'steps', 'ms/step', 'PSNR before', 'PSNR after'],
      fit.map((r) => [r.field, r.steps, fmt(r.ms / r.steps), fmt(r.psnrBefore), fmt(r.psnrAfter)]),
    ),
  );
  console.log();
  return { speed, fit };
}

/** The fraction of (ray, sample) slots the renderer actually sends through the field. */
function liveFraction(bound: number, camera: THREE.PerspectiveCamera, render: VolumeRenderOptions): number {
  const plan = planSamples(camera, bound, render);
  return plan.live / (plan.rays * plan.samplesPerRay);
}
