// Experiment (2026-12-06, measured and not adopted; docs/commands.md, generate): one asset of
// `generate --dist DIST` at the defaults, its field exported at several iso levels, each a
// fraction of the field's robust maximum (0.5 is the export's own first rung), with the
// Chamfer distance of each mesh to the nearest reference. Writes OUT/level-F/ per fraction.
// Usage: node docs/experiments/iso-levels.mjs DIST.json REFS_DIR OUT INSTANCE SEED FRACTIONS
// e.g.   node docs/experiments/iso-levels.mjs examples/chair.json examples/chair-refs levels/ 0 0 0.3,0.4,0.5,0.6,0.7,0.8
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../dist/src/backend/backend.js';
import { applyModelSettings, settingsFromFlags } from '../../dist/src/cli/generate.js';
import { loadModel, resolveModelDir, samplingSettings } from '../../dist/src/cli/model-flag.js';
import { deriveSeed } from '../../dist/src/core/random.js';
import { loadDistribution } from '../../dist/src/distribution/distribution-file.js';
import { chamferDistance, shapeCloud } from '../../dist/src/eval/chamfer.js';
import { GENERATE_DEFAULTS as D } from '../../dist/src/generate/config.js';
import { exportAsset } from '../../dist/src/generate/export-asset.js';
import { generateAsset } from '../../dist/src/generate/generate-asset.js';
import { sampleTargetViews } from '../../dist/src/generate/target-views.js';
import { viewConditions } from '../../dist/src/generate/view-conditions.js';
import { readGlbMeshes } from '../../dist/src/io/glb-read.js';

const [distFile, refsDir, out, instanceArg, seedArg, fractionsArg] = process.argv.slice(2);
if (!distFile || !refsDir || !out || !instanceArg || !seedArg || !fractionsArg)
  throw new Error('usage: node docs/experiments/iso-levels.mjs DIST.json REFS_DIR OUT INSTANCE SEED FRACTIONS');
// the flags `generate` has when none is given
const flags = {
  ...{ field: 'grid', samples: D.samplesPerRay, guidance: D.guidance, stdScale: 1, gradClip: 0, background: 'white', lr: D.lr.encoding },
  ...{ lambdaOrient: D.lambda.orient, lambdaSparsity: D.lambda.sparsity, lambdaEntropy: D.lambda.entropy },
  ...{ previewEvery: 0, meshRes: D.mesh.resolution, meshLevel: D.mesh.level, dist: distFile },
};
const config = settingsFromFlags(flags);
await initBackend();
const dist = loadDistribution(distFile);
const modelDir = resolveModelDir(undefined, [dist]);
const model = loadModel(modelDir);
applyModelSettings(config, flags, model, modelDir, dist);
const instance = Number(instanceArg);
const seed = Number(seedArg);
const conditions = viewConditions(model, { kind: 'distribution', file: distFile, dist, stdScale: 1, instance, seed });
const assetSeed = deriveSeed(seed, `asset/${instance}`); // as src/generate/asset-job.ts draws it
const targets = sampleTargetViews(model, conditions, config.views, samplingSettings({}, model), assetSeed);
const result = await generateAsset({ model, conditions, config, seed: assetSeed, targets, dir: path.join(out, 'work'), resume: false });
const refs = [];
for (const f of fs
  .readdirSync(refsDir)
  .filter((f) => f.endsWith('.glb'))
  .sort())
  refs.push(shapeCloud(await readGlbMeshes(path.join(refsDir, f))));
const manifest = { source: { kind: 'prompt', prompt: `iso levels of ${distFile}` }, model: modelDir, seed, instance, instance_noise_hash: null };
const exportAt = async (dir, level) => {
  fs.mkdirSync(dir, { recursive: true });
  const m = await exportAsset({
    dir,
    field: result.field,
    occupancy: result.occupancy,
    config: { ...config, mesh: { ...config.mesh, level } },
    manifest: { ...manifest, iterations: result.iterations, seconds: Math.round(result.seconds), timing_ms: result.timing, loss_terms: {} },
  });
  const cloud = shapeCloud(await readGlbMeshes(path.join(dir, 'asset.glb')));
  return { threshold: m.mesh.threshold, fraction: m.mesh.thresholdFraction, chamfer: Math.min(...refs.map((r) => chamferDistance(cloud, r))) };
};
// half the robust maximum is the 'half-max' rule; every other level is a multiple of it
const half = await exportAt(path.join(out, 'level-0.5'), 'half-max');
for (const fraction of fractionsArg.split(',').map(Number)) {
  const r = fraction === 0.5 ? half : await exportAt(path.join(out, `level-${fraction}`), (half.threshold * fraction) / 0.5);
  console.log(`fraction ${fraction}: level ${r.threshold.toFixed(2)}, Chamfer ${r.chamfer.toFixed(3)}`);
}
fs.rmSync(path.join(out, 'work'), { recursive: true, force: true });
