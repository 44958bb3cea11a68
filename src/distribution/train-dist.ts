/**
 * Learning a prompt distribution from reference images (DreamDistribution): K soft prompts
 * of M context vectors go through the frozen text encoder; the Gaussian over their states
 * conditions the frozen UNet through S reparameterized samples per image, and the denoising
 * loss (Min-SNR-γ) plus λ × the orthogonality loss trains the context vectors alone with
 * AdamW and gradient clipping. With C components, each group of references (see
 * reference-groups.ts) has its own group of prompts and Gaussian. A step's images, timesteps
 * and noise depend only on (seed, step), so a resumed run continues exactly as the
 * uninterrupted one would have.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { deriveSeed, mulberry32 } from '../core/random.js';
import { Dd3dError } from '../core/errors.js';
import type { ClipTextModel } from '../models/clip-text-model.js';
import type { DiffusionModel } from '../pipeline/diffusion-model.js';
import { AdamW, clipGlobalNorm } from '../train/adamw.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointProgress } from '../train/checkpoint.js';
import { denoiseLoss, type SampleReduction } from './denoise-loss.js';
import type { PromptDistribution } from './distribution-file.js';
import { textEncoderHash } from './distribution-file.js';
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
  steps: 300,
  batch: 2,
  samples: 4,
  components: 1,
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
export function currentGaussians(encoder: ClipTextModel, template: PromptTemplate, ctx: tf.Tensor3D, sizes: number[], weights: number[]): { all: Gaussian; mixture: GaussianMixture } {
  const encoded = encodeContext(encoder, template, ctx);
  const all = fitGaussian(encoded.states);
  const mixture = fitMixture(encoded.states, sizes, weights);
  tf.dispose([encoded.states, encoded.eos]);
  return { all, mixture };
}

/** The references as the UNet sees them (DiffusionModel.toModelSpace), VAE-encoded 4 at a time. */
export function referenceTargets(model: DiffusionModel, refs: ReferenceSet): tf.Tensor4D {
  const { n, height, width } = refs.views;
  const pixels = tf.tensor4d(refs.views.data, [n, height, width, 3]);
  const targets = tf.tidy(() => model.toModelSpace(pixels, 4));
  pixels.dispose();
  return targets;
}

export async function trainDistribution(model: DiffusionModel, refs: ReferenceSet, cfg: TrainDistConfig, opts: TrainDistOptions): Promise<TrainDistResult> {
  const encoder = model.textEncoder;
  const template = buildTemplate(model.tokenizer, cfg.prefix, cfg.suffix, cfg.ctxLength, encoder.maxLength);
  const ddpm = model.trainingScheduler;
  const prediction = model.predictionType;
  const [h, w] = model.defaultSize;
  if (refs.views.height !== h || refs.views.width !== w) throw new Error(`trainDistribution: references are ${refs.views.height}×${refs.views.width}, the model wants ${h}×${w}`);
  if (cfg.components > 1 && cfg.prompts < 2 * cfg.components) {
    throw new Dd3dError(`--components: ${cfg.components} components need at least ${2 * cfg.components} prompts (2 each, for a standard deviation), got --prompts ${cfg.prompts}`);
  }
  const d = encoder.hiddenSize;
  const length = template.ids.length;
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
  try {
    // inside the try, so a refused resume still frees the variables
    if (opts.resume && hasCheckpoint(ckpt)) {
      const saved = loadCheckpoint<DistCheckpoint>(ckpt, CHECKPOINT_FORMAT, { w: variables }, adam, identity);
      state = { ...saved, steps: cfg.steps };
    }
    const started = performance.now() - state.seconds * 1000;
    for (let step = state.step; step < cfg.steps; step++) {
      const rng = mulberry32(deriveSeed(cfg.seed, `dist-step/${step}`));
      const pick = Array.from({ length: cfg.batch }, () => rng.int(0, views - 1));
      const t = Array.from({ length: cfg.batch }, () => Math.floor(rng.next() * ddpm.schedule.numTrainTimesteps));
      const { value, grads } = tf.variableGrads(() => {
        const x0 = tf.gather(x0All, pick) as tf.Tensor4D;
        const noise = seededNormal(x0.shape, 0, 1, deriveSeed(cfg.seed, `dist-noise/${step}`)) as tf.Tensor4D;
        const eps = seededNormal([cfg.batch * cfg.samples, length, d], 0, 1, deriveSeed(cfg.seed, `dist-eps/${step}`)) as tf.Tensor3D;
        const encoded = encodeContext(encoder, template, ctx);
        // each image's S samples come from its own group's Gaussian
        const rows = pick.flatMap((v) => new Array<number>(cfg.samples).fill(group[refs.source[v]!]!));
        const conditions = sampleMixtureConditions(fitMixture(encoded.states, sizes, weights), rows, eps);
        const loss = denoiseLoss(model.unet, ddpm, prediction, { x0, noise, t }, conditions, cfg.minSnrGamma, cfg.assign);
        return tf.add(loss, tf.mul(orthogonalityLoss(encoded.eos), cfg.orthoLambda)) as tf.Scalar;
      }, [ctx]);
      const loss = value.dataSync()[0];
      value.dispose();
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
    tf.dispose([ctx, x0All]);
    adam.dispose();
  }
}
