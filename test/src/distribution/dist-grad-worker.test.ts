/**
 * train-dist on several threads (issue #10, "both cores on every long command"): a step's
 * images split between the main thread and helper threads give the 1-thread run's losses and
 * prompts. The helpers run compiled code: build (npm run build) before this file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { writeReferenceSet } from '../../../src/dataset/scene-refs.js';
import { loadReferenceImages } from '../../../src/distribution/reference-images.js';
import { TRAIN_DIST_DEFAULTS, trainDistribution, type TrainDistConfig } from '../../../src/distribution/train-dist.js';
import { DiffusionModel } from '../../../src/pipeline/diffusion-model.js';
import { exportTinyModel } from '../../../src/train/export.js';
import { allVariables, buildTinyModel } from '../../../src/train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../../../src/train/pretrain-configs.js';
import { runCli } from '../../helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-dist-workers-'));
const modelDir = path.join(tmp, 'model');
const refs = path.join(tmp, 'refs');

beforeAll(async () => {
  await initBackend('wasm');
  // the `test` config's tiny random-weight pixel model, and six red or blue chairs
  const config = PRETRAIN_CONFIGS.test!;
  const m = buildTinyModel(config, 3);
  exportTinyModel(modelDir, m, allVariables(m), config, {});
  await writeReferenceSet({ family: 'chair', where: 'color=red|blue', n: 6, res: 48, out: refs, seed: 2 });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('train-dist --workers', () => {
  it("splits each step's images over threads and trains as one thread does: equal losses and prompts, a steady tensor count", async () => {
    const model = DiffusionModel.load(modelDir);
    const set = await loadReferenceImages(refs, 32, 32, { flip: true });
    // 3 images per step: with 2 workers the parts are 1 and 2 images (uneven, so the weighting matters);
    // 2 components and 'best' exercise the group rows and the per-image reduction
    const cfg: TrainDistConfig = {
      ...TRAIN_DIST_DEFAULTS,
      prompts: 4,
      components: 2,
      assign: 'best',
      batch: 3,
      samples: 2,
      steps: 3,
      checkpointEvery: 10,
      seed: 5,
    };
    const one = await trainDistribution(model, set, cfg, { modelPath: modelDir, trainDir: path.join(tmp, 'w1'), resume: false, workers: 1 });
    const counts: number[] = [];
    const two = await trainDistribution(model, set, cfg, {
      modelPath: modelDir,
      trainDir: path.join(tmp, 'w2'),
      resume: false,
      workers: 2,
      onStep: () => counts.push(tf.memory().numTensors),
    });
    expect(new Set(counts).size).toBe(1);
    expect(two.losses.length).toBe(3);
    for (let i = 0; i < 3; i++) expect(Math.abs(two.losses[i]! - one.losses[i]!), `step ${i + 1}`).toBeLessThan(1e-5 * one.losses[i]!);
    const a = one.distribution.ctx!.data;
    const b = two.distribution.ctx!.data;
    const err = Math.max(...Array.from(a, (x, j) => Math.abs(x - b[j]!)));
    expect(err).toBeLessThan(1e-5);
    // more workers than images: one per image of a step is started, and the run still equals the 1-thread one
    let started = 0;
    const four = await trainDistribution(
      model,
      set,
      { ...cfg, steps: 1 },
      { modelPath: modelDir, trainDir: path.join(tmp, 'w4'), resume: false, workers: 4, onStart: (w) => void (started = w) },
    );
    expect([cfg.batch, started]).toEqual([3, 3]);
    expect(Math.abs(four.losses[0]! - one.losses[0]!)).toBeLessThan(1e-5 * one.losses[0]!);
    model.dispose();
  });

  it('the CLI says how many workers it trains on', () => {
    const r = runCli([
      'train-dist',
      '--images',
      refs,
      '--out',
      path.join(tmp, 'c.json'),
      '--model',
      modelDir,
      '--prompts',
      '3',
      '--steps',
      '1',
      '--validate-every',
      '0',
      '--workers',
      '2',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/train-dist: 6 references \(12 views\), 1 steps of 2 images, on 2 workers/);
  });
});
