/**
 * DDPM training helpers: forward noising, the regression target of the model's prediction
 * type (ε, v or x0) and the SNR, for a batch of per-sample integer timesteps. Coefficients only broadcast over the first (batch) axis,
 * so NHWC and NCHW tensors both work; a batch of 1 broadcasts against many timesteps.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { asComponent, readNoiseScheduleConfig, type ConfigSource, type PredictionType } from './config.js';
import { checkTimestep, makeNoiseSchedule, type NoiseSchedule } from './noise-schedule.js';
import { f32, sqrt32 } from './numeric.js';

/** Per-sample timesteps: plain integers, or an int32/float tensor of shape [batch]. */
export type Timesteps = readonly number[] | Int32Array | tf.Tensor1D;

export class DDPMScheduler {
  readonly schedule: NoiseSchedule;
  /** What the UNet trained on this schedule predicts: the config's prediction_type (default epsilon). */
  readonly predictionType: PredictionType;
  // Per-timestep float32 tables, rounded as diffusers computes them in torch.
  private readonly sqrtAlpha: Float32Array;
  private readonly sqrtOneMinusAlpha: Float32Array;
  private readonly snrTable: Float32Array;

  constructor(schedule: NoiseSchedule, predictionType: PredictionType = 'epsilon') {
    this.schedule = schedule;
    this.predictionType = predictionType;
    const ac = schedule.alphasCumprod;
    this.sqrtAlpha = ac.map(sqrt32);
    this.sqrtOneMinusAlpha = ac.map((a) => sqrt32(f32(1 - a)));
    // compute_snr in diffusers' training utils: (sqrt(ᾱ) / sqrt(1 − ᾱ))², not ᾱ/(1 − ᾱ).
    this.snrTable = this.sqrtAlpha.map((a, i) => {
      const r = f32(a / this.sqrtOneMinusAlpha[i]!);
      return r * r;
    });
  }

  static fromConfig(source: ConfigSource): DDPMScheduler {
    const config = readNoiseScheduleConfig(asComponent(source));
    return new DDPMScheduler(makeNoiseSchedule(config), config.predictionType);
  }

  /** x_t = sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·noise. */
  addNoise(x0: tf.Tensor, noise: tf.Tensor, timesteps: Timesteps): tf.Tensor {
    return tf.tidy(() => {
      const rank = Math.max(x0.rank, noise.rank);
      const a = this.perSample(this.sqrtAlpha, timesteps, rank);
      const s = this.perSample(this.sqrtOneMinusAlpha, timesteps, rank);
      return tf.add(tf.mul(a, x0), tf.mul(s, noise));
    });
  }

  /** The v-prediction target v_t = sqrt(ᾱ_t)·noise − sqrt(1 − ᾱ_t)·x0. */
  getVelocity(x0: tf.Tensor, noise: tf.Tensor, timesteps: Timesteps): tf.Tensor {
    return tf.tidy(() => {
      const rank = Math.max(x0.rank, noise.rank);
      const a = this.perSample(this.sqrtAlpha, timesteps, rank);
      const s = this.perSample(this.sqrtOneMinusAlpha, timesteps, rank);
      return tf.sub(tf.mul(a, noise), tf.mul(s, x0));
    });
  }

  /**
   * What the UNet regresses to at x_t: the noise (epsilon), the velocity v_t (v_prediction) or
   * the clean sample (sample), per this schedule's prediction type. ε and x0 are returned as
   * given, not copied.
   */
  trainingTarget(x0: tf.Tensor, noise: tf.Tensor, timesteps: Timesteps): tf.Tensor {
    if (this.predictionType === 'epsilon') return noise;
    if (this.predictionType === 'v_prediction') return this.getVelocity(x0, noise, timesteps);
    return x0;
  }

  /** Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t) per sample, shape [batch]. */
  snr(timesteps: Timesteps): tf.Tensor1D {
    return tf.tidy(() => this.perSample(this.snrTable, timesteps, 1) as tf.Tensor1D);
  }

  /** table[t] for each sample, shaped [batch, 1, …, 1] to broadcast over a tensor of `rank`. */
  private perSample(table: Float32Array, timesteps: Timesteps, rank: number): tf.Tensor {
    const shape = (b: number) => [b, ...new Array<number>(Math.max(0, rank - 1)).fill(1)];
    let values: ArrayLike<number> = timesteps as ArrayLike<number>;
    if (timesteps instanceof tf.Tensor) {
      if (timesteps.rank !== 1) throw new Dd3dError(`DDPM: timesteps must have shape [batch], got [${timesteps.shape}]`);
      // A batch of indices is tiny; reading it back lets bad timesteps fail loudly instead of gathering garbage.
      values = timesteps.dataSync();
    }
    const ts = Array.from(values, (t) => checkTimestep(this.schedule, t, 'DDPM'));
    return tf.tensor(
      Float32Array.from(ts, (t) => table[t]!),
      shape(ts.length),
    );
  }
}
