/**
 * Shape distance between meshes: sample points on the surfaces, put both in the unit
 * sphere, and measure the symmetric Chamfer distance between the two clouds.
 *
 * Normalization is the procedural world's (scenes/bounds.ts): centre on the bounding box's
 * centre, scale so the farthest vertex is at distance 1. So a reference GLB, which is
 * already normalized that way, is unchanged by it, and size and position never count.
 */
import { mulberry32 } from '../core/random.js';
import type { GlbMesh } from '../io/glb.js';

export const DEFAULT_POINTS = 2048;

/** Flat xyz triples. */
export type PointCloud = Float32Array;

/** The vertices actually used by triangles (unreferenced vertices are not part of the surface). */
function* usedVertices(meshes: readonly GlbMesh[]): Generator<[Float32Array, number]> {
  for (const m of meshes) {
    if (m.indices) for (const i of m.indices) yield [m.positions, i];
    else for (let i = 0; i < m.positions.length / 3; i++) yield [m.positions, i];
  }
}

/** Centre and scale that put the meshes in the unit sphere: p ↦ (p − centre) · scale. */
export function unitSphereTransform(meshes: readonly GlbMesh[]): { center: [number, number, number]; scale: number } {
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (const [p, i] of usedVertices(meshes)) {
    for (let a = 0; a < 3; a++) {
      lo[a] = Math.min(lo[a]!, p[3 * i + a]!);
      hi[a] = Math.max(hi[a]!, p[3 * i + a]!);
    }
  }
  if (lo[0] === Infinity) throw new RangeError('unitSphereTransform: no triangles');
  const center: [number, number, number] = [(lo[0]! + hi[0]!) / 2, (lo[1]! + hi[1]!) / 2, (lo[2]! + hi[2]!) / 2];
  let r2 = 0;
  for (const [p, i] of usedVertices(meshes)) {
    r2 = Math.max(r2, (p[3 * i]! - center[0]) ** 2 + (p[3 * i + 1]! - center[1]) ** 2 + (p[3 * i + 2]! - center[2]) ** 2);
  }
  // a single point has no size: leave its scale alone rather than divide by zero
  return { center, scale: r2 > 0 ? 1 / Math.sqrt(r2) : 1 };
}

/** Copies of the meshes moved into the unit sphere (normals and colours shared: they do not change). */
export function normalizeMeshes(meshes: readonly GlbMesh[]): GlbMesh[] {
  const { center, scale } = unitSphereTransform(meshes);
  return meshes.map((m) => {
    const positions = new Float32Array(m.positions.length);
    for (let i = 0; i < positions.length; i++) positions[i] = (m.positions[i]! - center[i % 3]!) * scale;
    return { ...m, positions };
  });
}

/**
 * `n` points uniformly distributed over the meshes' surface area (a triangle is picked with
 * probability proportional to its area, then a uniform point inside it). The same meshes
 * and seed give the same points.
 */
export function sampleSurface(meshes: readonly GlbMesh[], n = DEFAULT_POINTS, seed = 0): PointCloud {
  const tris: Array<{ p: Float32Array; a: number; b: number; c: number }> = [];
  const cumulative: number[] = [];
  let total = 0;
  for (const m of meshes) {
    const idx = m.indices ?? Uint32Array.from({ length: m.positions.length / 3 }, (_, i) => i);
    const p = m.positions;
    for (let t = 0; t + 2 < idx.length; t += 3) {
      const a = idx[t]!,
        b = idx[t + 1]!,
        c = idx[t + 2]!;
      const area = triangleArea(p, a, b, c);
      if (!(area > 0)) continue;
      total += area;
      tris.push({ p, a, b, c });
      cumulative.push(total);
    }
  }
  if (tris.length === 0) throw new RangeError('sampleSurface: the meshes have no area');
  const rng = mulberry32(seed);
  const out = new Float32Array(3 * n);
  for (let k = 0; k < n; k++) {
    const { p, a, b, c } = tris[upperBound(cumulative, rng.next() * total)]!;
    // the square root makes the barycentric point uniform over the triangle, not crowded at corner a
    const s = Math.sqrt(rng.next());
    const u = rng.next();
    const wa = 1 - s,
      wb = s * (1 - u),
      wc = s * u;
    for (let d = 0; d < 3; d++) out[3 * k + d] = wa * p[3 * a + d]! + wb * p[3 * b + d]! + wc * p[3 * c + d]!;
  }
  return out;
}

function triangleArea(p: Float32Array, a: number, b: number, c: number): number {
  const ux = p[3 * b]! - p[3 * a]!,
    uy = p[3 * b + 1]! - p[3 * a + 1]!,
    uz = p[3 * b + 2]! - p[3 * a + 2]!;
  const vx = p[3 * c]! - p[3 * a]!,
    vy = p[3 * c + 1]! - p[3 * a + 1]!,
    vz = p[3 * c + 2]! - p[3 * a + 2]!;
  return 0.5 * Math.hypot(uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx);
}

/** The first index whose cumulative value exceeds x (clamped to the last). */
function upperBound(cumulative: readonly number[], x: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Sampled points of the meshes after normalization to the unit sphere: what shapes are compared by. */
export function shapeCloud(meshes: readonly GlbMesh[], n = DEFAULT_POINTS, seed = 0): PointCloud {
  return sampleSurface(normalizeMeshes(meshes), n, seed);
}

/**
 * Mean distance from each point of `from` to its nearest point of `to`. `to` is sorted along
 * x once (and cached); a query scans outward from its own x in both directions and stops
 * when the x gap alone exceeds the best distance so far, which prunes most of the pairs.
 */
function meanNearestDistance(from: PointCloud, to: PointCloud): number {
  const target = sortedByX(to);
  const m = target.length / 3;
  let sum = 0;
  const n = from.length / 3;
  for (let i = 0; i < n; i++) {
    const x = from[3 * i]!,
      y = from[3 * i + 1]!,
      z = from[3 * i + 2]!;
    let best = Infinity;
    const start = lowerBoundX(target, x);
    for (let j = start; j < m; j++) {
      const dx = target[3 * j]! - x;
      if (dx * dx >= best) break;
      const d = dx * dx + (target[3 * j + 1]! - y) ** 2 + (target[3 * j + 2]! - z) ** 2;
      if (d < best) best = d;
    }
    for (let j = start - 1; j >= 0; j--) {
      const dx = x - target[3 * j]!;
      if (dx * dx >= best) break;
      const d = dx * dx + (target[3 * j + 1]! - y) ** 2 + (target[3 * j + 2]! - z) ** 2;
      if (d < best) best = d;
    }
    sum += Math.sqrt(best);
  }
  return sum / n;
}

/**
 * Symmetric Chamfer distance: the mean nearest-neighbour Euclidean (not squared) distance
 * from a to b and from b to a, averaged, so it is in scene units (of the unit sphere)
 * and 0 only when every point of each cloud lies on a point of the other.
 */
export function chamferDistance(a: PointCloud, b: PointCloud): number {
  if (a.length === 0 || b.length === 0) throw new RangeError('chamferDistance: empty point cloud');
  return 0.5 * (meanNearestDistance(a, b) + meanNearestDistance(b, a));
}

/** Mean Chamfer distance over all unordered pairs; null with fewer than two clouds. */
export function meanPairwiseChamfer(clouds: readonly PointCloud[]): number | null {
  if (clouds.length < 2) return null;
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < clouds.length; i++) {
    for (let j = i + 1; j < clouds.length; j++) {
      sum += chamferDistance(clouds[i]!, clouds[j]!);
      pairs++;
    }
  }
  return sum / pairs;
}

const sortedCache = new WeakMap<PointCloud, Float32Array>();

/** The cloud's points ordered by x, cached per cloud since pairwise distances reuse each target many times (clouds are never mutated after sampling). */
function sortedByX(cloud: PointCloud): Float32Array {
  const hit = sortedCache.get(cloud);
  if (hit) return hit;
  const n = cloud.length / 3;
  const order = Array.from({ length: n }, (_, i) => i).sort((p, q) => cloud[3 * p]! - cloud[3 * q]!);
  const out = new Float32Array(3 * n);
  order.forEach((src, dst) => out.set(cloud.subarray(3 * src, 3 * src + 3), 3 * dst));
  sortedCache.set(cloud, out);
  return out;
}

/** The first point whose x is ≥ x. */
function lowerBoundX(sorted: Float32Array, x: number): number {
  let lo = 0;
  let hi = sorted.length / 3;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[3 * mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
