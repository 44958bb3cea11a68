/**
 * Loader for model folders in the diffusers layout, as users download them:
 *   model_index.json + one subfolder per component (unet/, vae/, text_encoder/, tokenizer/, scheduler/),
 * or just component subfolders without model_index.json, or a single component folder
 * (e.g. a bare unet/ with config.json + diffusion_pytorch_model.safetensors).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Dd3dError } from '../core/errors.js';
import { parsePythonJson } from './json.js';
import { openSafetensors, type SafetensorsFile, type Tensor } from './safetensors.js';

export interface ModelComponent {
  /** Component name: the subfolder name, or for a single-component folder the name its class implies. */
  name: string;
  dir: string;
  /** e.g. "UNet2DConditionModel", from model_index.json or the component's own config. */
  className?: string;
  /** Parsed config.json / scheduler_config.json; undefined for a tokenizer. */
  config?: Record<string, unknown>;
  configPath?: string;
  weightsPath?: string;
}

export interface ModelFolder {
  dir: string;
  /** Pipeline class from model_index.json, when there is one. */
  className?: string;
  components: Map<string, ModelComponent>;
  /** Components named in model_index.json that dd3d never uses and therefore does not load. */
  skipped: string[];
  /** The folder's own sampling defaults, from model_index.json's "_dd3d_sampling" (see SamplingDefaults). */
  sampling: SamplingDefaults;
}

/**
 * model_index.json's "_dd3d_sampling": {"guidance_scale", "num_inference_steps"}, named as
 * diffusers' pipeline arguments. dd3d writes it for the built-in model, which samples best
 * with less guidance and fewer steps than Stable Diffusion; diffusers ignores "_" keys.
 */
export interface SamplingDefaults {
  guidanceScale?: number;
  steps?: number;
}

function readSamplingDefaults(indexPath: string, value: unknown): SamplingDefaults {
  if (value === undefined) return {};
  const where = `${indexPath}: "_dd3d_sampling"`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Dd3dError(`${where} must be an object, got ${JSON.stringify(value)}`);
  const { guidance_scale: g, num_inference_steps: n, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) throw new Dd3dError(`${where}: unknown key "${unknown[0]}" (expected guidance_scale, num_inference_steps)`);
  if (g !== undefined && !(typeof g === 'number' && Number.isFinite(g) && g >= 0))
    throw new Dd3dError(`${where}.guidance_scale must be a number ≥ 0, got ${JSON.stringify(g)}`);
  if (n !== undefined && !(Number.isInteger(n) && (n as number) >= 1))
    throw new Dd3dError(`${where}.num_inference_steps must be an integer ≥ 1, got ${JSON.stringify(n)}`);
  return { guidanceScale: g as number | undefined, steps: n as number | undefined };
}

// Pipelines list these, but score distillation never runs them; users often skip downloading them.
const UNUSED = new Set(['safety_checker', 'feature_extractor', 'image_encoder']);
const CONFIG_FILES = ['config.json', 'scheduler_config.json'];
const WEIGHT_FILES = ['model.safetensors', 'diffusion_pytorch_model.safetensors', 'model.fp16.safetensors', 'diffusion_pytorch_model.fp16.safetensors'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const exists = (p: string) => fs.existsSync(p);
const isDir = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;

function readJson(file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parsePythonJson(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Dd3dError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(value)) throw new Dd3dError(`${file}: expected a JSON object`);
  return value;
}

/** True when `dir` itself holds a component (rather than component subfolders). */
const isComponentDir = (dir: string) => [...CONFIG_FILES, 'vocab.json'].some((f) => exists(path.join(dir, f)));

/** The component name a class implies, for a folder holding a single component. */
function nameForClass(className: string | undefined): string | undefined {
  if (!className) return undefined;
  if (/UNet/i.test(className)) return 'unet';
  if (/^CLIPTextModel/.test(className)) return 'text_encoder';
  if (/^(AutoencoderKL|VQModel)/.test(className)) return 'vae';
  if (/Scheduler$/.test(className)) return 'scheduler';
  if (/Tokenizer/.test(className)) return 'tokenizer';
  return undefined;
}

function findWeights(dir: string): string | undefined {
  const found = WEIGHT_FILES.find((f) => exists(path.join(dir, f)));
  if (found) return path.join(dir, found);
  const files = fs.readdirSync(dir);
  if (files.some((f) => f.endsWith('.safetensors.index.json'))) {
    throw new Dd3dError(`${dir}: sharded weights (*.safetensors.index.json) are not supported; save the model unsharded`);
  }
  const other = files.find((f) => /\.(bin|ckpt|pt|pth)$/.test(f));
  if (other) {
    throw new Dd3dError(
      `${path.join(dir, other)}: only .safetensors weights are supported; convert with ` +
        `python -c "import torch, safetensors.torch as s; s.save_file(torch.load('${other}'), 'model.safetensors')" in that folder`,
    );
  }
  return undefined;
}

function loadComponent(dir: string, name: string | undefined, className?: string): ModelComponent {
  const configFile = CONFIG_FILES.find((f) => exists(path.join(dir, f)));
  const configPath = configFile && path.join(dir, configFile);
  const config = configPath ? readJson(configPath) : undefined;
  const hasVocab = exists(path.join(dir, 'vocab.json'));
  if (!config && !hasVocab) {
    throw new Dd3dError(`${dir}: not a model component: expected config.json, scheduler_config.json or a tokenizer's vocab.json`);
  }
  if (!className && config) {
    const arch = config.architectures;
    className = typeof config._class_name === 'string' ? config._class_name : Array.isArray(arch) && typeof arch[0] === 'string' ? arch[0] : undefined;
  }
  if (!className && !config) {
    const tc = path.join(dir, 'tokenizer_config.json');
    const cls = exists(tc) ? readJson(tc).tokenizer_class : undefined;
    className = typeof cls === 'string' ? cls : undefined;
  }
  name ??= nameForClass(className) ?? (config ? path.basename(path.resolve(dir)) : 'tokenizer');
  return { name, dir, className, config, configPath, weightsPath: findWeights(dir) };
}

/** Open a model folder (see the module comment for the layouts accepted). Reads configs, not weights. */
export function openModelFolder(dir: string): ModelFolder {
  if (!exists(dir)) throw new Dd3dError(`model folder not found: ${dir}`);
  if (!isDir(dir)) throw new Dd3dError(`${dir}: expected a model folder, got a file`);
  const components = new Map<string, ModelComponent>();
  const skipped: string[] = [];
  const indexPath = path.join(dir, 'model_index.json');

  if (exists(indexPath)) {
    const index = readJson(indexPath);
    for (const [name, value] of Object.entries(index)) {
      // Non-component keys: "_class_name", "_diffusers_version", options like "requires_safety_checker",
      // and [null, null] for components a pipeline was saved without.
      if (name.startsWith('_') || !Array.isArray(value) || value.length !== 2 || value[1] === null) continue;
      if (UNUSED.has(name)) {
        skipped.push(name);
        continue;
      }
      const sub = path.join(dir, name);
      if (!isDir(sub)) throw new Dd3dError(`${indexPath} lists component "${name}" but its folder ${sub} is missing`);
      components.set(name, loadComponent(sub, name, typeof value[1] === 'string' ? value[1] : undefined));
    }
    const cls = index._class_name;
    const sampling = readSamplingDefaults(indexPath, index._dd3d_sampling);
    return { dir, className: typeof cls === 'string' ? cls : undefined, components, skipped, sampling };
  }

  if (isComponentDir(dir)) {
    const c = loadComponent(dir, undefined);
    return { dir, components: new Map([[c.name, c]]), skipped, sampling: {} };
  }

  for (const name of fs.readdirSync(dir).sort()) {
    const sub = path.join(dir, name);
    if (!isDir(sub) || !isComponentDir(sub)) continue; // e.g. golden/, .cache/
    if (UNUSED.has(name)) skipped.push(name);
    else components.set(name, loadComponent(sub, name));
  }
  if (components.size === 0) {
    throw new Dd3dError(
      `${dir}: not a model folder: expected model_index.json, a component's config.json (or scheduler_config.json, ` +
        `or a tokenizer's vocab.json), or component subfolders such as unet/ and vae/`,
    );
  }
  return { dir, components, skipped, sampling: {} };
}

/** A named component of a folder, or a one-line error listing what the folder has. */
export function getComponent(folder: ModelFolder, name: string): ModelComponent {
  const c = folder.components.get(name);
  if (!c) throw new Dd3dError(`${folder.dir}: no "${name}" component (found: ${[...folder.components.keys()].join(', ') || 'none'})`);
  return c;
}

function requireWeights(c: ModelComponent): string {
  if (!c.weightsPath) {
    throw new Dd3dError(`${c.dir}: component "${c.name}" has no weights (expected ${WEIGHT_FILES.slice(0, 2).join(' or ')})`);
  }
  return c.weightsPath;
}

/** Open a component's weights lazily, for checkpoints too big to hold twice in memory. */
export function openWeights(c: ModelComponent): SafetensorsFile {
  return openSafetensors(requireWeights(c));
}

/** All of a component's tensors, keyed exactly as in the checkpoint. */
export function loadWeights(c: ModelComponent): Map<string, Tensor> {
  const f = openWeights(c);
  try {
    return new Map(f.names.map((n) => [n, f.get(n)]));
  } finally {
    f.close();
  }
}

interface Kinds {
  number: number;
  integer: number;
  string: string;
  boolean: boolean;
  array: unknown[];
  object: Record<string, unknown>;
  'number[]': number[];
  'string[]': string[];
  /** diffusers allows a single value or one per block for e.g. attention_head_dim. */
  'number|number[]': number | number[];
}
export type ConfigKind = keyof Kinds;

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const CHECKS: { [K in ConfigKind]: (v: unknown) => boolean } = {
  number: isNumber,
  integer: (v) => Number.isSafeInteger(v),
  string: (v) => typeof v === 'string',
  boolean: (v) => typeof v === 'boolean',
  array: (v) => Array.isArray(v),
  object: isObject,
  'number[]': (v) => Array.isArray(v) && v.every(isNumber),
  'string[]': (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'),
  'number|number[]': (v) => isNumber(v) || (Array.isArray(v) && v.every(isNumber)),
};
const DESCRIBE: Record<ConfigKind, string> = {
  number: 'a number',
  integer: 'an integer',
  string: 'a string',
  boolean: 'a boolean',
  array: 'an array',
  object: 'an object',
  'number[]': 'an array of numbers',
  'string[]': 'an array of strings',
  'number|number[]': 'a number or an array of numbers',
};

/** A config value for an error message: JSON, cut at 60 characters; "missing" for an absent key. */
export function showConfigValue(v: unknown): string {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * A typed config value. A missing or null key returns `fallback` when one is given (diffusers
 * writes null for "use the default"), otherwise it is an error naming the config file and key.
 */
export function configValue<K extends ConfigKind>(c: ModelComponent, key: string, kind: K, fallback?: Kinds[K]): Kinds[K] {
  const v = configOptional(c, key, kind);
  if (v !== undefined) return v;
  if (fallback !== undefined) return fallback;
  const problem = c.config![key] === null ? `key "${key}" is null` : `missing key "${key}"`;
  throw new Dd3dError(`${c.configPath}: ${problem} (expected ${DESCRIBE[kind]})`);
}

/** Like configValue, but undefined for a missing or null key; a wrong type is still an error. */
export function configOptional<K extends ConfigKind>(c: ModelComponent, key: string, kind: K): Kinds[K] | undefined {
  if (!c.config) throw new Dd3dError(`${c.dir}: component "${c.name}" has no config.json`);
  const v = c.config[key];
  if (v === undefined || v === null) return undefined;
  if (!CHECKS[kind](v)) {
    throw new Dd3dError(`${c.configPath}: key "${key}" is ${showConfigValue(v)} (expected ${DESCRIBE[kind]})`);
  }
  return v as Kinds[K];
}
