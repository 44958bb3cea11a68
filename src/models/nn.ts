/**
 * Layer functions shared by every model, applied to parameters looked up by their
 * checkpoint keys. Weights stay in PyTorch layout (Linear: [out, in]) as loaded.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../errors.js';

/** A model's parameters by checkpoint key, exactly as the file names them. */
export class Params {
  constructor(
    readonly tensors: Map<string, tf.Tensor>,
    /** Where they came from, for error messages. */
    readonly source: string,
  ) {}

  get(key: string, shape?: number[]): tf.Tensor {
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

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
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
