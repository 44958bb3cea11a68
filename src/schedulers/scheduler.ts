/**
 * The sampler interface every scheduler implements, shaped like diffusers' so a pipeline
 * loop reads the same: setTimesteps, scale the input, run the model, step.
 *
 * Tensor ownership: scaleModelInput and step return new tensors the caller owns and must
 * dispose (or create inside its own tf.tidy). State a scheduler keeps between steps is
 * tf.keep'd so an enclosing tidy cannot free it, and is released by reset()/dispose().
 */
import type * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import type { PredictionType } from './config.js';
import type { NoiseSchedule } from './noise-schedule.js';

export type SchedulerKind = 'ddim' | 'euler' | 'dpm++2m';

export interface Scheduler {
  readonly kind: SchedulerKind;
  readonly schedule: NoiseSchedule;
  readonly predictionType: PredictionType;
  /** Descending timesteps to visit; empty until setTimesteps. */
  readonly timesteps: number[];
  /** Multiply unit-variance starting noise by this (Euler's latents start at sigma_max scale). */
  readonly initNoiseSigma: number;
  /** Chooses the timesteps and forgets any state from a previous run. */
  setTimesteps(numInferenceSteps: number): void;
  /** The model input for timestep t (a new tensor, even when unchanged). */
  scaleModelInput(sample: tf.Tensor, t: number): tf.Tensor;
  /** One denoising step from t: returns the previous (less noisy) sample. */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor): tf.Tensor;
  /** Back to the first timestep, releasing kept tensors; the timesteps stay. */
  reset(): void;
  /** Releases kept tensors. The scheduler can still be reused after setTimesteps/reset. */
  dispose(): void;
}

/**
 * Which entry of `timesteps` a multistep sampler is on. Like diffusers it starts from the
 * first step() or scaleModelInput() call's timestep (so a run may begin part way, as
 * img2img does), then advances one per step; a timestep that is not the expected next
 * one is an error rather than silently using the wrong sigma.
 */
export class StepCounter {
  private index: number | undefined;

  constructor(private readonly who: string) {}

  /** The index for timestep t, starting the count on first use. */
  at(timesteps: readonly number[], t: number): number {
    if (timesteps.length === 0) throw new Dd3dError(`${this.who}: call setTimesteps before stepping`);
    if (this.index === undefined) {
      const hits = timesteps.flatMap((v, i) => (v === t ? [i] : []));
      if (hits.length === 0) throw new Dd3dError(`${this.who}: timestep ${t} is not one of the scheduled timesteps [${timesteps.join(', ')}]`);
      // diffusers takes the second match when a timestep repeats, so a restart does not skip a step.
      this.index = hits.length > 1 ? hits[1]! : hits[0]!;
    }
    if (this.index >= timesteps.length) {
      throw new Dd3dError(`${this.who}: all ${timesteps.length} steps are done; call reset() or setTimesteps() to run again`);
    }
    if (timesteps[this.index] !== t) {
      throw new Dd3dError(`${this.who}: expected timestep ${timesteps[this.index]} (step ${this.index}), got ${t}`);
    }
    return this.index;
  }

  advance(): void {
    if (this.index !== undefined) this.index++;
  }

  reset(): void {
    this.index = undefined;
  }
}
