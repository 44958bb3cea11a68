/**
 * Learning a prompt distribution from reference images (DreamDistribution): K soft prompts
 * of M context vectors go through the frozen text encoder; the Gaussian over their states
 * conditions the frozen UNet through S reparameterized samples per image, and the denoising
 * loss (Min-SNR-γ) plus λ × the orthogonality loss trains the context vectors alone with
 * AdamW and gradient clipping. With C components, each group of references (see
 * reference-groups.ts) has its own group of prompts and Gaussian. A step's images, timesteps
 * and noise depend only on (seed, step), so a resumed run continues exactly as the
 * uninterrupted one would have.
 *
 * With W workers, each step's images are split into W contiguous parts: the main thread
 * computes the first, helper threads (dist-grad-worker.ts, through grad-worker-client.ts as
 * pretrain does) the others, and the row-weighted mean of the parts' gradients is the batch's.
 * A part's images, timesteps, noise and prompt samples are rows of the step's whole draw, so
 * they depend on (seed, step, row) and never on which thread computes them.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { deriveSeed, mulberry32 } from '../core/random.js';
import { Dd3dError } from '../core/errors.js';
import type { ClipTextModel } from '../models/clip-text-model.js';
import { workerScript } from '../backend/worker-pool.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { AdamW, clipGlobalNorm } from '../train/adamw.js';
import { dataParallelGrads, GradWorker, serveGrads } from '../train/grad-worker-client.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointProgress } from '../train/checkpoint.js';
import { denoiseLoss, SAMPLE_REDUCTIONS, type SampleReduction } from './denoise-loss.js';
import { textEncoderHash, type PromptDistribution } from './distribution-file.js';
import { encodeContext, fitGaussian, fitMixture, orthogonalityLoss, sampleMixtureConditions, type Gaussian, type GaussianMixture } from './prompt-learner.js';
import { groupFeatures, groupReferences, promptsPerComponent } from './reference-groups.js';
import { buildTemplate, type PromptTemplate } from './prompt-template.js';
import type { ReferenceSet } from './reference-images.js';
import { seededNormal } from '../core/seeded-normal.js';

export interface TrainDistConfig {
  /** K soft prompts. */
  prompts: number;
  /** M context vectors per prompt. */
  ctxLength: number;
  steps: number;
  /** Reference images per step. */
  batch: number;
  /** Reparameterized samples per image. */
  samples: number;
  /**
   * C Gaussians instead of one: the references are split into C groups (k-means, see
   * reference-groups.ts) and K/C prompts learn each group. 1 is DreamDistribution.
   */
  components: number;
  /** How an image's S sample losses combine: DreamDistribution's mean, or the best one. */
  assign: SampleReduction;
  orthoLambda: number;
  minSnrGamma: number;
  lr: number;
  weightDecay: number;
  gradClip: number;
  prefix: string;
  suffix: string;
  seed: number;
  checkpointEvery: number;
}

export const TRAIN_DIST_DEFAULTS: Omit<TrainDistConfig, 'seed'> = {
  prompts: 32,
  ctxLength: 4,
  // 1000 steps and two components: the best measured setting (README results), under 10 minutes on two cores
  steps: 1000,
  batch: 2,
  samples: 4,
  components: 2,
  assign: 'mean',
  orthoLambda: 1e-3,
  minSnrGamma: 5,
  lr: 1e-3,
  weightDecay: 1e-2,
  gradClip: 1.0,
  prefix: 'a',
  suffix: '',
  checkpointEvery: 50,
};

/** Settings that are counts (whole, ≥ 1) and rates (finite, ≥ 0). */
const COUNT_SETTINGS = ['prompts', 'ctxLength', 'steps', 'batch', 'samples', 'components', 'checkpointEvery'];
const RATE_SETTINGS = ['orthoLambda', 'minSnrGamma', 'lr', 'weightDecay', 'gradClip'];

/**
 * Checks train-dist settings that no flag parser has seen (a library call, or a distribution
 * file's `training.settings`, which eval-2d's prompt-tuning baseline trains with): counts whole
 * and ≥ 1, the seed whole and ≥ 0, rates finite and ≥ 0, the sample reduction a known one.
 * Keys it does not know are left to the caller. `label(key)` names a setting in the error.
 */
export function checkTrainDistSettings(settings: Record<string, unknown>, label: (key: string) => string): void {
  for (const [key, v] of Object.entries(settings)) {
    const bad = (expected: string) => new Dd3dError(`${label(key)} is ${typeof v === 'number' ? v : JSON.stringify(v)}, expected ${expected}`);
    if (COUNT_SETTINGS.includes(key) && !(Number.isSafeInteger(v) && (v as number) >= 1)) throw bad('a whole number ≥ 1');
    if (key === 'seed' && !(Number.isSafeInteger(v) && (v as number) >= 0)) throw bad('a whole number ≥ 0');
    if (RATE_SETTINGS.includes(key) && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw bad('a finite number ≥ 0');
    if (key === 'assign' && !(SAMPLE_REDUCTIONS as readonly unknown[]).includes(v)) throw bad(`one of ${SAMPLE_REDUCTIONS.join(', ')}`);
  }
}

interface DistCheckpoint extends CheckpointProgress {
  prompts: number;
  ctx_length: number;
  batch: number;
  samples: number;
  prefix: string;
  suffix: string;
  seed: number;
  references: string;
  /** These are absent at their defaults, so checkpoints from before they were recorded still resume. */
  components?: number;
  assign?: TrainDistConfig['assign'];
  ortho?: number;
  lr?: number;
}

const CHECKPOINT_FORMAT = 'dd3d-train-dist-checkpoint';

export interface TrainDistOptions {
  /** The model folder as the user gave it (recorded in the distribution file). */
  modelPath: string;
  /** Checkpoints go to `<trainDir>/checkpoint/`. */
  trainDir: string;
  resume: boolean;
  /** Threads computing each step (default 1); at most one per image of the batch is used (distWorkers). */
  workers?: number;
  /** Called once the run's checks have passed and its threads are up, with how many compute each step. */
  onStart?: (workers: number) => void;
  onStep?: (step: number, total: number, loss: number) => void;
  /** Called every `validateEvery` steps (and after the last) with the current Gaussians (one unless --components). */
  validateEvery?: number;
  onValidate?: (step: number, g: GaussianMixture, template: PromptTemplate) => Promise<void> | void;
}

export interface TrainDistResult {
  distribution: PromptDistribution;
  losses: number[];
  seconds: number;
}

/** μ and σ of the prompts `ctx` in `template`, over all K and per component (the caller disposes them). */
function currentGaussians(
  encoder: ClipTextModel,
  template: PromptTemplate,
  ctx: tf.Tensor3D,
  sizes: number[],
  weights: number[],
): { all: Gaussian; mixture: GaussianMixture } {
  const encoded = encodeContext(encoder, template, ctx);
  const all = fitGaussian(encoded.states);
  const mixture = fitMixture(encoded.states, sizes, weights);
  tf.dispose([encoded.states, encoded.eos]);
  return { all, mixture };
}

/** The references as the UNet sees them (DiffusionModel.toModelSpace), VAE-encoded 4 at a time. */
function referenceTargets(model: DiffusionModel, refs: ReferenceSet): tf.Tensor4D {
  const { n, height, width } = refs.views;
  const pixels = tf.tensor4d(refs.views.data, [n, height, width, 3]);
  const targets = tf.tidy(() => model.toModelSpace(pixels, 4));
  pixels.dispose();
  return targets;
}

/** Threads a run uses: a part needs at least one image of the batch. */
function distWorkers(cfg: Pick<TrainDistConfig, 'batch'>, workers = 1): number {
  return Math.max(1, Math.min(workers, cfg.batch));
}

/** Everything a step's loss needs besides the model and the prompts: the same in the main thread and its helpers. */
interface DistLossSetup {
  cfg: TrainDistConfig;
  /** The references as the UNet sees them, one row per view (referenceTargets). */
  x0All: tf.Tensor4D;
  /** The reference image of each view. */
  source: number[];
  /** The component (group of prompts) of each reference image. */
  group: number[];
  /** Prompts per component, and the components' weights. */
  sizes: number[];
  weights: number[];
}

/** Step `step`'s images (views of the references) and timesteps: drawn from (seed, step) for the whole batch. */
function stepDraws(s: DistLossSetup, numTrainTimesteps: number, step: number): { pick: number[]; t: number[] } {
  const rng = mulberry32(deriveSeed(s.cfg.seed, `dist-step/${step}`));
  const views = s.x0All.shape[0];
  const pick = Array.from({ length: s.cfg.batch }, () => rng.int(0, views - 1));
  const t = Array.from({ length: s.cfg.batch }, () => Math.floor(rng.next() * numTrainTimesteps));
  return { pick, t };
}

/**
 * The loss of images [from, to) of step `step`'s batch: their denoising loss (a mean over
 * the images) plus λ × the orthogonality loss, so the row-weighted mean of the parts is the
 * whole batch's loss. The batch's noise and prompt samples are drawn whole and sliced.
 */
function distPartLoss(
  model: DiffusionModel,
  template: PromptTemplate,
  ctx: tf.Variable<tf.Rank.R3>,
  s: DistLossSetup,
  step: number,
  from: number,
  to: number,
): () => tf.Scalar {
  const { cfg } = s;
  const ddpm = model.trainingScheduler;
  const { pick: all, t: tAll } = stepDraws(s, ddpm.schedule.numTrainTimesteps, step);
  const pick = all.slice(from, to);
  const t = tAll.slice(from, to);
  const n = to - from;
  return () => {
    const x0 = tf.gather(s.x0All, pick) as tf.Tensor4D;
    const noise = seededNormal(
      [cfg.batch, ...s.x0All.shape.slice(1)] as [number, number, number, number],
      0,
      1,
      deriveSeed(cfg.seed, `dist-noise/${step}`),
    ).slice([from, 0, 0, 0], [n, -1, -1, -1]) as tf.Tensor4D;
    const [length, d] = [template.ids.length, model.textEncoder.hiddenSize];
    const eps = seededNormal([cfg.batch * cfg.samples, length, d], 0, 1, deriveSeed(cfg.seed, `dist-eps/${step}`)).slice(
      [from * cfg.samples, 0, 0],
      [n * cfg.samples, -1, -1],
    ) as tf.Tensor3D;
    const encoded = encodeContext(model.textEncoder, template, ctx);
    // each image's S samples come from its own group's Gaussian
    const rows = pick.flatMap((v) => new Array<number>(cfg.samples).fill(s.group[s.source[v]!]!));
    const conditions = sampleMixtureConditions(fitMixture(encoded.states, s.sizes, s.weights), rows, eps);
    const loss = denoiseLoss(model.unet, ddpm, { x0, noise, t }, conditions, cfg.minSnrGamma, cfg.assign);
    return tf.add(loss, tf.mul(orthogonalityLoss(encoded.eos), cfg.orthoLambda)) as tf.Scalar;
  };
}

/** What a helper thread (dist-grad-worker.ts) builds its replica from. */
interface DistWorkerInit {
  modelDir: string;
  cfg: TrainDistConfig;
  x0: { shape: number[]; data: Float32Array };
  source: number[];
  group: number[];
  sizes: number[];
  weights: number[];
}

/** The images of a step a helper computes. */
interface DistPart {
  step: number;
  from: number;
  to: number;
}

/** The helper's replica: the model from its folder, the prompts as a variable the main thread's values are assigned to. */
function distReplica(init: DistWorkerInit): { weights: Map<string, tf.Variable>; loss: (p: DistPart) => () => tf.Scalar } {
  const model = DiffusionModel.load(init.modelDir);
  const { cfg } = init;
  const template = buildTemplate(model.tokenizer, cfg.prefix, cfg.suffix, cfg.ctxLength, model.textEncoder.maxLength);
  const ctx = tf.variable(tf.zeros([cfg.prompts, cfg.ctxLength, model.textEncoder.hiddenSize]), true, 'ctx') as tf.Variable<tf.Rank.R3>;
  const setup: DistLossSetup = {
    cfg,
    x0All: tf.tensor4d(init.x0.data, init.x0.shape as [number, number, number, number]),
    source: init.source,
    group: init.group,
    sizes: init.sizes,
    weights: init.weights,
  };
  return { weights: new Map([['ctx', ctx]]), loss: (p) => distPartLoss(model, template, ctx, setup, p.step, p.from, p.to) };
}

/** Starts a helper's side (the worker script calls this). */
export const serveDistGrads = () => serveGrads<DistWorkerInit, DistPart>(distReplica);

/** The image bounds of W parts of a batch: [0, b1), [b1, b2), … as even as whole images allow. */
function partBounds(batch: number, parts: number): number[] {
  return Array.from({ length: parts + 1 }, (_, k) => Math.floor((k * batch) / parts));
}

export async function trainDistribution(model: DiffusionModel, refs: ReferenceSet, cfg: TrainDistConfig, opts: TrainDistOptions): Promise<TrainDistResult> {
  checkTrainDistSettings({ ...cfg }, (key) => `trainDistribution: "${key}"`);
  const encoder = model.textEncoder;
  const template = buildTemplate(model.tokenizer, cfg.prefix, cfg.suffix, cfg.ctxLength, encoder.maxLength);
  const [h, w] = model.defaultSize;
  if (refs.views.height !== h || refs.views.width !== w)
    throw new Error(`trainDistribution: references are ${refs.views.height}×${refs.views.width}, the model wants ${h}×${w}`);
  if (cfg.components > 1 && cfg.prompts < 2 * cfg.components) {
    throw new Dd3dError(
      `--components: ${cfg.components} components need at least ${2 * cfg.components} prompts (2 each, for a standard deviation), got --prompts ${cfg.prompts}`,
    );
  }
  const d = encoder.hiddenSize;
  const x0All = referenceTargets(model, refs);
  const sizes = promptsPerComponent(cfg.prompts, cfg.components);
  let group: number[];
  try {
    group = groupReferences(groupFeatures(x0All, refs.source, refs.files.length), cfg.components, deriveSeed(cfg.seed, 'groups'));
  } catch (e) {
    x0All.dispose();
    throw e;
  }
  const ctx = tf.variable(seededNormal([cfg.prompts, cfg.ctxLength, d], 0, 0.02, deriveSeed(cfg.seed, 'ctx')), true, 'ctx') as tf.Variable<tf.Rank.R3>;
  const variables = new Map([['ctx', ctx]]);
  const adam = new AdamW(variables, { lr: cfg.lr, weightDecay: cfg.weightDecay });
  const weights = sizes.map((_, c) => group.filter((g) => g === c).length / group.length);
  const ckpt = path.join(opts.trainDir, 'checkpoint');
  // what a resumed run must share with the checkpoint; a default-valued optional key stays undefined (absent on disk)
  const D = TRAIN_DIST_DEFAULTS;
  const unlessDefault = <T>(value: T, standard: T): T | undefined => (value === standard ? undefined : value);
  const identity = {
    prompts: cfg.prompts,
    ctx_length: cfg.ctxLength,
    batch: cfg.batch,
    samples: cfg.samples,
    prefix: cfg.prefix,
    suffix: cfg.suffix,
    seed: cfg.seed,
    references: refs.hash,
    components: unlessDefault(cfg.components, D.components),
    assign: unlessDefault(cfg.assign, D.assign),
    ortho: unlessDefault(cfg.orthoLambda, D.orthoLambda),
    lr: unlessDefault(cfg.lr, D.lr),
  };
  let state: DistCheckpoint = { format: CHECKPOINT_FORMAT, version: 1, step: 0, steps: cfg.steps, losses: [], seconds: 0, ...identity };
  const views = x0All.shape[0];
  const validateEvery = opts.validateEvery ?? 0;
  const helpers: Array<GradWorker<DistPart>> = [];
  try {
    // inside the try, so a refused resume still frees the variables
    if (opts.resume && hasCheckpoint(ckpt)) {
      const saved = loadCheckpoint<DistCheckpoint>(ckpt, CHECKPOINT_FORMAT, { w: variables }, adam, identity);
      state = { ...saved, steps: cfg.steps };
    }
    const started = performance.now() - state.seconds * 1000;
    const setup: DistLossSetup = { cfg, x0All, source: refs.source, group, sizes, weights };
    const parts = distWorkers(cfg, opts.workers);
    const bounds = partBounds(cfg.batch, parts);
    if (parts > 1) {
      const init: DistWorkerInit = {
        modelDir: model.dir,
        cfg,
        x0: { shape: x0All.shape, data: x0All.dataSync() as Float32Array },
        source: refs.source,
        group,
        sizes,
        weights,
      };
      helpers.push(...(await GradWorker.startMany<DistPart>(parts - 1, workerScript('distribution', 'dist-grad-worker.js'), init, 'train-dist worker')));
    }
    opts.onStart?.(parts);
    for (let step = state.step; step < cfg.steps; step++) {
      const { loss, grads } = await dataParallelGrads(
        variables,
        distPartLoss(model, template, ctx, setup, step, 0, bounds[1]!),
        helpers,
        helpers.map((_, k) => ({ step, from: bounds[k + 1]!, to: bounds[k + 2]! })),
        bounds.slice(1).map((to, k) => (to - bounds[k]!) / cfg.batch),
      );
      if (!Number.isFinite(loss)) {
        tf.dispose(Object.values(grads));
        throw new Dd3dError(`train-dist: the loss became ${loss} at step ${step}; lower --lr`);
      }
      const clipped = clipGlobalNorm(grads, cfg.gradClip);
      adam.step(clipped.grads);
      tf.dispose([...Object.values(grads), ...Object.values(clipped.grads)]);
      state.losses.push(loss);
      state.step = step + 1;
      state.seconds = (performance.now() - started) / 1000;
      opts.onStep?.(state.step, cfg.steps, loss);
      if (state.step % cfg.checkpointEvery === 0 || state.step === cfg.steps) saveCheckpoint(ckpt, state, { w: variables }, adam);
      if (opts.onValidate && validateEvery > 0 && (state.step % validateEvery === 0 || state.step === cfg.steps)) {
        const { all, mixture } = currentGaussians(encoder, template, ctx, sizes, weights);
        try {
          await opts.onValidate(state.step, mixture, template);
        } finally {
          tf.dispose([all.mu, all.sigma, mixture.mu, mixture.sigma]);
        }
      }
    }
    const { all: g, mixture } = currentGaussians(encoder, template, ctx, sizes, weights);
    const distribution: PromptDistribution = {
      model: { path: opts.modelPath, text_encoder_hash: textEncoderHash(model.dir) },
      prompts: cfg.prompts,
      ctx_length: cfg.ctxLength,
      prefix: cfg.prefix,
      suffix: cfg.suffix,
      ctx: { shape: ctx.shape, data: ctx.dataSync() as Float32Array },
      mu: { shape: g.mu.shape, data: g.mu.dataSync() as Float32Array },
      sigma: { shape: g.sigma.shape, data: g.sigma.dataSync() as Float32Array },
      components:
        cfg.components > 1
          ? {
              weights,
              prompts: sizes,
              mu: { shape: mixture.mu.shape, data: mixture.mu.dataSync() as Float32Array },
              sigma: { shape: mixture.sigma.shape, data: mixture.sigma.dataSync() as Float32Array },
            }
          : null,
      training: {
        steps: cfg.steps,
        final_loss: state.losses.at(-1) ?? null,
        seconds: Math.round(state.seconds * 10) / 10,
        references: { dir: refs.dir, images: refs.files.length, views: views, hash: refs.hash },
        ...(cfg.components > 1 && { groups: Object.fromEntries(refs.files.map((f, i) => [path.basename(f), group[i]!])) }),
        settings: { ...cfg },
      },
    };
    tf.dispose([g.mu, g.sigma, mixture.mu, mixture.sigma]);
    return { distribution, losses: state.losses, seconds: state.seconds };
  } finally {
    await Promise.all(helpers.map((h) => h.stop()));
    tf.dispose([ctx, x0All]);
    adam.dispose();
  }
}
