/** Building blocks the families share: named parts, lathe profiles, leg positions. */
import * as THREE from 'three';
import { COLORS } from './colors.js';

export type Vec3 = readonly [number, number, number];

/**
 * Returns a function that adds a named, coloured mesh to `body`. Names state each part's
 * role ("leg", "shade") because tests and captions check attributes against them, and the
 * one material per colour keeps an object's draw state small for the CPU renderer.
 */
export function partMaker(body: THREE.Group) {
  const materials = new Map<string, THREE.MeshStandardMaterial>();
  return function part(name: string, geometry: THREE.BufferGeometry, color: string, at: Vec3 = [0, 0, 0], rotation?: Vec3): THREE.Mesh {
    let material = materials.get(color);
    if (!material) {
      const hex = COLORS[color];
      if (hex === undefined) throw new Error(`no palette colour named "${color}"`);
      material = new THREE.MeshStandardMaterial({ color: hex, roughness: 0.8, metalness: 0 });
      material.name = color;
      materials.set(color, material);
    }
    const mesh = new THREE.Mesh(geometry, material);
    mesh.name = name;
    mesh.position.set(at[0], at[1], at[2]);
    if (rotation) mesh.rotation.set(rotation[0], rotation[1], rotation[2]);
    body.add(mesh);
    return mesh;
  };
}

/**
 * Lathe profile with each listed corner doubled: three's LatheGeometry averages the normals
 * of neighbouring segments, so a crease needs a zero-length segment to stay sharp.
 */
export function lathe(points: ReadonlyArray<readonly [number, number]>, corners: readonly number[], segments: number): THREE.LatheGeometry {
  const profile: THREE.Vector2[] = [];
  points.forEach(([r, y], i) => {
    profile.push(new THREE.Vector2(r, y));
    if (corners.includes(i)) profile.push(new THREE.Vector2(r, y));
  });
  return new THREE.LatheGeometry(profile, segments);
}

/**
 * Where `n` legs (3 or 4) stand under a top with half-extents (hx, hz): corners for a box,
 * evenly around for a round top. Three legs put one at the back so a chair's front (+Z)
 * reads as two legs from the front view.
 */
export function legSpots(n: number, hx: number, hz: number, round: boolean): Array<[number, number]> {
  if (n === 4 && !round)
    return [
      [-hx, -hz],
      [hx, -hz],
      [hx, hz],
      [-hx, hz],
    ];
  if (n === 3 && !round)
    return [
      [0, -hz],
      [hx, hz],
      [-hx, hz],
    ];
  const out: Array<[number, number]> = [];
  const start = n === 4 ? Math.PI / 4 : Math.PI;
  for (let i = 0; i < n; i++) {
    const a = start + (2 * Math.PI * i) / n;
    out.push([hx * Math.sin(a), hz * Math.cos(a)]);
  }
  return out;
}
