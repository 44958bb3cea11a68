/**
 * GLB input: the reverse of glb.ts, for measuring generated assets against references.
 * Any GLB a third-party tool wrote is accepted as long as it has triangles: node
 * transforms are baked into world space (as glb.ts writes them), strips and fans become
 * triangle lists, and normalized integer colours become floats. Textures, skins, morph
 * targets and instancing are ignored: evaluation needs shape and flat colour only.
 */
import { NodeIO, type Accessor, type Material, type Node, type Primitive } from '@gltf-transform/core';
import * as THREE from 'three';
import { Dd3dError } from '../core/errors.js';
import type { GlbMesh } from './glb.js';
import { readRegularFile } from './regular-file.js';

const GLB_MAGIC = 0x46546c67; // "glTF", little-endian
const TRIANGLES = 4;
const TRIANGLE_STRIP = 5;
const TRIANGLE_FAN = 6;

/** Every triangle primitive of every mesh node in `file`, in world space. */
export async function readGlbMeshes(file: string): Promise<GlbMesh[]> {
  const bytes = new Uint8Array(readRegularFile(file, 'a GLB file'));
  if (bytes.length < 12 || new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true) !== GLB_MAGIC) {
    throw new Dd3dError(`${file}: not a GLB file (binary glTF starts with "glTF")`);
  }
  let nodes: Node[];
  try {
    const doc = await new NodeIO().readBinary(bytes);
    nodes = doc.getRoot().listNodes();
  } catch (e) {
    throw new Dd3dError(`${file}: unreadable GLB (${(e as Error).message.split('\n')[0]})`);
  }
  const meshes: GlbMesh[] = [];
  for (const node of nodes) {
    const mesh = node.getMesh();
    if (!mesh) continue;
    const world = new THREE.Matrix4().fromArray(node.getWorldMatrix());
    for (const prim of mesh.listPrimitives()) {
      const m = primitiveToMesh(prim, world, mesh.getName() || node.getName() || undefined);
      if (m) meshes.push(m);
    }
  }
  if (meshes.length === 0) throw new Dd3dError(`${file}: the GLB holds no triangles`);
  return meshes;
}

function primitiveToMesh(prim: Primitive, world: THREE.Matrix4, name: string | undefined): GlbMesh | null {
  const mode = prim.getMode();
  const position = prim.getAttribute('POSITION');
  if (!position || position.getCount() === 0 || (mode !== TRIANGLES && mode !== TRIANGLE_STRIP && mode !== TRIANGLE_FAN)) return null;
  const n = position.getCount();
  const order = prim.getIndices() ? readIndices(prim.getIndices()!) : Uint32Array.from({ length: n }, (_, i) => i);
  const indices = toTriangleList(order, mode);
  if (indices.length === 0) return null;
  // a mirroring transform turns the winding inside out; swapping two corners keeps front faces front
  if (world.determinant() < 0) for (let t = 0; t < indices.length; t += 3) [indices[t + 1], indices[t + 2]] = [indices[t + 2]!, indices[t + 1]!];

  const v = new THREE.Vector3();
  const el: number[] = [];
  const positions = new Float32Array(3 * n);
  for (let i = 0; i < n; i++)
    v.fromArray(position.getElement(i, el))
      .applyMatrix4(world)
      .toArray(positions, 3 * i);

  const normal = prim.getAttribute('NORMAL');
  let normals: Float32Array | undefined;
  if (normal && normal.getCount() === n) {
    const normalMatrix = new THREE.Matrix3().getNormalMatrix(world);
    normals = new Float32Array(3 * n);
    for (let i = 0; i < n; i++)
      v.fromArray(normal.getElement(i, el))
        .applyMatrix3(normalMatrix)
        .normalize()
        .toArray(normals, 3 * i);
  }

  const color = prim.getAttribute('COLOR_0');
  let colors: Float32Array | undefined;
  if (color && color.getCount() === n && (color.getElementSize() === 3 || color.getElementSize() === 4)) {
    const k = color.getElementSize();
    colors = new Float32Array(k * n);
    // getElement decodes normalized UNSIGNED_BYTE/SHORT colours to [0, 1]
    for (let i = 0; i < n; i++) colors.set(color.getElement(i, el), k * i);
  }
  return { name, positions, normals, indices, colors, ...materialProps(prim.getMaterial()) };
}

function readIndices(accessor: Accessor): Uint32Array {
  const out = new Uint32Array(accessor.getCount());
  for (let i = 0; i < out.length; i++) out[i] = accessor.getScalar(i);
  return out;
}

/** Strips and fans as a plain triangle list with glTF's winding rules; degenerate triangles kept (harmless). */
function toTriangleList(order: Uint32Array, mode: number): Uint32Array {
  if (mode === TRIANGLES) return order.slice(0, order.length - (order.length % 3));
  const count = Math.max(0, order.length - 2);
  const out = new Uint32Array(3 * count);
  for (let t = 0; t < count; t++) {
    if (mode === TRIANGLE_FAN) out.set([order[0]!, order[t + 1]!, order[t + 2]!], 3 * t);
    else if (t % 2 === 0) out.set([order[t]!, order[t + 1]!, order[t + 2]!], 3 * t);
    else out.set([order[t + 1]!, order[t]!, order[t + 2]!], 3 * t);
  }
  return out;
}

/** glTF's defaults when there is no material: white, fully rough, non-metal, single-sided. */
function materialProps(material: Material | null): Pick<GlbMesh, 'color' | 'metallic' | 'roughness' | 'doubleSided'> {
  if (!material) return { color: [1, 1, 1], metallic: 1, roughness: 1, doubleSided: false };
  const [r, g, b, a] = material.getBaseColorFactor();
  return {
    color: a! < 1 ? [r!, g!, b!, a!] : [r!, g!, b!],
    metallic: material.getMetallicFactor(),
    roughness: material.getRoughnessFactor(),
    doubleSided: material.getDoubleSided(),
  };
}

/**
 * Meshes as a three.js group for renderScene: one Mesh per GlbMesh with a
 * MeshStandardMaterial (which the CPU rasterizer shades as Lambert), vertex colours when
 * the mesh has them. Without normals the rasterizer shades flat, as glTF prescribes.
 */
export function meshesToGroup(meshes: readonly GlbMesh[], name = 'glb'): THREE.Group {
  const group = new THREE.Group();
  group.name = name;
  meshes.forEach((m, k) => {
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute('position', new THREE.BufferAttribute(m.positions, 3));
    if (m.normals) geometry.setAttribute('normal', new THREE.BufferAttribute(m.normals, 3));
    if (m.colors) geometry.setAttribute('color', new THREE.BufferAttribute(m.colors, m.colors.length / (m.positions.length / 3)));
    if (m.indices) geometry.setIndex(new THREE.BufferAttribute(m.indices, 1));
    const [r, g, b] = m.color ?? [1, 1, 1];
    const material = new THREE.MeshStandardMaterial({
      vertexColors: Boolean(m.colors),
      metalness: m.metallic ?? 0,
      roughness: m.roughness ?? 1,
      side: m.doubleSided ? THREE.DoubleSide : THREE.FrontSide,
    });
    // setRGB without a colour space takes linear values, which is what glTF stores
    material.color.setRGB(r, g, b);
    const mesh = new THREE.Mesh(geometry, material);
    mesh.name = m.name ?? `mesh${k}`;
    group.add(mesh);
  });
  return group;
}
