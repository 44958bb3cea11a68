/**
 * Splitting the references into C groups, one per mixture component. A single Gaussian over
 * text-encoder states cannot hold two separate modes (red chairs and blue chairs): sampling
 * it blends them, so every component of a mixture learns from one group of references.
 * Groups come from k-means over each file's per-channel quantiles of what the UNet sees
 * (pixels or latents), pooled over the file's views: the distance between two such vectors is
 * the 2-Wasserstein distance between the channels' value distributions, which follows colour
 * and ignores where things are, so pose and framing do not split a group (k-means on pooled
 * pixels grouped chairs by pose, not colour).
 */
import * as tf from '@tensorflow/tfjs';
import { mulberry32, type Rng } from '../core/random.js';
import { Dd3dError } from '../core/errors.js';

const QUANTILES = 16;
const RESTARTS = 8;
const ITERATIONS = 50;

/** One feature row per file: for each channel, 16 quantiles of the values over all its views. */
export function groupFeatures(targets: tf.Tensor4D, source: number[], files: number): number[][] {
  const [n, h, w, channels] = targets.shape;
  const data = targets.dataSync();
  const size = h * w;
  return Array.from({ length: files }, (_, f) => {
    const views = Array.from({ length: n }, (_, v) => v).filter((v) => source[v] === f);
    return Array.from({ length: channels }, (_, c) => {
      const values = new Float32Array(views.length * size);
      views.forEach((v, k) => {
        for (let p = 0; p < size; p++) values[k * size + p] = data[(v * size + p) * channels + c]!;
      });
      values.sort();
      return Array.from({ length: QUANTILES }, (_, q) => values[Math.floor(((q + 0.5) * values.length) / QUANTILES)]!);
    }).flat();
  });
}

const dist2 = (a: number[], b: number[]) => a.reduce((t, x, i) => t + (x - b[i]!) ** 2, 0);

/** k-means++ seeding then Lloyd iterations; null when the points hold fewer than k distinct centres or a cluster ends up empty. */
function kmeansOnce(points: number[][], k: number, rng: Rng): { labels: number[]; inertia: number } | null {
  const centres = [points[rng.int(0, points.length - 1)]!];
  while (centres.length < k) {
    const d = points.map((p) => Math.min(...centres.map((c) => dist2(p, c))));
    const total = d.reduce((a, b) => a + b, 0);
    if (total === 0) return null;
    let u = rng.next() * total;
    let i = 0;
    while (i < points.length - 1 && u >= d[i]!) u -= d[i++]!;
    centres.push(points[i]!);
  }
  let labels: number[] = [];
  for (let it = 0; it < ITERATIONS; it++) {
    const next = points.map((p) => centres.reduce((best, c, j) => (dist2(p, c) < dist2(p, centres[best]!) ? j : best), 0));
    const same = next.every((l, i) => l === labels[i]);
    labels = next;
    for (let j = 0; j < k; j++) {
      const members = points.filter((_, i) => labels[i] === j);
      if (members.length === 0) return null;
      centres[j] = members[0]!.map((_, c) => members.reduce((t, m) => t + m[c]!, 0) / members.length);
    }
    if (same) break;
  }
  return { labels, inertia: points.reduce((t, p, i) => t + dist2(p, centres[labels[i]!]!), 0) };
}

/**
 * The group of each file, 0 … k−1, from the best (lowest within-group sum of squares) of a few
 * seeded k-means++ runs. Groups are numbered by their first file, so the result does not
 * depend on which restart won.
 */
export function groupReferences(features: number[][], k: number, seed: number): number[] {
  if (k === 1) return features.map(() => 0);
  if (k > features.length) throw new Dd3dError(`--components: ${k} components need at least ${k} reference images, got ${features.length}`);
  const rng = mulberry32(seed);
  let best: { labels: number[]; inertia: number } | null = null;
  for (let r = 0; r < RESTARTS; r++) {
    const run = kmeansOnce(features, k, rng);
    if (run && (!best || run.inertia < best.inertia)) best = run;
  }
  if (!best)
    throw new Dd3dError(
      `--components: the ${features.length} reference images do not split into ${k} distinct groups (too many identical images); use fewer components`,
    );
  const order = new Map<number, number>();
  for (const l of best.labels) if (!order.has(l)) order.set(l, order.size);
  return best.labels.map((l) => order.get(l)!);
}

/** Prompts per component: K split as evenly as possible, the first components taking the remainder. */
export function promptsPerComponent(prompts: number, components: number): number[] {
  return Array.from({ length: components }, (_, c) => Math.floor(prompts / components) + (c < prompts % components ? 1 : 0));
}
