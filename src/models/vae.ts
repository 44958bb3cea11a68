/**
 * AutoencoderKL (diffusers), NHWC.
 *
 *   encode: conv_in → DownEncoderBlock2D × n (resnets, then a stride-2 conv with the
 *           asymmetric (0, 1, 0, 1) pad, except in the last block) → mid (resnet, attention,
 *           resnet) → GroupNorm → silu → conv_out → quant_conv → mean | logvar (clamped to [−30, 20])
 *   decode: post_quant_conv → conv_in → mid → UpDecoderBlock2D × n (layers_per_block + 1
 *           resnets, then nearest ×2 + conv, except in the last block) → GroupNorm → silu → conv_out
 *
 * Every norm has eps 1e-6 and `norm_num_groups` groups; resnets have no time embedding.
 * Scaling latents by `scalingFactor` is the caller's job, as in diffusers pipelines.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { configValue, type ModelComponent, showConfigValue } from '../io/diffusers.js';
import { SpatialSelfAttention } from './attention.js';
import { conv2d, groupNorm, normParams, type Params } from './nn.js';
import { convParams, Downsample, ResnetBlock, Upsample, type Conv, type ResnetSpec } from './resnet.js';

export interface VaeConfig {
  in_channels: number;
  out_channels: number;
  latent_channels: number;
  block_out_channels: number[];
  layers_per_block: number;
  norm_num_groups: number;
  mid_block_add_attention: boolean;
  use_quant_conv: boolean;
  use_post_quant_conv: boolean;
  /** Latents are scaled by this before the UNet sees them (z = scaling_factor · (sample − shift_factor)). */
  scaling_factor: number;
  shift_factor: number;
  /** fp16 advice for diffusers; a float32 model needs nothing. Accepted and recorded. */
  force_upcast: boolean;
  sample_size: number | null;
}

/** Bound of channel counts and groups (SD's VAE: 512), so a config alone cannot ask for gigabytes. */
const VAE_MAX_SIZE = 8192;

// "missing" for an absent key: an error about a default must not itself throw
const show = showConfigValue;

/** Reads and checks an AutoencoderKL config.json; anything unsupported is a one-line error naming the key. */
export function vaeConfig(c: ModelComponent): VaeConfig {
  const where = c.configPath ?? c.dir;
  const raw = c.config ?? {};
  const fail = (key: string, why: string): never => {
    throw new Dd3dError(`${where}: key "${key}" is ${show(raw[key])} (${why})`);
  };
  const act = configValue(c, 'act_fn', 'string', 'silu');
  if (act !== 'silu' && act !== 'swish') fail('act_fn', 'supported: "silu"');
  const positiveInt = (key: string, fallback: number) => {
    const v = configValue(c, key, 'integer', fallback);
    if (v < 1 || v > VAE_MAX_SIZE) fail(key, `expected an integer from 1 to ${VAE_MAX_SIZE}`);
    return v;
  };
  const boc = configValue(c, 'block_out_channels', 'number[]', [64]);
  if (boc.length === 0 || boc.length > 8 || boc.some((x) => !Number.isSafeInteger(x) || x < 1 || x > VAE_MAX_SIZE)) {
    fail('block_out_channels', `expected 1 to 8 integers from 1 to ${VAE_MAX_SIZE}`);
  }
  const blockTypes = (key: string, expected: string) => {
    const types = configValue(c, key, 'string[]', new Array<string>(boc.length).fill(expected));
    if (types.length !== boc.length) fail(key, `expected ${boc.length} block types, one per block_out_channels entry`);
    types.forEach((t, i) => {
      if (t !== expected) throw new Dd3dError(`${where}: key "${key}" has unsupported block type "${t}" at index ${i} (supported: ${expected})`);
    });
  };
  blockTypes('down_block_types', 'DownEncoderBlock2D');
  blockTypes('up_block_types', 'UpDecoderBlock2D');
  const groups = positiveInt('norm_num_groups', 32);
  for (const ch of boc) if (ch % groups !== 0) fail('norm_num_groups', `does not divide a group norm of ${ch} channels`);
  const sampleSize = raw.sample_size;
  if (sampleSize !== undefined && sampleSize !== null && typeof sampleSize !== 'number' && !Array.isArray(sampleSize)) {
    fail('sample_size', 'expected an integer or [height, width]');
  }
  return {
    in_channels: positiveInt('in_channels', 3),
    out_channels: positiveInt('out_channels', 3),
    latent_channels: positiveInt('latent_channels', 4),
    block_out_channels: boc,
    layers_per_block: positiveInt('layers_per_block', 1),
    norm_num_groups: groups,
    mid_block_add_attention: configValue(c, 'mid_block_add_attention', 'boolean', true),
    use_quant_conv: configValue(c, 'use_quant_conv', 'boolean', true),
    use_post_quant_conv: configValue(c, 'use_post_quant_conv', 'boolean', true),
    scaling_factor: configValue(c, 'scaling_factor', 'number', 0.18215),
    shift_factor: configValue(c, 'shift_factor', 'number', 0),
    force_upcast: configValue(c, 'force_upcast', 'boolean', true),
    sample_size: typeof sampleSize === 'number' ? sampleSize : Array.isArray(sampleSize) ? Number(sampleSize[0]) : null,
  };
}

/** The VAE's norms: diffusers fixes eps at 1e-6 in the encoder and decoder. */
const EPS = 1e-6;

class VaeMidBlock {
  readonly resnets: [ResnetBlock, ResnetBlock];
  readonly attention: SpatialSelfAttention | null;

  constructor(p: Params, prefix: string, channels: number, groups: number, attention: boolean) {
    const spec = (i: number): ResnetSpec => ({ prefix: `${prefix}.resnets.${i}`, inChannels: channels, outChannels: channels, tembChannels: null, groups, eps: EPS, outputScale: 1 });
    this.resnets = [new ResnetBlock(p, spec(0)), new ResnetBlock(p, spec(1))];
    this.attention = attention ? new SpatialSelfAttention(p, `${prefix}.attentions.0`, channels, groups, EPS) : null;
  }

  forward(h: tf.Tensor4D): tf.Tensor4D {
    h = this.resnets[0].forward(h, null);
    if (this.attention) h = this.attention.forward(h);
    return this.resnets[1].forward(h, null);
  }
}

export interface LatentDistribution {
  /** [B, h, w, latent_channels] */
  mean: tf.Tensor4D;
  /** [B, h, w, latent_channels], clamped to [−30, 20] */
  logvar: tf.Tensor4D;
}

export class AutoencoderKL {
  private readonly enc: {
    convIn: Conv;
    blocks: { resnets: ResnetBlock[]; downsample: Downsample | null }[];
    mid: VaeMidBlock;
    normOut: { gamma: tf.Tensor1D; beta: tf.Tensor1D };
    convOut: Conv;
  };
  private readonly dec: {
    convIn: Conv;
    mid: VaeMidBlock;
    blocks: { resnets: ResnetBlock[]; upsample: Upsample | null }[];
    normOut: { gamma: tf.Tensor1D; beta: tf.Tensor1D };
    convOut: Conv;
  };
  private readonly quantConv: Conv | null;
  private readonly postQuantConv: Conv | null;

  constructor(
    readonly config: VaeConfig,
    readonly params: Params,
  ) {
    const p = params;
    const { block_out_channels: boc, layers_per_block: layers, norm_num_groups: groups, latent_channels: lat } = config;
    const n = boc.length;
    const resnet = (prefix: string, inChannels: number, outChannels: number) =>
      new ResnetBlock(p, { prefix, inChannels, outChannels, tembChannels: null, groups, eps: EPS, outputScale: 1 });

    let out = boc[0];
    const encBlocks = boc.map((channels, i) => {
      const input = out;
      out = channels;
      const prefix = `encoder.down_blocks.${i}`;
      const resnets = Array.from({ length: layers }, (_, j) => resnet(`${prefix}.resnets.${j}`, j === 0 ? input : channels, channels));
      return { resnets, downsample: i < n - 1 ? new Downsample(p, `${prefix}.downsamplers.0`, channels, 0) : null };
    });
    this.enc = {
      convIn: convParams(p, 'encoder.conv_in', config.in_channels, boc[0], 3),
      blocks: encBlocks,
      mid: new VaeMidBlock(p, 'encoder.mid_block', boc[n - 1], groups, config.mid_block_add_attention),
      normOut: normParams(p, 'encoder.conv_norm_out', boc[n - 1]),
      convOut: convParams(p, 'encoder.conv_out', boc[n - 1], 2 * lat, 3),
    };
    this.quantConv = config.use_quant_conv ? convParams(p, 'quant_conv', 2 * lat, 2 * lat, 1) : null;
    this.postQuantConv = config.use_post_quant_conv ? convParams(p, 'post_quant_conv', lat, lat, 1) : null;

    const rev = [...boc].reverse();
    out = rev[0];
    const decBlocks = rev.map((channels, i) => {
      const input = out;
      out = channels;
      const prefix = `decoder.up_blocks.${i}`;
      const resnets = Array.from({ length: layers + 1 }, (_, j) => resnet(`${prefix}.resnets.${j}`, j === 0 ? input : channels, channels));
      return { resnets, upsample: i < n - 1 ? new Upsample(p, `${prefix}.upsamplers.0`, channels) : null };
    });
    this.dec = {
      convIn: convParams(p, 'decoder.conv_in', lat, rev[0], 3),
      mid: new VaeMidBlock(p, 'decoder.mid_block', rev[0], groups, config.mid_block_add_attention),
      blocks: decBlocks,
      normOut: normParams(p, 'decoder.conv_norm_out', boc[0]),
      convOut: convParams(p, 'decoder.conv_out', boc[0], config.out_channels, 3),
    };
  }

  get scalingFactor(): number {
    return this.config.scaling_factor;
  }

  get shiftFactor(): number {
    return this.config.shift_factor;
  }

  /** Image [B, H, W, in_channels] (values in [−1, 1]) → the latent distribution's mean and log-variance. */
  encode(image: tf.Tensor4D): LatentDistribution {
    const c = this.config.in_channels;
    if (image.rank !== 4 || image.shape[3] !== c) throw new Dd3dError(`vae: image has shape [${image.shape}], expected [batch, height, width, ${c}] (NHWC)`);
    return tf.tidy(() => {
      const e = this.enc;
      const groups = this.config.norm_num_groups;
      let h = conv2d(image, e.convIn.w, e.convIn.b, 1, 1);
      for (const block of e.blocks) {
        for (const r of block.resnets) h = r.forward(h, null);
        if (block.downsample) h = block.downsample.forward(h);
      }
      h = e.mid.forward(h);
      h = groupNorm(h, e.normOut.gamma, e.normOut.beta, groups, EPS, 'silu');
      h = conv2d(h, e.convOut.w, e.convOut.b, 1, 1);
      if (this.quantConv) h = conv2d(h, this.quantConv.w, this.quantConv.b);
      const [mean, logvar] = tf.split(h, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      return { mean, logvar: tf.clipByValue(logvar, -30, 20) };
    });
  }

  /** A draw from the latent distribution: mean + exp(logvar / 2) · noise. */
  sample(mean: tf.Tensor4D, logvar: tf.Tensor4D, noise: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.add(mean, tf.mul(tf.exp(tf.mul(logvar, 0.5)), noise)));
  }

  /** Latent [B, h, w, latent_channels] (unscaled) → image [B, h·2^(n−1), w·2^(n−1), out_channels] for n blocks (8× for SD). */
  decode(latent: tf.Tensor4D): tf.Tensor4D {
    const c = this.config.latent_channels;
    if (latent.rank !== 4 || latent.shape[3] !== c) throw new Dd3dError(`vae: latent has shape [${latent.shape}], expected [batch, height, width, ${c}] (NHWC)`);
    return tf.tidy(() => {
      const d = this.dec;
      let h = latent;
      if (this.postQuantConv) h = conv2d(h, this.postQuantConv.w, this.postQuantConv.b);
      h = conv2d(h, d.convIn.w, d.convIn.b, 1, 1);
      h = d.mid.forward(h);
      for (const block of d.blocks) {
        for (const r of block.resnets) h = r.forward(h, null);
        if (block.upsample) h = block.upsample.forward(h);
      }
      h = groupNorm(h, d.normOut.gamma, d.normOut.beta, this.config.norm_num_groups, EPS, 'silu');
      return conv2d(h, d.convOut.w, d.convOut.b, 1, 1);
    });
  }

  dispose(): void {
    this.params.dispose();
  }
}
