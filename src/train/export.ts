/**
 * Writes a trained built-in model as a diffusers-layout folder that `DiffusionModel.load`
 * (and so every command) reads like any model folder: model_index.json, text_encoder/,
 * tokenizer/, unet/ and scheduler/, weights in safetensors under their checkpoint keys,
 * conv weights back in PyTorch's [out, in, kh, kw] layout.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../io/atomic.js';
import { writeSafetensors, type Tensor } from '../io/safetensors.js';
import type { PretrainConfig } from './pretrain-configs.js';
import type { TinyModel } from './pretrain.js';

function torchLayout(t: tf.Tensor): Tensor {
  // NHWC conv weights [kh, kw, in, out] → [out, in, kh, kw]
  if (t.rank !== 4) return { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array };
  const [kh, kw, ci, co] = t.shape as [number, number, number, number];
  const moved = t.transpose([3, 2, 0, 1]);
  const data = moved.dataSync() as Float32Array;
  moved.dispose();
  return { dtype: 'F32', shape: [co, ci, kh, kw], data };
}

const json = (file: string, value: unknown) => writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');

/** `weights`: "text_encoder/<key>" and "unet/<key>" → tensor (the EMA weights, normally). */
export function exportTinyModel(dir: string, model: TinyModel, weights: Map<string, tf.Tensor>, config: PretrainConfig, meta: Record<string, string>): void {
  for (const sub of ['text_encoder', 'unet', 'scheduler', 'tokenizer']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const part = (prefix: string) => {
    const out = new Map<string, Tensor>();
    for (const [k, t] of weights) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), torchLayout(t));
    return out;
  };
  writeSafetensors(path.join(dir, 'text_encoder', 'model.safetensors'), part('text_encoder/'), { format: 'pt', ...meta });
  json(path.join(dir, 'text_encoder', 'config.json'), model.textConfig);
  writeSafetensors(path.join(dir, 'unet', 'diffusion_pytorch_model.safetensors'), part('unet/'), { format: 'pt', ...meta });
  json(path.join(dir, 'unet', 'config.json'), model.unetConfig);
  json(path.join(dir, 'scheduler', 'scheduler_config.json'), config.scheduler);
  model.tokenizer.save(path.join(dir, 'tokenizer'));
  json(path.join(dir, 'model_index.json'), {
    _class_name: 'Dd3dTinyPipeline',
    _dd3d_config: config.name,
    _dd3d_sampling: config.sampling,
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['dd3d', 'Dd3dWordTokenizer'],
    unet: ['diffusers', 'UNet2DConditionModel'],
    scheduler: ['diffusers', String(config.scheduler._class_name)],
  });
}
