/**
 * DreamDistribution's prompt learner: K soft prompts of M context vectors each, run through
 * the frozen text encoder in a fixed token template, and the Gaussian fitted over the K
 * prompts' per-token final states. Only the context vectors are trainable.
 *
 * One departure from the official code, on purpose: position embeddings are added once to
 * the whole sequence (the official code adds them twice to the fixed tokens).
 */
import * as tf from '@tensorflow/tfjs';
import type { ClipTextModel } from '../models/clip-text-model.js';
import type { PromptTemplate } from './prompt-template.js';

export interface EncodedPrompts {
  /** [K, L, D] final-layer-norm states, what the UNet cross-attends to. */
  states: tf.Tensor3D;
  /** [K, D] the states at the EOS position, for the orthogonality loss. */
  eos: tf.Tensor2D;
}

export interface Gaussian {
  /** [L, D] per-element mean over the K prompts. */
  mu: tf.Tensor2D;
  /** [L, D] per-element unbiased standard deviation over the K prompts. */
  sigma: tf.Tensor2D;
}

/**
 * C Gaussians, each fitted over its own contiguous group of the K prompts, and the share of
 * samples each one gets. DreamDistribution is the case C = 1.
 */
export interface GaussianMixture {
  /** [C, L, D] */
  mu: tf.Tensor3D;
  /** [C, L, D] */
  sigma: tf.Tensor3D;
  /** C weights summing to 1. */
  weights: number[];
}

/** Runs K prompts' context vectors `ctx` [K, M, D] through the encoder inside `template`. */
export function encodeContext(encoder: ClipTextModel, template: PromptTemplate, ctx: tf.Tensor3D): EncodedPrompts {
  return tf.tidy(() => {
    const [k, m, d] = ctx.shape;
    if (m !== template.ctxLength) throw new Error(`encodeContext: ctx has ${m} vectors, the template ${template.ctxLength}`);
    const fixed = encoder.embedTokens([template.ids]);
    const end = template.ctxStart + m;
    const length = template.ids.length;
    const embeds = tf.concat(
      [tf.tile(fixed.slice([0, 0, 0], [1, template.ctxStart, d]), [k, 1, 1]), ctx, tf.tile(fixed.slice([0, end, 0], [1, length - end, d]), [k, 1, 1])],
      1,
    ) as tf.Tensor3D;
    const out = encoder.forwardEmbeddings(embeds, new Array<number>(k).fill(template.eosIndex));
    return { states: out.lastHiddenState, eos: out.pooled };
  });
}

/**
 * Mean and unbiased std over axis 0. Positions before the context (BOS, prefix) have the same
 * state in every prompt under the causal mask, so their variance is 0 (up to batched float
 * rounding, which may differ by row), where the square root's gradient is 0/0;
 * {@link sqrtSafe} makes it 0 there.
 */
export function fitGaussian(states: tf.Tensor3D): Gaussian {
  return tf.tidy(() => {
    const k = states.shape[0];
    const mu = tf.mean(states, 0) as tf.Tensor2D;
    if (k < 2) return { mu, sigma: tf.zerosLike(mu) };
    const variance = tf.div(tf.sum(tf.square(tf.sub(states, mu)), 0), k - 1);
    return { mu, sigma: sqrtSafe(variance) as tf.Tensor2D };
  });
}

/** One Gaussian per group of prompts: group c is the next `sizes[c]` of the K states. */
export function fitMixture(states: tf.Tensor3D, sizes: number[], weights: number[]): GaussianMixture {
  if (sizes.reduce((a, b) => a + b, 0) !== states.shape[0]) throw new Error(`fitMixture: groups of [${sizes}] prompts for ${states.shape[0]} states`);
  if (sizes.length !== weights.length) throw new Error(`fitMixture: ${sizes.length} groups, ${weights.length} weights`);
  return tf.tidy(() => {
    // tf.split into one piece has no gradient on this tfjs ("Pass at least one tensor to concat")
    const groups = sizes.length === 1 ? [states] : tf.split(states, sizes, 0);
    const parts = groups.map((s) => fitGaussian(s as tf.Tensor3D));
    const mu = tf.stack(parts.map((p) => p.mu)) as tf.Tensor3D;
    const sigma = tf.stack(parts.map((p) => p.sigma)) as tf.Tensor3D;
    return { mu, sigma, weights } as unknown as tf.TensorContainerObject;
  }) as unknown as GaussianMixture;
}

/** √x whose gradient at x = 0 is 0 instead of NaN. */
const sqrtSafe = tf.customGrad((x, save) => {
  const y = tf.sqrt(x as tf.Tensor);
  (save as tf.GradSaveFunc)([y]);
  return {
    value: y,
    gradFunc: (dy, [root]) => tf.where(tf.greater(root!, 0), tf.div(dy, tf.mul(root!, 2)), tf.zerosLike(root!)),
  };
});

/**
 * Conditions μ + scale·σ ⊙ ε for noise `eps` [N, L, D] (μ, σ [L, D], or [N, L, D] per row):
 * the one place a condition is drawn. σ·1 is σ exactly, so scale 1 costs nothing in precision.
 */
export function sampleConditions(g: { mu: tf.Tensor; sigma: tf.Tensor }, eps: tf.Tensor3D, scale = 1): tf.Tensor3D {
  return tf.tidy(() => tf.add(g.mu, tf.mul(tf.mul(g.sigma, scale), eps)) as tf.Tensor3D);
}

/**
 * Conditions μ_c + scale·σ_c ⊙ ε for noise `eps` [N, L, D], row n drawn from component
 * `components[n]`: {@link sampleConditions} of the gathered Gaussians.
 */
export function sampleMixtureConditions(m: GaussianMixture, components: number[], eps: tf.Tensor3D, scale = 1): tf.Tensor3D {
  return tf.tidy(() => {
    const at = tf.tensor1d(components, 'int32');
    return sampleConditions({ mu: tf.gather(m.mu, at), sigma: tf.gather(m.sigma, at) }, eps, scale);
  });
}

/**
 * The orthogonality loss on the K prompts' EOS features: L2-normalize, cosine matrix with a
 * zero diagonal, mean of the squared off-diagonal entries. It pushes the prompts apart.
 */
export function orthogonalityLoss(eos: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const k = eos.shape[0];
    if (k < 2) return tf.scalar(0);
    const f = tf.div(eos, tf.norm(eos, 'euclidean', 1, true));
    const cos = tf.mul(tf.matMul(f, f, false, true), tf.sub(1, tf.eye(k)));
    return tf.div(tf.sum(tf.square(cos)), k * (k - 1)) as tf.Scalar;
  });
}
