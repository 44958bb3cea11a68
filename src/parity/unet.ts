/**
 * UNet parity: runs UNet2DConditionModel on a golden file's `sample` (NCHW, transposed to our
 * NHWC), `timestep` and `encoder_hidden_states`, and compares
 *   out                          forward
 *   grad_sample                  d sum(out · loss_weights) / d sample
 *   grad_encoder_hidden_states   d sum(out · loss_weights) / d encoder_hidden_states
 * Gradients with respect to the conditioning are what a learned prompt receives in training.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../errors.js';
import { readSafetensors, type Tensor } from '../io/safetensors.js';
import { loadUNet } from '../models/load.js';
import { compare, report, type ParityReport, type ParityResult } from './compare.js';

export function goldenTensor(golden: Map<string, Tensor>, file: string, name: string, kind: string): Tensor {
  const t = golden.get(name);
  if (!t) throw new Dd3dError(`${file}: golden file has no tensor "${name}" (is it a ${kind} golden file?)`);
  return t;
}

/** NCHW golden data as an NHWC tensor. */
export const nchwToNhwc = (t: Tensor): tf.Tensor4D => tf.tensor(t.data, t.shape, 'float32').transpose([0, 2, 3, 1]) as tf.Tensor4D;
/** Our NHWC tensor's values in the golden NCHW order. */
export const nhwcToNchwData = (t: tf.Tensor): Float32Array => t.transpose([0, 3, 1, 2]).dataSync() as Float32Array;

export function unetParity(modelDir: string, goldenFile: string): ParityReport {
  const golden = readSafetensors(goldenFile).tensors;
  const need = (name: string) => goldenTensor(golden, goldenFile, name, 'unet');
  const [sample, timestep, states, refOut] = [need('sample'), need('timestep'), need('encoder_hidden_states'), need('out')];
  const model = loadUNet(modelDir);
  try {
    const results: ParityResult[] = [];
    tf.tidy(() => {
      const x = nchwToNhwc(sample);
      const ctx = tf.tensor3d(states.data, states.shape as [number, number, number], 'float32');
      const t = Array.from(timestep.data);
      results.push(compare('out', nhwcToNchwData(model.forward(x, t, ctx)), refOut.data, 'forward'));
      const weights = golden.get('loss_weights');
      const refGradSample = golden.get('grad_sample');
      const refGradStates = golden.get('grad_encoder_hidden_states');
      if (weights && (refGradSample || refGradStates)) {
        const w = nchwToNhwc(weights);
        const loss = (xs: tf.Tensor, cs: tf.Tensor) => tf.sum(tf.mul(model.forward(xs as tf.Tensor4D, t, cs as tf.Tensor3D), w));
        const [gx, gc] = tf.grads(loss)([x, ctx]);
        if (refGradSample) results.push(compare('grad_sample', nhwcToNchwData(gx), refGradSample.data, 'gradient'));
        if (refGradStates) results.push(compare('grad_encoder_hidden_states', gc.dataSync(), refGradStates.data, 'gradient'));
      }
    });
    return report('unet', results);
  } finally {
    model.dispose();
  }
}
