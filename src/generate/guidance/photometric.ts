/**
 * The fast path's fit (after Instant3D / LGM): the renders are pulled towards the V views of
 * the instance sampled once by the multi-view model (target-views.ts), one view per
 * iteration in turn, by the MSE in sRGB. Albedo shading on white, as the targets were drawn.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../../errors.js';
import type { Guidance, GuidanceContext } from './guidance.js';

export function createPhotometricGuidance(ctx: GuidanceContext, res: number): Guidance {
  if (!ctx.targets) throw new Dd3dError('photometric guidance: no target views (the fast path samples them first)');
  const { cameras } = ctx.targets;
  const images = tf.tidy(() => {
    const t = ctx.targets!.images;
    return t.shape[1] === res && t.shape[2] === res ? t.clone() : (tf.image.resizeBilinear(t, [res, res], false, true) as tf.Tensor4D);
  });
  return {
    kind: 'photometric',
    plan: (iter) => ({ cameras: [cameras[iter % cameras.length]!], label: 'fit', shading: 'albedo', background: { kind: 'solid', color: [1, 1, 1] }, normals: false }),
    loss(renders, iter) {
      const k = iter % cameras.length;
      const loss = tf.mean(tf.squaredDifference(renders, images.slice([k, 0, 0, 0], [1, -1, -1, -1]))) as tf.Scalar;
      return { loss, stats: { loss_photometric: loss.dataSync()[0]! } };
    },
    dispose: () => images.dispose(),
  };
}
