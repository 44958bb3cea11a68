/**
 * Attention blocks of the UNet and the VAE, NHWC, weights fetched and shape-checked at
 * construction.
 *
 * - `Transformer2D` is diffusers' Transformer2DModel as SD 1.x/2.x use it: GroupNorm (eps 1e-6),
 *   proj_in (1×1 conv, or linear with use_linear_projection), BasicTransformerBlocks
 *   (LayerNorm + self-attention, LayerNorm + cross-attention, LayerNorm + GEGLU feed-forward,
 *   each residual), proj_out, plus the input.
 * - `SpatialSelfAttention` is the VAE mid-block attention: GroupNorm, one head over the H·W
 *   tokens with biased to_q/to_k/to_v/to_out.0, plus the input.
 *
 * Tokens are kept as 2-D [B·N, C] for every projection, so each is one plain matmul.
 *
 * Blocks keep the checkpoint's own tensors and derive nothing at construction: anything
 * derived (a 1×1 conv weight as a matrix, the GEGLU weight's halves) is a reshape or split
 * inside forward, cheap and differentiable, so training reaches the stored variables.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { addBias, convWeight, customOp, groupNorm, isTrainable, layerNorm, linear, linearParams, normParams, type Linear, type Norm, type Params } from './nn.js';

/**
 * softmax(q·kᵀ / √d)·v per head. q [B·N, H·d], k and v [B·M, H·d] → [B·N, H·d].
 *
 * One op with a hand-written gradient, arranged so that no product transposes the large
 * [N, M] attention matrix: dv and dk are computed transposed (dvᵀ = doᵀ·p, dkᵀ = qᵀ·ds),
 * which transposes only the small [N, d] operands. Every batched matmul has equal batch
 * dims on both sides, so nothing needs reducing over a broadcast batch.
 */
export function multiHeadAttention(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  batch: number,
  heads: number,
  chunkFloats = ATTENTION_CHUNK_FLOATS,
): tf.Tensor2D {
  const inner = q.shape[1];
  const d = inner / heads;
  const n = q.shape[0] / batch;
  const m = k.shape[0] / batch;
  // [B·L, H·d] → [B·H, L, d], and back; a reshape alone with one head.
  const split = (x: tf.Tensor, len: number) =>
    (heads === 1 ? x.reshape([batch, len, d]) : x.reshape([batch, len, heads, d]).transpose([0, 2, 1, 3]).reshape([batch * heads, len, d])) as tf.Tensor3D;
  const merge = (x: tf.Tensor, len: number) =>
    (heads === 1 ? x.reshape([batch * len, inner]) : x.reshape([batch, heads, len, d]).transpose([0, 2, 1, 3]).reshape([batch * len, inner])) as tf.Tensor2D;
  /** [B·H, d, L] (a transposed per-head result) → [B·L, H·d]. */
  const mergeTransposed = (x: tf.Tensor, len: number) =>
    x.reshape([batch, heads, d, len]).transpose([0, 3, 1, 2]).reshape([batch * len, inner]) as tf.Tensor2D;
  const chunks = headChunks(batch * heads, n, m, chunkFloats);
  const op = customOp(([qi, ki, vi], save) => {
    const [q3, k3, v3] = [split(tf.mul(qi, 1 / Math.sqrt(d)), n), split(ki, m), split(vi, m)];
    const probs = (qc: tf.Tensor3D, kc: tf.Tensor3D) => tf.softmax(tf.matMul(qc, kc, false, true)) as tf.Tensor3D;
    if (chunks.length === 1) {
      const p = probs(q3, k3);
      save([q3, k3, v3, p]);
      return {
        value: merge(tf.matMul(p, v3), n),
        gradFunc: (dy: tf.Tensor, [sq, sk, sv, sp]: tf.Tensor[]) => {
          const g = attentionGrad(split(dy, n), sq as tf.Tensor3D, sk as tf.Tensor3D, sv as tf.Tensor3D, sp as tf.Tensor3D);
          return [tf.mul(merge(g.dq, n), 1 / Math.sqrt(d)), mergeTransposed(g.dkT, m), mergeTransposed(g.dvT, m)];
        },
      };
    }
    // Too many tokens for every head's [N, M] matrix at once (SD at 64×64 latents: 8 × 4096² floats
    // = 512 MB): a few heads at a time, and the backward pass recomputes probabilities per chunk.
    save([q3, k3, v3]);
    const slice = (x: tf.Tensor3D, [from, size]: [number, number]) => x.slice([from, 0, 0], [size, -1, -1]) as tf.Tensor3D;
    const out = tf.concat(chunks.map((c) => tf.tidy(() => tf.matMul(probs(slice(q3, c), slice(k3, c)), slice(v3, c)))));
    return {
      value: merge(out, n),
      gradFunc: (dy: tf.Tensor, [sq, sk, sv]: tf.Tensor[]) => {
        const dO = split(dy, n);
        const parts = chunks.map((c) =>
          tf.tidy(() => {
            const [qc, kc, vc] = [slice(sq as tf.Tensor3D, c), slice(sk as tf.Tensor3D, c), slice(sv as tf.Tensor3D, c)];
            const g = attentionGrad(slice(dO, c), qc, kc, vc, probs(qc, kc));
            return [g.dq, g.dkT, g.dvT];
          }),
        );
        const joined = [0, 1, 2].map((i) => tf.concat(parts.map((p) => p[i])));
        return [tf.mul(merge(joined[0], n), 1 / Math.sqrt(d)), mergeTransposed(joined[1], m), mergeTransposed(joined[2], m)];
      },
    };
  });
  return op(q, k, v) as tf.Tensor2D;
}

/**
 * Gradients of o = p·v with p = softmax(q·kᵀ), for upstream dO. dv and dk come out
 * transposed (dvᵀ = dOᵀ·p, dkᵀ = qᵀ·ds) so no product transposes the large [N, M] matrix.
 */
function attentionGrad(dO: tf.Tensor3D, q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, p: tf.Tensor3D) {
  const dp = tf.matMul(dO, v, false, true);
  const dvT = tf.matMul(dO, p, true, false);
  const ds = tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true))) as tf.Tensor3D;
  return { dq: tf.matMul(ds, k), dkT: tf.matMul(q, ds, true, false), dvT };
}

/** Largest [N, M] attention block, summed over the heads computed together: 64 MB of float32 (one head at 4096 tokens). */
export const ATTENTION_CHUNK_FLOATS = 16 * 1024 * 1024;

/** [from, size] ranges over the B·H axis so that size·N·M stays within `budget` floats. */
export function headChunks(total: number, n: number, m: number, budget = ATTENTION_CHUNK_FLOATS): Array<[number, number]> {
  const per = Math.max(1, Math.floor(budget / (n * m)));
  const out: Array<[number, number]> = [];
  for (let from = 0; from < total; from += per) out.push([from, Math.min(per, total - from)]);
  return out;
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * GEGLU's product value · gelu(gate), exact (erf) GELU as torch's F.gelu, with a hand-written
 * gradient. Both inputs are activations (the projection's halves), so weights get theirs by autodiff.
 */
function geglu(value: tf.Tensor, gate: tf.Tensor): tf.Tensor {
  const op = customOp(([a, b], save) => {
    const cdf = tf.mul(tf.add(1, tf.erf(tf.mul(b, Math.SQRT1_2))), 0.5);
    const gelu = tf.mul(b, cdf);
    save([a, b, cdf, gelu]);
    return {
      value: tf.mul(a, gelu),
      gradFunc: (dy: tf.Tensor, [sa, sb, scdf, sgelu]: tf.Tensor[]) => {
        // gelu'(b) = Φ(b) + b·φ(b)
        const pdf = tf.mul(tf.exp(tf.mul(tf.square(sb), -0.5)), INV_SQRT_2PI);
        const dgelu = tf.add(scdf, tf.mul(sb, pdf));
        return [tf.mul(dy, sgelu), tf.mul(tf.mul(dy, sa), dgelu)];
      },
    };
  });
  return op(value, gate);
}

/**
 * diffusers' Attention: to_q/to_k/to_v (without bias in the UNet, with bias in the VAE:
 * `qkvBias`), multi-head attention, to_out.0 (bias).
 */
class CrossAttention {
  private readonly q: Linear;
  private readonly k: Linear;
  private readonly v: Linear;
  private readonly out: Linear;

  constructor(
    p: Params,
    prefix: string,
    dim: number,
    contextDim: number,
    private readonly heads: number,
    headDim: number,
    qkvBias = false,
  ) {
    const inner = heads * headDim;
    this.q = linearParams(p, `${prefix}.to_q`, dim, inner, qkvBias);
    this.k = linearParams(p, `${prefix}.to_k`, contextDim, inner, qkvBias);
    this.v = linearParams(p, `${prefix}.to_v`, contextDim, inner, qkvBias);
    this.out = linearParams(p, `${prefix}.to_out.0`, inner, dim);
  }

  /** x [B·N, dim], context [B·M, contextDim] (x itself for self-attention). */
  forward(x: tf.Tensor2D, context: tf.Tensor2D, batch: number): tf.Tensor2D {
    const o = multiHeadAttention(linear(x, this.q), linear(context, this.k), linear(context, this.v), batch, this.heads);
    return linear(o, this.out);
  }
}

/** LayerNorm eps of BasicTransformerBlock (diffusers' default norm_eps, which the UNet does not override). */
const LAYER_NORM_EPS = 1e-5;

class BasicTransformerBlock {
  private readonly norm1: Norm;
  private readonly norm2: Norm;
  private readonly norm3: Norm;
  private readonly attn1: CrossAttention;
  private readonly attn2: CrossAttention;
  /** GEGLU: one [2F, dim] projection whose first half is the value and second half the gate. */
  private readonly ffProj: Linear;
  private readonly ffOut: Linear;

  constructor(p: Params, prefix: string, dim: number, contextDim: number, heads: number, headDim: number) {
    this.norm1 = normParams(p, `${prefix}.norm1`, dim);
    this.norm2 = normParams(p, `${prefix}.norm2`, dim);
    this.norm3 = normParams(p, `${prefix}.norm3`, dim);
    this.attn1 = new CrossAttention(p, `${prefix}.attn1`, dim, dim, heads, headDim);
    this.attn2 = new CrossAttention(p, `${prefix}.attn2`, dim, contextDim, heads, headDim);
    const ff = 4 * dim;
    // Split per call (contiguous row halves of the weight): kept copies would cost 400 MB at SD 1.5 size.
    this.ffProj = linearParams(p, `${prefix}.ff.net.0.proj`, dim, 2 * ff);
    this.ffOut = linearParams(p, `${prefix}.ff.net.2`, ff, dim);
  }

  /** h [B·N, dim]; self-attention runs over groups of `views` consecutive images (B/views sequences of views·N tokens). */
  forward(h: tf.Tensor2D, context: tf.Tensor2D, batch: number, views = 1): tf.Tensor2D {
    const n1 = layerNorm(h, this.norm1, LAYER_NORM_EPS);
    h = tf.add(h, this.attn1.forward(n1, n1, batch / views));
    h = tf.add(h, this.attn2.forward(layerNorm(h, this.norm2, LAYER_NORM_EPS), context, batch));
    const n3 = layerNorm(h, this.norm3, LAYER_NORM_EPS);
    // Value and gate halves of the projection (split, whose gradient is one concat).
    const [wv, wg] = tf.split(this.ffProj.w, 2, 0) as tf.Tensor2D[];
    const [bv, bg] = tf.split(this.ffProj.b!, 2, 0) as tf.Tensor1D[];
    const learnBias = isTrainable(this.ffProj.b!);
    const ff = linear(geglu(linear(n3, { w: wv, b: bv, learnBias }), linear(n3, { w: wg, b: bg, learnBias })) as tf.Tensor2D, this.ffOut);
    return tf.add(h, ff);
  }
}

export interface TransformerSpec {
  prefix: string;
  channels: number;
  heads: number;
  headDim: number;
  layers: number;
  contextDim: number;
  linearProjection: boolean;
  groups: number;
}

/** A Transformer2D projection as stored: torch Linear [out, in] (`transposed`) or 1×1 conv [1, 1, in, out]. */
type Projection = { b: tf.Tensor1D } & ({ w: tf.Tensor2D; transposed: true } | { w: tf.Tensor4D; transposed: false });

/** GroupNorm eps of Transformer2DModel, fixed in diffusers. */
const TRANSFORMER_NORM_EPS = 1e-6;

export class Transformer2D {
  private readonly norm: Norm;
  /**
   * proj_in / proj_out: a 1×1 conv's [1, 1, in, out] weight, reshaped to an [in, out] matrix in
   * forward (free: the same data), or a torch [out, in] Linear (`transposed`).
   */
  private readonly projIn: Projection;
  private readonly projOut: Projection;
  private readonly blocks: BasicTransformerBlock[] = [];

  constructor(
    p: Params,
    readonly spec: TransformerSpec,
  ) {
    const { prefix, channels: c, heads, headDim, layers, contextDim, linearProjection } = spec;
    const inner = heads * headDim;
    this.norm = normParams(p, `${prefix}.norm`, c);
    const proj = (name: string, inDim: number, outDim: number): Projection => {
      const key = `${prefix}.${name}`;
      const b = p.get(`${key}.bias`, [outDim]) as tf.Tensor1D;
      p.declare(`${key}.weight`, linearProjection ? [outDim, inDim] : [1, 1, inDim, outDim]);
      const w = p.get(`${key}.weight`);
      if (linearProjection && w.rank === 4) {
        const torchShape = [w.shape[3], w.shape[2], w.shape[0], w.shape[1]];
        throw new Dd3dError(`${p.source}: weight "${key}.weight" has shape [${torchShape}], a 1×1 conv: the config must say "use_linear_projection": false`);
      }
      if (!linearProjection && w.rank === 2) {
        throw new Dd3dError(`${p.source}: weight "${key}.weight" has shape [${w.shape}], a Linear: the config must say "use_linear_projection": true`);
      }
      if (linearProjection) return { w: p.get(`${key}.weight`, [outDim, inDim]) as tf.Tensor2D, b, transposed: true };
      return { w: convWeight(p, `${key}.weight`, [outDim, inDim, 1, 1]), b, transposed: false };
    };
    this.projIn = proj('proj_in', c, inner);
    this.projOut = proj('proj_out', inner, c);
    for (let i = 0; i < layers; i++) {
      this.blocks.push(new BasicTransformerBlock(p, `${prefix}.transformer_blocks.${i}`, inner, contextDim, heads, headDim));
    }
  }

  /**
   * x [B, H, W, C], context [B·T, D] (already flattened by the caller, once per forward).
   * `views` > 1: cross-view self-attention. The tokens of V consecutive images are contiguous
   * rows of [B·H·W, C], so attending over all of them at once is the same attention with
   * B/V sequences of V·H·W tokens: no new weights, no data movement. Cross-attention to the
   * text stays per image.
   */
  forward(x: tf.Tensor4D, context: tf.Tensor2D, views = 1): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    const normed = groupNorm(x, this.norm.gamma, this.norm.beta, this.spec.groups, TRANSFORMER_NORM_EPS);
    const project = (t: tf.Tensor2D, pr: Projection) => {
      const w = pr.transposed ? pr.w : pr.w.reshape([pr.w.shape[2], pr.w.shape[3]]);
      return addBias(tf.matMul(t, w, false, pr.transposed), pr.b) as tf.Tensor2D;
    };
    let tokens = project(normed.reshape([b * h * w, c]), this.projIn);
    for (const block of this.blocks) tokens = block.forward(tokens, context, b, views);
    return tf.add(project(tokens, this.projOut).reshape([b, h, w, c]), x);
  }
}

/** VAE mid-block attention: single head over H·W tokens, residual; diffusers' Attention with group_norm. */
export class SpatialSelfAttention {
  private readonly norm: Norm;
  private readonly attention: CrossAttention;

  constructor(
    p: Params,
    readonly prefix: string,
    readonly channels: number,
    readonly groups: number,
    readonly eps: number,
  ) {
    if (p.has(`${prefix}.query.weight`)) {
      throw new Dd3dError(
        `${p.source}: "${prefix}" uses the legacy attention key names (query/key/value/proj_attn); re-save the VAE with a current diffusers`,
      );
    }
    this.norm = normParams(p, `${prefix}.group_norm`, channels);
    this.attention = new CrossAttention(p, prefix, channels, channels, 1, channels, true);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    const tokens = groupNorm(x, this.norm.gamma, this.norm.beta, this.groups, this.eps).reshape([b * h * w, c]) as tf.Tensor2D;
    return tf.add(this.attention.forward(tokens, tokens, b).reshape([b, h, w, c]), x);
  }
}
