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
  it('weighs background pixels 0.3 and object pixels 1 in both terms', () => {
    const res = 4;
    // target: left half a red object (mask 1), right half white background (mask 0)
    const target = tf.tidy(() => {
      const col = tf.tensor1d([0, 0, 1, 1]).reshape([1, 1, res, 1]).tile([1, res, 1, 1]);
      return tf.add(col, tf.mul(tf.sub(1, col), tf.tensor1d([1, 0, 0]))) as tf.Tensor4D; // white where col = 1, red where 0
    });
    const context = (photometric: number) =>
      ({ targets: { cameras: cameraRing(RING_CAMERA, 1), images: target }, config: { lambda: { photometric } } }) as unknown as GuidanceContext;
    const guidance = createPhotometricGuidance(context(1), res);
    const grey = tf.fill([1, res, res, 3], 0.5) as tf.Tensor4D;
    const half = tf.fill([1, res, res], 0.5) as tf.Tensor3D;
    const { loss, stats } = guidance.loss(grey, 0, [half]);
    // colour: object pixels (0.25 + 0.25 + 0.25)/3 = 0.25, background 0.25 · 0.3; half of each
    expect(stats.loss_photometric).toBeCloseTo(0.5 * 0.25 + 0.5 * 0.25 * 0.3, 6);
    // opacity 0.5 against 1 and 0: 0.25 on each side, the background side at 0.3
    expect(stats.loss_mask).toBeCloseTo(0.5 * 0.25 + 0.5 * 0.25 * 0.3, 6);
    expect(loss.dataSync()[0]).toBeCloseTo(stats.loss_photometric! * 1.5, 6);
    // lambda.photometric scales the loss (what reaches Adam), not what is logged
    const weighted = createPhotometricGuidance(context(1000), res);
    const heavy = weighted.loss(grey, 0, [half]);
    expect(heavy.loss.dataSync()[0]).toBeCloseTo(stats.loss_photometric! * 1.5 * 1000, 3);
    expect(heavy.stats).toEqual(stats);
    tf.dispose([target, grey, half, loss, heavy.loss]);
    guidance.dispose();
    weighted.dispose();
  });
});
