/**
 * From distribution files to UNet conditions: optional editing (re-encode the raw context
 * vectors in a new prefix/suffix and refit), mixing (μ = Σ wᵢμᵢ, σ = sqrt(Σ (wᵢ·γ·σᵢ)²), the
 * official rule, weights summing to 1), and one instance noise ε per image, so
 * c = μ + σ ⊙ ε and a fixed ε is the same instance across edits.
 */
import * as tf from '@tensorflow/tfjs';
import { deriveSeed } from '../../scenes/index.js';
import { Dd3dError } from '../errors.js';
import type { ClipTextModel } from '../models/clip-text-model.js';
import type { TextTokenizer } from '../text/tokenizer.js';
import type { PromptDistribution } from './distribution-file.js';
import { fitGaussian, encodeContext, type Gaussian } from './prompt-learner.js';
import { buildTemplate } from './prompt-template.js';
import { seededNormal } from '../random.js';

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

/** μ and σ of one distribution, refit in an edited template when asked. */
export function distributionGaussian(encoder: ClipTextModel, tokenizer: TextTokenizer, file: string, d: PromptDistribution, edit: Edit = {}): Gaussian {
  const prefix = edit.prefix ?? d.prefix;
  const suffix = edit.suffix ?? d.suffix;
  if (prefix === d.prefix && suffix === d.suffix) {
    return { mu: tf.tensor2d(d.mu.data, d.mu.shape as [number, number]), sigma: tf.tensor2d(d.sigma.data, d.sigma.shape as [number, number]) };
  }
  if (!d.ctx) {
    throw new Dd3dError(`${file}: an imported distribution has no raw context vectors, so it cannot be re-encoded with --prefix/--suffix (sample it unedited)`);
  }
  const template = buildTemplate(tokenizer, prefix, suffix, d.ctx_length!, encoder.maxLength);
  return tf.tidy(() => {
    const ctx = tf.tensor3d(d.ctx!.data, d.ctx!.shape as [number, number, number]);
    const encoded = encodeContext(encoder, template, ctx);
    const g = fitGaussian(encoded.states);
    return g as unknown as tf.TensorContainerObject;
  }) as unknown as Gaussian;
}

/** The mixed Gaussian with γ folded into σ: μ = Σ wᵢμᵢ, σ = sqrt(Σ (wᵢ·γ·σᵢ)²). */
export function mixGaussians(parts: Array<{ g: Gaussian; weight: number }>, stdScale: number): Gaussian {
  return tf.tidy(() => {
    const mu = tf.addN(parts.map((p) => tf.mul(p.g.mu, p.weight))) as tf.Tensor2D;
    const sigma = tf.sqrt(tf.addN(parts.map((p) => tf.square(tf.mul(p.g.sigma, p.weight * stdScale))))) as tf.Tensor2D;
    return { mu, sigma } as unknown as tf.TensorContainerObject;
  }) as unknown as Gaussian;
}

/** ε for instance `i` of `seed`: [L, D] standard normal, the same for any n, batch or edit. */
export function instanceNoise(seed: number, i: number, shape: [number, number]): tf.Tensor2D {
  return seededNormal(shape, 0, 1, deriveSeed(seed, `instance/${i}`)) as tf.Tensor2D;
}

/** Conditions [count, L, D] for instances first … first+count−1: μ + σ ⊙ εᵢ. */
export function instanceConditions(g: Gaussian, seed: number, first: number, count: number): tf.Tensor3D {
  return tf.tidy(() => {
    const shape = g.mu.shape as [number, number];
    const eps = tf.stack(Array.from({ length: count }, (_, k) => instanceNoise(seed, first + k, shape)));
    return tf.add(g.mu, tf.mul(g.sigma, eps)) as tf.Tensor3D;
  });
}
