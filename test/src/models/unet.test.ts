import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headChunks, multiHeadAttention } from '../../../src/models/attention.js';
import { WeightOffload } from '../../../src/models/weight-offload.js';
import { initBackend } from '../../../src/backend/backend.js';
import { componentWithConfig, dd3dError } from '../../helpers/fixtures.js';
import { loadUNet } from '../../../src/models/load.js';
import type { UNetConfig } from '../../../src/models/unet-config.js';
import { unetFlopBreakdown, unetFlops } from '../../../src/models/unet-flops.js';
import type { UNet2DConditionModel } from '../../../src/models/unet.js';
import { unetParity } from '../../../src/parity/unet.js';

const FIX = 'test/fixtures';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-unet-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const unetWithConfig = (fixture: string, name: string, changes: Record<string, unknown>) => componentWithConfig(tmp, name, fixture, 'unet', changes);

function randomInputs(unet: UNet2DConditionModel, b: number, h: number, w: number) {
  const x = tf.randomNormal([b, h, w, unet.config.in_channels], 0, 1, 'float32', 1) as tf.Tensor4D;
  const c = tf.randomNormal([b, 77, unet.config.cross_attention_dim[0]], 0, 1, 'float32', 2) as tf.Tensor3D;
  return { x, c };
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe.each(['sd1-tiny', 'sd2-tiny', 'pixel-tiny'])('%s parity with diffusers', (name) => {
  it('forward output and both input gradients are within tolerance', () => {
    const r = unetParity(path.join(FIX, name), path.join(FIX, name, 'golden', 'unet.safetensors'));
    expect(r.component).toBe('unet');
    expect(r.results.map((x) => x.name)).toEqual(['out', 'grad_sample', 'grad_encoder_hidden_states']);
    for (const x of r.results) expect(x, `${name} ${x.name}: err ${x.max_abs_err} tol ${x.tolerance}`).toMatchObject({ ok: true });
    expect(r.ok).toBe(true);
  });
});

describe('UNet2DConditionModel', () => {
  it('loads from a model folder or a bare unet folder and reads the config', () => {
    for (const dir of [path.join(FIX, 'sd2-tiny'), path.join(FIX, 'sd2-tiny', 'unet')]) {
      const unet = loadUNet(dir);
      try {
        expect(unet.config.num_attention_heads).toEqual([2, 4, 4]); // legacy attention_head_dim = heads
        expect(unet.config.use_linear_projection).toBe(true);
        expect(unet.config.upcast_attention).toBe(true);
        expect(unet.config.sample_size).toEqual([16, 16]);
        expect(unet.sizeMultiple).toBe(4);
        expect(unet.plan.down.map((b) => b.attentions.map((a) => [a.heads, a.headDim]))).toEqual([[[2, 16]], [[4, 16]], []]);
      } finally {
        unet.dispose();
      }
    }
  });

  it('runs any allowed size, non-square included, with gradients', () => {
    const unet = loadUNet(path.join(FIX, 'pixel-tiny'));
    try {
      tf.tidy(() => {
        const { x, c } = randomInputs(unet, 2, 12, 20);
        const y = unet.forward(x, [3, 700], c);
        expect(y.shape).toEqual([2, 12, 20, 3]);
        expect(Number.isFinite(tf.sum(tf.abs(y)).dataSync()[0])).toBe(true);
        const [gx, gc] = tf.grads((a: tf.Tensor, e: tf.Tensor) => tf.sum(unet.forward(a as tf.Tensor4D, 500, e as tf.Tensor3D)))([x, c]);
        expect(gx.shape).toEqual(x.shape);
        expect(gc.shape).toEqual(c.shape);
        expect(tf.max(tf.abs(gc)).dataSync()[0]).toBeGreaterThan(0);
      });
    } finally {
      unet.dispose();
    }
  });

  it('accepts the timestep as a number, a list or a tensor', () => {
    const unet = loadUNet(path.join(FIX, 'sd1-tiny'));
    try {
      tf.tidy(() => {
        const { x, c } = randomInputs(unet, 2, 8, 8);
        const a = unet.forward(x, 250, c);
        const b = unet.forward(x, [250, 250], c);
        const t = unet.forward(x, tf.tensor1d([250]), c);
        expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
        expect(tf.max(tf.abs(tf.sub(a, t))).dataSync()[0]).toBe(0);
        expect(dd3dError(() => unet.forward(x, [1, 2, 3], c)).message).toMatch(/3 timesteps for a batch of 2/);
      });
    } finally {
      unet.dispose();
    }
  });

  it('does not leak tensors over repeated forward calls or a forward+backward', () => {
    const unet = loadUNet(path.join(FIX, 'sd2-tiny'));
    const { x, c } = randomInputs(unet, 2, 16, 8);
    try {
      unet.forward(x, [10, 900], c).dispose(); // warm-up: backend-internal allocations, if any
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) unet.forward(x, [10, 900], c).dispose();
      expect(tf.memory().numTensors).toBe(before);
      for (let i = 0; i < 2; i++) {
        const grads = tf.grads((a: tf.Tensor, e: tf.Tensor) => tf.sum(unet.forward(a as tf.Tensor4D, [10, 900], e as tf.Tensor3D)))([x, c]);
        tf.dispose(grads);
      }
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      x.dispose();
      c.dispose();
      unet.dispose();
    }
  });

  it('rejects a height or width the downsampling does not allow, naming it and the multiple', () => {
    const unet = loadUNet(path.join(FIX, 'pixel-tiny'));
    const { x, c } = randomInputs(unet, 1, 30, 32);
    const y = tf.zeros([1, 32, 18, 3]) as tf.Tensor4D;
    try {
      const before = tf.memory().numTensors;
      expect(dd3dError(() => unet.forward(x, 1, c)).message).toMatch(/height 30 is not a positive multiple of 4/);
      expect(dd3dError(() => unet.forward(y, 1, c)).message).toMatch(/width 18 is not a positive multiple of 4/);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      tf.dispose([x, c, y]);
      unet.dispose();
    }
  });

  it('rejects wrong input channels and conditioning width', () => {
    const unet = loadUNet(path.join(FIX, 'sd1-tiny'));
    try {
      tf.tidy(() => {
        const { c } = randomInputs(unet, 1, 8, 8);
        expect(dd3dError(() => unet.forward(tf.zeros([1, 8, 8, 3]) as tf.Tensor4D, 1, c)).message).toMatch(/expected \[batch, height, width, 4\]/);
        expect(dd3dError(() => unet.forward(tf.zeros([1, 8, 8, 4]) as tf.Tensor4D, 1, tf.zeros([1, 77, 24]) as tf.Tensor3D)).message).toMatch(
          /encoder hidden states have shape \[1,77,24\], expected \[1, tokens, 32\]/,
        );
      });
    } finally {
      unet.dispose();
    }
  });
});

describe('UNet configs outside the supported space', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'an unsupported down block type',
      { down_block_types: ['DownBlock2D', 'SimpleCrossAttnDownBlock2D'] },
      /key "down_block_types" has unsupported block type "SimpleCrossAttnDownBlock2D" at index 1/,
    ],
    [
      'an unsupported up block type',
      { up_block_types: ['CrossAttnUpBlock2D', 'AttnUpBlock2D'] },
      /key "up_block_types" has unsupported block type "AttnUpBlock2D" at index 1/,
    ],
    ['an unsupported mid block type', { mid_block_type: 'UNetMidBlock2DSimpleCrossAttn' }, /key "mid_block_type" is "UNetMidBlock2DSimpleCrossAttn"/],
    ['a class embedding', { class_embed_type: 'timestep' }, /key "class_embed_type" is "timestep"/],
    ['scale-shift time conditioning', { resnet_time_scale_shift: 'scale_shift' }, /key "resnet_time_scale_shift" is "scale_shift"/],
    ['an addition embedding', { addition_embed_type: 'text_time' }, /key "addition_embed_type" is "text_time"/],
    ['only_cross_attention', { only_cross_attention: [false, true] }, /key "only_cross_attention" is \[false,true\]/],
    ['fourier time embedding', { time_embedding_type: 'fourier' }, /key "time_embedding_type" is "fourier"/],
    ['a non-silu activation', { act_fn: 'mish' }, /key "act_fn" is "mish"/],
    ['a per-block list of the wrong length', { attention_head_dim: [8, 8, 8] }, /key "attention_head_dim" is \[8,8,8\] \(expected one value per block \(2\)\)/],
    ['groups that do not divide the channels', { norm_num_groups: 24 }, /key "norm_num_groups" is 24, which does not divide a group norm of 32 channels/],
    ['heads that do not divide the channels', { attention_head_dim: 6 }, /6 attention heads .* do not divide the 64 channels of down_blocks.1.attentions.0/],
  ];
  for (const [what, changes, message] of cases) {
    it(`${what} is a one-line Dd3dError naming the config file and key`, () => {
      const dir = unetWithConfig('sd1-tiny', what.replace(/\W+/g, '-'), changes);
      const err = dd3dError(() => loadUNet(dir));
      expect(err.message).toMatch(message);
      expect(err.message.startsWith(path.join(dir, 'config.json'))).toBe(true);
    });
  }

  it('a config that does not fit the checkpoint names the weight and both shapes', () => {
    const dir = unetWithConfig('sd1-tiny', 'wrong-channels', { block_out_channels: [32, 96] });
    const before = tf.memory().numTensors;
    const err = dd3dError(() => loadUNet(dir));
    expect(err.message).toMatch(/weight "down_blocks\.1\.resnets\.0\.conv1\.weight" has shape \[64,32,3,3\], expected \[96,32,3,3\]/);
    // Failing inside a transformer, after proj_in was derived from the checkpoint, leaks nothing either.
    const cross = dd3dError(() => loadUNet(unetWithConfig('sd1-tiny', 'wrong-context', { cross_attention_dim: 24 })));
    expect(cross.message).toMatch(/weight "down_blocks\.1\.attentions\.0\.transformer_blocks\.0\.attn2\.to_k\.weight" has shape \[64,32\], expected \[64,24\]/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a conv proj_in with use_linear_projection: true, and the reverse, are named', () => {
    expect(dd3dError(() => loadUNet(unetWithConfig('sd1-tiny', 'linear-proj', { use_linear_projection: true }))).message).toMatch(
      /weight "down_blocks\.1\.attentions\.0\.proj_in\.weight" has shape \[64,64,1,1\], a 1×1 conv: the config must say "use_linear_projection": false/,
    );
    expect(dd3dError(() => loadUNet(unetWithConfig('sd2-tiny', 'conv-proj', { use_linear_projection: false }))).message).toMatch(
      /"down_blocks\.0\.attentions\.0\.proj_in\.weight" has shape \[32,32\], a Linear: the config must say "use_linear_projection": true/,
    );
  });
});

describe('unetFlops', () => {
  const sd15: UNetConfig = {
    in_channels: 4,
    out_channels: 4,
    block_out_channels: [320, 640, 1280, 1280],
    down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
    mid_block_type: 'UNetMidBlock2DCrossAttn',
    layers_per_block: [2, 2, 2, 2],
    transformer_layers_per_block: [1, 1, 1, 1],
    num_attention_heads: [8, 8, 8, 8],
    cross_attention_dim: [768, 768, 768, 768],
    norm_num_groups: 32,
    norm_eps: 1e-5,
    use_linear_projection: false,
    upcast_attention: false,
    flip_sin_to_cos: true,
    freq_shift: 0,
    center_input_sample: false,
    mid_block_scale_factor: 1,
    downsample_padding: 1,
    conv_in_kernel: 3,
    conv_out_kernel: 3,
    time_embed_dim: 1280,
    sample_size: [64, 64],
  };

  it('counts SD 1.5 at 64×64 latents near the usual ~0.8 TFLOPs, linear in batch', () => {
    const one = unetFlopBreakdown(sd15, 64, 64, 1);
    expect(one.total).toBe(one.conv + one.linear + one.attention);
    expect(one.total / 1e9).toBeGreaterThan(780);
    expect(one.total / 1e9).toBeLessThan(830);
    expect(unetFlops(sd15, 64, 64, 4)).toBeCloseTo(4 * one.total, -3);
  });

  it('counts conv_in exactly for a fixture config', () => {
    const unet = loadUNet(path.join(FIX, 'pixel-tiny'));
    try {
      const withConvIn = unetFlopBreakdown(unet.config, 32, 32, 1);
      const noInput = unetFlopBreakdown({ ...unet.config, in_channels: 0 }, 32, 32, 1);
      expect(withConvIn.conv - noInput.conv).toBe(2 * 32 * 32 * 3 * 32 * 9);
    } finally {
      unet.dispose();
    }
  });
});

describe('attention over many tokens', () => {
  it('chunked over heads equals the one-shot computation, values and gradients', () => {
    const [batch, heads, n, m, d] = [2, 3, 24, 20, 8];
    const q = tf.randomNormal([batch * n, heads * d], 0, 1, 'float32', 1) as tf.Tensor2D;
    const k = tf.randomNormal([batch * m, heads * d], 0, 1, 'float32', 2) as tf.Tensor2D;
    const v = tf.randomNormal([batch * m, heads * d], 0, 1, 'float32', 3) as tf.Tensor2D;
    const w = tf.randomNormal([batch * n, heads * d], 0, 1, 'float32', 4);
    // a budget of two heads' [N, M] blocks gives chunks of 2, 2, 2 over B·H = 6
    expect(headChunks(batch * heads, n, m, 2 * n * m)).toEqual([
      [0, 2],
      [2, 2],
      [4, 2],
    ]);
    const run = (budget: number) =>
      tf.tidy(() => {
        const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.sum(tf.mul(multiHeadAttention(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, batch, heads, budget), w));
        const out = multiHeadAttention(q, k, v, batch, heads, budget);
        return [out, ...tf.grads(f)([q, k, v])].map((t) => t.dataSync().slice());
      });
    const whole = run(Infinity);
    const chunked = run(2 * n * m);
    for (let i = 0; i < whole.length; i++) {
      const scale = Math.max(...Array.from(whole[i], Math.abs));
      const err = Math.max(...Array.from(whole[i], (x, j) => Math.abs(x - chunked[i][j])));
      expect(err, `output ${i}`).toBeLessThan(1e-5 * Math.max(1, scale));
    }
    tf.dispose([q, k, v, w]);
  });
});

describe('weights parked outside the wasm heap', () => {
  it('a parked block is moved back in when used, with identical outputs, and parks again', () => {
    const unet = loadUNet(path.join(FIX, 'sd1-tiny'));
    const x = tf.randomNormal([1, 16, 16, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    const ctx = tf.randomNormal([1, 77, 32], 0, 1, 'float32', 4) as tf.Tensor3D;
    const before = tf.tidy(() => unet.forward(x, 500, ctx).dataSync().slice());
    const prefixes = [...unet.plan.down.map((b) => b.prefix), unet.plan.mid!.prefix, ...unet.plan.up.map((b) => b.prefix)];
    const offload = new WeightOffload(unet.params, prefixes);
    const backendOf = (t: tf.Tensor) =>
      (tf.engine().state as unknown as { tensorInfo: WeakMap<object, { backend: unknown }> }).tensorInfo.get(t.dataId)!.backend;
    const parked = unet.params.get('down_blocks.1.attentions.0.proj_in.weight');
    expect(backendOf(parked)).toBe(tf.findBackend('cpu'));
    expect(backendOf(unet.params.get('conv_in.weight'))).toBe(tf.backend());
    const after = tf.tidy(() => unet.forward(x, 500, ctx).dataSync().slice());
    expect(after).toEqual(before);
    expect(backendOf(parked)).toBe(tf.backend());
    offload.park('down_blocks.1');
    expect(backendOf(parked)).toBe(tf.findBackend('cpu'));
    expect(WeightOffload.wanted(unet.params)).toBe(false);
    tf.dispose([x, ctx]);
    unet.dispose();
  });
});
