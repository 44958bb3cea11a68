/**
 * The fast path of multi-view text-to-3D (after Instant3D / LGM): draw the V views of the
 * asset's instance once with the multi-view model, at the cameras of the multi-view layout,
 * and fit the field to them photometrically before (optionally) refining with multi-view SDS.
 *
 * The draw is the ordinary sampler (`sampleImages` with views and cameras): the instance's
 * condition without a view phrase for every view, each view its own starting noise, all from
 * the asset seed, so a resumed asset redraws the same targets.
 */
import * as tf from '@tensorflow/tfjs';
import { deriveSeed, mulberry32 } from '../core/random.js';
import { MULTIVIEW_CAMERA_RANGES, cameraRing, sampleCamera, type SceneCamera } from '../../renderers/camera-rig.js';
import { cameraBatch } from '../models/camera-embedding.js';
import type { DiffusionModel } from '../pipeline/diffusion-model.js';
import { sampleImages } from '../pipeline/text-to-image.js';
import type { ViewConditions } from './view-conditions.js';

export interface TargetViews {
  cameras: SceneCamera[];
  /** [V, H, W, 3] sRGB in [0, 1], the model's image size. */
  images: tf.Tensor4D;
}

/** Where the target views are drawn from, given the first camera: the multi-view ring by default. */
export type TargetLayout = (first: SceneCamera, views: number) => SceneCamera[];

/**
 * V views of the instance at a ring of the multi-view layout (a first camera drawn from the
 * training ranges without overhead views), sampled jointly with the model's own settings.
 * `layout` places the cameras around the first (experiments try other layouts; the views it
 * returns are sampled together, however many).
 */
export function sampleTargetViews(
  model: DiffusionModel,
  conditions: ViewConditions,
  views: number,
  sampling: { steps: number; guidance: number },
  seed: number,
  layout: TargetLayout = cameraRing,
): TargetViews {
  const first = sampleCamera(mulberry32(deriveSeed(seed, 'targets/camera')), MULTIVIEW_CAMERA_RANGES);
  const cameras = layout(first, views);
  const [height, width] = model.defaultSize;
  const cond = tf.tile(conditions.plain, [cameras.length, 1, 1]) as tf.Tensor3D;
  const features = cameraBatch(cameras);
  try {
    const images = sampleImages(model, {
      cond,
      uncond: conditions.uncond,
      steps: sampling.steps,
      guidance: sampling.guidance,
      height,
      width,
      seed: deriveSeed(seed, 'targets'),
      views: cameras.length,
      cameras: features,
    });
    return { cameras, images };
  } finally {
    tf.dispose([cond, features]);
  }
}
