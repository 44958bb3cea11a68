/**
 * GLB output: the one writer behind `scenes refs` ground truth and the 3D exporter. Built
 * on @gltf-transform/core because three's GLTFExporter needs FileReader and `document`.
 * Every file it writes passes the Khronos validator with 0 errors (test/src/io/glb.test.ts).
 */
import { Document, NodeIO, type Material } from '@gltf-transform/core';
import * as THREE from 'three';
import { Dd3dError } from '../core/errors.js';
import type { ExtractedMesh } from '../../nerf/extract-mesh.js';
import { writeFileAtomic } from './atomic.js';

export type Rgb = readonly [number, number, number];
export type Rgba = readonly [number, number, number, number];

export interface GlbMesh {
  name?: string;
  /** xyz per vertex. */
  positions: Float32Array;
  /** xyz per vertex; renormalized on write (the validator rejects non-unit normals). */
  normals?: Float32Array;
  /** Triangle list; without it every three vertices form a triangle. */
  indices?: Uint32Array;
  /** Base colour, linear (glTF's colour space), components in [0, 1]. Default white. */
  color?: Rgb | Rgba;
  /** Per-vertex linear colours, 3 or 4 components per vertex; multiplied by `color`. */
  colors?: Float32Array;
  metallic?: number;
  roughness?: number;
  doubleSided?: boolean;
}

export interface GlbOptions {
  /** The scene's name. */
  name?: string;
  /** JSON-serializable metadata stored as the asset's extras (e.g. attributes, seed). */
  extras?: Record<string, unknown>;
}

const GENERATOR = 'dd3d';

function check(mesh: GlbMesh, label: string): number {
  const n = mesh.positions.length / 3;
  if (!Number.isInteger(n) || n === 0) throw new Dd3dError(`${label}: ${n === 0 ? 'no vertices' : 'positions length is not a multiple of 3'}`);
  for (let i = 0; i < mesh.positions.length; i++) {
    if (!Number.isFinite(mesh.positions[i]!)) throw new Dd3dError(`${label}: vertex ${Math.floor(i / 3)} has a non-finite coordinate`);
  }
  if (mesh.normals && mesh.normals.length !== mesh.positions.length) throw new Dd3dError(`${label}: ${mesh.normals.length / 3} normals for ${n} vertices`);
  if (mesh.colors && mesh.colors.length !== 3 * n && mesh.colors.length !== 4 * n)
    throw new Dd3dError(`${label}: vertex colours need 3 or 4 components for each of ${n} vertices`);
  const tri = mesh.indices?.length ?? n;
  if (tri === 0 || tri % 3 !== 0) throw new Dd3dError(`${label}: ${tri} ${mesh.indices ? 'indices' : 'vertices'} do not form whole triangles`);
  if (mesh.indices) for (const i of mesh.indices) if (i >= n) throw new Dd3dError(`${label}: index ${i} is past the last vertex (${n - 1})`);
  return n;
}

function unitNormals(src: Float32Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i += 3) {
    const x = src[i]!,
      y = src[i + 1]!,
      z = src[i + 2]!;
    const len = Math.hypot(x, y, z);
    // a zero or NaN normal (degenerate face) still has to be unit length to validate
    if (!(len > 1e-12) || !Number.isFinite(len)) out[i + 1] = 1;
    else {
      out[i] = x / len;
      out[i + 1] = y / len;
      out[i + 2] = z / len;
    }
  }
  return out;
}

/** Encodes meshes as a GLB in memory: one node per mesh, materials shared by equal colour. */
export async function encodeGlb(meshes: readonly GlbMesh[], opts: GlbOptions = {}, label = 'GLB'): Promise<Uint8Array> {
  const doc = new Document();
  doc.getRoot().getAsset().generator = GENERATOR;
  if (opts.extras) doc.getRoot().getAsset().extras = JSON.parse(JSON.stringify(opts.extras)) as Record<string, unknown>;
  const buffer = doc.createBuffer();
  const scene = doc.createScene(opts.name ?? '');
  doc.getRoot().setDefaultScene(scene);
  const materials = new Map<string, Material>();

  meshes.forEach((m, k) => {
    const name = m.name ?? `mesh${k}`;
    const n = check(m, `${label}: mesh ${k} ("${name}")`);
    const prim = doc.createPrimitive();
    prim.setAttribute('POSITION', doc.createAccessor().setBuffer(buffer).setType('VEC3').setArray(m.positions.slice()));
    if (m.normals) prim.setAttribute('NORMAL', doc.createAccessor().setBuffer(buffer).setType('VEC3').setArray(unitNormals(m.normals)));
    if (m.colors) {
      const rgba = m.colors.length === 4 * n;
      const c = m.colors.map((v) => Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)));
      prim.setAttribute(
        'COLOR_0',
        doc
          .createAccessor()
          .setBuffer(buffer)
          .setType(rgba ? 'VEC4' : 'VEC3')
          .setArray(c),
      );
    }
    if (m.indices) {
      // 16-bit indices whenever they fit: GLBs are shipped and viewed in browsers
      const idx = n <= 65535 ? Uint16Array.from(m.indices) : m.indices.slice();
      prim.setIndices(doc.createAccessor().setBuffer(buffer).setType('SCALAR').setArray(idx));
    }

    const [r, g, b, a = 1] = (m.color ?? [1, 1, 1]).map((v) => Math.min(1, Math.max(0, v)));
    const metallic = Math.min(1, Math.max(0, m.metallic ?? 0));
    const roughness = Math.min(1, Math.max(0, m.roughness ?? 1));
    const key = [r, g, b, a, metallic, roughness, m.doubleSided ? 1 : 0].join(',');
    let material = materials.get(key);
    if (!material) {
      material = doc
        .createMaterial(`material${materials.size}`)
        .setBaseColorFactor([r!, g!, b!, a])
        .setMetallicFactor(metallic)
        .setRoughnessFactor(roughness)
        .setDoubleSided(m.doubleSided ?? false)
        .setAlphaMode(a < 1 ? 'BLEND' : 'OPAQUE');
      materials.set(key, material);
    }
    prim.setMaterial(material);
    scene.addChild(doc.createNode(name).setMesh(doc.createMesh(name).addPrimitive(prim)));
  });
  return await new NodeIO().writeBinary(doc);
}

/** Writes meshes as a GLB file atomically (a crash leaves the old file or none, never half). */
export async function writeGlb(file: string, meshes: readonly GlbMesh[], opts: GlbOptions = {}): Promise<void> {
  writeFileAtomic(file, await encodeGlb(meshes, opts, file));
}

/**
 * Flattens every visible mesh under `root` into GlbMeshes with world transforms baked in
 * (so the GLB needs no node hierarchy), normals transformed by the normal matrix, and the
 * winding flipped under mirroring transforms so front faces stay front faces. Colours are
 * three's working (linear) colours, which is what glTF stores. Multi-material meshes are
 * split by geometry group.
 */
export function groupToMeshes(root: THREE.Object3D): GlbMesh[] {
  root.updateWorldMatrix(true, true);
  const out: GlbMesh[] = [];
  const v = new THREE.Vector3();
  const normalMatrix = new THREE.Matrix3();
  root.traverseVisible((o) => {
    const mesh = o as THREE.Mesh;
    if (!mesh.isMesh) return;
    const geo = mesh.geometry;
    const pos = geo.getAttribute('position');
    if (!pos || pos.count === 0) return;
    const positions = new Float32Array(pos.count * 3);
    for (let i = 0; i < pos.count; i++)
      v.fromBufferAttribute(pos, i)
        .applyMatrix4(mesh.matrixWorld)
        .toArray(positions, 3 * i);

    const nrm = geo.getAttribute('normal');
    let normals: Float32Array | undefined;
    if (nrm) {
      normalMatrix.getNormalMatrix(mesh.matrixWorld);
      normals = new Float32Array(pos.count * 3);
      for (let i = 0; i < pos.count; i++)
        v.fromBufferAttribute(nrm, i)
          .applyMatrix3(normalMatrix)
          .normalize()
          .toArray(normals, 3 * i);
    }
    const col = geo.getAttribute('color');
    const materialList = Array.isArray(mesh.material) ? mesh.material : [mesh.material];
    const usesVertexColors = materialList.some((m) => m.vertexColors);
    let colors: Float32Array | undefined;
    if (col && usesVertexColors) {
      colors = new Float32Array(pos.count * col.itemSize);
      for (let i = 0; i < pos.count; i++) for (let c = 0; c < col.itemSize; c++) colors[i * col.itemSize + c] = col.getComponent(i, c);
    }

    const allIndices = geo.index
      ? Uint32Array.from({ length: geo.index.count }, (_, i) => geo.index!.getX(i))
      : Uint32Array.from({ length: pos.count }, (_, i) => i);
    const mirrored = mesh.matrixWorld.determinant() < 0;
    const ranges =
      Array.isArray(mesh.material) && geo.groups.length > 0
        ? geo.groups.map((g) => ({ start: g.start, count: g.count, material: materialList[g.materialIndex ?? 0] }))
        : [{ start: 0, count: allIndices.length, material: materialList[0] }];

    for (const range of ranges) {
      if (!range.material || !range.material.visible) continue;
      const end = Math.min(allIndices.length, range.start + range.count);
      const indices = allIndices.slice(range.start, end - ((end - range.start) % 3));
      if (indices.length === 0) continue;
      if (mirrored) for (let t = 0; t < indices.length; t += 3) [indices[t + 1], indices[t + 2]] = [indices[t + 2]!, indices[t + 1]!];
      out.push({
        name: mesh.name || undefined,
        positions,
        normals,
        indices,
        colors,
        ...materialProps(range.material),
      });
    }
  });
  return out;
}

function materialProps(material: THREE.Material): Pick<GlbMesh, 'color' | 'metallic' | 'roughness' | 'doubleSided'> {
  const m = material as THREE.Material & { color?: THREE.Color; metalness?: number; roughness?: number };
  const color = m.color ? ([m.color.r, m.color.g, m.color.b] as const) : ([1, 1, 1] as const);
  return {
    color: m.opacity < 1 && m.transparent ? [...color, m.opacity] : color,
    metallic: m.metalness ?? 0,
    roughness: m.roughness ?? 1,
    doubleSided: m.side === THREE.DoubleSide,
  };
}

/** An extracted mesh in the shape `writeGlb` takes (white base colour, so COLOR_0 is the albedo). */
export function extractedToGlbMesh(mesh: ExtractedMesh, name = 'extracted'): GlbMesh {
  return { name, positions: mesh.positions, normals: mesh.normals, indices: mesh.indices, colors: mesh.colors, color: [1, 1, 1], metallic: 0, roughness: 1 };
}
