/**
 * Analytic FLOP count of one UNet forward pass (a multiply-add is 2 FLOPs), from the same plan
 * the model is built from. Only convolutions and matmuls are counted; norms, activations and
 * other elementwise work are memory-bound and small in FLOPs.
 *
 * A backward pass to the inputs only (weights frozen, as in prompt learning) costs about the
 * same again: every conv and matmul has one input-gradient product of its own size.
 */
import type { TransformerSpec } from './attention.js';
import type { ResnetSpec } from './resnet.js';
import { unetPlan, type UNetConfig } from './unet-config.js';

export interface UNetFlops {
  /** conv_in, resnet convs and shortcuts, down/upsampler convs, 1×1 proj_in/out, conv_out */
  conv: number;
  /** q/k/v/out projections, GEGLU and its output, linear proj_in/out, time embedding MLP and projections */
  linear: number;
  /** q·kᵀ and softmax·v */
  attention: number;
  total: number;
}

/** FLOPs of one forward pass at sample size h × w (latent pixels) for `batch` samples with `tokens` context tokens. */
export function unetFlopBreakdown(config: UNetConfig, h: number, w: number, batch: number, tokens = 77): UNetFlops {
  const plan = unetPlan(config);
  const f: UNetFlops = { conv: 0, linear: 0, attention: 0, total: 0 };
  const conv = (hw: number, cin: number, cout: number, k: number) => {
    f.conv += 2 * batch * hw * cin * cout * k * k;
  };
  const dense = (rows: number, inDim: number, outDim: number) => {
    f.linear += 2 * rows * inDim * outDim;
  };
  const temb = config.time_embed_dim;
  const resnet = (s: ResnetSpec, hw: number) => {
    conv(hw, s.inChannels, s.outChannels, 3);
    conv(hw, s.outChannels, s.outChannels, 3);
    if (s.inChannels !== s.outChannels) conv(hw, s.inChannels, s.outChannels, 1);
    if (s.tembChannels !== null) dense(batch, temb, s.outChannels);
  };
  const transformer = (s: TransformerSpec, hw: number) => {
    const inner = s.heads * s.headDim;
    const rows = batch * hw;
    const proj = (a: number, b: number) => (s.linearProjection ? dense(rows, a, b) : conv(hw, a, b, 1));
    proj(s.channels, inner);
    proj(inner, s.channels);
    for (let i = 0; i < s.layers; i++) {
      dense(rows, inner, inner); // attn1 q
      dense(rows, inner, 2 * inner); // attn1 k, v
      dense(rows, inner, inner); // attn1 out
      f.attention += 4 * batch * hw * hw * inner;
      dense(rows, inner, inner); // attn2 q
      dense(batch * tokens, s.contextDim, 2 * inner); // attn2 k, v
      dense(rows, inner, inner); // attn2 out
      f.attention += 4 * batch * hw * tokens * inner;
      dense(rows, inner, 8 * inner); // GEGLU projection (value and gate)
      dense(rows, 4 * inner, inner); // ff.net.2
    }
  };

  dense(batch, plan.timeProjDim, temb);
  dense(batch, temb, temb);
  let hh = h;
  let ww = w;
  conv(hh * ww, config.in_channels, config.block_out_channels[0], config.conv_in_kernel);
  for (const block of plan.down) {
    block.resnets.forEach((r, i) => {
      resnet(r, hh * ww);
      if (block.attentions[i]) transformer(block.attentions[i], hh * ww);
    });
    if (block.downsample) {
      hh /= 2;
      ww /= 2;
      conv(hh * ww, block.downsample.channels, block.downsample.channels, 3);
    }
  }
  if (plan.mid) {
    resnet(plan.mid.resnets[0], hh * ww);
    plan.mid.attentions.forEach((a, i) => {
      transformer(a, hh * ww);
      resnet(plan.mid!.resnets[i + 1], hh * ww);
    });
  }
  for (const block of plan.up) {
    block.resnets.forEach((r, i) => {
      resnet(r, hh * ww);
      if (block.attentions[i]) transformer(block.attentions[i], hh * ww);
    });
    if (block.upsample) {
      hh *= 2;
      ww *= 2;
      conv(hh * ww, block.upsample.channels, block.upsample.channels, 3);
    }
  }
  conv(hh * ww, config.block_out_channels[0], config.out_channels, config.conv_out_kernel);
  f.total = f.conv + f.linear + f.attention;
  return f;
}

/** Total conv + matmul FLOPs of one forward pass; see `unetFlopBreakdown`. */
export function unetFlops(config: UNetConfig, h: number, w: number, batch: number, tokens = 77): number {
  return unetFlopBreakdown(config, h, w, batch, tokens).total;
}
