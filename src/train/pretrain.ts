/**
 * Pretraining the built-in model on a scene dataset: a CLIPTextModel and a pixel-space
 * UNet2DConditionModel trained together from scratch with the DDPM loss (epsilon or v,
 * from the scheduler config), caption dropout, AdamW with warm-up and cosine decay, global
 * gradient clipping and EMA weights. Checkpoints hold everything a resume needs; a batch,
 * its noise and its timesteps depend only on (seed, step), so a resumed run continues
 * exactly as the uninterrupted one would have.
 *
 * `init` starts from a model folder's weights instead of random ones (a fine-tune): every
 * weight of the folder must fit the config's model, and the config's extra weights (the
 * camera MLP of a multi-view config) start fresh, the camera MLP's last layer at zero, so
 * step 0 computes exactly what the folder's model does.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { vocabulary } from '../../scenes/index.js';
import { deriveSeed, mulberry32 } from '../core/random.js';
import type { SceneDataset } from '../dataset/scene-dataset.js';
import { Dd3dError } from '../core/errors.js';
import { ClipTextModel, clipTextParamShapes } from '../models/clip-text-model.js';
import { getComponent, openModelFolder } from '../io/diffusers.js';
import { isCameraKey, zeroInitKey } from '../models/camera-embedding.js';
import { clipTextConfig, loadNhwcParams, loadParams } from '../models/load.js';
import { Params, randomInit, type ParamInit } from '../models/nn.js';
import { unetConfig } from '../models/unet-config.js';
import { UNet2DConditionModel } from '../models/unet.js';
import { DDPMScheduler } from '../schedulers/index.js';
import { WordTokenizer } from '../text/word-tokenizer.js';
import { AdamW, clipGlobalNorm } from './adamw.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointProgress } from './checkpoint.js';
import { Ema } from './ema.js';
import { warmupCosine } from './lr-schedule.js';
import type { PretrainConfig } from './pretrain-configs.js';
import { workerScript } from '../backend/worker-pool.js';
import { dataParallelGrads, GradWorker } from './grad-worker-client.js';
import { isFocusedStep, SceneBatches, type BatchOptions } from './scene-batches.js';
import { seededNormal } from '../core/seeded-normal.js';
import { Teacher } from './teacher.js';

export interface PretrainOptions {
  config: PretrainConfig;
  dataset: SceneDataset;
  out: string;
  seed: number;
  /** Overrides of the config's step count and batch size. */
  steps?: number;
  batch?: number;
  /** A model folder whose weights the run starts from (see the header); recorded in checkpoints. */
  init?: string;
  /** A model folder whose predictions single-view steps learn (teacher.ts); recorded in checkpoints. */
  teacher?: string;
  /** The multiplier of the teacher's steps' loss (Teacher.weight); default 1. */
  teacherWeight?: number;
  resume: boolean;
  /** 2 runs half of every batch in a worker thread with its own wasm backend. */
  workers?: number;
  /** Called once the run is set up (weights, checkpoint, teacher, worker), before its first step: whatever is printed here follows every check. */
  onStart?: () => void;
  onStep?: (step: number, total: number, loss: number) => void;
}

/** What a checkpoint's JSON half records; the tensors live beside it in state.safetensors. */
interface CheckpointState extends CheckpointProgress {
  config: string;
  seed: number;
  batch: number;
  init?: string;
  teacher?: string;
  teacherWeight?: number;
}

const CHECKPOINT_FORMAT = 'dd3d-pretrain-checkpoint';

/** The two trainable models and the tokenizer, built from a config with fresh random weights. */
export interface TinyModel {
  tokenizer: WordTokenizer;
  textConfig: Record<string, unknown>;
  unetConfig: Record<string, unknown>;
  text: ClipTextModel;
  unet: UNet2DConditionModel;
  textParams: Params;
  unetParams: Params;
}

export function buildTinyModel(config: PretrainConfig, seed: number): TinyModel {
  const tokenizer = WordTokenizer.build(vocabulary());
  const textConfig = {
    ...config.textEncoder,
    vocab_size: tokenizer.vocabSize,
    bos_token_id: tokenizer.bosId,
    eos_token_id: tokenizer.eosId,
    pad_token_id: tokenizer.padId,
  };
  const unetJson = { ...config.unet, sample_size: config.resolution, cross_attention_dim: config.textEncoder.hidden_size };
  const textComponent = { name: 'text_encoder', dir: '(config)', config: textConfig, configPath: `${config.name} text_encoder config` };
  const unetComponent = { name: 'unet', dir: '(config)', config: unetJson, configPath: `${config.name} unet config` };
  const tc = clipTextConfig(textComponent);
  const textParams = new Params(new Map(), 'text_encoder (training)', randomInit(deriveSeed(seed, 'init/text'))).toVariables();
  for (const [key, shape] of clipTextParamShapes(tc)) textParams.declare(key, shape);
  const unetRandom = randomInit(deriveSeed(seed, 'init/unet'));
  const unetInit: ParamInit = (key, shape) => (zeroInitKey(key) ? tf.zeros(shape) : unetRandom(key, shape));
  const unetParams = new Params(new Map(), 'unet (training)', unetInit).toVariables();
  const unet = new UNet2DConditionModel(unetConfig(unetComponent), unetParams);
  return { tokenizer, textConfig, unetConfig: unetJson, text: new ClipTextModel(tc, textParams), unet, textParams, unetParams };
}

/**
 * Overwrites a fresh model's weights with a model folder's (the start of a fine-tune). Each of
 * the folder's weights must exist in the model with the same shape; weights the folder lacks
 * keep their initialization (allowed only for the camera MLP and ray projection, new in multi-view configs).
 */
export function loadInitWeights(m: TinyModel, dir: string): void {
  const folder = openModelFolder(dir);
  const parts: Array<[string, Params, Map<string, tf.Variable>]> = [
    ['text_encoder', loadParams(getComponent(folder, 'text_encoder')), m.textParams.variables()],
    ['unet', loadNhwcParams(getComponent(folder, 'unet')), m.unetParams.variables()],
  ];
  try {
    for (const [name, loaded, vars] of parts) {
      for (const [key, t] of loaded.tensors) {
        const v = vars.get(key);
        if (!v) throw new Dd3dError(`--init ${dir}: ${name} weight "${key}" has no place in this config's model (another architecture?)`);
        if (v.shape.join() !== t.shape.join())
          throw new Dd3dError(`--init ${dir}: ${name} weight "${key}" has shape [${t.shape}], this config needs [${v.shape}]`);
        v.assign(t);
      }
      for (const key of vars.keys()) {
        if (!loaded.has(key) && !isCameraKey(key)) throw new Dd3dError(`--init ${dir}: ${name} has no weight "${key}", which this config's model needs`);
      }
    }
  } finally {
    for (const [, loaded] of parts) loaded.dispose();
  }
}

/**
 * The multiplier of the learning rate for each of allVariables' keys at step `step`: on the
 * UNet's camera weights the config's cameraLrScale, else 1; during the camera warm-up its
 * lrScale on the camera weights and 0 on the rest. The rest still get their gradients then, so
 * their Adam moments are as old as the run: had they started after the warm-up, the global
 * bias correction (1 − β^t, t = 600) would have made their first few hundred steps 2–5× Adam's
 * usual size, and it did shake the model (its loss at t = 999 rose from 0.108 to 0.141 with null
 * cameras within 500 steps).
 */
export function lrScaleOf(config: PretrainConfig, step = Infinity): (key: string) => number {
  const warm = inCameraWarmup(config, step);
  const camera = warm ? config.cameraWarmup!.lrScale : (config.cameraLrScale ?? 1);
  return (key) => (isUnetCameraKey(key) ? camera : warm ? 0 : 1);
}

/** Whether step `step` belongs to the config's camera warm-up (camera weights alone, high timesteps). */
const inCameraWarmup = (config: PretrainConfig, step: number): boolean => config.cameraWarmup !== undefined && step < config.cameraWarmup.steps;

/** An allVariables key of the UNet's camera conditioning ("unet/camera_…"). */
const isUnetCameraKey = (key: string): boolean => key.startsWith('unet/') && isCameraKey(key.slice('unet/'.length));

/** All trainable weights under one namespace: "text_encoder/<key>", "unet/<key>". */
export function allVariables(m: TinyModel): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const [k, v] of m.textParams.variables()) out.set(`text_encoder/${k}`, v);
  for (const [k, v] of m.unetParams.variables()) out.set(`unet/${k}`, v);
  return out;
}

const CHECKPOINT = 'checkpoint';

/**
 * The DDPM loss of rows [from, to) of step `step`'s batch: MSE between the UNet's prediction
 * and the noise or velocity, or, in a single-view step with a `teacher`, the teacher's
 * prediction (teacher.ts). The whole batch, its timesteps and its noise are drawn from
 * (seed, step) and then sliced, so two processes that each take half compute the two halves
 * of exactly the batch one process would.
 */
export function partLoss(
  m: TinyModel,
  ddpm: DDPMScheduler,
  config: PretrainConfig,
  batches: SceneBatches,
  seed: number,
  step: number,
  batch: number,
  from: number,
  to: number,
  teacher?: Teacher,
): () => tf.Scalar {
  const views = batches.viewsAt(step);
  if (from % views !== 0 || to % views !== 0) throw new RangeError(`rows [${from}, ${to}) split a ${views}-view object`);
  const t = trainingTimesteps(config, ddpm.schedule.numTrainTimesteps, seed, step, batch, views).slice(from, to);
  return () => {
    const { images, ids, captions, cameras } = batches.batch(step, batch);
    const x0 = images.slice([from, 0, 0, 0], [to - from, -1, -1, -1]) as tf.Tensor4D;
    const noise = seededNormal(images.shape, 0, 1, deriveSeed(seed, `noise/${step}`)).slice([from, 0, 0, 0], [to - from, -1, -1, -1]);
    images.dispose();
    const xt = ddpm.addNoise(x0, noise, t) as tf.Tensor4D;
    const states = m.text.forward(ids.slice(from, to));
    states.pooled.dispose();
    const cameraDim = m.unet.config.camera_dim;
    const camera = cameraDim === null ? undefined : tf.tensor2d(cameras.subarray(from * cameraDim, to * cameraDim), [to - from, cameraDim]);
    const pred = m.unet.forward(xt, t, states.lastHiddenState, { camera, views });
    if (teacher && views === 1) {
      // the teacher's tensors are not the student's variables, so no gradient flows into them
      const target = teacher.target(xt, t, captions.slice(from, to));
      return tf.mul(tf.mean(tf.squaredDifference(pred, target)), teacher.weight) as tf.Scalar;
    }
    return tf.mean(tf.squaredDifference(pred, ddpm.trainingTarget(x0, noise, t))) as tf.Scalar;
  };
}

/**
 * The timesteps of step `step`'s batch, uniform over the schedule from a lowest one: 0, the
 * camera warm-up's minTimestep during the warm-up, and multiview.minTimestep in focused
 * multi-view steps (isFocusedStep), whichever is highest; the views of one object share one,
 * as they are denoised together (MVDream).
 */
export function trainingTimesteps(config: PretrainConfig, numTrainTimesteps: number, seed: number, step: number, batch: number, views: number): number[] {
  const rng = mulberry32(deriveSeed(seed, `step/${step}`));
  const mv = config.multiview;
  const focused = views > 1 && isFocusedStep(seed, step, mv?.focusedShare);
  const lowest = Math.max(inCameraWarmup(config, step) ? config.cameraWarmup!.minTimestep : 0, focused ? (mv?.minTimestep ?? 0) : 0);
  const drawn = Array.from({ length: batch }, () => lowest + Math.floor(rng.next() * (numTrainTimesteps - lowest)));
  return drawn.map((_, i) => drawn[i - (i % views)]!);
}

/** The batch drawing settings a config implies (the same in the main thread and the worker). */
export function batchOptions(config: PretrainConfig, seed: number): BatchOptions {
  const mv = config.multiview;
  return {
    seed,
    captionDropout: config.captionDropout,
    captionMinKeep: config.captionMinKeep,
    cameraDropout: mv?.cameraDropout,
    singleViewShare: mv?.singleViewShare,
    familyWeights: mv?.familyWeights,
    focusedShare: mv?.focusedShare,
    colorWeights: config.colorWeights,
  };
}

/** What pretrain's helper thread (grad-worker.ts) builds its replica from. */
export interface PretrainWorkerInit {
  config: string;
  seed: number;
  data: string;
  /** The teacher's folder, as the main thread resolved it, and its weight. */
  teacher?: string;
  teacherWeight?: number;
}

/** The rows of a step's batch a helper computes. */
export interface PretrainPart {
  step: number;
  batch: number;
  from: number;
  to: number;
}

export interface PretrainResult {
  steps: number;
  finalLoss: number;
  seconds: number;
  losses: number[];
  model: TinyModel;
  ema: Ema;
}

export async function pretrain(opts: PretrainOptions): Promise<PretrainResult> {
  const { config } = opts;
  const steps = opts.steps ?? config.steps;
  const batch = opts.batch ?? config.batch;
  if (opts.dataset.res !== config.resolution) {
    throw new Dd3dError(
      `--data: the dataset is ${opts.dataset.res}px, config "${config.name}" trains at ${config.resolution}px (make the dataset with --res ${config.resolution})`,
    );
  }
  const model = buildTinyModel(config, opts.seed);
  if (opts.init) loadInitWeights(model, opts.init);
  const ddpm = DDPMScheduler.fromConfig(config.scheduler);
  const weights = allVariables(model);
  const ema = new Ema(weights, config.emaDecay);
  let lrScale = lrScaleOf(config); // set per step below
  const adam = new AdamW(weights, {
    lr: config.lr,
    weightDecay: config.weightDecay,
    noDecay: (k) => k.endsWith('.bias') || /norm/.test(k),
    lrScale: (key) => lrScale(key),
  });
  const batches = new SceneBatches(opts.dataset, model.tokenizer, batchOptions(config, opts.seed));
  if (opts.dataset.views !== (config.multiview?.views ?? 1)) {
    throw new Dd3dError(
      `--data: the dataset has ${opts.dataset.views} view(s) per record, config "${config.name}" trains on ${config.multiview?.views ?? 1} (make it with "dd3d scenes dataset --views ${config.multiview?.views ?? 1}")`,
    );
  }
  const ckpt = path.join(opts.out, CHECKPOINT);

  // recorded by folder name: a resume on another machine finds it elsewhere, and its weights are in the checkpoint
  const init = opts.init === undefined ? undefined : path.basename(path.resolve(opts.init));
  const teacherName = opts.teacher === undefined ? undefined : path.basename(path.resolve(opts.teacher));
  let state: CheckpointState = {
    format: CHECKPOINT_FORMAT,
    version: 1,
    config: config.name,
    seed: opts.seed,
    step: 0,
    steps,
    batch,
    ...(init ? { init } : {}),
    ...(teacherName ? { teacher: teacherName } : {}),
    ...(opts.teacherWeight !== undefined && opts.teacherWeight !== 1 ? { teacherWeight: opts.teacherWeight } : {}),
    losses: [],
    seconds: 0,
  };
  if (opts.resume && hasCheckpoint(ckpt)) {
    const saved = loadCheckpoint<CheckpointState>(ckpt, CHECKPOINT_FORMAT, { w: weights, ema: ema.shadow }, adam, {
      config: config.name,
      seed: opts.seed,
      batch,
      init,
      teacher: teacherName,
      teacherWeight: opts.teacherWeight === 1 ? undefined : opts.teacherWeight,
    });
    state = { ...saved, steps };
  }

  const started = performance.now() - state.seconds * 1000;
  const teacherDir = opts.teacher === undefined ? undefined : path.resolve(opts.teacher);
  const teacher = teacherDir === undefined ? undefined : Teacher.load(teacherDir, ddpm, config.resolution, opts.teacherWeight);
  let helper: GradWorker<PretrainPart> | null = null;
  try {
    if (opts.workers && opts.workers > 1 && batch > 1) {
      const workerInit: PretrainWorkerInit = {
        config: config.name,
        seed: opts.seed,
        data: opts.dataset.dir,
        teacher: teacherDir,
        teacherWeight: opts.teacherWeight,
      };
      helper = await GradWorker.start<PretrainPart>(workerScript('train', 'grad-worker.js'), workerInit, 'pretrain worker');
    }
    opts.onStart?.();
    for (let step = state.step; step < steps; step++) {
      adam.lr = warmupCosine({ lr: config.lr, warmupSteps: config.warmupSteps, totalSteps: steps, minRatio: config.minLrRatio }, step);
      lrScale = lrScaleOf(config, step);
      // With a helper thread, each side takes half the batch (whole objects of a multi-view step);
      // the weighted mean of the halves' gradients is the batch's.
      const views = batches.viewsAt(step);
      const split = helper ? Math.floor(batch / 2 / views) * views : batch;
      const { loss, grads } = await dataParallelGrads(
        weights,
        partLoss(model, ddpm, config, batches, opts.seed, step, batch, 0, split, teacher),
        helper ? [helper] : [],
        [{ step, batch, from: split, to: batch }],
        [split / batch, (batch - split) / batch],
      );
      if (!Number.isFinite(loss)) throw new Dd3dError(`pretrain: the loss became ${loss} at step ${step}; lower --lr or check the data`);
      const clipped = clipGlobalNorm(grads, config.gradClip);
      adam.step(clipped.grads);
      tf.dispose([...Object.values(grads), ...Object.values(clipped.grads)]);
      ema.update(weights, step);
      state.losses.push(loss);
      state.step = step + 1;
      state.seconds = (performance.now() - started) / 1000;
      opts.onStep?.(step + 1, steps, loss);
      if (state.step % config.checkpointEvery === 0 || state.step === steps) saveCheckpoint(ckpt, state, { w: weights, ema: ema.shadow }, adam);
    }
  } finally {
    await helper?.stop();
    teacher?.dispose();
  }
  adam.dispose();
  return { steps, finalLoss: state.losses.at(-1) ?? NaN, seconds: state.seconds, losses: state.losses, model, ema };
}
