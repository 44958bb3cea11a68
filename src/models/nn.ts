/**
 * Layer functions shared by every model, applied to parameters looked up by their
 * checkpoint keys. Weights stay in PyTorch layout (Linear: [out, in]) as loaded.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../errors.js';

/** Makes a missing parameter from its key and shape: models built from a config alone. */
export type ParamInit = (key: string, shape: number[]) => tf.Tensor;

/** A model's parameters by checkpoint key, exactly as the file names them. */
export class Params {
  constructor(
    readonly tensors: Map<string, tf.Tensor>,
    /** Where they came from, for error messages. */
    readonly source: string,
    /** Only for parameter sets built from a config (benchmarks, training from scratch). */
    private readonly init?: ParamInit,
  ) {}

  get(key: string, shape?: number[]): tf.Tensor {
    if (shape) this.declare(key, shape);
    const t = this.tensors.get(key);
    if (!t) throw new Dd3dError(`${this.source}: missing weight "${key}"`);
    if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      throw new Dd3dError(`${this.source}: weight "${key}" has shape [${t.shape}], expected [${shape}]`);
    }
    return t;
  }

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  /** Creates `key` with `shape` when this set has an initializer and lacks it; a no-op for a loaded checkpoint. */
  declare(key: string, shape: number[]): void {
    if (this.init && !this.tensors.has(key)) this.tensors.set(key, this.init(key, shape));
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}

/**
 * Random weights that keep activations at a sane scale: norms' weights 1, biases 0, other
 * weights uniform with variance 1/fan_in. Linear is [out, in]; convs are NHWC [kh, kw, in, out].
 */
export function randomInit(seed = 1): ParamInit {
  let next = seed;
  return (key, shape) => {
    if (shape.length === 1) return key.endsWith('.bias') ? tf.zeros(shape) : tf.ones(shape);
    const fanIn = shape.length === 4 ? shape[0] * shape[1] * shape[2] : shape.slice(1).reduce((a, b) => a * b, 1);
    const limit = Math.sqrt(3 / fanIn);
    return tf.randomUniform(shape, -limit, limit, 'float32', next++);
  };
}

/** y = x Wᵀ + b over the last axis, for x of any rank. */
export function linear(x: tf.Tensor, p: Params, prefix: string, bias = true): tf.Tensor {
  const w = p.get(`${prefix}.weight`);
  const inDim = x.shape[x.shape.length - 1];
  if (w.shape[1] !== inDim) throw new Dd3dError(`${p.source}: weight "${prefix}.weight" has shape [${w.shape}], expected [*, ${inDim}]`);
  const x2 = x.reshape([-1, inDim]);
  let y = tf.matMul(x2, w, false, true);
  if (bias) y = tf.add(y, p.get(`${prefix}.bias`));
  return y.reshape([...x.shape.slice(0, -1), w.shape[0]]);
}

/** LayerNorm over the last axis with the biased variance, as torch.nn.LayerNorm. */
export function layerNorm(x: tf.Tensor, p: Params, prefix: string, eps: number): tf.Tensor {
  const axis = x.shape.length - 1;
  const { mean, variance } = tf.moments(x, axis, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, p.get(`${prefix}.weight`)), p.get(`${prefix}.bias`));
}

/** gelu is the exact erf form (torch's default); quick_gelu is CLIP's x·σ(1.702x). */
export function activation(name: string, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'gelu':
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'quick_gelu':
      return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
    case 'silu':
    case 'swish':
      return tf.mul(x, tf.sigmoid(x));
    default:
      throw new Error(`unsupported activation ${name}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Image-model layers (UNet, VAE). Activations are NHWC: tfjs runs convolutions channels-last
// only. Conv weights are transposed once at load from PyTorch [out, in, kh, kw] to tfjs
// [kh, kw, in, out] and kept under their checkpoint keys (see `toNhwcConvWeights`).

/** x·σ(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * Replaces every 4-D tensor (a conv weight) by its [kh, kw, in, out] transpose, in place,
 * under the same key. Call once, right after loading a convolutional model's checkpoint.
 */
export function toNhwcConvWeights(p: Params): Params {
  for (const [key, t] of [...p.tensors]) {
    if (t.rank !== 4) continue;
    p.tensors.set(key, tf.transpose(t, [2, 3, 1, 0]));
    t.dispose();
  }
  return p;
}

/**
 * A conv weight loaded through `toNhwcConvWeights`, checked against its PyTorch shape
 * [out, in, kh, kw] (errors quote that layout, as the checkpoint has it).
 */
export function convWeight(p: Params, key: string, torchShape: [number, number, number, number]): tf.Tensor4D {
  const [o, i, kh, kw] = torchShape;
  const expected = [kh, kw, i, o];
  p.declare(key, expected);
  const t = p.get(key);
  if (t.rank !== 4 || t.shape.some((d, j) => d !== expected[j])) {
    const stored = t.rank === 4 ? [t.shape[3], t.shape[2], t.shape[0], t.shape[1]] : t.shape;
    throw new Dd3dError(`${p.source}: weight "${key}" has shape [${stored}], expected [${torchShape}]`);
  }
  return t as tf.Tensor4D;
}

/** Padding as PyTorch states it: one number for all sides, or [top, bottom, left, right]. */
export type ConvPadding = number | [number, number, number, number];

/** NHWC conv with a [kh, kw, in, out] filter, stride and PyTorch-style zero padding, plus bias. */
export function conv2d(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor | null, stride = 1, padding: ConvPadding = 0): tf.Tensor4D {
  const [t, b, l, r] = typeof padding === 'number' ? [padding, padding, padding, padding] : padding;
  const pad: 'valid' | [[number, number], [number, number], [number, number], [number, number]] =
    t === 0 && b === 0 && l === 0 && r === 0 ? 'valid' : [[0, 0], [t, b], [l, r], [0, 0]];
  const y = tf.conv2d(x, filter, stride, pad);
  return bias ? tf.add(y, bias) : y;
}

/**
 * An op with a hand-written gradient (tf.customGrad, typed): `f(inputs, save)` returns the value
 * and a function giving the gradient for each input from dy and the tensors `save`d.
 */
export function customOp(
  f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] },
): (...inputs: tf.Tensor[]) => tf.Tensor {
  const op = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) =>
    f(args.slice(0, -1) as tf.Tensor[], args[args.length - 1] as tf.GradSaveFunc)) as Parameters<typeof tf.customGrad>[0]);
  return (...inputs: tf.Tensor[]) => op(...inputs);
}

/**
 * GroupNorm over NHWC x, as torch.nn.GroupNorm: channels split into `groups` contiguous groups,
 * each normalised over (H, W, its channels) with the biased variance, then a per-channel
 * affine; `act` "silu" applies x·σ(x) to the result (the norm → silu pair every resnet uses).
 *
 * One fused op with a hand-written gradient with respect to x: autodiff through the dozen
 * elementwise ops costs about twice as much on wasm (each product's gradient copies its other
 * operand). gamma and beta are constants here: no gradient flows to them.
 */
export function groupNorm(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  groups: number,
  eps: number,
  act: 'none' | 'silu' = 'none',
): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const cg = c / groups;
  const grouped = [n, h * w, groups, cg];
  const gm = gamma.reshape([1, 1, groups, cg]);
  const bt = beta.reshape([1, 1, groups, cg]);
  const op = customOp(([xi], save) => {
    const xg = xi.reshape(grouped);
    const d = tf.sub(xg, tf.mean(xg, [1, 3], true));
    const r = tf.rsqrt(tf.add(tf.mean(tf.square(d), [1, 3], true), eps));
    const z = tf.add(tf.mul(d, tf.mul(r, gm)), bt);
    save(act === 'silu' ? [d, r, z] : [d, r]);
    return {
      value: (act === 'silu' ? tf.mul(z, tf.sigmoid(z)) : z).reshape([n, h, w, c]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sd, sr, sz] = saved;
        let dz = dy.reshape(grouped);
        if (act === 'silu') {
          // d/dz z·σ(z) = σ(z)·(1 + z·(1 − σ(z)))
          const s = tf.sigmoid(sz);
          dz = tf.mul(dz, tf.mul(s, tf.add(1, tf.mul(sz, tf.sub(1, s)))));
        }
        // With x̂ = d·r and g = dz·γ: dx = r·(g − mean(g) − x̂·mean(g·x̂)) = r·(g − mean(g)) − d·r³·mean(g·d).
        const g = tf.mul(dz, gm);
        const centred = tf.mul(tf.sub(g, tf.mean(g, [1, 3], true)), sr);
        const coef = tf.mul(tf.pow(sr, 3), tf.mean(tf.mul(g, sd), [1, 3], true));
        return [tf.sub(centred, tf.mul(sd, coef)).reshape([n, h, w, c])];
      },
    };
  });
  return op(x) as tf.Tensor4D;
}

/**
 * LayerNorm over the last axis (biased variance, as torch.nn.LayerNorm) as one op with a
 * hand-written gradient with respect to x; gamma and beta are constants (no gradient).
 */
export function layerNormLastAxis(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const axis = x.rank - 1;
  const op = customOp(([xi], save) => {
    const d = tf.sub(xi, tf.mean(xi, axis, true));
    const r = tf.rsqrt(tf.add(tf.mean(tf.square(d), axis, true), eps));
    const xhat = tf.mul(d, r);
    save([xhat, r]);
    return {
      value: tf.add(tf.mul(xhat, gamma), beta),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sr] = saved;
        const g = tf.mul(dy, gamma);
        const inner = tf.sub(tf.sub(g, tf.mean(g, axis, true)), tf.mul(sx, tf.mean(tf.mul(g, sx), axis, true)));
        return [tf.mul(inner, sr)];
      },
    };
  });
  return op(x);
}
