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

/**
 * Recorded on the loop of 9379458 (before multi-view), equal bit for bit at 31b5b1e; recorded
 * again when lit renders took forward-difference normals (renderers/volume.ts). The SDS loss's
 * move into a custom op, in the same change, kept the old values.
 */
const PINNED: Record<string, [number, number]> = {
  'encoding.levels.0': [63.6053551122759, 170.43094161660602],
  'encoding.levels.1': [-76.60329098955026, 640.8600361757783],
  'encoding.levels.2': [-97.97502035193057, 2584.173599007756],
  'encoding.levels.3': [-4.1139908595486645, 10499.646229476035],
  'density_mlp.0.weight': [-16.21309280206333, 60.27345569613064],
  'density_mlp.0.bias': [0.036477218847721815, 0.0006475343480785848],
  'density_mlp.1.weight': [0.24157661269418895, 0.020612399358969465],
  'density_mlp.1.bias': [0.0047708540223538876, 2.2761048102610268e-5],
  'albedo_mlp.0.weight': [-5.290095702628605, 62.10875449795878],
  'albedo_mlp.0.bias': [0.007920212403405458, 0.0004018042284455886],
  'albedo_mlp.1.weight': [-0.0505392937338911, 0.0611749848800777],
  'albedo_mlp.1.bias': [-0.003983072470873594, 4.0215433815359415e-5],
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
