/**
 * The attribute probe: a small CNN that classifies images of the procedural world (family,
 * main colour, each family attribute) and exposes its penultimate-layer features for
 * distribution metrics (diversity, FID-like distances).
 *
 * Network (NHWC, float32): for each conv layer of the config, a 3×3 convolution (no bias,
 * "same" padding) → batch norm → ReLU, with a 2×2 max pool after the layers marked `pool`;
 * then global average pooling, a dense layer + ReLU (the feature vector, `feature_dim`
 * wide), and one dense head per classifier, all heads computed as one matmul.
 *
 * Weights (`model.safetensors`, F32, keyed by layer name):
 * - `<conv>.weight` [3, 3, in, out] (HWIO), `<conv>.bn.gamma`, `<conv>.bn.beta`,
 *   `<conv>.bn.moving_mean`, `<conv>.bn.moving_variance` [out];
 * - `features.weight` [C, F], `features.bias` [F];
 * - `head.family.*`, `head.color.*`, `head.<family>.<attribute>.*`: `.weight` [F, classes], `.bias` [classes].
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { openSafetensors, writeSafetensors, type Tensor } from '../io/safetensors.js';
import { headLayout, validateConfig, type HeadLayout, type ProbeConfig } from './spec.js';
import { readJsonFile } from '../io/regular-file.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';

/**
 * Images for the probe, NHWC at the probe's resolution (or an integer multiple of it, which
 * is box-downsampled):
 * - a float tensor [N, R, R, 3] with values in [0, 1] (what the samplers return);
 * - a Uint8Array of N·R·R·3 sRGB bytes (what scene datasets hold), or a list of per-image
 *   byte arrays (each side × side × 3, side a multiple of R).
 */
export type ProbeImages = tf.Tensor4D | Uint8Array | readonly Uint8Array[];

export interface ProbePrediction {
  family: string;
  color: string;
  /** The predicted family's attributes (main colour excluded: it is `color`). */
  attributes: Record<string, string>;
  probabilities: {
    family: Record<string, number>;
    color: Record<string, number>;
    /** The predicted family's attribute heads: attribute → value → probability. */
    attributes: Record<string, Record<string, number>>;
  };
}

/** Shapes of every weight tensor a config implies, in a fixed order. */
export function weightShapes(cfg: ProbeConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const c of cfg.architecture.convs) {
    shapes.set(`${c.name}.weight`, [3, 3, c.in, c.out]);
    for (const p of ['gamma', 'beta', 'moving_mean', 'moving_variance']) shapes.set(`${c.name}.bn.${p}`, [c.out]);
  }
  const last = cfg.architecture.convs[cfg.architecture.convs.length - 1]!.out;
  const F = cfg.architecture.feature_dim;
  shapes.set('features.weight', [last, F]);
  shapes.set('features.bias', [F]);
  for (const h of headLayout(cfg)) {
    shapes.set(`${h.name}.weight`, [F, h.classes.length]);
    shapes.set(`${h.name}.bias`, [h.classes.length]);
  }
  return shapes;
}

/** Whether a weight is learned by gradient descent (batch-norm moving statistics are not). */
export const isTrainable = (name: string): boolean => !name.endsWith('.moving_mean') && !name.endsWith('.moving_variance');

/** Batch statistics of one batch-norm layer, from a training-mode forward pass. */
export interface BatchStats {
  layer: string;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  /** Values per channel the statistics were taken over. */
  count: number;
}

let probeCount = 0;

export class Probe {
  readonly config: ProbeConfig;
  readonly heads: HeadLayout[];
  /** Every weight as a variable, keyed by its safetensors name. */
  readonly params: Map<string, tf.Variable>;
  private disposed = false;

  /**
   * Builds a probe from a config and weights keyed as in `weightShapes` (copied into
   * variables). In memory the heads are one matrix `heads.weight` [F, Σ classes] and one
   * `heads.bias`, in `heads` order, so they cost one matmul and one optimizer update.
   * Use `loadProbe` for folders.
   */
  constructor(config: ProbeConfig, weights: Map<string, Float32Array>) {
    this.config = config;
    this.heads = headLayout(config);
    this.params = new Map();
    // tfjs variable names are global: each probe gets its own prefix
    const prefix = `probe${++probeCount}`;
    const get = (name: string, shape: number[]): Float32Array => {
      const data = weights.get(name);
      if (!data) throw new Error(`probe: weight "${name}" missing`);
      if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`probe: weight "${name}" has ${data.length} values, expected [${shape}]`);
      return data;
    };
    const F = config.architecture.feature_dim;
    const T = this.heads.reduce((sum, h) => sum + h.classes.length, 0);
    const hw = new Float32Array(F * T);
    const hb = new Float32Array(T);
    for (const [name, shape] of weightShapes(config)) {
      const data = get(name, shape);
      if (!name.startsWith('head.')) {
        this.params.set(name, tf.variable(tf.tensor(data, shape, 'float32'), isTrainable(name), `${prefix}/${name}`));
        continue;
      }
      const head = this.headOf(name);
      const k = head.classes.length;
      if (name.endsWith('.bias')) hb.set(data, head.offset);
      else for (let f = 0; f < F; f++) hw.set(data.subarray(f * k, (f + 1) * k), f * T + head.offset);
    }
    this.params.set('heads.weight', tf.variable(tf.tensor2d(hw, [F, T]), true, `${prefix}/heads.weight`));
    this.params.set('heads.bias', tf.variable(tf.tensor1d(hb), true, `${prefix}/heads.bias`));
  }

  get res(): number {
    return this.config.res;
  }

  /** Length F of the feature vector. */
  get featureDim(): number {
    return this.config.architecture.feature_dim;
  }

  /** The head a `head.*` weight name belongs to (its slice of `heads.weight` / `heads.bias`). */
  private headOf(weightName: string): HeadLayout {
    return this.heads.find((h) => weightName === `${h.name}.weight` || weightName === `${h.name}.bias`)!;
  }

  private p(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`probe: no weight "${name}"`);
    return v;
  }

  /**
   * The network on normalized input x [N, R, R, 3]. In training mode batch norm uses the
   * batch's statistics and returns them in `stats` (for the moving averages); otherwise it
   * uses the stored moving statistics.
   */
  forward(x: tf.Tensor4D, training = false): { features: tf.Tensor2D; logits: tf.Tensor2D; stats: BatchStats[] } {
    const { convs, bn_epsilon: eps } = this.config.architecture;
    const stats: BatchStats[] = [];
    let h: tf.Tensor4D = x;
    for (const c of convs) {
      h = tf.conv2d(h, this.p(`${c.name}.weight`) as tf.Tensor4D, c.stride, 'same');
      const gamma = this.p(`${c.name}.bn.gamma`);
      const beta = this.p(`${c.name}.bn.beta`);
      if (training) {
        h = batchNormTraining(h, gamma, beta, eps, c.name, stats);
      } else {
        const scale = tf.mul(gamma, tf.rsqrt(tf.add(this.p(`${c.name}.bn.moving_variance`), eps)));
        const shift = tf.sub(beta, tf.mul(this.p(`${c.name}.bn.moving_mean`), scale));
        h = tf.add(tf.mul(h, scale), shift);
      }
      h = tf.relu(h);
      if (c.pool) h = tf.maxPool(h, 2, 2, 'valid');
    }
    const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
    const features = tf.relu(tf.add(tf.matMul(pooled, this.p('features.weight')), this.p('features.bias'))) as tf.Tensor2D;
    const logits = tf.add(tf.matMul(features, this.p('heads.weight')), this.p('heads.bias')) as tf.Tensor2D;
    return { features, logits, stats };
  }

  /** Images → normalized float input [N, R, R, 3] at the probe's resolution. */
  prepare(images: ProbeImages): tf.Tensor4D {
    const R = this.res;
    const { mean, std, scale } = this.config.normalization;
    return tf.tidy(() => {
      let x: tf.Tensor4D;
      if (images instanceof tf.Tensor) {
        if (images.rank !== 4 || images.shape[3] !== 3) throw new Dd3dError(`probe: expected images [N, H, W, 3], got [${images.shape}]`);
        x = images.toFloat();
      } else {
        const bytes = concatBytes(images);
        // a flat byte array holds images at the probe's resolution; a list may hold larger ones
        const side = images instanceof Uint8Array ? R : sideOf(images[0]?.length ?? 0);
        if (bytes.length === 0 || bytes.length % (side * side * 3) !== 0)
          throw new Dd3dError(`probe: ${bytes.length} bytes is not a whole, non-zero number of ${side}×${side}×3 images`);
        x = tf
          .tensor4d(bytes, [bytes.length / (side * side * 3), side, side, 3], 'int32')
          .toFloat()
          .mul(scale);
      }
      const [, H, W] = x.shape;
      if (H !== W || H % R !== 0) throw new Dd3dError(`probe: images are ${H}×${W}, this probe takes ${R}×${R} (or a multiple of it, downsampled)`);
      if (H !== R) x = tf.avgPool(x, H / R, H / R, 'valid');
      return x.sub(tf.tensor1d(mean)).div(tf.tensor1d(std));
    });
  }

  /** Runs inference in chunks of `batch` images and concatenates `pick`'s outputs. */
  private run(images: ProbeImages, pick: (out: { features: tf.Tensor2D; logits: tf.Tensor2D }) => tf.Tensor2D, batch = 256): tf.Tensor2D {
    this.checkAlive();
    const x = this.prepare(images);
    try {
      const N = x.shape[0];
      const parts: tf.Tensor2D[] = [];
      for (let i = 0; i < N; i += batch) {
        parts.push(tf.tidy(() => pick(this.forward(x.slice([i, 0, 0, 0], [Math.min(batch, N - i), -1, -1, -1]), false))));
      }
      if (parts.length === 1) return parts[0]!;
      const out = tf.concat(parts, 0);
      tf.dispose(parts);
      return out;
    } finally {
      x.dispose();
    }
  }

  /** Penultimate-layer features [N, F] (F = `featureDim`, non-negative: after ReLU). The caller disposes. */
  features(images: ProbeImages): tf.Tensor2D {
    return this.run(images, (o) => o.features);
  }

  /** Raw logits of every head, concatenated in `heads` order [N, Σ classes]. The caller disposes. */
  logits(images: ProbeImages): tf.Tensor2D {
    return this.run(images, (o) => o.logits);
  }

  /**
   * Classifies each image: family, main colour and the predicted family's attributes, with
   * probabilities; `attributesOf` reads that family's attribute heads instead (how a view of an
   * asset meant to be a chair scores on the chair's attributes, whatever family it looks like).
   */
  predict(images: ProbeImages, attributesOf?: string): ProbePrediction[] {
    const logits = this.logits(images);
    const [N, T] = logits.shape;
    const all = logits.dataSync() as Float32Array;
    logits.dispose();
    const out: ProbePrediction[] = [];
    for (let n = 0; n < N; n++) {
      const row = all.subarray(n * T, (n + 1) * T);
      const fam = softmaxHead(row, this.heads[0]!);
      const col = softmaxHead(row, this.heads[1]!);
      const pred: ProbePrediction = {
        family: fam.best,
        color: col.best,
        attributes: {},
        probabilities: { family: fam.probs, color: col.probs, attributes: {} },
      };
      this.config.attribute_heads.forEach((h, i) => {
        if (h.family !== (attributesOf ?? fam.best)) return;
        const r = softmaxHead(row, this.heads[i + 2]!);
        pred.attributes[h.attribute] = r.best;
        pred.probabilities.attributes[h.attribute] = r.probs;
      });
      out.push(pred);
    }
    return out;
  }

  /** Copies of every weight, keyed by safetensors name (heads split per head again). */
  weights(): Map<string, Float32Array> {
    this.checkAlive();
    const out = new Map<string, Float32Array>();
    const hw = this.p('heads.weight').dataSync() as Float32Array;
    const hb = this.p('heads.bias').dataSync() as Float32Array;
    const F = this.featureDim;
    const T = hb.length;
    for (const name of weightShapes(this.config).keys()) {
      if (!name.startsWith('head.')) {
        out.set(name, this.p(name).dataSync().slice() as Float32Array);
        continue;
      }
      const head = this.headOf(name);
      const k = head.classes.length;
      if (name.endsWith('.bias')) out.set(name, hb.slice(head.offset, head.offset + k));
      else {
        const w = new Float32Array(F * k);
        for (let f = 0; f < F; f++) w.set(hw.subarray(f * T + head.offset, f * T + head.offset + k), f * k);
        out.set(name, w);
      }
    }
    return out;
  }

  /** Writes `config.json` and `model.safetensors` into `dir` (created), each atomically. */
  save(dir: string): void {
    this.checkAlive();
    fs.mkdirSync(dir, { recursive: true });
    const tensors = new Map<string, Tensor>();
    const shapes = weightShapes(this.config);
    for (const [name, data] of this.weights()) tensors.set(name, { dtype: 'F32', shape: shapes.get(name)!, data });
    writeSafetensors(path.join(dir, WEIGHTS_FILE), tensors, { format: this.config.format, version: String(this.config.version) });
    writeFileAtomic(path.join(dir, CONFIG_FILE), `${JSON.stringify(this.config, null, 2)}\n`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.params.values()) v.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('probe: used after dispose()');
  }
}

/**
 * Batch norm over a batch's own statistics, with the textbook backward pass written out
 * (three reductions instead of autograd's dozen small ops). The batch mean and biased
 * variance are kept and pushed to `stats`; the caller disposes them.
 */
function batchNormTraining(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, eps: number, layer: string, stats: BatchStats[]): tf.Tensor4D {
  const count = x.shape[0] * x.shape[1] * x.shape[2];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xIn, g, b, save] = args as [tf.Tensor4D, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const mean = tf.mean(xIn, [0, 1, 2]);
    const xc = tf.sub(xIn, mean);
    const variance = tf.mean(tf.square(xc), [0, 1, 2]);
    const rstd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(xc, rstd);
    stats.push({ layer, mean: tf.keep(mean) as tf.Tensor1D, variance: tf.keep(variance) as tf.Tensor1D, count });
    save([xhat, rstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sxhat, srstd, sg] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dbeta = tf.sum(dy, [0, 1, 2]);
        const dgamma = tf.sum(tf.mul(dy, sxhat), [0, 1, 2]);
        const inner = tf.sub(tf.sub(dy, tf.div(dbeta, count)), tf.mul(sxhat, tf.div(dgamma, count)));
        return [tf.mul(inner, tf.mul(sg, srstd)), dgamma, dbeta];
      },
    };
  });
  return op(x, gamma, beta) as tf.Tensor4D;
}

/** The class index of a head's largest logit in one row of concatenated logits (the first on ties). */
export function headArgmax(row: Float32Array, head: HeadLayout): number {
  let best = 0;
  for (let j = 1; j < head.classes.length; j++) if (row[head.offset + j]! > row[head.offset + best]!) best = j;
  return best;
}

function softmaxHead(row: Float32Array, head: HeadLayout): { best: string; probs: Record<string, number> } {
  const k = head.classes.length;
  const arg = headArgmax(row, head);
  const max = row[head.offset + arg]!;
  let sum = 0;
  const e = new Array<number>(k);
  for (let j = 0; j < k; j++) sum += e[j] = Math.exp(row[head.offset + j]! - max);
  const probs: Record<string, number> = {};
  for (let j = 0; j < k; j++) probs[head.classes[j]!] = e[j]! / sum;
  return { best: head.classes[arg]!, probs };
}

function concatBytes(images: Uint8Array | readonly Uint8Array[]): Uint8Array {
  if (images instanceof Uint8Array) return images;
  if (images.length === 0) throw new Dd3dError('probe: no images');
  const len = images[0]!.length;
  const out = new Uint8Array(len * images.length);
  images.forEach((im, i) => {
    if (im.length !== len) throw new Dd3dError(`probe: image ${i} has ${im.length} bytes, image 0 has ${len}; images must share one size`);
    out.set(im, i * len);
  });
  return out;
}

/** The side of square images of `bytes` sRGB bytes each. */
function sideOf(bytes: number): number {
  const side = Math.round(Math.sqrt(bytes / 3));
  if (side * side * 3 !== bytes) throw new Dd3dError(`probe: an image of ${bytes} bytes is not square RGB (side × side × 3)`);
  return side;
}

// ---------------------------------------------------------------------------------------
// Folders
// ---------------------------------------------------------------------------------------

/**
 * Loads a probe folder (`config.json` + `model.safetensors`). A missing folder or file, a
 * bad config, or a missing or misshapen weight is a one-line Dd3dError naming it.
 */
export function loadProbe(dir: string): Probe {
  if (!fs.existsSync(dir)) throw new Dd3dError(`${dir}: probe folder not found (train one with "dd3d probe train")`);
  if (!fs.statSync(dir).isDirectory()) throw new Dd3dError(`${dir}: expected a probe folder (config.json + model.safetensors), got a file`);
  const cfgFile = path.join(dir, CONFIG_FILE);
  if (!fs.existsSync(cfgFile)) throw new Dd3dError(`${cfgFile}: file not found; not a dd3d probe folder`);
  const config = validateConfig(readJsonFile(cfgFile), cfgFile);
  const wFile = path.join(dir, WEIGHTS_FILE);
  const f = openSafetensors(wFile);
  const weights = new Map<string, Float32Array>();
  try {
    const shapes = weightShapes(config);
    for (const [name, shape] of shapes) {
      if (!f.names.includes(name)) throw new Dd3dError(`${wFile}: no tensor "${name}" (${CONFIG_FILE} expects [${shape}])`);
      const info = f.info(name);
      if (info.dtype !== 'F32') throw new Dd3dError(`${wFile}: tensor "${name}" is ${info.dtype}, expected F32`);
      if (JSON.stringify(info.shape) !== JSON.stringify(shape))
        throw new Dd3dError(`${wFile}: tensor "${name}" has shape [${info.shape}], ${CONFIG_FILE} expects [${shape}]`);
      weights.set(name, f.get(name).data as Float32Array);
    }
    const extra = f.names.filter((n) => !shapes.has(n));
    if (extra.length > 0) throw new Dd3dError(`${wFile}: unexpected tensor "${extra[0]}" (${CONFIG_FILE} does not describe it)`);
  } finally {
    f.close();
  }
  return new Probe(config, weights);
}
