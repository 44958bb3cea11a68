// What eval-3d's Chamfer distance reads for shapes that are right: for each reference GLB, the
// distance between two independent samplings of its own surface (the estimator's noise at N
// points) and the distance to the nearest other reference (how close two instances of the
// concept are). Prints the means over the references, at eval-3d's 2048 points and at 8192.
// Usage: node examples/chamfer-floor.mjs REF.glb REF.glb ...
//   e.g. node examples/chamfer-floor.mjs examples/chair-refs/ref-*.glb
import { chamferDistance, DEFAULT_POINTS, shapeCloud } from '../dist/src/eval/chamfer.js';
import { readGlbMeshes } from '../dist/src/io/glb-read.js';

const files = process.argv.slice(2);
if (files.length < 2) throw new Error('usage: node examples/chamfer-floor.mjs REF.glb REF.glb ...');
const meshes = await Promise.all(files.map((f) => readGlbMeshes(f)));
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
for (const n of [DEFAULT_POINTS, 4 * DEFAULT_POINTS]) {
  const clouds = meshes.map((m) => [shapeCloud(m, n, 0), shapeCloud(m, n, 1)]);
  const self = clouds.map(([a, b]) => chamferDistance(a, b));
  const nearest = clouds.map(([a], i) => Math.min(...clouds.filter((_, j) => j !== i).map(([b]) => chamferDistance(a, b))));
  console.log(`${n} points: own surface sampled twice ${mean(self).toFixed(3)}, nearest other reference ${mean(nearest).toFixed(3)} (${files.length} references)`);
}
