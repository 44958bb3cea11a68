/**
 * UNet2DConditionModel configs: reading a diffusers config.json into a normalised config
 * (every per-block value expanded to a list), checking it against the space dd3d supports
 * (SD 1.x / 2.x and smaller models of the same shape), and turning it into a plan: the list
 * of blocks with their checkpoint prefixes and channel counts. The model, the weight checks
 * and the FLOP count all read the plan, so they cannot disagree about the architecture.
 */
import { Dd3dError } from '../core/errors.js';
import { configOptional, configValue, type ModelComponent, showConfigValue } from '../io/diffusers.js';
import type { TransformerSpec } from './attention.js';
import { CAMERA_FEATURES } from './camera-embedding.js';
import type { ResnetSpec } from './resnet.js';

export type DownBlockType = 'DownBlock2D' | 'CrossAttnDownBlock2D';
export type UpBlockType = 'UpBlock2D' | 'CrossAttnUpBlock2D';

/** A UNet config with the legacy names resolved and per-block values expanded. */
export interface UNetConfig {
  in_channels: number;
  out_channels: number;
  block_out_channels: number[];
  down_block_types: DownBlockType[];
  up_block_types: UpBlockType[];
  /** null: no mid block (diffusers allows mid_block_type null). */
  mid_block_type: 'UNetMidBlock2DCrossAttn' | null;
  /** Per down block (the up blocks use the reverse, plus one). */
  layers_per_block: number[];
  transformer_layers_per_block: number[];
  /** Attention heads per down block: num_attention_heads, or legacy attention_head_dim when that is null. */
  num_attention_heads: number[];
  cross_attention_dim: number[];
  norm_num_groups: number;
  norm_eps: number;
  use_linear_projection: boolean;
  /** Upcasting to float32 is a no-op for a float32 model; accepted and recorded. */
  upcast_attention: boolean;
  flip_sin_to_cos: boolean;
  freq_shift: number;
  center_input_sample: boolean;
  mid_block_scale_factor: number;
  downsample_padding: number;
  conv_in_kernel: number;
  conv_out_kernel: number;
  /** Width of the time embedding MLP: time_embedding_dim, else 4 · block_out_channels[0]. */
  time_embed_dim: number;
  /** [height, width] the model was trained at, when the config says. */
  sample_size: [number, number] | null;
  /**
   * dd3d extension `dd3d_camera_dim`: width of the camera features fed to the camera MLP
   * (camera-embedding.ts), whose output is added to the time embedding; null: no camera input.
   * dd3d computes one kind of features, so the only valid width is CAMERA_FEATURES (6).
   */
  camera_dim: number | null;
  /**
   * dd3d extension `dd3d_camera_rays` (true): each image's camera also enters as a per-pixel
   * Plücker ray map added to conv_in's output (camera-rays.ts). Needs dd3d_camera_dim 6.
   */
  camera_rays: boolean;
  /**
   * dd3d extension `dd3d_camera_ray_levels` (true): an encoded ray map, with each ray's point
   * nearest the origin, also enters at the input of every down block after the first and of
   * the mid block (camera-rays.ts). Needs dd3d_camera_rays.
   */
  camera_ray_levels: boolean;
  /**
   * dd3d extension `dd3d_num_views`: the V the model was trained to denoise jointly, its
   * self-attention running over the tokens of V consecutive images of a batch at once (no new
   * weights). null: one view at a time only. A model with V still takes single images (views 1).
   */
  num_views: number | null;
}

/**
 * Bounds of config values: `size` for channel counts, heads, layers and the dd3d keys;
 * `sampleSize` for sample_size (Stable Diffusion's latents are 64 or 96); `blocks` for the
 * number of down blocks. Far above any model dd3d runs; a bigger value is a typo or hostile.
 */
export const UNET_LIMITS = { size: 8192, sampleSize: 1024, blocks: 8 } as const;

const DOWN_TYPES: readonly string[] = ['DownBlock2D', 'CrossAttnDownBlock2D'];
const UP_TYPES: readonly string[] = ['UpBlock2D', 'CrossAttnUpBlock2D'];

// "missing" for an absent key: an error about a default must not itself throw
const show = showConfigValue;

/** Reads and checks a UNet2DConditionModel config.json. Anything outside the supported space is a one-line error naming the key. */
export function unetConfig(c: ModelComponent): UNetConfig {
  const where = c.configPath ?? c.dir;
  const raw = c.config ?? {};
  const fail = (key: string, why: string): never => {
    throw new Dd3dError(`${where}: key "${key}" is ${show(raw[key])} (${why})`);
  };
  /** Keys whose only supported value is the default (null, false or a fixed string). */
  const requireValue = (key: string, allowed: unknown[], why: string) => {
    const v = raw[key];
    if (v === undefined) return;
    if (!allowed.some((a) => a === v)) fail(key, why);
  };

  requireValue('act_fn', ['silu', 'swish'], 'supported: "silu"');
  requireValue('time_embedding_type', ['positional'], 'supported: "positional"');
  requireValue('resnet_time_scale_shift', ['default'], 'supported: "default"');
  requireValue('attention_type', ['default'], 'supported: "default"');
  requireValue('class_embed_type', [null], 'class embeddings are not supported: expected null');
  requireValue('num_class_embeds', [null], 'class embeddings are not supported: expected null');
  requireValue('addition_embed_type', [null], 'additional embeddings are not supported: expected null');
  requireValue('encoder_hid_dim', [null], 'an encoder_hid_proj is not supported: expected null');
  requireValue('encoder_hid_dim_type', [null], 'an encoder_hid_proj is not supported: expected null');
  requireValue('time_cond_proj_dim', [null], 'timestep conditioning is not supported: expected null');
  requireValue('time_embedding_act_fn', [null], 'supported: null');
  requireValue('timestep_post_act', [null], 'supported: null');
  requireValue('dual_cross_attention', [false], 'supported: false');
  requireValue('reverse_transformer_layers_per_block', [null], 'supported: null');
  if (raw.norm_num_groups === null) fail('norm_num_groups', 'a UNet without group norms is not supported: expected an integer');
  const oca = raw.only_cross_attention;
  if (oca !== undefined && oca !== false && !(Array.isArray(oca) && oca.every((v) => v === false))) {
    fail('only_cross_attention', 'supported: false');
  }

  const downTypes = configValue(c, 'down_block_types', 'string[]', ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D']);
  const upTypes = configValue(c, 'up_block_types', 'string[]', ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D']);
  // diffusers strips a "UNetRes" prefix from block type names.
  const strip = (t: string) => (t.startsWith('UNetRes') ? t.slice(7) : t);
  const blockTypes = <T extends string>(key: string, types: string[], allowed: readonly string[]): T[] =>
    types.map((t, i) => {
      if (!allowed.includes(strip(t))) {
        throw new Dd3dError(`${where}: key "${key}" has unsupported block type "${t}" at index ${i} (supported: ${allowed.join(', ')})`);
      }
      return strip(t) as T;
    });
  const down_block_types = blockTypes<DownBlockType>('down_block_types', downTypes, DOWN_TYPES);
  const up_block_types = blockTypes<UpBlockType>('up_block_types', upTypes, UP_TYPES);
  const n = down_block_types.length;
  if (n === 0) fail('down_block_types', 'expected at least one block');
  if (n > UNET_LIMITS.blocks) fail('down_block_types', `expected at most ${UNET_LIMITS.blocks} blocks`);
  if (up_block_types.length !== n) fail('up_block_types', `expected ${n} block types, as many as down_block_types`);

  let mid_block_type: UNetConfig['mid_block_type'] = 'UNetMidBlock2DCrossAttn';
  if (raw.mid_block_type === null) mid_block_type = null;
  else if (raw.mid_block_type !== undefined && raw.mid_block_type !== 'UNetMidBlock2DCrossAttn') {
    fail('mid_block_type', 'supported: "UNetMidBlock2DCrossAttn" or null');
  }

  // bounded, so a config alone cannot ask for gigabytes (see UNET_LIMITS)
  const positiveInt = (key: string, v: number, max: number = UNET_LIMITS.size) => {
    if (!Number.isSafeInteger(v) || v < 1) fail(key, 'expected a positive integer');
    if (v > max) fail(key, `expected an integer from 1 to ${max}`);
    return v;
  };
  /** An int for every block, or a list with one per block. */
  const perBlock = (key: string, fallback?: number): number[] => {
    const v = configValue(c, key, 'number|number[]', fallback);
    const list = Array.isArray(v) ? v : new Array<number>(n).fill(v);
    if (list.length !== n) fail(key, `expected one value per block (${n})`);
    list.forEach((x) => positiveInt(key, x));
    return list;
  };

  const block_out_channels = configValue(c, 'block_out_channels', 'number[]', [320, 640, 1280, 1280]);
  if (block_out_channels.length !== n) fail('block_out_channels', `expected ${n} values, as many as down_block_types`);
  block_out_channels.forEach((x) => positiveInt('block_out_channels', x));

  // Legacy naming: with num_attention_heads null, attention_head_dim is the number of heads.
  // (diffusers itself refuses a non-null num_attention_heads; we take it at its word.)
  const headsKey = raw.num_attention_heads === undefined || raw.num_attention_heads === null ? 'attention_head_dim' : 'num_attention_heads';
  const num_attention_heads = perBlock(headsKey, headsKey === 'attention_head_dim' ? 8 : undefined);
  if (headsKey === 'num_attention_heads') configOptional(c, 'attention_head_dim', 'number|number[]');

  const sizeRaw = raw.sample_size;
  let sample_size: [number, number] | null = null;
  if (typeof sizeRaw === 'number') sample_size = [sizeRaw, sizeRaw];
  else if (Array.isArray(sizeRaw) && sizeRaw.length === 2 && sizeRaw.every((v) => typeof v === 'number')) sample_size = [sizeRaw[0], sizeRaw[1]];
  else if (sizeRaw !== undefined && sizeRaw !== null) fail('sample_size', 'expected an integer or [height, width]');
  sample_size?.forEach((v) => positiveInt('sample_size', v, UNET_LIMITS.sampleSize));

  const kernel = (key: string) => {
    const k = configValue(c, key, 'integer', 3);
    if (k < 1 || k % 2 === 0) fail(key, 'expected an odd positive kernel size');
    return k;
  };
  const downsample_padding = configValue(c, 'downsample_padding', 'integer', 1);
  if (downsample_padding !== 0 && downsample_padding !== 1) fail('downsample_padding', 'supported: 0 or 1');

  const cross_attention_dim = perBlock('cross_attention_dim', 1280);
  if (cross_attention_dim.some((d) => d !== cross_attention_dim[0])) {
    fail('cross_attention_dim', 'per-block values must be equal: the same encoder hidden states feed every block');
  }

  const dd3dKey = (key: string): number | null => {
    const v = configOptional(c, key, 'integer');
    return v === undefined ? null : positiveInt(key, v);
  };

  const config: UNetConfig = {
    in_channels: positiveInt('in_channels', configValue(c, 'in_channels', 'integer', 4)),
    out_channels: positiveInt('out_channels', configValue(c, 'out_channels', 'integer', 4)),
    block_out_channels,
    down_block_types,
    up_block_types,
    mid_block_type,
    layers_per_block: perBlock('layers_per_block', 2),
    transformer_layers_per_block: perBlock('transformer_layers_per_block', 1),
    num_attention_heads,
    cross_attention_dim,
    norm_num_groups: positiveInt('norm_num_groups', configValue(c, 'norm_num_groups', 'integer', 32)),
    norm_eps: configValue(c, 'norm_eps', 'number', 1e-5),
    use_linear_projection: configValue(c, 'use_linear_projection', 'boolean', false),
    upcast_attention: configValue(c, 'upcast_attention', 'boolean', false),
    flip_sin_to_cos: configValue(c, 'flip_sin_to_cos', 'boolean', true),
    freq_shift: configValue(c, 'freq_shift', 'number', 0),
    center_input_sample: configValue(c, 'center_input_sample', 'boolean', false),
    mid_block_scale_factor: configValue(c, 'mid_block_scale_factor', 'number', 1),
    downsample_padding,
    conv_in_kernel: kernel('conv_in_kernel'),
    conv_out_kernel: kernel('conv_out_kernel'),
    time_embed_dim: positiveInt('time_embedding_dim', configValue(c, 'time_embedding_dim', 'integer', 4 * block_out_channels[0]), 4 * UNET_LIMITS.size),
    sample_size,
    camera_dim: dd3dKey('dd3d_camera_dim'),
    num_views: dd3dKey('dd3d_num_views'),
    camera_rays: configValue(c, 'dd3d_camera_rays', 'boolean', false),
    camera_ray_levels: configValue(c, 'dd3d_camera_ray_levels', 'boolean', false),
  };
  if (config.camera_ray_levels && !config.camera_rays) {
    throw new Dd3dError(`${where}: key "dd3d_camera_ray_levels" needs "dd3d_camera_rays": true (the levels extend conv_in's ray map)`);
  }
  // dd3d computes one kind of camera features, so the key can only name their width
  if (config.camera_dim !== null && config.camera_dim !== CAMERA_FEATURES) {
    throw new Dd3dError(
      `${where}: key "dd3d_camera_dim" is ${config.camera_dim} (expected ${CAMERA_FEATURES}: sin and cos of azimuth and elevation, fov and framing)`,
    );
  }
  if (config.camera_rays && config.camera_dim === null) {
    throw new Dd3dError(`${where}: key "dd3d_camera_rays" needs "dd3d_camera_dim": ${CAMERA_FEATURES} (the orbit camera features the ray map is computed from), got null`);
  }
  unetPlan(config, where);
  return config;
}

// ---------------------------------------------------------------------------------------------
// Plan

export interface DownBlockPlan {
  prefix: string;
  type: DownBlockType;
  resnets: ResnetSpec[];
  /** One per resnet in CrossAttnDownBlock2D, none in DownBlock2D. */
  attentions: TransformerSpec[];
  downsample: { prefix: string; channels: number; padding: number } | null;
}

export interface UpBlockPlan {
  prefix: string;
  type: UpBlockType;
  resnets: ResnetSpec[];
  attentions: TransformerSpec[];
  upsample: { prefix: string; channels: number } | null;
}

export interface MidBlockPlan {
  prefix: string;
  resnets: ResnetSpec[];
  attentions: TransformerSpec[];
}

export interface UNetPlan {
  config: UNetConfig;
  /** Width of the sinusoidal timestep features (block_out_channels[0]). */
  timeProjDim: number;
  down: DownBlockPlan[];
  mid: MidBlockPlan | null;
  up: UpBlockPlan[];
  /** Height and width must be multiples of this: 2^(number of downsamplers). */
  sizeMultiple: number;
}

/**
 * The blocks a config describes, as diffusers builds them. `where` names the config file in
 * errors (a channel count the groups do not divide, heads that do not divide the channels).
 */
export function unetPlan(config: UNetConfig, where = 'unet config'): UNetPlan {
  const boc = config.block_out_channels;
  const n = boc.length;
  const groups = config.norm_num_groups;
  const temb = config.time_embed_dim;
  const eps = config.norm_eps;

  const checkGroups = (channels: number) => {
    if (channels % groups !== 0) {
      throw new Dd3dError(`${where}: key "norm_num_groups" is ${groups}, which does not divide a group norm of ${channels} channels`);
    }
  };
  const resnet = (prefix: string, inChannels: number, outChannels: number, outputScale = 1): ResnetSpec => {
    checkGroups(inChannels);
    checkGroups(outChannels);
    return { prefix, inChannels, outChannels, tembChannels: temb, groups, eps, outputScale };
  };
  const transformer = (prefix: string, channels: number, heads: number, layers: number, contextDim: number): TransformerSpec => {
    if (channels % heads !== 0) {
      throw new Dd3dError(`${where}: ${heads} attention heads (key "attention_head_dim", or "num_attention_heads") do not divide the ${channels} channels of ${prefix}`);
    }
    checkGroups(channels);
    return { prefix, channels, heads, headDim: channels / heads, layers, contextDim, linearProjection: config.use_linear_projection, groups };
  };

  // Down path; `skips` tracks the channels of every tensor the up path will concatenate.
  const skips: number[] = [boc[0]];
  const down: DownBlockPlan[] = [];
  let out = boc[0];
  for (let i = 0; i < n; i++) {
    const input = out;
    out = boc[i];
    const prefix = `down_blocks.${i}`;
    const type = config.down_block_types[i];
    const resnets: ResnetSpec[] = [];
    const attentions: TransformerSpec[] = [];
    for (let j = 0; j < config.layers_per_block[i]; j++) {
      resnets.push(resnet(`${prefix}.resnets.${j}`, j === 0 ? input : out, out));
      if (type === 'CrossAttnDownBlock2D') {
        attentions.push(transformer(`${prefix}.attentions.${j}`, out, config.num_attention_heads[i], config.transformer_layers_per_block[i], config.cross_attention_dim[i]));
      }
      skips.push(out);
    }
    const downsample = i < n - 1 ? { prefix: `${prefix}.downsamplers.0`, channels: out, padding: config.downsample_padding } : null;
    if (downsample) skips.push(out);
    down.push({ prefix, type, resnets, attentions, downsample });
  }

  const c = boc[n - 1];
  const mid: MidBlockPlan | null =
    config.mid_block_type === null
      ? null
      : {
          prefix: 'mid_block',
          resnets: [resnet('mid_block.resnets.0', c, c, config.mid_block_scale_factor), resnet('mid_block.resnets.1', c, c, config.mid_block_scale_factor)],
          attentions: [transformer('mid_block.attentions.0', c, config.num_attention_heads[n - 1], config.transformer_layers_per_block[n - 1], config.cross_attention_dim[n - 1])],
        };

  const rev = <T>(xs: T[]) => [...xs].reverse();
  const rBoc = rev(boc);
  const rLayers = rev(config.layers_per_block);
  const rHeads = rev(config.num_attention_heads);
  const rTransformerLayers = rev(config.transformer_layers_per_block);
  const rCross = rev(config.cross_attention_dim);
  const up: UpBlockPlan[] = [];
  out = rBoc[0];
  for (let i = 0; i < n; i++) {
    const prev = out;
    out = rBoc[i];
    const input = rBoc[Math.min(i + 1, n - 1)];
    const prefix = `up_blocks.${i}`;
    const type = config.up_block_types[i];
    const layers = rLayers[i] + 1;
    const resnets: ResnetSpec[] = [];
    const attentions: TransformerSpec[] = [];
    for (let j = 0; j < layers; j++) {
      // The channels diffusers builds the weights for; the skip actually popped must match.
      const skip = j === layers - 1 ? input : out;
      const popped = skips.pop();
      if (popped !== skip) {
        throw new Dd3dError(
          `${where}: key "layers_per_block" is ${show(config.layers_per_block)}: the up path of ${prefix} expects a ${skip}-channel skip connection where the down path gives ${popped ?? 'none'}`,
        );
      }
      resnets.push(resnet(`${prefix}.resnets.${j}`, (j === 0 ? prev : out) + skip, out));
      if (type === 'CrossAttnUpBlock2D') {
        attentions.push(transformer(`${prefix}.attentions.${j}`, out, rHeads[i], rTransformerLayers[i], rCross[i]));
      }
    }
    up.push({ prefix, type, resnets, attentions, upsample: i < n - 1 ? { prefix: `${prefix}.upsamplers.0`, channels: out } : null });
  }
  checkGroups(boc[0]);

  return { config, timeProjDim: boc[0], down, mid, up, sizeMultiple: 2 ** (n - 1) };
}
