/**
 * A frozen text-to-image model loaded from a diffusers-layout folder: tokenizer, text
 * encoder, UNet, an optional VAE (absent for pixel-space models such as dd3d-tiny) and the
 * scheduler config. Stable Diffusion 1.x/2.x and the built-in model load the same way.
 *
 * It owns the operations in its model space, so that sampling, score distillation and prompt
 * training share one version of each:
 *  - `toModelSpace`: images in [0, 1] → what the UNet denoises: x ↦ 2x − 1, then with a VAE
 *    its latent mean × scaling_factor (`decode` is the way back);
 *  - `guidedPrediction`: classifier-free guidance, u + g·(c − u), with the unconditional and
 *    conditional halves in one UNet batch;
 *  - `trainingScheduler` and `predictionType`: the DDPM noise schedule the UNet was trained
 *    with and what it predicts (ε, v or x0), from the folder's scheduler config.
 */
import * as tf from '@tensorflow/tfjs';
import { getComponent, openModelFolder, type ModelComponent } from '../io/diffusers.js';
import type { ClipTextModel } from '../models/clip-text-model.js';
import { loadClipTextModel, loadUNet, loadVae } from '../models/load.js';
import type { UNet2DConditionModel } from '../models/unet.js';
import type { AutoencoderKL } from '../models/vae.js';
import { type TextTokenizer } from '../text/tokenizer.js';
import { loadTokenizer } from '../text/load-tokenizer.js';
import type { PredictionType } from '../schedulers/config.js';
import { DDPMScheduler } from '../schedulers/ddpm.js';

/** Classifier-free guidance's inputs for n images. */
export interface GuidedInputs {
  /** Positive conditions [n, L, D], one per image. */
  cond: tf.Tensor3D;
  /** The negative (usually empty) prompt's states, [1, L, D] (shared) or [n, L, D]. */
  uncond: tf.Tensor3D;
  /** The guidance scale g. */
  guidance: number;
  /** Camera features [n, camera_dim] per image, for a camera-conditioned model. */
  cameras?: tf.Tensor2D;
  /** Images of one object per group, denoised jointly (a multi-view model); default 1. */
  views?: number;
}

/** Sampling settings for a folder without its own ("_dd3d_sampling"): diffusers' guidance, and half its 50 steps, which DDIM does not need. */
export const DEFAULT_SAMPLING = { guidance: 7.5, steps: 25 };

export class DiffusionModel {
  private ddpm: DDPMScheduler | null = null;

  private constructor(
    readonly dir: string,
    readonly tokenizer: TextTokenizer,
    readonly textEncoder: ClipTextModel,
    readonly unet: UNet2DConditionModel,
    readonly vae: AutoencoderKL | null,
    readonly schedulerConfig: ModelComponent,
    /** Guidance scale and denoising steps when the user gives none: the folder's own, else DEFAULT_SAMPLING. */
    readonly sampling: { guidance: number; steps: number },
  ) {}

  static load(dir: string): DiffusionModel {
    const folder = openModelFolder(dir);
    const scheduler = getComponent(folder, 'scheduler');
    const tokenizer = loadTokenizer(getComponent(folder, 'tokenizer').dir);
    const textEncoder = loadClipTextModel(folder);
    const unet = loadUNet(folder);
    const vae = folder.components.has('vae') ? loadVae(folder) : null;
    return new DiffusionModel(dir, tokenizer, textEncoder, unet, vae, scheduler, {
      guidance: folder.sampling.guidanceScale ?? DEFAULT_SAMPLING.guidance,
      steps: folder.sampling.steps ?? DEFAULT_SAMPLING.steps,
    });
  }

  /** Pixels per latent cell: 2^(VAE downsamplers), 1 in pixel space. */
  get vaeScale(): number {
    return this.vae ? 2 ** (this.vae.config.block_out_channels.length - 1) : 1;
  }

  /** The image [height, width] the UNet was trained at (its config's sample_size; 64 latents if unset, as diffusers). */
  get defaultSize(): [number, number] {
    const [h, w] = this.unet.config.sample_size ?? [64, 64];
    return [h * this.vaeScale, w * this.vaeScale];
  }

  /** Prompt states [B, 77, D] (the text encoder's last hidden state), as the pipeline conditions on them. */
  encodePrompts(prompts: string[]): tf.Tensor3D {
    const ids = prompts.map((p) => this.tokenizer.call(p).ids);
    const out = this.textEncoder.forward(ids);
    out.pooled.dispose();
    return out.lastHiddenState;
  }

  /** Latents to images NHWC in [0, 1]: VAE decode of latents / scaling_factor, or the sample itself in pixel space. */
  decode(latents: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const x = this.vae ? this.vae.decode(tf.div(latents, this.vae.scalingFactor) as tf.Tensor4D) : latents;
      const y = tf.add(tf.mul(x, 0.5), 0.5);
      // NaN stays NaN, as torch.clamp keeps it (tfjs's clip makes it 0): a broken model must not pass as black pixels
      return tf.where(tf.isNaN(y), y, tf.clipByValue(y, 0, 1)) as tf.Tensor4D;
    });
  }

  /**
   * The noise schedule the UNet was trained with (DDPM over num_train_timesteps): what score
   * distillation and prompt training noise with. Read from the scheduler config on first use.
   */
  get trainingScheduler(): DDPMScheduler {
    this.ddpm ??= DDPMScheduler.fromConfig(this.schedulerConfig);
    return this.ddpm;
  }

  /** What the UNet predicts: the scheduler config's prediction_type (ε, v or x0). */
  get predictionType(): PredictionType {
    return this.trainingScheduler.predictionType;
  }

  /**
   * Images NHWC, sRGB in [0, 1], as the UNet sees them: resized (bilinear, half-pixel centres)
   * to the model's image size when they differ, mapped to [−1, 1], then, with a VAE, its latent
   * mean × scaling_factor. Differentiable in `images`; the caller tidies. `chunk` encodes that
   * many images at a time, each in its own tidy, to bound the VAE's memory on a large set:
   * for tensors outside a gradient computation only.
   */
  toModelSpace(images: tf.Tensor4D, chunk?: number): tf.Tensor4D {
    const [h, w] = this.defaultSize;
    let x = images;
    if (x.shape[1] !== h || x.shape[2] !== w) x = tf.image.resizeBilinear(x, [h, w], false, true);
    x = tf.sub(tf.mul(x, 2), 1) as tf.Tensor4D;
    const vae = this.vae;
    if (!vae) return x;
    const encode = (part: tf.Tensor4D) => tf.mul(vae.encode(part).mean, vae.scalingFactor) as tf.Tensor4D;
    const n = x.shape[0];
    if (chunk === undefined || n <= chunk) return encode(x);
    const parts: tf.Tensor4D[] = [];
    for (let i = 0; i < n; i += chunk) parts.push(tf.tidy(() => encode(x.slice([i, 0, 0, 0], [Math.min(chunk, n - i), -1, -1, -1]))));
    const out = tf.concat(parts) as tf.Tensor4D;
    tf.dispose(parts);
    return out;
  }

  /**
   * The UNet's output for x [n, …] at timestep t (one for all, or one per image) with
   * classifier-free guidance: one batch of 2n, [uncond; cond], whose halves u and c combine
   * as u + g·(c − u). The unconditional half sees the same cameras: guidance contrasts text,
   * not views. The caller tidies.
   */
  guidedPrediction(x: tf.Tensor4D, t: number | readonly number[], g: GuidedInputs): tf.Tensor4D {
    const n = x.shape[0];
    const context = tf.concat([g.uncond.shape[0] === n ? g.uncond : tf.tile(g.uncond, [n, 1, 1]), g.cond]) as tf.Tensor3D;
    const camera = g.cameras && (tf.concat([g.cameras, g.cameras]) as tf.Tensor2D);
    const timesteps = typeof t === 'number' ? t : [...t, ...t];
    const pred = this.unet.forward(tf.concat([x, x]) as tf.Tensor4D, timesteps, context, { camera, views: g.views });
    const [u, c] = tf.split(pred, 2);
    return tf.add(u, tf.mul(tf.sub(c, u), g.guidance)) as tf.Tensor4D;
  }

  /** One prompt's states repeated for n images [n, 77, D]: the encoder runs once. */
  encodePrompt(prompt: string, n: number): tf.Tensor3D {
    return tf.tidy(() => tf.tile(this.encodePrompts([prompt]), [n, 1, 1]) as tf.Tensor3D);
  }

  dispose(): void {
    this.textEncoder.dispose();
    this.unet.params.dispose();
    this.vae?.params.dispose();
  }
}
