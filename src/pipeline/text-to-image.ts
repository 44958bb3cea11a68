/**
 * Text-to-image sampling with classifier-free guidance, as diffusers'
 * StableDiffusionPipeline does it: conditions [negative, positive] share one UNet batch,
 * noise_pred = uncond + g·(cond − uncond) (DiffusionModel.guidedPrediction), the scheduler
 * steps, and the result is decoded.
 * The conditions are prompt states, so learned prompt distributions plug in directly.
 *
 * Multi-view models (`views` > 1) denoise each group of V consecutive images jointly, each
 * with its camera; every image still starts from its own noise (MVDream).
 */
import * as tf from '@tensorflow/tfjs';
import { deriveSeed } from '../core/random.js';
import { Dd3dError } from '../core/errors.js';
import { createScheduler, type SchedulerKind } from '../schedulers/index.js';
import type { DiffusionModel } from './diffusion-model.js';
import { seededNormal } from '../core/seeded-normal.js';

export interface SampleOptions {
  /** Positive conditions [n, 77, D]: one image per row. */
  cond: tf.Tensor3D;
  /** Negative condition [1 or n, 77, D]. */
  uncond: tf.Tensor3D;
  steps: number;
  guidance: number;
  /** Default: the folder's scheduler class. */
  scheduler?: SchedulerKind;
  height: number;
  width: number;
  seed: number;
  /** Images of one object per group (rows of `cond` in groups of V); default 1. */
  views?: number;
  /** Camera features [n, camera_dim] per image (camera-embedding.ts), for a camera-conditioned model. */
  cameras?: tf.Tensor2D;
  /** Starting noise NHWC [n, h/f, w/f, C] (unit variance); default drawn from `seed`. */
  latents?: tf.Tensor4D;
  onStep?: (done: number, total: number) => void;
}

/** Image sizes must survive the VAE and every UNet downsampler: a clear error otherwise. */
export function checkImageSize(model: DiffusionModel, height: number, width: number): void {
  const multiple = model.unet.sizeMultiple * model.vaeScale;
  for (const [flag, v] of [
    ['--height', height],
    ['--width', width],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0 || v % multiple !== 0) {
      throw new Dd3dError(`${flag}: ${v} is not a positive multiple of ${multiple} (this model downsamples images by ${multiple})`);
    }
  }
}

/** Runs the sampler and returns images NHWC in [0, 1]. Leaves the tensor count as it found it (plus the result). */
export function sampleImages(model: DiffusionModel, opts: SampleOptions): tf.Tensor4D {
  const n = opts.cond.shape[0];
  const f = model.vaeScale;
  checkImageSize(model, opts.height, opts.width);
  const views = opts.views ?? 1;
  model.unet.checkViews(views, opts.cameras !== undefined);
  const scheduler = createScheduler(model.schedulerConfig, opts.scheduler);
  try {
    scheduler.setTimesteps(opts.steps);
    const shape: [number, number, number, number] = [n, opts.height / f, opts.width / f, model.unet.config.in_channels];
    let latents = tf.tidy(() => tf.mul(opts.latents ?? seededNormal(shape, 0, 1, deriveSeed(opts.seed, 'latents')), scheduler.initNoiseSigma)) as tf.Tensor4D;
    const guided = { cond: opts.cond, uncond: opts.uncond, guidance: opts.guidance, cameras: opts.cameras, views };
    const timesteps = scheduler.timesteps;
    timesteps.forEach((t, i) => {
      const next = tf.tidy(() => {
        const input = scheduler.scaleModelInput(latents, t) as tf.Tensor4D;
        return scheduler.step(model.guidedPrediction(input, t, guided), t, latents) as tf.Tensor4D;
      });
      latents.dispose();
      latents = next;
      opts.onStep?.(i + 1, timesteps.length);
    });
    const images = model.decode(latents);
    latents.dispose();
    return images;
  } finally {
    scheduler.dispose();
  }
}
