/**
 * The kernel tests' one check (wasm-kernels.test.ts, native-kernels.test.ts): run f on the wasm
 * and the pure-JS cpu backend from the same inputs and compare the outputs and the gradients of
 * sum(f(x) · r) for a random r, to 2e-5 relative to the reference's largest magnitude.
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';

export type Case = { inputs: number[][]; f: (...xs: tf.Tensor[]) => tf.Tensor; shapes: number[][] };

async function evaluate(backend: string, c: Case, r: number[], withGrads: boolean) {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const xs = c.inputs.map((v, i) => tf.tensor(v, c.shapes[i]));
    const y = c.f(...xs);
    const rt = tf.tensor(r, y.shape);
    const grads = withGrads ? tf.grads((...args: tf.Tensor[]) => tf.sum(tf.mul(c.f(...args), rt)))(xs) : [];
    return { y: y.dataSync().slice(), shape: y.shape, grads: grads.map((g) => g.dataSync().slice()) };
  });
}

function maxErr(a: ArrayLike<number>, b: ArrayLike<number>) {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { err, scale };
}

/** A file's random cases: `randn` is a seeded LCG + Box–Muller stream, so each file's cases are fixed. */
export function backendParity(seed: number) {
  function randn(n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const u = seed / 2147483648;
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const v = seed / 2147483648;
      out.push(Math.sqrt(-2 * Math.log(u + 1e-12)) * Math.cos(2 * Math.PI * v));
    }
    return out;
  }

  function makeCase(shapes: number[][], f: Case['f']): Case {
    return { shapes, f, inputs: shapes.map((s) => randn(s.reduce((a, b) => a * b, 1))) };
  }

  /** withGrads=false for broadcast batches: tfjs-core's matMul gradient does not reduce them on any backend. */
  async function expectSameOnWasmAndCpu(c: Case, withGrads = true) {
    await tf.setBackend('cpu');
    const outShape = tf.tidy(() => c.f(...c.inputs.map((v, i) => tf.tensor(v, c.shapes[i]))).shape);
    const r = randn(outShape.reduce((a, b) => a * b, 1));
    const cpu = await evaluate('cpu', c, r, withGrads);
    const wasm = await evaluate('wasm', c, r, withGrads);
    expect(wasm.grads.length).toBe(withGrads ? c.inputs.length : 0);
    expect(wasm.shape).toEqual(cpu.shape);
    const outputs = [[wasm.y, cpu.y], ...wasm.grads.map((g, i) => [g, cpu.grads[i]])];
    for (const [ours, ref] of outputs) {
      expect(ours.length).toBe(ref.length);
      const { err, scale } = maxErr(ours, ref);
      expect(scale).toBeGreaterThan(0);
      expect(err).toBeLessThanOrEqual(2e-5 * Math.max(1, scale));
    }
    await tf.setBackend('wasm');
  }

  /** Restarts the stream, for a case that must draw the same inputs each time it is built. */
  const reseed = (s: number) => {
    seed = s;
  };

  return { randn, makeCase, expectSameOnWasmAndCpu, reseed };
}
