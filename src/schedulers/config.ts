/**
 * Reading a diffusers scheduler config into plain typed objects.
 *
 * Keys are diffusers' own (snake_case) so a `scheduler_config.json` or a config dict from
 * Python works as is; missing keys take diffusers' defaults, which is what `from_config`
 * does when one scheduler class is built from another's config. Any value we would
 * silently compute differently from diffusers is a one-line Dd3dError instead.
 */
import { Dd3dError } from '../core/errors.js';
import { configOptional, configValue, type ModelComponent } from '../io/diffusers.js';

/** A config object as diffusers writes it, or a loaded `scheduler` component. */
export type ConfigSource = Record<string, unknown> | ModelComponent;

export const BETA_SCHEDULES = ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const;
export const PREDICTION_TYPES = ['epsilon', 'v_prediction', 'sample'] as const;
export const TIMESTEP_SPACINGS = ['leading', 'linspace', 'trailing'] as const;
export const FINAL_SIGMAS_TYPES = ['zero', 'sigma_min'] as const;

export type BetaSchedule = (typeof BETA_SCHEDULES)[number];
export type PredictionType = (typeof PREDICTION_TYPES)[number];
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];
export type FinalSigmasType = (typeof FINAL_SIGMAS_TYPES)[number];

/** What every scheduler shares: the training noise schedule and how inference steps are picked. */
export interface NoiseScheduleConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  /** Overrides betaStart/betaEnd/betaSchedule when given. */
  trainedBetas?: number[];
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
}

export interface DDIMConfig extends NoiseScheduleConfig {
  setAlphaToOne: boolean;
  clipSample: boolean;
  clipSampleRange: number;
}

export interface EulerConfig extends NoiseScheduleConfig {
  finalSigmasType: FinalSigmasType;
}

export interface DPMSolverConfig extends NoiseScheduleConfig {
  solverOrder: 1 | 2;
  lowerOrderFinal: boolean;
  eulerAtFinal: boolean;
  finalSigmasType: FinalSigmasType;
  /** -Infinity (diffusers' default) means no clipping. */
  lambdaMinClipped: number;
}

const isComponent = (s: ConfigSource): s is ModelComponent =>
  typeof s.dir === 'string' && typeof s.name === 'string' && (s.config === undefined || typeof s.config === 'object');

/** Lets a bare config object go through configValue, whose errors then name `label`. */
export function asComponent(source: ConfigSource, label = 'scheduler config'): ModelComponent {
  if (isComponent(source)) return source;
  return { name: 'scheduler', dir: label, config: source, configPath: label };
}

export const where = (c: ModelComponent): string => c.configPath ?? c.dir;

export function unsupported(c: ModelComponent, key: string, value: unknown, supported: string): Dd3dError {
  return new Dd3dError(`${where(c)}: key "${key}" is ${JSON.stringify(value)}; ${supported}`);
}

/** A string key restricted to `choices`. */
export function readChoice<T extends string>(c: ModelComponent, key: string, choices: readonly T[], fallback: T): T {
  const v = configValue(c, key, 'string', fallback);
  if (!(choices as readonly string[]).includes(v)) throw unsupported(c, key, v, `supported: ${choices.join(', ')}`);
  return v as T;
}

/** A boolean switch for a feature we do not implement: only false (or absent) is accepted. */
export function rejectTrue(c: ModelComponent, key: string, feature: string): void {
  if (configValue(c, key, 'boolean', false)) throw unsupported(c, key, true, `${feature} is not supported (only false)`);
}

function readNumber(c: ModelComponent, key: string, fallback: number, ok: (v: number) => boolean, expected: string): number {
  const v = configValue(c, key, 'number', fallback);
  if (!ok(v)) throw unsupported(c, key, v, `expected ${expected}`);
  return v;
}

function readInteger(c: ModelComponent, key: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = configValue(c, key, 'integer', fallback);
  if (v < min || v > max)
    throw unsupported(c, key, v, max < Number.MAX_SAFE_INTEGER ? `expected an integer from ${min} to ${max}` : `expected an integer ≥ ${min}`);
  return v;
}

/**
 * Bound of num_train_timesteps (Stable Diffusion: 1000): the schedule allocates arrays of this
 * length, so a config of 1e9 would take gigabytes before the first step.
 */
export const MAX_TRAIN_TIMESTEPS = 100_000;

const probability = (v: number) => v > 0 && v < 1;

/** `defaultSpacing`: diffusers' DDIM defaults to "leading", Euler and DPM-Solver to "linspace". */
export function readNoiseScheduleConfig(c: ModelComponent, defaultSpacing: TimestepSpacing = 'leading'): NoiseScheduleConfig {
  const numTrainTimesteps = readInteger(c, 'num_train_timesteps', 1000, 1, MAX_TRAIN_TIMESTEPS);
  const trainedBetas = configOptional(c, 'trained_betas', 'number[]');
  if (trainedBetas) {
    if (trainedBetas.length !== numTrainTimesteps) {
      throw unsupported(c, 'trained_betas', `${trainedBetas.length} values`, `expected num_train_timesteps = ${numTrainTimesteps} values`);
    }
    if (!trainedBetas.every((b) => b >= 0 && b < 1)) {
      throw unsupported(c, 'trained_betas', 'a value outside [0, 1)', 'expected every beta in [0, 1)');
    }
  }
  // rescale_betas_zero_snr changes alphas_cumprod and the samplers' end point; not implemented.
  rejectTrue(c, 'rescale_betas_zero_snr', 'zero-terminal-SNR rescaling');
  return {
    numTrainTimesteps,
    betaStart: readNumber(c, 'beta_start', 0.0001, probability, 'a number in (0, 1)'),
    betaEnd: readNumber(c, 'beta_end', 0.02, probability, 'a number in (0, 1)'),
    betaSchedule: readChoice(c, 'beta_schedule', BETA_SCHEDULES, 'linear'),
    ...(trainedBetas ? { trainedBetas } : {}),
    predictionType: readChoice(c, 'prediction_type', PREDICTION_TYPES, 'epsilon'),
    timestepSpacing: readChoice(c, 'timestep_spacing', TIMESTEP_SPACINGS, defaultSpacing),
    stepsOffset: readInteger(c, 'steps_offset', 0, 0),
  };
}

export function readDDIMConfig(c: ModelComponent): DDIMConfig {
  rejectTrue(c, 'thresholding', 'dynamic thresholding');
  return {
    ...readNoiseScheduleConfig(c, 'leading'),
    setAlphaToOne: configValue(c, 'set_alpha_to_one', 'boolean', true),
    clipSample: configValue(c, 'clip_sample', 'boolean', true),
    clipSampleRange: readNumber(c, 'clip_sample_range', 1, (v) => v > 0, 'a positive number'),
  };
}

/** Sigma schedules other than the plain interpolated one (Karras, exponential, …) are not implemented. */
function rejectSigmaVariants(c: ModelComponent): void {
  rejectTrue(c, 'use_karras_sigmas', 'Karras sigmas');
  rejectTrue(c, 'use_exponential_sigmas', 'exponential sigmas');
  rejectTrue(c, 'use_beta_sigmas', 'beta sigmas');
  rejectTrue(c, 'use_flow_sigmas', 'flow-matching sigmas');
  rejectTrue(c, 'use_dynamic_shifting', 'dynamic shifting');
}

export function readEulerConfig(c: ModelComponent): EulerConfig {
  rejectSigmaVariants(c);
  readChoice(c, 'interpolation_type', ['linear'] as const, 'linear');
  readChoice(c, 'timestep_type', ['discrete'] as const, 'discrete');
  return {
    ...readNoiseScheduleConfig(c, 'linspace'),
    finalSigmasType: readChoice(c, 'final_sigmas_type', FINAL_SIGMAS_TYPES, 'zero'),
  };
}

export function readDPMSolverConfig(c: ModelComponent): DPMSolverConfig {
  rejectSigmaVariants(c);
  rejectTrue(c, 'use_lu_lambdas', 'uniform-lambda steps');
  rejectTrue(c, 'thresholding', 'dynamic thresholding');
  readChoice(c, 'algorithm_type', ['dpmsolver++'] as const, 'dpmsolver++');
  readChoice(c, 'solver_type', ['midpoint'] as const, 'midpoint');
  const variance = c.config?.variance_type;
  if (variance !== undefined && variance !== null) {
    throw unsupported(c, 'variance_type', variance, 'supported: null (learned variance is not supported)');
  }
  const solverOrder = configValue(c, 'solver_order', 'integer', 2);
  if (solverOrder !== 1 && solverOrder !== 2) throw unsupported(c, 'solver_order', solverOrder, 'supported: 1, 2');
  return {
    ...readNoiseScheduleConfig(c, 'linspace'),
    solverOrder,
    lowerOrderFinal: configValue(c, 'lower_order_final', 'boolean', true),
    eulerAtFinal: configValue(c, 'euler_at_final', 'boolean', false),
    finalSigmasType: readChoice(c, 'final_sigmas_type', FINAL_SIGMAS_TYPES, 'zero'),
    lambdaMinClipped: readLambdaMin(c),
  };
}

/** diffusers writes its default, -inf, as the non-JSON token -Infinity; a finite number clips. */
function readLambdaMin(c: ModelComponent): number {
  const v = c.config?.lambda_min_clipped;
  if (v === undefined || v === null || v === -Infinity) return -Infinity;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  throw unsupported(c, 'lambda_min_clipped', v === Infinity ? 'Infinity' : v, 'expected a number or -Infinity');
}
