/**
 * Every object's frame: the body is moved by −s·c and scaled by s = 1 / max‖v − c‖, with c
 * the centre of its vertices' bounding box, so the box is centred on the origin and the
 * farthest vertex lands at distance exactly 1 (the unit sphere the cameras frame).
 */
import * as THREE from 'three';

/** Calls `fn` with every mesh vertex in world space (the caller updates matrices first). */
function forEachWorldVertex(root: THREE.Object3D, fn: (v: THREE.Vector3, mesh: THREE.Mesh) => void): void {
  const v = new THREE.Vector3();
  root.traverse((o) => {
    const mesh = o as THREE.Mesh;
    if (!mesh.isMesh) return;
    const pos = mesh.geometry.getAttribute('position');
    for (let i = 0; i < pos.count; i++) fn(v.fromBufferAttribute(pos, i).applyMatrix4(mesh.matrixWorld), mesh);
  });
}

/**
 * Moves and scales `body` (its parent's frame) so its vertices' bounding-box centre is the
 * origin and the farthest vertex is at distance 1. The transform lives on `body` so the
 * caller's root group keeps an identity transform it is free to move.
 */
export function normalizeToUnitSphere(body: THREE.Object3D): void {
  body.position.set(0, 0, 0);
  body.scale.set(1, 1, 1);
  body.updateMatrixWorld(true);
  const box = new THREE.Box3();
  forEachWorldVertex(body, (v) => void box.expandByPoint(v));
  if (box.isEmpty()) throw new Error('cannot normalize an object without vertices');
  const centre = box.getCenter(new THREE.Vector3());
  let r2 = 0;
  forEachWorldVertex(body, (v) => void (r2 = Math.max(r2, v.distanceToSquared(centre))));
  const s = 1 / Math.sqrt(r2);
  body.scale.setScalar(s);
  body.position.copy(centre).multiplyScalar(-s);
  body.updateMatrixWorld(true);
}
