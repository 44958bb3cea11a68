// Experiment (2026-12-06, measured and not adopted; docs/generate-record.md, "Measured, not adopted (2026-12-06)"): one asset of
// `generate --dist DIST` at the defaults, its field exported at several iso levels, each a
// fraction of the field's robust maximum (0.5 is the export's own first rung), with the
// Chamfer distance of each mesh to the nearest reference. Writes OUT/level-F/ per fraction.
// Usage: node docs/experiments/iso-levels.mjs DIST.json REFS_DIR OUT INSTANCE SEED FRACTIONS
// e.g.   node docs/experiments/iso-levels.mjs examples/chair.json examples/chair-refs levels/ 0 0 0.3,0.4,0.5,0.6,0.7,0.8
import * as fs from 'node:fs';
import * as path from 'node:path';
import { samplingSettings } from '../../dist/src/cli/model-flag.js';
import { generateAsset } from '../../dist/src/generate/generate-asset.js';
import { sampleTargetViews } from '../../dist/src/generate/target-views.js';
import { mainCommand } from './main-command.mjs';

const [distFile, refsDir, out, instanceArg, seedArg, fractionsArg] = process.argv.slice(2);
if (!distFile || !refsDir || !out || !instanceArg || !seedArg || !fractionsArg)
  throw new Error('usage: node docs/experiments/iso-levels.mjs DIST.json REFS_DIR OUT INSTANCE SEED FRACTIONS');
const run = await mainCommand(distFile, refsDir);
const { model, config } = run;
const asset = { instance: Number(instanceArg), seed: Number(seedArg), label: 'iso levels' };
const { conditions, assetSeed } = run.instance(asset.instance, asset.seed);
const targets = sampleTargetViews(model, conditions, config.views, samplingSettings({}, model), assetSeed);
const result = await generateAsset({ model, conditions, config, seed: assetSeed, targets, dir: path.join(out, 'work'), resume: false });
const exportAt = async (fraction, level) => {
  const dir = path.join(out, `level-${fraction}`);
  fs.mkdirSync(dir, { recursive: true });
  const manifest = await run.exportTo(dir, result, asset, { mesh: { ...config.mesh, level } });
  return { threshold: manifest.mesh.threshold, chamfer: await run.nearestChamfer(path.join(dir, 'asset.glb')) };
};
// half the robust maximum is the 'half-max' rule; every other level is a multiple of it
const half = await exportAt(0.5, 'half-max');
for (const fraction of fractionsArg.split(',').map(Number)) {
  const r = fraction === 0.5 ? half : await exportAt(fraction, (half.threshold * fraction) / 0.5);
  console.log(`fraction ${fraction}: level ${r.threshold.toFixed(2)}, Chamfer ${r.chamfer.toFixed(3)}`);
}
fs.rmSync(path.join(out, 'work'), { recursive: true, force: true });
