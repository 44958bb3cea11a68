// What the experiments here share: `generate --dist DIST` as the CLI sets it up when no other flag
// is given (the model the distribution was learned with, its multi-view defaults), each instance's
// conditions and asset seed as src/generate/asset-job.ts draws them, the export beside a manifest,
// and the Chamfer distance of an exported asset to the nearest reference of a folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../dist/src/backend/backend.js';
import { Command } from 'commander';
import { applyModelSettings, registerGenerate, settingsFromFlags } from '../../dist/src/cli/generate.js';
import { loadModel, resolveModelDir } from '../../dist/src/cli/model-flag.js';
import { deriveSeed } from '../../dist/src/core/random.js';
import { loadDistribution } from '../../dist/src/distribution/distribution-file.js';
import { chamferDistance, shapeCloud } from '../../dist/src/eval/chamfer.js';
import { exportAsset } from '../../dist/src/generate/export-asset.js';
import { viewConditions } from '../../dist/src/generate/view-conditions.js';
import { readGlbMeshes } from '../../dist/src/io/glb-read.js';

export async function mainCommand(distFile, refsDir) {
  // the flags `generate --dist DIST` has when none other is given, from the CLI's own option table
  const program = new Command().exitOverride();
  registerGenerate(program);
  const generate = program.commands.find((c) => c.name() === 'generate').action(() => {});
  program.parse(['generate', '--dist', distFile, '--out', 'unused'], { from: 'user' });
  const flags = generate.opts();
  const config = settingsFromFlags(flags);
  await initBackend();
  const dist = loadDistribution(distFile);
  const modelDir = resolveModelDir(undefined, [dist]);
  const model = loadModel(modelDir);
  applyModelSettings(config, flags, model, modelDir, dist);
  const refs = [];
  for (const f of fs.readdirSync(refsDir).filter((f) => f.endsWith('.glb'))) refs.push(shapeCloud(await readGlbMeshes(path.join(refsDir, f))));
  return {
    model,
    modelDir,
    config,
    instance: (instance, seed) => ({
      conditions: viewConditions(model, { kind: 'distribution', file: distFile, dist, stdScale: 1, instance, seed }),
      assetSeed: deriveSeed(seed, `asset/${instance}`),
    }),
    /** Exports the field of `result` into dir (config overridden by `override`); returns its manifest. */
    exportTo: (dir, result, { seed, instance, label }, override = {}) =>
      exportAsset({
        dir,
        field: result.field,
        occupancy: result.occupancy,
        config: { ...config, ...override },
        manifest: {
          ...{ source: { kind: 'prompt', prompt: `${label} of ${distFile}` }, model: modelDir, seed, instance, instance_noise_hash: null },
          ...{ iterations: result.iterations, seconds: Math.round(result.seconds), timing_ms: result.timing, loss_terms: {} },
        },
      }),
    nearestChamfer: async (glb) => {
      const cloud = shapeCloud(await readGlbMeshes(glb));
      return Math.min(...refs.map((r) => chamferDistance(cloud, r)));
    },
  };
}
