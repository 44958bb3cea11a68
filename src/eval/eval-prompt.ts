/**
 * Prompt adherence and diversity of a text-to-image model, measured by the attribute probe:
 * sample n images of one prompt, classify each, and score the share whose family, main
 * colour and each named attribute match the prompt; diversity is the mean pairwise distance
 * between the images' probe features (0 when every sample is the same picture).
 */
import * as tf from '@tensorflow/tfjs';
import type { DiffusionModel } from '../pipeline/diffusion-model.js';
import { sampleImages } from '../pipeline/text-to-image.js';
import type { Probe, ProbePrediction } from '../probe/index.js';
import { promptTerms, type PromptTerms } from './prompt-terms.js';

export interface PromptEvalOptions {
  n: number;
  seed: number;
  steps: number;
  guidance: number;
  /** Images sampled per UNet batch. */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface PromptEval {
  prompt: string;
  n: number;
  terms: PromptTerms;
  family_acc: number;
  /** null when the prompt names no colour. */
  color_acc: number | null;
  /** Mean over the named attributes; null when it names none. */
  attr_acc: number | null;
  per_attribute: Record<string, number>;
  diversity: number;
}

/** Mean Euclidean distance over all pairs of rows of `f` [N, F]. */
export function meanPairwiseDistance(f: tf.Tensor2D): number {
  const n = f.shape[0];
  if (n < 2) return 0;
  return tf.tidy(() => {
    const sq = tf.sum(tf.square(f), 1, true);
    const d2 = tf.relu(tf.sub(tf.add(sq, tf.transpose(sq)), tf.mul(2, tf.matMul(f, f, false, true))));
    const total = tf.sum(tf.sqrt(d2)).dataSync()[0];
    return total / (n * (n - 1));
  });
}

export function evaluatePrompt(model: DiffusionModel, probe: Probe, prompt: string, opts: PromptEvalOptions): PromptEval {
  const terms = promptTerms(prompt);
  const batch = opts.batch ?? 16;
  const [height, width] = model.defaultSize;
  const uncond = model.encodePrompts(['']);
  const predictions: ProbePrediction[] = [];
  const features: tf.Tensor2D[] = [];
  for (let done = 0, b = 0; done < opts.n; done += batch, b++) {
    const k = Math.min(batch, opts.n - done);
    const cond = model.encodePrompt(prompt, k);
    const images = sampleImages(model, { cond, uncond, steps: opts.steps, guidance: opts.guidance, height, width, seed: opts.seed + b });
    predictions.push(...probe.predict(images));
    features.push(probe.features(images));
    tf.dispose([cond, images]);
    opts.onProgress?.(done + k, opts.n);
  }
  uncond.dispose();
  const share = (ok: (p: ProbePrediction) => boolean) => predictions.filter(ok).length / predictions.length;
  const perAttribute: Record<string, number> = {};
  for (const [name, value] of Object.entries(terms.attributes)) {
    perAttribute[name] = share((p) => p.family === terms.family && p.attributes[name] === value);
  }
  const attrs = Object.values(perAttribute);
  const all = tf.concat(features) as tf.Tensor2D;
  const diversity = meanPairwiseDistance(all);
  tf.dispose([all, ...features]);
  return {
    prompt,
    n: predictions.length,
    terms,
    family_acc: share((p) => p.family === terms.family),
    color_acc: terms.color ? share((p) => p.color === terms.color) : null,
    attr_acc: attrs.length ? attrs.reduce((a, b) => a + b, 0) / attrs.length : null,
    per_attribute: perAttribute,
    diversity,
  };
}

/** Adherence and diversity over several prompts: the mean of each score over the prompts that define it. */
export interface PromptEvalSummary {
  n: number;
  family_acc: number;
  color_acc: number | null;
  attr_acc: number | null;
  diversity: number;
  prompts: PromptEval[];
}

export function summarizePromptEvals(evals: PromptEval[]): PromptEvalSummary {
  const mean = (xs: Array<number | null>): number | null => {
    const defined = xs.filter((x): x is number => x !== null);
    return defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : null;
  };
  return {
    n: evals.reduce((a, e) => a + e.n, 0),
    family_acc: mean(evals.map((e) => e.family_acc))!,
    color_acc: mean(evals.map((e) => e.color_acc)),
    attr_acc: mean(evals.map((e) => e.attr_acc)),
    diversity: mean(evals.map((e) => e.diversity))!,
    prompts: evals,
  };
}
