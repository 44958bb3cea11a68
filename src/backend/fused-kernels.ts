/**
 * Fused kernels for the normalisation layers and bias gradients of the image models, on the
 * wasm and cpu backends: GroupNorm (+ optional SiLU) forward and backward, LayerNorm over the
 * last axis forward and backward, and a column sum (Σ over the rows of [R, C]); and for the
 * volume renderer: GridField's grid encoding and its gradient, and the compositing quadrature
 * and its gradient (see their sections below; nerf/ and renderers/ call them by name through
 * tf.engine().runKernel where registered, and run their tf-op paths elsewhere).
 *
 * As tfjs ops, one GroupNorm took about 48 kernel launches (means over [n, hw, groups, cg],
 * each a transpose and a scalar reduction; a dozen elementwise ops broadcasting over that
 * 4-D layout, whose short inner axis XNNPACK runs ~10× below memory speed; the γ/β gradients
 * as ones·dy matmuls that pack dy afresh every call). Here each direction is one kernel:
 *  - sums that the ops did as strided reductions are JS loops over the data, read in place on
 *    the wasm heap (as the Slice/SplitV kernels of wasm-kernels.ts do) or in the cpu backend's
 *    arrays, a block of groups / channels / rows at a time with the running sums in locals;
 *  - the forward's elementwise passes are the backend's own kernels (Sub, Square, Multiply, Add,
 *    Sigmoid: XNNPACK on wasm) called directly, with per-(sample, channel) or per-row operands
 *    of contiguous layout, which they run at memory speed;
 *  - the backward passes are two JS loops (sums of dz and dz·x̂, then dx).
 * Measured on the tiny32 UNet at batch 16 (one forward+backward): GroupNorm 460 → 155 ms,
 * LayerNorm 96 → 46 ms, the bias column sums 122 → 34 ms.
 *
 * Numerics. On wasm the forward replicates the float32 arithmetic of the tfjs ops it replaces,
 * operation for operation (the Mean kernel's sequential float32 sum, in the same order; every
 * elementwise step the same native kernel on the same values), so a model's forward numbers on
 * wasm are bitwise those of the op path (nn.ts's `setCustomGradients(false)` reference). On cpu
 * the forward sums are float64. Backward sums (the means of the gradient, dγ, dβ, the column
 * sum) are float64 everywhere.
 *
 * nn.ts calls these through `tf.engine().runKernel` inside its custom ops, and falls back to
 * the tfjs-op implementation on a backend without them (`hasFusedKernel`).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Info = tf.TensorInfo;
type Attrs = Record<string, unknown>;

export const FUSED_KERNELS = [
  'Dd3dGroupNorm',
  'Dd3dGroupNormGrad',
  'Dd3dLayerNorm',
  'Dd3dLayerNormGrad',
  'Dd3dColumnSum',
  'Dd3dGridEncode',
  'Dd3dGridEncodeGrad',
  'Dd3dComposite',
  'Dd3dCompositeGrad',
] as const;
export type FusedKernelName = (typeof FUSED_KERNELS)[number];

const FUSED_BACKENDS = ['wasm', 'cpu'] as const;

/** Whether `name` is registered for the active backend. */
export function hasFusedKernel(name: FusedKernelName): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

// ---------------------------------------------------------------------------------------------
// Data access: one small interface over the wasm heap and the cpu backend's arrays.

interface Io {
  /** Float32 data of a tensor. On wasm, re-take views after any `alloc` or `run`: heap growth detaches them. */
  view(x: Info): Float32Array;
  alloc(shape: number[]): Info;
  free(...xs: Info[]): void;
  /**
   * Runs the backend's own kernel `name` (Sub, Multiply, Add, Square, Sigmoid: XNNPACK on wasm,
   * with NumPy broadcasting), bypassing the engine: a new tensor the caller frees.
   */
  run(name: string, inputs: Record<string, Info>): Info;
  /** Replicate the wasm kernels' float32 arithmetic in the forward statistics (else float64 sums). */
  exact: boolean;
}

/** A backend's own registered kernel (also native-kernels.ts's route to XNNPACK's elementwise kernels). */
export function backendKernel(name: string, backendName: string): tf.KernelFunc {
  const k = tf.getKernel(name, backendName);
  if (!k) throw new Error(`${backendName} kernel ${name} is not registered`);
  return k.kernelFunc;
}

function wasmIo(backend: BackendWasm): Io {
  return {
    view: (x) => backend.typedArrayFromHeap(x) as Float32Array,
    alloc: (shape) => backend.makeOutput(shape, 'float32'),
    free: (...xs) => {
      for (const x of xs) backend.disposeData(x.dataId);
    },
    run: (name, inputs) => backendKernel(name, 'wasm')({ inputs, backend, attrs: {} }) as Info,
    exact: true,
  };
}

interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): Info;
  disposeData(dataId: object): void;
}

function cpuIo(backend: CpuBackendLike): Io {
  return {
    view: (x) => backend.data.get(x.dataId).values as Float32Array,
    alloc: (shape) => backend.makeTensorInfo(shape, 'float32', new Float32Array(size(shape))),
    free: (...xs) => {
      for (const x of xs) backend.disposeData(x.dataId);
    },
    run: (name, inputs) => backendKernel(name, 'cpu')({ inputs, backend: backend as unknown as tf.KernelBackend, attrs: {} }) as Info,
    exact: false,
  };
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function requireFloat32(kernel: string, ...xs: Info[]): void {
  for (const x of xs) if (x.dtype !== 'float32') throw new Error(`${kernel}: float32 inputs only (got ${x.dtype})`);
}

const fround = Math.fround;

// ---------------------------------------------------------------------------------------------
// GroupNorm
//
// Layout: x is [n, hw, c] (NHWC flattened), channels in `groups` contiguous groups of cg.
// The loops keep per-channel constants and sums in locals, a block of channels at a time over
// the rows of one sample (one sample's plane stays in cache): per-element lookups in small
// per-channel arrays, and float32 sums carried through typed arrays, cost 2–4× more in V8.

/**
 * Σ per (sample, group) of src [n, hw, c] into sums [n·groups].
 *
 * Exact mode is the float32 arithmetic of the op path on wasm: tf.mean over axes [1, 3] of
 * [n, hw, groups, cg] transposes to [n, groups, hw, cg] and sums each row sequentially in
 * float32. One float32 chain per group, fed in that order (positions, then the group's
 * channels), gives the same sums; four groups at a time keep four chains in flight.
 * Otherwise float64 sums per channel, then per group.
 */
function groupSums(src: Float32Array, sums: Float64Array, n: number, hw: number, c: number, groups: number, exact: boolean): void {
  const cg = c / groups;
  const plane = hw * c;
  if (!exact) {
    const acc = new Float64Array(c);
    for (let b = 0; b < n; b++) {
      acc.fill(0);
      for (let o = b * plane; o < (b + 1) * plane; o += c) for (let k = 0; k < c; k++) acc[k] += src[o + k];
      for (let g = 0; g < groups; g++) {
        let t = 0;
        for (let k = g * cg; k < (g + 1) * cg; k++) t += acc[k];
        sums[b * groups + g] = t;
      }
    }
    return;
  }
  for (let b = 0; b < n; b++) {
    const end = (b + 1) * plane;
    let g = 0;
    for (; g + 4 <= groups; g += 4) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let o = b * plane + g * cg; o < end; o += c)
        for (let j = o; j < o + cg; j++) {
          s0 = fround(s0 + src[j]);
          s1 = fround(s1 + src[j + cg]);
          s2 = fround(s2 + src[j + 2 * cg]);
          s3 = fround(s3 + src[j + 3 * cg]);
        }
      sums[b * groups + g] = s0;
      sums[b * groups + g + 1] = s1;
      sums[b * groups + g + 2] = s2;
      sums[b * groups + g + 3] = s3;
    }
    for (; g < groups; g++) {
      let s0 = 0;
      for (let o = b * plane + g * cg; o < end; o += c) for (let j = o; j < o + cg; j++) s0 = fround(s0 + src[j]);
      sums[b * groups + g] = s0;
    }
  }
}

/** A [n, 1, …, 1, c] tensor (broadcast over x's spatial axes) with value(b, k) at sample b, channel k. */
function perSampleChannel(io: Io, xShape: number[], value: (b: number, k: number) => number): Info {
  const n = xShape[0];
  const c = xShape[xShape.length - 1];
  const t = io.alloc(xShape.length === 1 ? [c] : [n, ...xShape.slice(1, -1).map(() => 1), c]);
  const v = io.view(t);
  for (let b = 0; b < n; b++) for (let k = 0; k < c; k++) v[b * c + k] = value(b, k);
  return t;
}

/**
 * Dd3dGroupNorm: inputs x [n, …, c] (NHWC: every axis between the first and the last is
 * spatial), gamma and beta (c values, any shape); attrs groups, eps, silu.
 * Outputs y (x's shape), stats [n, groups, 2] (mean, 1/√(var + eps)) and, with silu, s = σ(z)
 * (x's shape): what the backward kernel needs besides x.
 *
 * The two group sums (of x, then of the squared deviations) are JS loops; the elementwise
 * passes are the backend's own kernels on [n, …, c] with per-(sample, channel) operands, which
 * XNNPACK runs at memory speed (the op path's [n, hw, groups, cg] broadcasts are 10× slower).
 * On wasm each step rounds as the op path's does, so the output is bitwise the same:
 *   d = x − mean, r = 1/√(mean(d²) + eps), z = d·(r·γ) + β, y = z·σ(z) (σ the native kernel).
 */
function groupNormForward(io: Io, inputs: Record<string, Info>, attrs: Attrs): Info[] {
  const { x, gamma, beta } = inputs;
  requireFloat32('Dd3dGroupNorm', x, gamma, beta);
  const groups = attrs.groups as number;
  const eps = attrs.eps as number;
  const silu = Boolean(attrs.silu);
  const n = x.shape[0];
  const c = x.shape[x.shape.length - 1];
  const hw = size(x.shape) / (n * c);
  if (x.shape.length < 2 || c % groups !== 0 || size(gamma.shape) !== c || size(beta.shape) !== c) {
    throw new Error(`Dd3dGroupNorm: x [${x.shape}], ${groups} groups, gamma [${gamma.shape}], beta [${beta.shape}]`);
  }
  const cg = c / groups;
  const count = hw * cg;
  const exact = io.exact;
  const sums = new Float64Array(n * groups);
  const mean = new Float64Array(n * groups);
  const rstd = new Float64Array(n * groups);

  groupSums(io.view(x), sums, n, hw, c, groups, exact);
  for (let i = 0; i < n * groups; i++) mean[i] = exact ? fround(sums[i] / count) : sums[i] / count;
  const meanT = perSampleChannel(io, x.shape, (b, k) => mean[b * groups + ((k / cg) | 0)]);
  const d = io.run('Sub', { a: x, b: meanT });
  const sq = io.run('Square', { x: d });
  groupSums(io.view(sq), sums, n, hw, c, groups, exact);
  io.free(sq, meanT);
  const epsf = fround(eps);
  for (let i = 0; i < n * groups; i++) {
    rstd[i] = exact ? fround(1 / fround(Math.sqrt(fround(fround(sums[i] / count) + epsf)))) : 1 / Math.sqrt(sums[i] / count + eps);
  }
  const g = io.view(gamma).slice();
  const bt = io.view(beta).slice();
  const scale = perSampleChannel(io, x.shape, (b, k) => fround(rstd[b * groups + ((k / cg) | 0)] * g[k]));
  const shift = perSampleChannel(io, x.shape, (_, k) => bt[k]);
  const stats = io.alloc([n, groups, 2]);
  const st = io.view(stats);
  for (let i = 0; i < n * groups; i++) {
    st[2 * i] = mean[i];
    st[2 * i + 1] = rstd[i];
  }
  const t = io.run('Multiply', { a: d, b: scale });
  io.free(d, scale);
  const z = io.run('Add', { a: t, b: shift });
  io.free(t, shift);
  if (!silu) return [z, stats];
  const s = io.run('Sigmoid', { x: z });
  const y = io.run('Multiply', { a: z, b: s });
  io.free(z);
  return [y, stats, s];
}

/**
 * The GroupNorm gradient, float64 sums. With x̂ = (x − mean)·r, dz = dy (or dy·σ'(z)·… for
 * SiLU) and g = dz·γ, per (sample, group):
 *   dx = r·(g − mean(g) − x̂·mean(g·x̂)),
 * and over every sample and position, per channel: dγ = Σ dz·x̂, dβ = Σ dz.
 * Pass 1 per sample writes dz into dx and sums Σ dz and Σ dz·x̂ per channel (two channels at a
 * time down the rows); pass 2 turns dz into dx with per-channel coefficients (four at a time):
 *   dx = (rγ)·dz − r²·mean(g·x̂)·x + (r²·mean(g·x̂)·mean − r·mean(g)).
 */
function groupNormBackwardLoops(
  dy: Float32Array,
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  stats: Float32Array,
  s: Float32Array | null,
  dx: Float32Array,
  dgamma: Float64Array | null,
  dbeta: Float64Array | null,
  n: number,
  hw: number,
  c: number,
  groups: number,
): void {
  const cg = c / groups;
  const count = hw * cg;
  const plane = hw * c;
  const meanC = new Float64Array(c);
  const rC = new Float64Array(c);
  const sumDz = new Float64Array(c);
  const sumDzXh = new Float64Array(c);
  const coefA = new Float64Array(c);
  const coefX = new Float64Array(c);
  const coefB = new Float64Array(c);
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < c; k++) {
      const q = (b * groups + ((k / cg) | 0)) * 2;
      meanC[k] = stats[q];
      rC[k] = stats[q + 1];
    }
    const start = b * plane;
    const end = start + plane;
    if (s) siluGradSums(dy, x, gamma, beta, s, dx, meanC, rC, sumDz, sumDzXh, start, end, c);
    else plainGradSums(dy, x, dx, meanC, rC, sumDz, sumDzXh, start, end, c);
    for (let g = 0; g < groups; g++) {
      let sg = 0;
      let sgx = 0;
      for (let k = g * cg; k < (g + 1) * cg; k++) {
        sg += gamma[k] * sumDz[k];
        sgx += gamma[k] * sumDzXh[k];
      }
      const mg = sg / count;
      const mgx = sgx / count;
      for (let k = g * cg; k < (g + 1) * cg; k++) {
        const r = rC[k];
        coefA[k] = r * gamma[k];
        coefX[k] = -r * r * mgx;
        coefB[k] = r * r * mgx * meanC[k] - r * mg;
      }
    }
    if (dgamma && dbeta) {
      for (let k = 0; k < c; k++) {
        dgamma[k] += sumDzXh[k];
        dbeta[k] += sumDz[k];
      }
    }
    let k = 0;
    for (; k + 4 <= c; k += 4) {
      const a0 = coefA[k];
      const a1 = coefA[k + 1];
      const a2 = coefA[k + 2];
      const a3 = coefA[k + 3];
      const x0 = coefX[k];
      const x1 = coefX[k + 1];
      const x2 = coefX[k + 2];
      const x3 = coefX[k + 3];
      const b0 = coefB[k];
      const b1 = coefB[k + 1];
      const b2 = coefB[k + 2];
      const b3 = coefB[k + 3];
      for (let i = start + k; i < end; i += c) {
        dx[i] = a0 * dx[i] + x0 * x[i] + b0;
        dx[i + 1] = a1 * dx[i + 1] + x1 * x[i + 1] + b1;
        dx[i + 2] = a2 * dx[i + 2] + x2 * x[i + 2] + b2;
        dx[i + 3] = a3 * dx[i + 3] + x3 * x[i + 3] + b3;
      }
    }
    for (; k < c; k++) {
      const a0 = coefA[k];
      const x0 = coefX[k];
      const b0 = coefB[k];
      for (let i = start + k; i < end; i += c) dx[i] = a0 * dx[i] + x0 * x[i] + b0;
    }
  }
}

/** Pass 1 with SiLU: dz = dy·σ(z)·(1 + z·(1 − σ(z))), z = x̂γ + β recomputed, σ(z) saved. */
function siluGradSums(
  dy: Float32Array,
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  s: Float32Array,
  dx: Float32Array,
  meanC: Float64Array,
  rC: Float64Array,
  sumDz: Float64Array,
  sumDzXh: Float64Array,
  start: number,
  end: number,
  c: number,
): void {
  let k = 0;
  for (; k + 2 <= c; k += 2) {
    const m0 = meanC[k];
    const m1 = meanC[k + 1];
    const r0 = rC[k];
    const r1 = rC[k + 1];
    const g0 = gamma[k];
    const g1 = gamma[k + 1];
    const b0 = beta[k];
    const b1 = beta[k + 1];
    let d0 = 0;
    let d1 = 0;
    let e0 = 0;
    let e1 = 0;
    for (let i = start + k; i < end; i += c) {
      const xh0 = (x[i] - m0) * r0;
      const xh1 = (x[i + 1] - m1) * r1;
      const z0 = xh0 * g0 + b0;
      const z1 = xh1 * g1 + b1;
      const s0 = s[i];
      const s1 = s[i + 1];
      const dz0 = dy[i] * s0 * (1 + z0 * (1 - s0));
      const dz1 = dy[i + 1] * s1 * (1 + z1 * (1 - s1));
      dx[i] = dz0;
      dx[i + 1] = dz1;
      d0 += dz0;
      d1 += dz1;
      e0 += dz0 * xh0;
      e1 += dz1 * xh1;
    }
    sumDz[k] = d0;
    sumDz[k + 1] = d1;
    sumDzXh[k] = e0;
    sumDzXh[k + 1] = e1;
  }
  for (; k < c; k++) {
    const m0 = meanC[k];
    const r0 = rC[k];
    const g0 = gamma[k];
    const b0 = beta[k];
    let d0 = 0;
    let e0 = 0;
    for (let i = start + k; i < end; i += c) {
      const xh0 = (x[i] - m0) * r0;
      const z0 = xh0 * g0 + b0;
      const s0 = s[i];
      const dz0 = dy[i] * s0 * (1 + z0 * (1 - s0));
      dx[i] = dz0;
      d0 += dz0;
      e0 += dz0 * xh0;
    }
    sumDz[k] = d0;
    sumDzXh[k] = e0;
  }
}

/** Pass 1 without activation: dz = dy. */
function plainGradSums(
  dy: Float32Array,
  x: Float32Array,
  dx: Float32Array,
  meanC: Float64Array,
  rC: Float64Array,
  sumDz: Float64Array,
  sumDzXh: Float64Array,
  start: number,
  end: number,
  c: number,
): void {
  let k = 0;
  for (; k + 2 <= c; k += 2) {
    const m0 = meanC[k];
    const m1 = meanC[k + 1];
    const r0 = rC[k];
    const r1 = rC[k + 1];
    let d0 = 0;
    let d1 = 0;
    let e0 = 0;
    let e1 = 0;
    for (let i = start + k; i < end; i += c) {
      const dz0 = dy[i];
      const dz1 = dy[i + 1];
      dx[i] = dz0;
      dx[i + 1] = dz1;
      d0 += dz0;
      d1 += dz1;
      e0 += dz0 * (x[i] - m0) * r0;
      e1 += dz1 * (x[i + 1] - m1) * r1;
    }
    sumDz[k] = d0;
    sumDz[k + 1] = d1;
    sumDzXh[k] = e0;
    sumDzXh[k + 1] = e1;
  }
  for (; k < c; k++) {
    const m0 = meanC[k];
    const r0 = rC[k];
    let d0 = 0;
    let e0 = 0;
    for (let i = start + k; i < end; i += c) {
      const dz0 = dy[i];
      dx[i] = dz0;
      d0 += dz0;
      e0 += dz0 * (x[i] - m0) * r0;
    }
    sumDz[k] = d0;
    sumDzXh[k] = e0;
  }
}

/**
 * Dd3dGroupNormGrad: inputs dy, x, gamma, beta, stats (from Dd3dGroupNorm) and, with silu, s;
 * attrs groups, silu, learn. Outputs dx and, with learn, dγ and dβ (each gamma's shape).
 */
function groupNormBackward(io: Io, inputs: Record<string, Info>, attrs: Attrs): Info[] {
  const { dy, x, gamma, beta, stats, s } = inputs;
  const groups = attrs.groups as number;
  const silu = Boolean(attrs.silu);
  const learn = Boolean(attrs.learn);
  if (silu && !s) throw new Error('Dd3dGroupNormGrad: silu needs s');
  requireFloat32('Dd3dGroupNormGrad', dy, x, gamma, beta, stats);
  const n = x.shape[0];
  const c = x.shape[x.shape.length - 1];
  const hw = size(x.shape) / (n * c);
  const dx = io.alloc(x.shape);
  const dgamma = learn ? new Float64Array(c) : null;
  const dbeta = learn ? new Float64Array(c) : null;
  groupNormBackwardLoops(
    io.view(dy),
    io.view(x),
    io.view(gamma),
    io.view(beta),
    io.view(stats),
    silu ? io.view(s) : null,
    io.view(dx),
    dgamma,
    dbeta,
    n,
    hw,
    c,
    groups,
  );
  if (!learn) return [dx];
  return [dx, fromFloat64(io, dgamma!, gamma.shape), fromFloat64(io, dbeta!, beta.shape)];
}

function fromFloat64(io: Io, values: Float64Array, shape: number[]): Info {
  const out = io.alloc(shape);
  io.view(out).set(values);
  return out;
}

// ---------------------------------------------------------------------------------------------
// LayerNorm over the last axis

/** Σ of every row of src [rows, dim] into sums; exact: sequential float32 chains, four rows in flight. */
function rowSums(src: Float32Array, sums: Float64Array, rows: number, dim: number, exact: boolean): void {
  let r = 0;
  if (exact) {
    for (; r + 4 <= rows; r += 4) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let j = r * dim; j < (r + 1) * dim; j++) {
        s0 = fround(s0 + src[j]);
        s1 = fround(s1 + src[j + dim]);
        s2 = fround(s2 + src[j + 2 * dim]);
        s3 = fround(s3 + src[j + 3 * dim]);
      }
      sums[r] = s0;
      sums[r + 1] = s1;
      sums[r + 2] = s2;
      sums[r + 3] = s3;
    }
  }
  for (; r < rows; r++) {
    let s0 = 0;
    if (exact) for (let j = r * dim; j < (r + 1) * dim; j++) s0 = fround(s0 + src[j]);
    else for (let j = r * dim; j < (r + 1) * dim; j++) s0 += src[j];
    sums[r] = s0;
  }
}

/**
 * Dd3dLayerNorm: inputs x [..., d], gamma and beta (d values); attr eps. Outputs y and stats
 * [rows, 2] (mean, 1/√(var + eps) per row). As for GroupNorm, the row sums are JS loops and the
 * elementwise passes the backend's kernels, each rounding as the op path's does on wasm:
 * d = x − mean, r = 1/√(mean(d²) + eps), x̂ = d·r, y = x̂·γ + β.
 */
function layerNormForward(io: Io, inputs: Record<string, Info>, attrs: Attrs): Info[] {
  const { x, gamma, beta } = inputs;
  requireFloat32('Dd3dLayerNorm', x, gamma, beta);
  const eps = attrs.eps as number;
  const dim = x.shape[x.shape.length - 1];
  const rows = size(x.shape) / dim;
  if (size(gamma.shape) !== dim || size(beta.shape) !== dim) {
    throw new Error(`Dd3dLayerNorm: last axis ${dim}, gamma [${gamma.shape}], beta [${beta.shape}]`);
  }
  const exact = io.exact;
  const rowShape = [...x.shape.slice(0, -1), 1];
  const sums = new Float64Array(rows);
  rowSums(io.view(x), sums, rows, dim, exact);
  const stats = io.alloc([rows, 2]);
  const meanT = io.alloc(rowShape);
  {
    const m = io.view(meanT);
    for (let r = 0; r < rows; r++) m[r] = exact ? fround(sums[r] / dim) : sums[r] / dim;
  }
  const d = io.run('Sub', { a: x, b: meanT });
  const sq = io.run('Square', { x: d });
  rowSums(io.view(sq), sums, rows, dim, exact);
  io.free(sq);
  const rT = io.alloc(rowShape);
  {
    const rv = io.view(rT);
    const m = io.view(meanT);
    const st = io.view(stats);
    const epsf = fround(eps);
    for (let r = 0; r < rows; r++) {
      rv[r] = exact ? fround(1 / fround(Math.sqrt(fround(fround(sums[r] / dim) + epsf)))) : 1 / Math.sqrt(sums[r] / dim + eps);
      st[2 * r] = m[r];
      st[2 * r + 1] = rv[r];
    }
  }
  const xhat = io.run('Multiply', { a: d, b: rT });
  io.free(d, meanT, rT);
  // γ and β as [d] vectors, whatever shape they came in.
  const g = gamma.shape.length === 1 ? gamma : { ...gamma, shape: [dim] };
  const bt = beta.shape.length === 1 ? beta : { ...beta, shape: [dim] };
  const t = io.run('Multiply', { a: xhat, b: g });
  io.free(xhat);
  const y = io.run('Add', { a: t, b: bt });
  io.free(t);
  return [y, stats];
}

/**
 * Dd3dLayerNormGrad: inputs dy, x, gamma, stats; attr learn. Per row, with x̂ = (x − mean)·r
 * and g = dy·γ: dx = r·(g − mean(g) − x̂·mean(g·x̂)); with learn also dγ = Σ_rows dy·x̂ and
 * dβ = Σ_rows dy (gamma's shape). Float64 sums.
 */
function layerNormBackward(io: Io, inputs: Record<string, Info>, attrs: Attrs): Info[] {
  const { dy, x, gamma, stats } = inputs;
  requireFloat32('Dd3dLayerNormGrad', dy, x, gamma, stats);
  const learn = Boolean(attrs.learn);
  const dim = x.shape[x.shape.length - 1];
  const rows = size(x.shape) / dim;
  const dx = io.alloc(x.shape);
  const dyv = io.view(dy);
  const xv = io.view(x);
  const gm = io.view(gamma);
  const st = io.view(stats);
  const dxv = io.view(dx);
  const dgamma = learn ? new Float64Array(dim) : null;
  const dbeta = learn ? new Float64Array(dim) : null;
  layerNormGradRows(dyv, xv, gm, st, dxv, dgamma, dbeta, rows, dim);
  if (!learn) return [dx];
  return [dx, fromFloat64(io, dgamma!, gamma.shape), fromFloat64(io, dbeta!, gamma.shape)];
}

/**
 * Two rows at a time: pass 1 sums Σ g and Σ g·x̂ per row (g = dy·γ) and adds both rows' dy·x̂
 * and dy to dγ, dβ (one read-modify-write of each per two rows); pass 2 writes
 * dx = (rγ)·dy − r²·mean(g·x̂)·x + (r²·mean(g·x̂)·mean − r·mean(g)).
 */
function layerNormGradRows(
  dy: Float32Array,
  x: Float32Array,
  gamma: Float32Array,
  stats: Float32Array,
  dx: Float32Array,
  dgamma: Float64Array | null,
  dbeta: Float64Array | null,
  rows: number,
  dim: number,
): void {
  let row = 0;
  for (; row + 2 <= rows; row += 2) {
    const o0 = row * dim;
    const o1 = o0 + dim;
    const m0 = stats[2 * row];
    const r0 = stats[2 * row + 1];
    const m1 = stats[2 * row + 2];
    const r1 = stats[2 * row + 3];
    let sg0 = 0;
    let sg1 = 0;
    let sx0 = 0;
    let sx1 = 0;
    if (dgamma && dbeta) {
      for (let j = 0; j < dim; j++) {
        const gj = gamma[j];
        const d0 = dy[o0 + j];
        const d1 = dy[o1 + j];
        const xh0 = (x[o0 + j] - m0) * r0;
        const xh1 = (x[o1 + j] - m1) * r1;
        sg0 += d0 * gj;
        sg1 += d1 * gj;
        sx0 += d0 * gj * xh0;
        sx1 += d1 * gj * xh1;
        dgamma[j] += d0 * xh0 + d1 * xh1;
        dbeta[j] += d0 + d1;
      }
    } else {
      for (let j = 0; j < dim; j++) {
        const gj = gamma[j];
        const d0 = dy[o0 + j] * gj;
        const d1 = dy[o1 + j] * gj;
        sg0 += d0;
        sg1 += d1;
        sx0 += d0 * (x[o0 + j] - m0) * r0;
        sx1 += d1 * (x[o1 + j] - m1) * r1;
      }
    }
    const cx0 = (-r0 * r0 * sx0) / dim;
    const cx1 = (-r1 * r1 * sx1) / dim;
    const cb0 = -cx0 * m0 - (r0 * sg0) / dim;
    const cb1 = -cx1 * m1 - (r1 * sg1) / dim;
    for (let j = 0; j < dim; j++) {
      const gj = gamma[j];
      dx[o0 + j] = r0 * gj * dy[o0 + j] + cx0 * x[o0 + j] + cb0;
      dx[o1 + j] = r1 * gj * dy[o1 + j] + cx1 * x[o1 + j] + cb1;
    }
  }
  for (; row < rows; row++) {
    const o = row * dim;
    const m = stats[2 * row];
    const r = stats[2 * row + 1];
    let sg = 0;
    let sx = 0;
    for (let j = 0; j < dim; j++) {
      const d = dy[o + j];
      const xh = (x[o + j] - m) * r;
      sg += d * gamma[j];
      sx += d * gamma[j] * xh;
      if (dgamma && dbeta) {
        dgamma[j] += d * xh;
        dbeta[j] += d;
      }
    }
    const cx = (-r * r * sx) / dim;
    const cb = -cx * m - (r * sg) / dim;
    for (let j = 0; j < dim; j++) dx[o + j] = r * gamma[j] * dy[o + j] + cx * x[o + j] + cb;
  }
}

// ---------------------------------------------------------------------------------------------
// Column sum

/** Dd3dColumnSum: x [R, C] → [C], Σ over the rows in float64. */
function columnSumKernel(io: Io, inputs: Record<string, Info>): Info {
  const { x } = inputs;
  requireFloat32('Dd3dColumnSum', x);
  if (x.shape.length !== 2) throw new Error(`Dd3dColumnSum: x must be 2-D, got [${x.shape}]`);
  const [rows, cols] = x.shape;
  const acc = new Float64Array(cols);
  const xv = io.view(x);
  let row = 0;
  // Eight rows per read-modify-write of the sums.
  for (; row + 8 <= rows; row += 8) {
    const o = row * cols;
    for (let j = o; j < o + cols; j++) {
      acc[j - o] += xv[j] + xv[j + cols] + xv[j + 2 * cols] + xv[j + 3 * cols] + xv[j + 4 * cols] + xv[j + 5 * cols] + xv[j + 6 * cols] + xv[j + 7 * cols];
    }
  }
  for (; row < rows; row++) {
    const o = row * cols;
    for (let j = 0; j < cols; j++) acc[j] += xv[o + j];
  }
  return fromFloat64(io, acc, [cols]);
}

// ---------------------------------------------------------------------------------------------
// Grid encoding (nerf/grid-field.ts's multi-resolution trilinear blend)
//
// Level l is a table [r_l³, F] of vertex features, x-fastest, its r_l vertices per axis spanning
// [-bound, bound]. A point's cell and weights, per axis: u = clamp((x + bound)·(r − 1)/(2·bound),
// 0, r − 1), i = min(⌊u⌋, r − 2), f = u − i (float64); corner c = (dx, dy, dz) = bits (0, 1, 2)
// of c has the float32 weight (dx ? fx : 1 − fx)·(dy ? fy : 1 − fy)·(dz ? fz : 1 − fz). Points
// outside the cube are clamped onto it (the field zeroes their density elsewhere); a NaN
// coordinate puts the point in cell 0 along that axis with NaN weights.
//   Dd3dGridEncode      inputs points [N, 3], t0 … t{L−1}; attrs bound, resolutions → [N, L·F]
//                       out[p, l·F + j] = Σ_c w_c · t_l[corner c, j], corners in order
//   Dd3dGridEncodeGrad  inputs dy [N, L·F], points; attrs bound, resolutions → L tables
//                       grad_l[corner c, j] += w_c · dy[p, l·F + j], points ascending, then corners
// Every sum is a float32 accumulator with each step rounded once from float64 (a product of two
// float32s is exact in float64), in the order above: the arithmetic of grid-field.ts's JS loops
// before these kernels, which the native ones (native-kernels.ts) repeat bit for bit.

/** Writes the 8 corner rows and weights of point xyz[3p..] in a grid of r³ vertices into index/weight[0..8). */
function gridCorners(xyz: Float32Array, p: number, bound: number, r: number, index: Int32Array, weight: Float32Array): void {
  const scale = (r - 1) / (2 * bound);
  const ux = Math.min(Math.max((xyz[3 * p] + bound) * scale, 0), r - 1);
  const uy = Math.min(Math.max((xyz[3 * p + 1] + bound) * scale, 0), r - 1);
  const uz = Math.min(Math.max((xyz[3 * p + 2] + bound) * scale, 0), r - 1);
  const ix = Math.min(Math.floor(ux), r - 2);
  const iy = Math.min(Math.floor(uy), r - 2);
  const iz = Math.min(Math.floor(uz), r - 2);
  const fx = ux - ix;
  const fy = uy - iy;
  const fz = uz - iz;
  // `| 0`: a NaN coordinate's cell is 0 (as when trilinearCorners stored it in an Int32Array), its weights NaN.
  const base = (ix | 0) + r * ((iy | 0) + r * (iz | 0));
  for (let c = 0; c < 8; c++) {
    const dx = c & 1;
    const dy = (c >> 1) & 1;
    const dz = (c >> 2) & 1;
    index[c] = base + dx + r * (dy + r * dz);
    weight[c] = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy) * (dz ? fz : 1 - fz);
  }
}

function gridAttrs(kernel: string, attrs: Attrs, tables: number): { bound: number; resolutions: number[] } {
  const bound = attrs.bound as number;
  const resolutions = attrs.resolutions as number[];
  if (!(bound > 0) || !Array.isArray(resolutions) || resolutions.length !== tables || resolutions.some((r) => !Number.isInteger(r) || r < 2))
    throw new Error(`${kernel}: bad attrs (bound ${bound}, resolutions [${resolutions}]) for ${tables} levels`);
  return { bound, resolutions };
}

function gridEncodeKernel(io: Io, inputs: Record<string, Info>, attrs: Attrs): Info {
  const { points } = inputs;
  const levels = Object.keys(inputs).length - 1;
  const tables = Array.from({ length: levels }, (_, l) => inputs[`t${l}`]);
  const { bound, resolutions } = gridAttrs('Dd3dGridEncode', attrs, levels);
  requireFloat32('Dd3dGridEncode', points, ...tables);
  const f = tables[0].shape[1];
  const n = points.shape[0];
  tables.forEach((t, l) => {
    if (t.shape.length !== 2 || t.shape[0] !== resolutions[l] ** 3 || t.shape[1] !== f) throw new Error(`Dd3dGridEncode: table ${l} is [${t.shape}]`);
  });
  const width = levels * f;
  const out = io.alloc([n, width]);
  const xyz = io.view(points);
  const o = io.view(out);
  const index = new Int32Array(8);
  const weight = new Float32Array(8);
  for (let l = 0; l < levels; l++) {
    const src = io.view(tables[l]);
    const r = resolutions[l];
    for (let p = 0; p < n; p++) {
      gridCorners(xyz, p, bound, r, index, weight);
      const q = p * width + l * f;
      for (let j = 0; j < f; j++) o[q + j] = 0;
      for (let c = 0; c < 8; c++) {
        const w = weight[c];
        const s0 = index[c] * f;
        for (let j = 0; j < f; j++) o[q + j] += w * src[s0 + j];
      }
    }
  }
  return out;
}

function gridEncodeGradKernel(io: Io, inputs: Record<string, Info>, attrs: Attrs): Info[] {
  const { dy, points } = inputs;
  requireFloat32('Dd3dGridEncodeGrad', dy, points);
  const f = attrs.features as number;
  const n = points.shape[0];
  const levels = (attrs.resolutions as number[] | undefined)?.length ?? 0;
  const { bound, resolutions } = gridAttrs('Dd3dGridEncodeGrad', attrs, levels);
  const width = levels * f;
  if (!Number.isInteger(f) || f < 1 || dy.shape.length !== 2 || dy.shape[0] !== n || dy.shape[1] !== width)
    throw new Error(`Dd3dGridEncodeGrad: dy [${dy.shape}] for ${n} points, ${levels} levels of ${f}`);
  const grads = resolutions.map((r) => io.alloc([r ** 3, f]));
  const xyz = io.view(points);
  const g = io.view(dy);
  const index = new Int32Array(8);
  const weight = new Float32Array(8);
  for (let l = 0; l < levels; l++) {
    const grad = io.view(grads[l]);
    grad.fill(0);
    const r = resolutions[l];
    for (let p = 0; p < n; p++) {
      gridCorners(xyz, p, bound, r, index, weight);
      const q = p * width + l * f;
      for (let c = 0; c < 8; c++) {
        const w = weight[c];
        const s0 = index[c] * f;
        for (let j = 0; j < f; j++) grad[s0 + j] += w * g[q + j];
      }
    }
  }
  return grads;
}

// ---------------------------------------------------------------------------------------------
// Volume compositing (renderers/volume.ts)
//
// A render's samples, ray-major: sample q = ray·S + i of `rays` rays with S samples each reads row
// slot[q] of table [live, C] (column 0 the density σ, columns 1 … C−1 what is composited: colour,
// and the normal if any) or is dead if slot[q] ≥ live (or < 0). With τ_i = σ_i·δ_i (0 when dead),
// the emission–absorption quadrature along each ray is
//   T_i = exp(−Σ_{j<i} τ_j),  α_i = 1 − exp(−τ_i),  w_i = T_i·α_i,
//   out[ray] = [Σ w_i·c_i (C−1 columns), Σ w_i (opacity), Σ w_i·z_i (depth)]   → [rays, C + 1]
// and its gradient, with g_i = ∂L/∂w_i = Σ_k dy_k·c_ik + dy_opacity + dy_depth·z_i:
//   ∂L/∂c_ik = w_i·dy_k,  ∂L/∂σ_i = δ_i·(g_i·T_i·e^(−τ_i) − Σ_{j>i} g_j·w_j)
// (w_j for j > i falls as −w_j with τ_i; w_i rises as T_i·e^(−τ_i) = T_{i+1}), the sum carried
// backwards along the ray. Per-ray arithmetic is float64, each output rounded once: within a few
// float32 ulps of the tf ops (cumsum, exp, gather) it replaces.
//   Dd3dComposite      inputs table [live, C], slot (int32), delta, z [rays·S]; attrs samplesPerRay → [rays, C + 1]
//   Dd3dCompositeGrad  inputs dy [rays, C + 1], table, slot, delta, z; same attrs → dtable [live, C]

function compositeShapes(kernel: string, table: Info, slot: Info, delta: Info, z: Info, attrs: Attrs): { rays: number; s: number; live: number; c: number } {
  const s = attrs.samplesPerRay as number;
  const total = size(slot.shape);
  if (table.shape.length !== 2 || table.shape[1] < 1 || slot.dtype !== 'int32' || !Number.isInteger(s) || s < 1 || total % s !== 0)
    throw new Error(`${kernel}: table [${table.shape}], slot [${slot.shape}] ${slot.dtype}, samplesPerRay ${s}`);
  if (size(delta.shape) !== total || size(z.shape) !== total) throw new Error(`${kernel}: delta [${delta.shape}] and z [${z.shape}] for ${total} samples`);
  requireFloat32(kernel, table, delta, z);
  return { rays: total / s, s, live: table.shape[0], c: table.shape[1] };
}

function compositeKernel(io: Io, inputs: Record<string, Info>, attrs: Attrs): Info {
  const { table, slot, delta, z } = inputs;
  const { rays, s, live, c } = compositeShapes('Dd3dComposite', table, slot, delta, z, attrs);
  const width = c + 1;
  const out = io.alloc([rays, width]);
  const o = io.view(out);
  const t = io.view(table);
  const sl = io.view(slot) as unknown as Int32Array;
  const dl = io.view(delta);
  const zv = io.view(z);
  const acc = new Float64Array(width);
  for (let ray = 0; ray < rays; ray++) {
    acc.fill(0);
    let depth = 0; // Σ τ before this sample
    for (let q = ray * s; q < (ray + 1) * s; q++) {
      const k = sl[q];
      if (k < 0 || k >= live) continue;
      const row = k * c;
      const tau = t[row] * dl[q];
      const w = Math.exp(-depth) * -Math.expm1(-tau);
      depth += tau;
      for (let j = 1; j < c; j++) acc[j - 1] += w * t[row + j];
      acc[c - 1] += w;
      acc[c] += w * zv[q];
    }
    for (let j = 0; j < width; j++) o[ray * width + j] = acc[j];
  }
  return out;
}

function compositeGradKernel(io: Io, inputs: Record<string, Info>, attrs: Attrs): Info {
  const { dy, table, slot, delta, z } = inputs;
  const { rays, s, live, c } = compositeShapes('Dd3dCompositeGrad', table, slot, delta, z, attrs);
  requireFloat32('Dd3dCompositeGrad', dy);
  const width = c + 1;
  if (size(dy.shape) !== rays * width) throw new Error(`Dd3dCompositeGrad: dy [${dy.shape}] for ${rays} rays of ${width}`);
  const grad = io.alloc([live, c]);
  const gr = io.view(grad);
  gr.fill(0);
  const g = io.view(dy);
  const t = io.view(table);
  const sl = io.view(slot) as unknown as Int32Array;
  const dl = io.view(delta);
  const zv = io.view(z);
  // Per sample of the current ray: T_i·e^(−τ_i) and w_i.
  const next = new Float64Array(s);
  const weight = new Float64Array(s);
  for (let ray = 0; ray < rays; ray++) {
    const q0 = ray * s;
    let depth = 0;
    for (let i = 0; i < s; i++) {
      const k = sl[q0 + i];
      if (k < 0 || k >= live) continue;
      const tau = t[k * c] * dl[q0 + i];
      const before = Math.exp(-depth);
      depth += tau;
      next[i] = Math.exp(-depth);
      weight[i] = before * -Math.expm1(-tau);
    }
    const d = ray * width;
    const dOpacity = g[d + c - 1];
    const dDepth = g[d + c];
    let later = 0; // Σ_{j>i} g_j·w_j
    for (let i = s - 1; i >= 0; i--) {
      const q = q0 + i;
      const k = sl[q];
      if (k < 0 || k >= live) continue;
      const row = k * c;
      const w = weight[i];
      let gw = dOpacity + dDepth * zv[q];
      for (let j = 1; j < c; j++) {
        gw += g[d + j - 1] * t[row + j];
        gr[row + j] += w * g[d + j - 1];
      }
      gr[row] += dl[q] * (gw * next[i] - later);
      later += gw * w;
    }
  }
  return grad;
}

// ---------------------------------------------------------------------------------------------
// Registration

type Impl = (io: Io, inputs: Record<string, Info>, attrs: Attrs) => Info | Info[];

const impls: Record<FusedKernelName, Impl> = {
  Dd3dGroupNorm: groupNormForward,
  Dd3dGroupNormGrad: groupNormBackward,
  Dd3dLayerNorm: layerNormForward,
  Dd3dLayerNormGrad: layerNormBackward,
  Dd3dColumnSum: columnSumKernel,
  Dd3dGridEncode: gridEncodeKernel,
  Dd3dGridEncodeGrad: gridEncodeGradKernel,
  Dd3dComposite: compositeKernel,
  Dd3dCompositeGrad: compositeGradKernel,
};

const registered = new Map<string, tf.KernelFunc>();

function kernelFunc(backendName: (typeof FUSED_BACKENDS)[number], impl: Impl): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: Record<string, Info>; backend: unknown; attrs: Attrs }) => {
    const io = backendName === 'wasm' ? wasmIo(backend as BackendWasm) : cpuIo(backend as CpuBackendLike);
    return impl(io, inputs, attrs ?? {});
  }) as unknown as tf.KernelFunc;
}

/** Registers the fused kernels for the wasm and cpu backends (idempotent); returns their names. */
export function registerFusedKernels(): string[] {
  for (const backendName of FUSED_BACKENDS) {
    for (const name of FUSED_KERNELS) {
      const key = `${backendName}/${name}`;
      const current = tf.getKernel(name, backendName);
      if (current && current.kernelFunc === registered.get(key)) continue;
      if (current) tf.unregisterKernel(name, backendName);
      const fn = kernelFunc(backendName, impls[name]);
      registered.set(key, fn);
      tf.registerKernel({ kernelName: name, backendName, kernelFunc: fn });
    }
  }
  return [...FUSED_KERNELS];
}
