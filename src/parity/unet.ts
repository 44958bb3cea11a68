/**
 * UNet parity: runs UNet2DConditionModel on a golden file's `sample` (NCHW, transposed to our
 * NHWC), `timestep` and `encoder_hidden_states`, and compares
 *   out                          forward
 *   grad_sample                  d sum(out · loss_weights) / d sample
 *   grad_encoder_hidden_states   d sum(out · loss_weights) / d encoder_hidden_states
 * Gradients with respect to the conditioning are what a learned prompt receives in training.
 */
import * as tf from '@tensorflow/tfjs';
import { loadUNet } from '../models/load.js';
import { Golden, nchwToNhwc, nhwcToNchwData } from './golden.js';
import { compare, report, type ParityReport, type ParityResult } from './compare.js';

export function unetParity(modelDir: string, goldenFile: string): ParityReport {
  const golden = new Golden(goldenFile, 'unet');
  const [sample, timestep, states, refOut] = ['sample', 'timestep', 'encoder_hidden_states', 'out'].map((n) => golden.need(n));
  const model = loadUNet(modelDir);
  try {
    const results: ParityResult[] = [];
    tf.tidy(() => {
      const x = nchwToNhwc(sample);
      const ctx = tf.tensor3d(states.data, states.shape as [number, number, number], 'float32');
      const t = Array.from(timestep.data);
      results.push(compare('out', nhwcToNchwData(model.forward(x, t, ctx)), refOut.data, 'forward'));
      const weights = golden.maybe('loss_weights');
      const refGradSample = golden.maybe('grad_sample');
      const refGradStates = golden.maybe('grad_encoder_hidden_states');
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
