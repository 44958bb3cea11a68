/**
 * Training batches from a scene dataset: images as NHWC floats in [−1, 1] and caption
 * token ids. Every image is re-captioned each time it is drawn (a fresh attribute subset,
 * the same view phrase), so the model sees partial prompts as well as full ones, and a
 * fraction of captions is dropped to the empty prompt for classifier-free guidance.
 * A batch depends only on (seed, step): a resumed run draws what the original would have.
 *
 * A multi-view dataset (V views per object) gives two kinds of step, chosen per step from
 * (seed, step): with probability `singleViewShare` a single-view batch exactly as above (a
 * null camera, so the model keeps sampling single images from text alone); otherwise B/V
 * objects with all their V views in order, one caption per object without a view phrase (the
 * cameras carry the view), and each object's cameras dropped to null with probability
 * `cameraDropout` (so the same weights serve uncalibrated photos). `familyWeights` draws the
 * objects of multi-view steps family by family with those relative weights instead of
 * uniformly: the camera pays where a family's look depends on the azimuth (cars, sofas,
 * chairs), and nothing where it does not (lamps, vases), and a model learns to read it only
 * from enough such objects at once (pretrain-configs.ts, mv32p). With `focusedShare` < 1 only
 * that share of multi-view steps is drawn by family (and, in pretrain.ts, at t ≥
 * multiview.minTimestep): the rest draw objects uniformly at every t, so multi-view denoising
 * of every family at low t, which those steps never train, is not forgotten (mv32q).
 */
import * as tf from '@tensorflow/tfjs';
import type { SceneDataset, SceneRecord } from '../dataset/scene-dataset.js';
import { COLOR_NAMES, caption } from '../../scenes/index.js';
import { deriveSeed, mulberry32 } from '../core/random.js';
import { CAMERA_FEATURES, cameraFeatures } from '../models/camera-embedding.js';
import type { TextTokenizer } from '../text/tokenizer.js';

export interface BatchOptions {
  seed: number;
  /** Probability of the empty caption (the unconditional prompt). */
  captionDropout: number;
  /** Lowest per-caption probability of mentioning each attribute (captions.ts minKeep); default 0. */
  captionMinKeep?: number;
  /** Multi-view datasets: probability that an object's cameras are null. */
  cameraDropout?: number;
  /** Multi-view datasets: share of steps that train on single images, with null cameras. */
  singleViewShare?: number;
  /** Multi-view datasets: relative weight of each family among multi-view objects; unlisted families weigh 1. */
  familyWeights?: Readonly<Record<string, number>>;
  /** Multi-view datasets: share of multi-view steps that are focused (familyWeights, minTimestep); default 1, all. */
  focusedShare?: number;
  /** Relative weight of each main colour among drawn objects, in every step; unlisted colours weigh 1. */
  colorWeights?: Readonly<Record<string, number>>;
}

/** Objects (their first image) and the cumulative share of the draws each takes, ending at 1. */
interface WeightedObjects {
  firsts: number[];
  cumulative: Float64Array;
}

/** The first object whose cumulative share exceeds u in [0, 1). */
function drawWeighted(table: WeightedObjects, u: number): number {
  let lo = 0;
  let hi = table.firsts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (u < table.cumulative[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return table.firsts[lo]!;
}

/**
 * Is multi-view step `step` focused: objects drawn by familyWeights, timesteps from
 * multiview.minTimestep? Always without a share below 1 (and then nothing is drawn, so runs
 * from before the key draw exactly what they did); else with probability `share`, from its
 * own (seed, step) stream, so batches and timesteps agree on it.
 */
export function isFocusedStep(seed: number, step: number, share: number | undefined): boolean {
  if (share === undefined || share >= 1) return true;
  return mulberry32(deriveSeed(seed, `focus/${step}`)).next() < share;
}

export interface Batch {
  /** [B, R, R, 3] in [−1, 1]. */
  images: tf.Tensor4D;
  ids: number[][];
  captions: string[];
  /** Images per object, consecutive in the batch: 1, or the dataset's V. */
  views: number;
  /** [B, CAMERA_FEATURES] camera features, zero rows for null cameras. */
  cameras: Float32Array;
}

export class SceneBatches {
  /** Every image of the dataset, [N, R, R, 3] bytes: 32×32 × 100k is 300 MB. */
  private readonly pixels: Uint8Array;
  private readonly records: SceneRecord[] = [];
  readonly res: number;
  /** With familyWeights: the first image of every object, per family, and the families' cumulative weights. */
  private readonly weighted?: { objects: number[][]; cumulative: number[] };
  /** With colorWeights: every object weighed by its colour, and in focused steps by its family too. */
  private readonly byColor?: { all: WeightedObjects; focused: WeightedObjects };

  constructor(
    readonly dataset: SceneDataset,
    readonly tokenizer: TextTokenizer,
    readonly options: BatchOptions,
  ) {
    this.res = dataset.res;
    const frame = this.res * this.res * 3;
    this.pixels = new Uint8Array(dataset.length * frame);
    for (let s = 0; s < dataset.shardCount; s++) {
      const shard = dataset.shard(s);
      const first = s * dataset.settings.shard_size * dataset.views;
      this.pixels.set(shard.images, first * frame);
      for (const r of shard.records) this.records.push(r);
    }
    const share = options.focusedShare;
    if (share !== undefined && !(share >= 0 && share <= 1)) throw new RangeError(`focusedShare: expected a share in [0, 1], got ${share}`);
    if (options.familyWeights && dataset.views > 1) this.weighted = this.familyTable(options.familyWeights);
    if (options.colorWeights) this.byColor = this.colorTables(options.colorWeights, dataset.views > 1 ? options.familyWeights : undefined);
  }

  private colorTables(
    colors: Readonly<Record<string, number>>,
    families?: Readonly<Record<string, number>>,
  ): { all: WeightedObjects; focused: WeightedObjects } {
    for (const [color, w] of Object.entries(colors)) {
      if (!COLOR_NAMES.includes(color)) throw new RangeError(`colorWeights: "${color}" is not a colour (expected one of ${COLOR_NAMES.join(', ')})`);
      if (!(Number.isFinite(w) && w >= 0)) throw new RangeError(`colorWeights.${color}: expected a finite weight >= 0, got ${w}`);
    }
    const views = this.dataset.views;
    const table = (weightOf: (r: SceneRecord) => number): WeightedObjects => {
      const firsts: number[] = [];
      const weights: number[] = [];
      for (let first = 0; first < this.length; first += views) {
        const w = weightOf(this.records[first]!);
        if (w > 0) (firsts.push(first), weights.push(w));
      }
      const total = weights.reduce((a, b) => a + b, 0);
      if (total === 0) throw new RangeError('colorWeights: every object of the dataset weighs 0');
      const cumulative = new Float64Array(weights.length);
      let sum = 0;
      weights.forEach((w, k) => (cumulative[k] = (sum += w) / total));
      return { firsts, cumulative };
    };
    const colorWeight = (r: SceneRecord): number => colors[r.attributes.color ?? ''] ?? 1;
    const all = table(colorWeight);
    return { all, focused: families ? table((r) => colorWeight(r) * (families[r.attributes.family] ?? 1)) : all };
  }

  private familyTable(weights: Readonly<Record<string, number>>): { objects: number[][]; cumulative: number[] } {
    const byFamily = new Map<string, number[]>();
    for (let first = 0; first < this.length; first += this.dataset.views) {
      const family = this.records[first]!.attributes.family;
      if (!byFamily.has(family)) byFamily.set(family, []);
      byFamily.get(family)!.push(first);
    }
    for (const [family, w] of Object.entries(weights)) {
      if (!byFamily.has(family))
        throw new RangeError(`familyWeights: the dataset has no objects of family "${family}" (it has ${[...byFamily.keys()].join(', ')})`);
      if (!(Number.isFinite(w) && w >= 0)) throw new RangeError(`familyWeights.${family}: expected a finite weight >= 0, got ${w}`);
    }
    const objects: number[][] = [];
    const cumulative: number[] = [];
    let total = 0;
    for (const [family, firsts] of byFamily) {
      const w = weights[family] ?? 1;
      if (w === 0) continue;
      total += w;
      objects.push(firsts);
      cumulative.push(total);
    }
    if (total === 0) throw new RangeError('familyWeights: every family weighs 0');
    return { objects, cumulative: cumulative.map((c) => c / total) };
  }

  /** The first image of a multi-view object, drawn by familyWeights in a focused step, else uniformly. */
  private drawObject(rng: { next(): number }, views: number, focused: boolean): number {
    if (this.byColor) return drawWeighted(focused ? this.byColor.focused : this.byColor.all, rng.next());
    if (!this.weighted || !focused) return Math.floor(rng.next() * (this.length / views)) * views;
    const u = rng.next();
    const f = this.weighted.cumulative.findIndex((c) => u < c);
    const firsts = this.weighted.objects[f === -1 ? this.weighted.objects.length - 1 : f]!;
    return firsts[Math.floor(rng.next() * firsts.length)]!;
  }

  get length(): number {
    return this.records.length;
  }

  /** Views per object in step `step`'s batch: 1 for a single-view dataset or a single-view step, else V. */
  viewsAt(step: number): number {
    const v = this.dataset.views;
    if (v === 1) return 1;
    const rng = mulberry32(deriveSeed(this.options.seed, `views/${step}`));
    return rng.next() < (this.options.singleViewShare ?? 0) ? 1 : v;
  }

  /** Batch number `step` of size `size`: indices, fresh captions and dropout all drawn from (seed, step). */
  batch(step: number, size: number): Batch {
    const views = this.viewsAt(step);
    if (size % views !== 0) throw new RangeError(`a batch of ${size} is not a whole number of ${views}-view objects`);
    const rng = mulberry32(deriveSeed(this.options.seed, `batch/${step}`));
    const frame = this.res * this.res * 3;
    const data = new Float32Array(size * frame);
    const cameras = new Float32Array(size * CAMERA_FEATURES);
    const captions: string[] = [];
    const copy = (i: number, b: number) => {
      const src = this.pixels.subarray(i * frame, (i + 1) * frame);
      for (let k = 0; k < frame; k++) data[b * frame + k] = src[k] / 127.5 - 1;
    };
    if (views === 1) {
      for (let b = 0; b < size; b++) {
        const i = this.byColor
          ? drawWeighted(this.byColor.all, rng.next()) + Math.floor(rng.next() * this.dataset.views)
          : Math.floor(rng.next() * this.length);
        copy(i, b);
        const r = this.records[i];
        const dropped = rng.next() < this.options.captionDropout;
        const text = dropped
          ? ''
          : caption(r.attributes, { azimuthDeg: r.camera.azimuth, elevationDeg: r.camera.elevation }, Math.floor(rng.next() * 2 ** 31), {
              minKeep: this.options.captionMinKeep,
            });
        captions.push(text);
      }
    } else {
      const focused = isFocusedStep(this.options.seed, step, this.options.focusedShare);
      for (let o = 0; o < size / views; o++) {
        const first = this.drawObject(rng, views, focused);
        const r = this.records[first];
        const dropped = rng.next() < this.options.captionDropout;
        const text = dropped
          ? ''
          : caption(r.attributes, { azimuthDeg: 0, elevationDeg: 0 }, Math.floor(rng.next() * 2 ** 31), {
              viewPhrase: false,
              minKeep: this.options.captionMinKeep,
            });
        const withCamera = rng.next() >= (this.options.cameraDropout ?? 0);
        for (let v = 0; v < views; v++) {
          const b = o * views + v;
          copy(first + v, b);
          captions.push(text);
          if (withCamera) cameras.set(cameraFeatures(this.records[first + v].camera), b * CAMERA_FEATURES);
        }
      }
    }
    const ids = captions.map((c) => this.tokenizer.call(c).ids);
    return { images: tf.tensor4d(data, [size, this.res, this.res, 3]), ids, captions, views, cameras };
  }
}
