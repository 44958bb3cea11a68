/** `--model` is optional everywhere: without it, commands use the built-in model. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Dd3dError } from '../core/errors.js';
import { builtinModelDir } from '../paths.js';
import type { DiffusionModel } from '../pipeline/diffusion-model.js';

export function resolveModelDir(flag: string | undefined): string {
  if (flag) return flag;
  const dir = builtinModelDir();
  if (!fs.existsSync(path.join(dir, 'model_index.json'))) {
    throw new Dd3dError(`--model: not given, and the built-in model is not installed (${dir} has no model_index.json; train it with "dd3d pretrain", see the README)`);
  }
  return dir;
}

export const GUIDANCE_FLAG_HELP = 'classifier-free guidance scale, 1 = none (default: the model folder\'s own, from model_index.json "_dd3d_sampling"; else 7.5)';
export const STEPS_FLAG_HELP = 'denoising steps (default: the model folder\'s own, from model_index.json "_dd3d_sampling"; else 25)';

/** The sampling flags as given, or the model folder's defaults. */
export function samplingSettings(flags: { guidance?: number; steps?: number }, model: DiffusionModel): { guidance: number; steps: number } {
  return { guidance: flags.guidance ?? model.sampling.guidance, steps: flags.steps ?? model.sampling.steps };
}

export const MODEL_FLAG_HELP = 'model folder in the diffusers layout: Stable Diffusion 1.x/2.x, or a pixel-space model without vae/ (default: the built-in model, models/dd3d-tiny)';
