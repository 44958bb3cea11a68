/**
 * Seeded Gaussian draws. tfjs seeds its Gaussian generator with `seed ? seed : Math.random()`,
 * so a seed of 0 (every command's default --seed) would give a different stream on every run.
 * It hashes `String(seed)`, so passing 0 as the string "0" seeds it like any other number and
 * leaves every other seed's stream as tfjs draws it. Every seeded draw goes through here.
 */
import * as tf from '@tensorflow/tfjs';

export function seededNormal<R extends tf.Rank>(shape: tf.ShapeMap[R], mean: number, std: number, seed: number): tf.Tensor<R> {
  return tf.randomNormal<R>(shape, mean, std, 'float32', (seed === 0 ? '0' : seed) as number);
}
