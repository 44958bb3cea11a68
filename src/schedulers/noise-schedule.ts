/**
 * The training noise schedule: betas and alphas_cumprod, indexed by integer timestep.
 *
 * diffusers keeps these as float32 torch tensors, and every sampler coefficient is derived
 * from them, so we reproduce torch's rounding: betas from a float32 linspace, alphas =
 * 1 − beta in float32, and the cumulative product accumulated in float64 (torch's CPU
 * cumprod accumulates float32 in double) with each entry narrowed to float32. That
 * reproduces diffusers' alphas_cumprod bit for bit for the SD schedule.
 */
import { Dd3dError } from '../core/errors.js';
import type { NoiseScheduleConfig } from './config.js';
import { f32, sqrt32, torchLinspaceF32 } from './numeric.js';

export interface NoiseSchedule {
  readonly config: NoiseScheduleConfig;
  readonly numTrainTimesteps: number;
  readonly betas: Float32Array;
  readonly alphasCumprod: Float32Array;
}

/** Improved-DDPM cosine schedule; diffusers computes it in Python floats, then stores float32. */
function cosineBetas(n: number, maxBeta = 0.999): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  return Float32Array.from({ length: n }, (_, i) => Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta));
}

function makeBetas(c: NoiseScheduleConfig): Float32Array {
  if (c.trainedBetas) return Float32Array.from(c.trainedBetas);
  const n = c.numTrainTimesteps;
  switch (c.betaSchedule) {
    case 'linear':
      return torchLinspaceF32(c.betaStart, c.betaEnd, n);
    case 'scaled_linear':
      // Latent diffusion's schedule: linear in sqrt(beta), squared in float32.
      return torchLinspaceF32(Math.sqrt(c.betaStart), Math.sqrt(c.betaEnd), n).map((b) => f32(b * b));
    case 'squaredcos_cap_v2':
      return cosineBetas(n);
  }
}

export function makeNoiseSchedule(config: NoiseScheduleConfig): NoiseSchedule {
  const betas = makeBetas(config);
  const alphasCumprod = new Float32Array(betas.length);
  let running = 1;
  for (let i = 0; i < betas.length; i++) {
    running *= f32(1 - betas[i]!);
    alphasCumprod[i] = running;
  }
  return { config, numTrainTimesteps: betas.length, betas, alphasCumprod };
}

/** The float32 sigma = sqrt((1 − ᾱ)/ᾱ) for every training timestep, ascending in t. */
export function trainingSigmas(s: NoiseSchedule): Float32Array {
  return s.alphasCumprod.map((a) => sqrt32(f32(f32(1 - a) / a)));
}

/** An integer training timestep, or a one-line error naming who asked. */
export function checkTimestep(s: NoiseSchedule, t: number, who: string): number {
  if (!Number.isInteger(t) || t < 0 || t >= s.numTrainTimesteps) {
    throw new Dd3dError(`${who}: timestep ${t} is not an integer in [0, ${s.numTrainTimesteps - 1}]`);
  }
  return t;
}
