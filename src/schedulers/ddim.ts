/**
 * DDIM with eta = 0: the deterministic sampler of Song et al., as diffusers' DDIMScheduler.
 *
 * Stateless between steps: each step only needs ᾱ at t and at the previous timestep.
 * Scalar coefficients are rounded to float32 the way torch computes them, so the only
 * difference from diffusers is the backend's float32 arithmetic on the tensors.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import type { DDIMConfig, PredictionType } from './config.js';
import { checkTimestep, makeNoiseSchedule, type NoiseSchedule } from './noise-schedule.js';
import { f32, sqrt32 } from './numeric.js';
import type { Scheduler } from './scheduler.js';
import { checkInferenceSteps, ddimTimesteps } from './timesteps.js';

export class DDIMScheduler implements Scheduler {
  readonly kind = 'ddim' as const;
  readonly schedule: NoiseSchedule;
  readonly predictionType: PredictionType;
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  /** ᾱ used after the last step: 1 (fully clean) or ᾱ_0, per set_alpha_to_one. */
  readonly finalAlphaCumprod: number;
  private numInferenceSteps = 0;

  constructor(readonly config: DDIMConfig) {
    this.schedule = makeNoiseSchedule(config);
    this.predictionType = config.predictionType;
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : this.schedule.alphasCumprod[0]!;
  }

  setTimesteps(numInferenceSteps: number): void {
    checkInferenceSteps(numInferenceSteps, this.schedule.numTrainTimesteps, 'DDIM');
    this.numInferenceSteps = numInferenceSteps;
    this.timesteps = ddimTimesteps(this.config, numInferenceSteps);
  }

  scaleModelInput(sample: tf.Tensor): tf.Tensor {
    return tf.clone(sample);
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    if (this.numInferenceSteps === 0) throw new Dd3dError('DDIM: call setTimesteps before stepping');
    const ac = this.schedule.alphasCumprod;
    checkTimestep(this.schedule, t, 'DDIM');
    // diffusers steps back by floor(N/n) whatever the spacing, so with "linspace" or
    // "trailing" the previous ᾱ is not that of the next scheduled timestep. Matched on purpose.
    const prevT = t - Math.floor(this.schedule.numTrainTimesteps / this.numInferenceSteps);
    const alphaT = ac[t]!;
    const alphaPrev = prevT >= 0 ? ac[prevT]! : this.finalAlphaCumprod;
    const betaT = f32(1 - alphaT);
    const sqrtA = sqrt32(alphaT);
    const sqrtB = sqrt32(betaT);
    return tf.tidy(() => {
      let x0: tf.Tensor;
      let eps: tf.Tensor;
      switch (this.predictionType) {
        case 'epsilon':
          x0 = tf.div(tf.sub(sample, tf.mul(sqrtB, modelOutput)), sqrtA);
          eps = modelOutput;
          break;
        case 'v_prediction':
          x0 = tf.sub(tf.mul(sqrtA, sample), tf.mul(sqrtB, modelOutput));
          eps = tf.add(tf.mul(sqrtA, modelOutput), tf.mul(sqrtB, sample));
          break;
        case 'sample':
          x0 = modelOutput;
          eps = tf.div(tf.sub(sample, tf.mul(sqrtA, x0)), sqrtB);
          break;
      }
      // Clipping changes x0 only; diffusers keeps the unclipped epsilon for the direction term.
      if (this.config.clipSample) x0 = tf.clipByValue(x0, -this.config.clipSampleRange, this.config.clipSampleRange);
      const direction = tf.mul(sqrt32(f32(1 - alphaPrev)), eps);
      return tf.add(tf.mul(sqrt32(alphaPrev), x0), direction);
    });
  }

  reset(): void {}

  dispose(): void {}
}
