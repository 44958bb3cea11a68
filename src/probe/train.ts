/**
 * Training the attribute probe on a scene dataset.
 *
 * Loss per image: cross-entropy of the family head + cross-entropy of the colour head + the
 * mean cross-entropy of its own family's attribute heads (heads of other families get no
 * loss from it). AdamW (decay on conv and dense weights only; src/train/adamw.ts in the
 * paper's order of operations), linear warm-up then cosine decay to zero
 * (src/train/lr-schedule.ts), batch norm with moving averages (momentum 0.9). Every random
 * choice (weight init, shuffling, augmentation) is derived from `seed`, so a run on the same
 * backend is reproducible bit for bit; the last partial batch of an epoch is dropped.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { deriveSeed, gaussian, mulberry32, type Rng } from '../core/random.js';
import { SceneDataset } from '../dataset/scene-dataset.js';
import { Dd3dError } from '../core/errors.js';
import { DEFAULT_AUGMENT, imageToFloat, loadProbeData, type AugmentOptions, type ProbeData } from './data.js';
import { evaluateProbe, type ProbeEvaluation } from './evaluate.js';
import { Probe, isTrainable, weightShapes } from './probe.js';
import { AdamW } from '../train/adamw.js';
import { warmupCosine } from '../train/lr-schedule.js';
import { defaultArchitecture, defaultConfig, type ProbeConfig } from './spec.js';
import { tryReadJsonFile } from '../io/regular-file.js';

export interface TrainProbeOptions {
  /** Scene dataset folder (`dd3d scenes dataset`). */
  data: string | ProbeData;
  /** Held-out dataset scored after every epoch and stored in config.json's "heldout". */
  val?: string | ProbeData;
  /** Probe input resolution, 32 or 64 (default: the dataset's; a dataset at a multiple of it is downsampled). */
  res?: number;
  epochs?: number;
  batch?: number;
  seed?: number;
  /** Peak learning rate (default 3e-3). */
  lr?: number;
  /** Decoupled weight decay (default 1e-2). */
  weightDecay?: number;
  /** Warm-up steps (default: 3% of the run, at least 1). */
  warmup?: number;
  /** Augmentation, or false for none (default `DEFAULT_AUGMENT`). */
  augment?: AugmentOptions | false;
  /** Conv widths of the three stages and feature width (default [24, 48, 96], 128). */
  widths?: [number, number, number];
  featureDim?: number;
  /** Use only the first `limit` images of `data`. */
  limit?: number;
  onProgress?: (step: number, total: number, info: { epoch: number; loss: number; lr: number }) => void;
  onEpoch?: (epoch: number, info: { loss: number; val?: ProbeEvaluation; seconds: number }) => void;
}

export interface TrainProbeResult {
  probe: Probe;
  steps: number;
  seconds: number;
  /** Mean loss over the last epoch. */
  loss: number;
  val?: ProbeEvaluation;
}

const BN_MOMENTUM = 0.9;

/** Fresh weights for `cfg`: He-normal convs and feature layer, small heads, identity batch norm; seeded per weight name. */
export function initialWeights(cfg: ProbeConfig, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of weightShapes(cfg)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const w = new Float32Array(size);
    if (name.endsWith('.bn.gamma') || name.endsWith('.moving_variance')) w.fill(1);
    else if (name.endsWith('.weight')) {
      const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const std = name.startsWith('head.') ? 0.01 : Math.sqrt(2 / fanIn);
      const rng = mulberry32(deriveSeed(seed, `probe/init/${name}`));
      for (let i = 0; i < size; i++) w[i] = std * gaussian(rng);
    }
    out.set(name, w);
  }
  return out;
}

function checkInt(what: string, v: number, lo: number): void {
  if (!Number.isSafeInteger(v) || v < lo) throw new Dd3dError(`${what} ${v}: expected an integer ≥ ${lo}`);
}

/** A seeded permutation of 0..n−1. */
function shuffled(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Trains a probe from scratch. The result is not saved; call `probe.save(dir)`. */
export async function trainProbe(opts: TrainProbeOptions): Promise<TrainProbeResult> {
  const started = performance.now();
  const epochs = opts.epochs ?? 2;
  const B = opts.batch ?? 64;
  const seed = opts.seed ?? 0;
  const peakLr = opts.lr ?? 3e-3;
  const wd = opts.weightDecay ?? 1e-2;
  checkInt('--epochs', epochs, 1);
  checkInt('--batch', B, 2);
  checkInt('--seed', seed, 0);

  // the config comes first (its class lists define the labels); --res defaults to the dataset's
  const cfg = makeConfig(opts.res ?? (typeof opts.data === 'string' ? SceneDataset.open(opts.data).res : opts.data.res), opts);
  const data = typeof opts.data === 'string' ? loadProbeData(opts.data, cfg) : opts.data;
  if (data.res % cfg.res !== 0) throw new Dd3dError(`${data.dir}: images are ${data.res}×${data.res}; the probe takes ${cfg.res}×${cfg.res}`);
  const n = Math.min(data.n, opts.limit ?? data.n);
  if (n < B) throw new Dd3dError(`${data.dir}: ${n} images is fewer than one batch of ${B}`);
  const val = opts.val === undefined ? undefined : typeof opts.val === 'string' ? loadProbeData(opts.val, cfg) : opts.val;

  const probe = new Probe(cfg, initialWeights(cfg, seed));
  const R = cfg.res;
  const factor = data.res / R;
  const heads = probe.heads;
  const H = cfg.attribute_heads.length;
  const Hn = heads.length;
  const T = heads.reduce((s, h) => s + h.classes.length, 0);
  const famAttrCount = new Map<number, number>();
  cfg.families.forEach((f, i) => famAttrCount.set(i, cfg.attribute_heads.filter((h) => h.family === f).length));

  const segData = new Float32Array(T * Hn);
  heads.forEach((hd, h) => hd.classes.forEach((_, j) => (segData[(hd.offset + j) * Hn + h] = 1)));
  const seg = tf.tensor2d(segData, [T, Hn]);
  const trainable = [...probe.params].filter(([name]) => isTrainable(name));
  // decay on conv and dense weights only; the paper's order of operations keeps trained probes bit for bit as before
  const adam = new AdamW(new Map(trainable), { weightDecay: wd, noDecay: (name) => !name.endsWith('.weight'), form: 'paper' });
  const stepsPerEpoch = Math.floor(n / B);
  const total = stepsPerEpoch * epochs;
  const warmup = opts.warmup ?? Math.max(1, Math.round(total * 0.03));
  const schedule = { lr: peakLr, warmupSteps: warmup, totalSteps: total, minRatio: 0 };
  const aug = opts.augment === false ? undefined : (opts.augment ?? DEFAULT_AUGMENT);

  const frame = data.res * data.res * 3;
  const xBuf = new Float32Array(B * R * R * 3);
  const targets = new Float32Array(B * T);
  const mask = new Float32Array(B * Hn);

  let step = 0;
  let lastEpochLoss = NaN;
  let valEval: ProbeEvaluation | undefined;
  let smooth = NaN;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const epochStart = performance.now();
      const order = shuffled(n, mulberry32(deriveSeed(seed, `probe/shuffle/${epoch}`)));
      let epochLoss = 0;
      for (let s = 0; s < stepsPerEpoch; s++, step++) {
        targets.fill(0);
        mask.fill(0);
        for (let k = 0; k < B; k++) {
          const i = order[s * B + k]!;
          const rng = mulberry32(deriveSeed(seed, `probe/augment/${epoch}/${i}`));
          imageToFloat(
            data.images.subarray(i * frame, (i + 1) * frame),
            data.res,
            factor,
            xBuf.subarray(k * R * R * 3, (k + 1) * R * R * 3),
            aug ? { rng, opts: aug } : undefined,
          );
          const f = data.family[i]!;
          mask[k * Hn] = 1;
          targets[k * T + heads[0]!.offset + f] = 1;
          mask[k * Hn + 1] = 1;
          targets[k * T + heads[1]!.offset + data.color[i]!] = 1;
          const w = 1 / Math.max(1, famAttrCount.get(f) ?? 1);
          for (let h = 0; h < H; h++) {
            const t = data.attrs[i * H + h]!;
            if (t < 0) continue;
            mask[k * Hn + h + 2] = w;
            targets[k * T + heads[h + 2]!.offset + t] = w;
          }
        }
        const lr = warmupCosine(schedule, step);
        adam.lr = lr;
        const lossValue = tf.tidy(() => {
          const x = probe.prepare(tf.tensor4d(xBuf, [B, R, R, 3]));
          const tw = tf.tensor2d(targets, [B, T]);
          const mw = tf.tensor2d(mask, [B, Hn]);
          let stats: ReturnType<Probe['forward']>['stats'] = [];
          const { value, grads } = tf.variableGrads(
            () => {
              const out = probe.forward(x, true);
              stats = out.stats;
              // every head's log-sum-exp at once: exp(logits − row max) summed per head by a 0/1
              // matmul (a head whose logits all sit ~70 below the row's max would underflow;
              // the 1e-30 keeps that finite, and trained logits stay far from it)
              const m = tf.max(out.logits, 1, true);
              const lse = tf.add(tf.log(tf.add(tf.matMul(tf.exp(tf.sub(out.logits, m)), seg), 1e-30)), m);
              return tf.div(tf.sub(tf.sum(tf.mul(mw, lse)), tf.sum(tf.mul(tw, out.logits))), B) as tf.Scalar;
            },
            trainable.map(([, v]) => v),
          );
          adam.step(grads);
          for (const st of stats) {
            const mm = probe.params.get(`${st.layer}.bn.moving_mean`)!;
            const mv = probe.params.get(`${st.layer}.bn.moving_variance`)!;
            mm.assign(tf.add(tf.mul(mm, BN_MOMENTUM), tf.mul(st.mean, 1 - BN_MOMENTUM)));
            // unbiased batch variance for the running estimate
            mv.assign(tf.add(tf.mul(mv, BN_MOMENTUM), tf.mul(st.variance, ((1 - BN_MOMENTUM) * st.count) / Math.max(1, st.count - 1))));
            tf.dispose([st.mean, st.variance]);
          }
          return value.dataSync()[0]!;
        });
        if (!Number.isFinite(lossValue)) throw new Dd3dError(`probe training diverged at step ${step + 1} (loss ${lossValue}); try a lower --lr`);
        epochLoss += lossValue;
        smooth = Number.isNaN(smooth) ? lossValue : 0.95 * smooth + 0.05 * lossValue;
        opts.onProgress?.(step + 1, total, { epoch: epoch + 1, loss: smooth, lr });
        await yieldToEventLoop();
      }
      lastEpochLoss = epochLoss / stepsPerEpoch;
      if (val) valEval = evaluateProbe(probe, val);
      opts.onEpoch?.(epoch + 1, { loss: lastEpochLoss, val: valEval, seconds: (performance.now() - epochStart) / 1000 });
    }
  } catch (e) {
    probe.dispose();
    throw e;
  } finally {
    adam.dispose();
    seg.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  const dsSettings = readSettings(data.dir);
  cfg.training = {
    data: { dir: data.dir, n, res: data.res, ...(dsSettings ? { seed: dsSettings.seed } : {}) },
    epochs,
    batch: B,
    seed,
    steps: total,
    lr: peakLr,
    weight_decay: wd,
    warmup,
    schedule: 'linear warm-up, cosine decay to 0',
    optimizer: 'AdamW (beta1 0.9, beta2 0.999, eps 1e-8; decay on .weight only)',
    bn_momentum: BN_MOMENTUM,
    augment: aug ?? false,
    loss: lastEpochLoss,
    seconds: Math.round(seconds),
    backend: tf.getBackend(),
  };
  if (valEval) cfg.heldout = summarizeEvaluation(valEval);
  return { probe, steps: total, seconds, loss: lastEpochLoss, val: valEval };
}

/** The default config at `res`, with the options' widths and feature width (an unsupported res is defaultArchitecture's --res error). */
function makeConfig(res: number, opts: TrainProbeOptions): ProbeConfig {
  const cfg = defaultConfig(res);
  if (opts.widths || opts.featureDim) cfg.architecture = defaultArchitecture(res, opts.widths, opts.featureDim);
  return cfg;
}

function readSettings(dir: string): { seed: number } | undefined {
  return (tryReadJsonFile(path.join(dir, 'dataset.json')) ?? undefined) as { seed: number } | undefined;
}

/** What config.json keeps of an evaluation: accuracies without the confusion matrices. */
export function summarizeEvaluation(e: ProbeEvaluation): Record<string, unknown> {
  const r = (x: number) => Math.round(x * 10000) / 10000;
  return {
    data: e.data,
    n: e.n,
    family: r(e.family.accuracy),
    color: r(e.color.accuracy),
    attributes: Object.fromEntries(e.attributes.map((a) => [a.head, r(a.accuracy)])),
    attribute_mean: r(e.attribute_mean),
  };
}
