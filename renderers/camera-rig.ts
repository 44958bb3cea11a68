/**
 * The camera rig shared by the dataset writer, sampling and text-to-3D: one orbit camera as
 * recorded (degrees and scene units, about the origin; conventions in camera.ts), the
 * dataset's camera distribution, and the multi-view ring (MVDream's layout: V azimuths 360°/V
 * apart at one elevation, fov and radius). Text-to-3D renders from the cameras the model was
 * trained on, so both read them from here.
 */
import type { Rng } from '../src/core/random.js';
import { orbitCamera } from './camera.js';

/** An orbit camera as the dataset records it: degrees and scene units, about the origin. */
export interface SceneCamera {
  azimuth: number;
  elevation: number;
  radius: number;
  fov: number;
}

/**
 * The camera distribution of the dataset, which the 3D side reuses. Objects fill a unit
 * bounding sphere, so text-to-3D's usual radius 1.5–2.0 at fov 40–70° would crop them (the
 * sphere needs radius ≥ 1/sin(fov/2): 2.92 at 40°, 1.74 at 70°). Instead the radius follows
 * the fov: `radius = framing / sin(fov / 2)` with framing in [1.05, 1.25], so the whole
 * sphere is always in view and fills 76–93% of the frame's half-width (radius 1.83–2.18 at
 * fov 70°, 3.07–3.65 at fov 40°; 1.83–3.65 overall). Wider fovs get more perspective.
 */
export const CAMERA_RANGES = Object.freeze({
  /** Uniform over (−180°, 180°]; 0 looks at the object's front. */
  azimuth: [-180, 180] as const,
  /** Elevation of the ordinary views, uniform. */
  elevation: [-10, 45] as const,
  /** Share of overhead views ("overhead view" captions need elevation > 60°). */
  overheadProbability: 0.1,
  /** Elevation of overhead views, uniform over (60°, 90°]. */
  overheadElevation: [60, 90] as const,
  /** Vertical field of view, uniform, degrees. */
  fov: [40, 70] as const,
  /** radius · sin(fov/2), uniform: how far the unit sphere sits inside the frame (≥ 1: fully). */
  framing: [1.05, 1.25] as const,
});

/**
 * The multi-view layout's first camera: a ring's views share one elevation, and the multi-view
 * records (scene-dataset.ts) have no overhead rings, so neither do the rings that distil from,
 * or fit to, a model trained on them.
 */
export const MULTIVIEW_CAMERA_RANGES = Object.freeze({ ...CAMERA_RANGES, overheadProbability: 0 });

export interface CameraRanges {
  azimuth: readonly [number, number];
  elevation: readonly [number, number];
  overheadProbability: number;
  overheadElevation: readonly [number, number];
  fov: readonly [number, number];
  framing: readonly [number, number];
}

const DEG = Math.PI / 180;
const round = (x: number, step: number): number => Math.round(x / step) * step;
// round() leaves float noise (0.1 * 3 = 0.30000000000000004); toFixed-then-Number prints cleanly in JSON
const clean = (x: number, digits: number): number => Number(x.toFixed(digits));

/** The orbit radius at which the unit sphere sits `framing` times inside a `fov`-degree frame. */
export function frameRadius(fov: number, framing: number): number {
  return framing / Math.sin((fov * DEG) / 2);
}

/**
 * Rounds a camera to what the JSONL stores (0.01° for angles, 1e-4 for the radius), keeping
 * the azimuth in (−180, 180]. Renders use the rounded camera, so the recorded camera is
 * exactly the one the image was drawn with.
 */
export function roundCamera(c: SceneCamera): SceneCamera {
  let azimuth = clean(round(c.azimuth, 0.01), 2);
  if (azimuth <= -180) azimuth += 360;
  return { azimuth, elevation: clean(round(c.elevation, 0.01), 2), radius: clean(round(c.radius, 1e-4), 4), fov: clean(round(c.fov, 0.01), 2) };
}

/**
 * Draws one camera from `ranges` (always five draws, so what follows in the stream does
 * not depend on the outcome). Overhead elevations stay strictly above 60° after rounding.
 */
export function sampleCamera(rng: Rng, ranges: CameraRanges = CAMERA_RANGES): SceneCamera {
  const [azLo, azHi] = ranges.azimuth;
  const azimuth = azHi - (azHi - azLo) * rng.next(); // (lo, hi]
  const overhead = rng.next() < ranges.overheadProbability;
  const u = rng.next();
  const [oLo, oHi] = ranges.overheadElevation;
  const [eLo, eHi] = ranges.elevation;
  const elevation = overhead ? oHi - (oHi - oLo) * u : eLo + (eHi - eLo) * u;
  const c = framedCamera(azimuth, elevation, rng, ranges);
  if (overhead && c.elevation <= oLo) c.elevation = clean(oLo + 0.01, 2);
  return c;
}

/**
 * A camera at (azimuth, elevation) with its fov and framing drawn from `ranges` (two draws,
 * fov first), rounded as stored; the radius comes from the rounded fov, rounded up so that
 * radius · sin(fov/2) never drops below the framing. sampleCamera and the reference sets'
 * cameras end with it.
 */
export function framedCamera(azimuth: number, elevation: number, rng: Rng, ranges: Pick<CameraRanges, 'fov' | 'framing'>): SceneCamera {
  const fov = ranges.fov[0] + (ranges.fov[1] - ranges.fov[0]) * rng.next();
  const framing = ranges.framing[0] + (ranges.framing[1] - ranges.framing[0]) * rng.next();
  const c = roundCamera({ azimuth, elevation, radius: 1, fov });
  c.radius = clean(Math.ceil(frameRadius(c.fov, framing) * 1e4) / 1e4, 4);
  return c;
}

/** A three.js PerspectiveCamera for a recorded camera (square images). */
export function sceneCamera(c: SceneCamera, aspect = 1) {
  return orbitCamera({ azimuth: c.azimuth, elevation: c.elevation, radius: c.radius, fov: c.fov, aspect });
}

/** Azimuths 360°/V apart starting at `offset`, each in (−180°, 180°] and rounded as stored. */
export function viewAzimuths(offset: number, views: number): number[] {
  return Array.from({ length: views }, (_, v) => {
    let a = offset + (360 * v) / views;
    while (a > 180) a -= 360;
    return roundCamera({ azimuth: a, elevation: 0, radius: 1, fov: 1 }).azimuth;
  });
}

/** The V cameras of the multi-view layout from a first one: azimuths 360°/V apart, all else shared. */
export function cameraRing(first: SceneCamera, views: number): SceneCamera[] {
  return viewAzimuths(first.azimuth, views).map((azimuth) => ({ ...first, azimuth }));
}

/**
 * The first camera of the ring `sample --views` draws (generate's rings start at a random
 * camera, target-views.ts): the front, at the middle of the multi-view training ranges
 * (elevation 15°, fov 55°, framing 1.15). The previews of generate's assets use the same fov
 * and framing (export-asset.ts).
 */
export const RING_CAMERA: SceneCamera = Object.freeze(roundCamera({ azimuth: 0, elevation: 15, fov: 55, radius: frameRadius(55, 1.15) }));
