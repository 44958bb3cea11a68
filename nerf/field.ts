/**
 * The radiance field interface and the pieces every field shares: the density "blob" bias,
 * the density activation, seeded dense layers and a tiny MLP runner.
 *
 * Conventions: points are world-space [N, 3]; a field lives in the cube [-bound, bound]^3
 * and is exactly empty outside it, so a renderer may skip everything outside the cube.
 * Fields are differentiable with respect to their variables, not their input points (the
 * renderer's normals use finite differences of density, which needs only the former).
 */
import * as tf from '@tensorflow/tfjs';
import { mulberry32, normals } from '../src/core/random.js';

export interface RadianceField {
  /** The field lives in the cube [-bound, bound]^3; outside it density is 0. */
  readonly bound: number;
  /** points [N,3] world → density [N] (>= 0, after the activation) and albedo [N,3] in [0,1]. Differentiable w.r.t. the field's variables. */
  query(points: tf.Tensor2D): { density: tf.Tensor1D; albedo: tf.Tensor2D };
  /** Density alone (same values as `query(...).density`), skipping the colour head: for normals and occupancy updates. */
  density(points: tf.Tensor2D): tf.Tensor1D;
  /** Trainable variables by stable checkpoint-style names, e.g. "encoding.levels.0", "density_mlp.0.weight". */
  variables(): Map<string, tf.Variable>;
  /** Parameter groups for per-module learning rates: "encoding" | "mlp" | ... -> names in variables(). */
  groups(): Record<string, string[]>;
  dispose(): void;
}

/**
 * The initial "soft ball": blob(x) = density · (1 − ‖x‖ / radius) is added to the raw density
 * before the activation (the Magic3D / threestudio initialization), so a fresh field is a
 * fuzzy sphere at the centre instead of noise, and score distillation starts from an object.
 */
export interface DensityBlob {
  /** Bias at the centre; 0 turns the blob off. Default 10. */
  density: number;
  /** Where the bias crosses 0. Default 0.5. */
  radius: number;
}

/**
 * softplus is gentle and never saturates its gradient downward; `exp` is DreamFusion's
 * truncated exponential (the argument is clamped at 15 so one bad step cannot overflow).
 */
export type DensityActivation = 'softplus' | 'exp';

export const DEFAULT_BLOB: Readonly<DensityBlob> = { density: 10, radius: 0.5 };

/** The exponent clamp for the `exp` activation: exp(15) ≈ 3.3e6 is already opaque at any step size. */
const EXP_CLAMP = 15;

export function activateDensity(raw: tf.Tensor, activation: DensityActivation): tf.Tensor {
  return activation === 'softplus' ? tf.softplus(raw) : tf.exp(tf.minimum(raw, EXP_CLAMP));
}

/**
 * Per-point constants the fields need, computed on the CPU from the point coordinates:
 * the blob bias and a 0/1 mask of points inside the cube. They carry no gradient, which is
 * why fields are not differentiable with respect to the points.
 */
export function blobAndInside(xyz: Float32Array, bound: number, blob: DensityBlob): { bias: Float32Array; inside: Float32Array } {
  const n = xyz.length / 3;
  const bias = new Float32Array(n);
  const inside = new Float32Array(n);
  const falloff = blob.density === 0 ? 0 : blob.density / blob.radius;
  for (let i = 0; i < n; i++) {
    const x = xyz[3 * i];
    const y = xyz[3 * i + 1];
    const z = xyz[3 * i + 2];
    bias[i] = blob.density - falloff * Math.sqrt(x * x + y * y + z * z);
    inside[i] = Math.abs(x) <= bound && Math.abs(y) <= bound && Math.abs(z) <= bound ? 1 : 0;
  }
  return { bias, inside };
}

/** density = activation(raw + blob) · inside, as a 1-D tensor. */
export function finishDensity(raw: tf.Tensor, xyz: Float32Array, bound: number, blob: DensityBlob, activation: DensityActivation): tf.Tensor1D {
  const { bias, inside } = blobAndInside(xyz, bound, blob);
  const n = bias.length;
  return tf.mul(activateDensity(tf.add(tf.reshape(raw, [n]), tf.tensor1d(bias)), activation), tf.tensor1d(inside)) as tf.Tensor1D;
}

// ---------------------------------------------------------------------------------------------
// Seeded initialization

/** Mixes a seed with a small integer so that each module draws its own stream. */
export function subSeed(seed: number, k: number): number {
  let h = (seed ^ Math.imul(k + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Dense layers

/** Weights are stored [in, out] so the forward pass is a 2-D untransposed matmul (wasm's fast path). */
export interface DenseLayer {
  weight: tf.Variable;
  bias: tf.Variable;
}

/**
 * An MLP with layer sizes `sizes` (input first), ReLU between layers, linear output, its
 * variables registered in `into` as `${prefix}.${i}.weight` / `.bias`. Hidden layers use He
 * init; the last layer is scaled by `outputScale` so a fresh field starts near the blob.
 */
export function createMlp(prefix: string, sizes: number[], seed: number, into: Map<string, tf.Variable>, outputScale = 1): DenseLayer[] {
  const layers: DenseLayer[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const [fanIn, fanOut] = [sizes[i], sizes[i + 1]];
    const last = i + 2 === sizes.length;
    const std = Math.sqrt(2 / fanIn) * (last ? outputScale : 1);
    const weight = tf.variable(tf.tensor2d(normals(mulberry32(subSeed(seed, i)).next, fanIn * fanOut, std), [fanIn, fanOut]));
    const bias = tf.variable(tf.zeros([fanOut]));
    into.set(`${prefix}.${i}.weight`, weight);
    into.set(`${prefix}.${i}.bias`, bias);
    layers.push({ weight, bias });
  }
  return layers;
}

export function runMlp(layers: DenseLayer[], x: tf.Tensor2D): tf.Tensor2D {
  let h = x;
  layers.forEach((layer, i) => {
    h = dense(h, layer, i < layers.length - 1);
  });
  return h;
}

let fieldKernels = true;

/**
 * Turns the fields' fast paths off (false) or back on; returns the previous setting: the dense
 * layers' hand-written gradient below and GridField's grid-encoding kernels. Off, the fields run
 * as before them (tf.fused.matMul and tf's gradients; the JS blend of grid-field.ts), the
 * reference the tests and `npm run bench -- render` compare against.
 */
export function setFieldKernels(enabled: boolean): boolean {
  const previous = fieldKernels;
  fieldKernels = enabled;
  return previous;
}

/** Whether the fast paths are on (setFieldKernels). */
export function fieldKernelsEnabled(): boolean {
  return fieldKernels;
}

/** Whether ops are being recorded for a gradient now (tf.grad, tf.variableGrads, …). */
function recordingGradients(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

/**
 * x·W + b, then ReLU if `relu`. Without a gradient tape this is tf.fused.matMul. Under one,
 * tf.fused.matMul stops fusing a ReLU layer (matMul, then a broadcasting Add, then Relu) and
 * its gradient sums dy over the rows with a strided Sum: on wasm those two took about 60% of a
 * render's forward and backward at 32×32. Here the forward is the one _FusedMatMul kernel
 * (the same two roundings as matMul then add) and the gradient is written out:
 *   dz = dy · [y > 0],  dx = dz·Wᵀ,  dW = xᵀ·dz,  db = Σ_rows dz
 * (the column sum as dd3d's Dd3dColumnSum kernel, float64 sums, where the backend has it).
 */
function dense(x: tf.Tensor2D, layer: DenseLayer, relu: boolean): tf.Tensor2D {
  const activation = relu ? 'relu' : 'linear';
  if (!fieldKernels || !recordingGradients()) return tf.fused.matMul({ a: x, b: layer.weight as tf.Tensor2D, bias: layer.bias, activation }) as tf.Tensor2D;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, w, b] = args as tf.Tensor2D[];
    const save = args[3] as tf.GradSaveFunc;
    // 3-D operands, as tf.fused.matMul passes them: the stock wasm kernel reads a batch axis.
    const [n, k] = xi.shape;
    const m = w.shape[1];
    const a3 = tf.reshape(xi, [1, n, k]);
    const b3 = tf.reshape(w, [1, k, m]);
    const y3 = tf.engine().runKernel('_FusedMatMul', { a: a3, b: b3, bias: b }, { transposeA: false, transposeB: false, activation, leakyreluAlpha: 0.2 });
    const y = tf.reshape(y3 as tf.Tensor, [n, m]) as tf.Tensor2D;
    save([xi, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved as tf.Tensor2D[];
        const dz = relu ? tf.mul(dy, tf.step(ys)) : dy;
        return [tf.matMul(dz, ws, false, true), tf.matMul(xs, dz, true, false), tf.reshape(columnSum(dz as tf.Tensor2D), b.shape)];
      },
    };
  });
  return op(x, layer.weight, layer.bias) as tf.Tensor2D;
}

/** Σ over the rows of x [R, C] → [C]: the Dd3dColumnSum kernel (src/backend/fused-kernels.ts) where registered, else tf.sum. */
function columnSum(x: tf.Tensor2D): tf.Tensor1D {
  if (tf.getKernel('Dd3dColumnSum', tf.getBackend())) return tf.engine().runKernel('Dd3dColumnSum', { x }, {}) as tf.Tensor1D;
  return tf.sum(x, 0);
}

/** Variables' names that start with one of the prefixes, in insertion order. */
export function namesWithPrefix(vars: Map<string, tf.Variable>, ...prefixes: string[]): string[] {
  return [...vars.keys()].filter((k) => prefixes.some((p) => k.startsWith(p)));
}
