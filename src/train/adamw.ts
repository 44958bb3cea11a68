/**
 * AdamW (Loshchilov & Hutter), as torch.optim.AdamW computes it, over a model's trainable
 * variables (`Params.toVariables()` then `Params.variables()`):
 *
 *   w ← w·(1 − lr·weight_decay)                      decoupled decay, before the Adam step
 *   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
 *   w ← w − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)
 *
 * `form: 'paper'` writes the same maths as the paper's Algorithm 2 (schedule multiplier η =
 * lr, α = 1), the order the attribute probe's trainer was first written in:
 *
 *   m̂ = m/(1 − β1ᵗ),  v̂ = v/(1 − β2ᵗ),  w ← w − lr·(m̂/(√v̂ + eps) + weight_decay·w)
 *
 * The two differ only in float rounding; the probe keeps its order so that its trained
 * weights reproduce bit for bit.
 *
 * and `clipGlobalNorm`, torch's clip_grad_norm_ over a whole gradient set. Moments are
 * tf.Variables updated with `assign` inside one tidy, so a step leaves the tensor count as it
 * found it (the first step creates the moments: two tensors per weight).
 */
import * as tf from '@tensorflow/tfjs';

export interface AdamWOptions {
  /** Learning rate; `lr` is a public field, so a schedule may set it before each step. */
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** Keys whose weights get no decay (e.g. norms and biases: `(key) => key.endsWith('.bias')`). Default: every weight decays, as torch. */
  noDecay?: (key: string) => boolean;
  /** Per-weight multiplier of `lr` (per-module learning rates in one optimizer). Default 1 for every weight. */
  lrScale?: (key: string) => number;
  /** Which order of operations (see the file header): torch's (default) or the paper's. */
  form?: AdamWForm;
}

export type AdamWForm = 'torch' | 'paper';

export class AdamW {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  readonly form: AdamWForm;
  /** Steps taken (t in the bias corrections). */
  stepCount = 0;
  private readonly byName = new Map<string, { key: string; w: tf.Variable }>();
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private readonly noDecay: (key: string) => boolean;
  private readonly lrScale: (key: string) => number;

  /** `variables`: checkpoint key → trainable variable, as `Params.variables()` gives them. */
  constructor(variables: Map<string, tf.Variable>, opts: AdamWOptions = {}) {
    this.lr = opts.lr ?? 1e-3;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 1e-2;
    this.form = opts.form ?? 'torch';
    this.noDecay = opts.noDecay ?? (() => false);
    this.lrScale = opts.lrScale ?? (() => 1);
    for (const [key, w] of variables) this.byName.set(w.name, { key, w });
  }

  /**
   * One update from `grads`, keyed by variable name as tf.variableGrads returns them. A weight
   * without a gradient in `grads` is left alone (its moments too), but the step count behind the
   * bias correction is the optimizer's, not the weight's: a weight whose moments start late takes
   * oversized first steps (2–5× for a few hundred steps when they start at step 600). To hold a
   * weight still for a while and train it later, give it a zero `lrScale` and its gradients
   * (pretrain's camera warm-up). The gradients are not disposed.
   */
  step(grads: tf.NamedTensorMap): void {
    for (const name of Object.keys(grads)) {
      if (!this.byName.has(name)) throw new Error(`AdamW: gradient for unknown variable "${name}"`);
    }
    this.stepCount++;
    const [b1, b2] = this.betas;
    const t = this.stepCount;
    const sqrtBc2 = Math.sqrt(1 - b2 ** t);
    tf.tidy(() => {
      for (const [name, { key, w }] of this.byName) {
        const g = grads[name];
        if (!g) continue;
        const m = this.moment(this.m, name, w);
        const v = this.moment(this.v, name, w);
        const m1 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        m.assign(m1);
        v.assign(v1);
        const lr = this.lr * this.lrScale(key);
        const decays = this.weightDecay > 0 && !this.noDecay(key);
        if (this.form === 'paper') {
          const adam = tf.div(tf.div(m1, 1 - b1 ** t), tf.add(tf.sqrt(tf.div(v1, 1 - b2 ** t)), this.eps));
          const update = decays ? tf.add(adam, tf.mul(w, this.weightDecay)) : adam;
          w.assign(tf.sub(w, tf.mul(update, lr)));
          continue;
        }
        const stepSize = lr / (1 - b1 ** t);
        const decayed = decays ? tf.mul(w, 1 - lr * this.weightDecay) : w;
        const denom = tf.add(tf.div(tf.sqrt(v1), sqrtBc2), this.eps);
        w.assign(tf.sub(decayed, tf.mul(tf.div(m1, denom), stepSize)));
      }
    });
  }

  private moment(store: Map<string, tf.Variable>, name: string, w: tf.Variable): tf.Variable {
    let s = store.get(name);
    if (!s) {
      s = tf.variable(tf.zerosLike(w), false);
      store.set(name, s);
    }
    return s;
  }

  /**
   * The moments for a checkpoint: `exp_avg.<key>` and `exp_avg_sq.<key>` per weight (torch's
   * names); save `stepCount` with them. The tensors are the live state: do not dispose them.
   */
  state(): Map<string, tf.Tensor> {
    const tensors = new Map<string, tf.Tensor>();
    for (const [name, { key }] of this.byName) {
      const m = this.m.get(name);
      const v = this.v.get(name);
      if (m && v) {
        tensors.set(`exp_avg.${key}`, m);
        tensors.set(`exp_avg_sq.${key}`, v);
      }
    }
    return tensors;
  }

  /** Restores what `state()` returned and the step count; the caller still owns (and may dispose) `state`'s tensors. */
  loadState(state: Map<string, tf.Tensor>, stepCount: number): void {
    for (const [name, { key, w }] of this.byName) {
      for (const [prefix, store] of [
        ['exp_avg', this.m],
        ['exp_avg_sq', this.v],
      ] as const) {
        const s = state.get(`${prefix}.${key}`);
        if (!s) continue;
        if (s.shape.join() !== w.shape.join()) throw new Error(`AdamW state: "${prefix}.${key}" has shape [${s.shape}], expected [${w.shape}]`);
        // The variable shares s's (immutable) data: disposing s later only drops the caller's reference.
        this.moment(store, name, w).assign(s);
      }
    }
    this.stepCount = stepCount;
  }

  dispose(): void {
    for (const s of [...this.m.values(), ...this.v.values()]) s.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/**
 * Scales a gradient set so that its global L2 norm (over every tensor together) is at most
 * `maxNorm`, as torch.nn.utils.clip_grad_norm_ (factor maxNorm / (norm + 1e-6), only when it
 * is below 1). Returns new tensors and the norm before clipping; `grads` is left as it is.
 */
export function clipGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): { grads: tf.NamedTensorMap; norm: number } {
  const names = Object.keys(grads);
  const norm = tf.tidy(() => {
    if (names.length === 0) return 0;
    const sq = tf.addN(names.map((n) => tf.sum(tf.square(grads[n]))));
    return Math.sqrt(sq.dataSync()[0]);
  });
  const scale = maxNorm / (norm + 1e-6);
  const out: tf.NamedTensorMap = {};
  for (const n of names) out[n] = scale < 1 ? tf.mul(grads[n], scale) : grads[n].clone();
  return { grads: out, norm };
}
