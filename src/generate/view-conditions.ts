/**
 * What an asset is conditioned on, per view: one instance of the concept seen from the front,
 * side, back or above.
 *
 * From a learned distribution, the raw context vectors are re-encoded with the view phrase
 * appended to the suffix, giving μ_v and σ_v, and every view uses the asset's single ε:
 * c_v = μ_v + γ·σ_v ⊙ ε. Because ε is shared, the four conditions describe the same instance
 * (and a distribution with components draws the instance's component once, for every view).
 * An imported distribution has no raw context, so all its views share μ + γ·σ ⊙ ε.
 * A plain prompt gets the view phrase appended, as the dataset captions do ("…, front view").
 *
 * `plain` is the same instance with no view phrase: what a camera-conditioned multi-view
 * model is given, its cameras carrying the view (its multi-view training captions have none).
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { VIEW_PHRASES, type ViewPhrase } from '../../scenes/index.js';
import { distributionMixture, instanceComponent, instanceNoise } from '../distribution/conditions.js';
import type { PromptDistribution } from '../distribution/distribution-file.js';
import { sampleMixtureConditions } from '../distribution/prompt-learner.js';
import type { DiffusionModel } from '../pipeline/diffusion-model.js';

export type ConditionSource =
  { kind: 'distribution'; file: string; dist: PromptDistribution; stdScale: number; instance: number; seed: number } | { kind: 'prompt'; prompt: string };

export interface ViewConditions {
  /** [1, L, D] per view phrase. */
  byView: Map<ViewPhrase, tf.Tensor3D>;
  /** [1, L, D] with no view phrase, for multi-view models. */
  plain: tf.Tensor3D;
  /** The empty prompt [1, L, D], for classifier-free guidance. */
  uncond: tf.Tensor3D;
  /** True when every view shares one condition (an imported distribution). */
  viewIndependent: boolean;
  /** sha-256 (16 hex digits) of the instance noise ε; null for a prompt. */
  instanceHash: string | null;
  /** The mixture component the instance was drawn from; null for a prompt or a single Gaussian. */
  component: number | null;
  dispose(): void;
}

/** "a chair" + "front view" → "a chair, front view"; an empty text gives ", front view" (the comma is a token too). */
export function withViewPhrase(text: string, phrase: ViewPhrase): string {
  return `${text.trim()}, ${phrase}`.trim();
}

export function viewConditions(model: DiffusionModel, source: ConditionSource): ViewConditions {
  const byView = new Map<ViewPhrase, tf.Tensor3D>();
  let viewIndependent = false;
  let instanceHash: string | null = null;
  let component: number | null = null;
  let plain: tf.Tensor3D;
  if (source.kind === 'prompt') {
    for (const phrase of VIEW_PHRASES) byView.set(phrase, model.encodePrompts([withViewPhrase(source.prompt, phrase)]));
    plain = model.encodePrompts([source.prompt]);
  } else {
    const { dist, file, stdScale } = source;
    const eps = instanceNoise(source.seed, source.instance, [dist.mu.shape[0]!, dist.mu.shape[1]!]);
    viewIndependent = !dist.ctx;
    const e = eps.dataSync() as Float32Array;
    instanceHash = createHash('sha256')
      .update(Buffer.from(e.buffer, e.byteOffset, e.byteLength))
      .digest('hex')
      .slice(0, 16);
    component = dist.components ? instanceComponent(dist.components.weights, source.seed, source.instance) : null;
    const c = component ?? 0;
    const instance = (edit: { suffix?: string }) => {
      const g = distributionMixture(model.textEncoder, model.tokenizer, file, dist, edit);
      const cond = tf.tidy(() => sampleMixtureConditions(g, [c], eps.expandDims(0) as tf.Tensor3D, stdScale));
      tf.dispose([g.mu, g.sigma]);
      return cond;
    };
    for (const phrase of VIEW_PHRASES) byView.set(phrase, instance(dist.ctx ? { suffix: withViewPhrase(dist.suffix, phrase) } : {}));
    plain = instance({});
    eps.dispose();
  }
  const uncond = model.encodePrompts(['']);
  return {
    byView,
    plain,
    uncond,
    viewIndependent,
    instanceHash,
    component,
    dispose() {
      tf.dispose([...byView.values(), plain, uncond]);
      byView.clear();
    },
  };
}
