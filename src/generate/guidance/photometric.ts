/**
 * The fast path's fit (after Instant3D / LGM): the renders are pulled towards the V views of
 * the instance sampled once by the multi-view model (target-views.ts), one view per
 * iteration in turn, by the MSE in sRGB. Albedo shading on white, as the targets were drawn.
 *
 * Colour alone lets a faint cloud match a white background as well as empty space does, and
 * the fit then leaves semi-transparent density everywhere. So the render's opacity is also
 * pulled towards a mask of the target: min(1, max_c(1 − target_c) / 0.1), 1 where the pixel
 * is clearly not background white (MASK_WEIGHT × MSE, as src/bench/fields.ts's fitField). A white object
 * gets a faint mask: the background and it cannot be told apart by colour.
 *
 * Both terms weigh a pixel by m + BACKGROUND_WEIGHT·(1 − m), m its target mask. The four
 * sampled views do not agree on thin parts (a chair's legs stand a pixel apart from view to
 * view), and at full weight each view's background carves away what another view draws.
 *
 * The loss is × lambda.photometric (`--lambda-photometric`). Alone (the fit) Adam rescales it;
 * in refits between SDS iterations (`--fit-every`) it sets their pull against the SDS
 * gradient, a sum over pixels some thousands of times this mean's.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../../core/errors.js';
import type { Guidance, GuidanceContext } from './guidance.js';

/** Weight of the opacity-to-mask MSE next to the colour MSE. */
const MASK_WEIGHT = 0.5;
/**
 * Weight of the target's background pixels next to its object pixels. Measured on models/dd3d-mv
 * with the chairs of examples/results-3d.sh (3 assets, one distribution): 1 gave family 91.7%,
 * back 75.0%, Chamfer 0.102; 0.3 gave 95.8%, 83.3%, 0.094. Tables and vases barely moved
 * (docs/generate-record.md, "Background weight").
 */
const BACKGROUND_WEIGHT = 0.3;

export function createPhotometricGuidance(ctx: GuidanceContext, res: number): Guidance {
  if (!ctx.targets) throw new Dd3dError('photometric guidance: no target views (the fast path samples them first)');
  const { cameras } = ctx.targets;
  const images = tf.tidy(() => {
    const t = ctx.targets!.images;
    return t.shape[1] === res && t.shape[2] === res ? t.clone() : (tf.image.resizeBilinear(t, [res, res], false, true) as tf.Tensor4D);
  });
  const masks = tf.tidy(() => tf.minimum(tf.div(tf.max(tf.sub(1, images), 3), 0.1), 1)) as tf.Tensor3D;
  // each pixel's weight in both terms, fixed with the targets: m + BACKGROUND_WEIGHT·(1 − m)
  const weights = tf.tidy(() => tf.add(tf.mul(masks, 1 - BACKGROUND_WEIGHT), BACKGROUND_WEIGHT)) as tf.Tensor3D;
  return {
    kind: 'photometric',
    plan: (iter) => ({
      cameras: [cameras[iter % cameras.length]!],
      label: 'fit',
      shading: 'albedo',
      background: { kind: 'solid', color: [1, 1, 1] },
      normals: false,
    }),
    loss(renders, iter, opacity) {
      const k = iter % cameras.length;
      const target = masks.slice([k, 0, 0], [1, -1, -1]).reshape([res, res]);
      const weight = weights.slice([k, 0, 0], [1, -1, -1]).reshape([res, res]);
      const colour = tf.mean(tf.mul(weight.reshape([1, res, res, 1]), tf.squaredDifference(renders, images.slice([k, 0, 0, 0], [1, -1, -1, -1])))) as tf.Scalar;
      const mask = tf.mean(tf.mul(weight, tf.squaredDifference(opacity[0]!.reshape([res, res]), target))) as tf.Scalar;
      // both statistics in one read-back per iteration
      const [c, m] = tf.tidy(() => tf.stack([colour, mask]).dataSync());
      return {
        loss: tf.mul(tf.add(colour, tf.mul(mask, MASK_WEIGHT)), ctx.config.lambda.photometric) as tf.Scalar,
        stats: { loss_photometric: c!, loss_mask: m! },
      };
    },
    dispose: () => tf.dispose([images, masks, weights]),
  };
}
