/**
 * Single-view score distillation (DreamFusion): one camera of the dataset's distribution per
 * iteration, conditioned on the instance with that camera's view phrase ("…, front view").
 * The path for Stable Diffusion folders and single-view built-in models.
 */
import type * as tf from '@tensorflow/tfjs';
import { viewPhrase } from '../../../scenes/index.js';
import { deriveSeed } from '../../core/random.js';
import { cameraAt, timestepAt } from '../schedules.js';
import { sdsLoss, type SdsOptions } from '../sds.js';
import type { Guidance, GuidanceContext, GuidanceLoss } from './guidance.js';

/**
 * The SDS step both distilling guidances take at iteration `iter`: the iteration's timestep
 * (annealed, schedules.ts) for every image and its own noise seed, conditioned on `cond`;
 * `joint` adds the multi-view model's views and cameras.
 */
export function distillationLoss(
  ctx: GuidanceContext,
  images: tf.Tensor4D,
  iter: number,
  cond: tf.Tensor3D,
  joint: Pick<SdsOptions, 'views' | 'cameras'> = {},
): GuidanceLoss {
  const { config, seed, model } = ctx;
  const t = timestepAt(config.timesteps, iter, config.iters, model.trainingScheduler.schedule.numTrainTimesteps, seed);
  const s = sdsLoss(model, images, {
    cond,
    uncond: ctx.conditions.uncond,
    t: new Array<number>(images.shape[0]).fill(t),
    guidance: config.guidance,
    gradClip: config.gradClip,
    seed: deriveSeed(seed, `noise/${iter}`),
    ...joint,
  });
  return { loss: s.loss, stats: { loss_sds: s.magnitude, t }, nonFinite: s.nonFinite };
}

export function createSdsGuidance(ctx: GuidanceContext): Guidance {
  const { conditions, seed } = ctx;
  return {
    kind: 'sds',
    plan(iter) {
      const camera = cameraAt(iter, seed);
      return { cameras: [camera], label: viewPhrase(camera.azimuth, camera.elevation) };
    },
    loss(images, iter) {
      const camera = cameraAt(iter, seed);
      return distillationLoss(ctx, images, iter, conditions.byView.get(viewPhrase(camera.azimuth, camera.elevation))!);
    },
    dispose() {},
  };
}
