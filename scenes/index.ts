/**
 * Procedural object families with known attributes: the built-in model's training world,
 * reference sets for train-dist and ground truth for 3D results. Browser-safe: only three.
 */
import * as THREE from 'three';
import { Dd3dError } from '../src/core/errors.js';
import { normalizeToUnitSphere } from './bounds.js';
import { COLORS, COLOR_NAMES } from './colors.js';
import type { Attributes, FamilySpec } from './family.js';
import { REGISTRY } from './families/index.js';
import { deriveSeed, mulberry32 } from '../src/core/random.js';
import { checkConstraints, findFamily, type Constraints } from './where.js';

export { COLORS, COLOR_NAMES };
export type { AttributeKind, AttributeSpec, Attributes, FamilySpec } from './family.js';
export { familyName, parseWhere, type Constraints } from './where.js';
export { caption, viewPhrase, vocabulary, normalizeAzimuth, VIEW_PHRASES, type CaptionOptions, type ViewPhrase } from './captions.js';
export { triangleCount } from './stats.js';

export const FAMILIES: readonly FamilySpec[] = REGISTRY.map((f) => f.spec);
export const FAMILY_NAMES: readonly string[] = FAMILIES.map((f) => f.name);

export interface SceneObject {
  /** Identity transform; the meshes sit under one child group that centres and scales them. */
  group: THREE.Group;
  attributes: Attributes;
}

/**
 * Builds object `seed` of `family`: centred on its bounding-box centre, +Y up, front toward
 * +Z, farthest vertex at distance 1. Attribute values are drawn uniformly from what
 * `constraints` allow (all values where unconstrained). Attributes and proportions come
 * from separate streams, so constraining one attribute does not reshuffle the others.
 */
export function makeObject(family: string, seed: number, constraints: Constraints = {}): SceneObject {
  // seeds index datasets and name files, so 1.5 or NaN is a caller's mistake, not a seed
  if (!Number.isSafeInteger(seed)) throw new Dd3dError(`seed ${seed}: expected an integer`);
  const fam = findFamily(family);
  const allowed = checkConstraints(fam, constraints);
  const pickRng = mulberry32(deriveSeed(seed, `${fam.spec.name}/attributes`));
  const attributes: Attributes = { family: fam.spec.name };
  for (const spec of fam.spec.attributes) {
    const u = pickRng.next(); // one draw per attribute whether or not it is constrained
    const choices = allowed.get(spec.name) ?? spec.values;
    attributes[spec.name] = choices[Math.floor(u * choices.length)]!;
  }

  const body = new THREE.Group();
  body.name = 'body';
  fam.build(attributes, mulberry32(deriveSeed(seed, `${fam.spec.name}/shape`)), body);
  normalizeToUnitSphere(body);

  const group = new THREE.Group();
  group.name = fam.spec.name;
  group.userData = { seed, attributes: { ...attributes } };
  group.add(body);
  group.updateMatrixWorld(true);
  return { group, attributes };
}

/** Frees the GPU/CPU buffers of every geometry and material under `group`. */
export function disposeObject(group: THREE.Object3D): void {
  const geometries = new Set<THREE.BufferGeometry>();
  const materials = new Set<THREE.Material>();
  group.traverse((o) => {
    const mesh = o as THREE.Mesh;
    if (!mesh.isMesh) return;
    geometries.add(mesh.geometry);
    for (const m of Array.isArray(mesh.material) ? mesh.material : [mesh.material]) materials.add(m);
  });
  for (const g of geometries) g.dispose();
  for (const m of materials) m.dispose();
}
