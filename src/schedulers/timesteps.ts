/**
 * Which training timesteps an n-step sampler visits, per `timestep_spacing`.
 *
 * Each diffusers scheduler spells the three spacings slightly differently (DDIM rounds
 * linspace to integers, Euler keeps it fractional, DPM-Solver spaces n + 1 points and
 * drops the last), so each gets its own function; all return descending timesteps.
 * `steps_offset` only applies to "leading", as in diffusers.
 */
import { Dd3dError } from '../core/errors.js';
import type { NoiseScheduleConfig } from './config.js';
import { arange, f32, linspace, roundHalfEven } from './numeric.js';

export function checkInferenceSteps(n: number, numTrainTimesteps: number, who: string): void {
  if (!Number.isInteger(n) || n < 1 || n > numTrainTimesteps) {
    throw new Dd3dError(`${who}: numInferenceSteps ${n} must be an integer in [1, ${numTrainTimesteps}] (num_train_timesteps)`);
  }
}

/** Leading: multiples of floor(N/n) from 0, shifted by steps_offset. */
function leading(count: number, stepRatio: number, offset: number): number[] {
  return Array.from({ length: count }, (_, i) => (count - 1 - i) * stepRatio + offset);
}

/** Trailing: N, N − N/n, … rounded, minus one, so the first step is the last training timestep. */
function trailing(start: number, numTrain: number, n: number): number[] {
  return arange(start, 0, -numTrain / n).map((t) => roundHalfEven(t) - 1);
}

export function ddimTimesteps(c: NoiseScheduleConfig, n: number): number[] {
  const N = c.numTrainTimesteps;
  switch (c.timestepSpacing) {
    case 'linspace':
      return linspace(0, N - 1, n)
        .map(roundHalfEven)
        .reverse();
    case 'leading':
      return leading(n, Math.floor(N / n), c.stepsOffset);
    case 'trailing':
      return trailing(N, N, n);
  }
}

/** Euler keeps linspace timesteps fractional (float32) and interpolates sigma between them. */
export function eulerTimesteps(c: NoiseScheduleConfig, n: number): number[] {
  const N = c.numTrainTimesteps;
  switch (c.timestepSpacing) {
    case 'linspace':
      return linspace(0, N - 1, n)
        .map(f32)
        .reverse();
    case 'leading':
      return leading(n, Math.floor(N / n), c.stepsOffset);
    case 'trailing':
      return trailing(N, N, n);
  }
}

/**
 * DPM-Solver spaces n + 1 points up to `lastTimestep` (N unless lambda_min_clipped cuts the
 * noisy end) and drops the final 0, so linspace never visits t = 0.
 */
export function dpmTimesteps(c: NoiseScheduleConfig, n: number, lastTimestep: number): number[] {
  switch (c.timestepSpacing) {
    case 'linspace':
      return linspace(0, lastTimestep - 1, n + 1)
        .map(roundHalfEven)
        .reverse()
        .slice(0, -1);
    case 'leading':
      return leading(n + 1, Math.floor(lastTimestep / (n + 1)), c.stepsOffset).slice(0, -1);
    case 'trailing':
      return trailing(lastTimestep, c.numTrainTimesteps, n);
  }
}
