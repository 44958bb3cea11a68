/**
 * Per-pixel camera conditioning of the UNet (a dd3d extension, `dd3d_camera_rays`): each
 * image's camera as a map of its pixels' rays, in Plücker coordinates, projected to the first
 * block's channels and added to conv_in's output.
 *
 *   ray of pixel (i, j): origin o (the camera position), unit direction d (camera.ts's cameraRays)
 *   map[j, i] = [d, o × d]                       (6 channels; |o × d| = the ray's distance to the origin)
 *   conv_in(x) + map · camera_raysᵀ              (camera_rays.weight [C0, 6], no bias)
 *
 * Why: the camera MLP (camera-embedding.ts) adds one vector to the time embedding, the same
 * shift at every pixel. Measured on the 6,000-step multi-view model, it barely changed what the
 * UNet predicts: the denoising loss on true 4-view records rose 2% when every camera was
 * turned 180° (t = 500), and cars were drawn side-on from every azimuth. A ray map tells each
 * pixel where it looks at the object from, which a convolution can use locally (the
 * CAT3D / Plücker-ray conditioning of later multi-view models).
 *
 * The map is computed from the camera features (camera-embedding.ts), which fix the orbit
 * camera exactly, so no new input reaches the UNet. A null camera (a zero row) gives a zero
 * map; with no bias, its output is exactly conv_in's, as without this extension. The weight is
 * zero-initialized (`zeroInitKey`), so a fine-tune starts from the model it was given.
 */
import * as tf from '@tensorflow/tfjs';
import { cameraRays, orbitCamera } from '../../renderers/camera.js';
import { Dd3dError } from '../core/errors.js';
import { CAMERA_FEATURES } from './camera-embedding.js';
import { linear, linearParams, type Linear, type Params } from './nn.js';

export const RAY_CHANNELS = 6;

/**
 * The Plücker ray map [H·W·6] (row 0 at the top) of the camera with these six features, or
 * zeros for a null camera. Inverts cameraFeatures: az = atan2(sin, cos), el likewise,
 * radius = framing / sin(fov / 2).
 */
export function rayMap(features: ArrayLike<number>, height: number, width: number): Float32Array {
  const out = new Float32Array(height * width * RAY_CHANNELS);
  if (Array.from(features).every((x) => x === 0)) return out;
  const [sinAz, cosAz, sinEl, cosEl, fov, framing] = Array.from(features) as number[];
  if (!(fov! > 0 && fov! < Math.PI && framing! > 0 && Math.hypot(sinAz!, cosAz!) > 0 && Math.hypot(sinEl!, cosEl!) > 0)) {
    throw new Dd3dError(`unet: camera features [${Array.from(features, (x) => +x.toFixed(4))}] are not an orbit camera (fov in (0, π) radians, framing > 0; see camera-embedding.ts)`);
  }
  const DEG = 180 / Math.PI;
  const camera = orbitCamera({
    azimuth: Math.atan2(sinAz!, cosAz!) * DEG,
    elevation: Math.atan2(sinEl!, cosEl!) * DEG,
    fov: fov! * DEG,
    radius: framing! / Math.sin(fov! / 2),
  });
  const { origins: o, directions: d } = cameraRays(camera, width, height);
  for (let p = 0; p < height * width; p++) {
    const [ox, oy, oz, dx, dy, dz] = [o[3 * p]!, o[3 * p + 1]!, o[3 * p + 2]!, d[3 * p]!, d[3 * p + 1]!, d[3 * p + 2]!];
    out.set([dx, dy, dz, oy * dz - oz * dy, oz * dx - ox * dz, ox * dy - oy * dx], p * RAY_CHANNELS);
  }
  return out;
}

export class CameraRayConditioning {
  private readonly proj: Linear;
  /** Ray maps by camera and size: a run renders from few distinct cameras, many times. */
  private readonly cache = new Map<string, Float32Array>();

  constructor(p: Params, channels: number) {
    this.proj = linearParams(p, 'camera_rays', RAY_CHANNELS, channels, false);
  }

  /** camera features [B, 6] → [B, H, W, channels], to add to conv_in's output. */
  forward(camera: tf.Tensor2D, height: number, width: number): tf.Tensor4D {
    const feats = camera.dataSync();
    const b = camera.shape[0];
    const maps = new Float32Array(b * height * width * RAY_CHANNELS);
    for (let i = 0; i < b; i++) {
      const row = feats.subarray(i * CAMERA_FEATURES, (i + 1) * CAMERA_FEATURES);
      const key = `${height}x${width}:${row.join(',')}`;
      let map = this.cache.get(key);
      if (!map) {
        map = rayMap(row, height, width);
        if (this.cache.size > 4096) this.cache.clear();
        this.cache.set(key, map);
      }
      maps.set(map, i * map.length);
    }
    return tf.tidy(() => linear(tf.tensor4d(maps, [b, height, width, RAY_CHANNELS]), this.proj));
  }
}
