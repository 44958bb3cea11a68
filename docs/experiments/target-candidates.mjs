// Experiment (2026-12-06, a lead, not adopted; docs/commands.md, generate, "Candidate target
// views"): does the fast path's own fit loss pick the better of K candidate target-view sets?
// For each instance, K samples of its 4 target views (the asset's seed, then seeds derived
// from it), each fitted alone for the defaults' 150 fit iterations; prints the fit's final
// photometric and mask losses (means of the last 20 iterations) and the Chamfer distance of
// the exported mesh to the nearest reference. Writes OUT/iI-kK/ (asset.glb, target-views.png).
// Usage: node docs/experiments/target-candidates.mjs DIST.json REFS_DIR OUT SEED INSTANCES K
// e.g.   node docs/experiments/target-candidates.mjs examples/chair.json examples/chair-refs cand/ 0 0,1,2 4
import * as fs from 'node:fs';
import * as path from 'node:path';
import { samplingSettings } from '../../dist/src/cli/model-flag.js';
import { deriveSeed } from '../../dist/src/core/random.js';
import { generateAsset } from '../../dist/src/generate/generate-asset.js';
import { sampleTargetViews } from '../../dist/src/generate/target-views.js';
import { writeTargetViews } from '../../dist/src/generate/asset-job.js';
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
  for (let k = 0; k < Number(kArg); k++) {
    const tseed = k === 0 ? assetSeed : deriveSeed(assetSeed, `candidate/${k}`);
    const targets = sampleTargetViews(model, conditions, config.views, samplingSettings({}, model), tseed);
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
    result.dispose();
    targets.images.dispose();
  }
  conditions.dispose();
}
