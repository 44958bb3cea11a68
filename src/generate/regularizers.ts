/**
 * Named regularizers of the text-to-3D loop, each weighted by `config.lambda[name]` and
 * logged as loss_<name> (threestudio's loss_* × lambda_*). Each is averaged over an
 * iteration's renders, so a weight means the same for one view or V.
 */
import * as tf from '@tensorflow/tfjs';
import type * as THREE from 'three';
import { cameraRays } from '../../renderers/camera.js';
import type { VolumeRenderResult } from '../../renderers/volume.js';
import type { GenerateConfig } from './config.js';

/** Every weight but the photometric fit's, which weighs a guidance (guidance/photometric.ts), not a regularizer. */
export type RegularizerName = Exclude<keyof GenerateConfig['lambda'], 'photometric'>;

export interface Regularizer {
  /** Needs the renders' normals (skipped when an iteration renders none). */
  needsNormals: boolean;
  term(render: VolumeRenderResult, camera: THREE.PerspectiveCamera, res: number): tf.Scalar;
}

/** Mean binary entropy of the opacity: low when every pixel is clearly object or clearly background. */
function opacityEntropy(opacity: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const o = tf.clipByValue(opacity, 1e-5, 1 - 1e-5);
    const e = tf.neg(tf.add(tf.mul(o, tf.log(o)), tf.mul(tf.sub(1, o), tf.log(tf.sub(1, o)))));
    return tf.mean(e) as tf.Scalar;
  });
}

/**
 * DreamFusion's orientation loss on the composited normals: max(0, n·d)², where d is the
 * pixel's ray direction, penalizes surfaces that face away from the camera (which would
 * otherwise let density hide colour behind itself). Per pixel, not per sample: the renderer
 * returns Σ wᵢnᵢ, which weights each sample's normal by its contribution already.
 */
export function orientationLoss(normal: tf.Tensor3D, camera: THREE.PerspectiveCamera, res: number): tf.Scalar {
  return tf.tidy(() => {
    const dirs = tf.tensor2d(cameraRays(camera, res, res).directions, [res * res, 3]);
    const facing = tf.sum(tf.mul(normal.reshape([res * res, 3]), dirs), 1);
    return tf.mean(tf.square(tf.relu(facing))) as tf.Scalar;
  });
}

/** In the order they are added to the loss. */
export const REGULARIZERS: Record<RegularizerName, Regularizer> = {
  sparsity: { needsNormals: false, term: (r) => tf.mean(r.opacity) as tf.Scalar },
  entropy: { needsNormals: false, term: (r) => opacityEntropy(r.opacity) },
  orient: { needsNormals: true, term: (r, camera, res) => orientationLoss(r.normal, camera, res) },
};
