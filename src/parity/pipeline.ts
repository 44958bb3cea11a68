/**
 * Pipeline parity: text-to-image from the golden file's prompt, negative prompt, step count,
 * guidance and starting latents with the folder's own scheduler, compared with diffusers'
 * StableDiffusionPipeline output (NHWC in [0, 1]). A multi-step result, so it is judged
 * with the relative (trajectory) tolerance.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../errors.js';
import { parsePythonJson } from '../io/json.js';
import { readSafetensors } from '../io/safetensors.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { sampleImages } from '../pipeline/text-to-image.js';
import { compare, report, type ParityReport } from './compare.js';

/** Golden metadata values are JSON-encoded ("\"a red chair\"", "7.5"). */
function meta(metadata: Record<string, string>, file: string, key: string): unknown {
  if (!(key in metadata)) throw new Dd3dError(`${file}: golden metadata has no "${key}" (is it a pipeline golden file?)`);
  return parsePythonJson(metadata[key]);
}

export function pipelineParity(modelDir: string, goldenFile: string): ParityReport {
  const { tensors, metadata } = readSafetensors(goldenFile);
  const latents = tensors.get('latents');
  const image = tensors.get('image');
  if (!latents || !image) throw new Dd3dError(`${goldenFile}: golden file needs "latents" and "image" tensors`);
  const model = DiffusionModel.load(modelDir);
  try {
    const prompt = String(meta(metadata, goldenFile, 'prompt'));
    const negative = String(meta(metadata, goldenFile, 'negative_prompt'));
    const [cond, uncond, start] = tf.tidy(() => [
      model.encodePrompts([prompt]),
      model.encodePrompts([negative]),
      tf.tensor(latents.data, latents.shape).transpose([0, 2, 3, 1]) as tf.Tensor4D,
    ]);
    const out = sampleImages(model, {
      cond: cond as tf.Tensor3D,
      uncond: uncond as tf.Tensor3D,
      latents: start as tf.Tensor4D,
      steps: Number(meta(metadata, goldenFile, 'num_inference_steps')),
      guidance: Number(meta(metadata, goldenFile, 'guidance_scale')),
      height: Number(meta(metadata, goldenFile, 'height')),
      width: Number(meta(metadata, goldenFile, 'width')),
      seed: 0,
    });
    const result = compare('image', out.dataSync(), image.data, 'gradient');
    tf.dispose([cond, uncond, start, out]);
    return report('pipeline', [result]);
  } finally {
    model.dispose();
  }
}
