/**
 * The orbit camera rig and per-pixel camera rays, in three.js conventions.
 *
 * World: +Y up, objects face +Z. Angles are in degrees.
 * - azimuth 0: the camera is on the +Z axis, looking at the target, so it sees the object's
 *   front. Positive azimuth moves the camera toward +X (azimuth 90: on +X looking along −X;
 *   ±180: behind, on −Z). Seen from above (looking down −Y, +X to the right, +Z toward the
 *   bottom of the page) positive azimuth is counter-clockwise.
 * - elevation: positive is above the target's horizontal plane; 90 looks straight down.
 * - position = target + radius · (cos(el)·sin(az), sin(el), cos(el)·cos(az)).
 * - The camera's up is +Y; at |elevation| = 90 (where +Y is degenerate) it is the horizontal
 *   direction away from the camera's azimuth, which is the limit of the nearby views, so the
 *   image does not spin as the elevation reaches the pole.
 *
 * Pixels: (i, j) with row j = 0 at the top; the pixel centre is at NDC
 * x = 2(i + 0.5)/width − 1, y = 1 − 2(j + 0.5)/height, exactly the WebGL viewport mapping the
 * rasterizer uses.
 */
import * as THREE from 'three';

export interface OrbitCameraOptions {
  /** Degrees around +Y; 0 = on +Z (front view), positive toward +X. */
  azimuth: number;
  /** Degrees above the horizontal plane through the target. */
  elevation: number;
  /** Distance from the target. */
  radius: number;
  /** Vertical field of view in degrees (three's `fov`). */
  fov: number;
  /** Width / height; default 1. */
  aspect?: number;
  /** Default 0.01. */
  near?: number;
  /** Default 100. */
  far?: number;
  /** Default the origin. */
  target?: THREE.Vector3;
}

const DEG = Math.PI / 180;

/** The orbit position for (azimuth, elevation, radius) about `target` (see the module comment). */
export function orbitPosition(azimuth: number, elevation: number, radius: number, target: THREE.Vector3 = new THREE.Vector3()): THREE.Vector3 {
  const az = azimuth * DEG;
  const el = elevation * DEG;
  const c = Math.cos(el);
  return new THREE.Vector3(target.x + radius * c * Math.sin(az), target.y + radius * Math.sin(el), target.z + radius * c * Math.cos(az));
}

/** A PerspectiveCamera on the orbit, looking at the target, with its matrices up to date. */
export function orbitCamera(o: OrbitCameraOptions): THREE.PerspectiveCamera {
  const { azimuth, elevation, radius, fov } = o;
  for (const [k, v] of Object.entries({ azimuth, elevation, radius, fov })) {
    if (!Number.isFinite(v)) throw new RangeError(`orbitCamera: ${k} must be a finite number, got ${v}`);
  }
  if (!(radius > 0)) throw new RangeError(`orbitCamera: radius must be > 0, got ${radius}`);
  if (!(fov > 0 && fov < 180)) throw new RangeError(`orbitCamera: fov must be in (0, 180) degrees, got ${fov}`);
  const target = o.target ?? new THREE.Vector3();
  const camera = new THREE.PerspectiveCamera(fov, o.aspect ?? 1, o.near ?? 0.01, o.far ?? 100);
  camera.position.copy(orbitPosition(azimuth, elevation, radius, target));
  if (Math.abs(Math.cos(elevation * DEG)) < 1e-9) {
    // At a pole +Y is parallel to the view direction; use the limit of the nearby views' up.
    const az = azimuth * DEG;
    const s = Math.sin(elevation * DEG) > 0 ? -1 : 1;
    camera.up.set(s * Math.sin(az), 0, s * Math.cos(az));
  }
  camera.lookAt(target);
  camera.updateMatrixWorld();
  camera.updateProjectionMatrix();
  return camera;
}

export interface CameraRays {
  width: number;
  height: number;
  /** World-space ray origins, 3 floats per pixel (the camera position for a perspective camera). */
  origins: Float32Array;
  /** World-space unit directions through the pixel centres, 3 floats per pixel, row 0 at the top. */
  directions: Float32Array;
}

/**
 * One ray per pixel through the pixel centre, consistent with the rasterizer: the ray of
 * pixel (i, j) passes through every 3D point that `Vector3.project(camera)` maps to that
 * pixel's centre. Uses (and refreshes) `camera.matrixWorld` and `camera.projectionMatrixInverse`.
 */
export function cameraRays(camera: THREE.PerspectiveCamera, width: number, height: number): CameraRays {
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1)
    throw new RangeError(`cameraRays: width and height must be positive integers, got ${width}×${height}`);
  camera.updateMatrixWorld();
  camera.updateProjectionMatrix();
  // NDC → world in one matrix, as Vector3.unproject does in two steps.
  const m = new THREE.Matrix4().multiplyMatrices(camera.matrixWorld, camera.projectionMatrixInverse).elements;
  const eye = new THREE.Vector3().setFromMatrixPosition(camera.matrixWorld);
  const n = width * height;
  const origins = new Float32Array(3 * n);
  const directions = new Float32Array(3 * n);
  const unproject = (x: number, y: number, z: number, out: number[]): void => {
    const w = m[3] * x + m[7] * y + m[11] * z + m[15];
    out[0] = (m[0] * x + m[4] * y + m[8] * z + m[12]) / w;
    out[1] = (m[1] * x + m[5] * y + m[9] * z + m[13]) / w;
    out[2] = (m[2] * x + m[6] * y + m[10] * z + m[14]) / w;
  };
  const near = [0, 0, 0];
  const far = [0, 0, 0];
  const perspective = (camera as THREE.PerspectiveCamera).isPerspectiveCamera === true;
  for (let j = 0; j < height; j++) {
    const y = 1 - (2 * (j + 0.5)) / height;
    for (let i = 0; i < width; i++) {
      const x = (2 * (i + 0.5)) / width - 1;
      const p = 3 * (j * width + i);
      unproject(x, y, -1, near);
      let ox: number, oy: number, oz: number, dx: number, dy: number, dz: number;
      if (perspective) {
        ox = eye.x;
        oy = eye.y;
        oz = eye.z;
        dx = near[0] - ox;
        dy = near[1] - oy;
        dz = near[2] - oz;
      } else {
        unproject(x, y, 1, far);
        ox = near[0];
        oy = near[1];
        oz = near[2];
        dx = far[0] - ox;
        dy = far[1] - oy;
        dz = far[2] - oz;
      }
      const len = Math.sqrt(dx * dx + dy * dy + dz * dz);
      origins[p] = ox;
      origins[p + 1] = oy;
      origins[p + 2] = oz;
      directions[p] = dx / len;
      directions[p + 1] = dy / len;
      directions[p + 2] = dz / len;
    }
  }
  return { width, height, origins, directions };
}

/** The camera's viewing direction (its −Z axis) in world space, unit length. */
export function cameraForward(camera: THREE.Camera): THREE.Vector3 {
  camera.updateMatrixWorld();
  return new THREE.Vector3().setFromMatrixColumn(camera.matrixWorld, 2).negate().normalize();
}
