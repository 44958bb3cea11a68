/**
 * The iso level at which a density field becomes a surface: half of the field's robust maximum,
 * unless that surface is lace.
 *
 * Half of the robust maximum (the 99.9th percentile of the grid samples) puts the surface
 * halfway up the step from empty space to solid, and a handful of spiky samples cannot move
 * it. That suits a sharp field, a shell whose density jumps to its maximum within a cell or
 * two, where any level in between finds the same surface. But score distillation can leave a
 * fog instead: density 2–9 per unit length, lumpy, turning opaque only a tenth of the cube deep.
 * Half its maximum cuts the fog's wall into lace: a surface of genus 30–250, full of holes where
 * the volume rendering shows a solid pot (three vases of models/dd3d-mv, docs/generate-record.md, "Lace").
 *
 * So the level walks down a ladder (×0.8 a rung, `RUNGS` rungs) from half the robust maximum
 * and stops at the first rung whose largest piece has genus at most `MAX_GENUS`: the world's
 * objects have a few handles at most (a mug's handle, the gaps of a chair's back), lace has
 * dozens to hundreds. A sharp field stops at the first rung, as before; the tables and chairs
 * measured had genus 0–5 there. If no rung qualifies, the one with the smallest genus wins.
 *
 * Genus of a closed triangle mesh: Euler characteristic χ = V − E + F with E = 3F/2 (every edge
 * shared by two triangles, as marching-cubes.ts guarantees on a padded grid), genus = 1 − χ/2.
 */
import type { IndexedMesh } from './marching-cubes.js';
import { connectedComponents } from './mesh-cleanup.js';

export const RUNG_RATIO = 0.8;
export const RUNGS = 8;
/** The most handles a surface may have before it counts as lace. */
export const MAX_GENUS = 10;

export interface IsoLevelChoice {
  level: number;
  /** The surface at that level, straight out of `surfaceAt`. */
  mesh: IndexedMesh;
  /** The genus of its largest piece. */
  genus: number;
  /** 0 for the first rung (half the robust maximum). */
  rung: number;
}

/** The 99.9th percentile of the finite samples, NaN when there are none. */
export function robustMax(values: Float32Array): number {
  // A plain loop: TypedArray.prototype.filter is ~50× slower on millions of samples.
  const finite = new Float32Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]!)) finite[n++] = values[i]!;
  if (n === 0) return NaN;
  return kthSmallest(finite.subarray(0, n), Math.min(n - 1, Math.floor(0.999 * n)));
}

/** The genus of the piece with the most triangles of a closed mesh (0 for an empty mesh). */
export function largestPieceGenus(mesh: IndexedMesh): number {
  const { triangleComponent, triangleCounts } = connectedComponents(mesh.indices, mesh.positions.length / 3);
  if (triangleCounts.length === 0) return 0;
  const used = new Uint8Array(mesh.positions.length / 3);
  let vertices = 0;
  for (let f = 0; f < triangleComponent.length; f++) {
    if (triangleComponent[f] !== 0) continue;
    for (let c = 0; c < 3; c++) {
      const v = mesh.indices[3 * f + c]!;
      if (!used[v]) {
        used[v] = 1;
        vertices++;
      }
    }
  }
  const chi = vertices - triangleCounts[0]! / 2;
  return 1 - chi / 2;
}

/** Walks the ladder down from half of `robustMaximum` (see the header); `surfaceAt` marches cubes at a level. */
export function chooseIsoLevel(robustMaximum: number, surfaceAt: (level: number) => IndexedMesh): IsoLevelChoice {
  let best: IsoLevelChoice | undefined;
  for (let rung = 0; rung < RUNGS; rung++) {
    const level = 0.5 * robustMaximum * RUNG_RATIO ** rung;
    const mesh = surfaceAt(level);
    const genus = largestPieceGenus(mesh);
    if (!best || genus < best.genus) best = { level, mesh, genus, rung };
    if (genus <= MAX_GENUS) return { level, mesh, genus, rung };
  }
  return best!;
}

/** Hoare's quickselect, in place: linear time where a full sort of 2M samples takes seconds. */
function kthSmallest(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k]!;
}
