/**
 * Single-view score distillation (DreamFusion): one camera of the dataset's distribution per
 * iteration, conditioned on the instance with that camera's view phrase ("…, front view").
 * The path for Stable Diffusion folders and single-view built-in models.
 */
import { viewPhrase } from '../../../scenes/index.js';
import { deriveSeed } from '../../core/random.js';
import { cameraAt, timestepAt } from '../schedules.js';
import { sdsLoss } from '../sds.js';
import type { Guidance, GuidanceContext } from './guidance.js';

export function createSdsGuidance(ctx: GuidanceContext): Guidance {
  const { conditions, config, seed } = ctx;
  const trainSteps = ctx.model.trainingScheduler.schedule.numTrainTimesteps;
  return {
    kind: 'sds',
    plan(iter) {
      const camera = cameraAt(iter, seed);
      return { cameras: [camera], label: viewPhrase(camera.azimuth, camera.elevation) };
    },
    loss(images, iter) {
      const camera = cameraAt(iter, seed);
      const t = timestepAt(config.timesteps, iter, config.iters, trainSteps, seed);
      const cond = conditions.byView.get(viewPhrase(camera.azimuth, camera.elevation))!;
      const s = sdsLoss(ctx.model, images, {
        cond,
        uncond: conditions.uncond,
        t: [t],
        guidance: config.guidance,
        gradClip: config.gradClip,
        seed: deriveSeed(seed, `noise/${iter}`),
      });
      return { loss: s.loss, stats: { loss_sds: s.magnitude, t }, nonFinite: s.nonFinite };
    },
    dispose() {},
  };
}
