/**
 * Per-pixel camera conditioning of the UNet (dd3d extensions): each image's camera as a map of
 * its pixels' rays, projected to a block's channels and added to its input.
 *
 *   ray of pixel (i, j): origin o (the camera position), unit direction d (camera.ts's cameraRays)
 *   `dd3d_camera_rays`:        m = [d, o × d]              (6 channels, Plücker; |o × d| = the ray's distance to the origin)
 *                              conv_in(x) + m · camera_raysᵀ                       (camera_rays.weight [C0, 6])
 *   `dd3d_camera_ray_levels`:  m = [d, o × d, q],  q = o − (o·d) d   (9 channels; q = the ray's point nearest the origin)
 *                              γ(m) = [m, sin(πm), cos(πm), sin(2πm), cos(2πm)]   (45 channels, grouped by function)
 *                              h_k + γ(m_k) · camera_ray_levels.kᵀ  at the input of down block k + 1 and,
 *                              last, of the mid block, m_k at that block's resolution (camera_ray_levels.k.weight [C, 45])
 *
 * No biases. A null camera (a zero row of features) gives a zero map (γ(0) is not zero, so its
 * encoding is zeroed too), so a null camera computes exactly the model without these keys.
 * Every weight starts at zero (`zeroInitKey`), so a fine-tune starts from the model it was given.
 *
 * Why the rays: the camera MLP (camera-embedding.ts) adds one vector to the time embedding, the
 * same shift at every pixel. On the 6,000-step multi-view model it barely changed what the UNet
 * predicts (the denoising loss on true 4-view records rose 2% with every camera turned 180°),
 * and cars were drawn side-on from every azimuth. A ray map tells each pixel where it looks at
 * the object from (CAT3D's Plücker conditioning; 3DiM adds its rays at every resolution).
 *
 * Why the levels: the conv_in map alone did not teach the pose either. After 3,500 steps of
 * fine-tuning with it, turning the cameras of true car records by 90° raised the loss at
 * t = 999 by 0.3%, where the mean image of each 45° azimuth bin explains 18% of the cars' pixel
 * variance (examples/camera-oracle.mjs): the network's layout is decided deep, at 8×8, far from
 * conv_in. Training only the camera weights at t ≥ 700 on cars, chairs and sofas
 * (examples/camera-only-fit.mjs, from step 5,000) took that rise from 0.6% to at most 1.4%
 * with the conv_in map, and to 6.7% within 50 steps with these maps at every level. q is there because where an
 * object covers a pixel is nearly a box test on it (a car is |q_x| < 1, |q_z| < 0.5 from any
 * side), which the sines sharpen; in Plücker coordinates it is a product (q = d × (o × d)).
 *
 * The maps are computed from the camera features (camera-embedding.ts), which fix the orbit
 * camera exactly, so no new input reaches the UNet.
 */
import * as tf from '@tensorflow/tfjs';
import { cameraRays, orbitCamera } from '../../renderers/camera.js';
import { Dd3dError } from '../core/errors.js';
import { CAMERA_FEATURES } from './camera-embedding.js';
import { linear, linearParams, type Linear, type Params } from './nn.js';

/** Channels of the Plücker ray map [d, o × d], and of the nearest points q that `points` adds. */
export const RAY_CHANNELS = 6;
export const POINT_CHANNELS = 3;
/** The level maps' encoding γ: the map and sin/cos of 2^k·π·map for k < LEVEL_FREQUENCIES. */
export const LEVEL_FREQUENCIES = 2;
/** Channels of a level map: 9 · (1 + 2 · LEVEL_FREQUENCIES). */
export const LEVEL_CHANNELS = (RAY_CHANNELS + POINT_CHANNELS) * (1 + 2 * LEVEL_FREQUENCIES);

/**
 * The ray map [H·W·C] (row 0 at the top) of the camera with these six features, or zeros for
 * a null camera: C = 6, [d, o × d], or with `points` C = 9, [d, o × d, q]. Inverts
 * cameraFeatures: az = atan2(sin, cos), el likewise, radius = framing / sin(fov / 2).
 */
export function rayMap(features: ArrayLike<number>, height: number, width: number, points = false): Float32Array {
  const channels = RAY_CHANNELS + (points ? POINT_CHANNELS : 0);
  const out = new Float32Array(height * width * channels);
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
    out.set([dx, dy, dz, oy * dz - oz * dy, oz * dx - ox * dz, ox * dy - oy * dx], p * channels);
    if (points) {
      const along = ox * dx + oy * dy + oz * dz;
      out.set([ox - along * dx, oy - along * dy, oz - along * dz], p * channels + RAY_CHANNELS);
    }
  }
  return out;
}

/**
 * γ(m) per pixel, [m, sin(πm), cos(πm), sin(2πm), cos(2πm), …] for `frequencies` octaves,
 * grouped by function; an all-zero pixel (a null camera) stays all zero.
 */
export function encodeRayMap(map: Float32Array, channels: number, frequencies: number): Float32Array {
  const width = channels * (1 + 2 * frequencies);
  const pixels = map.length / channels;
  const out = new Float32Array(pixels * width);
  for (let p = 0; p < pixels; p++) {
    const m = map.subarray(p * channels, (p + 1) * channels);
    if (m.every((x) => x === 0)) continue;
    out.set(m, p * width);
    for (let k = 0; k < frequencies; k++) {
      for (let c = 0; c < channels; c++) {
        const a = Math.PI * 2 ** k * m[c]!;
        out[p * width + (1 + 2 * k) * channels + c] = Math.sin(a);
        out[p * width + (2 + 2 * k) * channels + c] = Math.cos(a);
      }
    }
  }
  return out;
}

/** What one projection reads: the rays alone (conv_in) or with q, encoded (the levels). */
interface RayMapKind {
  points: boolean;
  frequencies: number;
}
export const CONV_IN_RAYS: RayMapKind = { points: false, frequencies: 0 };
export const LEVEL_RAYS: RayMapKind = { points: true, frequencies: LEVEL_FREQUENCIES };

/** One ray map projected to a block's channels (`<prefix>.weight` [channels, map channels], no bias). */
export class RayMapProjection {
  private readonly proj: Linear;
  private readonly mapChannels: number;
  /** Maps by camera and size: a run renders from few distinct cameras, many times. */
  private readonly cache = new Map<string, Float32Array>();

  constructor(
    p: Params,
    prefix: string,
    channels: number,
    private readonly kind: RayMapKind,
  ) {
    this.mapChannels = (RAY_CHANNELS + (kind.points ? POINT_CHANNELS : 0)) * (1 + 2 * kind.frequencies);
    this.proj = linearParams(p, prefix, this.mapChannels, channels, false);
  }

  /**
   * Camera features [B·6] (read once per UNet call and shared by its projections: a synchronous
   * read of a few floats) → [B, H, W, channels], to add to the block's input.
   */
  forward(feats: Float32Array, height: number, width: number): tf.Tensor4D {
    const b = feats.length / CAMERA_FEATURES;
    const maps = new Float32Array(b * height * width * this.mapChannels);
    for (let i = 0; i < b; i++) {
      const row = feats.subarray(i * CAMERA_FEATURES, (i + 1) * CAMERA_FEATURES);
      const key = `${height}x${width}:${row.join(',')}`;
      let map = this.cache.get(key);
      if (!map) {
        const { points, frequencies } = this.kind;
        map = rayMap(row, height, width, points);
        if (frequencies > 0) map = encodeRayMap(map, RAY_CHANNELS + (points ? POINT_CHANNELS : 0), frequencies);
        if (this.cache.size > 4096) this.cache.clear();
        this.cache.set(key, map);
      }
      maps.set(map, i * map.length);
    }
    return tf.tidy(() => linear(tf.tensor4d(maps, [b, height, width, this.mapChannels]), this.proj));
  }
}
