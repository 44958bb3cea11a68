// How much floaters cost a generated asset's shape score: for each asset of a generate output
// folder, its pieces (connected components, largest first, in triangles) and its Chamfer
// distance to the nearest reference (eval-3d's measure: unit-sphere normalization, 2,048
// surface points, seed 0) with every piece under FRACTION of the largest dropped, for each
// FRACTION given (0 keeps all).
// Usage: node examples/floater-chamfer.mjs ASSETS_DIR REFS_DIR FRACTION...
// e.g.   node examples/floater-chamfer.mjs out/ examples/chair-refs 0 0.05 0.25
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chamferDistance, DEFAULT_POINTS, normalizeMeshes, sampleSurface } from '../dist/src/eval/chamfer.js';
import { readGlbMeshes } from '../dist/src/io/glb-read.js';
import { connectedComponents } from '../dist/nerf/mesh-cleanup.js';

const [assetsDir, refsDir, ...fractions] = process.argv.slice(2);
if (!assetsDir || !refsDir || fractions.length === 0) throw new Error('usage: node examples/floater-chamfer.mjs ASSETS_DIR REFS_DIR FRACTION...');
const cloud = (meshes) => sampleSurface(normalizeMeshes(meshes), DEFAULT_POINTS, 0);
const refs = [];
for (const f of fs.readdirSync(refsDir).filter((f) => f.endsWith('.glb')).sort()) refs.push(cloud(await readGlbMeshes(path.join(refsDir, f))));

/** The meshes without the pieces under `fraction` of their largest (`pieces`: each mesh's connectedComponents). */
function dropPieces(meshes, pieces, fraction) {
  return meshes.map((m, i) => {
    const { triangleComponent, triangleCounts } = pieces[i];
    const kept = [];
    triangleComponent.forEach((c, t) => {
      if (triangleCounts[c] >= fraction * triangleCounts[0]) kept.push(m.indices[3 * t], m.indices[3 * t + 1], m.indices[3 * t + 2]);
    });
    return { ...m, indices: Uint32Array.from(kept) };
  });
}

console.log(['asset', 'pieces (triangles)', ...fractions.map((f) => `Chamfer, pieces < ${f} dropped`)].join('\t'));
for (const a of fs.readdirSync(assetsDir).filter((d) => d.startsWith('asset-')).sort()) {
  const meshes = await readGlbMeshes(path.join(assetsDir, a, 'asset.glb'));
  const pieces = meshes.map((m) => connectedComponents(m.indices, m.positions.length / 3));
  const scores = fractions.map((f) => {
    const kept = cloud(dropPieces(meshes, pieces, Number(f)));
    return Math.min(...refs.map((r) => chamferDistance(kept, r))).toFixed(4);
  });
  console.log([a, pieces.map((p) => p.triangleCounts.join(', ')).join(' | '), ...scores].join('\t'));
}
