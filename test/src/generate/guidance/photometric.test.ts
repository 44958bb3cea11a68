/**
 * The fast path's photometric fit loss: colour MSE plus 0.5 × opacity-to-mask MSE, each pixel
 * weighed by its target mask m as m + 0.3·(1 − m), so a view's background carves less than
 * its object draws. The loss is scaled by lambda.photometric; the logged statistics are not.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../../src/backend/backend.js';
import { cameraRing, RING_CAMERA } from '../../../../renderers/camera-rig.js';
import type { GuidanceContext } from '../../../../src/generate/guidance/guidance.js';
import { createPhotometricGuidance } from '../../../../src/generate/guidance/photometric.js';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('photometric guidance', () => {
  it('weighs background pixels 0.3 and object pixels 1 in both terms, one target view per iteration', () => {
    const res = 4;
    // view 0: the first column a red object (mask 1), the other three white background (mask 0);
    // view 1: all background. Unequal areas and errors, so swapped weights or an inverted mask
    // would give other numbers.
    const target = tf.tidy(() => {
      const col = tf.tensor1d([0, 1, 1, 1]).reshape([1, 1, res, 1]).tile([1, res, 1, 1]);
      const view0 = tf.add(col, tf.mul(tf.sub(1, col), tf.tensor1d([1, 0, 0]))); // white where col = 1, red where 0
      return tf.concat([view0, tf.ones([1, res, res, 3])]) as tf.Tensor4D;
    });
    const context = (photometric: number) =>
      ({ targets: { cameras: cameraRing(RING_CAMERA, 2), images: target }, config: { lambda: { photometric } } }) as unknown as GuidanceContext;
    const guidance = createPhotometricGuidance(context(1), res);
    const grey = tf.fill([1, res, res, 3], 0.8) as tf.Tensor4D;
    const faint = tf.fill([1, res, res], 0.25) as tf.Tensor3D;
    // the plan names one camera per iteration, the target view's own
    expect(guidance.plan(0).cameras).toEqual([cameraRing(RING_CAMERA, 2)[0]]);
    expect(guidance.plan(1).cameras).toEqual([cameraRing(RING_CAMERA, 2)[1]]);

    const { loss, stats } = guidance.loss(grey, 0, [faint]);
    // colour: a red pixel's error (0.2² + 0.8² + 0.8²)/3 = 0.44 on a quarter of the pixels at
    // weight 1, a white pixel's 0.2² = 0.04 on three quarters at 0.3
    const colour0 = 0.25 * 0.44 + 0.75 * 0.04 * 0.3;
    expect(stats.loss_photometric).toBeCloseTo(colour0, 6);
    // opacity 0.25 against mask 1 on the object, 0 on the background
    const mask0 = 0.25 * 0.75 ** 2 + 0.75 * 0.25 ** 2 * 0.3;
    expect(stats.loss_mask).toBeCloseTo(mask0, 6);
    expect(loss.dataSync()[0]).toBeCloseTo(colour0 + 0.5 * mask0, 6);

    // iteration 1 fits view 1: background only
    const next = guidance.loss(grey, 1, [faint]);
    expect(next.stats.loss_photometric).toBeCloseTo(0.04 * 0.3, 6);
    expect(next.stats.loss_mask).toBeCloseTo(0.25 ** 2 * 0.3, 6);

    // lambda.photometric scales the loss (what reaches Adam), not what is logged
    const weighted = createPhotometricGuidance(context(1000), res);
    const heavy = weighted.loss(grey, 0, [faint]);
    expect(heavy.loss.dataSync()[0]).toBeCloseTo((colour0 + 0.5 * mask0) * 1000, 3);
    expect(heavy.stats).toEqual(stats);
    tf.dispose([target, grey, faint, loss, next.loss, heavy.loss]);
    guidance.dispose();
    weighted.dispose();
  });
});
