/**
 * A frozen text-to-image model loaded from a diffusers-layout folder: tokenizer, text
 * encoder, UNet, an optional VAE (absent for pixel-space models such as dd3d-tiny) and the
 * scheduler config. Stable Diffusion 1.x/2.x and the built-in model load the same way.
 */
import * as tf from '@tensorflow/tfjs';
import { getComponent, openModelFolder, type ModelComponent } from '../io/diffusers.js';
import type { ClipTextModel } from '../models/clip-text-model.js';
import { loadClipTextModel, loadUNet, loadVae } from '../models/load.js';
import type { UNet2DConditionModel } from '../models/unet.js';
import type { AutoencoderKL } from '../models/vae.js';
import { type TextTokenizer } from '../text/tokenizer.js';
import { loadTokenizer } from '../text/load-tokenizer.js';

/** Sampling settings for a folder without its own ("_dd3d_sampling"): diffusers' guidance, and half its 50 steps, which DDIM does not need. */
export const DEFAULT_SAMPLING = { guidance: 7.5, steps: 25 };

export class DiffusionModel {
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
      return tf.clipByValue(tf.add(tf.mul(x, 0.5), 0.5), 0, 1) as tf.Tensor4D;
    });
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
