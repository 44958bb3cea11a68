/**
 * VAE parity: encodes the golden `image` (NCHW, transposed to our NHWC) and compares
 *   latent_mean, latent_logvar   forward
 *   grad_image                   d sum(latent_mean · loss_weights) / d image
 *   decode_out                   forward, decoding `decode_in` (unscaled latents)
 */
import * as tf from '@tensorflow/tfjs';
import { loadVae } from '../models/load.js';
import { compare, report, type ParityReport, type ParityResult } from './compare.js';
import { Golden, nchwToNhwc, nhwcToNchwData } from './golden.js';

export function vaeParity(modelDir: string, goldenFile: string): ParityReport {
  const golden = new Golden(goldenFile, 'vae');
  const image = golden.need('image');
  const model = loadVae(modelDir);
  try {
    const results: ParityResult[] = [];
    tf.tidy(() => {
      const x = nchwToNhwc(image);
      const { mean, logvar } = model.encode(x);
      results.push(
        compare('latent_mean', nhwcToNchwData(mean), golden.need('latent_mean').data, 'forward'),
        compare('latent_logvar', nhwcToNchwData(logvar), golden.need('latent_logvar').data, 'forward'),
      );
      const weights = golden.maybe('loss_weights');
      const refGrad = golden.maybe('grad_image');
      if (weights && refGrad) {
        const w = nchwToNhwc(weights);
        const grad = tf.grad((im: tf.Tensor) => tf.sum(tf.mul(model.encode(im as tf.Tensor4D).mean, w)))(x);
        results.push(compare('grad_image', nhwcToNchwData(grad), refGrad.data, 'gradient'));
      }
      const decodeIn = golden.maybe('decode_in');
      const decodeOut = golden.maybe('decode_out');
      if (decodeIn && decodeOut) {
        results.push(compare('decode_out', nhwcToNchwData(model.decode(nchwToNhwc(decodeIn))), decodeOut.data, 'forward'));
      }
    });
    return report('vae', results);
  } finally {
    model.dispose();
  }
}
