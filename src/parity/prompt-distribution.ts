/**
 * Prompt-distribution parity: one DreamDistribution training step from a golden file
 * (fixtures/dreamdistribution-step), from the soft prompts `ctx` to their gradients.
 *   states, mu, sigma           forward: template → text encoder → Gaussian over K
 *   snr_weight, loss_denoise    forward: conditions μ + σ ⊙ ε through the UNet, Min-SNR-5
 *   loss_ortho                  forward: EOS features' squared off-diagonal cosines
 *   grad_ctx_*                  gradients of loss_denoise, loss_ortho and their λ-weighted sum
 */
import * as tf from '@tensorflow/tfjs';
import { denoiseLoss, minSnrWeights } from '../distribution/denoise-loss.js';
import { encodeContext, fitGaussian, orthogonalityLoss, sampleConditions } from '../distribution/prompt-learner.js';
import { buildTemplate } from '../distribution/prompt-template.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { Golden, nchwToNhwc } from './golden.js';
import { compare, report, type ParityReport, type ParityResult } from './compare.js';

export function promptDistributionParity(modelDir: string, goldenFile: string): ParityReport {
  const golden = new Golden(goldenFile, 'prompt_distribution');
  const model = DiffusionModel.load(modelDir);
  try {
    const m = Number(golden.meta('M'));
    const template = buildTemplate(model.tokenizer, String(golden.meta('prefix')), String(golden.meta('suffix')), m);
    const results: ParityResult[] = [];
    const expectedIds = [Number(golden.meta('bos')), ...(golden.meta('prefix_ids') as number[])];
    results.push(
      compare('template', [...template.ids.slice(0, expectedIds.length), template.eosIndex], [...expectedIds, Number(golden.meta('eos_position'))], 'forward'),
    );
    const ddpm = model.trainingScheduler;
    const lambda = Number(golden.meta('ortho_lambda'));
    tf.tidy(() => {
      const tensor = (name: string) => {
        const t = golden.need(name);
        return tf.tensor(t.data, t.shape, 'float32');
      };
      const ctx = tensor('ctx') as tf.Tensor3D;
      const eps = tensor('eps') as tf.Tensor4D;
      const [b, s, l, d] = eps.shape;
      const batch = { x0: nchwToNhwc(golden.need('x0')), noise: nchwToNhwc(golden.need('noise')), t: Array.from(golden.need('t').data) };
      const encoded = encodeContext(model.textEncoder, template, ctx);
      const g = fitGaussian(encoded.states);
      results.push(compare('states', encoded.states.dataSync(), golden.need('states').data, 'forward'));
      results.push(compare('mu', g.mu.dataSync(), golden.need('mu').data, 'forward'));
      results.push(compare('sigma', g.sigma.dataSync(), golden.need('sigma').data, 'forward'));
      const tRepeated = batch.t.flatMap((x) => new Array<number>(s).fill(x));
      results.push(compare('snr_weight', minSnrWeights(ddpm, tRepeated, 5).dataSync(), golden.need('snr_weight').data, 'forward'));

      const denoise = (c: tf.Tensor) => {
        const gauss = fitGaussian(encodeContext(model.textEncoder, template, c as tf.Tensor3D).states);
        return denoiseLoss(model.unet, ddpm, batch, sampleConditions(gauss, eps.reshape([b * s, l, d]) as tf.Tensor3D), 5);
      };
      const ortho = (c: tf.Tensor) => orthogonalityLoss(encodeContext(model.textEncoder, template, c as tf.Tensor3D).eos);
      const total = (c: tf.Tensor) => tf.add(denoise(c), tf.mul(ortho(c), lambda)) as tf.Scalar;
      for (const [name, fn] of [
        ['denoise', denoise],
        ['ortho', ortho],
      ] as const) {
        const { value, grad } = tf.valueAndGrad(fn)(ctx);
        results.push(compare(`loss_${name}`, value.dataSync(), golden.need(`loss_${name}`).data, 'forward'));
        results.push(compare(`grad_ctx_${name}`, grad.dataSync(), golden.need(`grad_ctx_${name}`).data, 'gradient'));
      }
      results.push(compare('grad_ctx_total', tf.grad(total)(ctx).dataSync(), golden.need('grad_ctx_total').data, 'gradient'));
    });
    return report('prompt_distribution', results);
  } finally {
    model.dispose();
  }
}
