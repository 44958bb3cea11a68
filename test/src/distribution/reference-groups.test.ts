import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { groupFeatures, groupReferences, promptsPerComponent } from '../../../src/distribution/reference-groups.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('grouping the references', () => {
  it("takes 16 quantiles per channel over all of a file's views, wherever the values are", () => {
    // 3 views of 4×4, two channels: file 0 has views 0 and 1, file 1 has view 2; channel 1 is
    // channel 0 negated
    const values = [Array.from({ length: 16 }, (_, i) => i), Array.from({ length: 16 }, (_, i) => 16 + i), Array.from({ length: 16 }, (_, i) => 15 - i)];
    const data = values.flatMap((v) => v.flatMap((x) => [x, 0 - x]));
    const targets = tf.tensor4d(data, [3, 4, 4, 2]);
    const f = groupFeatures(targets, [0, 0, 1], 2);
    targets.dispose();
    expect(f[0]!.slice(0, 16)).toEqual(Array.from({ length: 16 }, (_, q) => 2 * q + 1)); // 0 … 31, every other value
    expect(f[0]!.slice(16)).toEqual(Array.from({ length: 16 }, (_, q) => -30 + 2 * q)); // -31 … 0, every other value from index 1
    expect(f[1]!.slice(0, 16)).toEqual(Array.from({ length: 16 }, (_, q) => q)); // the reversed image: the same quantiles
  });

  it('finds separated groups, numbered by their first file, the same for any seed', () => {
    const red = [1, 0, 0];
    const blue = [0, 0, 1];
    const jitter = (p: number[], e: number) => p.map((x) => x + e);
    const points = [jitter(red, 0.01), jitter(blue, 0), jitter(red, -0.02), jitter(blue, 0.03), jitter(red, 0)];
    for (const seed of [0, 1, 7]) expect(groupReferences(points, 2, seed)).toEqual([0, 1, 0, 1, 0]);
    expect(groupReferences(points, 1, 0)).toEqual([0, 0, 0, 0, 0]);
    const three = groupReferences([...points, [5, 5, 5]], 3, 0);
    expect(three).toEqual([0, 1, 0, 1, 0, 2]);
  });

  it('refuses more groups than distinct images', () => {
    expect(() => groupReferences([[0], [1]], 3, 0)).toThrow('--components: 3 components need at least 3 reference images, got 2');
    expect(() => groupReferences([[0], [0], [0]], 2, 0)).toThrow(/do not split into 2 distinct groups \(too many identical images\)/);
  });

  it('splits K prompts as evenly as possible', () => {
    expect(promptsPerComponent(32, 3)).toEqual([11, 11, 10]);
    expect(promptsPerComponent(32, 4)).toEqual([8, 8, 8, 8]);
    expect(promptsPerComponent(5, 1)).toEqual([5]);
  });
});
