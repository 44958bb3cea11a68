/**
 * One text-to-3D asset: a radiance field optimized by a guidance (guidance/: single-view SDS,
 * multi-view SDS, or the fast path's photometric fit first) plus named regularizers
 * (regularizers.ts, each × its lambda), with Adam. Each iteration the guidance says which
 * cameras to render; the loop renders them (the schedules pick shading, light and background
 * unless the guidance fixes them), adds up the loss terms, logs each, and steps. Checkpoints
 * hold the field, the background, Adam's moments and the progress; every random draw is a
 * function of (seed, iteration), so a resumed run continues as the uninterrupted one would.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { linearToSrgbTensor, MlpBackground, renderVolume, type VolumeBackground, type VolumeRenderResult, type VolumeShading } from '../../renderers/volume.js';
import { createField, OccupancyGrid, type RadianceField } from '../../nerf/index.js';
import { deriveSeed } from '../core/random.js';
import { sceneCamera } from '../../renderers/camera-rig.js';
import type { DiffusionModel } from '../pipeline/diffusion-model.js';
import { AdamW } from '../train/adamw.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointProgress } from '../train/checkpoint.js';
import type { GenerateConfig } from './config.js';
import { GUIDANCE, guidanceKind, type Guidance, type GuidanceLoss } from './guidance/index.js';
import { REGULARIZERS, type RegularizerName } from './regularizers.js';
import { backgroundColorAt, lightAt, shadingAt } from './schedules.js';
import type { TargetViews } from './target-views.js';
import type { ViewConditions } from './view-conditions.js';

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
  /**
   * Pixels of renders one backward pass keeps on the tape (default TAPE_PIXELS); an iteration
   * with more renders them in passes. Memory only: the result is the same either way.
   */
  tapePixels?: number;
  /** Called every config.previewEvery iterations with the field, for preview renders. */
  onPreview?: (iter: number, field: RadianceField, occupancy: OccupancyGrid) => Promise<void> | void;
}

export interface IterStats {
  /** The total loss. */
  loss: number;
  /** Every term by name: the guidance's (loss_sds and t, or loss_photometric), then loss_<regularizer> (unweighted). */
  terms: Record<string, number>;
  /** The guidance's label: a view phrase, "4 views" or "fit". */
  view: string;
  shading: VolumeShading;
}

/** Milliseconds per iteration: render, the guidance's loss, backprop and Adam (manifest `timing_ms`). */
export interface IterationTiming {
  render: number;
  /** The guidance's loss: the UNet call in SDS iterations, the photometric MSE in fit iterations (the key kept for older manifests). */
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
  /** Every loss term (the guidance's statistics and each regularizer, unweighted), per iteration it was computed in. */
  terms: Record<string, number[]>;
  /** SDS gradient elements that were NaN/Inf and were zeroed, over the run. */
  nonFinite: number;
  dispose(): void;
}

interface AssetCheckpoint extends CheckpointProgress {
  /** Per loss term, its value at each iteration that computed it (absent in checkpoints from before it was kept). */
  terms?: Record<string, number[]>;
  seed: number;
  settings: GenerateConfig;
  timing: IterationTiming;
}

const CHECKPOINT_FORMAT = 'dd3d-generate-checkpoint';

/** The render side: --res, else the model's image size capped at 64 (latent models upsample the render for their VAE). */
function renderSize(model: DiffusionModel, config: GenerateConfig): number {
  return config.res ?? Math.min(64, model.defaultSize[0]);
}

export async function generateAsset(run: AssetRun): Promise<AssetResult> {
  const { model, conditions, config, seed } = run;
  const field = createField(config.field, deriveSeed(seed, 'field'));
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
  // The fast path fits the sampled target views first; then score distillation.
  const fastPath = run.targets !== undefined && config.fitIters > 0;
  // A margin around what is occupied, so the object can grow: two cells out of the initial blob;
  // one after the fast path's fit, which lays the object out and leaves a faint haze that two
  // cells of margin turned into 80% of the cube occupied (`npm run bench -- generate`).
  const occupancy = new OccupancyGrid(field.bound, { dilation: fastPath ? 1 : 2 });
  // The grid's decayed values go into checkpoints, so a resumed run skips exactly the same samples.
  const occupancyState = new Map([['values', tf.variable(tf.tensor1d(occupancy.values), false)]]);
  const saveState = () => {
    tf.tidy(() => occupancyState.get('values')!.assign(tf.tensor1d(occupancy.values)));
    saveCheckpoint(ckpt, state, { w: weights, occupancy: occupancyState }, adam);
  };
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
  const variables = [...weights.values()];
  const main: Guidance = GUIDANCE[guidanceKind(config.views)]!({ model, conditions, config, seed }, res);
  const fit: Guidance | null = fastPath ? GUIDANCE.photometric!({ model, conditions, config, seed, targets: run.targets }, res) : null;
  const regularizers = (Object.keys(REGULARIZERS) as RegularizerName[]).filter((name) => config.lambda[name] > 0);

  for (let iter = state.step; iter < config.iters; iter++) {
    if (iter % config.occupancyEvery === 0) occupancy.update(field, deriveSeed(seed, `occupancy/${iter}`));
    const guidance = fit && isFitIteration(config, iter) ? fit : main;
    const plan = guidance.plan(iter);
    const shading = plan.shading ?? shadingAt(config.shading, iter, seed);
    const background = plan.background ?? backgroundFor(config, learnedBackground, iter, seed);
    const cameras = plan.cameras.map((c) => sceneCamera(c));
    const needNormals = plan.normals ?? (shading !== 'albedo' || config.lambda.orient > 0);
    const renderView: IterationStep['renderView'] = (v) =>
      renderVolume(field, cameras[v]!, {
        width: res,
        height: res,
        samplesPerRay: config.samplesPerRay,
        // view 0 keeps the single-view runs' seed, so they reproduce as before multi-view SDS
        jitterSeed: deriveSeed(seed, v === 0 ? `jitter/${iter}` : `jitter/${iter}/${v}`),
        background,
        shading,
        light: { position: lightAt(config.light, plan.cameras[v]!, iter, seed), ambient: config.light.ambient },
        occupancy,
        normals: needNormals ? 'finite-difference' : 'none',
      });
    // Each regularizer is a mean over the iteration's renders; a pass adds its renders' share.
    const regTerms: Array<[RegularizerName, tf.Scalar]> = [];
    const regularize: IterationStep['regularize'] = (loss, renders, first) => {
      for (const name of regularizers) {
        const reg = REGULARIZERS[name];
        if (reg.needsNormals && !needNormals) continue;
        const term = tf.div(tf.addN(renders.map((r, i) => reg.term(r, cameras[first + i]!, res))), cameras.length) as tf.Scalar;
        regTerms.push([name, tf.keep(term)]);
        loss = tf.add(loss, tf.mul(term, config.lambda[name]));
      }
      return loss;
    };
    let tRender = 0;
    let tGuidance = 0;
    const timed: IterationStep['timed'] = (into, f) => {
      const a = performance.now();
      const out = f();
      into === 'render' ? (tRender += performance.now() - a) : (tGuidance += performance.now() - a);
      return out;
    };
    const t0 = performance.now();
    const passes = viewPasses(cameras.length, res, run.tapePixels ?? TAPE_PIXELS);
    const step: IterationStep = { views: cameras.length, renderView, guidance, iter, regularize, variables, timed };
    const { value, grads, guided } = passes.length === 1 ? gradientsOnOneTape(step) : gradientsInPasses(step, passes);
    nonFinite += guided.nonFinite ?? 0;
    const terms: Record<string, number> = { ...guided.stats };
    const t1 = performance.now();
    adam.step(grads);
    const read = tf.tidy(() => tf.stack([value, ...regTerms.map(([, t]) => t)]).dataSync());
    // one pass: the tape's total loss; several: the guidance's, and the regularizers added here
    let lossValue = read[0]!;
    regTerms.forEach(([name], k) => {
      terms[`loss_${name}`] = (terms[`loss_${name}`] ?? 0) + read[k + 1]!;
      if (passes.length > 1) lossValue += read[k + 1]! * config.lambda[name];
    });
    tf.dispose([value, ...Object.values(grads), ...regTerms.map(([, t]) => t)]);
    const t2 = performance.now();
    // A running mean over every iteration so far; a resume restores the mean of the ones before it.
    accumulate(timing, { render: tRender, unet: tGuidance, backprop: t1 - t0 - tRender - tGuidance, optimizer: t2 - t1, total: t2 - t0 }, iter + 1);

    // the guidance's first statistic: loss_sds (0.5·mean(grad²)), or the fit's loss_photometric
    state.losses.push(Object.values(terms)[0]!);
    state.terms ??= {};
    for (const [name, v] of Object.entries(terms)) (state.terms[name] ??= []).push(v);
    state.step = iter + 1;
    state.seconds = (performance.now() - started) / 1000;
    if (state.step % config.checkpointEvery === 0 && state.step < config.iters) saveState();
    run.onIter?.(iter + 1, config.iters, { loss: lossValue, terms, view: plan.label, shading });
    if (run.onPreview && config.previewEvery > 0 && (iter + 1) % config.previewEvery === 0) await run.onPreview(iter + 1, field, occupancy);
  }
  adam.dispose();
  main.dispose();
  fit?.dispose();
  tf.dispose([...occupancyState.values()]);
  occupancy.update(field, deriveSeed(seed, 'occupancy/final'));
  return {
    field,
    occupancy,
    iterations: state.step,
    seconds: state.seconds,
    timing,
    losses: state.losses,
    terms: state.terms ?? {},
    nonFinite,
    dispose() {
      field.dispose();
      learnedBackground?.dispose();
    },
  };
}

/**
 * Four 32-pixel views (multi-view SDS at the built-in model's size) fit on one tape in
 * tfjs-wasm's 4 GB heap; four 64-pixel views do not (measured: `generate --res 64` with
 * models/dd3d-mv failed at its first SDS iteration, "memory access out of bounds").
 */
export const TAPE_PIXELS = 4 * 32 * 32;

/** The iteration's views in passes of consecutive views of at most `tapePixels` pixels each (at least one view a pass). */
export function viewPasses(views: number, res: number, tapePixels: number): number[][] {
  const perPass = Math.max(1, Math.floor(tapePixels / (res * res)));
  const passes: number[][] = [];
  for (let v = 0; v < views; v += perPass) passes.push(Array.from({ length: Math.min(perPass, views - v) }, (_, i) => v + i));
  return passes;
}

/** What an iteration's gradient needs, whether its renders fit on one tape or not. */
interface IterationStep {
  views: number;
  renderView: (v: number) => VolumeRenderResult;
  guidance: Guidance;
  iter: number;
  /** Adds the regularizers of `renders` (views first, first + 1, …) to `loss`. */
  regularize: (loss: tf.Scalar, renders: VolumeRenderResult[], first: number) => tf.Scalar;
  variables: tf.Variable[];
  timed: <T>(into: 'render' | 'guidance', f: () => T) => T;
}

interface IterationGradients {
  /** The total loss (one tape), or the guidance's alone (passes: the loop adds the regularizers it read back). */
  value: tf.Scalar;
  grads: tf.NamedTensorMap;
  guided: GuidanceLoss;
}

function gradientsOnOneTape(s: IterationStep): IterationGradients {
  let guided!: GuidanceLoss;
  const { value, grads } = tf.variableGrads(() => {
    const renders = s.timed('render', () => Array.from({ length: s.views }, (_, v) => s.renderView(v)));
    const images = s.timed('render', () => tf.stack(renders.map((r) => linearToSrgbTensor(r.rgb))) as tf.Tensor4D);
    guided = s.timed('guidance', () =>
      s.guidance.loss(
        images,
        s.iter,
        renders.map((r) => r.opacity),
      ),
    );
    return s.regularize(guided.loss, renders, 0);
  }, s.variables);
  return { value, grads, guided };
}

/**
 * Too many pixels for one tape: render every view off the tape, take the guidance's gradient
 * in the renders (the guidance still sees all views at once), then put one pass of views at
 * a time back on the tape with loss Σ render · gradient. By the chain rule the sum over the
 * passes is the one-tape gradient; the cost is a second forward render of every view.
 */
function gradientsInPasses(s: IterationStep, passes: number[][]): IterationGradients {
  const outputs = Array.from({ length: s.views }, (_, v) =>
    s.timed('render', () =>
      tf.tidy(() => {
        const r = s.renderView(v);
        return [linearToSrgbTensor(r.rgb), r.opacity] as const;
      }),
    ),
  );
  const images = tf.stack(outputs.map(([rgb]) => rgb)) as tf.Tensor4D;
  const opacity = tf.stack(outputs.map(([, o]) => o)) as tf.Tensor3D;
  tf.dispose(outputs.flat());
  let guided!: GuidanceLoss;
  const { value, grads: dRenders } = s.timed('guidance', () =>
    // + 0·Σ opacity: a guidance that reads no opacity (SDS) still gets a (zero) gradient there
    tf.valueAndGrads((x: tf.Tensor, o: tf.Tensor) => {
      guided = s.guidance.loss(x as tf.Tensor4D, s.iter, tf.unstack(o));
      return tf.add(guided.loss, tf.mul(tf.sum(o), 0)) as tf.Scalar;
    })([images, opacity]),
  );
  tf.dispose([images, opacity]);
  const grads: tf.NamedTensorMap = {};
  for (const pass of passes) {
    const part = tf.variableGrads(() => {
      const renders = s.timed('render', () => pass.map(s.renderView));
      const [first, n] = [pass[0]!, pass.length];
      const images = tf.stack(renders.map((r) => linearToSrgbTensor(r.rgb)));
      const opacity = tf.stack(renders.map((r) => r.opacity));
      const dImages = dRenders[0]!.slice([first, 0, 0, 0], [n, -1, -1, -1]);
      const dOpacity = dRenders[1]!.slice([first, 0, 0], [n, -1, -1]);
      const carried = tf.add(tf.sum(tf.mul(images, dImages)), tf.sum(tf.mul(opacity, dOpacity))) as tf.Scalar;
      return s.regularize(carried, renders, first);
    }, s.variables);
    for (const [k, g] of Object.entries(part.grads)) {
      const sum = grads[k] ? tf.add(grads[k]!, g) : g;
      if (grads[k]) tf.dispose([grads[k]!, g]);
      grads[k] = sum;
    }
    part.value.dispose();
  }
  tf.dispose(dRenders);
  return { value: value as tf.Scalar, grads, guided };
}

/** The fast path's photometric iterations: the first fitIters, then every fitEvery-th. */
export function isFitIteration(config: Pick<GenerateConfig, 'fitIters' | 'fitEvery'>, iter: number): boolean {
  if (iter < config.fitIters) return true;
  return config.fitIters > 0 && config.fitEvery > 0 && (iter - config.fitIters + 1) % config.fitEvery === 0;
}

/** Running mean of per-iteration timings over `n` iterations. */
function accumulate(into: IterationTiming, sample: IterationTiming, n: number): void {
  for (const k of Object.keys(into) as Array<keyof IterationTiming>) into[k] += (sample[k] - into[k]) / n;
}

function backgroundFor(config: GenerateConfig, learned: MlpBackground | null, iter: number, seed: number): VolumeBackground {
  if (learned) return learned.asBackground();
  if (config.background === 'white') return { kind: 'solid', color: [1, 1, 1] };
  return { kind: 'solid', color: backgroundColorAt(iter, seed) };
}
