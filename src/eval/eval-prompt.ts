/**
 * Prompt adherence and diversity of a text-to-image model, measured by the attribute probe:
 * sample n images of one prompt, classify each, and score the share whose family, main
 * colour and each named attribute match the prompt; diversity is the mean pairwise distance
 * between the images' probe features (0 when every sample is the same picture).
 */
import * as tf from '@tensorflow/tfjs';
import type { DiffusionModel } from '../pipeline/diffusion-model.js';
import type { Probe, ProbePrediction } from '../probe/index.js';
import { promptTerms, type PromptTerms } from './prompt-terms.js';
import { sampleAndProbe } from './sample-and-probe.js';

export interface PromptEvalOptions {
  n: number;
  seed: number;
  steps: number;
  guidance: number;
  /** Images sampled per UNet batch. */
  batch?: number;
  /** Threads to sample on (default 1); the scores do not depend on it. */
  workers?: number;
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

/** Mean Euclidean distance over all pairs of feature rows [N][F] (float32, on the backend). */
export function meanPairwiseDistance(rows: number[][]): number {
  const n = rows.length;
  if (n < 2) return 0;
  return tf.tidy(() => {
    const f = tf.tensor2d(rows);
    const sq = tf.sum(tf.square(f), 1, true);
    const d2 = tf.relu(tf.sub(tf.add(sq, tf.transpose(sq)), tf.mul(2, tf.matMul(f, f, false, true))));
    const total = tf.sum(tf.sqrt(d2)).dataSync()[0];
    return total / (n * (n - 1));
  });
}

export async function evaluatePrompt(model: DiffusionModel, probe: Probe, prompt: string, opts: PromptEvalOptions): Promise<PromptEval> {
  const terms = promptTerms(prompt);
  // the prompt is encoded once; each batch takes as many copies as it has images
  const states = model.encodePrompts([prompt]);
  let generated;
  try {
    generated = await sampleAndProbe(model, probe, (_first, count) => tf.tile(states, [count, 1, 1]) as tf.Tensor3D, { ...opts, batch: opts.batch ?? 16 });
  } finally {
    states.dispose();
  }
  const { predictions, features } = generated;
  const share = (ok: (p: ProbePrediction) => boolean) => predictions.filter(ok).length / predictions.length;
  const perAttribute: Record<string, number> = {};
  for (const [name, value] of Object.entries(terms.attributes)) {
    perAttribute[name] = share((p) => p.family === terms.family && p.attributes[name] === value);
  }
  const attrs = Object.values(perAttribute);
  return {
    prompt,
    n: predictions.length,
    terms,
    family_acc: share((p) => p.family === terms.family),
    color_acc: terms.color ? share((p) => p.color === terms.color) : null,
    attr_acc: attrs.length ? attrs.reduce((a, b) => a + b, 0) / attrs.length : null,
    per_attribute: perAttribute,
    diversity: meanPairwiseDistance(features),
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
