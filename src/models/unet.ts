/**
 * UNet2DConditionModel (diffusers) for the SD 1.x / 2.x config space, NHWC.
 *
 *   sinusoidal(t) → linear_1 → silu → linear_2 = emb
 *   conv_in [+ camera ray map] → down blocks (resnets [+ transformers], downsampler) → mid block
 *   → up blocks (each resnet takes the matching down-path output concatenated on channels,
 *     then [transformer], upsampler) → GroupNorm → silu → conv_out
 *
 * The architecture comes from the plan in unet-config.ts; weights are fetched and shape-checked
 * at construction (conv weights already in [kh, kw, in, out], see `toNhwcConvWeights`).
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { WeightOffload } from './weight-offload.js';
import { Transformer2D } from './attention.js';
import { CameraEmbedding } from './camera-embedding.js';
import { CONV_IN_RAYS, LEVEL_RAYS, RayMapProjection } from './camera-rays.js';
import { conv2d, groupNorm, linear, linearParams, normParams, silu, type Linear, type Norm, type Params } from './nn.js';
import { convParams, Downsample, ResnetBlock, Upsample, type Conv } from './resnet.js';
import { unetPlan, type DownBlockPlan, type MidBlockPlan, type UNetConfig, type UNetPlan, type UpBlockPlan } from './unet-config.js';

export type { UNetConfig } from './unet-config.js';

/** Timesteps: one for the whole batch, or one per sample (a list or a 1-D tensor). */
export type Timesteps = number | number[] | tf.Tensor1D;

/**
 * The dd3d extensions' inputs (see unet-config.ts), both optional:
 * - `camera` [B, camera_dim]: camera features per image (camera-embedding.ts), a zero row for
 *   a null camera; only for a model whose config names dd3d_camera_dim.
 * - `views`: images of one object per group; self-attention spans the V·H·W tokens of each
 *   group of V consecutive images. 1 (the default) or the config's dd3d_num_views.
 */
export interface ViewConditioning {
  camera?: tf.Tensor2D;
  views?: number;
}

class DownBlock {
  readonly resnets: ResnetBlock[];
  readonly attentions: Transformer2D[];
  readonly downsample: Downsample | null;

  constructor(p: Params, plan: DownBlockPlan) {
    this.resnets = plan.resnets.map((s) => new ResnetBlock(p, s));
    this.attentions = plan.attentions.map((s) => new Transformer2D(p, s));
    this.downsample = plan.downsample && new Downsample(p, plan.downsample.prefix, plan.downsample.channels, plan.downsample.padding);
  }

  /** Appends every output the up path will take as a skip connection to `skips`. */
  forward(h: tf.Tensor4D, temb: tf.Tensor2D, context: tf.Tensor2D, views: number, skips: tf.Tensor4D[]): tf.Tensor4D {
    this.resnets.forEach((resnet, i) => {
      h = resnet.forward(h, temb);
      if (this.attentions.length) h = this.attentions[i].forward(h, context, views);
      skips.push(h);
    });
    if (this.downsample) {
      h = this.downsample.forward(h);
      skips.push(h);
    }
    return h;
  }
}

class MidBlock {
  readonly resnets: ResnetBlock[];
  readonly attentions: Transformer2D[];

  constructor(p: Params, plan: MidBlockPlan) {
    this.resnets = plan.resnets.map((s) => new ResnetBlock(p, s));
    this.attentions = plan.attentions.map((s) => new Transformer2D(p, s));
  }

  forward(h: tf.Tensor4D, temb: tf.Tensor2D, context: tf.Tensor2D, views: number): tf.Tensor4D {
    h = this.resnets[0].forward(h, temb);
    this.attentions.forEach((attn, i) => {
      h = this.resnets[i + 1].forward(attn.forward(h, context, views), temb);
    });
    return h;
  }
}

class UpBlock {
  readonly resnets: ResnetBlock[];
  readonly attentions: Transformer2D[];
  readonly upsample: Upsample | null;

  constructor(p: Params, plan: UpBlockPlan) {
    this.resnets = plan.resnets.map((s) => new ResnetBlock(p, s));
    this.attentions = plan.attentions.map((s) => new Transformer2D(p, s));
    this.upsample = plan.upsample && new Upsample(p, plan.upsample.prefix, plan.upsample.channels);
  }

  /** Pops its skip connections off the end of `skips`. */
  forward(h: tf.Tensor4D, temb: tf.Tensor2D, context: tf.Tensor2D, views: number, skips: tf.Tensor4D[]): tf.Tensor4D {
    this.resnets.forEach((resnet, i) => {
      h = resnet.forward(tf.concat([h, skips.pop()!], 3), temb);
      if (this.attentions.length) h = this.attentions[i].forward(h, context, views);
    });
    if (this.upsample) {
      // Upsample to the size of the next skip connection (×2 for the sizes forward() accepts).
      const next = skips[skips.length - 1];
      h = this.upsample.forward(h, [next.shape[1], next.shape[2]]);
    }
    return h;
  }
}

export class UNet2DConditionModel {
  readonly plan: UNetPlan;
  private readonly convIn: Conv;
  private readonly convOut: Conv;
  private readonly normOut: Norm;
  private readonly time1: Linear;
  private readonly time2: Linear;
  private readonly camera: CameraEmbedding | null;
  private readonly cameraRays: RayMapProjection | null;
  /** dd3d_camera_ray_levels: the maps added at the input of down blocks 1, 2, … and, last, of the mid block. */
  private readonly cameraRayLevels: RayMapProjection[];
  private readonly down: DownBlock[];
  private readonly mid: MidBlock | null;
  private readonly up: UpBlock[];
  /** exp(−ln(10000) · i / (half − freq_shift)), rounded step by step to float32 as torch computes it. */
  private readonly frequencies: Float32Array;
  /** For models too big for the wasm heap next to their activations (full-size Stable Diffusion). */
  private readonly offload: WeightOffload | null;

  constructor(
    readonly config: UNetConfig,
    readonly params: Params,
    where = params.source,
  ) {
    const plan = unetPlan(config, where);
    this.plan = plan;
    const p = params;
    const c0 = config.block_out_channels[0];
    this.convIn = convParams(p, 'conv_in', config.in_channels, c0, config.conv_in_kernel);
    this.time1 = linearParams(p, 'time_embedding.linear_1', plan.timeProjDim, config.time_embed_dim);
    this.time2 = linearParams(p, 'time_embedding.linear_2', config.time_embed_dim, config.time_embed_dim);
    this.camera = config.camera_dim === null ? null : new CameraEmbedding(p, config.camera_dim, config.time_embed_dim);
    this.cameraRays = config.camera_rays ? new RayMapProjection(p, 'camera_rays', c0, CONV_IN_RAYS) : null;
    // a block's input has the previous block's channels; the mid block's, the last block's
    const levelChannels = [...config.block_out_channels.slice(0, -1), ...(plan.mid ? [config.block_out_channels.at(-1)!] : [])];
    this.cameraRayLevels = config.camera_ray_levels ? levelChannels.map((c, k) => new RayMapProjection(p, `camera_ray_levels.${k}`, c, LEVEL_RAYS)) : [];
    this.normOut = normParams(p, 'conv_norm_out', c0);
    this.convOut = convParams(p, 'conv_out', c0, config.out_channels, config.conv_out_kernel);
    // The blocks keep the checkpoint's tensors as they are (see attention.ts): nothing derived to own.
    this.down = plan.down.map((b) => new DownBlock(p, b));
    this.mid = plan.mid && new MidBlock(p, plan.mid);
    this.up = plan.up.map((b) => new UpBlock(p, b));
    this.offload = WeightOffload.wanted(p) ? new WeightOffload(p, this.blockPrefixes()) : null;

    const half = Math.floor(plan.timeProjDim / 2);
    const f = Math.fround;
    const logMax = f(-Math.log(10000));
    this.frequencies = Float32Array.from({ length: half }, (_, i) => f(Math.exp(f(f(logMax * i) / (half - config.freq_shift)))));
  }

  /** The checkpoint prefixes of the down, mid and up blocks, in order. */
  private blockPrefixes(): string[] {
    return [...this.plan.down.map((b) => b.prefix), ...(this.plan.mid ? [this.plan.mid.prefix] : []), ...this.plan.up.map((b) => b.prefix)];
  }

  /** Height and width must be multiples of this: 2^(number of downsamplers). */
  get sizeMultiple(): number {
    return this.plan.sizeMultiple;
  }

  /** Checks a sample size; a one-line error naming the height or width and the required multiple. */
  checkSize(height: number, width: number): void {
    const m = this.plan.sizeMultiple;
    for (const [name, v] of [['height', height], ['width', width]] as const) {
      if (!Number.isInteger(v) || v < m || v % m !== 0) {
        throw new Dd3dError(`unet: sample ${name} ${v} is not a positive multiple of ${m} (the UNet downsamples ${Math.log2(m)} times)`);
      }
    }
  }

  /** The numbers of views this model denoises jointly: 1, and the config's dd3d_num_views. */
  get supportedViews(): number[] {
    const v = this.config.num_views;
    return v === null || v === 1 ? [1] : [1, v];
  }

  /** Checks a request for `views` jointly denoised views, camera-conditioned or not; a one-line error naming the flag. */
  checkViews(views: number, withCamera: boolean, flag = '--views'): void {
    if (!this.supportedViews.includes(views)) {
      const trained = this.config.num_views === null ? 'denoises one view at a time (its unet/config.json has no "dd3d_num_views")' : `was trained for ${this.config.num_views} views`;
      throw new Dd3dError(`${flag} ${views}: this model ${trained}; use ${this.supportedViews.join(' or ')}`);
    }
    if (withCamera && this.config.camera_dim === null) {
      throw new Dd3dError(`${flag} ${views}: this model has no camera conditioning (its unet/config.json has no "dd3d_camera_dim")`);
    }
  }

  /**
   * Predicts the model output for `sample` [B, H, W, in_channels] at `timestep`, cross-attending
   * to `encoderHiddenStates` [B, T, cross_attention_dim]. Returns [B, H, W, out_channels].
   * `cond` carries the dd3d extensions' inputs (cameras, joint views; see ViewConditioning).
   */
  forward(sample: tf.Tensor4D, timestep: Timesteps, encoderHiddenStates: tf.Tensor3D, cond: ViewConditioning = {}): tf.Tensor4D {
    const [b, h, w, c] = sample.shape;
    const cfg = this.config;
    if (sample.rank !== 4 || c !== cfg.in_channels) {
      throw new Dd3dError(`unet: sample has shape [${sample.shape}], expected [batch, height, width, ${cfg.in_channels}] (NHWC)`);
    }
    this.checkSize(h, w);
    const [eb, t, d] = encoderHiddenStates.shape;
    const contextDim = cfg.cross_attention_dim[0];
    if (encoderHiddenStates.rank !== 3 || eb !== b || d !== contextDim) {
      throw new Dd3dError(`unet: encoder hidden states have shape [${encoderHiddenStates.shape}], expected [${b}, tokens, ${contextDim}]`);
    }
    const views = cond.views ?? 1;
    this.checkViews(views, cond.camera !== undefined, 'unet: views');
    if (b % views !== 0) throw new Dd3dError(`unet: a batch of ${b} is not a whole number of ${views}-view groups`);
    if (cond.camera && (cond.camera.rank !== 2 || cond.camera.shape[0] !== b || cond.camera.shape[1] !== cfg.camera_dim)) {
      throw new Dd3dError(`unet: camera features have shape [${cond.camera.shape}], expected [${b}, ${cfg.camera_dim}]`);
    }
    return tf.tidy(() => {
      const x = cfg.center_input_sample ? (tf.sub(tf.mul(sample, 2), 1) as tf.Tensor4D) : sample;
      let emb = this.timeEmbedding(this.timestepTensor(timestep, b));
      if (cond.camera && this.camera) emb = tf.add(emb, this.camera.forward(cond.camera));
      const temb = silu(emb) as tf.Tensor2D;
      const context = encoderHiddenStates.reshape([b * t, d]) as tf.Tensor2D;

      let hs = conv2d(x, this.convIn.w, this.convIn.b, 1, (cfg.conv_in_kernel - 1) / 2);
      const rayCameras = cond.camera && this.cameraRays ? (cond.camera.dataSync() as Float32Array) : null;
      if (rayCameras && this.cameraRays) hs = tf.add(hs, this.cameraRays.forward(rayCameras, h, w));
      const skips: tf.Tensor4D[] = [hs];
      const [down, mid, up] = [this.plan.down.map((b) => b.prefix), this.plan.mid?.prefix, this.plan.up.map((b) => b.prefix)];
      const addRays = (level: RayMapProjection | undefined) => {
        if (rayCameras && level) hs = tf.add(hs, level.forward(rayCameras, hs.shape[1], hs.shape[2]));
      };
      this.down.forEach((block, i) => {
        if (i > 0) addRays(this.cameraRayLevels[i - 1]);
        hs = block.forward(hs, temb, context, views, skips);
        this.offload?.park(down[i]!);
      });
      if (this.mid) {
        addRays(this.cameraRayLevels[this.down.length - 1]);
        hs = this.mid.forward(hs, temb, context, views);
        this.offload?.park(mid!);
      }
      this.up.forEach((block, i) => {
        hs = block.forward(hs, temb, context, views, skips);
        this.offload?.park(up[i]!);
      });
      hs = groupNorm(hs, this.normOut.gamma, this.normOut.beta, cfg.norm_num_groups, cfg.norm_eps, 'silu');
      return conv2d(hs, this.convOut.w, this.convOut.b, 1, (cfg.conv_out_kernel - 1) / 2);
    });
  }

  /** The time embedding MLP's output [B, time_embed_dim] (before the blocks' own silu). */
  timeEmbedding(timesteps: tf.Tensor1D): tf.Tensor2D {
    return tf.tidy(() => {
      const feats = this.timestepFeatures(timesteps);
      return linear(silu(linear(feats, this.time1)), this.time2) as tf.Tensor2D;
    });
  }

  /** diffusers' get_timestep_embedding: [sin | cos] of t·frequency (cos first with flip_sin_to_cos), zero-padded to an odd width. */
  timestepFeatures(timesteps: tf.Tensor1D): tf.Tensor2D {
    return tf.tidy(() => {
      const half = this.frequencies.length;
      const args = tf.mul(timesteps.toFloat().reshape([-1, 1]), tf.tensor2d(this.frequencies, [1, half]));
      const [sin, cos] = [tf.sin(args), tf.cos(args)];
      let feats = tf.concat(this.config.flip_sin_to_cos ? [cos, sin] : [sin, cos], 1);
      if (this.plan.timeProjDim % 2 === 1) feats = tf.pad(feats, [[0, 0], [0, 1]]);
      return feats as tf.Tensor2D;
    });
  }

  private timestepTensor(timestep: Timesteps, batch: number): tf.Tensor1D {
    if (typeof timestep === 'number') return tf.fill([batch], timestep, 'float32');
    const n = Array.isArray(timestep) ? timestep.length : timestep.size;
    if ((Array.isArray(timestep) ? false : timestep.rank !== 1) || (n !== 1 && n !== batch)) {
      throw new Dd3dError(`unet: got ${n} timesteps for a batch of ${batch} (expected 1 or ${batch})`);
    }
    const t = Array.isArray(timestep) ? tf.tensor1d(timestep, 'float32') : timestep.toFloat();
    return n === batch ? t : tf.tile(t, [batch]);
  }

  /** Frees the weights (the Params this model was built on included). */
  dispose(): void {
    this.params.dispose();
  }
}
