/**
 * The native fast path for the wasm backend's heaviest kernels: BatchMatMul, _FusedMatMul,
 * Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter, GroupNorm (forward statistics and affine,
 * and the gradient), the bias gradient, Erf, Exp, and GridField's grid encoding and its gradient, as AVX-512 or AVX2+FMA loops in the small N-API addon in native/ (dd3d_native.cc,
 * kernels.h). The wasm
 * kernels run at wasm SIMD's 128 bits (17–30 GFLOPS on the UNet's shapes); these at 100–160 on
 * one thread. It is optional: when the addon was not built (no compiler at install time), cannot
 * load, the CPU has neither AVX-512 nor AVX2+FMA (or is not x86-64), or env DD3D_NATIVE=0,
 * nothing is registered and the kernels of wasm-kernels.ts run exactly as before. The
 * registered kernels also hand any case they do not cover to those kernels (their `fallback`).
 *
 * Why not a system BLAS (the first version called OpenBLAS's cblas_sgemm through dlopen):
 * measured on this project's shapes it was slower (55–110 GFLOPS on the convolutions, whose
 * 32–128-column products are narrow for it), and its sum for one output row depends on the
 * whole problem's size, so splitting a batch across dd3d's worker threads changed the images'
 * bits (`--workers` must change speed only). Each output element here is one fused
 * multiply-add chain over k ascending, whatever the batch, M or instruction set.
 *
 * Data. The addon reads and writes the tensors where they live, on the wasm heap: each call
 * passes `backend.wasm.HEAPF32` (taken afresh after every allocation, since heap growth
 * replaces it) and the operands' element offsets (`dataIdMap`'s byte `memoryOffset` / 4). The
 * addon checks every operand's extent against the heap. It runs on the calling thread, one
 * thread (dd3d's data-parallel workers use the other cores), is context-aware (safe in
 * worker_threads) and keeps its scratch buffers per thread.
 *
 * Conventions and maths (row-major everywhere, as tfjs stores tensors):
 *  - matmul: a [...batchA, m, k] (or [..., k, m] if transposeA), b [...batchB, k, n] (or
 *    [..., n, k]); out [...broadcast(batchA, batchB), m, n]. The batches must be equal or one of
 *    them 1 (a batch stride of 0 broadcasts it); transposes are read in place (a transposed b is
 *    packed once per product). _FusedMatMul adds a bias of n values (a vector over the last
 *    axis) or of 1, then relu, relu6, elu, sigmoid or leakyrelu, in place; prelu and other bias
 *    shapes fall back.
 *  - conv, NHWC: x [N, H, W, Ci], filter [KH, KW, Ci, Co] (already the [K = KH·KW·Ci, Co]
 *    matrix), out [N, OH, OW, Co], any stride, dilation and padding that computeConv2DInfo
 *    resolves ('same', 'valid', explicit, dimRoundingMode). With cols = im2col(x) the
 *    [M = N·OH·OW, K] matrix whose row (b, oy, ox) holds the KH·KW input pixels the window
 *    reads, channels innermost (zeros where it overhangs the padding):
 *      Conv2D               y  = cols · W                  [M, K]·[K, Co]
 *      Conv2DBackpropInput  dx = col2im(dy · Wᵀ)            [M, Co]·[Co, K], each row of the
 *                                                           product added back onto the pixels
 *                                                           its window read
 *      Conv2DBackpropFilter dW = colsᵀ · dy                [K, M]·[M, Co]
 *    When the channels fit the vector width (a multiple of 16 on AVX-512, 8 on AVX2) these run
 *    as direct convolutions without the cols matrix: the forward one over a zero-padded copy of
 *    each image, in the same (ky, kx, c) order as the GEMM; the input gradient (stride 1) as the
 *    forward conv of dy padded by KH−1−top, KW−1−left with the filter rotated 180° and its
 *    channel axes swapped; the filter gradient as Σ over pixels of x_pad[pixel + tap]·dy[pixel].
 *    A 1×1 stride-1 unpadded conv is one GEMM (cols = x). NCHW falls back.
 *  - Dd3dGroupNormGrad and Dd3dColumnSum (fused-kernels.ts's GroupNorm backward and bias
 *    gradient): the same float64 expressions in the same order in C++ (no FMA contraction),
 *    vectorised over channels/columns, so bitwise equal to the JS kernels.
 *  - Erf and Exp (GEGLU's GELU and its gradient): vectorised polynomials, see `unary`.
 *  - Dd3dGridEncode and Dd3dGridEncodeGrad (fused-kernels.ts's trilinear blend of a
 *    multi-resolution grid and its scatter-add gradient): the same float64 steps and float32
 *    sums in the same order in C++, so bitwise equal to the JS kernels; up to 8 levels.
 * The sums run in another order than XNNPACK's: results differ from the wasm kernels' in the
 * last bits (well inside the 2e-5 relative tolerance the kernel tests hold both to).
 *
 * Pitfalls kept from wasm-kernels.ts: re-registering needs `unregisterKernel` first; the
 * registration keeps the previous `setupFunc`; intermediates are freed with `disposeData`.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { backendKernel } from './fused-kernels.js';
import type { Attrs, Info, KernelArgs, KernelFn } from './wasm-kernels.js';

export const NATIVE_KERNELS = [
  'BatchMatMul',
  '_FusedMatMul',
  'Conv2D',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'Dd3dGroupNorm',
  'Dd3dGroupNormGrad',
  'Dd3dColumnSum',
  'Erf',
  'Exp',
  'Dd3dGridEncode',
  'Dd3dGridEncodeGrad',
] as const;
type NativeKernelName = (typeof NATIVE_KERNELS)[number];

/** The addon's functions (native/dd3d_native.cc). Offsets are float32 element indices into `heap`. */
interface Addon {
  /** The instruction set the kernels use (AVX-512 or AVX2); throws if the CPU has neither. */
  init(): string;
  matmul(
    heap: Float32Array,
    batch: number,
    m: number,
    n: number,
    k: number,
    aOff: number,
    aStride: number,
    bOff: number,
    bStride: number,
    cOff: number,
    transA: number,
    transB: number,
    biasOff: number,
    biasLen: number,
    act: number,
    alpha: number,
  ): void;
  conv2d(heap: Float32Array, xOff: number, wOff: number, yOff: number, ...conv: number[]): void;
  conv2dBackpropInput(heap: Float32Array, dyOff: number, wOff: number, dxOff: number, ...conv: number[]): void;
  conv2dBackpropFilter(heap: Float32Array, xOff: number, dyOff: number, dwOff: number, ...conv: number[]): void;
  groupNorm(
    heap: Float32Array,
    xOff: number,
    gammaOff: number,
    betaOff: number,
    zOff: number,
    statsOff: number,
    n: number,
    hw: number,
    c: number,
    groups: number,
    eps: number,
  ): void;
  groupNormGrad(
    heap: Float32Array,
    dyOff: number,
    xOff: number,
    gammaOff: number,
    betaOff: number,
    statsOff: number,
    sOff: number,
    dxOff: number,
    n: number,
    hw: number,
    c: number,
    groups: number,
    dgammaOff: number,
    dbetaOff: number,
  ): void;
  columnSum(heap: Float32Array, xOff: number, rows: number, cols: number, outOff: number): void;
  /** op 0: exp, 1: erf. */
  unary(heap: Float32Array, op: number, xOff: number, yOff: number, n: number): void;
  /** levels: (r, tableOff) pairs after `levels`. */
  gridEncode(heap: Float32Array, pointsOff: number, n: number, bound: number, f: number, outOff: number, levels: number, ...levelArgs: number[]): void;
  /** levels: (r, gradOff) pairs after `levels`; each gradient table is written whole. */
  gridEncodeGrad(heap: Float32Array, dyOff: number, pointsOff: number, n: number, bound: number, f: number, levels: number, ...levelArgs: number[]): void;
}

export interface NativeStatus {
  /** Whether the native kernels can be used (addon built and loaded, CPU supported, not disabled). */
  available: boolean;
  /** The instruction set the kernels use: AVX-512 or AVX2. */
  isa?: string;
  /** One line for BackendInfo.reason: what is used, or why the wasm kernels are. */
  reason: string;
}

const require = createRequire(import.meta.url);

/** Where the built addon is, from src/backend (tests, tsx) or dist/src/backend (the CLI). */
function addonCandidates(): string[] {
  return ['../../native/build/Release/dd3d_native.node', '../../../native/build/Release/dd3d_native.node'].map((p) =>
    fileURLToPath(new URL(p, import.meta.url)),
  );
}

/** DD3D_NATIVE=0 (or false/off/no) turns the native kernels off. */
export function nativeDisabled(): boolean {
  return ['0', 'false', 'off', 'no'].includes((process.env.DD3D_NATIVE ?? '').trim().toLowerCase());
}

let addon: Addon | undefined;
let loadStatus: NativeStatus | undefined;

/** Loads the addon once per thread (the outcome is cached; DD3D_NATIVE is read on every call). */
export function nativeStatus(): NativeStatus {
  if (nativeDisabled()) return { available: false, reason: 'native kernels off (DD3D_NATIVE=0)' };
  if (loadStatus) return loadStatus;
  const file = nativeAddonPath();
  if (!file) {
    loadStatus = { available: false, reason: 'native kernels not built (npm run build:native; needs a C++ compiler)' };
    return loadStatus;
  }
  try {
    const mod = require(file) as Addon;
    const isa = mod.init();
    addon = mod;
    loadStatus = { available: true, isa, reason: `native kernels: ${isa}` };
  } catch (e) {
    const why = String(e instanceof Error ? e.message : e).split('\n')[0];
    loadStatus = { available: false, reason: `native kernels unavailable: ${why}` };
  }
  return loadStatus;
}

// ---------------------------------------------------------------------------------------------
// Heap access

interface WasmInternals {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
}

/** The float32 view of the whole wasm memory, current after any allocation. */
const heapOf = (backend: BackendWasm) => (backend as unknown as WasmInternals).wasm.HEAPF32;

/** A tensor's element offset into HEAPF32. */
function offsetOf(backend: BackendWasm, x: Info): number {
  const data = (backend as unknown as WasmInternals).dataIdMap.get(x.dataId);
  if (!data) throw new Error('native kernels: tensor data not found on the wasm backend');
  return data.memoryOffset / 4;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The kernels these replace (wasm-kernels.ts's, or the stock ones), captured at registration. */
const fallback = new Map<NativeKernelName, KernelFn>();

function runFallback(name: NativeKernelName, args: KernelArgs): Info {
  const fn = fallback.get(name);
  if (!fn) throw new Error(`native kernels: no fallback for ${name}`);
  return fn(args);
}

// ---------------------------------------------------------------------------------------------
// Matmul

const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, elu: 3, sigmoid: 4, leakyrelu: 5 };

interface MatmulPlan {
  outShape: number[];
  batch: number;
  m: number;
  n: number;
  k: number;
  aStride: number;
  bStride: number;
}

/** The shapes of a batched matmul, or null if the batches are neither equal nor one of them 1. */
function planMatmul(a: Info, b: Info, transposeA: boolean, transposeB: boolean): MatmulPlan | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) return null; // let the stock kernel raise its error
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const ba = size(a.shape.slice(0, -2));
  const bb = size(b.shape.slice(0, -2));
  const batch = size(outer);
  if (!((ba === batch && bb === batch) || (ba === 1 && bb === batch) || (bb === 1 && ba === batch))) return null;
  if (batch * m * n === 0 || m * k === 0 || k * n === 0) return null;
  return { outShape: [...outer, m, n], batch, m, n, k, aStride: ba === 1 ? 0 : m * k, bStride: bb === 1 ? 0 : k * n };
}

function runMatmul(backend: BackendWasm, a: Info, b: Info, p: MatmulPlan, ta: boolean, tb: boolean, bias: Info | null, act: number, alpha: number): Info {
  const out = backend.makeOutput(p.outShape, 'float32');
  const biasOff = bias ? offsetOf(backend, bias) : -1;
  const biasLen = bias ? size(bias.shape) : 0;
  (addon as Addon).matmul(
    heapOf(backend),
    p.batch,
    p.m,
    p.n,
    p.k,
    offsetOf(backend, a),
    p.aStride,
    offsetOf(backend, b),
    p.bStride,
    offsetOf(backend, out),
    ta ? 1 : 0,
    tb ? 1 : 0,
    biasOff,
    biasLen,
    act,
    alpha,
  );
  return out;
}

function batchMatMul(args: KernelArgs): Info {
  const { a, b } = args.inputs;
  const ta = Boolean(args.attrs.transposeA);
  const tb = Boolean(args.attrs.transposeB);
  const p = planMatmul(a, b, ta, tb);
  if (!p) return runFallback('BatchMatMul', args);
  return runMatmul(args.backend, a, b, p, ta, tb, null, 0, 0);
}

function fusedMatMul(args: KernelArgs): Info {
  const { a, b, bias, preluActivationWeights } = args.inputs;
  const ta = Boolean(args.attrs.transposeA);
  const tb = Boolean(args.attrs.transposeB);
  const act = ACTIVATIONS[String(args.attrs.activation ?? 'linear')];
  const p = planMatmul(a, b, ta, tb);
  // A bias must be one value or a vector over the output's last axis (any leading 1s).
  const biasOk =
    !bias ||
    (bias.dtype === 'float32' &&
      (size(bias.shape) === 1 || (size(bias.shape) === p?.n && bias.shape[bias.shape.length - 1] === p.n)) &&
      bias.shape.length <= (p?.outShape.length ?? 0));
  if (!p || act === undefined || preluActivationWeights || !biasOk) return runFallback('_FusedMatMul', args);
  const alpha = Number(args.attrs.leakyreluAlpha ?? 0.2);
  return runMatmul(args.backend, a, b, p, ta, tb, bias ?? null, act, alpha);
}

// ---------------------------------------------------------------------------------------------
// Convolutions

type ConvInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;

/** Conv geometry from tfjs's own resolution of the attributes; null (fall back) unless NHWC. */
function convInfo(xShape: number[], filterShape: number[], attrs: Attrs): ConvInfo | null {
  if (((attrs.dataFormat as string | undefined) ?? 'NHWC') !== 'NHWC') return null;
  if (xShape.length !== 4 || filterShape.length !== 4) return null;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    (attrs.dilations as number | [number, number] | undefined) ?? 1,
    attrs.pad as 'valid' | 'same' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    'channelsLast',
  );
  if (info.inChannels !== filterShape[2]) return null;
  if (size(xShape) === 0 || size(filterShape) === 0 || info.outHeight <= 0 || info.outWidth <= 0) return null;
  return info;
}

/** The addon's 15 conv arguments: n, h, w, ci, kh, kw, co, oh, ow, sh, sw, dh, dw, top, left. */
function convArgs(c: ConvInfo): number[] {
  return [
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.filterHeight,
    c.filterWidth,
    c.outChannels,
    c.outHeight,
    c.outWidth,
    c.strideHeight,
    c.strideWidth,
    c.dilationHeight,
    c.dilationWidth,
    c.padInfo.top,
    c.padInfo.left,
  ];
}

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function conv2D(args: KernelArgs): Info {
  const { x, filter } = args.inputs;
  const c = x.dtype === 'float32' && filter.dtype === 'float32' ? convInfo(x.shape, filter.shape, args.attrs) : null;
  if (!c) return runFallback('Conv2D', args);
  const { backend } = args;
  const out = backend.makeOutput(c.outShape, 'float32');
  (addon as Addon).conv2d(heapOf(backend), offsetOf(backend, x), offsetOf(backend, filter), offsetOf(backend, out), ...convArgs(c));
  return out;
}

function conv2DBackpropInput(args: KernelArgs): Info {
  const { dy, filter } = args.inputs;
  const inputShape = args.attrs.inputShape as number[];
  const c = dy.dtype === 'float32' && filter.dtype === 'float32' ? convInfo(inputShape, filter.shape, args.attrs) : null;
  if (!c || c.dilationHeight !== 1 || c.dilationWidth !== 1 || !sameShape(dy.shape, c.outShape)) return runFallback('Conv2DBackpropInput', args);
  const { backend } = args;
  const out = backend.makeOutput(inputShape, 'float32');
  (addon as Addon).conv2dBackpropInput(heapOf(backend), offsetOf(backend, dy), offsetOf(backend, filter), offsetOf(backend, out), ...convArgs(c));
  return out;
}

function conv2DBackpropFilter(args: KernelArgs): Info {
  const { x, dy } = args.inputs;
  const filterShape = args.attrs.filterShape as number[];
  const c = x.dtype === 'float32' && dy.dtype === 'float32' ? convInfo(x.shape, filterShape, args.attrs) : null;
  if (!c || c.dilationHeight !== 1 || c.dilationWidth !== 1 || !sameShape(dy.shape, c.outShape)) return runFallback('Conv2DBackpropFilter', args);
  const { backend } = args;
  const out = backend.makeOutput(filterShape, 'float32');
  (addon as Addon).conv2dBackpropFilter(heapOf(backend), offsetOf(backend, x), offsetOf(backend, dy), offsetOf(backend, out), ...convArgs(c));
  return out;
}

// ---------------------------------------------------------------------------------------------
// GroupNorm forward

/**
 * fused-kernels.ts's Dd3dGroupNorm on wasm (inputs x, gamma, beta; attrs groups, eps, silu;
 * outputs y, stats[, s]), bitwise equal to it: the addon computes the group statistics and
 * z = (x − mean)·rγ + β in one place with the JS kernel's float32 roundings (its JS sums and
 * five XNNPACK passes took as long as all the UNet's convolutions at batch 2); σ(z) and z·σ(z)
 * are still XNNPACK's own kernels, so SiLU keeps its bits.
 */
function groupNorm(args: KernelArgs): Info[] {
  const { x, gamma, beta } = args.inputs;
  const groups = args.attrs.groups as number;
  const eps = args.attrs.eps as number;
  const silu = Boolean(args.attrs.silu);
  const n = x.shape[0];
  const c = x.shape[x.shape.length - 1];
  if (
    [x, gamma, beta].some((t) => t.dtype !== 'float32') ||
    x.shape.length < 2 ||
    size(x.shape) === 0 ||
    c % groups !== 0 ||
    size(gamma.shape) !== c ||
    size(beta.shape) !== c
  ) {
    return runFallback('Dd3dGroupNorm', args) as unknown as Info[];
  }
  const { backend } = args;
  const z = backend.makeOutput(x.shape, 'float32');
  const stats = backend.makeOutput([n, groups, 2], 'float32');
  const at = (t: Info) => offsetOf(backend, t);
  (addon as Addon).groupNorm(heapOf(backend), at(x), at(gamma), at(beta), at(z), at(stats), n, size(x.shape) / (n * c), c, groups, eps);
  if (!silu) return [z, stats];
  const run = (name: string, inputs: Record<string, Info>) => backendKernel(name, 'wasm')({ inputs, backend, attrs: {} }) as Info;
  const s = run('Sigmoid', { x: z });
  const y = run('Multiply', { a: z, b: s });
  backend.disposeData(z.dataId);
  return [y, stats, s];
}

// ---------------------------------------------------------------------------------------------
// GroupNorm gradient

/**
 * fused-kernels.ts's Dd3dGroupNormGrad (inputs dy, x, gamma, beta, stats[, s]; attrs groups,
 * silu, learn), the same float64 arithmetic in the same order in C++, so bitwise equal to it;
 * it reads the plane once, vectorised over channels, where the JS loops stride down it.
 */
function groupNormGrad(args: KernelArgs): Info[] {
  const { dy, x, gamma, beta, stats, s } = args.inputs;
  const groups = args.attrs.groups as number;
  const silu = Boolean(args.attrs.silu);
  const learn = Boolean(args.attrs.learn);
  const all = [dy, x, gamma, beta, stats, ...(silu ? [s] : [])];
  const n = x.shape[0];
  const c = x.shape[x.shape.length - 1];
  if ((silu && !s) || all.some((t) => t.dtype !== 'float32') || size(x.shape) === 0 || c % groups !== 0 || size(gamma.shape) !== c || size(beta.shape) !== c) {
    return runFallback('Dd3dGroupNormGrad', args) as unknown as Info[];
  }
  const { backend } = args;
  const dx = backend.makeOutput(x.shape, 'float32');
  const dgamma = learn ? backend.makeOutput(gamma.shape, 'float32') : null;
  const dbeta = learn ? backend.makeOutput(beta.shape, 'float32') : null;
  const at = (t: Info) => offsetOf(backend, t);
  (addon as Addon).groupNormGrad(
    heapOf(backend),
    at(dy),
    at(x),
    at(gamma),
    at(beta),
    at(stats),
    silu ? at(s) : -1,
    at(dx),
    n,
    size(x.shape) / (n * c),
    c,
    groups,
    dgamma ? at(dgamma) : -1,
    dbeta ? at(dbeta) : -1,
  );
  return dgamma && dbeta ? [dx, dgamma, dbeta] : [dx];
}

// ---------------------------------------------------------------------------------------------
// Column sum, Erf, Exp

/** fused-kernels.ts's Dd3dColumnSum (x [R, C] → [C], float64 sums in its order), bitwise equal to it. */
function columnSum(args: KernelArgs): Info {
  const { x } = args.inputs;
  if (x.dtype !== 'float32' || x.shape.length !== 2) return runFallback('Dd3dColumnSum', args);
  const { backend } = args;
  const out = backend.makeOutput([x.shape[1]], 'float32');
  (addon as Addon).columnSum(heapOf(backend), offsetOf(backend, x), x.shape[0], x.shape[1], offsetOf(backend, out));
  return out;
}

/**
 * Exp and Erf, vectorised (the wasm kernels call scalar libm: ~6 ms per million values). exp:
 * Cephes' polynomial after n·ln 2 range reduction (relative error < 1e-7); erf: its Maclaurin
 * series below 0.5, Abramowitz and Stegun 7.1.26 above (the cpu backend's formula; absolute
 * error < 3e-7 in float32).
 */
function unary(op: number, name: NativeKernelName): KernelFn {
  return (args) => {
    const { x } = args.inputs;
    if (x.dtype !== 'float32' || size(x.shape) === 0) return runFallback(name, args);
    const { backend } = args;
    const out = backend.makeOutput(x.shape, 'float32');
    (addon as Addon).unary(heapOf(backend), op, offsetOf(backend, x), offsetOf(backend, out), size(x.shape));
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// Grid encoding

/** The addon's level limit (kMaxGridLevels). */
const MAX_GRID_LEVELS = 8;

/** The attrs of Dd3dGridEncode(Grad), or null (fall back) if the native kernel does not cover them. */
function gridShape(points: Info, attrs: Attrs): { bound: number; resolutions: number[] } | null {
  const bound = attrs.bound as number;
  const resolutions = attrs.resolutions as number[];
  if (points.dtype !== 'float32' || points.shape.length !== 2 || points.shape[1] !== 3 || !(bound > 0) || !Array.isArray(resolutions)) return null;
  if (resolutions.length < 1 || resolutions.length > MAX_GRID_LEVELS || resolutions.some((r) => !Number.isInteger(r) || r < 2 || r > 4096)) return null;
  return { bound, resolutions };
}

/**
 * fused-kernels.ts's Dd3dGridEncode (inputs points, t0 … t{L−1}; attrs bound, resolutions),
 * bitwise equal to it (the same float64 steps and float32 sums in C++).
 */
function gridEncode(args: KernelArgs): Info {
  const { points } = args.inputs;
  const g = gridShape(points, args.attrs);
  const levels = Object.keys(args.inputs).length - 1;
  const tables = Array.from({ length: levels }, (_, l) => args.inputs[`t${l}`]);
  const f = tables[0]?.shape[1] ?? 0;
  const ok =
    g &&
    g.resolutions.length === levels &&
    f >= 1 &&
    f <= 64 &&
    tables.every((t, l) => t && t.dtype === 'float32' && t.shape.length === 2 && t.shape[0] === g.resolutions[l] ** 3 && t.shape[1] === f);
  if (!ok) return runFallback('Dd3dGridEncode', args);
  const { backend } = args;
  const n = points.shape[0];
  const out = backend.makeOutput([n, levels * f], 'float32');
  const levelArgs = tables.flatMap((t, l) => [g.resolutions[l], offsetOf(backend, t)]);
  (addon as Addon).gridEncode(heapOf(backend), offsetOf(backend, points), n, g.bound, f, offsetOf(backend, out), levels, ...levelArgs);
  return out;
}

/** fused-kernels.ts's Dd3dGridEncodeGrad (inputs dy, points; attrs bound, resolutions, features), bitwise equal to it. */
function gridEncodeGrad(args: KernelArgs): Info[] {
  const { dy, points } = args.inputs;
  const g = gridShape(points, args.attrs);
  const f = args.attrs.features as number;
  const n = points.shape[0];
  const ok =
    g &&
    Number.isInteger(f) &&
    f >= 1 &&
    f <= 64 &&
    dy.dtype === 'float32' &&
    dy.shape.length === 2 &&
    dy.shape[0] === n &&
    dy.shape[1] === g.resolutions.length * f;
  if (!ok) return runFallback('Dd3dGridEncodeGrad', args) as unknown as Info[];
  const { backend } = args;
  const grads = g.resolutions.map((r) => backend.makeOutput([r ** 3, f], 'float32'));
  const levelArgs = grads.flatMap((t, l) => [g.resolutions[l], offsetOf(backend, t)]);
  (addon as Addon).gridEncodeGrad(heapOf(backend), offsetOf(backend, dy), offsetOf(backend, points), n, g.bound, f, grads.length, ...levelArgs);
  return grads;
}

const replacements: Record<NativeKernelName, KernelFn> = {
  BatchMatMul: batchMatMul,
  _FusedMatMul: fusedMatMul,
  Conv2D: conv2D,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
  Dd3dGroupNorm: groupNorm as unknown as KernelFn,
  Dd3dGroupNormGrad: groupNormGrad as unknown as KernelFn,
  Dd3dColumnSum: columnSum,
  Erf: unary(1, 'Erf'),
  Exp: unary(0, 'Exp'),
  Dd3dGridEncode: gridEncode,
  Dd3dGridEncodeGrad: gridEncodeGrad as unknown as KernelFn,
};

/** The addon function a kernel needs, for kernels added after the first addon (an older build may lack it). */
const ADDON_FUNCTION: Partial<Record<NativeKernelName, keyof Addon>> = {
  Dd3dGroupNorm: 'groupNorm',
  Dd3dGridEncode: 'gridEncode',
  Dd3dGridEncodeGrad: 'gridEncodeGrad',
};

const isOurs = (fn: unknown) => (Object.values(replacements) as unknown[]).includes(fn);

/**
 * Registers the native kernels on the wasm backend over whatever is registered now (call it
 * after `patchWasmKernels`), keeping those as the fallback. Returns the status: when the native
 * path is unavailable or off, nothing is registered (and kernels registered by an earlier call
 * in this process are put back), so the registry is exactly as without the addon.
 */
export function patchNativeKernels(): NativeStatus {
  const status = nativeStatus();
  if (!status.available) {
    // Off now but registered earlier in this process (DD3D_NATIVE=0 set later): put the kernels back.
    for (const name of NATIVE_KERNELS) {
      const current = tf.getKernel(name, 'wasm');
      const previous = fallback.get(name);
      if (!current || !previous || !isOurs(current.kernelFunc)) continue;
      tf.unregisterKernel(name, 'wasm');
      tf.registerKernel({ kernelName: name, backendName: 'wasm', setupFunc: current.setupFunc, kernelFunc: previous as unknown as tf.KernelFunc });
    }
    return status;
  }
  for (const name of NATIVE_KERNELS) {
    const current = tf.getKernel(name, 'wasm');
    if (!current) continue;
    if (current.kernelFunc === (replacements[name] as unknown)) continue;
    // An addon built before a kernel was added lacks its function: leave that kernel to the JS one.
    const needs = ADDON_FUNCTION[name];
    if (needs && typeof (addon as unknown as Record<string, unknown>)[needs] !== 'function') continue;
    if (!isOurs(current.kernelFunc)) fallback.set(name, current.kernelFunc as unknown as KernelFn);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      setupFunc: current.setupFunc,
      kernelFunc: replacements[name] as unknown as tf.KernelFunc,
    });
  }
  return status;
}

/** Whether the wasm backend's `name` kernel is the native one now (for tests and the bench). */
export function isNativeKernel(name: NativeKernelName): boolean {
  return tf.getKernel(name, 'wasm')?.kernelFunc === (replacements[name] as unknown);
}

/** The built addon's path, if it was built (for tests that drive it directly). */
export function nativeAddonPath(): string | undefined {
  return addonCandidates().find((f) => fs.existsSync(f));
}
