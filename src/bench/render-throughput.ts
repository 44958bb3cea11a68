/**
 * Render throughput, for `npm run bench` and the tests: images per second of `renderScene`
 * for one object over a ring of orbit views, single-threaded.
 */
import * as THREE from 'three';
import { orbitCamera } from '../../renderers/camera.js';
import { renderScene } from '../../renderers/rasterizer.js';

export interface ThroughputResult {
  width: number;
  height: number;
  supersample: number;
  images: number;
  ms: number;
  imagesPerSecond: number;
}

/**
 * Renders `root` (best inside the unit sphere) from `views` orbit cameras (radius 2.6, fov 50,
 * so the unit sphere fills the frame) repeatedly for about `budgetMs`, after a warm-up.
 */
export function measureRenderThroughput(
  root: THREE.Object3D,
  opts: { width: number; height: number; supersample?: number; budgetMs?: number; views?: number },
): ThroughputResult {
  const { width, height } = opts;
  const supersample = opts.supersample ?? 3;
  const budget = opts.budgetMs ?? 1000;
  const nViews = opts.views ?? 16;
  const cameras = Array.from({ length: nViews }, (_, k) =>
    orbitCamera({ azimuth: (360 * k) / nViews - 180, elevation: 10 + 20 * (k % 3), radius: 2.6, fov: 50, aspect: width / height }),
  );
  const once = (k: number) => renderScene(root, cameras[k % nViews], { width, height, supersample });
  for (let k = 0; k < Math.min(nViews, 8); k++) once(k); // warm-up (JIT, buffers)
  let images = 0;
  const t0 = performance.now();
  let ms = 0;
  while (ms < budget) {
    for (let k = 0; k < 8; k++) once(images++);
    ms = performance.now() - t0;
  }
  return { width, height, supersample, images, ms, imagesPerSecond: (images * 1000) / ms };
}

/**
 * A fixed test object of about 2k triangles, inside the unit sphere, built from three's
 * primitives with the transforms that trip renderers up: rotations, non-uniform scale, a
 * mirrored (negative-scale) part, nested groups, a DoubleSide plane, a flat-shaded part, a
 * material array with geometry groups, and an indexed and a non-indexed geometry.
 */
export function primitivesScene(): THREE.Group {
  const std = (hex: number, extra: Partial<THREE.MeshStandardMaterialParameters> = {}) => new THREE.MeshStandardMaterial({ color: hex, ...extra });
  const root = new THREE.Group();
  root.name = 'primitives';

  const box = new THREE.Mesh(new THREE.BoxGeometry(0.5, 0.35, 0.3), [std(0xd04040), std(0x40a040), std(0x4060d0), std(0xd0c040), std(0xc060c0), std(0x40c0c0)]);
  box.position.set(-0.35, -0.3, 0.1);
  box.rotation.set(0.3, 0.6, 0.1);
  root.add(box);

  const sphere = new THREE.Mesh(new THREE.SphereGeometry(0.25, 32, 16), std(0x3070c0));
  sphere.position.set(0.3, 0.3, -0.05);
  sphere.scale.set(1, 0.8, 1.2);
  root.add(sphere);

  const torus = new THREE.Mesh(new THREE.TorusGeometry(0.22, 0.06, 12, 32), std(0xe0a020));
  torus.position.set(-0.2, 0.35, 0.1);
  torus.rotation.set(0.9, 0.2, 0);
  root.add(torus);

  // A mirrored part: negative scale flips the winding; three then treats CW faces as front.
  const arm = new THREE.Group();
  arm.position.set(0.35, -0.25, 0.05);
  arm.rotation.z = 0.4;
  const cone = new THREE.Mesh(new THREE.ConeGeometry(0.12, 0.4, 24).toNonIndexed(), std(0x20a060, { flatShading: true }));
  cone.rotation.x = 0.5;
  cone.scale.set(-1, 1, 1);
  arm.add(cone);
  const cyl = new THREE.Mesh(new THREE.CylinderGeometry(0.05, 0.07, 0.6, 20), std(0x805030));
  cyl.position.set(-0.15, 0.05, -0.15);
  cyl.rotation.set(0.2, 0, -0.9);
  cyl.scale.set(1, 1, -1);
  arm.add(cyl);
  root.add(arm);

  const plane = new THREE.Mesh(new THREE.PlaneGeometry(0.35, 0.25), std(0xa0a0a0, { side: THREE.DoubleSide }));
  plane.position.set(0, 0, -0.4);
  plane.rotation.set(-0.4, 2.4, 0);
  root.add(plane);

  const ring = new THREE.Mesh(new THREE.TorusKnotGeometry(0.1, 0.03, 48, 6), std(0xb04080));
  ring.position.set(0.02, -0.02, 0.35);
  root.add(ring);
  root.updateMatrixWorld(true);
  return root;
}
