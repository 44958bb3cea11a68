/**
 * Sampling many images on every core: `sample` and `eval-2d` (and eval-prompt) split their
 * instances into W contiguous shards; the main thread samples the first, worker threads
 * (sample-worker.ts, each loading the model folder itself, through src/backend/worker-pool.ts)
 * the others, and the pixels come back in instance order.
 *
 * The images do not depend on W: instance i's conditions come from the caller's
 * `conditions(first, count)` (a function of the instance index), image j's starting noise
 * from (seed, j) alone (imageNoise), and the wasm kernels compute each image of a UNet batch
 * independently of the others, so how the instances are cut into shards and batches changes
 * no pixel. Conditions are computed on the main thread and sent, so a worker needs only the
 * model folder.
 */
import * as tf from '@tensorflow/tfjs';
import { deriveSeed } from '../core/random.js';
import { seededNormal } from '../core/seeded-normal.js';
import { serveRequests, startWorkers, Transfer, workerScript, type WorkerThread } from '../backend/worker-pool.js';
import type { SchedulerKind } from '../schedulers/index.js';
import { DiffusionModel } from './diffusion-model.js';
import { sampleImages } from './text-to-image.js';

export interface ShardSettings {
  steps: number;
  guidance: number;
  scheduler?: SchedulerKind;
  /** Seed of the starting noise. */
  seed: number;
  height: number;
  width: number;
  /** Images per instance, sampled together (a multi-view model); 1 otherwise. */
  views: number;
  /** Images per UNet batch (whole instances, at least one). */
  batch: number;
}

/** Starting noise of images first … first+count−1: image j's from (seed, j), whatever batch it is in. */
export function imageNoise(model: DiffusionModel, seed: number, first: number, count: number, height: number, width: number): tf.Tensor4D {
  const f = model.vaeScale;
  const shape: [number, number, number, number] = [1, height / f, width / f, model.unet.config.in_channels];
  return tf.tidy(() => tf.concat(Array.from({ length: count }, (_, k) => seededNormal(shape, 0, 1, deriveSeed(seed, `latents/${first + k}`)))) as tf.Tensor4D);
}

/**
 * Samples instances [first, first + count) batch by batch: `cond` [count, L, D] holds one row
 * per instance (its views share it), `rig` [V, camera_dim] the views' cameras (views > 1).
 * `onStep(k)` reports k more image-steps done; `pause` runs between batches (the main
 * thread's moment to hear its workers). Returns the images NHWC in [0, 1], flattened.
 */
export async function sampleShard(
  model: DiffusionModel,
  cond: tf.Tensor3D,
  uncond: tf.Tensor3D,
  first: number,
  s: ShardSettings,
  rig?: tf.Tensor2D,
  onStep?: (imageSteps: number) => void,
  pause?: () => Promise<void>,
): Promise<Float32Array> {
  const count = cond.shape[0];
  const v = s.views;
  const size = s.height * s.width * 3;
  const out = new Float32Array(count * v * size);
  const perBatch = Math.max(1, Math.floor(s.batch / v));
  for (let at = 0; at < count; at += perBatch) {
    const k = Math.min(perBatch, count - at);
    const c = tf.tidy(() => {
      const rows = cond.slice([at, 0, 0], [k, -1, -1]);
      // one condition per instance: its V views share it
      return v > 1 ? (tf.reshape(tf.tile(tf.expandDims(rows, 1), [1, v, 1, 1]), [k * v, rows.shape[1], rows.shape[2]]) as tf.Tensor3D) : rows;
    });
    const cameras = rig && v > 1 ? (tf.tile(rig, [k, 1]) as tf.Tensor2D) : undefined;
    const latents = imageNoise(model, s.seed, (first + at) * v, k * v, s.height, s.width);
    let done = 0;
    const images = sampleImages(model, {
      cond: c,
      uncond,
      steps: s.steps,
      guidance: s.guidance,
      scheduler: s.scheduler,
      seed: s.seed,
      height: s.height,
      width: s.width,
      views: v,
      cameras,
      latents,
      onStep: (d) => {
        onStep?.((d - done) * k * v);
        done = d;
      },
    });
    out.set(images.dataSync() as Float32Array, at * v * size);
    tf.dispose([c, latents, images, ...(cameras ? [cameras] : [])]);
    if (pause && at + k < count) await pause();
  }
  return out;
}

interface Wire {
  shape: number[];
  data: Float32Array;
}
const toWire = (t: tf.Tensor): Wire => ({ shape: t.shape, data: new Float32Array(t.dataSync() as Float32Array) });

interface ShardJob {
  cond: Wire;
  uncond: Wire;
  rig: Wire | null;
  first: number;
  settings: ShardSettings;
}

export interface SampleRun {
  /** Instances to draw. */
  n: number;
  /** Conditions [count, L, D] of instances first … first+count−1 (the caller's tensor; disposed here). */
  conditions: (first: number, count: number) => tf.Tensor3D;
  uncond: tf.Tensor3D;
  /** Camera features [V, camera_dim] of the views, for views > 1. */
  rig?: tf.Tensor2D;
  settings: ShardSettings;
  /** Threads to sample on (the main thread is one of them); at most one per instance is used. */
  workers: number;
  /** Image-steps done so far, of n·V·steps. */
  onProgress?: (done: number) => void;
}

/** Threads a run of n instances uses. */
export function sampleWorkers(n: number, workers: number): number {
  return Math.max(1, Math.min(workers, n));
}

/** Samples all n instances (n·V images, instance by instance, NHWC in [0, 1], flattened) on `workers` threads. */
export async function sampleInstances(model: DiffusionModel, run: SampleRun): Promise<Float32Array> {
  const { n, settings: s } = run;
  const shards = sampleWorkers(n, run.workers);
  const bounds = Array.from({ length: shards + 1 }, (_, k) => Math.floor((k * n) / shards));
  let progress = 0;
  const onStep = (k: number) => run.onProgress?.((progress += k));
  const size = s.views * s.height * s.width * 3;
  const out = new Float32Array(n * size);
  const threads =
    shards > 1
      ? await startWorkers<ShardJob, Float32Array>(shards - 1, workerScript('pipeline', 'sample-worker.js'), { modelDir: model.dir }, 'sample worker')
      : [];
  try {
    const remote = threads.map((t: WorkerThread<ShardJob, Float32Array>, i) => {
      const [first, end] = [bounds[i + 1]!, bounds[i + 2]!];
      const cond = run.conditions(first, end - first);
      const job: ShardJob = { cond: toWire(cond), uncond: toWire(run.uncond), rig: run.rig ? toWire(run.rig) : null, first, settings: s };
      cond.dispose();
      const done = t
        .request(job, { transfer: [job.cond.data.buffer as ArrayBuffer], onEvent: (e) => e.type === 'steps' && onStep(e.steps as number) })
        .then((pixels) => out.set(pixels, first * size));
      // awaited below, after the main thread's shard: a failure meanwhile is not an unhandled rejection
      done.catch(() => undefined);
      return done;
    });
    // the main thread's shard; between its batches it hears the workers' progress
    const cond = run.conditions(0, bounds[1]!);
    try {
      out.set(await sampleShard(model, cond, run.uncond, 0, s, run.rig, onStep, () => new Promise((r) => setImmediate(r))), 0);
    } finally {
      cond.dispose();
    }
    await Promise.all(remote);
  } finally {
    await Promise.all(threads.map((t) => t.stop()));
  }
  return out;
}

/** The worker script's side (sample-worker.ts): loads the model folder, samples the shards it is sent. */
export function serveShards(): Promise<void> {
  return serveRequests<{ modelDir: string }, ShardJob, Float32Array>((init) => {
    const model = DiffusionModel.load(init.modelDir);
    return async (job, emit) => {
      const t = (w: Wire) => tf.tensor(w.data, w.shape, 'float32');
      const cond = t(job.cond) as tf.Tensor3D;
      const uncond = t(job.uncond) as tf.Tensor3D;
      const rig = job.rig ? (t(job.rig) as tf.Tensor2D) : undefined;
      try {
        const pixels = await sampleShard(model, cond, uncond, job.first, job.settings, rig, (k) => emit({ type: 'steps', steps: k }));
        return new Transfer(pixels, [pixels.buffer as ArrayBuffer]);
      } finally {
        tf.dispose([cond, uncond, ...(rig ? [rig] : [])]);
      }
    };
  });
}
