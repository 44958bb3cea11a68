import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { denoiseLoss, repeatRows } from '../../../src/distribution/denoise-loss.js';
import { fitGaussian, orthogonalityLoss, sampleConditions } from '../../../src/distribution/prompt-learner.js';
import { buildTemplate } from '../../../src/distribution/prompt-template.js';
import { promptDistributionParity } from '../../../src/parity/prompt-distribution.js';
import { DiffusionModel } from '../../../src/pipeline/diffusion-model.js';
import { DDPMScheduler } from '../../../src/schedulers/ddpm.js';
import { loadTokenizer } from '../../../src/text/load-tokenizer.js';
import { FIXTURES } from '../../helpers/fixtures.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('one DreamDistribution training step matches the reference, gradients included', () => {
  for (const model of ['sd1-tiny', 'sd2-tiny']) {
    it(`${model} (${model === 'sd1-tiny' ? 'epsilon' : 'v-prediction'})`, () => {
      const before = tf.memory().numTensors;
      const r = promptDistributionParity(path.join(FIXTURES, model), path.join(FIXTURES, 'dreamdistribution-step', `${model}.safetensors`));
      expect(tf.memory().numTensors).toBe(before);
      const names = r.results.map((x) => x.name);
      expect(names).toEqual([
        'template',
        'states',
        'mu',
        'sigma',
        'snr_weight',
        'loss_denoise',
        'grad_ctx_denoise',
        'loss_ortho',
        'grad_ctx_ortho',
        'grad_ctx_total',
      ]);
      for (const x of r.results) expect(x.ratio, x.name).toBeLessThanOrEqual(1);
    });
  }
});

describe('the template', () => {
  const tokenizer = loadTokenizer(path.join(FIXTURES, 'sd1-tiny', 'tokenizer'));

  it('is BOS + prefix + M slots + suffix + EOS + padding to 77', () => {
    const t = buildTemplate(tokenizer, 'a photo of a', 'chair', 4);
    expect(t.ids.length).toBe(77);
    expect(t.ids.slice(0, 11)).toEqual([49406, 320, 1125, 539, 320, 49407, 49407, 49407, 49407, 4269, 49407]);
    expect([t.ctxStart, t.ctxLength, t.eosIndex]).toEqual([5, 4, 10]);
    expect(buildTemplate(tokenizer, '', '', 2)).toMatchObject({ ctxStart: 1, eosIndex: 3 });
  });

  it('that does not fit is a one-line error naming the flags', () => {
    expect(() => buildTemplate(tokenizer, 'a '.repeat(70), 'chair', 8)).toThrow(/--prefix\/--suffix: .* take 81 tokens, more than the text encoder's 77/);
  });
});

describe('the Gaussian', () => {
  it('has the unbiased std, zero where the prompts agree, and a finite gradient there', () => {
    const states = tf.tensor3d([1, 5, 3, 5, 2, 5], [3, 1, 2]); // column 0 varies, column 1 does not
    const g = fitGaussian(states);
    expect(Array.from(g.mu.dataSync())).toEqual([2, 5]);
    expect(g.sigma.dataSync()[0]).toBeCloseTo(1, 6);
    expect(g.sigma.dataSync()[1]).toBe(0);
    const grad = tf
      .grad((x: tf.Tensor) => tf.sum(fitGaussian(x as tf.Tensor3D).sigma))(states)
      .dataSync();
    expect(Array.from(grad).every(Number.isFinite)).toBe(true);
    // dσ/dx_k = (x_k − μ) / ((K − 1) σ): −0.5, 0.5, 0 for column 0
    expect(Array.from(grad)).toEqual([-0.5, 0, 0.5, 0, 0, 0]);
    expect(Array.from(sampleConditions(g, tf.ones([1, 1, 2]) as tf.Tensor3D, 2).dataSync())).toEqual([4, 5]);
  });

  it('of one prompt has σ = 0', () => {
    expect(Array.from(fitGaussian(tf.tensor3d([1, 2], [1, 1, 2])).sigma.dataSync())).toEqual([0, 0]);
  });
});

describe('the orthogonality loss', () => {
  it('is 0 for orthogonal features and 1 for parallel ones', () => {
    expect(orthogonalityLoss(tf.tensor2d([2, 0, 0, 3], [2, 2])).dataSync()[0]).toBeCloseTo(0, 6);
    expect(orthogonalityLoss(tf.tensor2d([1, 1, 2, 2], [2, 2])).dataSync()[0]).toBeCloseTo(1, 6);
    // three features at 0°, 90°, 45°: cosines² 0, 0.5, 0.5 (each twice) over 6 entries
    const h = Math.SQRT1_2;
    expect(orthogonalityLoss(tf.tensor2d([1, 0, 0, 1, h, h], [3, 2])).dataSync()[0]).toBeCloseTo(1 / 3, 6);
  });
});

it('repeatRows interleaves like torch.repeat_interleave', () => {
  expect(Array.from(repeatRows(tf.tensor2d([1, 2, 3, 4], [2, 2]), 2).dataSync())).toEqual([1, 2, 1, 2, 3, 4, 3, 4]);
});

describe('the best-of-S reduction (--assign best)', () => {
  it('scores each image by its best sample and trains only that sample', () => {
    const model = DiffusionModel.load(path.join(FIXTURES, 'sd1-tiny'));
    const ddpm = DDPMScheduler.fromConfig(model.schedulerConfig);
    const c = model.unet.config.in_channels;
    const [b, s] = [2, 3];
    const batch = {
      x0: tf.randomNormal([b, 8, 8, c], 0, 1, 'float32', 1) as tf.Tensor4D,
      noise: tf.randomNormal([b, 8, 8, c], 0, 1, 'float32', 2) as tf.Tensor4D,
      t: [100, 700],
    };
    const cond = model.encodePrompts(['a cat', 'a dog', 'a red car', 'an owl', 'a house', 'a blue car']);
    const before = tf.memory().numTensors;
    // each sample alone: image i with condition row i·S + j
    const single = Array.from({ length: b * s }, (_, r) => {
      const i = Math.floor(r / s);
      return tf.tidy(() => {
        const one = { x0: batch.x0.slice(i, 1), noise: batch.noise.slice(i, 1), t: [batch.t[i]!] };
        return denoiseLoss(model.unet, ddpm, one, cond.slice(r, 1), 5, 'mean').dataSync()[0]!;
      });
    });
    const best = Array.from({ length: b }, (_, i) => Math.min(...single.slice(i * s, i * s + s)));
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
    expect(tf.tidy(() => denoiseLoss(model.unet, ddpm, batch, cond as tf.Tensor3D, 5, 'best').dataSync()[0])).toBeCloseTo(mean(best), 5);
    expect(tf.tidy(() => denoiseLoss(model.unet, ddpm, batch, cond as tf.Tensor3D, 5, 'mean').dataSync()[0])).toBeCloseTo(mean(single), 5);
    // the gradient reaches the winning condition of each image and no other
    const g = tf.grad((x: tf.Tensor) => denoiseLoss(model.unet, ddpm, batch, x as tf.Tensor3D, 5, 'best'))(cond);
    const norms = tf.tidy(() => Array.from(tf.norm(g.reshape([b * s, -1]), 'euclidean', 1).dataSync()));
    for (let r = 0; r < b * s; r++) {
      const i = Math.floor(r / s);
      if (single[r] === best[i]) expect(norms[r]).toBeGreaterThan(0);
      else expect(norms[r]).toBe(0);
    }
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([batch.x0, batch.noise, cond]);
    model.dispose();
  });
});
