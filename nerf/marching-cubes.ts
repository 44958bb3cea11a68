/**
 * Marching cubes over a scalar field sampled on a regular grid, producing an indexed mesh.
 *
 * The case tables are the classic ones (Lorensen & Cline as published by Paul Bourke), taken
 * from three.js rather than copied: `edgeTable` says which of a cube's 12 edges the surface
 * crosses, `triTable` lists the triangles as edge numbers, 16 entries per case, −1 ends.
 *
 * Conventions:
 * - `values[i + nx·(j + ny·k)]` is the field at grid point (i, j, k); x varies fastest.
 *   Grid point (i, j, k) sits at `min + (i, j, k) · (max − min) / (dims − 1)`.
 * - "Inside" is `value > iso` (a density field). NaN counts as outside.
 * - Each triangle winds counter-clockwise seen from outside, so three.js/glTF front faces
 *   (and the right-hand-rule normals) point away from the dense region.
 * - A vertex is created once per crossed grid edge and shared by every cube around that
 *   edge, so a surface that closes inside the grid comes out closed: every edge of the mesh
 *   is shared by exactly two triangles. The table resolves ambiguous cube faces by the
 *   corners' signs alone, so two cubes sharing a face always agree and no cracks open.
 *
 * Edge vertices are cached per z-layer (two layers of x/y edges plus one of z edges), so
 * the memory beyond the output is O(nx·ny), not O(nx·ny·nz).
 */
import { edgeTable, triTable } from 'three/examples/jsm/objects/MarchingCubes.js';

export type Vec3Tuple = [number, number, number];

export interface GridBounds {
  min: Vec3Tuple;
  max: Vec3Tuple;
}

export interface IndexedMesh {
  /** xyz per vertex. */
  positions: Float32Array;
  /** Three vertex indices per triangle. */
  indices: Uint32Array;
}

// The tables' cube corners as (dx, dy, dz) offsets from the cube's lowest grid point.
const CORNER: ReadonlyArray<Vec3Tuple> = [
  [0, 0, 0],
  [1, 0, 0],
  [1, 1, 0],
  [0, 1, 0],
  [0, 0, 1],
  [1, 0, 1],
  [1, 1, 1],
  [0, 1, 1],
];
// The tables' 12 edges as pairs of corners.
const EDGE: ReadonlyArray<readonly [number, number]> = [
  [0, 1],
  [1, 2],
  [2, 3],
  [3, 0],
  [4, 5],
  [5, 6],
  [6, 7],
  [7, 4],
  [0, 4],
  [1, 5],
  [2, 6],
  [3, 7],
];

/**
 * Where each table edge lives in the per-layer caches: the axis it runs along, and the
 * offset of its lower end from the cube's lowest grid point.
 */
const EDGE_SLOT = EDGE.map(([a, b]) => {
  const ca = CORNER[a]!,
    cb = CORNER[b]!;
  const axis = ca[0] !== cb[0] ? 0 : ca[1] !== cb[1] ? 1 : 2;
  const lo = ca[axis]! < cb[axis]! ? ca : cb;
  return { axis, dx: lo[0], dy: lo[1], dz: lo[2] };
});

const BIG = 1e30;
/** The value with ±∞ (and anything beyond ±1e30) clamped to ±1e30, and NaN (outside) to −1e30. */
function extreme(v: number): number {
  return v > BIG ? BIG : v < -BIG ? -BIG : v === v ? v : -BIG;
}

/** A growable typed buffer; the mesh size is not known until the march is done. */
class Growable<T extends Float32Array | Uint32Array> {
  length = 0;
  constructor(
    public data: T,
    private readonly make: (n: number) => T,
  ) {}
  reserve(extra: number): T {
    if (this.length + extra > this.data.length) {
      const next = this.make(Math.max(this.length + extra, this.data.length * 2));
      next.set(this.data.subarray(0, this.length));
      this.data = next;
    }
    return this.data;
  }
  result(): T {
    return this.data.slice(0, this.length) as T;
  }
}

/** Extracts the `iso` level set of a grid-sampled field as an indexed, shared-vertex mesh. */
export function marchingCubes(values: Float32Array, dims: Vec3Tuple, bounds: GridBounds, iso: number): IndexedMesh {
  const [nx, ny, nz] = dims;
  if (![nx, ny, nz].every((n) => Number.isInteger(n) && n >= 2)) throw new RangeError(`marchingCubes: dims must be integers ≥ 2, got ${dims.join('×')}`);
  if (values.length !== nx * ny * nz) throw new RangeError(`marchingCubes: ${values.length} values for a ${nx}×${ny}×${nz} grid`);
  if (!Number.isFinite(iso)) throw new RangeError(`marchingCubes: iso must be finite, got ${iso}`);
  const sx = (bounds.max[0] - bounds.min[0]) / (nx - 1);
  const sy = (bounds.max[1] - bounds.min[1]) / (ny - 1);
  const sz = (bounds.max[2] - bounds.min[2]) / (nz - 1);
  const [ox, oy, oz] = bounds.min;

  const layer = nx * ny;
  // Vertex id of the crossing on each edge, −1 if not made yet: x and y edges of the cube
  // layer's low and high planes (swapped as the march climbs), z edges between them.
  const zEdges = new Int32Array(layer);

  const positions = new Growable(new Float32Array(3 * 4096), (n) => new Float32Array(n));
  const indices = new Growable(new Uint32Array(3 * 4096), (n) => new Uint32Array(n));
  let vertexCount = 0;

  /** The vertex on the edge from grid point p along `axis`, creating it on first use. */
  const edgeVertex = (i: number, j: number, k: number, axis: number, cache: Int32Array): number => {
    const c = i + nx * j;
    const known = cache[c]!;
    if (known >= 0) return known;
    const p = c + layer * k;
    const q = p + (axis === 0 ? 1 : axis === 1 ? nx : layer);
    // Exactly one end is inside. Infinite and NaN ends count as extremes, so the crossing
    // lands on the finite end (how callers pad a grid with −∞ to cap open surfaces).
    const a = extreme(values[p]!),
      b = extreme(values[q]!);
    let t = (iso - a) / (b - a);
    if (!(t >= 0 && t <= 1)) t = 0.5;
    const out = positions.reserve(3);
    const o = 3 * vertexCount;
    out[o] = ox + (i + (axis === 0 ? t : 0)) * sx;
    out[o + 1] = oy + (j + (axis === 1 ? t : 0)) * sy;
    out[o + 2] = oz + (k + (axis === 2 ? t : 0)) * sz;
    positions.length += 3;
    cache[c] = vertexCount;
    return vertexCount++;
  };

  const edgeIds = new Int32Array(12);
  /** One layer of cubes, between grid planes k and k + 1 (a function so V8 optimizes it early). */
  const marchLayer = (k: number, xLow: Int32Array, xHigh: Int32Array, yLow: Int32Array, yHigh: Int32Array): void => {
    for (let j = 0; j < ny - 1; j++) {
      for (let i = 0; i < nx - 1; i++) {
        const p = i + nx * j + layer * k;
        // Bit set = outside (value ≤ iso or NaN): the tables' "below the isolevel".
        let cube = 0;
        if (!(values[p]! > iso)) cube |= 1;
        if (!(values[p + 1]! > iso)) cube |= 2;
        if (!(values[p + 1 + nx]! > iso)) cube |= 4;
        if (!(values[p + nx]! > iso)) cube |= 8;
        if (!(values[p + layer]! > iso)) cube |= 16;
        if (!(values[p + 1 + layer]! > iso)) cube |= 32;
        if (!(values[p + 1 + nx + layer]! > iso)) cube |= 64;
        if (!(values[p + nx + layer]! > iso)) cube |= 128;
        const crossed = edgeTable[cube]!;
        if (crossed === 0) continue;
        for (let e = 0; e < 12; e++) {
          if ((crossed & (1 << e)) === 0) continue;
          const s = EDGE_SLOT[e]!;
          const cache = s.axis === 2 ? zEdges : s.axis === 0 ? (s.dz ? xHigh : xLow) : s.dz ? yHigh : yLow;
          edgeIds[e] = edgeVertex(i + s.dx, j + s.dy, k + s.dz, s.axis, cache);
        }
        for (let t = cube << 4; triTable[t] !== -1; t += 3) {
          const out = indices.reserve(3);
          // In table order a triangle winds counter-clockwise seen from the corners flagged
          // "below", which we flag for outside: outward front faces as they stand.
          out[indices.length] = edgeIds[triTable[t]!]!;
          out[indices.length + 1] = edgeIds[triTable[t + 1]!]!;
          out[indices.length + 2] = edgeIds[triTable[t + 2]!]!;
          indices.length += 3;
        }
      }
    }
  };

  let [xLow, xHigh] = [new Int32Array(layer).fill(-1), new Int32Array(layer)];
  let [yLow, yHigh] = [new Int32Array(layer).fill(-1), new Int32Array(layer)];
  for (let k = 0; k < nz - 1; k++) {
    xHigh.fill(-1);
    yHigh.fill(-1);
    zEdges.fill(-1);
    marchLayer(k, xLow, xHigh, yLow, yHigh);
    // The top plane's edges are the next layer's bottom plane.
    [xLow, xHigh] = [xHigh, xLow];
    [yLow, yHigh] = [yHigh, yLow];
  }
  return { positions: positions.result(), indices: indices.result() };
}
