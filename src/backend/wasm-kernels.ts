/**
 * Faster replacements for the tfjs wasm kernels that training leans on.
 *
 * The wasm backend is fast only on its narrow path: XNNPACK runs a 2-D untransposed
 * matmul (batch 1) and a forward conv at 13–35 GFLOPS, but a transposed or batched
 * matmul falls to a naive triple loop (~1 GFLOPS), Conv2DBackpropInput is a naive
 * loop too, and Conv2DBackpropFilter / UnsortedSegmentSum (the gradient of gather)
 * are missing. Each replacement below reshapes the problem onto the fast path:
 * explicit transposes, per-batch slices, a backward conv written as a forward conv.
 * Identity and same-dtype Cast share the input's data as the cpu backend does, instead of
 * copying it: tfjs clones every tensor it saves for the backward pass through Identity.
 * Slice and SplitV (the gradient of every concat, e.g. UNet skip connections) read the
 * input in place; the stock kernels copy the whole input out of the heap for every piece.
 * Conv2D is the native kernel, except that a large filter is passed as a transient copy:
 * XNNPACK keeps a packed copy of every filter it sees until the tensor dies, which doubles
 * the memory of a model whose weights fill most of wasm's 4 GB (Stable Diffusion's UNet).
 *
 * Pitfalls (measured): re-registering needs `unregisterKernel` first; the native
 * kernels' `setupFunc` must be kept (it binds the wasm entry points); intermediates
 * are freed with `backend.disposeData`, never wrapped as tensors.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { registerFusedKernels } from './fused-kernels.js';

/** A wasm kernel's signature, shared with the native kernels (native-kernels.ts) that sit over these. */
export type Info = tf.TensorInfo;
export type Attrs = Record<string, unknown>;
export type KernelArgs = { inputs: Record<string, Info>; backend: BackendWasm; attrs: Attrs };
export type KernelFn = (args: KernelArgs) => Info;

export const PATCHED_KERNELS = [
  'BatchMatMul',
  '_FusedMatMul',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'UnsortedSegmentSum',
  'Identity',
  'Cast',
  'Conv2D',
  'Slice',
  'SplitV',
] as const;

/** The native wasm kernels our replacements call into, captured before patching. */
const native = new Map<string, KernelFn>();

function nativeKernel(name: string): KernelFn {
  const fn = native.get(name) ?? (tf.getKernel(name, 'wasm')?.kernelFunc as KernelFn | undefined);
  if (!fn) throw new Error(`wasm kernel ${name} is not registered`);
  return fn;
}

function run(backend: BackendWasm, name: string, inputs: Record<string, Info>, attrs: Attrs = {}): Info {
  return nativeKernel(name)({ inputs, backend, attrs });
}

const free = (backend: BackendWasm, ...infos: Info[]) => {
  for (const i of infos) backend.disposeData(i.dataId);
};

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function reshape(backend: BackendWasm, x: Info, shape: number[]): Info {
  return run(backend, 'Reshape', { x }, { shape });
}

function transpose(backend: BackendWasm, x: Info, perm: number[]): Info {
  return run(backend, 'Transpose', { x }, { perm });
}

/** A float32 view of a tensor on the wasm heap. Re-take it after any allocation: heap growth detaches old views. */
const heap = (backend: BackendWasm, x: Info) => backend.typedArrayFromHeap(x) as Float32Array;

// ---------------------------------------------------------------------------------------------
// Matmul

/** Brings a batched operand to [batch, rows, cols] in untransposed layout (a new tensor the caller frees). */
function asRowMajor3d(backend: BackendWasm, x: Info, transposed: boolean): Info {
  const r = x.shape.length;
  const rows = x.shape[r - 2];
  const cols = x.shape[r - 1];
  const x3 = reshape(backend, x, [size(x.shape.slice(0, -2)), rows, cols]);
  if (!transposed) return x3;
  const t = transpose(backend, x3, [0, 2, 1]);
  free(backend, x3);
  return t;
}

/**
 * a [Ba, m, k] · b [Bb, k, n] with Ba, Bb ∈ {1, B}, every product on XNNPACK's fast path:
 * a shared b folds the batch into rows; otherwise one fast matmul per batch on copied slices.
 */
function matmul3d(backend: BackendWasm, a: Info, b: Info, fast: (a: Info, b: Info) => Info): Info {
  const [ba, m, k] = a.shape;
  const [bb, , n] = b.shape;
  if (bb === 1) {
    const a2 = reshape(backend, a, [1, ba * m, k]);
    const out2 = fast(a2, b);
    const out = reshape(backend, out2, [ba, m, n]);
    free(backend, a2, out2);
    return out;
  }
  const batch = Math.max(ba, bb);
  const out = backend.makeOutput([batch, m, n], 'float32');
  for (let i = 0; i < batch; i++) {
    // b must be a fresh tensor each time: XNNPACK caches its packed weights by tensor id.
    const ai = ba === 1 ? a : backend.makeOutput([1, m, k], 'float32');
    const bi = backend.makeOutput([1, k, n], 'float32');
    if (ai !== a) heap(backend, ai).set(heap(backend, a).subarray(i * m * k, (i + 1) * m * k));
    heap(backend, bi).set(heap(backend, b).subarray(i * k * n, (i + 1) * k * n));
    const oi = fast(ai, bi);
    heap(backend, out).set(heap(backend, oi), i * m * n);
    free(backend, bi, oi);
    if (ai !== a) free(backend, ai);
  }
  return out;
}

function batchMatMul({ inputs, backend, attrs }: KernelArgs): Info {
  const { a, b } = inputs;
  const transposeA = Boolean(attrs.transposeA);
  const transposeB = Boolean(attrs.transposeB);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const ba = size(a.shape.slice(0, -2));
  const bb = size(b.shape.slice(0, -2));
  const simple = ba === 1 && bb === 1 && !transposeA && !transposeB;
  if (simple || a.dtype !== 'float32' || (ba !== bb && ba !== 1 && bb !== 1)) {
    return run(backend, 'BatchMatMul', inputs, attrs);
  }
  const a3 = asRowMajor3d(backend, a, transposeA);
  const b3 = asRowMajor3d(backend, b, transposeB);
  const fast = (x: Info, y: Info) => run(backend, 'BatchMatMul', { a: x, b: y }, { transposeA: false, transposeB: false });
  const out3 = matmul3d(backend, a3, b3, fast);
  const out = reshape(backend, out3, [...outer, out3.shape[1], out3.shape[2]]);
  free(backend, a3, b3, out3);
  return out;
}

/**
 * _FusedMatMul = matmul + bias + activation. Transposes and a shared b go through the
 * native fused kernel after reshaping; a true batch runs the fast matmul, then the
 * bias and activation as separate native kernels.
 */
function fusedMatMul({ inputs, backend, attrs }: KernelArgs): Info {
  const { a, b, bias, preluActivationWeights } = inputs;
  const transposeA = Boolean(attrs.transposeA);
  const transposeB = Boolean(attrs.transposeB);
  const ba = size(a.shape.slice(0, -2));
  const bb = size(b.shape.slice(0, -2));
  const simple = ba === 1 && bb === 1 && !transposeA && !transposeB;
  if (simple || (ba !== bb && ba !== 1 && bb !== 1)) return run(backend, '_FusedMatMul', inputs, attrs);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const a3 = asRowMajor3d(backend, a, transposeA);
  const b3 = asRowMajor3d(backend, b, transposeB);
  const plainAttrs = { ...attrs, transposeA: false, transposeB: false };
  let out3: Info;
  if (bb === 1) {
    const fused = (x: Info, y: Info) => run(backend, '_FusedMatMul', { ...inputs, a: x, b: y }, plainAttrs);
    out3 = matmul3d(backend, a3, b3, fused);
  } else {
    const fast = (x: Info, y: Info) => run(backend, 'BatchMatMul', { a: x, b: y }, { transposeA: false, transposeB: false });
    out3 = matmul3d(backend, a3, b3, fast);
    if (bias) {
      const withBias = run(backend, 'Add', { a: out3, b: bias });
      free(backend, out3);
      out3 = withBias;
    }
    const activated = applyActivation(backend, out3, String(attrs.activation ?? 'linear'), attrs, preluActivationWeights);
    if (activated !== out3) free(backend, out3);
    out3 = activated;
  }
  const out = reshape(backend, out3, [...outer, out3.shape[out3.shape.length - 2], out3.shape[out3.shape.length - 1]]);
  free(backend, a3, b3, out3);
  return out;
}

function applyActivation(backend: BackendWasm, x: Info, activation: string, attrs: Attrs, prelu?: Info): Info {
  switch (activation) {
    case 'linear':
      return x;
    case 'relu':
      return run(backend, 'Relu', { x });
    case 'relu6':
      return run(backend, 'Relu6', { x });
    case 'elu':
      return run(backend, 'Elu', { x });
    case 'sigmoid':
      return run(backend, 'Sigmoid', { x });
    case 'leakyrelu':
      return run(backend, 'LeakyRelu', { x }, { alpha: attrs.leakyreluAlpha });
    case 'prelu':
      return run(backend, 'Prelu', { x, alpha: prelu as Info });
    default:
      throw new Error(`_FusedMatMul: unsupported activation ${activation}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Convolution gradients

type ConvInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;

function convInfoFor(xShape: number[], filterShape: number[], attrs: Attrs): ConvInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as 'valid' | 'same' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    tf.backend_util.convertConv2DDataFormat((attrs.dataFormat as 'NHWC' | 'NCHW') ?? 'NHWC'),
  );
}

/**
 * dx as a forward conv: dy (zero-dilated by the stride) correlated with the filter rotated
 * 180° and its channel axes swapped, padded so the output lands on the input grid.
 */
function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): Info {
  const { dy, filter } = inputs;
  const inputShape = attrs.inputShape as number[];
  const info = convInfoFor(inputShape, filter.shape, attrs);
  if (info.dataFormat !== 'channelsLast') return run(backend, 'Conv2DBackpropInput', inputs, attrs);
  const [kh, kw, ci, co] = filter.shape;
  const { strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w } = info;
  const [n, oh, ow] = [dy.shape[0], dy.shape[1], dy.shape[2]];
  const dh = (oh - 1) * sh + 1;
  const dw = (ow - 1) * sw + 1;
  const top = kh - 1 - info.padInfo.top;
  const left = kw - 1 - info.padInfo.left;
  const bottom = h + kh - 1 - top - dh;
  const right = w + kw - 1 - left - dw;
  if (top < 0 || left < 0 || bottom < 0 || right < 0) return run(backend, 'Conv2DBackpropInput', inputs, attrs);

  const flipped = backend.makeOutput([kh, kw, co, ci], 'float32');
  {
    const src = heap(backend, filter);
    const dst = heap(backend, flipped);
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++) {
        const s = ((kh - 1 - y) * kw + (kw - 1 - x)) * ci * co;
        const d = (y * kw + x) * co * ci;
        for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) dst[d + o * ci + i] = src[s + i * co + o];
      }
  }
  const dilated = sh === 1 && sw === 1 ? dy : dilate(backend, dy, n, oh, ow, co, sh, sw, dh, dw);
  const out = run(
    backend,
    'Conv2D',
    { x: dilated, filter: flipped },
    {
      strides: 1,
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: 1,
      dimRoundingMode: undefined,
    },
  );
  free(backend, flipped);
  if (dilated !== dy) free(backend, dilated);
  return out;
}

/** Spreads dy onto a grid with (stride − 1) zeros between samples. */
function dilate(backend: BackendWasm, dy: Info, n: number, oh: number, ow: number, c: number, sh: number, sw: number, dh: number, dw: number): Info {
  const out = backend.makeOutput([n, dh, dw, c], 'float32');
  const src = heap(backend, dy);
  const dst = heap(backend, out);
  dst.fill(0);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++) {
        const s = ((b * oh + y) * ow + x) * c;
        dst.set(src.subarray(s, s + c), ((b * dh + y * sh) * dw + x * sw) * c);
      }
  return out;
}

/**
 * dW as a forward conv with batch and channels swapped: x as [Ci, H, W, N] convolved with
 * dy as a filter [OH, OW, N, Co], dilated by the stride, gives [Ci, KH, KW, Co].
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): Info {
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape as number[];
  const info = convInfoFor(x.shape, filterShape, attrs);
  if (info.dataFormat !== 'channelsLast') throw new Error('Conv2DBackpropFilter on wasm supports NHWC only');
  const [kh, kw] = filterShape;
  const { strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w } = info;
  const [oh, ow] = [dy.shape[1], dy.shape[2]];
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // Rows past the last window are never read: a negative bottom pad crops them.
  let bottom = kh + (oh - 1) * sh - h - top;
  let right = kw + (ow - 1) * sw - w - left;
  let xc = x;
  if (bottom < 0 || right < 0) {
    const hc = h + Math.min(bottom, 0);
    const wc = w + Math.min(right, 0);
    xc = run(backend, 'Slice', { x }, { begin: [0, 0, 0, 0], size: [x.shape[0], hc, wc, x.shape[3]] });
    bottom = Math.max(bottom, 0);
    right = Math.max(right, 0);
  }
  const xt = transpose(backend, xc, [3, 1, 2, 0]);
  const dyt = transpose(backend, dy, [1, 2, 0, 3]);
  const swapped = run(
    backend,
    'Conv2D',
    { x: xt, filter: dyt },
    {
      strides: 1,
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [sh, sw],
      dimRoundingMode: undefined,
    },
  );
  const out = transpose(backend, swapped, [1, 2, 0, 3]);
  free(backend, xt, dyt, swapped);
  if (xc !== x) free(backend, xc);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Gather gradient

/** out[segment] += x[i] for every row i; ids outside [0, numSegments) are dropped, as in TF. */
function unsortedSegmentSum({ inputs, backend, attrs }: KernelArgs): Info {
  const { x, segmentIds } = inputs;
  const numSegments = attrs.numSegments as number;
  const rows = size(segmentIds.shape);
  const inner = size(x.shape.slice(segmentIds.shape.length));
  const out = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  dst.fill(0);
  for (let i = 0; i < rows; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const d = s * inner;
    const o = i * inner;
    for (let j = 0; j < inner; j++) dst[d + j] += src[o + j];
  }
  return out;
}

/** Filters of at least this many floats are packed per call instead of cached (1 MB). */
export const TRANSIENT_FILTER_FLOATS = 256 * 1024;

function conv2D({ inputs, backend, attrs }: KernelArgs): Info {
  const { x, filter } = inputs;
  if (size(filter.shape) < TRANSIENT_FILTER_FLOATS) return run(backend, 'Conv2D', inputs, attrs);
  // Packing costs one pass over the filter, nothing next to the conv's arithmetic at these sizes.
  const copy = backend.makeOutput(filter.shape, 'float32');
  heap(backend, copy).set(heap(backend, filter));
  const out = run(backend, 'Conv2D', { x, filter: copy }, attrs);
  free(backend, copy);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Slicing

/** Copies the box [begin, begin + size) of x into a new tensor, reading the heap in place. */
function sliceBox(backend: BackendWasm, x: Info, begin: number[], size: number[]): Info {
  const out = backend.makeOutput(size, x.dtype);
  // Pad to 4-D: [a, b, c, d] with d the contiguous axis.
  const pad = 4 - x.shape.length;
  const shape = [...Array(pad).fill(1), ...x.shape];
  const b = [...Array(pad).fill(0), ...begin];
  const n = [...Array(pad).fill(1), ...size];
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const [s0, s1, s2] = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3]];
  const row = n[3];
  let o = 0;
  for (let i = b[0]; i < b[0] + n[0]; i++)
    for (let j = b[1]; j < b[1] + n[1]; j++)
      for (let k = b[2]; k < b[2] + n[2]; k++) {
        const from = i * s0 + j * s1 + k * s2 + b[3];
        if (row >= 32) dst.set(src.subarray(from, from + row), o);
        else for (let l = 0; l < row; l++) dst[o + l] = src[from + l];
        o += row;
      }
  return out;
}

function slice({ inputs, backend, attrs }: KernelArgs): Info {
  const { x } = inputs;
  if (x.dtype === 'string' || x.shape.length > 4) return run(backend, 'Slice', inputs, attrs);
  const [begin, size] = tf.slice_util.parseSliceParams(x as tf.TensorInfo as tf.Tensor, attrs.begin as number[], attrs.size as number[]);
  return sliceBox(backend, x, begin, size);
}

function splitV({ inputs, backend, attrs }: KernelArgs): Info[] {
  const { x } = inputs;
  if (x.dtype === 'string' || x.shape.length > 4) return nativeKernel('SplitV')({ inputs, backend, attrs }) as unknown as Info[];
  const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.TensorInfo as tf.Tensor, attrs.numOrSizeSplits as number[] | number, axis);
  const begin = x.shape.map(() => 0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[axis] = s;
    const piece = sliceBox(backend, x, [...begin], size);
    begin[axis] += s;
    return piece;
  });
}

// ---------------------------------------------------------------------------------------------
// Copies that need not be

function identity({ inputs, backend }: KernelArgs): Info {
  const { x } = inputs;
  if (x.dtype === 'string') return run(backend, 'Identity', inputs);
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function cast({ inputs, backend, attrs }: KernelArgs): Info {
  const { x } = inputs;
  if (attrs.dtype !== x.dtype || x.dtype === 'string') return run(backend, 'Cast', inputs, attrs);
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

const replacements: Record<(typeof PATCHED_KERNELS)[number], KernelFn> = {
  BatchMatMul: batchMatMul,
  _FusedMatMul: fusedMatMul,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
  UnsortedSegmentSum: unsortedSegmentSum,
  Identity: identity,
  Cast: cast,
  Conv2D: conv2D,
  Slice: slice,
  SplitV: splitV as unknown as KernelFn,
};

/**
 * Registers the replacements for the wasm backend (idempotent), and dd3d's fused kernels
 * (fused-kernels.ts: GroupNorm, LayerNorm, column sum) for wasm and cpu. Call it after importing
 * @tensorflow/tfjs-backend-wasm; before or after `setBackend('wasm')` both work, since the
 * native `setupFunc`s are kept on the new registrations and have already run if the backend is up.
 */
export function patchWasmKernels(): string[] {
  registerFusedKernels();
  for (const name of PATCHED_KERNELS) {
    const current = tf.getKernel(name, 'wasm');
    if (current && (current.kernelFunc as KernelFn) === replacements[name]) continue;
    if (current && !native.has(name)) native.set(name, current.kernelFunc as unknown as KernelFn);
    if (current) tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      setupFunc: current?.setupFunc,
      kernelFunc: replacements[name] as unknown as tf.KernelFunc,
    });
  }
  return [...PATCHED_KERNELS];
}
