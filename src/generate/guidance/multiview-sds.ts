/**
 * Multi-view score distillation (MVDream): each iteration renders V views from a ring of the
 * multi-view training layout (a random first camera without overhead views, azimuths 360°/V
 * apart, one elevation, fov and radius) and takes the SDS gradient of their joint denoise by a
 * camera-conditioned model, one timestep for the ring, conditioned on the instance without a
 * view phrase (the cameras carry the view, as in the model's multi-view training).
 */
import * as tf from '@tensorflow/tfjs';
import { MULTIVIEW_CAMERA_RANGES, cameraRing } from '../../../renderers/camera-rig.js';
import { cameraBatch } from '../../models/camera-embedding.js';
import { cameraAt } from '../schedules.js';
import type { Guidance, GuidanceContext } from './guidance.js';
import { distillationLoss } from './sds.js';

export function createMultiviewSdsGuidance(ctx: GuidanceContext): Guidance {
  const { conditions, config, seed, model } = ctx;
  const views = config.views;
  model.unet.checkViews(views, true, '--views');
  const cond = tf.tile(conditions.plain, [views, 1, 1]) as tf.Tensor3D;
  const ring = (iter: number) => cameraRing(cameraAt(iter, seed, MULTIVIEW_CAMERA_RANGES), views);
  return {
    kind: 'multiview-sds',
    plan: (iter) => ({ cameras: ring(iter), label: `${views} views` }),
    loss(images, iter) {
      const cameras = cameraBatch(ring(iter));
      const result = distillationLoss(ctx, images, iter, cond, { views, cameras });
      cameras.dispose();
      return result;
    },
    dispose: () => cond.dispose(),
  };
}
