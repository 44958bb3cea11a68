/**
 * Score distillation (DreamFusion): noise the rendered image to a random t, let the frozen
 * UNet predict the noise with classifier-free guidance, and push the render along
 * grad = w(t)·(ε̂ − ε), w(t) = 1 − ᾱ_t. The UNet is never differentiated: it runs inside a
 * custom op on the render (or on the render's VAE latents) whose value is `sum(x · grad)` and
 * whose gradient in x is exactly `grad`.
 *
 * Pixel-space models (the built-in one) take the render in [−1, 1] directly; latent models
 * (Stable Diffusion folders) take VAE latents, and the gradient then flows back through the
 * VAE encoder into the render. The model-space mapping, the guidance combine, the noise
 * schedule and the prediction type are the DiffusionModel's own (src/pipeline/diffusion-model.ts).
 *
 * Multi-view SDS (MVDream): with `views` V > 1 the B renders are B/V groups of V views of the
 * object from the multi-view layout's cameras, denoised jointly by a camera-conditioned model
 * (one timestep per group); the gradient of each view then carries what the other views say.
 */
import * as tf from '@tensorflow/tfjs';
import type { DiffusionModel, GuidedInputs } from '../pipeline/diffusion-model.js';
import { seededNormal } from '../core/seeded-normal.js';

/** Guidance's inputs (cond, uncond, guidance, cameras, views: see GuidedInputs) and the SDS draw. */
export interface SdsOptions extends GuidedInputs {
  /** One integer training timestep per image. */
  t: number[];
  /** Clip every gradient element to [−clip, clip]; 0 = no clipping. */
  gradClip: number;
  /** Seed of the noise ε. */
  seed: number;
}

export interface SdsResult {
  /** A scalar whose gradient in the render is the SDS gradient (its value means nothing). */
  loss: tf.Scalar;
  /** 0.5·mean(grad²), the number threestudio logs as loss_sds. */
  magnitude: number;
  /** Gradient elements that were NaN or ±Inf and were zeroed. */
  nonFinite: number;
}

/**
 * Call inside the function given to tf.variableGrads (or tf.grads): returns a scalar that
 * carries the SDS gradient into `images` (sRGB renders in [0, 1], [B, H, W, 3]).
 */
export function sdsLoss(model: DiffusionModel, images: tf.Tensor4D, o: SdsOptions): SdsResult {
  const x = model.toModelSpace(images);
  const ddpm = model.trainingScheduler;
  const b = x.shape[0];
  let magnitude = 0;
  let nonFinite = 0;
  // A custom op: tfjs records nothing on the tape inside its forward, so the UNet is not
  // differentiated and its activations are freed when it returns, where a taped call keeps
  // them through the backward pass that never reads them. Its gradient in x is the SDS
  // gradient itself.
  const distill = tf.customGrad((input, save) => {
    const x0 = input as tf.Tensor4D;
    const grad = tf.tidy(() => {
      const noise = seededNormal(x0.shape, 0, 1, o.seed) as tf.Tensor4D;
      const xt = ddpm.addNoise(x0, noise, o.t) as tf.Tensor4D;
      const guided = model.guidedPrediction(xt, o.t, o);
      const epsHat = predictedNoise(model, guided, xt, o.t);
      const alphaBar = Float32Array.from(o.t, (t) => ddpm.schedule.alphasCumprod[t]!);
      const w = tf.tensor(
        alphaBar.map((a) => 1 - a),
        [b, 1, 1, 1],
      );
      let g = tf.mul(w, tf.sub(epsHat, noise));
      const finite = tf.isFinite(g);
      g = tf.where(finite, g, tf.zerosLike(g));
      if (o.gradClip > 0) g = tf.clipByValue(g, -o.gradClip, o.gradClip);
      // one read-back per step for both statistics
      const [finiteCount, meanSq] = tf.stack([tf.sum(tf.cast(finite, 'float32')), tf.mean(tf.square(g))]).dataSync();
      magnitude = 0.5 * meanSq!;
      nonFinite = g.size - finiteCount!;
      return g;
    });
    (save as tf.GradSaveFunc)([grad]);
    // value: Σ x·grad (its number means nothing); gradient in x: grad, times the upstream dy
    return { value: tf.sum(tf.mul(x0, grad)), gradFunc: (dy, [g]) => tf.mul(dy, g!) };
  });
  const loss = distill(x) as tf.Scalar;
  return { loss, magnitude, nonFinite };
}

/** ε̂ from the model output in its prediction type (v: ε = √ᾱ·v + √(1−ᾱ)·x_t; sample: ε = (x_t − √ᾱ·x0)/√(1−ᾱ)). */
function predictedNoise(model: DiffusionModel, out: tf.Tensor4D, xt: tf.Tensor4D, t: number[]): tf.Tensor4D {
  const prediction = model.predictionType;
  if (prediction === 'epsilon') return out;
  const ac = model.trainingScheduler.schedule.alphasCumprod;
  const a = tf.tensor(
    t.map((s) => Math.sqrt(ac[s]!)),
    [t.length, 1, 1, 1],
  );
  const s = tf.tensor(
    t.map((s) => Math.sqrt(1 - ac[s]!)),
    [t.length, 1, 1, 1],
  );
  if (prediction === 'v_prediction') return tf.add(tf.mul(a, out), tf.mul(s, xt)) as tf.Tensor4D;
  return tf.div(tf.sub(xt, tf.mul(a, out)), s) as tf.Tensor4D;
}
