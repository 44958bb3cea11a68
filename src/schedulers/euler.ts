/**
 * Euler (Karras et al. Algorithm 2 without churn), as diffusers' EulerDiscreteScheduler.
 *
 * Works in the sigma parameterisation x = x0 + sigma·eps, where the latents are not unit
 * variance: the model sees x / sqrt(sigma² + 1), and sampling starts from noise scaled by
 * initNoiseSigma. Sigmas at fractional timesteps are linearly interpolated in float64 over
 * the float32 training sigmas (np.interp), then stored as float32, as diffusers does.
 */
import * as tf from '@tensorflow/tfjs';
import type { EulerConfig, PredictionType } from './config.js';
import { makeNoiseSchedule, trainingSigmas, type NoiseSchedule } from './noise-schedule.js';
import { f32, interpIndex, sqrt32 } from './numeric.js';
import { StepCounter, type Scheduler } from './scheduler.js';
import { checkInferenceSteps, eulerTimesteps } from './timesteps.js';

export class EulerDiscreteScheduler implements Scheduler {
  readonly kind = 'euler' as const;
  readonly schedule: NoiseSchedule;
  readonly predictionType: PredictionType;
  timesteps: number[] = [];
  /** One sigma per timestep plus the final one (0 or sigma_min), float32 values. */
  sigmas: number[];
  private readonly trainSigmas: Float32Array;
  private readonly counter = new StepCounter('Euler');

  constructor(readonly config: EulerConfig) {
    this.schedule = makeNoiseSchedule(config);
    this.predictionType = config.predictionType;
    this.trainSigmas = trainingSigmas(this.schedule);
    // Before setTimesteps diffusers holds every training sigma (descending) and a final 0.
    this.sigmas = [...this.trainSigmas].reverse().concat(0);
  }

  /** "leading" spacing never reaches the last training timestep, so diffusers adds the 1 back. */
  get initNoiseSigma(): number {
    const max = Math.max(...this.sigmas);
    return this.config.timestepSpacing === 'leading' ? sqrt32(f32(f32(max * max) + 1)) : max;
  }

  setTimesteps(numInferenceSteps: number): void {
    checkInferenceSteps(numInferenceSteps, this.schedule.numTrainTimesteps, 'Euler');
    this.timesteps = eulerTimesteps(this.config, numInferenceSteps);
    const last = this.config.finalSigmasType === 'zero' ? 0 : this.trainSigmas[0]!;
    this.sigmas = this.timesteps.map((t) => f32(interpIndex(t, this.trainSigmas))).concat(last);
    this.counter.reset();
  }

  scaleModelInput(sample: tf.Tensor, t: number): tf.Tensor {
    const sigma = this.sigmas[this.counter.at(this.timesteps, t)]!;
    return tf.tidy(() => tf.div(sample, sqrt32(f32(f32(sigma * sigma) + 1))));
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const i = this.counter.at(this.timesteps, t);
    const sigma = this.sigmas[i]!;
    const dt = f32(this.sigmas[i + 1]! - sigma);
    const out = tf.tidy(() => {
      let x0: tf.Tensor;
      switch (this.predictionType) {
        case 'epsilon':
          x0 = tf.sub(sample, tf.mul(sigma, modelOutput));
          break;
        case 'v_prediction': {
          const s2p1 = f32(f32(sigma * sigma) + 1);
          x0 = tf.add(tf.mul(modelOutput, f32(-sigma / sqrt32(s2p1))), tf.div(sample, s2p1));
          break;
        }
        case 'sample':
          x0 = modelOutput;
          break;
      }
      const derivative = tf.div(tf.sub(sample, x0), sigma);
      return tf.add(sample, tf.mul(derivative, dt));
    });
    this.counter.advance();
    return out;
  }

  reset(): void {
    this.counter.reset();
  }

  dispose(): void {
    this.counter.reset();
  }
}
