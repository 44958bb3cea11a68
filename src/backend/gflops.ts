/**
 * Measured throughput of the kernels that dominate training, on the active backend.
 * `dd3d doctor` and `npm run bench` print these; they are measurements, never asserted.
 */
import * as tf from '@tensorflow/tfjs';

export interface KernelRate {
  name: string;
  /** The problem, e.g. "4096x256 · 256x256". */
  shape: string;
  ms: number;
  gflops: number;
}

/** Median wall time of `reps` runs of f after one warm-up, reading results back so work is not deferred. */
export function timeMs(f: () => tf.Tensor | tf.Tensor[], reps = 3): number {
  const once = () => {
    const t0 = performance.now();
    const out = f();
    for (const t of Array.isArray(out) ? out : [out]) {
      t.dataSync();
      t.dispose();
    }
    return performance.now() - t0;
  };
  once();
  const times = Array.from({ length: reps }, once).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** A kernel the backend lacks (stock wasm has no Conv2DBackpropFilter) is reported as NaN. */
function rate(name: string, shape: string, flops: number, f: () => tf.Tensor | tf.Tensor[], reps: number): KernelRate {
  try {
    const ms = timeMs(f, reps);
    return { name, shape, ms, gflops: flops / ms / 1e6 };
  } catch (e) {
    if (!/not registered/.test(String((e as Error).message))) throw e;
    return { name, shape, ms: NaN, gflops: NaN };
  }
}

/** Kernel GFLOPS at sizes large enough to be compute-bound, small enough for a few seconds in all. */
export function measureKernelRates(opts: { scale?: number; reps?: number } = {}): KernelRate[] {
  const s = opts.scale ?? 1;
  const reps = opts.reps ?? 3;
  const m = 4096 * s;
  const k = 256;
  const n = 256;
  const mm = 2 * m * k * n;
  const a = tf.randomNormal([m, k]);
  const at = tf.randomNormal([k, m]);
  const b = tf.randomNormal([k, n]);
  const bt = tf.randomNormal([n, k]);
  const a3 = tf.randomNormal([16, m / 16, k]);
  const b3 = tf.randomNormal([16, k, n]);
  const x = tf.randomNormal([2 * s, 32, 32, 64]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 64, 64]) as tf.Tensor4D;
  const conv = 2 * x.shape[0] * 32 * 32 * 64 * 64 * 9;
  const convGrads = tf.grads((xx: tf.Tensor, ww: tf.Tensor) =>
    tf
      .conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same')
      .square()
      .sum(),
  );
  const mmShape = `${m}x${k} · ${k}x${n}`;
  const rates = [
    rate('matmul', mmShape, mm, () => tf.matMul(a, b), reps),
    rate('matmul transposeA', mmShape, mm, () => tf.matMul(at, b, true, false), reps),
    rate('matmul transposeB', mmShape, mm, () => tf.matMul(a, bt, false, true), reps),
    rate('matmul batched', `16x${m / 16}x${k} · 16x${k}x${n}`, mm, () => tf.matMul(a3, b3), reps),
    rate('conv2d forward', `${x.shape.join('x')} * 3x3x64x64`, conv, () => tf.conv2d(x, w, 1, 'same'), reps),
    // forward + grad wrt input + grad wrt filter: three convolutions' worth of work
    rate('conv2d forward+backward', `${x.shape.join('x')} * 3x3x64x64`, 3 * conv, () => convGrads([x, w]), reps),
  ];
  tf.dispose([a, at, b, bt, a3, b3, x, w]);
  return rates;
}
