/**
 * From distribution files to UNet conditions: optional editing (re-encode the raw context
 * vectors in a new prefix/suffix and refit), mixing (μ = Σ wᵢμᵢ, σ = sqrt(Σ (wᵢ·γ·σᵢ)²), the
 * official rule, weights summing to 1), and one instance noise ε per image, so
 * c = μ + σ ⊙ ε and a fixed ε is the same instance across edits. A distribution with
 * components also draws one component c per instance: c = μ_c + σ_c ⊙ ε.
 */
import * as tf from '@tensorflow/tfjs';
import { deriveSeed, mulberry32 } from '../core/random.js';
import { Dd3dError } from '../core/errors.js';
import type { ClipTextModel } from '../models/clip-text-model.js';
import type { TextTokenizer } from '../text/tokenizer.js';
import type { PromptDistribution } from './distribution-file.js';
import { encodeContext, fitMixture, sampleMixtureConditions, type GaussianMixture } from './prompt-learner.js';
import { buildTemplate } from './prompt-template.js';
import { seededNormal } from '../core/seeded-normal.js';

export interface WeightedDistribution {
  file: string;
  dist: PromptDistribution;
  weight: number;
}

export interface Edit {
  prefix?: string;
  suffix?: string;
}

/**
 * Parses "file.json=0.3" (weight given) or "file.json" (weight null: the remainder). Only the
 * last "=" splits, so file names may contain "=".
 */
export function parseWeighted(spec: string, flag: string): { file: string; weight: number | null } {
  const at = spec.lastIndexOf('=');
  if (at < 0) return { file: spec, weight: null };
  const weight = Number(spec.slice(at + 1));
  if (!Number.isFinite(weight) || weight <= 0 || weight > 1 || spec.slice(at + 1).trim() === '') {
    throw new Dd3dError(`${flag}: "${spec}" needs a weight in (0, 1] after "=", e.g. other.json=0.3`);
  }
  return { file: spec.slice(0, at), weight };
}

/**
 * The weights of a mix: the main distribution's is given or is 1 − Σ the others; either way
 * they must sum to 1.
 */
export function mixWeights(main: number | null, others: number[]): number[] {
  const rest = others.reduce((a, b) => a + b, 0);
  const first = main ?? 1 - rest;
  const total = first + rest;
  if (first <= 0 || Math.abs(total - 1) > 1e-6) {
    throw new Dd3dError(`--mix: the weights (${[first, ...others].map((w) => +w.toFixed(6)).join(' + ')}) must be positive and sum to 1`);
  }
  return [first, ...others];
}

/**
 * The Gaussians a distribution samples from, refit in an edited template when asked: its
 * components (train-dist --components), or its single Gaussian as a mixture of one.
 */
export function distributionMixture(encoder: ClipTextModel, tokenizer: TextTokenizer, file: string, d: PromptDistribution, edit: Edit = {}): GaussianMixture {
  const prefix = edit.prefix ?? d.prefix;
  const suffix = edit.suffix ?? d.suffix;
  const weights = d.components?.weights ?? [1];
  if (prefix === d.prefix && suffix === d.suffix) {
    const [mu, sigma] = d.components
      ? [d.components.mu, d.components.sigma]
      : [
          { ...d.mu, shape: [1, ...d.mu.shape] },
          { ...d.sigma, shape: [1, ...d.sigma.shape] },
        ];
    return { mu: tf.tensor3d(mu.data, mu.shape as [number, number, number]), sigma: tf.tensor3d(sigma.data, sigma.shape as [number, number, number]), weights };
  }
  if (!d.ctx) {
    throw new Dd3dError(`${file}: an imported distribution has no raw context vectors, so it cannot be re-encoded with --prefix/--suffix (sample it unedited)`);
  }
  const template = buildTemplate(tokenizer, prefix, suffix, d.ctx_length!, encoder.maxLength);
  return tf.tidy(() => {
    const ctx = tf.tensor3d(d.ctx!.data, d.ctx!.shape as [number, number, number]);
    const encoded = encodeContext(encoder, template, ctx);
    return fitMixture(encoded.states, d.components?.prompts ?? [d.ctx!.shape[0]!], weights) as unknown as tf.TensorContainerObject;
  }) as unknown as GaussianMixture;
}

/**
 * The mixed distribution with γ folded into σ: μ = Σ wᵢμᵢ, σ = sqrt(Σ (wᵢ·γ·σᵢ)²). That rule
 * is for single Gaussians; a mixture of components can only be sampled on its own.
 */
export function mixGaussians(parts: Array<{ file: string; g: GaussianMixture; weight: number }>, stdScale: number): GaussianMixture {
  const mixture = parts.find((p) => p.g.weights.length > 1);
  if (parts.length > 1 && mixture) {
    throw new Dd3dError(
      `--mix: ${mixture.file} has ${mixture.g.weights.length} components; --mix combines single-Gaussian distributions (train-dist without --components)`,
    );
  }
  return tf.tidy(() => {
    const mu = tf.addN(parts.map((p) => tf.mul(p.g.mu, p.weight))) as tf.Tensor3D;
    const sigma = tf.sqrt(tf.addN(parts.map((p) => tf.square(tf.mul(p.g.sigma, p.weight * stdScale))))) as tf.Tensor3D;
    return { mu, sigma, weights: parts[0]!.g.weights } as unknown as tf.TensorContainerObject;
  }) as unknown as GaussianMixture;
}

/** ε for instance `i` of `seed`: [L, D] standard normal, the same for any n, batch or edit. */
export function instanceNoise(seed: number, i: number, shape: [number, number]): tf.Tensor2D {
  return seededNormal(shape, 0, 1, deriveSeed(seed, `instance/${i}`)) as tf.Tensor2D;
}

/** φ − 1, the golden ratio's fractional part: the multiples of it mod 1 stay evenly spread for any count (Weyl). */
const GOLDEN_FRACTION = (Math.sqrt(5) - 1) / 2;

/**
 * The component instance `i` of `seed` is drawn from: the one whose share of [0, 1) (weights
 * in order) holds uᵢ = frac(u + i·φ), with one uniform u per seed and φ the golden fraction.
 * Alone, each instance draws component c with probability w_c, as an independent draw would.
 * Together, consecutive instances spread over [0, 1), so a few assets cover the components
 * near their weights: three instances of a 0.75 / 0.25 mixture all come from the larger 26%
 * of the time (42% drawn independently), and of a 0.42 / 0.58 mixture never. Instance i's
 * draw does not depend on n. Drawn apart from ε, so a single Gaussian's instances are what
 * they were before mixtures existed.
 */
export function instanceComponent(weights: number[], seed: number, i: number): number {
  if (weights.length === 1) return 0;
  let u = (mulberry32(deriveSeed(seed, 'component')).next() + i * GOLDEN_FRACTION) % 1;
  for (const [c, w] of weights.entries()) {
    if (u < w) return c;
    u -= w;
  }
  return weights.length - 1;
}

/** Conditions [count, L, D] for instances first … first+count−1: μ_c + σ_c ⊙ εᵢ, c drawn per instance. */
export function instanceConditions(m: GaussianMixture, seed: number, first: number, count: number): tf.Tensor3D {
  return tf.tidy(() => {
    const shape = m.mu.shape.slice(1) as [number, number];
    const eps = tf.stack(Array.from({ length: count }, (_, k) => instanceNoise(seed, first + k, shape))) as tf.Tensor3D;
    const components = Array.from({ length: count }, (_, k) => instanceComponent(m.weights, seed, first + k));
    return sampleMixtureConditions(m, components, eps);
  });
}
