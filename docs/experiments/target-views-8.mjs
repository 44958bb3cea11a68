// Experiment (2026-12-06, measured and not adopted; docs/generate-record.md, "Measured, not adopted (2026-12-06)"): the main command's
// assets with 8 target views in place of 4. models/dd3d-mv was trained on 4 views; its cross-view
// attention has no weights tied to V, so 8 views can be denoised together if the V check is lifted.
// MODE=ring4 is the defaults (the same target views and assets as `generate`), ring8 eight views
// 45° apart on the defaults' ring, tworing8 the ring plus a second one 20° higher (lower when that
// would pass 45°), turned 45°. Writes OUT/asset-NNN (asset.glb, turntable.png, target-views.png) for
// eval-3d and prints each asset's Chamfer distance to the nearest reference.
// Usage: MODE=ring4|ring8|tworing8 node docs/experiments/target-views-8.mjs DIST.json REFS_DIR OUT SEED INSTANCES
// e.g.   MODE=ring8 node docs/experiments/target-views-8.mjs examples/chair.json examples/chair-refs v8/ 0 0,1,2
import * as fs from 'node:fs';
import * as path from 'node:path';
import { samplingSettings } from '../../dist/src/cli/model-flag.js';
import { writeTargetViews } from '../../dist/src/generate/asset-job.js';
import { generateAsset } from '../../dist/src/generate/generate-asset.js';
import { sampleTargetViews } from '../../dist/src/generate/target-views.js';
import { cameraRing } from '../../dist/renderers/camera-rig.js';
import { mainCommand } from './main-command.mjs';

const [distFile, refsDir, out, seedArg, instancesArg] = process.argv.slice(2);
if (!distFile || !refsDir || !out || !seedArg || !instancesArg)
  throw new Error('usage: MODE=ring4|ring8|tworing8 node docs/experiments/target-views-8.mjs DIST.json REFS_DIR OUT SEED INSTANCES');
const mode = process.env.MODE ?? 'ring4';
// where the target views are, around the first camera the defaults draw
const layouts = {
  ring4: cameraRing,
  ring8: (first) => cameraRing(first, 8),
  tworing8: (first) => [
    ...cameraRing(first, 4),
    ...cameraRing({ ...first, elevation: first.elevation + (first.elevation + 20 > 45 ? -20 : 20), azimuth: first.azimuth + 45 }, 4),
  ],
};
const run = await mainCommand(distFile, refsDir);
const { model, config } = run;
Object.defineProperty(model.unet, 'supportedViews', { get: () => [1, 4, 8] });
for (const instance of instancesArg.split(',').map(Number)) {
  const asset = { instance, seed: Number(seedArg), label: `${mode} targets` };
  const { conditions, assetSeed } = run.instance(instance, asset.seed);
  const targets = sampleTargetViews(model, conditions, config.views, samplingSettings({}, model), assetSeed, layouts[mode]);
  const dir = path.join(out, `asset-${String(instance).padStart(3, '0')}`);
  fs.mkdirSync(dir, { recursive: true });
  await writeTargetViews(path.join(dir, 'target-views.png'), targets);
  const result = await generateAsset({ model, conditions, config, seed: assetSeed, targets, dir: path.join(dir, 'work'), resume: false });
  await run.exportTo(dir, result, asset);
  fs.rmSync(path.join(dir, 'work'), { recursive: true, force: true });
  const chamfer = await run.nearestChamfer(path.join(dir, 'asset.glb'));
  console.log(`${mode} instance ${instance}: ${targets.cameras.length} target views, ${result.seconds.toFixed(0)} s, Chamfer ${chamfer.toFixed(3)}`);
  result.dispose();
  conditions.dispose();
  targets.images.dispose();
}
