// Experiment (2026-12-06, measured, not adopted; docs/generate-record.md, "Candidate target
// views"): does the fast path's own fit loss pick the better of K candidate target-view sets?
// For each instance, K samples of its 4 target views (the asset's seed, then seeds derived
// from it), each fitted alone for the defaults' 150 fit iterations; prints the fit's final
// photometric and mask losses (means of the last 20 iterations) and the Chamfer distance of
// the exported mesh to the nearest reference, then the medoid candidate (its shape nearest the
// other candidates'). Writes OUT/iI-kK/ (asset.glb, target-views.png). THEN=generate then runs
// the default pipeline (fit, SDS and refits) on the medoid's views into OUT/asset-NNN, for eval-3d.
// Usage: node docs/experiments/target-candidates.mjs DIST.json REFS_DIR OUT SEED INSTANCES K
// e.g.   node docs/experiments/target-candidates.mjs examples/chair.json examples/chair-refs cand/ 0 0,1,2 4
import * as fs from 'node:fs';
import * as path from 'node:path';
import { samplingSettings } from '../../dist/src/cli/model-flag.js';
import { deriveSeed } from '../../dist/src/core/random.js';
import { generateAsset } from '../../dist/src/generate/generate-asset.js';
import { sampleTargetViews } from '../../dist/src/generate/target-views.js';
import { writeTargetViews } from '../../dist/src/generate/asset-job.js';
import { chamferDistance, shapeCloud } from '../../dist/src/eval/chamfer.js';
import { readGlbMeshes } from '../../dist/src/io/glb-read.js';
import { mainCommand } from './main-command.mjs';

const [distFile, refsDir, out, seedArg, instancesArg, kArg] = process.argv.slice(2);
if (!distFile || !refsDir || !out || !seedArg || !instancesArg || !kArg)
  throw new Error('usage: node docs/experiments/target-candidates.mjs DIST.json REFS_DIR OUT SEED INSTANCES K');
const run = await mainCommand(distFile, refsDir);
const { model } = run;
const config = { ...run.config, iters: 150, fitIters: 150, previewEvery: 0 };
for (const instance of instancesArg.split(',').map(Number)) {
  const asset = { instance, seed: Number(seedArg), label: 'target candidate' };
  const { conditions, assetSeed } = run.instance(instance, asset.seed);
  const candidates = [];
  const candidateSeed = (k) => (k === 0 ? assetSeed : deriveSeed(assetSeed, `candidate/${k}`));
  for (let k = 0; k < Number(kArg); k++) {
    const targets = sampleTargetViews(model, conditions, config.views, samplingSettings({}, model), candidateSeed(k));
    const dir = path.join(out, `i${instance}-k${k}`);
    fs.mkdirSync(dir, { recursive: true });
    await writeTargetViews(path.join(dir, 'target-views.png'), targets);
    const result = await generateAsset({ model, conditions, config, seed: assetSeed, targets, dir: path.join(dir, 'work'), resume: false });
    await run.exportTo(dir, result, asset, { iters: 150, fitIters: 150 });
    fs.rmSync(path.join(dir, 'work'), { recursive: true, force: true });
    const last = result.losses.slice(-20);
    const loss = last.reduce((a, b) => a + b, 0) / last.length;
    const mask = (result.terms.loss_mask ?? []).slice(-20);
    const maskMean = mask.length ? mask.reduce((a, b) => a + b, 0) / mask.length : NaN;
    const chamfer = await run.nearestChamfer(path.join(dir, 'asset.glb'));
    console.log(
      `instance ${instance} candidate ${k}: fit loss ${loss.toFixed(4)} mask ${maskMean.toFixed(4)} Chamfer ${chamfer.toFixed(3)} (${result.seconds.toFixed(0)} s)`,
    );
    candidates.push({ chamfer, cloud: shapeCloud(await readGlbMeshes(path.join(dir, 'asset.glb'))) });
    result.dispose();
    targets.images.dispose();
  }
  // the medoid: the candidate whose fitted shape is nearest the others' on average (no references, no probe)
  const spread = candidates.map(
    (c, k) => candidates.reduce((sum, d, j) => (j === k ? sum : sum + chamferDistance(c.cloud, d.cloud)), 0) / (candidates.length - 1),
  );
  const medoid = spread.indexOf(Math.min(...spread));
  console.log(
    `instance ${instance}: mean distance to the other candidates ${spread.map((x) => x.toFixed(3)).join(' ')}; medoid ${medoid}, Chamfer ${candidates[medoid].chamfer.toFixed(3)}`,
  );
  if (process.env.THEN === 'generate') {
    // the whole default pipeline (fit, then SDS with refits) on the medoid's target views: OUT/asset-NNN for eval-3d
    const targets = sampleTargetViews(model, conditions, config.views, samplingSettings({}, model), candidateSeed(medoid));
    const dir = path.join(out, `asset-${String(instance).padStart(3, '0')}`);
    fs.mkdirSync(dir, { recursive: true });
    await writeTargetViews(path.join(dir, 'target-views.png'), targets);
    const result = await generateAsset({ model, conditions, config: run.config, seed: assetSeed, targets, dir: path.join(dir, 'work'), resume: false });
    await run.exportTo(dir, result, { ...asset, label: `medoid candidate ${medoid}` });
    fs.rmSync(path.join(dir, 'work'), { recursive: true, force: true });
    console.log(
      `instance ${instance}: the default pipeline on candidate ${medoid}, ${result.seconds.toFixed(0)} s, Chamfer ${(await run.nearestChamfer(path.join(dir, 'asset.glb'))).toFixed(3)}`,
    );
    result.dispose();
    targets.images.dispose();
  }
  conditions.dispose();
}
