/**
 * Builds models from diffusers-layout folders: config keys read and checked, weights
 * turned into tensors under their checkpoint keys, nothing renamed.
 *
 * Checked before anything runs, each a one-line error naming the file and key: config sizes
 * against CONFIG_LIMITS (a config alone must not be able to ask for gigabytes), the text
 * encoder's weight shapes against its config (from the safetensors header, before the data is
 * read), and every weight for NaN and infinity (a corrupt file would otherwise give black
 * images without a word).
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { configValue, getComponent, openModelFolder, openWeights, type ModelComponent, type ModelFolder } from '../io/diffusers.js';
import { ClipTextModel, clipTextParamShapes, type ClipTextConfig } from './clip-text-model.js';
import { Params, toNhwcConvWeights } from './nn.js';
import { unetConfig } from './unet-config.js';
import { UNet2DConditionModel } from './unet.js';
import { AutoencoderKL, vaeConfig } from './vae.js';

/**
 * Upper bounds of config sizes, far above Stable Diffusion's (hidden 1024, MLP 4096, 23
 * layers, 77 positions, 49408 tokens) and the built-in model's; a bigger value is a typo or a
 * hostile file, not a model this CPU could run.
 */
export const CONFIG_LIMITS = {
  hidden_size: 8192,
  intermediate_size: 65536,
  num_attention_heads: 256,
  num_hidden_layers: 256,
  max_position_embeddings: 8192,
  vocab_size: 1_000_000,
} as const;

/** A config integer from 1 to `max`, or a one-line error stating the limit. */
export function boundedConfigInt(c: ModelComponent, key: string, max: number, fallback?: number): number {
  const v = configValue(c, key, 'integer', fallback);
  if (v < 1 || v > max) throw new Dd3dError(`${c.configPath}: key "${key}" is ${v} (expected an integer from 1 to ${max})`);
  return v;
}

/** Index of the first NaN or ±Infinity, or -1. (x - x is 0 for every finite x and NaN otherwise.) */
export function firstNonFinite(a: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}

/** Every tensor of a component's checkpoint, keyed as in the file; NaN or infinity in any is an error. */
export function loadParams(c: ModelComponent): Params {
  const file = openWeights(c);
  const tensors = new Map<string, tf.Tensor>();
  try {
    for (const name of file.names) {
      const t = file.get(name);
      const bad = t.data instanceof Float32Array ? firstNonFinite(t.data) : -1;
      if (bad >= 0) throw new Dd3dError(`${file.path}: tensor "${name}" holds ${t.data[bad]} at element ${bad}; the weights are corrupt`);
      tensors.set(name, tf.tensor(t.data, t.shape, t.data instanceof Float32Array ? 'float32' : 'int32'));
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  } finally {
    file.close();
  }
  return new Params(tensors, file.path);
}

export function clipTextConfig(c: ModelComponent): ClipTextConfig {
  const hiddenAct = configValue(c, 'hidden_act', 'string');
  if (hiddenAct !== 'quick_gelu' && hiddenAct !== 'gelu') {
    throw new Dd3dError(`${c.configPath}: key "hidden_act" is "${hiddenAct}" (expected "quick_gelu" or "gelu")`);
  }
  const L = CONFIG_LIMITS;
  const config: ClipTextConfig = {
    hidden_size: boundedConfigInt(c, 'hidden_size', L.hidden_size),
    intermediate_size: boundedConfigInt(c, 'intermediate_size', L.intermediate_size),
    num_attention_heads: boundedConfigInt(c, 'num_attention_heads', L.num_attention_heads),
    num_hidden_layers: boundedConfigInt(c, 'num_hidden_layers', L.num_hidden_layers),
    max_position_embeddings: boundedConfigInt(c, 'max_position_embeddings', L.max_position_embeddings),
    vocab_size: boundedConfigInt(c, 'vocab_size', L.vocab_size),
    hidden_act: hiddenAct,
    layer_norm_eps: configValue(c, 'layer_norm_eps', 'number', 1e-5),
    eos_token_id: configValue(c, 'eos_token_id', 'integer', 2),
  };
  if (config.hidden_size % config.num_attention_heads !== 0) {
    throw new Dd3dError(`${c.configPath}: key "hidden_size" (${config.hidden_size}) is not divisible by "num_attention_heads" (${config.num_attention_heads})`);
  }
  return config;
}

/** Accepts a model folder (uses its text_encoder/) or a bare text_encoder folder. */
export function loadClipTextModel(folder: string | ModelFolder): ClipTextModel {
  const f = typeof folder === 'string' ? openModelFolder(folder) : folder;
  const c = getComponent(f, 'text_encoder');
  const config = clipTextConfig(c);
  checkClipWeightShapes(c, config);
  const params = loadParams(c);
  try {
    return new ClipTextModel(config, params);
  } catch (e) {
    params.dispose();
    throw e;
  }
}

/**
 * The text encoder's weights against its config, from the safetensors header alone: every
 * tensor the config implies must be there with its shape, so a wrong shape (even with the
 * right byte count) or a config whose sizes the file does not have stops here, not inside a
 * matmul. transformers 4 keys ("text_model." prefix) and 5 keys (none) are both accepted.
 */
export function checkClipWeightShapes(c: ModelComponent, config: ClipTextConfig): void {
  const file = openWeights(c);
  try {
    const prefix = file.names.includes('text_model.embeddings.token_embedding.weight') ? 'text_model.' : '';
    for (const [key, shape] of clipTextParamShapes(config)) {
      const name = prefix + key;
      if (!file.names.includes(name)) throw new Dd3dError(`${file.path}: missing weight "${name}" (the config ${c.configPath} implies it)`);
      const got = file.info(name).shape;
      if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
        throw new Dd3dError(`${file.path}: weight "${name}" has shape [${got}], the config ${c.configPath} implies [${shape}]`);
      }
    }
  } finally {
    file.close();
  }
}

/**
 * The largest magnitude any output state of a model folder's text encoder can have. Its last
 * op is the final LayerNorm, γ ⊙ x̂ + β with |x̂ᵢ| ≤ √(D − 1), so no state exceeds
 * max |γᵢ|·√(D − 1) + |βᵢ|. Read from the two tensors alone, without loading the model.
 */
export function textEncoderStateBound(folder: string | ModelFolder): number {
  const c = getComponent(typeof folder === 'string' ? openModelFolder(folder) : folder, 'text_encoder');
  const file = openWeights(c);
  try {
    const prefix = file.names.includes('text_model.final_layer_norm.weight') ? 'text_model.' : '';
    const gamma = file.get(`${prefix}final_layer_norm.weight`).data;
    const beta = file.get(`${prefix}final_layer_norm.bias`).data;
    const root = Math.sqrt(Math.max(1, gamma.length - 1));
    let bound = 0;
    for (let i = 0; i < gamma.length; i++) bound = Math.max(bound, Math.abs(gamma[i]!) * root + Math.abs(beta[i] ?? 0));
    return bound;
  } finally {
    file.close();
  }
}

/** A convolutional model's checkpoint, conv weights transposed once to [kh, kw, in, out] under their own keys. */
export function loadNhwcParams(c: ModelComponent): Params {
  return toNhwcConvWeights(loadParams(c));
}

/** Accepts a model folder (uses its unet/) or a bare unet folder. */
export function loadUNet(folder: string | ModelFolder): UNet2DConditionModel {
  const f = typeof folder === 'string' ? openModelFolder(folder) : folder;
  const c = getComponent(f, 'unet');
  const config = unetConfig(c);
  const params = loadNhwcParams(c);
  try {
    return new UNet2DConditionModel(config, params, c.configPath);
  } catch (e) {
    params.dispose();
    throw e;
  }
}

/** Accepts a model folder (uses its vae/) or a bare vae folder. */
export function loadVae(folder: string | ModelFolder): AutoencoderKL {
  const f = typeof folder === 'string' ? openModelFolder(folder) : folder;
  const c = getComponent(f, 'vae');
  const config = vaeConfig(c);
  const params = loadNhwcParams(c);
  try {
    return new AutoencoderKL(config, params);
  } catch (e) {
    params.dispose();
    throw e;
  }
}
