/**
 * One text-to-3D asset by score distillation: a radiance field, rendered from a random
 * camera of the dataset's rig each iteration, is pushed by the frozen model's SDS gradient
 * under the condition of that camera's view (front / side / back / overhead), plus the
 * orientation, sparsity and entropy regularizers. Checkpoints hold the field, the
 * background, Adam's moments and the progress; every random draw is a function of
 * (seed, iteration), so a resumed run continues as the uninterrupted one would have.
 *
 * With a camera-conditioned multi-view model (`views` V > 1), each iteration instead renders
 * V views from the multi-view layout (a random first camera, azimuths 360°/V apart, one
 * elevation, fov and radius) and takes the SDS gradient of their joint denoise, conditioned
 * on the instance without a view phrase and on the V cameras (MVDream's text-to-3D).
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { cameraRays } from '../../renderers/camera.js';
import { MlpBackground, renderVolume, type VolumeBackground, type VolumeShading } from '../../renderers/volume.js';
import { createField, OccupancyGrid, type FieldConfig, type RadianceField } from '../../nerf/index.js';
import { deriveSeed, mulberry32, viewPhrase } from '../../scenes/index.js';
import { CAMERA_RANGES, cameraRing, sceneCamera, type SceneCamera } from '../dataset/scene-dataset.js';
import { cameraBatch } from '../models/camera-embedding.js';
import type { DiffusionModel } from '../pipeline/diffusion-model.js';
import { readNoiseScheduleConfig } from '../schedulers/config.js';
import { DDPMScheduler } from '../schedulers/ddpm.js';
import { AdamW } from '../train/adamw.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointProgress } from '../train/checkpoint.js';
import type { GenerateConfig } from './config.js';
import { cameraAt, lightAt, shadingAt, timestepAt } from './schedules.js';
import { sdsLoss, type SdsModel } from './sds.js';
import type { TargetViews } from './target-views.js';
import type { ViewConditions } from './view-conditions.js';

export const FIELD_CONFIG: FieldConfig = { kind: 'grid' };

export interface AssetRun {
  model: DiffusionModel;
  conditions: ViewConditions;
  config: GenerateConfig;
  seed: number;
  /** Views of the instance to fit the field to first (config.fitIters iterations): the fast path, see target-views.ts. */
  targets?: TargetViews;
  /** The asset's folder; its checkpoint lives in <dir>/checkpoint/. */
  dir: string;
  resume: boolean;
  onIter?: (iter: number, iters: number, stats: IterStats) => void;
  /** Called every config.previewEvery iterations with the field, for preview renders. */
  onPreview?: (iter: number, field: RadianceField, occupancy: OccupancyGrid) => Promise<void> | void;
}

export interface IterStats {
  loss: number;
  sds: number;
  t: number;
  view: string;
  shading: VolumeShading;
}

/** Milliseconds per iteration, split the way the issue asks: render, UNet, backprop (and the rest). */
export interface IterationTiming {
  render: number;
  unet: number;
  backprop: number;
  optimizer: number;
  total: number;
}

export interface AssetResult {
  field: RadianceField;
  /** Up to date with the final field: lets exports skip empty space. */
  occupancy: OccupancyGrid;
  iterations: number;
  seconds: number;
  timing: IterationTiming;
  losses: number[];
  /** SDS gradient elements that were NaN/Inf and were zeroed, over the run. */
  nonFinite: number;
  dispose(): void;
}

interface AssetCheckpoint extends CheckpointProgress {
  seed: number;
  settings: GenerateConfig;
  timing: IterationTiming;
}

const CHECKPOINT_FORMAT = 'dd3d-generate-checkpoint';

/**
 * Linear RGB → sRGB, differentiable. The two branches meet at k = 0.0031308 (both give
 * 12.92·k there), so the curve is 1.055·max(c, k)^(1/2.4) − 0.055 + 12.92·(min(c, k) − k):
 * no comparison op on the tape (tfjs has no gradient for them) and the pow stays away from 0.
 */
export function linearToSrgb(x: tf.Tensor): tf.Tensor {
  const k = 0.0031308;
  return tf.tidy(() => {
    const c = tf.clipByValue(x, 0, 1);
    const curve = tf.sub(tf.mul(tf.pow(tf.maximum(c, k), 1 / 2.4), 1.055), 0.055);
    return tf.add(curve, tf.mul(tf.sub(tf.minimum(c, k), k), 12.92));
  });
}

/** The render side: --res, else the model's image size capped at 64 (latent models upsample the render for their VAE). */
export function renderSize(model: DiffusionModel, config: GenerateConfig): number {
  return config.res ?? Math.min(64, model.defaultSize[0]);
}

export async function generateAsset(run: AssetRun): Promise<AssetResult> {
  const { model, conditions, config, seed } = run;
  const field = createField(FIELD_CONFIG, deriveSeed(seed, 'field'));
  const learnedBackground = config.background === 'learned' ? new MlpBackground({}, deriveSeed(seed, 'background')) : null;
  const weights = new Map<string, tf.Variable>();
  for (const [k, v] of field.variables()) weights.set(`field/${k}`, v);
  for (const [k, v] of learnedBackground?.variables() ?? []) weights.set(`background/${k}`, v);
  const groupOf = new Map<string, keyof GenerateConfig['lr']>();
  for (const [group, names] of Object.entries(field.groups())) for (const n of names) groupOf.set(`field/${n}`, group === 'encoding' ? 'encoding' : 'mlp');
  const adam = new AdamW(weights, {
    lr: 1,
    betas: [0.9, 0.99],
    eps: 1e-15,
    weightDecay: 0,
    lrScale: (key) => config.lr[groupOf.get(key) ?? 'background'],
  });
  // Two cells of margin around what is occupied, so the object can grow out of the initial blob.
  const occupancy = new OccupancyGrid(field.bound, { dilation: 2 });
  // The grid's decayed values go into checkpoints, so a resumed run skips exactly the same samples.
  const occupancyState = new Map([['values', tf.variable(tf.tensor1d(occupancy.values), false)]]);
  const saveState = () => {
    tf.tidy(() => occupancyState.get('values')!.assign(tf.tensor1d(occupancy.values)));
    saveCheckpoint(ckpt, state, { w: weights, occupancy: occupancyState }, adam);
  };
  const sds: SdsModel = {
    model,
    ddpm: DDPMScheduler.fromConfig(model.schedulerConfig),
    prediction: readNoiseScheduleConfig(model.schedulerConfig).predictionType,
  };
  const trainSteps = sds.ddpm.schedule.numTrainTimesteps;
  const res = renderSize(model, config);
  const ckpt = path.join(run.dir, 'checkpoint');

  const timing: IterationTiming = { render: 0, unet: 0, backprop: 0, optimizer: 0, total: 0 };
  let state: AssetCheckpoint = { format: CHECKPOINT_FORMAT, version: 1, step: 0, steps: config.iters, losses: [], seconds: 0, seed, settings: config, timing };
  if (run.resume && hasCheckpoint(ckpt)) {
    state = loadCheckpoint<AssetCheckpoint>(ckpt, CHECKPOINT_FORMAT, { w: weights, occupancy: occupancyState }, adam, { seed, settings: config });
    occupancy.restore(occupancyState.get('values')!.dataSync());
    Object.assign(timing, state.timing);
    state.timing = timing;
  }
  let nonFinite = 0;
  const started = performance.now() - state.seconds * 1000;
  const names = [...weights.values()];
  const views = config.views;
  if (views > 1) model.unet.checkViews(views, true, '--views');
  // The multi-view model trained on no overhead views: its rings stay at the ordinary elevations.
  const ringRanges = { ...CAMERA_RANGES, overheadProbability: 0 };
  const targets = run.targets && tf.tidy(() => {
    const t = run.targets!.images;
    return t.shape[1] === res && t.shape[2] === res ? t.clone() : (tf.image.resizeBilinear(t, [res, res], false, true) as tf.Tensor4D);
  });

  for (let iter = state.step; iter < config.iters; iter++) {
    if (iter % config.occupancyEvery === 0) occupancy.update(field, deriveSeed(seed, `occupancy/${iter}`));
    // The fit phase shows the field one target view per iteration, in turn; then score distillation.
    const fitting = targets !== undefined && iter < config.fitIters;
    const cams = fitting
      ? [run.targets!.cameras[iter % run.targets!.cameras.length]!]
      : views > 1
        ? cameraRing(cameraAt(iter, seed, ringRanges), views)
        : [cameraAt(iter, seed)];
    const view = fitting ? 'fit' : views > 1 ? `${views} views` : viewPhrase(cams[0]!.azimuth, cams[0]!.elevation);
    const shading = fitting ? 'albedo' : shadingAt(config.shading, iter, seed);
    const t = timestepAt(config.timesteps, iter, config.iters, trainSteps, seed);
    const background: VolumeBackground = fitting ? { kind: 'solid', color: [1, 1, 1] } : backgroundFor(config, learnedBackground, iter, seed);
    const cameras = cams.map((c) => sceneCamera(c));
    const needNormals = !fitting && (shading !== 'albedo' || config.lambda.orient > 0);
    let sdsMagnitude = 0;
    const t0 = performance.now();
    let tRender = 0;
    let tUnet = 0;
    const { value, grads } = tf.variableGrads(() => {
      const a = performance.now();
      const renders = cams.map((cam, v) =>
        renderVolume(field, cameras[v]!, {
          width: res,
          height: res,
          samplesPerRay: config.samplesPerRay,
          jitterSeed: deriveSeed(seed, v === 0 ? `jitter/${iter}` : `jitter/${iter}/${v}`),
          background,
          shading,
          light: { position: lightAt(config.light, cam, iter, seed), ambient: config.light.ambient },
          occupancy,
          normals: needNormals ? 'finite-difference' : 'none',
        }),
      );
      const image = tf.stack(renders.map((r) => linearToSrgb(r.rgb))) as tf.Tensor4D;
      const b = performance.now();
      tRender += b - a;
      let loss: tf.Scalar;
      if (fitting) {
        loss = tf.mean(tf.squaredDifference(image, targets!.slice([iter % targets!.shape[0], 0, 0, 0], [1, -1, -1, -1]))) as tf.Scalar;
        sdsMagnitude = loss.dataSync()[0]!;
      } else {
        const features = views > 1 ? cameraBatch(cams) : undefined;
        const s = sdsLoss(sds, image, {
          cond: views > 1 ? (tf.tile(conditions.plain, [views, 1, 1]) as tf.Tensor3D) : conditions.byView.get(view as ReturnType<typeof viewPhrase>)!,
          uncond: conditions.uncond,
          t: new Array<number>(views).fill(t),
          guidance: config.guidance,
          gradClip: config.gradClip,
          seed: deriveSeed(seed, `noise/${iter}`),
          views,
          cameras: features,
        });
        features?.dispose();
        sdsMagnitude = s.magnitude;
        nonFinite += s.nonFinite;
        loss = s.loss;
      }
      tUnet += performance.now() - b;
      // regularizers as the mean over the views, so their weights mean the same for any V
      const mean = (f: (r: (typeof renders)[number], v: number) => tf.Scalar) => tf.div(tf.addN(renders.map(f)), renders.length) as tf.Scalar;
      if (config.lambda.sparsity > 0) loss = tf.add(loss, tf.mul(mean((r) => tf.mean(r.opacity) as tf.Scalar), config.lambda.sparsity));
      if (config.lambda.entropy > 0) loss = tf.add(loss, tf.mul(mean((r) => opacityEntropy(r.opacity)), config.lambda.entropy));
      if (config.lambda.orient > 0 && needNormals) loss = tf.add(loss, tf.mul(mean((r, v) => orientationLoss(r.normal, cameras[v]!, res)), config.lambda.orient));
      return loss;
    }, names);
    const t1 = performance.now();
    adam.step(grads);
    const lossValue = value.dataSync()[0]!;
    tf.dispose([value, ...Object.values(grads)]);
    const t2 = performance.now();
    // A running mean over every iteration so far; a resume restores the mean of the ones before it.
    accumulate(timing, { render: tRender, unet: tUnet, backprop: t1 - t0 - tRender - tUnet, optimizer: t2 - t1, total: t2 - t0 }, iter + 1);

    state.losses.push(sdsMagnitude);
    state.step = iter + 1;
    state.seconds = (performance.now() - started) / 1000;
    if (state.step % config.checkpointEvery === 0 && state.step < config.iters) saveState();
    run.onIter?.(iter + 1, config.iters, { loss: lossValue, sds: sdsMagnitude, t, view, shading });
    if (run.onPreview && config.previewEvery > 0 && (iter + 1) % config.previewEvery === 0) await run.onPreview(iter + 1, field, occupancy);
  }
  adam.dispose();
  tf.dispose([...occupancyState.values(), ...(targets ? [targets] : [])]);
  occupancy.update(field, deriveSeed(seed, 'occupancy/final'));
  return {
    field,
    occupancy,
    iterations: state.step,
    seconds: state.seconds,
    timing,
    losses: state.losses,
    nonFinite,
    dispose() {
      field.dispose();
      learnedBackground?.dispose();
    },
  };
}

/** Running mean of per-iteration timings over `n` iterations. */
function accumulate(into: IterationTiming, sample: IterationTiming, n: number): void {
  for (const k of Object.keys(into) as Array<keyof IterationTiming>) into[k] += (sample[k] - into[k]) / n;
}

function backgroundFor(config: GenerateConfig, learned: MlpBackground | null, iter: number, seed: number): VolumeBackground {
  if (learned) return learned.asBackground();
  if (config.background === 'white') return { kind: 'solid', color: [1, 1, 1] };
  const rng = mulberry32(deriveSeed(seed, `background/${iter}`));
  return { kind: 'solid', color: [rng.next(), rng.next(), rng.next()] };
}

/** Mean binary entropy of the opacity: low when every pixel is clearly object or clearly background. */
export function opacityEntropy(opacity: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const o = tf.clipByValue(opacity, 1e-5, 1 - 1e-5);
    const e = tf.neg(tf.add(tf.mul(o, tf.log(o)), tf.mul(tf.sub(1, o), tf.log(tf.sub(1, o)))));
    return tf.mean(e) as tf.Scalar;
  });
}

/**
 * DreamFusion's orientation loss on the composited normals: max(0, n·d)², where d is the
 * pixel's ray direction, penalizes surfaces that face away from the camera (which would
 * otherwise let density hide colour behind itself). Per pixel, not per sample: the renderer
 * returns Σ wᵢnᵢ, which weights each sample's normal by its contribution already.
 */
export function orientationLoss(normal: tf.Tensor3D, camera: ReturnType<typeof sceneCamera>, res: number): tf.Scalar {
  return tf.tidy(() => {
    const dirs = tf.tensor2d(cameraRays(camera, res, res).directions, [res * res, 3]);
    const facing = tf.sum(tf.mul(normal.reshape([res * res, 3]), dirs), 1);
    return tf.mean(tf.square(tf.relu(facing))) as tf.Scalar;
  });
}

export type { SceneCamera };
