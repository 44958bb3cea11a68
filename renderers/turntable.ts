/**
 * Turntable strips: an object seen from evenly spaced azimuths around it, the views side
 * by side in one image, for previews next to exported GLBs and for eyeballing results.
 */
import * as THREE from 'three';
import { orbitCamera } from './camera.js';
import { toRGB8, toRGBA8, type RGB } from './color.js';
import { renderScene, type LightSpec } from './rasterizer.js';

export interface TurntableOptions {
  /** Number of views, at azimuths 0, 360/views, …; default 8 (every 45°). */
  views?: number;
  /** Side of each square view in pixels; default 256. */
  size?: number;
  /** Camera elevation in degrees; default 20. */
  elevation?: number;
  /** Camera distance from the bounding sphere's centre; default: frames the sphere (see `margin`). */
  radius?: number;
  /** Vertical field of view in degrees; default 40. */
  fov?: number;
  /** With the default radius, the bounding sphere's diameter fills 1/margin of the view; default 1.15. */
  margin?: number;
  /** Linear RGB; default white. */
  background?: RGB;
  light?: LightSpec;
  /** Samples per pixel along each axis; default 3. */
  supersample?: number;
  /** RGBA with coverage as alpha instead of RGB composited over the background; default false. */
  transparent?: boolean;
}

export interface TurntableStrip {
  /** sRGB bytes, row-major, row 0 at the top; the views left to right. */
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
  /** Azimuth of each view in degrees, left to right. */
  azimuths: number[];
  /** The camera distance used, and the point it orbits. */
  radius: number;
  target: [number, number, number];
}

/** World-space vertices of every visible mesh under `root` (instances included), for framing. */
function visibleVertices(root: THREE.Object3D): THREE.Vector3[] {
  root.updateMatrixWorld(true);
  const out: THREE.Vector3[] = [];
  const instance = new THREE.Matrix4();
  root.traverseVisible((o) => {
    const mesh = o as THREE.Mesh;
    const pos = mesh.isMesh ? mesh.geometry?.getAttribute('position') : undefined;
    if (!pos) return;
    const im = mesh as THREE.InstancedMesh;
    const transforms: THREE.Matrix4[] = [];
    if (!im.isInstancedMesh) transforms.push(mesh.matrixWorld);
    else
      for (let k = 0; k < im.count; k++) {
        im.getMatrixAt(k, instance);
        transforms.push(new THREE.Matrix4().multiplyMatrices(mesh.matrixWorld, instance));
      }
    for (const m of transforms) for (let i = 0; i < pos.count; i++) out.push(new THREE.Vector3().fromBufferAttribute(pos, i).applyMatrix4(m));
  });
  return out;
}

/**
 * A sphere around everything visible: centred on the bounding box (so the object turns about
 * its middle), radius to the farthest vertex (tighter than the box's own sphere).
 */
function worldBoundingSphere(root: THREE.Object3D): THREE.Sphere {
  const points = visibleVertices(root);
  if (points.length === 0) throw new RangeError('renderTurntable: nothing visible to frame');
  const center = new THREE.Box3().setFromPoints(points).getCenter(new THREE.Vector3());
  let r2 = 0;
  for (const p of points) r2 = Math.max(r2, p.distanceToSquared(center));
  return new THREE.Sphere(center, Math.sqrt(r2));
}

/** Renders `views` orbit views of `root` around its bounding sphere's centre, in one row. */
export function renderTurntable(root: THREE.Object3D, opts: TurntableOptions = {}): TurntableStrip {
  const views = opts.views ?? 8;
  const size = opts.size ?? 256;
  const fov = opts.fov ?? 40;
  const elevation = opts.elevation ?? 20;
  if (!Number.isInteger(views) || views < 1) throw new RangeError(`renderTurntable: views must be a positive integer, got ${views}`);
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`renderTurntable: size must be a positive integer, got ${size}`);

  const sphere = worldBoundingSphere(root);
  const r = Math.max(sphere.radius, 1e-6);
  // A sphere fits a cone of half-angle θ from distance r / sin θ; the margin leaves a border.
  const radius = opts.radius ?? (r * (opts.margin ?? 1.15)) / Math.sin((fov * Math.PI) / 360);
  const near = Math.max(radius * 1e-3, radius - 2 * r);
  const far = radius + 2 * r;

  const channels = opts.transparent ? 4 : 3;
  const width = views * size;
  const data = new Uint8Array(width * size * channels);
  const azimuths: number[] = [];
  for (let v = 0; v < views; v++) {
    const azimuth = (360 * v) / views;
    azimuths.push(azimuth);
    const camera = orbitCamera({ azimuth, elevation, radius, fov, near, far, target: sphere.center });
    const img = renderScene(root, camera, { width: size, height: size, background: opts.background, light: opts.light, supersample: opts.supersample });
    const px = opts.transparent ? toRGBA8(img) : toRGB8(img);
    const row = size * channels;
    for (let y = 0; y < size; y++) data.set(px.subarray(y * row, (y + 1) * row), (y * width + v * size) * channels);
  }
  return { data, width, height: size, channels, azimuths, radius, target: sphere.center.toArray() };
}
