/**
 * Layer functions shared by every model, applied to parameters looked up by their
 * checkpoint keys. Weights stay in PyTorch layout (Linear: [out, in]) as loaded.
 */
import * as tf from '@tensorflow/tfjs';
import { hasFusedKernel, type FusedKernelName } from '../backend/fused-kernels.js';
import { Dd3dError } from '../core/errors.js';

/** Makes a missing parameter from its key and shape: models built from a config alone. */
export type ParamInit = (key: string, shape: number[]) => tf.Tensor;

/**
 * A model's parameters by checkpoint key, exactly as the file names them.
 *
 * Frozen by default: plain tensors, which no gradient computation watches. For training,
 * `toVariables()` turns them into trainable tf.Variables under the same keys, before a model
 * is built on them (models keep the tensors they fetch at construction). Models derive nothing
 * from their weights at construction (a 1×1 conv's matrix form is a reshape inside forward), so
 * every weight reaches the loss through differentiable ops on the stored variable.
 */
export class Params {
  private isTrainable = false;
  /** Set once `get` has handed a tensor out: from then on the stored tensors must not change identity. */
  private handedOut = false;

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
    this.handedOut = true;
    return t;
  }

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  /** Creates `key` with `shape` when this set has an initializer and lacks it; a no-op for a loaded checkpoint. */
  declare(key: string, shape: number[]): void {
    if (!this.init || this.tensors.has(key)) return;
    const t = this.init(key, shape);
    this.tensors.set(key, this.isTrainable ? toVariable(t) : t);
  }

  /** True after `toVariables()`: every stored tensor is a trainable tf.Variable. */
  get trainable(): boolean {
    return this.isTrainable;
  }

  /**
   * Makes every parameter a trainable tf.Variable under its key (no copy: a variable shares its
   * tensor's data), and every parameter `declare` creates later too. Call it before building a
   * model on this set, and after `toNhwcConvWeights` for a loaded convolutional checkpoint.
   * For a set built from a config, call it on the empty set:
   * `new UNet2DConditionModel(cfg, new Params(new Map(), 'random', randomInit(1)).toVariables())`.
   */
  toVariables(): this {
    if (this.isTrainable) return this;
    if (this.handedOut) {
      throw new Dd3dError(`${this.source}: toVariables() must come before a model is built on these weights (the model keeps the tensors it fetched)`);
    }
    for (const [key, t] of [...this.tensors]) this.tensors.set(key, toVariable(t));
    this.isTrainable = true;
    return this;
  }

  /** The trainable variables by key, in key order of the set ([] while frozen): pass `[...values()]` to tf.variableGrads. */
  variables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [key, t] of this.tensors) if (isTrainable(t)) out.set(key, t);
    return out;
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}

/** A trainable variable holding `t`'s data (shared, not copied); `t` itself is released. */
function toVariable(t: tf.Tensor): tf.Variable {
  if (t instanceof tf.Variable) {
    t.trainable = true;
    return t;
  }
  const v = tf.variable(t, true);
  t.dispose();
  return v;
}

/** Whether gradient computations (tf.variableGrads, optimizers) may ask for `t`'s gradient. */
export function isTrainable(t: tf.Tensor): t is tf.Variable {
  return t instanceof tf.Variable && t.trainable;
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

// ---------------------------------------------------------------------------------------------
// Dense and norm layers: the one way every model writes them. A layer's parameters are fetched
// and shape-checked once, at construction (`linearParams`, `normParams`), so a checkpoint that
// does not fit its config fails at load with the key named; forward applies them (`linear`,
// `layerNorm`, or `groupNorm` for the image models' norms).

/**
 * A torch Linear: weight [out, in] as stored, bias [out] or null. `learnBias` says that `b`
 * is derived from a trainable variable (a slice of one), which is not a variable itself (see
 * `addBias`).
 */
export interface Linear {
  w: tf.Tensor2D;
  b: tf.Tensor1D | null;
  learnBias?: boolean;
}

/** The Linear under `prefix` (`.weight`, and `.bias` unless `bias` is false). */
export function linearParams(p: Params, prefix: string, inDim: number, outDim: number, bias = true): Linear {
  return {
    w: p.get(`${prefix}.weight`, [outDim, inDim]) as tf.Tensor2D,
    b: bias ? (p.get(`${prefix}.bias`, [outDim]) as tf.Tensor1D) : null,
  };
}

/** y = x Wᵀ + b over the last axis, for x of any rank (tokens are matrix rows: one plain matmul). */
export function linear<T extends tf.Tensor>(x: T, l: Linear): T {
  const inDim = x.shape[x.rank - 1];
  const rows = x.rank === 2 ? (x as tf.Tensor as tf.Tensor2D) : (x.reshape([-1, inDim]) as tf.Tensor2D);
  const y = tf.matMul(rows, l.w, false, true);
  const out = l.b ? addBias(y, l.b, l.learnBias ?? isTrainable(l.b)) : y;
  return (x.rank === 2 ? out : out.reshape([...x.shape.slice(0, -1), l.w.shape[0]])) as T;
}

/** A norm's per-channel affine: torch's `weight` (γ) and `bias` (β). */
export interface Norm {
  gamma: tf.Tensor1D;
  beta: tf.Tensor1D;
}

export function normParams(p: Params, prefix: string, channels: number): Norm {
  return {
    gamma: p.get(`${prefix}.weight`, [channels]) as tf.Tensor1D,
    beta: p.get(`${prefix}.bias`, [channels]) as tf.Tensor1D,
  };
}

/** torch.nn.LayerNorm over the last axis (biased variance): `layerNormLastAxis`, fused where the backend has it. */
export function layerNorm<T extends tf.Tensor>(x: T, norm: Norm, eps: number): T {
  return layerNormLastAxis(x, norm.gamma, norm.beta, eps) as T;
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
  return bias ? (addBias(y, bias) as tf.Tensor4D) : y;
}

/**
 * y + b, b a vector over y's last axis. A trainable b gets its gradient (the sum of dy over every
 * other axis) as a column sum, a matmul by a row of ones: tf's own Add gradient sums over the
 * leading axes, which costs 10–50× more on wasm. A frozen b is a plain tf.add. `trainable`
 * says it for a b derived from a variable (a slice of one), which is not a variable itself.
 */
export function addBias(y: tf.Tensor, b: tf.Tensor, trainable = isTrainable(b)): tf.Tensor {
  if (!trainable) return tf.add(y, b);
  const op = customOp(([yi, bi]) => ({
    value: tf.add(yi, bi),
    gradFunc: (dy: tf.Tensor) => [dy.reshape(yi.shape), columnSum(dy.reshape([-1, bi.size]) as tf.Tensor2D).reshape(bi.shape)],
  }));
  return op(y, b);
}

/**
 * Σ over rows of x [R, C] → [C]: the fused Dd3dColumnSum kernel (one pass, float64 sums) where
 * the backend has it, else ones[1, R]·x (XNNPACK's fast matmul instead of a strided reduction).
 */
export function columnSum(x: tf.Tensor2D): tf.Tensor1D {
  if (useFused('Dd3dColumnSum', false)) return tf.engine().runKernel('Dd3dColumnSum', { x }, {}) as tf.Tensor1D;
  return tf.tidy(() => tf.matMul(tf.ones([1, x.shape[0]]), x).reshape([x.shape[1]]) as tf.Tensor1D);
}

let customGradients = true;
let fusedKernels = true;

/**
 * Turns the fused norm and column-sum kernels (src/backend/fused-kernels.ts) off (false) or
 * back on; returns the previous setting. Off, `groupNorm` and `layerNormLastAxis` run their
 * tfjs-op implementations with the hand-written gradients in tfjs ops, and `columnSum` is a
 * matmul. For tests and benchmarks.
 */
export function setFusedKernels(enabled: boolean): boolean {
  const previous = fusedKernels;
  fusedKernels = enabled;
  return previous;
}

/**
 * Whether to run fused kernel `name`: enabled, registered on the active backend, and, for the
 * custom ops (`custom`), custom gradients on: off, they run as tfjs ops for autodiff.
 */
function useFused(name: FusedKernelName, custom = true): boolean {
  return fusedKernels && (customGradients || !custom) && hasFusedKernel(name);
}

/**
 * Turns the hand-written gradients of `customOp` off (false) or back on (true); returns the
 * previous setting. Off, every custom op runs its forward computation as ordinary taped ops, so
 * tf's autodiff differentiates it: the reference the hand-written gradients are tested against.
 * Same forward numbers; slower and more memory in the backward pass. For tests only.
 */
export function setCustomGradients(enabled: boolean): boolean {
  const previous = customGradients;
  customGradients = enabled;
  return previous;
}

/**
 * An op with a hand-written gradient (tf.customGrad, typed): `f(inputs, save)` returns the value
 * and a function giving the gradient for each input from dy and the tensors `save`d. tf calls
 * that function for every input on the path to the loss, so an op whose parameter inputs may be
 * frozen takes them as inputs only when they are trainable (see `groupNorm`): a frozen model's
 * backward pass then computes no weight gradient.
 */
export function customOp(
  f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] },
): (...inputs: tf.Tensor[]) => tf.Tensor {
  const op = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) =>
    f(args.slice(0, -1) as tf.Tensor[], args[args.length - 1] as tf.GradSaveFunc)) as Parameters<typeof tf.customGrad>[0]);
  return (...inputs: tf.Tensor[]) => (customGradients ? op(...inputs) : f(inputs, () => {}).value);
}

/**
 * GroupNorm over NHWC x, as torch.nn.GroupNorm: channels split into `groups` contiguous groups,
 * each normalised over (H, W, its channels) with the biased variance, then a per-channel
 * affine; `act` "silu" applies x·σ(x) to the result (the norm → silu pair every resnet uses).
 *
 * One op with a hand-written gradient. The gradient reaches gamma and beta (dγ = Σ_{N,H,W} dz·x̂,
 * dβ = Σ_{N,H,W} dz, z the pre-activation) when they are trainable variables; frozen, they are
 * constants and only dx is computed. On wasm and cpu, forward and backward are each one fused
 * kernel (Dd3dGroupNorm, Dd3dGroupNormGrad: a few loops over the data instead of about 48 tfjs
 * kernels per norm; the forward numbers on wasm are bitwise the tfjs ops'). Elsewhere, with
 * `setFusedKernels(false)`, or with custom gradients off (the autodiff reference), it runs as
 * tfjs ops (`groupNormOps`).
 */
export function groupNorm(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  groups: number,
  eps: number,
  act: 'none' | 'silu' = 'none',
): tf.Tensor4D {
  if (!useFused('Dd3dGroupNorm')) return groupNormOps(x, gamma, beta, groups, eps, act);
  const c = x.shape[3];
  if (c % groups !== 0) throw new Dd3dError(`groupNorm: ${c} channels do not split into ${groups} groups`);
  const silu = act === 'silu';
  const learn = isTrainable(gamma) || isTrainable(beta);
  // gamma and beta are inputs of the op only when trainable: tf asks no gradient of a constant.
  const op = customOp((inputs, save) => {
    const [xi, gi = gamma, bi = beta] = inputs;
    // (tf.engine().runKernel inline, not behind a helper: the profiler attributes kernels to the innermost named model function.)
    const [y, stats, s] = tf.engine().runKernel('Dd3dGroupNorm', { x: xi, gamma: gi, beta: bi }, { groups, eps, silu }) as unknown as tf.Tensor[];
    save(silu ? [xi, stats, s] : [xi, stats]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sstats, ss] = saved;
        const inputs = { dy, x: sx, gamma: gi, beta: bi, stats: sstats, ...(silu ? { s: ss } : {}) };
        // dx, and dγ, dβ when learning.
        return tf.engine().runKernel('Dd3dGroupNormGrad', inputs, { groups, silu, learn }) as unknown as tf.Tensor[];
      },
    };
  });
  return (learn ? op(x, gamma, beta) : op(x)) as tf.Tensor4D;
}

/** `groupNorm` as tfjs ops, with its hand-written gradient in tfjs ops (see `groupNorm`). */
function groupNormOps(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  groups: number,
  eps: number,
  act: 'none' | 'silu',
): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const cg = c / groups;
  const grouped = [n, h * w, groups, cg];
  const gm = gamma.reshape([1, 1, groups, cg]);
  const bt = beta.reshape([1, 1, groups, cg]);
  const learn = isTrainable(gamma) || isTrainable(beta);
  // gamma and beta are inputs of the op only when trainable: tf asks no gradient of a constant.
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
        if (!learn) {
          const coef = tf.mul(tf.pow(sr, 3), tf.mean(tf.mul(g, sd), [1, 3], true));
          return [tf.sub(centred, tf.mul(sd, coef)).reshape([n, h, w, c])];
        }
        // Σ_{H,W} dz·d per sample and channel serves both mean(g·d) = Σ_c γ·(Σ_{H,W} dz·d) / (H·W·cg)
        // and dγ = Σ_N r·(Σ_{H,W} dz·d): one full-size product, as the frozen path.
        const dzd = tf.sum(tf.mul(dz, sd), 1, true);
        const coef = tf.mul(tf.pow(sr, 3), tf.div(tf.sum(tf.mul(dzd, gm), 3, true), h * w * cg));
        const dx = tf.sub(centred, tf.mul(sd, coef)).reshape([n, h, w, c]);
        const dbeta = columnSum(dz.reshape([-1, c]) as tf.Tensor2D).reshape([1, 1, groups, cg]);
        return [dx, tf.sum(tf.mul(dzd, sr), 0, true), dbeta];
      },
    };
  });
  return (learn ? op(x, gm, bt) : op(x)) as tf.Tensor4D;
}

/**
 * LayerNorm over the last axis (biased variance, as torch.nn.LayerNorm) as one op with a
 * hand-written gradient; it reaches gamma and beta (dγ = Σ dy·x̂, dβ = Σ dy over the leading
 * axes) when they are trainable variables, else they are constants and only dx is computed.
 * On wasm and cpu, forward and backward are each one fused kernel (Dd3dLayerNorm,
 * Dd3dLayerNormGrad); as for `groupNorm`, tfjs ops otherwise (`layerNormLastAxisOps`).
 */
export function layerNormLastAxis(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  if (!useFused('Dd3dLayerNorm')) return layerNormLastAxisOps(x, gamma, beta, eps);
  const learn = isTrainable(gamma) || isTrainable(beta);
  const op = customOp((inputs, save) => {
    const [xi, gi = gamma, bi = beta] = inputs;
    const [y, stats] = tf.engine().runKernel('Dd3dLayerNorm', { x: xi, gamma: gi, beta: bi }, { eps }) as unknown as tf.Tensor[];
    save([xi, stats]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sstats] = saved;
        return tf.engine().runKernel('Dd3dLayerNormGrad', { dy, x: sx, gamma: gi, stats: sstats }, { learn }) as unknown as tf.Tensor[];
      },
    };
  });
  return learn ? op(x, gamma, beta) : op(x);
}

/** `layerNormLastAxis` as tfjs ops, with its hand-written gradient in tfjs ops. */
function layerNormLastAxisOps(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const axis = x.rank - 1;
  const dim = x.shape[axis];
  const learn = isTrainable(gamma) || isTrainable(beta);
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
        const dx = tf.mul(inner, sr);
        if (!learn) return [dx];
        const rows = (t: tf.Tensor) => columnSum(t.reshape([-1, dim]) as tf.Tensor2D);
        return [dx, rows(tf.mul(dy, sx)), rows(dy)];
      },
    };
  });
  return learn ? op(x, gamma, beta) : op(x);
}
