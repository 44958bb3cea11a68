/**
 * Camera conditioning of the UNet (a dd3d extension, after MVDream): the camera of each image
 * goes through a two-layer MLP whose output is added to the time embedding.
 *
 *   features(camera) → camera_embedding.linear_1 → silu → camera_embedding.linear_2 → + temb
 *
 * Features (CAMERA_FEATURES = 6), for an orbit camera about the origin in three.js conventions
 * (azimuth 0 looks at the object's front, +Y up; angles in degrees):
 *
 *   [sin az, cos az, sin el, cos el, fov in radians, radius · sin(fov / 2)]
 *
 * The last is the framing: how far the unit sphere sits inside the frame (1 = it touches the
 * frame's edge), so together the six fix the camera and each stays O(1).
 *
 * A null camera is a row of zeros, which no real camera gives (sin² + cos² = 1); its embedding
 * is exactly zero (the MLP's output is masked), so a model with a camera MLP given no camera
 * computes what the same weights without the MLP compute. linear_2 is zero-initialized when
 * training starts (`zeroInitKey`), so a fine-tune starts from the model it was given.
 */
import * as tf from '@tensorflow/tfjs';
import { linear, linearParams, silu, type Linear, type Params } from './nn.js';

export const CAMERA_FEATURES = 6;

/** An orbit camera as dd3d's scenes and renderer describe it: degrees and scene units. */
export interface OrbitCameraSpec {
  azimuth: number;
  elevation: number;
  fov: number;
  radius: number;
}

const DEG = Math.PI / 180;

/** The six conditioning features of one camera (see the header). */
export function cameraFeatures(c: OrbitCameraSpec): number[] {
  const [az, el, fov] = [c.azimuth * DEG, c.elevation * DEG, c.fov * DEG];
  return [Math.sin(az), Math.cos(az), Math.sin(el), Math.cos(el), fov, c.radius * Math.sin(fov / 2)];
}

/** [B, 6] features of a list of cameras, null for a null camera (a zero row). */
export function cameraBatch(cameras: Array<OrbitCameraSpec | null>): tf.Tensor2D {
  const data = new Float32Array(cameras.length * CAMERA_FEATURES);
  cameras.forEach((c, i) => c && data.set(cameraFeatures(c), i * CAMERA_FEATURES));
  return tf.tensor2d(data, [cameras.length, CAMERA_FEATURES]);
}

/** The ray maps' projections (camera-rays.ts): `camera_rays.` and `camera_ray_levels.k.`. */
const isRayKey = (key: string): boolean => key.startsWith('camera_rays.') || key.startsWith('camera_ray_levels.');

/** Weights of the camera conditioning (this MLP and camera-rays.ts's projections): new in a camera-conditioned fine-tune. */
export const isCameraKey = (key: string): boolean => key.startsWith('camera_embedding.') || isRayKey(key);

/** Keys that start at zero in a fresh model: the camera MLP's last layer and the ray map's projections (camera-rays.ts). */
export const zeroInitKey = (key: string): boolean => key.startsWith('camera_embedding.linear_2.') || isRayKey(key);

export class CameraEmbedding {
  private readonly linear1: Linear;
  private readonly linear2: Linear;

  constructor(p: Params, inDim: number, embedDim: number) {
    this.linear1 = linearParams(p, 'camera_embedding.linear_1', inDim, embedDim);
    this.linear2 = linearParams(p, 'camera_embedding.linear_2', embedDim, embedDim);
  }

  /** camera [B, inDim] → [B, embedDim]; rows of zeros (null cameras) give zeros. */
  forward(camera: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const out = linear(silu(linear(camera, this.linear1)), this.linear2);
      const present = tf.cast(tf.greater(tf.sum(tf.abs(camera), 1, true), 0), 'float32');
      return tf.mul(out, present) as tf.Tensor2D;
    });
  }
}
