/**
 * Pipeline parity: text-to-image from the golden file's prompt, negative prompt, step count,
 * guidance and starting latents with the folder's own scheduler, compared with diffusers'
 * StableDiffusionPipeline output (NHWC in [0, 1]). A multi-step result, so it is judged
 * with the relative (trajectory) tolerance.
 */
import * as tf from '@tensorflow/tfjs';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { sampleImages } from '../pipeline/text-to-image.js';
import { Golden, nchwToNhwc } from './golden.js';
import { compare, report, type ParityReport } from './compare.js';

export function pipelineParity(modelDir: string, goldenFile: string): ParityReport {
  const golden = new Golden(goldenFile, 'pipeline');
  const [latents, image] = [golden.need('latents'), golden.need('image')];
  const model = DiffusionModel.load(modelDir);
  try {
    const prompt = String(golden.meta('prompt'));
    const negative = String(golden.meta('negative_prompt'));
    const [cond, uncond, start] = tf.tidy(() => [model.encodePrompts([prompt]), model.encodePrompts([negative]), nchwToNhwc(latents)]);
    const out = sampleImages(model, {
      cond: cond as tf.Tensor3D,
      uncond: uncond as tf.Tensor3D,
      latents: start as tf.Tensor4D,
      steps: Number(golden.meta('num_inference_steps')),
      guidance: Number(golden.meta('guidance_scale')),
      height: Number(golden.meta('height')),
      width: Number(golden.meta('width')),
      seed: 0,
    });
    const result = compare('image', out.dataSync(), image.data, 'gradient');
    tf.dispose([cond, uncond, start, out]);
    return report('pipeline', [result]);
  } finally {
    model.dispose();
  }
}
