/**
 * An exponential moving average of weights, the copy a diffusion model is sampled with:
 * ema ← decay·ema + (1 − decay)·w after every optimizer step. The decay warms up as
 * (1 + step)/(10 + step), capped at `decay`, so early weights do not linger.
 */
import * as tf from '@tensorflow/tfjs';

export class Ema {
  readonly shadow = new Map<string, tf.Variable>();

  constructor(
    weights: Map<string, tf.Tensor>,
    readonly decay = 0.999,
  ) {
    for (const [key, w] of weights) this.shadow.set(key, tf.variable(w.clone(), false));
  }

  /** The decay used at `step`. */
  decayAt(step: number): number {
    return Math.min(this.decay, (1 + step) / (10 + step));
  }

  update(weights: Map<string, tf.Tensor>, step: number): void {
    const d = this.decayAt(step);
    tf.tidy(() => {
      for (const [key, s] of this.shadow) {
        const w = weights.get(key);
        if (!w) throw new Error(`EMA: no weight "${key}"`);
        s.assign(tf.add(tf.mul(s, d), tf.mul(w, 1 - d)));
      }
    });
  }

  dispose(): void {
    for (const v of this.shadow.values()) v.dispose();
    this.shadow.clear();
  }
}
