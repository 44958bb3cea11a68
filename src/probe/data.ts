/**
 * Scene datasets as probe training data: every image and its labels in memory, and the
 * augmentation that makes clean renders look a little more like generated images.
 */
import { gaussian, type Rng } from '../core/random.js';
import { SceneDataset, type SceneRecord } from '../dataset/scene-dataset.js';
import { Dd3dError } from '../core/errors.js';
import type { ProbeConfig } from './spec.js';

/** A dataset's images and labels, by head. */
export interface ProbeData {
  dir: string;
  n: number;
  /** Side of the stored images (a multiple of the probe's resolution). */
  res: number;
  /** n·res·res·3 sRGB bytes. */
  images: Uint8Array;
  family: Int32Array;
  color: Int32Array;
  /**
   * [n, attribute heads]: the value index of each head that applies to the image's family,
   * −1 for heads of other families.
   */
  attrs: Int16Array;
  /** The records as read (for reports). */
  records: SceneRecord[];
}

/**
 * Reads a whole scene dataset and turns its attributes into head labels. A family, colour
 * or attribute value the probe does not know is a Dd3dError naming the image.
 */
export function loadProbeData(dir: string, cfg: ProbeConfig, onProgress?: (done: number, total: number) => void): ProbeData {
  const ds = SceneDataset.open(dir);
  const n = ds.length;
  const res = ds.res;
  if (res % cfg.res !== 0)
    throw new Dd3dError(`${dir}: images are ${res}×${res}; the probe takes ${cfg.res}×${cfg.res} (a dataset at a multiple of it is downsampled)`);
  const frame = res * res * 3;
  const images = new Uint8Array(n * frame);
  const family = new Int32Array(n);
  const color = new Int32Array(n);
  const H = cfg.attribute_heads.length;
  const attrs = new Int16Array(n * H).fill(-1);
  const records: SceneRecord[] = [];
  const famIndex = new Map(cfg.families.map((f, i) => [f, i]));
  const colIndex = new Map(cfg.colors.map((c, i) => [c, i]));
  const headsOf = new Map<string, Array<{ h: number; attribute: string; values: Map<string, number> }>>();
  cfg.attribute_heads.forEach((head, h) => {
    const list = headsOf.get(head.family) ?? [];
    list.push({ h, attribute: head.attribute, values: new Map(head.values.map((v, i) => [v, i])) });
    headsOf.set(head.family, list);
  });
  let i = 0;
  for (let s = 0; s < ds.shardCount; s++) {
    const shard = ds.shard(s);
    images.set(shard.images, i * frame);
    for (const rec of shard.records) {
      const where = `${dir}: image ${rec.index}`;
      const a = rec.attributes;
      const f = famIndex.get(a.family);
      if (f === undefined) throw new Dd3dError(`${where}: family "${a.family}" is not one the probe knows (${cfg.families.join(', ')})`);
      const c = colIndex.get(a.color ?? '');
      if (c === undefined) throw new Dd3dError(`${where}: colour "${a.color}" is not one the probe knows (${cfg.colors.join(', ')})`);
      family[i] = f;
      color[i] = c;
      for (const head of headsOf.get(a.family) ?? []) {
        const value = a[head.attribute];
        const v = value === undefined ? undefined : head.values.get(value);
        if (v === undefined)
          throw new Dd3dError(
            `${where}: ${a.family} attribute "${head.attribute}" is ${value === undefined ? 'missing' : `"${value}", not one of ${[...head.values.keys()].join(', ')}`}`,
          );
        attrs[i * H + head.h] = v;
      }
      records.push(rec);
      i++;
    }
    onProgress?.(i, n);
  }
  return { dir, n, res, images, family, color, attrs, records };
}

/** Strength of the training augmentation; `none` turns it off. */
export interface AugmentOptions {
  /** Probability of a horizontal flip (the attributes are left-right symmetric). */
  flip: number;
  /** Largest shift in pixels at 32×32 (scaled with the resolution), filled with the white background. */
  shift: number;
  /** Brightness gain range ±. */
  brightness: number;
  /** Per-channel gain range ±. */
  channelGain: number;
  /** Per-image offset range ± (in [0, 1] units). */
  offset: number;
  /** Largest per-pixel Gaussian noise standard deviation (drawn uniformly per image). */
  noise: number;
  /** Probability of a 3×3 binomial blur, mixed in with a random weight. */
  blur: number;
}

export const DEFAULT_AUGMENT: AugmentOptions = { flip: 0.5, shift: 2, brightness: 0.08, channelGain: 0.04, offset: 0.03, noise: 0.04, blur: 0.3 };

/**
 * Writes image `src` (R·R·3 bytes at side R) into `dst` as floats in [0, 1], box-downsampled
 * by `factor`, and augmented when `aug` is given. Every random draw comes from `rng`.
 */
export function imageToFloat(src: Uint8Array, R: number, factor: number, dst: Float32Array, aug?: { rng: Rng; opts: AugmentOptions }): void {
  const S = R / factor;
  const inv = 1 / (255 * factor * factor);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      for (let ch = 0; ch < 3; ch++) {
        let sum = 0;
        for (let dy = 0; dy < factor; dy++) for (let dx = 0; dx < factor; dx++) sum += src[((y * factor + dy) * R + x * factor + dx) * 3 + ch]!;
        dst[(y * S + x) * 3 + ch] = sum * inv;
      }
    }
  }
  if (aug) augment(dst, S, aug.rng, aug.opts);
}

/** Augments one float image [S, S, 3] in place (values stay in [0, 1]). */
export function augment(img: Float32Array, S: number, rng: Rng, o: AugmentOptions): void {
  const flip = rng.next() < o.flip;
  const maxShift = Math.round((o.shift * S) / 32);
  const sx = rng.int(-maxShift, maxShift);
  const sy = rng.int(-maxShift, maxShift);
  const gain = 1 + o.brightness * (2 * rng.next() - 1);
  const cg = [0, 1, 2].map(() => gain * (1 + o.channelGain * (2 * rng.next() - 1)));
  const off = o.offset * (2 * rng.next() - 1);
  const blur = rng.next() < o.blur ? rng.next() : 0;
  const sigma = o.noise * rng.next();

  const src = img.slice();
  // geometry: flip, then shift (white comes in from the edges)
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const yy = y - sy;
      let xx = x - sx;
      const d = (y * S + x) * 3;
      if (yy < 0 || yy >= S || xx < 0 || xx >= S) {
        img[d] = img[d + 1] = img[d + 2] = 1;
        continue;
      }
      if (flip) xx = S - 1 - xx;
      const s = (yy * S + xx) * 3;
      img[d] = src[s]!;
      img[d + 1] = src[s + 1]!;
      img[d + 2] = src[s + 2]!;
    }
  }
  if (blur > 0) {
    const b = img.slice();
    const at = (y: number, x: number, ch: number) => b[(Math.min(S - 1, Math.max(0, y)) * S + Math.min(S - 1, Math.max(0, x))) * 3 + ch]!;
    const k = [1, 2, 1];
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        for (let ch = 0; ch < 3; ch++) {
          let sum = 0;
          for (let i = -1; i <= 1; i++) for (let j = -1; j <= 1; j++) sum += k[i + 1]! * k[j + 1]! * at(y + i, x + j, ch);
          const d = (y * S + x) * 3 + ch;
          img[d] = (1 - blur) * img[d]! + (blur * sum) / 16;
        }
      }
    }
  }
  for (let p = 0; p < S * S; p++) {
    for (let ch = 0; ch < 3; ch++) {
      const d = p * 3 + ch;
      const v = img[d]! * cg[ch]! + off + (sigma > 0 ? sigma * gaussian(rng) : 0);
      img[d] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
}
