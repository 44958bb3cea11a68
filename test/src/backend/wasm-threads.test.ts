import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend, parseWasmThreads } from '../../../src/backend/backend.js';

/**
 * The threaded SIMD wasm build (XNNPACK on 2 threads in this process) must start, keep dd3d's
 * patched kernels, and give exactly the stock single-threaded build's numbers.
 */

function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

const A = values(512 * 64, 1);
const B = values(64 * 96, 2);
const X = values(2 * 12 * 12 * 16, 3);
const W = values(3 * 3 * 16 * 8, 4);

/** A matmul, a conv forward and the conv's gradients (the patched Conv2DBackprop* kernels). */
function compute(): Float32Array[] {
  return tf.tidy(() => {
    const a = tf.tensor(A, [512, 64]);
    const b = tf.tensor(B, [64, 96]);
    const x = tf.tensor(X, [2, 12, 12, 16]);
    const w = tf.tensor(W, [3, 3, 16, 8]);
    const f = (xx: tf.Tensor, ww: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same');
    const [gx, gw] = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.square(f(xx, ww))))([x, w]);
    return [tf.matMul(a, b), f(x, w), gx!, gw!].map((t) => t.dataSync() as Float32Array);
  });
}

describe('threaded wasm backend', () => {
  afterAll(async () => {
    await initBackend('wasm', { wasmThreads: 1 });
  });

  it('parses DD3D_WASM_THREADS', () => {
    expect(parseWasmThreads(undefined, 'DD3D_WASM_THREADS')).toBe(1);
    expect(parseWasmThreads(' ', 'DD3D_WASM_THREADS')).toBe(1);
    expect(parseWasmThreads('2', 'DD3D_WASM_THREADS')).toBe(2);
    expect(parseWasmThreads('AUTO', 'DD3D_WASM_THREADS')).toBeGreaterThanOrEqual(1);
    expect(() => parseWasmThreads('9', 'DD3D_WASM_THREADS')).toThrow('DD3D_WASM_THREADS: bad wasm thread count "9" (expected 1..8 or auto)');
    expect(() => parseWasmThreads('1.5', 'x')).toThrow('bad wasm thread count');
  });

  it('runs XNNPACK on 2 threads with the patched kernels and matches the single-threaded build bit for bit', async () => {
    const single = await initBackend('wasm', { wasmThreads: 1 });
    expect(single.wasmThreads).toBe(1);
    const expected = compute();

    const info = await initBackend('wasm', { wasmThreads: 2 });
    expect(tf.getBackend()).toBe('wasm');
    expect(info.wasmThreads).toBe(2);
    expect(getThreadsCount()).toBe(2);
    expect(info.reason).toContain('2 threads');
    expect(info.patchedKernels).toContain('Conv2DBackpropFilter');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    const got = compute();
    for (let i = 0; i < expected.length; i++) expect(Array.from(got[i]!)).toEqual(Array.from(expected[i]!));
    expect(tf.memory().numTensors).toBe(0);

    // and back: the stock build again, on the same name
    const back = await initBackend('wasm', { wasmThreads: 1 });
    expect(back.wasmThreads).toBe(1);
    expect(Array.from(compute()[1]!)).toEqual(Array.from(expected[1]!));
  });
});
