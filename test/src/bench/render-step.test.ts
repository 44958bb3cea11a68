/**
 * The render bench's case (src/bench/render-step.ts): it runs, its timings and loss are finite,
 * the live-sample count matches the occupancy grid, repeated iterations leave the tensor count
 * flat, and its gradients are a function of the iteration (so two cases compare like for like).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { median, renderStepCase } from '../../../src/bench/render-step.js';

beforeAll(async () => {
  await initBackend('wasm');
});

it('runs iterations with finite timings, flat tensor counts and repeatable gradients', () => {
  const c = renderStepCase({ views: 2, res: 8, samplesPerRay: 8 });
  expect(c.live).toHaveLength(2);
  for (const n of c.live) expect(n).toBeGreaterThan(0);
  const first = c.step();
  const before = tf.memory().numTensors;
  const second = c.step();
  expect(tf.memory().numTensors).toBe(before);
  for (const t of [first, second]) {
    for (const v of [t.renderMs, t.backpropMs, t.renderCpuMs, t.backpropCpuMs, t.loss]) expect(Number.isFinite(v)).toBe(true);
  }
  const a = c.gradients(1);
  const other = renderStepCase({ views: 2, res: 8, samplesPerRay: 8 });
  const b = other.gradients(1);
  other.dispose();
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, g] of a) expect(Buffer.from(g.buffer).equals(Buffer.from(b.get(k)!.buffer))).toBe(true);
  c.dispose();
});

it('median', () => {
  expect(median([3, 1, 2])).toBe(2);
  expect(median([4, 1, 2, 3])).toBe(2.5);
});
