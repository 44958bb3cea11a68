import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { componentWithConfig, dd3dError } from '../../helpers/fixtures.js';
import { loadVae } from '../../../src/models/load.js';
import { vaeParity } from '../../../src/parity/vae.js';

const FIX = 'test/fixtures';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-vae-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const vaeWithConfig = (name: string, changes: Record<string, unknown>) => componentWithConfig(tmp, name, 'sd1-tiny', 'vae', changes);

beforeAll(async () => {
  await initBackend('wasm');
});

describe.each(['sd1-tiny', 'sd2-tiny'])('%s parity with diffusers', (name) => {
  it('latent mean and logvar, the image gradient and the decoded image are within tolerance', () => {
    const r = vaeParity(path.join(FIX, name), path.join(FIX, name, 'golden', 'vae.safetensors'));
    expect(r.component).toBe('vae');
    expect(r.results.map((x) => x.name)).toEqual(['latent_mean', 'latent_logvar', 'grad_image', 'decode_out']);
    for (const x of r.results) expect(x, `${name} ${x.name}: err ${x.max_abs_err} tol ${x.tolerance}`).toMatchObject({ ok: true });
    expect(r.ok).toBe(true);
  });
});

describe('AutoencoderKL', () => {
  it('loads from a model folder or a bare vae folder, with the scaling factor from the config', () => {
    for (const dir of [path.join(FIX, 'sd2-tiny'), path.join(FIX, 'sd2-tiny', 'vae')]) {
      const vae = loadVae(dir);
      try {
        expect(vae.scalingFactor).toBeCloseTo(0.18215, 10);
        expect(vae.config.norm_num_groups).toBe(16);
        expect(vae.config.latent_channels).toBe(4);
      } finally {
        vae.dispose();
      }
    }
    const vae = loadVae(vaeWithConfig('no-scaling-factor', { scaling_factor: undefined }));
    expect(vae.scalingFactor).toBe(0.18215);
    vae.dispose();
  });

  it('encodes and decodes non-square images, and samples mean + exp(logvar/2)·noise', () => {
    const vae = loadVae(path.join(FIX, 'sd1-tiny'));
    try {
      tf.tidy(() => {
        const image = tf.randomUniform([2, 24, 40, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
        const { mean, logvar } = vae.encode(image);
        expect(mean.shape).toEqual([2, 12, 20, 4]);
        expect(logvar.shape).toEqual([2, 12, 20, 4]);
        const noise = tf.randomNormal(mean.shape, 0, 1, 'float32', 4) as tf.Tensor4D;
        const z = vae.sample(mean, logvar, noise);
        const expected = tf.add(mean, tf.mul(tf.sqrt(tf.exp(logvar)), noise));
        expect(tf.max(tf.abs(tf.sub(z, expected))).dataSync()[0]).toBeLessThan(1e-5);
        expect(vae.decode(z).shape).toEqual([2, 24, 40, 3]);
      });
    } finally {
      vae.dispose();
    }
  });

  it('does not leak tensors over repeated encode/decode calls or a gradient', () => {
    const vae = loadVae(path.join(FIX, 'sd2-tiny'));
    const image = tf.randomUniform([1, 16, 16, 3], -1, 1) as tf.Tensor4D;
    try {
      tf.dispose(vae.encode(image));
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        const { mean, logvar } = vae.encode(image);
        vae.decode(mean).dispose();
        tf.dispose([mean, logvar]);
      }
      expect(tf.memory().numTensors).toBe(before);
      tf.grad((x: tf.Tensor) => tf.sum(vae.decode(vae.encode(x as tf.Tensor4D).mean)))(image).dispose();
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      image.dispose();
      vae.dispose();
    }
  });

  it('rejects wrong channel counts', () => {
    const vae = loadVae(path.join(FIX, 'sd1-tiny'));
    try {
      tf.tidy(() => {
        expect(dd3dError(() => vae.encode(tf.zeros([1, 16, 16, 4]) as tf.Tensor4D)).message).toMatch(/expected \[batch, height, width, 3\]/);
        expect(dd3dError(() => vae.decode(tf.zeros([1, 8, 8, 3]) as tf.Tensor4D)).message).toMatch(/expected \[batch, height, width, 4\]/);
      });
    } finally {
      vae.dispose();
    }
  });
});

describe('VAE configs outside the supported space', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'an unsupported down block type',
      { down_block_types: ['DownEncoderBlock2D', 'AttnDownEncoderBlock2D'] },
      /key "down_block_types" has unsupported block type "AttnDownEncoderBlock2D" at index 1/,
    ],
    [
      'an unsupported up block type',
      { up_block_types: ['AttnUpDecoderBlock2D', 'UpDecoderBlock2D'] },
      /key "up_block_types" has unsupported block type "AttnUpDecoderBlock2D" at index 0/,
    ],
    ['a non-silu activation', { act_fn: 'relu' }, /key "act_fn" is "relu"/],
    [
      'block types that do not match block_out_channels',
      { down_block_types: ['DownEncoderBlock2D'] },
      /key "down_block_types" is \["DownEncoderBlock2D"\] \(expected 2 block types/,
    ],
    ['groups that do not divide the channels', { norm_num_groups: 24 }, /key "norm_num_groups" is 24 \(does not divide a group norm of 32 channels\)/],
    ['a wrongly typed key', { use_quant_conv: 'yes' }, /key "use_quant_conv" is "yes" \(expected a boolean\)/],
  ];
  for (const [what, changes, message] of cases) {
    it(`${what} is a one-line Dd3dError naming the config file and key`, () => {
      const dir = vaeWithConfig(what.replace(/\W+/g, '-'), changes);
      const err = dd3dError(() => loadVae(dir));
      expect(err.message).toMatch(message);
      expect(err.message.startsWith(path.join(dir, 'config.json'))).toBe(true);
    });
  }

  it('a config that does not fit the checkpoint names the weight', () => {
    const before = tf.memory().numTensors;
    const err = dd3dError(() => loadVae(vaeWithConfig('no-attention', { latent_channels: 8 })));
    expect(err.message).toMatch(/weight "encoder\.conv_out\.weight" has shape \[8,64,3,3\], expected \[16,64,3,3\]/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
