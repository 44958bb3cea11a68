/**
 * Multi-view score distillation (MVDream): each iteration renders V views from a ring of the
 * multi-view training layout (a random first camera without overhead views, azimuths 360°/V
 * apart, one elevation, fov and radius) and takes the SDS gradient of their joint denoise by a
 * camera-conditioned model, one timestep for the ring, conditioned on the instance without a
 * view phrase (the cameras carry the view, as in the model's multi-view training).
 */
import * as tf from '@tensorflow/tfjs';
import { deriveSeed } from '../../core/random.js';
import { CAMERA_RANGES, cameraRing } from '../../../renderers/camera-rig.js';
import { cameraBatch } from '../../models/camera-embedding.js';
import { cameraAt, timestepAt } from '../schedules.js';
import { sdsLoss } from '../sds.js';
import type { Guidance, GuidanceContext } from './guidance.js';

/** The multi-view model trained on no overhead views: its rings stay at the ordinary elevations. */
const RING_RANGES = { ...CAMERA_RANGES, overheadProbability: 0 };

export function createMultiviewSdsGuidance(ctx: GuidanceContext): Guidance {
  const { conditions, config, seed, model } = ctx;
  const views = config.views;
  model.unet.checkViews(views, true, '--views');
  const trainSteps = model.trainingScheduler.schedule.numTrainTimesteps;
  const cond = tf.tile(conditions.plain, [views, 1, 1]) as tf.Tensor3D;
  const ring = (iter: number) => cameraRing(cameraAt(iter, seed, RING_RANGES), views);
  return {
    kind: 'multiview-sds',
    plan: (iter) => ({ cameras: ring(iter), label: `${views} views` }),
    loss(images, iter) {
      const t = timestepAt(config.timesteps, iter, config.iters, trainSteps, seed);
      const cameras = cameraBatch(ring(iter));
      const s = sdsLoss(model, images, {
        cond,
        uncond: conditions.uncond,
        t: new Array<number>(views).fill(t),
        guidance: config.guidance,
        gradClip: config.gradClip,
        seed: deriveSeed(seed, `noise/${iter}`),
        views,
        cameras,
      });
      cameras.dispose();
      return { loss: s.loss, stats: { loss_sds: s.magnitude, t }, nonFinite: s.nonFinite };
    },
    dispose: () => cond.dispose(),
  };
}
