/**
 * The convolutional building blocks the UNet and the VAE share (diffusers' ResnetBlock2D,
 * Downsample2D, Upsample2D), NHWC. Each block fetches its weights at construction, checking
 * every shape, so a checkpoint that does not fit its config fails at load with the key named.
 */
import * as tf from '@tensorflow/tfjs';
import { conv2d, convWeight, groupNorm, linear, linearParams, normParams, type ConvPadding, type Linear, type Norm, type Params } from './nn.js';

export interface ResnetSpec {
  prefix: string;
  inChannels: number;
  outChannels: number;
  /** Width of the time embedding, or null for a block without one (the VAE's). */
  tembChannels: number | null;
  groups: number;
  eps: number;
  /** The residual sum is divided by this (diffusers' output_scale_factor). */
  outputScale: number;
}

export type Conv = { w: tf.Tensor4D; b: tf.Tensor1D };

export function convParams(p: Params, prefix: string, inCh: number, outCh: number, k: number): Conv {
  return {
    w: convWeight(p, `${prefix}.weight`, [outCh, inCh, k, k]),
    b: p.get(`${prefix}.bias`, [outCh]) as tf.Tensor1D,
  };
}

/**
 * norm1 → silu → conv1 (+ time_emb_proj(silu(temb)) per channel) → norm2 → silu → conv2,
 * added to the input (through a 1×1 conv_shortcut when the channel count changes).
 */
export class ResnetBlock {
  private readonly norm1: Norm;
  private readonly norm2: Norm;
  private readonly conv1: Conv;
  private readonly conv2: Conv;
  private readonly shortcut: Conv | null;
  private readonly timeProj: Linear | null;

  constructor(
    p: Params,
    readonly spec: ResnetSpec,
  ) {
    const { prefix, inChannels: ci, outChannels: co, tembChannels } = spec;
    this.norm1 = normParams(p, `${prefix}.norm1`, ci);
    this.conv1 = convParams(p, `${prefix}.conv1`, ci, co, 3);
    this.norm2 = normParams(p, `${prefix}.norm2`, co);
    this.conv2 = convParams(p, `${prefix}.conv2`, co, co, 3);
    this.shortcut = ci !== co ? convParams(p, `${prefix}.conv_shortcut`, ci, co, 1) : null;
    this.timeProj = tembChannels === null ? null : linearParams(p, `${prefix}.time_emb_proj`, tembChannels, co);
  }

  /** `tembAct` is silu(time embedding) [B, T], shared by every block of a forward pass. */
  forward(x: tf.Tensor4D, tembAct: tf.Tensor2D | null): tf.Tensor4D {
    const { groups, eps, outputScale, outChannels } = this.spec;
    let h = groupNorm(x, this.norm1.gamma, this.norm1.beta, groups, eps, 'silu');
    h = conv2d(h, this.conv1.w, this.conv1.b, 1, 1);
    if (this.timeProj && tembAct) {
      const t = linear(tembAct, this.timeProj);
      h = tf.add(h, t.reshape([t.shape[0], 1, 1, outChannels]));
    }
    h = groupNorm(h, this.norm2.gamma, this.norm2.beta, groups, eps, 'silu');
    h = conv2d(h, this.conv2.w, this.conv2.b, 1, 1);
    const skip = this.shortcut ? conv2d(x, this.shortcut.w, this.shortcut.b) : x;
    const out = tf.add(skip, h) as tf.Tensor4D;
    return outputScale === 1 ? out : (tf.div(out, outputScale) as tf.Tensor4D);
  }
}

/**
 * 3×3 conv with stride 2. diffusers' padding 0 means the asymmetric (0, 1, 0, 1) zero pad
 * the VAE encoder uses; otherwise `padding` on every side.
 */
export class Downsample {
  private readonly conv: Conv;
  private readonly padding: ConvPadding;

  constructor(p: Params, prefix: string, channels: number, padding: number) {
    this.conv = convParams(p, `${prefix}.conv`, channels, channels, 3);
    this.padding = padding === 0 ? [0, 1, 0, 1] : padding;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return conv2d(x, this.conv.w, this.conv.b, 2, this.padding);
  }
}

/** Nearest-neighbour ×2 (or to `size` when given), then a 3×3 conv. */
export class Upsample {
  private readonly conv: Conv;

  constructor(p: Params, prefix: string, channels: number) {
    this.conv = convParams(p, `${prefix}.conv`, channels, channels, 3);
  }

  forward(x: tf.Tensor4D, size?: [number, number]): tf.Tensor4D {
    const [, h, w] = x.shape;
    const up = upsampleNearest(x, size ?? [2 * h, 2 * w]);
    return conv2d(up, this.conv.w, this.conv.b, 1, 1);
  }
}

/**
 * Nearest-neighbour resize as torch's F.interpolate(mode="nearest"): source index
 * floor(dst · in / out), which is tfjs's rule without align_corners or half-pixel centres.
 * (Measured on wasm: the native resize and its gradient beat concat-based ×2 replication.)
 */
export function upsampleNearest(x: tf.Tensor4D, size: [number, number]): tf.Tensor4D {
  return tf.image.resizeNearestNeighbor(x, size, false, false);
}
