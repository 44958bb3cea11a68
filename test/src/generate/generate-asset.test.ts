/**
 * Pins what `generate` computes, so refactors of the loop keep it: a few iterations of
 * single-view SDS (lit, with every regularizer) on a tiny random-weight model, summarized per
 * field variable as Σx and Σx², recorded from the loop before it was split into components.
 * The tolerance allows float rounding (another CPU's XNNPACK kernels), not a changed step.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { GENERATE_DEFAULTS } from '../../../src/generate/config.js';
import { generateAsset } from '../../../src/generate/generate-asset.js';
import { viewConditions } from '../../../src/generate/view-conditions.js';
import { DiffusionModel } from '../../../src/pipeline/diffusion-model.js';
import { exportTinyModel } from '../../../src/train/export.js';
import { allVariables, buildTinyModel } from '../../../src/train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../../../src/train/pretrain-configs.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-pin-'));
let model: DiffusionModel;
beforeAll(async () => {
  await initBackend('wasm');
  const m = buildTinyModel(PRETRAIN_CONFIGS.test!, 5);
  exportTinyModel(path.join(tmp, 'model'), m, allVariables(m), PRETRAIN_CONFIGS.test!, {});
  model = DiffusionModel.load(path.join(tmp, 'model'));
});
afterAll(() => {
  model?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Recorded on the loop of 9379458 (before multi-view), equal bit for bit at 31b5b1e. */
const PINNED: Record<string, [number, number]> = {
  'encoding.levels.0': [63.71164421791127, 170.49102879957067],
  'encoding.levels.1': [-76.67338098418895, 641.1396273997118],
  'encoding.levels.2': [-96.94599079410628, 2585.1705864249043],
  'encoding.levels.3': [-26.33747939429753, 10501.37279144454],
  'density_mlp.0.weight': [-16.221410173282493, 60.27055480713331],
  'density_mlp.0.bias': [0.03817857336252928, 0.0006674477377580181],
  'density_mlp.1.weight': [0.24106087791733444, 0.020615465857351405],
  'density_mlp.1.bias': [0.004770930390805006, 2.2761776793906808e-5],
  'albedo_mlp.0.weight': [-5.290497732523363, 62.108807946591405],
  'albedo_mlp.0.bias': [0.00791246275184676, 0.0004018451568572289],
  'albedo_mlp.1.weight': [-0.050550334504805505, 0.061174926764016174],
  'albedo_mlp.1.bias': [-0.0039830750320106745, 4.021545680000404e-5],
};

describe('generate is pinned', () => {
  it('the same seed gives the same field after lit SDS iterations with every regularizer', async () => {
    const conditions = viewConditions(model, { kind: 'prompt', prompt: 'a red chair' });
    const config = {
      ...GENERATE_DEFAULTS,
      iters: 5,
      res: 16,
      samplesPerRay: 8,
      occupancyEvery: 2,
      previewEvery: 0,
      checkpointEvery: 100,
      shading: { ...GENERATE_DEFAULTS.shading, warmupIters: 1 },
      lambda: { ...GENERATE_DEFAULTS.lambda, orient: 0.01, sparsity: 0.001, entropy: 0.01 },
    };
    const r = await generateAsset({ model, conditions, config, seed: 11, dir: path.join(tmp, 'a'), resume: false });
    const got: Record<string, [number, number]> = {};
    for (const [k, v] of r.field.variables()) {
      const d = v.dataSync();
      let s = 0;
      let q = 0;
      for (const x of d) ((s += x), (q += x * x));
      got[k] = [s, q];
    }
    r.dispose();
    conditions.dispose();
    if (process.env.DD3D_PRINT_PIN) console.log(JSON.stringify(got));
    expect(Object.keys(got).sort()).toEqual(Object.keys(PINNED).sort());
    for (const [k, [s, q]] of Object.entries(PINNED)) {
      expect(Math.abs(got[k]![0] - s), `${k} Σx`).toBeLessThan(1e-4 * Math.max(1, Math.sqrt(q)));
      expect(Math.abs(got[k]![1] - q), `${k} Σx²`).toBeLessThan(1e-4 * Math.max(1, q));
    }
  }, 120_000);
});
