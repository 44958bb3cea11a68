/**
 * Everything in a score-distillation run that changes with the iteration, as pure functions
 * of (iteration, seed): the timestep range, the shading mode, the camera, the light and the
 * random background colour. A
 * resumed run therefore draws exactly what the uninterrupted one would have.
 */
import { CAMERA_RANGES, sampleCamera, type CameraRanges, type SceneCamera } from '../../renderers/camera-rig.js';
import { orbitPosition } from '../../renderers/camera.js';
import { deriveSeed, gaussian, mulberry32 } from '../core/random.js';

export type Shading = 'albedo' | 'lambertian' | 'textureless';

export interface TimestepSchedule {
  /** Fractions of the training schedule: t is drawn uniformly from [min, max]. */
  min: number;
  /** max at iteration 0 … */
  maxStart: number;
  /** … falling linearly to this … */
  maxEnd: number;
  /** … by this fraction of the run, then constant. */
  annealUntil: number;
}

export interface ShadingSchedule {
  /** Iterations of albedo-only renders before lighting starts (geometry forms first). */
  warmupIters: number;
  /** After the warm-up, the chance of each mode per iteration (they sum to 1). */
  albedo: number;
  lambertian: number;
  textureless: number;
}

export interface LightSchedule {
  /** Std of the Gaussian that moves the light off the camera's direction (unit sphere). */
  perturb: number;
  /** Light distance as multiples of the camera's distance. */
  distance: readonly [number, number];
  ambient: number;
}

/** The integer timestep of iteration `iter` of `iters`, on a schedule of `trainSteps`. */
export function timestepAt(s: TimestepSchedule, iter: number, iters: number, trainSteps: number, seed: number): number {
  const progress = Math.min(1, iter / Math.max(1, s.annealUntil * iters));
  const max = s.maxStart + (s.maxEnd - s.maxStart) * progress;
  const u = mulberry32(deriveSeed(seed, `t/${iter}`)).next();
  const frac = s.min + (max - s.min) * u;
  return Math.min(trainSteps - 1, Math.max(0, Math.round(frac * trainSteps)));
}

export function shadingAt(s: ShadingSchedule, iter: number, seed: number): Shading {
  if (iter < s.warmupIters) return 'albedo';
  const u = mulberry32(deriveSeed(seed, `shading/${iter}`)).next();
  if (u < s.albedo) return 'albedo';
  return u < s.albedo + s.lambertian ? 'lambertian' : 'textureless';
}

/** The camera of iteration `iter`: the dataset's camera distribution, so renders look like what the model saw. */
export function cameraAt(iter: number, seed: number, ranges: CameraRanges = CAMERA_RANGES): SceneCamera {
  return sampleCamera(mulberry32(deriveSeed(seed, `camera/${iter}`)), ranges);
}

/** A point light near the camera's direction (threestudio's rule): the lit side faces the viewer, mostly. */
export function lightAt(s: LightSchedule, camera: SceneCamera, iter: number, seed: number): [number, number, number] {
  const rng = mulberry32(deriveSeed(seed, `light/${iter}`));
  const c = orbitPosition(camera.azimuth, camera.elevation, 1);
  const d = [c.x, c.y, c.z].map((x) => x + s.perturb * gaussian(rng));
  const len = Math.hypot(d[0]!, d[1]!, d[2]!) || 1;
  const dist = camera.radius * (s.distance[0] + (s.distance[1] - s.distance[0]) * rng.next());
  return [(d[0]! / len) * dist, (d[1]! / len) * dist, (d[2]! / len) * dist];
}

/** `--background random`: a solid colour per iteration, uniform in the RGB cube. */
export function backgroundColorAt(iter: number, seed: number): [number, number, number] {
  const rng = mulberry32(deriveSeed(seed, `background/${iter}`));
  return [rng.next(), rng.next(), rng.next()];
}
