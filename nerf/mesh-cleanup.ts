/**
 * Tidying an extracted isosurface: drop floaters (small disconnected pieces, which score
 * distillation leaves around the object), compact unused vertices, simplify with
 * meshoptimizer, and compute smooth vertex normals.
 *
 * Every function takes and returns plain typed arrays (xyz positions, triangle indices) and
 * never mutates its input.
 */
import { MeshoptSimplifier } from 'meshoptimizer';
import type { IndexedMesh } from './marching-cubes.js';

/** Union-find over vertex ids with path halving and union by size. */
class DisjointSets {
  private readonly parent: Int32Array;
  private readonly size: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    for (let i = 0; i < n; i++) this.parent[i] = i;
    this.size = new Int32Array(n).fill(1);
  }
  find(x: number): number {
    const p = this.parent;
    while (p[x] !== x) {
      p[x] = p[p[x]!]!;
      x = p[x]!;
    }
    return x;
  }
  union(a: number, b: number): void {
    let ra = this.find(a),
      rb = this.find(b);
    if (ra === rb) return;
    if (this.size[ra]! < this.size[rb]!) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    this.size[ra]! += this.size[rb]!;
  }
}

export interface Components {
  /** Component number of each triangle, 0 = the component with the most triangles. */
  triangleComponent: Int32Array;
  /** Triangles per component, largest first. */
  triangleCounts: number[];
}

/** Splits a mesh into pieces connected through shared vertices. */
export function connectedComponents(indices: Uint32Array, vertexCount: number): Components {
  const sets = new DisjointSets(vertexCount);
  for (let t = 0; t < indices.length; t += 3) {
    sets.union(indices[t]!, indices[t + 1]!);
    sets.union(indices[t]!, indices[t + 2]!);
  }
  const triangles = indices.length / 3;
  const rootOf = new Int32Array(triangles);
  const countByRoot = new Map<number, number>();
  for (let f = 0; f < triangles; f++) {
    const r = sets.find(indices[3 * f]!);
    rootOf[f] = r;
    countByRoot.set(r, (countByRoot.get(r) ?? 0) + 1);
  }
  // Number components by size so callers can keep "the largest" as component 0.
  const ranked = [...countByRoot.entries()].sort((a, b) => b[1] - a[1]);
  const rankOfRoot = new Int32Array(vertexCount);
  ranked.forEach(([root], k) => (rankOfRoot[root] = k));
  const triangleComponent = new Int32Array(triangles);
  for (let f = 0; f < triangles; f++) triangleComponent[f] = rankOfRoot[rootOf[f]!]!;
  return { triangleComponent, triangleCounts: ranked.map(([, n]) => n) };
}

/**
 * A generated asset is one object, so a piece under a quarter of the largest is a floater:
 * the fast path's four 32-pixel target views leave leg-sized pieces beside the chair (5–11% of
 * the main body's triangles in six of nine assets at mv32p steps 2,400 and 4,000), which a
 * 5% floor kept; dropping them lowered each such asset's Chamfer to the nearest reference by
 * 0.004–0.013 (examples/floater-chamfer.mjs; docs/generate-record.md, "Floaters").
 */
export const FLOATER_FRACTION = 0.25;

export interface FloaterOptions {
  /** Drop components with fewer triangles than this fraction of the largest one's. Default FLOATER_FRACTION. */
  minFraction?: number;
  /** Drop components with fewer triangles than this, whatever the largest. Default 0. */
  minTriangles?: number;
}

export interface FloaterResult {
  mesh: IndexedMesh;
  componentsKept: number;
  componentsDropped: number;
}

/** Removes small disconnected components, then compacts the vertices. */
export function removeFloaters(mesh: IndexedMesh, opts: FloaterOptions = {}): FloaterResult {
  const { triangleComponent, triangleCounts } = connectedComponents(mesh.indices, mesh.positions.length / 3);
  if (triangleCounts.length === 0) return { mesh: compactVertices(mesh), componentsKept: 0, componentsDropped: 0 };
  const floor = Math.max((opts.minFraction ?? FLOATER_FRACTION) * triangleCounts[0]!, opts.minTriangles ?? 0);
  // The largest component always stays, even under a minTriangles larger than it.
  const keep = triangleCounts.map((n, k) => k === 0 || n >= floor);
  const kept = new Uint32Array(mesh.indices.length);
  let n = 0;
  for (let f = 0; f < triangleComponent.length; f++) {
    if (!keep[triangleComponent[f]!]) continue;
    kept[n++] = mesh.indices[3 * f]!;
    kept[n++] = mesh.indices[3 * f + 1]!;
    kept[n++] = mesh.indices[3 * f + 2]!;
  }
  const componentsKept = keep.filter(Boolean).length;
  return {
    mesh: compactVertices({ positions: mesh.positions, indices: kept.slice(0, n) }),
    componentsKept,
    componentsDropped: keep.length - componentsKept,
  };
}

/** Drops vertices no triangle uses and renumbers the rest in first-use order. */
export function compactVertices(mesh: IndexedMesh): IndexedMesh {
  const remap = new Int32Array(mesh.positions.length / 3).fill(-1);
  const indices = new Uint32Array(mesh.indices.length);
  let used = 0;
  for (let i = 0; i < mesh.indices.length; i++) {
    const v = mesh.indices[i]!;
    if (remap[v] === -1) remap[v] = used++;
    indices[i] = remap[v]!;
  }
  const positions = new Float32Array(3 * used);
  for (let v = 0; v < remap.length; v++) {
    const r = remap[v]!;
    if (r < 0) continue;
    positions[3 * r] = mesh.positions[3 * v]!;
    positions[3 * r + 1] = mesh.positions[3 * v + 1]!;
    positions[3 * r + 2] = mesh.positions[3 * v + 2]!;
  }
  return { positions, indices };
}

/**
 * Smooth vertex normals: the sum of the incident faces' cross products (so larger faces
 * weigh more and slivers, common in marching-cubes output, barely count), normalized.
 * A vertex with no area around it gets +Y so the result is always unit length.
 */
export function vertexNormals(mesh: IndexedMesh): Float32Array {
  const { positions: p, indices } = mesh;
  const acc = new Float64Array(p.length);
  for (let t = 0; t < indices.length; t += 3) {
    const a = 3 * indices[t]!,
      b = 3 * indices[t + 1]!,
      c = 3 * indices[t + 2]!;
    const ux = p[b]! - p[a]!,
      uy = p[b + 1]! - p[a + 1]!,
      uz = p[b + 2]! - p[a + 2]!;
    const vx = p[c]! - p[a]!,
      vy = p[c + 1]! - p[a + 1]!,
      vz = p[c + 2]! - p[a + 2]!;
    const nx = uy * vz - uz * vy,
      ny = uz * vx - ux * vz,
      nz = ux * vy - uy * vx;
    for (const o of [a, b, c]) {
      acc[o] += nx;
      acc[o + 1] += ny;
      acc[o + 2] += nz;
    }
  }
  const out = new Float32Array(p.length);
  for (let o = 0; o < acc.length; o += 3) {
    const len = Math.hypot(acc[o]!, acc[o + 1]!, acc[o + 2]!);
    if (len > 0) {
      out[o] = acc[o]! / len;
      out[o + 1] = acc[o + 1]! / len;
      out[o + 2] = acc[o + 2]! / len;
    } else out[o + 1] = 1;
  }
  return out;
}

export interface SimplifyOptions {
  /** Stop once the mesh has at most this many triangles. */
  targetTriangles: number;
  /**
   * Largest geometric error allowed, relative to the mesh's extent (meshoptimizer's
   * convention); simplification stops early rather than exceed it. Default 0.01.
   */
  maxError?: number;
}

export interface SimplifyResult {
  mesh: IndexedMesh;
  /** The error meshoptimizer reports, relative to the mesh extent. */
  error: number;
}

/**
 * Edge-collapse simplification (meshoptimizer's quadric simplifier) toward a triangle count.
 * It collapses only along edges, never welds separate pieces, and treats open borders as
 * fixed, so a closed surface stays closed apart from rare local folds. Meshes already at or
 * under the target come back compacted but otherwise unchanged.
 */
export async function simplifyMesh(mesh: IndexedMesh, opts: SimplifyOptions): Promise<SimplifyResult> {
  const target = Math.max(1, Math.floor(opts.targetTriangles));
  if (mesh.indices.length / 3 <= target) return { mesh: compactVertices(mesh), error: 0 };
  await MeshoptSimplifier.ready;
  const [indices, error] = MeshoptSimplifier.simplify(mesh.indices, mesh.positions, 3, 3 * target, opts.maxError ?? 0.01, []);
  return { mesh: compactVertices({ positions: mesh.positions, indices }), error };
}
