/**
 * A distillation teacher for pretrain (`--teacher DIR`): a frozen model folder whose prediction
 * for a single-view step's noisy images and captions replaces the data's target (the noise or
 * velocity the scheduler's prediction_type names). Multi-view steps keep the data's target.
 *
 * Why: a multi-view fine-tune moves the weights that single images share with the views, and
 * sampling from text alone loses what the single-view model knew (dd3d-mv's colour from text
 * 72.5% on set A where dd3d-tiny, which it started from, has 83.2%). Giving half the steps back
 * to single images with the data's target did not bring it back in 4,000 steps (mv32s). The
 * teacher's prediction is the expectation of that target given x_t and the caption, so it is a
 * far less noisy regression target for the same map (knowledge distillation; "learning without
 * forgetting"). The loss stays the MSE between the student's prediction and the target.
 *
 * The teacher sees what the student sees: the same x_t, t and caption (dropped captions as the
 * empty prompt), tokenized by its own tokenizer, with no camera. It must predict the same
 * quantity on the same noise schedule at the same image size, in pixel space; anything else is
 * a one-line error naming the folder and what differs.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import type { DDPMScheduler } from '../schedulers/index.js';

export class Teacher {
  private constructor(
    private readonly model: DiffusionModel,
    /**
     * The multiplier of a taught step's loss. The student's distance to the teacher is a
     * fraction of the data target's noise (0.0065 against 0.06 in the multi-view steps of a
     * dd3d-mv fine-tune taught by dd3d-tiny), and Adam, stepping through both kinds of step,
     * follows the larger: at weight 1 that distance did not fall in 1,000 steps.
     */
    readonly weight: number,
  ) {}

  /** Loads `dir` and checks it predicts what `ddpm` trains at `resolution` pixels. */
  static load(dir: string, ddpm: DDPMScheduler, resolution: number, weight = 1): Teacher {
    let model: DiffusionModel;
    try {
      model = DiffusionModel.load(dir);
    } catch (e) {
      if (e instanceof Dd3dError) throw new Dd3dError(`--teacher: ${e.message}`);
      throw e;
    }
    try {
      const problem = mismatch(model, ddpm, resolution);
      if (problem) throw new Dd3dError(`--teacher ${dir}: ${problem}`);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return new Teacher(model, weight);
  }

  /** The teacher's prediction for x_t [B, R, R, 3] at timesteps t with these captions: the student's regression target. */
  target(xt: tf.Tensor4D, t: readonly number[], captions: readonly string[]): tf.Tensor4D {
    return tf.tidy(() => {
      const states = this.model.encodePrompts([...captions]);
      return this.model.unet.forward(xt, [...t], states);
    });
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Why a model cannot teach this training run, or null. */
function mismatch(model: DiffusionModel, ddpm: DDPMScheduler, resolution: number): string | null {
  if (model.vae) return 'it has a VAE (latent space); the built-in models train in pixel space';
  const [h, w] = model.defaultSize;
  if (h !== resolution || w !== resolution) return `it works at ${h}×${w} pixels, this config trains at ${resolution}×${resolution}`;
  if (model.predictionType !== ddpm.predictionType)
    return `it predicts ${model.predictionType}, this config trains ${ddpm.predictionType} (scheduler prediction_type)`;
  const ours = ddpm.schedule.alphasCumprod;
  const theirs = model.trainingScheduler.schedule.alphasCumprod;
  if (theirs.length !== ours.length || theirs.some((a, i) => a !== ours[i])) return "its noise schedule differs from this config's (scheduler config)";
  if (model.unet.config.in_channels !== 3) return `its UNet takes ${model.unet.config.in_channels} channels, not RGB`;
  return null;
}
