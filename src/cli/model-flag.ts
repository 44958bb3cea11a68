/** `--model` is optional everywhere: without it, commands use the built-in model. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Dd3dError } from '../errors.js';
import { builtinModelDir } from '../paths.js';

export function resolveModelDir(flag: string | undefined): string {
  if (flag) return flag;
  const dir = builtinModelDir();
  if (!fs.existsSync(path.join(dir, 'model_index.json'))) {
    throw new Dd3dError(`--model: not given, and the built-in model is not installed (${dir} has no model_index.json; train it with "dd3d pretrain", see the README)`);
  }
  return dir;
}

export const GUIDANCE_FLAG_HELP = 'classifier-free guidance scale, 1 = none (default: the model\'s own, 3 for the built-in model; 7.5 for Stable Diffusion)';

export const MODEL_FLAG_HELP = 'model folder in the diffusers layout: Stable Diffusion 1.x/2.x, or a pixel-space model without vae/ (default: the built-in model, models/dd3d-tiny)';
