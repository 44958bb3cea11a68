/**
 * DPM-Solver++(2M): the multistep second-order data-prediction solver (Lu et al. 2022),
 * as diffusers' DPMSolverMultistepScheduler with algorithm_type "dpmsolver++" and
 * solver_type "midpoint".
 *
 * Each step turns the model output into an x0 prediction and extrapolates in
 * lambda = log(alpha/sigma) using this and the previous step's x0, which is the one
 * tensor of state kept between steps. The first step has no history (first order), and
 * the last step is first order too when diffusers says so (see `firstOrderAt`).
 */
import * as tf from '@tensorflow/tfjs';
import type { DPMSolverConfig, PredictionType } from './config.js';
import { makeNoiseSchedule, trainingSigmas, type NoiseSchedule } from './noise-schedule.js';
import { f32, interpIndex, searchsortedLeft, sqrt32 } from './numeric.js';
import { StepCounter, type Scheduler } from './scheduler.js';
import { dpmTimesteps, checkInferenceSteps } from './timesteps.js';

/** alpha_t, sigma_t and lambda_t of the VP process for a sigma, in float32 like torch. */
function vp(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = f32(1 / sqrt32(f32(f32(sigma * sigma) + 1)));
  const s = f32(sigma * alpha);
  // sigma = 0 gives lambda = +inf and then exp(-h) = 0, which is the exact x0 limit.
  return { alpha, sigma: s, lambda: f32(f32(Math.log(alpha)) - f32(Math.log(s))) };
}

export class DPMSolverMultistepScheduler implements Scheduler {
  readonly kind = 'dpm++2m' as const;
  readonly schedule: NoiseSchedule;
  readonly predictionType: PredictionType;
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  /** One sigma per timestep plus the final one, float32 values. */
  sigmas: number[] = [];
  private readonly trainSigmas: Float32Array;
  private readonly counter = new StepCounter('DPM-Solver++');
  /** The previous step's x0 prediction (kept), for the second-order correction. */
  private previousX0: tf.Tensor | null = null;
  /** Steps taken so far, capped at the solver order: how much history exists. */
  private lowerOrderNums = 0;

  constructor(readonly config: DPMSolverConfig) {
    this.schedule = makeNoiseSchedule(config);
    this.predictionType = config.predictionType;
    this.trainSigmas = trainingSigmas(this.schedule);
  }

  /** Timesteps whose lambda falls below lambda_min_clipped are cut from the noisy end. */
  private lastTimestep(): number {
    const min = this.config.lambdaMinClipped;
    if (min === -Infinity) return this.schedule.numTrainTimesteps;
    const lambdas = Array.from(this.schedule.alphasCumprod, (a) => f32(f32(Math.log(sqrt32(a))) - f32(Math.log(sqrt32(f32(1 - a))))));
    return this.schedule.numTrainTimesteps - searchsortedLeft(lambdas.reverse(), min);
  }

  setTimesteps(numInferenceSteps: number): void {
    checkInferenceSteps(numInferenceSteps, this.schedule.numTrainTimesteps, 'DPM-Solver++');
    this.timesteps = dpmTimesteps(this.config, numInferenceSteps, this.lastTimestep());
    const last = this.config.finalSigmasType === 'zero' ? 0 : this.trainSigmas[0]!;
    this.sigmas = this.timesteps.map((t) => f32(interpIndex(t, this.trainSigmas))).concat(last);
    this.reset();
  }

  scaleModelInput(sample: tf.Tensor): tf.Tensor {
    return tf.clone(sample);
  }

  /**
   * diffusers drops to first order on the last step when euler_at_final is set, when
   * lower_order_final is set with fewer than 15 steps, and always when the final sigma is
   * zero (the second-order term would multiply an infinite step in lambda).
   */
  private firstOrderAt(i: number): boolean {
    const n = this.timesteps.length;
    const c = this.config;
    const final = i === n - 1 && (c.eulerAtFinal || (c.lowerOrderFinal && n < 15) || c.finalSigmasType === 'zero');
    return c.solverOrder === 1 || this.lowerOrderNums < 1 || final;
  }

  private toX0(modelOutput: tf.Tensor, sample: tf.Tensor, sigma: number): tf.Tensor {
    const { alpha, sigma: s } = vp(sigma);
    switch (this.predictionType) {
      case 'epsilon':
        return tf.div(tf.sub(sample, tf.mul(s, modelOutput)), alpha);
      case 'v_prediction':
        return tf.sub(tf.mul(alpha, sample), tf.mul(s, modelOutput));
      case 'sample':
        return tf.clone(modelOutput);
    }
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor {
    const i = this.counter.at(this.timesteps, t);
    const firstOrder = this.firstOrderAt(i);
    const target = vp(this.sigmas[i + 1]!);
    const s0 = vp(this.sigmas[i]!);
    const h = f32(target.lambda - s0.lambda);
    const expm1 = f32(f32(Math.exp(-h)) - 1);
    const ratio = f32(target.sigma / s0.sigma);
    const d0Coef = f32(target.alpha * expm1);
    const previous = this.previousX0;
    let x0: tf.Tensor | undefined;
    let out: tf.Tensor;
    try {
      out = tf.tidy(() => {
        // Kept, not just returned: an enclosing tidy in the caller must not free our history.
        x0 = tf.keep(this.toX0(modelOutput, sample, this.sigmas[i]!));
        const base = tf.sub(tf.mul(ratio, sample), tf.mul(d0Coef, x0));
        if (firstOrder || !previous) return base;
        const s1 = vp(this.sigmas[i - 1]!);
        const r0 = f32(f32(s0.lambda - s1.lambda) / h);
        // Midpoint rule: D1 = (x0 − x0_prev)/r0 enters with half the first-order coefficient.
        const d1 = tf.mul(f32(1 / r0), tf.sub(x0, previous));
        return tf.sub(base, tf.mul(f32(0.5 * d0Coef), d1));
      });
    } catch (e) {
      x0?.dispose();
      throw e;
    }
    previous?.dispose();
    this.previousX0 = this.config.solverOrder > 1 ? x0! : (x0!.dispose(), null);
    if (this.lowerOrderNums < this.config.solverOrder) this.lowerOrderNums++;
    this.counter.advance();
    return out;
  }

  reset(): void {
    this.previousX0?.dispose();
    this.previousX0 = null;
    this.lowerOrderNums = 0;
    this.counter.reset();
  }

  dispose(): void {
    this.reset();
  }
}
