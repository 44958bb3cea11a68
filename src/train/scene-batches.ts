/**
 * Training batches from a scene dataset: images as NHWC floats in [−1, 1] and caption
 * token ids. Every image is re-captioned each time it is drawn (a fresh attribute subset,
 * the same view phrase), so the model sees partial prompts as well as full ones, and a
 * fraction of captions is dropped to the empty prompt for classifier-free guidance.
 * A batch depends only on (seed, step): a resumed run draws what the original would have.
 */
import * as tf from '@tensorflow/tfjs';
import type { SceneDataset } from '../dataset/scene-dataset.js';
import { caption, deriveSeed, mulberry32 } from '../../scenes/index.js';
import type { TextTokenizer } from '../text/tokenizer.js';

export interface BatchOptions {
  seed: number;
  /** Probability of the empty caption (the unconditional prompt). */
  captionDropout: number;
}

export interface Batch {
  /** [B, R, R, 3] in [−1, 1]. */
  images: tf.Tensor4D;
  ids: number[][];
  captions: string[];
}

export class SceneBatches {
  /** Every image of the dataset, [N, R, R, 3] bytes: 32×32 × 100k is 300 MB. */
  private readonly pixels: Uint8Array;
  private readonly records: Array<{ attributes: Record<string, string> & { family: string }; camera: { azimuth: number; elevation: number } }> = [];
  readonly res: number;

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
      const first = s * dataset.settings.shard_size;
      this.pixels.set(shard.images, first * frame);
      for (const r of shard.records) this.records.push(r as (typeof this.records)[number]);
    }
  }

  get length(): number {
    return this.records.length;
  }

  /** Batch number `step` of size `size`: indices, fresh captions and dropout all drawn from (seed, step). */
  batch(step: number, size: number): Batch {
    const rng = mulberry32(deriveSeed(this.options.seed, `batch/${step}`));
    const frame = this.res * this.res * 3;
    const data = new Float32Array(size * frame);
    const captions: string[] = [];
    for (let b = 0; b < size; b++) {
      const i = Math.floor(rng.next() * this.length);
      const src = this.pixels.subarray(i * frame, (i + 1) * frame);
      for (let k = 0; k < frame; k++) data[b * frame + k] = src[k] / 127.5 - 1;
      const r = this.records[i];
      const dropped = rng.next() < this.options.captionDropout;
      const text = dropped ? '' : caption(r.attributes, { azimuthDeg: r.camera.azimuth, elevationDeg: r.camera.elevation }, Math.floor(rng.next() * 2 ** 31));
      captions.push(text);
    }
    const ids = captions.map((c) => this.tokenizer.call(c).ids);
    return { images: tf.tensor4d(data, [size, this.res, this.res, 3]), ids, captions };
  }
}
