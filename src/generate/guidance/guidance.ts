/**
 * The guidance interface of the text-to-3D loop (threestudio's "guidance" component): what to
 * render at an iteration, and the loss that pulls those renders towards the model's idea of
 * the asset. The loop (generate-asset.ts) renders, sums guidance and regularizer terms, steps
 * Adam; it knows nothing of diffusion. Implementations live beside this file, one per file,
 * each with one line in index.ts.
 *
 * Every draw a guidance makes (camera, timestep, noise) is a pure function of (seed,
 * iteration), so a resumed asset continues exactly.
 */
import type * as tf from '@tensorflow/tfjs';
import type { VolumeBackground } from '../../../renderers/volume.js';
import type { SceneCamera } from '../../../renderers/camera-rig.js';
import type { DiffusionModel } from '../../pipeline/diffusion-model.js';
import type { GenerateConfig } from '../config.js';
import type { Shading } from '../schedules.js';
import type { TargetViews } from '../target-views.js';
import type { ViewConditions } from '../view-conditions.js';

/** What a guidance needs to be built. */
export interface GuidanceContext {
  model: DiffusionModel;
  conditions: ViewConditions;
  config: GenerateConfig;
  /** The asset's seed. */
  seed: number;
  /** The fast path's sampled views, when there are any. */
  targets?: TargetViews;
}

/** The renders an iteration asks for; unset fields take the loop's own schedule. */
export interface IterationPlan {
  cameras: SceneCamera[];
  /** For the progress bar: the view phrase, "4 views", "fit". */
  label: string;
  shading?: Shading;
  background?: VolumeBackground;
  /** false: no normals (albedo only, and no orientation loss). */
  normals?: boolean;
}

export interface GuidanceLoss {
  /** A scalar on the tape whose gradient in the renders is the guidance's. */
  loss: tf.Scalar;
  /** Numbers to log, named as threestudio logs them (loss_sds, t, …). The first is the one the run's loss curve records. */
  stats: Record<string, number>;
  /** SDS gradient elements that were NaN or ±Inf and were zeroed. */
  nonFinite?: number;
}

export interface Guidance {
  readonly kind: string;
  plan(iter: number): IterationPlan;
  /**
   * `images`: the plan's renders, sRGB in [0, 1], [V, H, W, 3], on the tape; `opacity`: each
   * render's accumulated opacity [H, W], on the tape too (for guidances that supervise it).
   */
  loss(images: tf.Tensor4D, iter: number, opacity: tf.Tensor[]): GuidanceLoss;
  dispose(): void;
}
