/**
 * Training from scratch: every weight of the UNet and of CLIPTextModel must get a correct gradient.
 *
 * - UNet (tiny, both projection kinds): the gradient of an MSE loss with respect to every
 *   parameter, hand-written gradients on (the fast path), against the same model with the custom
 *   ops off (`setCustomGradients(false)`: tf's autodiff through the same forward ops).
 * - CLIPTextModel (tiny): it has no custom ops, so its reference is independent: a float64
 *   re-implementation of the forward pass in plain JS, differentiated by central differences
 *   on every entry of every parameter.
 * - A frozen model (plain tensors, the default) computes no weight gradient in its backward pass.
 * - AdamW against a hand computation; five joint CLIP + UNet training steps keep the tensor count.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { multiHeadAttention } from '../../../src/models/attention.js';
import { ClipTextModel, clipTextParamShapes, poolIndex, type ClipTextConfig } from '../../../src/models/clip-text-model.js';
import { Params, randomInit, setCustomGradients } from '../../../src/models/nn.js';
import { UNet2DConditionModel } from '../../../src/models/unet.js';
import { AdamW, clipGlobalNorm } from '../../../src/train/adamw.js';
import { tinyUnetConfig } from '../../helpers/tiny-configs.js';

beforeAll(async () => {
  await initBackend('wasm');
});

afterAll(() => {
  setCustomGradients(true);
});

/** A tiny UNet on trainable variables, with biases and norm affines moved off 0 and 1 so no term vanishes by accident. */
function tinyUnet(linear: boolean, seed = 1): UNet2DConditionModel {
  const unet = new UNet2DConditionModel(tinyUnetConfig(linear), new Params(new Map(), 'random tiny unet', randomInit(seed)).toVariables());
  perturbVectors(unet.params, 1000 * seed);
  return unet;
}

function perturbVectors(p: Params, seed: number): void {
  let s = seed;
  tf.tidy(() => {
    for (const v of p.variables().values()) if (v.rank === 1) v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.2, 'float32', s++)));
  });
}

const maxAbs = (t: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]);

/** The loss and every variable's gradient, keyed by checkpoint key. */
function gradsByKey(p: Params, loss: () => tf.Scalar): { loss: number; grads: Map<string, tf.Tensor> } {
  const vars = p.variables();
  const { value, grads } = tf.variableGrads(loss, [...vars.values()]);
  const out = new Map<string, tf.Tensor>();
  for (const [key, v] of vars) if (grads[v.name]) out.set(key, grads[v.name]);
  const l = value.dataSync()[0];
  value.dispose();
  return { loss: l, grads: out };
}

describe('UNet: every parameter gets the autodiff gradient', () => {
  it.each([false, true])('use_linear_projection %s', (linear) => {
    const unet = tinyUnet(linear);
    const sample = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
    const context = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 12) as tf.Tensor3D;
    const target = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 13);
    const loss = () => tf.mean(tf.squaredDifference(unet.forward(sample, [10, 700], context), target)) as tf.Scalar;
    const before = tf.memory().numTensors;

    const fast = gradsByKey(unet.params, loss);
    const previous = setCustomGradients(false);
    let ref: ReturnType<typeof gradsByKey>;
    try {
      ref = gradsByKey(unet.params, loss);
    } finally {
      setCustomGradients(previous);
    }

    const keys = [...unet.params.tensors.keys()];
    expect(unet.params.variables().size).toBe(keys.length);
    expect(keys.length).toBeGreaterThan(100);
    // Same forward numbers on both paths.
    expect(fast.loss).toBe(ref.loss);
    // Every parameter has a gradient on both paths, and it is not zero.
    expect([...fast.grads.keys()].sort()).toEqual([...keys].sort());
    expect([...ref.grads.keys()].sort()).toEqual([...keys].sort());
    const nonZero = keys.filter((k) => maxAbs(fast.grads.get(k)!) > 0 && maxAbs(ref.grads.get(k)!) > 0);
    expect(nonZero.length).toBe(keys.length);
    // Within 1e-3 of each gradient's largest entry.
    const bad: string[] = [];
    let worst = 0;
    for (const k of keys) {
      const scale = maxAbs(ref.grads.get(k)!);
      const err = tf.tidy(() => maxAbs(tf.sub(fast.grads.get(k)!, ref.grads.get(k)!))) / scale;
      worst = Math.max(worst, err);
      if (!(err <= 1e-3)) bad.push(`${k}: relative error ${err.toExponential(2)}`);
    }
    expect(bad).toEqual([]);
    expect(worst).toBeLessThan(1e-3);
    // The norm affines, the attention projections, GEGLU and the time embedding are among them.
    for (const k of [
      'conv_norm_out.weight',
      'conv_norm_out.bias',
      'down_blocks.0.attentions.0.norm.weight',
      'down_blocks.0.attentions.0.proj_in.weight',
      'down_blocks.0.attentions.0.transformer_blocks.0.norm1.weight',
      'down_blocks.0.attentions.0.transformer_blocks.0.norm3.bias',
      'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight',
      'down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight',
      'mid_block.resnets.0.norm1.weight',
      'time_embedding.linear_1.weight',
      'up_blocks.1.resnets.0.conv_shortcut.weight',
    ]) {
      expect(keys).toContain(k);
    }

    tf.dispose([...fast.grads.values(), ...ref.grads.values()]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([sample, context, target]);
    unet.dispose();
  });
});

describe('multiHeadAttention: chunked hand-written gradient', () => {
  it('matches autodiff, one chunk and several', () => {
    const q = tf.randomNormal([2 * 6, 8], 0, 1, 'float32', 1) as tf.Tensor2D;
    const k = tf.randomNormal([2 * 5, 8], 0, 1, 'float32', 2) as tf.Tensor2D;
    const v = tf.randomNormal([2 * 5, 8], 0, 1, 'float32', 3) as tf.Tensor2D;
    const w = tf.randomNormal([2 * 6, 8], 0, 1, 'float32', 4);
    const grads = (chunk: number) =>
      tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.mul(multiHeadAttention(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, 2, 2, chunk), w)),
      )([q, k, v]);
    for (const chunk of [1 << 20, 30]) {
      const fast = grads(chunk);
      const previous = setCustomGradients(false);
      const ref = grads(chunk);
      setCustomGradients(previous);
      for (let i = 0; i < 3; i++) {
        expect(tf.tidy(() => maxAbs(tf.sub(fast[i], ref[i]))) / maxAbs(ref[i])).toBeLessThan(1e-5);
      }
      tf.dispose([...fast, ...ref]);
    }
    tf.dispose([q, k, v, w]);
  });
});

describe('a frozen model computes no weight gradient', () => {
  it('plain-tensor weights: the backward pass to the inputs runs no filter gradient; trainable weights do', async () => {
    const kernels = async (trainable: boolean) => {
      const p = new Params(new Map(), 'random tiny unet', randomInit(3));
      const unet = new UNet2DConditionModel(tinyUnetConfig(false), trainable ? p.toVariables() : p);
      const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const c = tf.randomNormal([1, 5, 8], 0, 1, 'float32', 2) as tf.Tensor3D;
      const f = (s: tf.Tensor, e: tf.Tensor) => unet.forward(s as tf.Tensor4D, 500, e as tf.Tensor3D).sum();
      const info = await tf.profile(() => (trainable ? tf.tidy(() => Object.values(tf.variableGrads(() => f(x, c) as tf.Scalar).grads)) : tf.grads(f)([x, c])));
      tf.dispose(info.result as tf.Tensor[]);
      tf.dispose([x, c]);
      unet.dispose();
      return info.kernelNames;
    };
    const frozen = await kernels(false);
    const trained = await kernels(true);
    expect(frozen).toContain('Conv2DBackpropInput');
    expect(frozen).not.toContain('Conv2DBackpropFilter');
    expect(trained).toContain('Conv2DBackpropFilter');
  });

  it('Params.toVariables() refuses once a model holds the tensors', () => {
    const p = new Params(new Map(), 'random tiny unet', randomInit(3));
    const unet = new UNet2DConditionModel(tinyUnetConfig(false), p);
    expect(() => p.toVariables()).toThrow(/before a model is built/);
    expect(p.variables().size).toBe(0);
    unet.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// CLIPTextModel against a float64 reference

const CLIP_TINY: ClipTextConfig = {
  hidden_size: 8,
  intermediate_size: 16,
  num_attention_heads: 2,
  num_hidden_layers: 2,
  max_position_embeddings: 8,
  vocab_size: 12,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
  eos_token_id: 11,
};

const IDS = [
  [10, 3, 5, 11, 11, 11],
  [10, 7, 11, 11, 11, 11],
];

function tinyClip(seed: number): ClipTextModel {
  const tensors = new Map<string, tf.Tensor>();
  let s = seed;
  for (const [key, shape] of clipTextParamShapes(CLIP_TINY)) {
    const isNormWeight = shape.length === 1 && /norm/.test(key) && key.endsWith('.weight');
    const t = tf.randomNormal(shape, isNormWeight ? 1 : 0, shape.length === 1 ? 0.2 : 0.4, 'float32', s++);
    tensors.set(key, t);
  }
  return new ClipTextModel(CLIP_TINY, new Params(tensors, 'random tiny clip').toVariables());
}

type F64 = Map<string, Float64Array>;

/** The CLIP text forward in float64, written out loop by loop: last hidden state [B·T·D] and pooled [B·D]. */
function clipForward64(c: ClipTextConfig, P: F64, ids: number[][]): { last: Float64Array; pooled: Float64Array } {
  const D = c.hidden_size;
  const H = c.num_attention_heads;
  const hd = D / H;
  const B = ids.length;
  const T = ids[0].length;
  const N = B * T;
  const w = (k: string) => P.get(k)!;
  const linear = (x: Float64Array, rows: number, inD: number, key: string, outD: number) => {
    const W = w(`${key}.weight`);
    const b = w(`${key}.bias`);
    const y = new Float64Array(rows * outD);
    for (let i = 0; i < rows; i++) {
      for (let o = 0; o < outD; o++) {
        let acc = b[o];
        for (let j = 0; j < inD; j++) acc += x[i * inD + j] * W[o * inD + j];
        y[i * outD + o] = acc;
      }
    }
    return y;
  };
  const layerNorm = (x: Float64Array, key: string) => {
    const g = w(`${key}.weight`);
    const b = w(`${key}.bias`);
    const y = new Float64Array(x.length);
    for (let i = 0; i < N; i++) {
      let mean = 0;
      for (let j = 0; j < D; j++) mean += x[i * D + j];
      mean /= D;
      let v = 0;
      for (let j = 0; j < D; j++) v += (x[i * D + j] - mean) ** 2;
      v /= D;
      const r = 1 / Math.sqrt(v + c.layer_norm_eps);
      for (let j = 0; j < D; j++) y[i * D + j] = (x[i * D + j] - mean) * r * g[j] + b[j];
    }
    return y;
  };
  let h = new Float64Array(N * D);
  const tok = w('embeddings.token_embedding.weight');
  const pos = w('embeddings.position_embedding.weight');
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let j = 0; j < D; j++) h[(b * T + t) * D + j] = tok[ids[b][t] * D + j] + pos[t * D + j];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const name = `encoder.layers.${l}`;
    const x = layerNorm(h, `${name}.layer_norm1`);
    const q = linear(x, N, D, `${name}.self_attn.q_proj`, D).map((v) => v / Math.sqrt(hd));
    const k = linear(x, N, D, `${name}.self_attn.k_proj`, D);
    const v = linear(x, N, D, `${name}.self_attn.v_proj`, D);
    const att = new Float64Array(N * D);
    for (let b = 0; b < B; b++) {
      for (let head = 0; head < H; head++) {
        for (let i = 0; i < T; i++) {
          const s = new Float64Array(T);
          let max = -Infinity;
          for (let j = 0; j <= i; j++) {
            let acc = 0;
            for (let e = 0; e < hd; e++) acc += q[(b * T + i) * D + head * hd + e] * k[(b * T + j) * D + head * hd + e];
            s[j] = acc;
            max = Math.max(max, acc);
          }
          let z = 0;
          for (let j = 0; j <= i; j++) z += s[j] = Math.exp(s[j] - max);
          for (let e = 0; e < hd; e++) {
            let acc = 0;
            for (let j = 0; j <= i; j++) acc += (s[j] / z) * v[(b * T + j) * D + head * hd + e];
            att[(b * T + i) * D + head * hd + e] = acc;
          }
        }
      }
    }
    const o = linear(att, N, D, `${name}.self_attn.out_proj`, D);
    h = h.map((val, i) => val + o[i]);
    const x2 = layerNorm(h, `${name}.layer_norm2`);
    const f1 = linear(x2, N, D, `${name}.mlp.fc1`, c.intermediate_size).map((a) => a / (1 + Math.exp(-1.702 * a)));
    const f2 = linear(f1, N, c.intermediate_size, `${name}.mlp.fc2`, D);
    h = h.map((val, i) => val + f2[i]);
  }
  const last = layerNorm(h, 'final_layer_norm');
  const pooled = new Float64Array(B * D);
  ids.forEach((row, b) => {
    const e = poolIndex(row, c.eos_token_id);
    pooled.set(last.subarray((b * T + e) * D, (b * T + e + 1) * D), b * D);
  });
  return { last, pooled };
}

describe('CLIPTextModel: every parameter gets its gradient', () => {
  it('matches central differences of a float64 forward on every entry of every parameter', () => {
    const model = tinyClip(21);
    const [B, T, D] = [IDS.length, IDS[0].length, CLIP_TINY.hidden_size];
    const r1 = tf.randomNormal([B, T, D], 0, 1, 'float32', 31);
    const r2 = tf.randomNormal([B, D], 0, 1, 'float32', 32);
    const loss = () =>
      tf.tidy(() => {
        const out = model.forward(IDS);
        return tf.add(tf.sum(tf.mul(out.lastHiddenState, r1)), tf.sum(tf.mul(out.pooled, r2))) as tf.Scalar;
      });
    const { loss: l32, grads } = gradsByKey(model.params, loss);

    const P: F64 = new Map([...model.params.tensors].map(([k, t]) => [k, Float64Array.from(t.dataSync())]));
    const [R1, R2] = [Float64Array.from(r1.dataSync()), Float64Array.from(r2.dataSync())];
    const loss64 = () => {
      const { last, pooled } = clipForward64(CLIP_TINY, P, IDS);
      let acc = 0;
      last.forEach((v, i) => (acc += v * R1[i]));
      pooled.forEach((v, i) => (acc += v * R2[i]));
      return acc;
    };
    // The float64 forward is the model's forward.
    expect(Math.abs(loss64() - l32)).toBeLessThan(1e-4 * Math.max(1, Math.abs(l32)));

    const keys = [...model.params.tensors.keys()];
    expect([...grads.keys()].sort()).toEqual([...keys].sort());
    const h = 1e-5;
    const report: string[] = [];
    const significant: string[] = [];
    const globalScale = Math.max(...keys.map((k) => maxAbs(grads.get(k)!)));
    for (const key of keys) {
      const theta = P.get(key)!;
      const fd = new Float64Array(theta.length);
      for (let i = 0; i < theta.length; i++) {
        const t0 = theta[i];
        theta[i] = t0 + h;
        const up = loss64();
        theta[i] = t0 - h;
        const down = loss64();
        theta[i] = t0;
        fd[i] = (up - down) / (2 * h);
      }
      const g = grads.get(key)!.dataSync();
      const scale = Math.max(...Array.from(fd, Math.abs));
      const err = Math.max(...Array.from(fd, (v, i) => Math.abs(v - g[i])));
      if (/self_attn\.k_proj\.bias$/.test(key)) {
        // Mathematically zero (in torch too): a key bias adds q·b to every score of a query's
        // row, which softmax ignores. Both sides must say so, up to float32 rounding.
        expect(scale).toBeLessThan(1e-8);
        expect(maxAbs(grads.get(key)!)).toBeLessThan(1e-5 * globalScale);
        continue;
      }
      if (scale > 1e-6 * globalScale && maxAbs(grads.get(key)!) > 1e-6 * globalScale) significant.push(key);
      if (!(err <= 1e-3 * scale)) report.push(`${key}: error ${(err / scale).toExponential(2)} of max ${scale.toExponential(2)}`);
    }
    expect(report).toEqual([]);
    // Every parameter but the key biases (one per layer) has a non-zero gradient.
    expect(significant.length).toBe(keys.length - CLIP_TINY.num_hidden_layers);
    tf.dispose([...grads.values(), r1, r2]);
    model.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// AdamW

describe('AdamW', () => {
  it('follows torch.optim.AdamW step by step (decoupled weight decay, bias corrections)', () => {
    const w = tf.variable(tf.tensor1d([0.5, -1, 2]), true);
    const opt = new AdamW(new Map([['w', w]]), { lr: 0.1, betas: [0.9, 0.99], eps: 1e-8, weightDecay: 0.1 });
    const gs = [
      [0.3, -0.2, 1],
      [-0.1, 0.4, 0.5],
      [0.2, 0.2, -1],
    ];
    const ref = [0.5, -1, 2];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    gs.forEach((g, s) => {
      const t = s + 1;
      for (let i = 0; i < 3; i++) {
        ref[i] *= 1 - 0.1 * 0.1;
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.99 * v[i] + 0.01 * g[i] ** 2;
        const mh = m[i] / (1 - 0.9 ** t);
        const vh = v[i] / (1 - 0.99 ** t);
        ref[i] -= (0.1 * mh) / (Math.sqrt(vh) + 1e-8);
      }
      const grad = tf.tensor1d(g);
      opt.step({ [w.name]: grad });
      grad.dispose();
      const got = Array.from(w.dataSync());
      got.forEach((x, i) => expect(x).toBeCloseTo(ref[i], 5));
    });
    expect(opt.stepCount).toBe(3);

    // State round trip: a fresh optimizer on the same weight continues identically.
    const w2 = tf.variable(w.clone(), true);
    const opt2 = new AdamW(new Map([['w', w2]]), { lr: 0.1, betas: [0.9, 0.99], eps: 1e-8, weightDecay: 0.1 });
    opt2.loadState(opt.state(), opt.stepCount);
    const g = tf.tensor1d([0.1, 0.1, 0.1]);
    opt.step({ [w.name]: g });
    opt2.step({ [w2.name]: g });
    expect(Array.from(w2.dataSync())).toEqual(Array.from(w.dataSync()));
    tf.dispose([g, w, w2]);
    opt.dispose();
    opt2.dispose();
  });

  it('skips decay for noDecay keys', () => {
    const w = tf.variable(tf.tensor1d([1, 1]), true);
    const opt = new AdamW(new Map([['norm.bias', w]]), { lr: 0.1, weightDecay: 0.5, noDecay: (k) => k.endsWith('.bias') });
    const g = tf.tensor1d([0, 0]);
    opt.step({ [w.name]: g });
    expect(Array.from(w.dataSync())).toEqual([1, 1]);
    tf.dispose([g, w]);
    opt.dispose();
  });

  it('lrScale gives each weight its own learning rate, decay included', () => {
    const a = tf.variable(tf.tensor1d([1]), true);
    const b = tf.variable(tf.tensor1d([1]), true);
    const opt = new AdamW(
      new Map([
        ['grid', a],
        ['mlp', b],
      ]),
      { lr: 0.1, weightDecay: 0.5, lrScale: (k) => (k === 'grid' ? 1 : 0.1) },
    );
    const g = tf.tensor1d([1]);
    opt.step({ [a.name]: g, [b.name]: g });
    // first step: w·(1 − lr·wd) − lr (the bias-corrected Adam step is ±1 per unit lr)
    expect(a.dataSync()[0]).toBeCloseTo(1 * (1 - 0.1 * 0.5) - 0.1, 5);
    expect(b.dataSync()[0]).toBeCloseTo(1 * (1 - 0.01 * 0.5) - 0.01, 5);
    tf.dispose([g, a, b]);
    opt.dispose();
  });

  it('clipGlobalNorm scales every gradient by one factor when the global norm is too large', () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor2d([[0, 4]]) };
    const clipped = clipGlobalNorm(grads, 1);
    expect(clipped.norm).toBeCloseTo(5, 5);
    expect(Array.from(clipped.grads.a.dataSync())[0]).toBeCloseTo(0.6, 5);
    expect(Array.from(clipped.grads.b.dataSync())[1]).toBeCloseTo(0.8, 5);
    const kept = clipGlobalNorm(grads, 10);
    expect(Array.from(kept.grads.b.dataSync())).toEqual([0, 4]);
    tf.dispose([...Object.values(grads), ...Object.values(clipped.grads), ...Object.values(kept.grads)]);
  });
});

describe('training steps', () => {
  it('five AdamW steps on CLIP + UNet leave the tensor count as the first step left it, and the loss falls', () => {
    const clip = tinyClip(41);
    const unet = tinyUnet(true, 5);
    const vars = new Map([
      ...[...clip.params.variables()].map(([k, v]) => [`text_encoder.${k}`, v] as const),
      ...[...unet.params.variables()].map(([k, v]) => [`unet.${k}`, v] as const),
    ]);
    const opt = new AdamW(vars, { lr: 3e-3, weightDecay: 1e-2 });
    const sample = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 51) as tf.Tensor4D;
    const noise = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 52);
    const loss = () =>
      tf.tidy(() => {
        const context = clip.forward(IDS).lastHiddenState;
        return tf.mean(tf.squaredDifference(unet.forward(sample, [100, 900], context), noise)) as tf.Scalar;
      });
    const counts: number[] = [];
    const losses: number[] = [];
    for (let step = 0; step < 5; step++) {
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(loss, [...vars.values()]);
        expect(Object.keys(grads).length).toBe(vars.size);
        const clipped = clipGlobalNorm(grads, 1);
        opt.step(clipped.grads);
        losses.push(value.dataSync()[0]);
      });
      counts.push(tf.memory().numTensors);
    }
    expect(counts.slice(1)).toEqual([counts[0], counts[0], counts[0], counts[0]]);
    expect(losses[4]).toBeLessThan(losses[0]);

    // The trained model computes with its updated weights (no kernel reuses a cached copy of an
    // old value): its output equals a fresh frozen model's built on copies of them.
    const copy = new Params(new Map([...unet.params.tensors].map(([k, t]) => [k, t.clone()])), 'copy');
    const fresh = new UNet2DConditionModel(unet.config, copy);
    const context = clip.forward(IDS).lastHiddenState;
    const a = unet.forward(sample, [100, 900], context);
    const b = fresh.forward(sample, [100, 900], context);
    expect(tf.tidy(() => maxAbs(tf.sub(a, b)))).toBeLessThanOrEqual(1e-6 * maxAbs(a));
    tf.dispose([context, a, b]);
    fresh.dispose();
    opt.dispose();
    tf.dispose([sample, noise]);
    clip.dispose();
    unet.dispose();
  });
});
