/**
 * The settings of one text-to-3D run as one plain object: every `--flag` of `dd3d generate`
 * overrides a field here, and the manifest records the whole object.
 */
import type { FieldConfig } from '../../nerf/index.js';
import type { LightSchedule, ShadingSchedule, TimestepSchedule } from './schedules.js';

export type BackgroundKind = 'white' | 'random' | 'learned';

export interface GenerateConfig {
  /** The radiance field and its settings (nerf/index.ts's FIELDS registry, by kind). */
  field: FieldConfig;
  iters: number;
  /**
   * Views rendered and denoised jointly per iteration: 1 (single-view SDS with view phrases),
   * or a camera-conditioned multi-view model's V (multi-view SDS). `dd3d generate` picks the
   * model's V unless told (see `defaultViews`).
   */
  views: number;
  /**
   * The fast path (multi-view models): the first fitIters of the `iters` iterations fit the
   * field photometrically to V views of the instance sampled once (target-views.ts), one view
   * per iteration; the rest are score distillation. 0: SDS only.
   */
  fitIters: number;
  /**
   * After the fit, every fitEvery-th iteration fits the target views again instead of
   * distilling (0: never), so score distillation refines the fitted shape without drifting
   * from the views (Magic123 and DreamCraft3D keep their reference-view loss all along).
   */
  fitEvery: number;
  /** Render side in pixels; the model's own size when null. */
  res: number | null;
  samplesPerRay: number;
  /** Classifier-free guidance scale of the score-distillation UNet call. */
  guidance: number;
  /** Clip each SDS gradient element to ±gradClip (0: off). */
  gradClip: number;
  timesteps: TimestepSchedule;
  shading: ShadingSchedule;
  light: LightSchedule;
  /** The dataset renders on white, so white is what the built-in model knows. */
  background: BackgroundKind;
  lambda: {
    /** Normals facing away from the camera (DreamFusion's orientation loss). */
    orient: number;
    /** Mean opacity: empty space stays empty. */
    sparsity: number;
    /** Binary entropy of the opacity: pixels are either object or background. */
    entropy: number;
    /**
     * The fast path's photometric loss (guidance/photometric.ts). Adam rescales a stretch of
     * iterations of one loss alone, so this matters only where fit iterations alternate with
     * score distillation (fitEvery): the SDS gradient is thousands of times the mean squared
     * error's, and at weight 1 the refits barely move the field.
     */
    photometric: number;
  };
  /** Learning rate of each parameter group (Adam, β = 0.9/0.99). */
  lr: { encoding: number; mlp: number; background: number };
  /** Occupancy grid refresh interval, iterations. */
  occupancyEvery: number;
  previewEvery: number;
  checkpointEvery: number;
  /** Mesh extraction; `level` is the iso level on density, chosen by rule (nerf/iso-level.ts) or given. */
  mesh: { resolution: number; targetTriangles: number; level: MeshLevel };
}

/** 'auto': half the robust maximum, lower when that surface is lace; 'half-max': half the robust maximum alone; or a density. */
export type MeshLevel = 'auto' | 'half-max' | number;

/** A rule or a finite density > 0 (`--mesh-level`, and a queued job's `mesh.level`). */
export function isMeshLevel(v: unknown): v is MeshLevel {
  return v === 'auto' || v === 'half-max' || (typeof v === 'number' && Number.isFinite(v) && v > 0);
}

/** The chances of an albedo, lambertian and textureless render after the warm-up (`--shading`). */
export type ShadingMix = Pick<ShadingSchedule, 'albedo' | 'lambertian' | 'textureless'>;

/** Three finite chances ≥ 0 that sum to 1 (`--shading`, and a queued job's `shading`). */
export function isShadingMix(m: ShadingMix): boolean {
  const parts = [m.albedo, m.lambertian, m.textureless];
  return parts.every((x) => Number.isFinite(x) && x >= 0) && Math.abs(parts[0]! + parts[1]! + parts[2]! - 1) <= 1e-6;
}

export const GENERATE_DEFAULTS: GenerateConfig = {
  field: { kind: 'grid' },
  iters: 600,
  views: 1,
  fitIters: 0,
  fitEvery: 0,
  res: null,
  samplesPerRay: 48,
  guidance: 20,
  gradClip: 0,
  timesteps: { min: 0.02, maxStart: 0.98, maxEnd: 0.5, annealUntil: 0.5 },
  shading: { warmupIters: 100, albedo: 0.25, lambertian: 0.5, textureless: 0.25 },
  light: { perturb: 1, distance: [0.8, 1.5], ambient: 0.3 },
  background: 'white',
  lambda: { orient: 0.01, sparsity: 0.001, entropy: 0, photometric: 1 },
  lr: { encoding: 1e-2, mlp: 1e-3, background: 1e-3 },
  occupancyEvery: 16,
  previewEvery: 100,
  checkpointEvery: 100,
  mesh: { resolution: 128, targetTriangles: 20000, level: 'auto' },
};

/**
 * The fields whose defaults differ with multi-view SDS, shaped as the config's own (`dd3d
 * generate` applies them under the user's flags; applyModelSettings in cli/generate.ts).
 * Each iteration renders V views, so there are fewer of them, the first
 * fitIters spent on the fast path's photometric fit. The fit gives the layout (a chair's tall
 * back) but carves away what the four 32-pixel views disagree on (the legs); SDS grows them
 * back. Measured on mv32p's step 4,700 (EMA), 3 chairs each (examples/results-3d.sh): 200 fit
 * + 100 SDS iterations gave family 54.2%, back 100%, Chamfer 0.122 (boots: backs without
 * legs); 150 + 250 gave family 83.3%, back 83.3%, Chamfer 0.109 (docs/generate-record.md, "The split").
 */
export const MULTIVIEW_DEFAULTS = {
  iters: 650,
  fitIters: 150,
  /**
   * After the fit every second iteration refits the target views, weighed 1000 against score
   * distillation (lambda.photometric says why it needs a weight), so each asset keeps its own
   * instance's colours where SDS alone pulls every one to the prompt's mode (all tables yellow,
   * all vases brown); 650 iterations give SDS the 250 it had before the refits. Measured on
   * models/dd3d-mv over seeds 0–2, 3 assets each (examples/results-3d.sh, 2026-12-06), against
   * 400 iterations without refits: vases of a reference colour 9 of 9 (0 of 9), chairs family
   * 90.3% (91.7), back 90.3% (87.5), Chamfer 0.085 (0.086); the tables lose family, 75.0%
   * (88.9), one seed's thick-topped tables read as chairs (docs/generate-record.md,
   * "Weighing the refits"). 2.2 min per asset for the main command (1.75 before).
   */
  fitEvery: 2,
  lambda: { ...GENERATE_DEFAULTS.lambda, photometric: 1000 },
  /**
   * No albedo-only renders after the warm-up: the shaded and textureless renders are where SDS
   * reads shape (the lit ones still pull the colour to the prompt's mode). Measured on
   * models/dd3d-mv, 3 assets per set (examples/results-3d.sh, 2026-12-06), against 0.25 / 0.5 /
   * 0.25: back 91.7% (87.5), a table's height 95.8% (79.2), a vase's roundness 100% (83.3),
   * Chamfer 0.095 / 0.089 / 0.127 (0.095 / 0.103 / 0.132); diversity 0.085 / 0.075 / 0.062
   * (0.095 / 0.087 / 0.061); colours as before (docs/generate-record.md, "Shading during multi-view SDS").
   */
  shading: { ...GENERATE_DEFAULTS.shading, albedo: 0, lambertian: 0.5, textureless: 0.5 },
} as const satisfies Partial<GenerateConfig>;

/** The views a model distils best with: its trained V when it is camera-conditioned, else 1. */
export function defaultViews(unet: { config: { camera_dim: number | null; num_views: number | null } }): number {
  return unet.config.camera_dim !== null && unet.config.num_views !== null ? unet.config.num_views : 1;
}
