/**
 * Sampling n images batch by batch and classifying them with the attribute probe: what
 * eval-prompt and eval-2d both measure.
 */
import * as tf from '@tensorflow/tfjs';
import type { DiffusionModel } from '../pipeline/diffusion-model.js';
import { sampleImages } from '../pipeline/text-to-image.js';
import type { Probe, ProbePrediction } from '../probe/index.js';

export interface GeneratedSet {
  predictions: ProbePrediction[];
  features: number[][];
}

export interface SampleSettings {
  n: number;
  steps: number;
  guidance: number;
  seed: number;
  batch: number;
  onProgress?: (done: number, total: number) => void;
}

/** Samples n images, `conditions(first, count)` giving each batch's prompts, and runs the probe on them. */
export function sampleAndProbe(model: DiffusionModel, probe: Probe, conditions: (first: number, count: number) => tf.Tensor3D, s: SampleSettings): GeneratedSet {
  const [height, width] = model.defaultSize;
  const uncond = model.encodePrompts(['']);
  const out: GeneratedSet = { predictions: [], features: [] };
  try {
    for (let first = 0, b = 0; first < s.n; first += s.batch, b++) {
      const count = Math.min(s.batch, s.n - first);
      const cond = conditions(first, count);
      const images = sampleImages(model, { cond, uncond, steps: s.steps, guidance: s.guidance, height, width, seed: s.seed + b });
      out.predictions.push(...probe.predict(images));
      const f = probe.features(images);
      out.features.push(...(f.arraySync() as number[][]));
      tf.dispose([cond, images, f]);
      s.onProgress?.(first + count, s.n);
    }
  } finally {
    uncond.dispose();
  }
  return out;
}

