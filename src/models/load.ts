/**
 * Builds models from diffusers-layout folders: config keys read and checked, weights
 * turned into tensors under their checkpoint keys, nothing renamed.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { configValue, getComponent, openModelFolder, openWeights, type ModelComponent, type ModelFolder } from '../io/diffusers.js';
import { ClipTextModel, type ClipTextConfig } from './clip-text-model.js';
import { Params, toNhwcConvWeights } from './nn.js';
import { unetConfig } from './unet-config.js';
import { UNet2DConditionModel } from './unet.js';
import { AutoencoderKL, vaeConfig } from './vae.js';

/** Every tensor of a component's checkpoint, keyed as in the file. */
export function loadParams(c: ModelComponent): Params {
  const file = openWeights(c);
  const tensors = new Map<string, tf.Tensor>();
  try {
    for (const name of file.names) {
      const t = file.get(name);
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
  const config: ClipTextConfig = {
    hidden_size: configValue(c, 'hidden_size', 'integer'),
    intermediate_size: configValue(c, 'intermediate_size', 'integer'),
    num_attention_heads: configValue(c, 'num_attention_heads', 'integer'),
    num_hidden_layers: configValue(c, 'num_hidden_layers', 'integer'),
    max_position_embeddings: configValue(c, 'max_position_embeddings', 'integer'),
    vocab_size: configValue(c, 'vocab_size', 'integer'),
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
  const params = loadParams(c);
  try {
    return new ClipTextModel(config, params);
  } catch (e) {
    params.dispose();
    throw e;
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
