/**
 * The denoising loss that trains soft prompts through a frozen UNet: each image is noised
 * once and denoised under S sampled conditions, and every sample's MSE is weighted with
 * Min-SNR-γ (Hang et al.) in the model's prediction type (the training scheduler's, read from
 * its config).
 */
import * as tf from '@tensorflow/tfjs';
import type { UNet2DConditionModel } from '../models/unet.js';
import type { DDPMScheduler } from '../schedulers/ddpm.js';

export interface NoisedBatch {
  /** [B, H, W, C] clean images or latents, NHWC. */
  x0: tf.Tensor4D;
  /** [B, H, W, C] Gaussian noise. */
  noise: tf.Tensor4D;
  /** B integer timesteps. */
  t: number[];
}

/**
 * Min-SNR-γ weights per sample: min(snr, γ)/snr for epsilon, min(snr, γ)/(snr + 1) for
 * v-prediction (the v target's scale is snr + 1 times epsilon's), min(snr, γ) for x0.
 */
export function minSnrWeights(ddpm: DDPMScheduler, t: number[], gamma: number): tf.Tensor1D {
  const prediction = ddpm.predictionType;
  return tf.tidy(() => {
    const snr = ddpm.snr(t);
    const clipped = tf.minimum(snr, gamma);
    if (prediction === 'epsilon') return tf.div(clipped, snr) as tf.Tensor1D;
    if (prediction === 'v_prediction') return tf.div(clipped, tf.add(snr, 1)) as tf.Tensor1D;
    return clipped as tf.Tensor1D;
  });
}

/** Repeats each row of a batch `times` times, the copies next to their row (torch's repeat_interleave on axis 0). */
export function repeatRows<T extends tf.Tensor>(x: T, times: number): T {
  if (times === 1) return x.clone();
  return tf.tidy(() => {
    const [b, ...rest] = x.shape;
    return tf.tile(x.expandDims(1), [1, times, ...rest.map(() => 1)]).reshape([b * times, ...rest]) as T;
  });
}

/**
 * How an image's S sample losses combine. `mean` is DreamDistribution's loss. `best` keeps
 * only the sample that denoises the image best (winner-takes-all, as in multiple-choice
 * learning): the mean over ε can only be lowered by shrinking σ, because ε does not depend on
 * the image, while the best of S rewards a spread whose samples land on different references.
 */
export const SAMPLE_REDUCTIONS = ['mean', 'best'] as const;
export type SampleReduction = (typeof SAMPLE_REDUCTIONS)[number];

/**
 * Mean over the B images of w(t) × their samples' MSE, reduced over the S samples as `reduce`
 * says. `conditions` [B·S, L, D] holds image b's S conditions at rows b·S … b·S+S−1.
 */
export function denoiseLoss(
  unet: UNet2DConditionModel,
  ddpm: DDPMScheduler,
  batch: NoisedBatch,
  conditions: tf.Tensor3D,
  gamma = 5,
  reduce: SampleReduction = 'mean',
): tf.Scalar {
  return tf.tidy(() => {
    const b = batch.t.length;
    const s = conditions.shape[0] / b;
    if (!Number.isInteger(s)) throw new Error(`denoiseLoss: ${conditions.shape[0]} conditions for ${b} images`);
    const t = batch.t.flatMap((x) => new Array<number>(s).fill(x));
    const xt = repeatRows(ddpm.addNoise(batch.x0, batch.noise, batch.t) as tf.Tensor4D, s);
    const target = repeatRows(ddpm.trainingTarget(batch.x0, batch.noise, batch.t) as tf.Tensor4D, s);
    const pred = unet.forward(xt, t, conditions);
    const perSample = tf.mul(minSnrWeights(ddpm, t, gamma), tf.mean(tf.squaredDifference(pred, target), [1, 2, 3]));
    if (reduce === 'mean') return tf.mean(perSample) as tf.Scalar;
    return tf.mean(tf.min(perSample.reshape([b, s]), 1)) as tf.Scalar;
  });
}
