import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { seededNormal } from '../../../src/core/seeded-normal.js';

describe('seededNormal', () => {
  it('draws the same numbers for seed 0 every time (tfjs alone does not)', () => {
    const draw = (seed: number) => tf.tidy(() => Array.from(seededNormal([64], 0, 1, seed).dataSync()));
    expect(draw(0)).toEqual(draw(0));
    expect(draw(0)).not.toEqual(draw(1));
  });

  it('leaves every other seed as tfjs draws it, with the given mean and std', () => {
    const ours = tf.tidy(() => Array.from(seededNormal([64], 2, 0.5, 7).dataSync()));
    const theirs = tf.tidy(() => Array.from(tf.randomNormal([64], 2, 0.5, 'float32', 7).dataSync()));
    expect(ours).toEqual(theirs);
    const mean = ours.reduce((a, b) => a + b, 0) / ours.length;
    (expect(mean).toBeGreaterThan(1.7), expect(mean).toBeLessThan(2.3));
  });
});
