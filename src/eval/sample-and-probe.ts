/**
 * Sampling n images (on `workers` threads, src/pipeline/sample-pool.ts) and classifying them
 * with the attribute probe: what eval-prompt and eval-2d both measure. Image i's noise depends
 * on (seed, i) alone, so the scores do not depend on the number of workers.
 */
import * as tf from '@tensorflow/tfjs';
import type { DiffusionModel } from '../pipeline/diffusion-model.js';
import { sampleInstances } from '../pipeline/sample-pool.js';
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
  /** Threads to sample on (default 1). */
  workers?: number;
  /** Read every image's attributes with this family's heads (Probe.predict); default: each image's predicted family. */
  attributesOf?: string;
  onProgress?: (done: number, total: number) => void;
}

/** Samples n images, `conditions(first, count)` giving the prompts of images first … first+count−1, and runs the probe on them. */
export async function sampleAndProbe(
  model: DiffusionModel,
  probe: Probe,
  conditions: (first: number, count: number) => tf.Tensor3D,
  s: SampleSettings,
): Promise<GeneratedSet> {
  const [height, width] = model.defaultSize;
  const uncond = model.encodePrompts(['']);
  let pixels: Float32Array;
  try {
    pixels = await sampleInstances(model, {
      n: s.n,
      conditions,
      uncond,
      settings: { steps: s.steps, guidance: s.guidance, seed: s.seed, height, width, views: 1, batch: s.batch },
      workers: s.workers ?? 1,
      onProgress: (done) => s.onProgress?.(Math.floor(done / s.steps), s.n),
    });
  } finally {
    uncond.dispose();
  }
  const out: GeneratedSet = { predictions: [], features: [] };
  const size = height * width * 3;
  for (let first = 0; first < s.n; first += s.batch) {
    const count = Math.min(s.batch, s.n - first);
    const images = tf.tensor4d(pixels.subarray(first * size, (first + count) * size), [count, height, width, 3]);
    out.predictions.push(...probe.predict(images, s.attributesOf));
    const f = probe.features(images);
    out.features.push(...(f.arraySync() as number[][]));
    tf.dispose([images, f]);
  }
  return out;
}
