/**
 * `--model` is optional everywhere: without it, commands use the model their distributions were
 * learned with, else the built-in model (models/dd3d-mv). Loading goes
 * through `loadModel`, which checks what would otherwise fail late (the scheduler config), and
 * image sizes through `imageSize`, which bounds them and refuses to guess a missing one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Dd3dError } from '../core/errors.js';
import { checkRegularFile } from '../io/regular-file.js';
import { textEncoderHash, type PromptDistribution } from '../distribution/distribution-file.js';
import { builtinModelDir, packageModelFromLabel, packageModelLabel, packageRoot } from '../paths.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { readNoiseScheduleConfig } from '../schedulers/config.js';

/**
 * The model a command runs: `--model` when given; else the model the distributions were learned
 * with (`model.path` of each file), when all name one folder that is there and holds the text
 * encoder they were fitted with, so a distribution learned with `--model models/dd3d-tiny`
 * needs no flag later; else the built-in model.
 */
export function resolveModelDir(flag: string | undefined, dists: readonly PromptDistribution[] = []): string {
  if (flag) return flag;
  const learnedWith = new Set(dists.map(distributionModelDir));
  if (learnedWith.size === 1) {
    const [dir] = learnedWith;
    if (dir) return dir;
  }
  const dir = builtinModelDir();
  if (!fs.existsSync(path.join(dir, 'model_index.json'))) {
    throw new Dd3dError(
      `--model: not given, and the built-in model is not installed (${dir} has no model_index.json; train it with "dd3d pretrain", see the README)`,
    );
  }
  return dir;
}

/**
 * The folder a distribution's `model.path` names ("built-in (models/…)" inside the package; else
 * the path from the working folder, then from the package), if its text encoder is the file's.
 */
function distributionModelDir(d: PromptDistribution): string | null {
  const named = d.model.path;
  const builtIn = packageModelFromLabel(named);
  const candidates = builtIn ? [builtIn] : path.isAbsolute(named) ? [named] : [path.resolve(named), path.join(packageRoot(), named)];
  for (const dir of candidates) {
    if (!fs.existsSync(path.join(dir, 'model_index.json'))) continue;
    try {
      if (textEncoderHash(dir) === d.model.text_encoder_hash) return dir;
    } catch {
      // a broken folder is not the one the file was learned with; the built-in model is used
    }
  }
  return null;
}

/** How a distribution file records the model it was learned with: the flag as given, or the built-in model's label. */
export function modelLabel(flag: string | undefined, modelDir: string): string {
  return flag ?? packageModelLabel(modelDir);
}

export const GUIDANCE_FLAG_HELP =
  'classifier-free guidance scale, 1 = none (default: the model folder\'s own, from model_index.json "_dd3d_sampling"; else 7.5)';
export const STEPS_FLAG_HELP = 'denoising steps (default: the model folder\'s own, from model_index.json "_dd3d_sampling"; else 25)';

/** The sampling flags as given, or the model folder's defaults. */
export function samplingSettings(flags: { guidance?: number; steps?: number }, model: DiffusionModel): { guidance: number; steps: number } {
  return { guidance: flags.guidance ?? model.sampling.guidance, steps: flags.steps ?? model.sampling.steps };
}

export const MODEL_FLAG_HELP =
  'model folder in the diffusers layout: Stable Diffusion 1.x/2.x, or a pixel-space model without vae/ (default: the built-in multi-view model, models/dd3d-mv; models/dd3d-tiny is the single-view model it was fine-tuned from)';
/** For commands that read a distribution, whose own model comes before the built-in one. */
export const DIST_MODEL_FLAG_HELP = MODEL_FLAG_HELP.replace('(default: ', '(default: the model the --dist file was learned with, else ');

/** The UNet's config.json, beside its weights. */
const unetConfigPath = (model: DiffusionModel) => path.join(path.dirname(model.unet.params.source), 'config.json');

/** Largest image side dd3d samples or trains at (flags and sample_size × the VAE's scale alike). */
export const MAX_IMAGE_SIDE = 2048;

/**
 * Every file of a model folder and its component folders must be a regular file (after
 * symlinks) before any is opened: a FIFO named vocab.json would block its reader forever.
 * Configs and vocabularies are read whole, so they are held to MAX_READ_BYTES; weights are
 * not: the safetensors reader reads tensors on demand and checks the header itself, and a
 * Stable Diffusion 1.x UNet in float32 is 3.4 GB.
 */
export function checkModelFiles(modelDir: string): void {
  if (!fs.statSync(modelDir, { throwIfNoEntry: false })?.isDirectory()) return; // the loader says what is wrong
  const check = (file: string) => {
    if (/\.safetensors$/.test(file)) checkRegularFile(file, 'a model file', Number.POSITIVE_INFINITY);
    else if (/\.(json|txt)$/.test(file)) checkRegularFile(file, 'a model file');
  };
  for (const entry of fs.readdirSync(modelDir, { withFileTypes: true })) {
    const p = path.join(modelDir, entry.name);
    if (fs.statSync(p, { throwIfNoEntry: false })?.isDirectory()) for (const f of fs.readdirSync(p)) check(path.join(p, f));
    else check(p);
  }
}

/** Loads a model folder and checks its scheduler config now, not at the first denoising step. */
export function loadModel(modelDir: string): DiffusionModel {
  checkModelFiles(modelDir);
  const model = DiffusionModel.load(modelDir);
  try {
    readNoiseScheduleConfig(model.schedulerConfig);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/**
 * The image size to sample or train at: the flags when given, else the size the UNet was
 * trained at (sample_size × the VAE's scale). A UNet config without sample_size has no such
 * size, and dd3d does not guess one: the flags must say.
 */
export function imageSize(model: DiffusionModel, flags: { height?: number; width?: number } = {}, flagHint = 'give --height and --width'): [number, number] {
  const known = model.unet.config.sample_size !== null;
  if (!known && (flags.height === undefined || flags.width === undefined)) {
    throw new Dd3dError(`${unetConfigPath(model)}: no "sample_size", so the image size the model was trained at is unknown; ${flagHint}`);
  }
  const [dh, dw] = known ? model.defaultSize : [0, 0];
  const size: [number, number] = [flags.height ?? dh, flags.width ?? dw];
  for (const [name, v] of [
    ['height', size[0]],
    ['width', size[1]],
  ] as const) {
    if (v > MAX_IMAGE_SIDE) {
      const from = flags[name] !== undefined ? `--${name}` : `${unetConfigPath(model)}: "sample_size"`;
      throw new Dd3dError(`${from}: an image ${name} of ${v} is over the limit of ${MAX_IMAGE_SIDE} pixels`);
    }
  }
  return size;
}
