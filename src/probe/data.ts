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
  /**
   * Probabilities of the generated look, each drawn per image (absent = 0): `mottle` multiplies
   * the object's colours by a smooth random field (±10–50%), `speckle` whitens a random 2–20%
   * of its pixels (a fitted field's highlights and holes), `ragged` frays its outline (10–40% of
   * the edge pixels dropped, half as many grown), `drips` hangs 1–4 streaks of 2–6 px under it.
   * Why: a probe that has seen only clean renders judges a generated asset's blotchy surface by
   * colour and extent, and called red sacks on dripping legs chairs (docs/commands.md, probe).
   */
  mottle?: number;
  speckle?: number;
  ragged?: number;
  drips?: number;
}

export const DEFAULT_AUGMENT: AugmentOptions = {
  flip: 0.5,
  shift: 2,
  brightness: 0.08,
  channelGain: 0.04,
  offset: 0.03,
  noise: 0.04,
  blur: 0.3,
  mottle: 0.5,
  speckle: 0.3,
  ragged: 0.5,
  drips: 0.3,
};

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
  // the generated look draws after everything above, so options without it augment as before
  if (o.mottle || o.speckle || o.ragged || o.drips) generatedLook(img, S, rng, o);

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

/** The object's pixels in a float image on white: mean darkness (1 − mean channel) above 0.05. */
export function objectMask(img: Float32Array, S: number): Uint8Array {
  const m = new Uint8Array(S * S);
  for (let p = 0; p < S * S; p++) m[p] = 3 - img[p * 3]! - img[p * 3 + 1]! - img[p * 3 + 2]! > 0.15 ? 1 : 0;
  return m;
}

/** The object's surface and outline made to look fitted rather than rendered (`AugmentOptions.mottle` …). */
function generatedLook(img: Float32Array, S: number, rng: Rng, o: AugmentOptions): void {
  const mask = objectMask(img, S);
  const pixel = (p: number) => [img[p * 3]!, img[p * 3 + 1]!, img[p * 3 + 2]!] as const;
  const set = (p: number, rgb: readonly number[]) => rgb.forEach((v, ch) => (img[p * 3 + ch] = v < 0 ? 0 : v > 1 ? 1 : v));
  /** Each channel of pixel p through `f`, clamped to [0, 1]. */
  const recolour = (p: number, f: (v: number) => number) => set(p, pixel(p).map(f));
  if (rng.next() < (o.mottle ?? 0)) {
    // a 5×5 grid of values in [−1, 1], bilinear over the image
    const G = 4;
    const grid = Array.from({ length: (G + 1) * (G + 1) }, () => 2 * rng.next() - 1);
    const amp = 0.1 + 0.4 * rng.next();
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const p = y * S + x;
        if (!mask[p]) continue;
        const gx = (x / (S - 1)) * G;
        const gy = (y / (S - 1)) * G;
        const x0 = Math.min(G - 1, Math.floor(gx));
        const y0 = Math.min(G - 1, Math.floor(gy));
        const fx = gx - x0;
        const fy = gy - y0;
        const at = (i: number, j: number) => grid[(y0 + j) * (G + 1) + x0 + i]!;
        const f = (1 - fy) * ((1 - fx) * at(0, 0) + fx * at(1, 0)) + fy * ((1 - fx) * at(0, 1) + fx * at(1, 1));
        recolour(p, (v) => v * (1 + amp * f));
      }
    }
  }
  if (rng.next() < (o.speckle ?? 0)) {
    const density = 0.02 + 0.18 * rng.next();
    for (let p = 0; p < S * S; p++) {
      if (!mask[p] || rng.next() >= density) continue;
      const w = 0.4 + 0.6 * rng.next();
      recolour(p, (v) => v + w * (1 - v));
    }
  }
  if (rng.next() < (o.ragged ?? 0)) {
    const rate = 0.1 + 0.3 * rng.next();
    const before = mask.slice();
    const neighbours = (p: number) => {
      const x = p % S;
      return [p - S, p + S, x > 0 ? p - 1 : -1, x < S - 1 ? p + 1 : -1].filter((q) => q >= 0 && q < S * S);
    };
    for (let p = 0; p < S * S; p++) {
      const inside = neighbours(p).filter((q) => before[q]);
      if (before[p] && inside.length < 4 && rng.next() < rate) {
        set(p, [1, 1, 1]);
        mask[p] = 0;
      } else if (!before[p] && inside.length > 0 && rng.next() < rate / 2) {
        set(p, pixel(inside[0]!));
        mask[p] = 1;
      }
    }
  }
  if (rng.next() < (o.drips ?? 0)) {
    // the object's columns, in the order a row-major scan meets them
    const columns: number[] = [];
    for (let p = 0; p < S * S; p++) if (mask[p] && !columns.includes(p % S)) columns.push(p % S);
    const count = 1 + Math.floor(4 * rng.next());
    for (let k = 0; k < count && columns.length; k++) {
      const x = columns[Math.floor(rng.next() * columns.length)]!;
      let y = S - 1;
      while (y >= 0 && !mask[y * S + x]) y--;
      const colour = pixel(y * S + x);
      const length = 2 + Math.floor(5 * rng.next());
      for (let d = 1; d <= length && y + d < S; d++) set((y + d) * S + x, colour);
    }
  }
}
