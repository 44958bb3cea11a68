import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { pipelineParity } from '../../../src/parity/pipeline.js';
import { DiffusionModel } from '../../../src/pipeline/diffusion-model.js';
import { sampleImages } from '../../../src/pipeline/text-to-image.js';
import { expectOneLineError, runCli } from '../../helpers/cli.js';

const fixtures = path.join(__dirname, '../..', 'fixtures');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-sample-'));

beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('text-to-image pipeline', () => {
  for (const model of ['sd1-tiny', 'sd2-tiny']) {
    it(`${model}: matches StableDiffusionPipeline (DDIM, guidance 7.5, 4 steps, negative prompt)`, () => {
      const r = pipelineParity(path.join(fixtures, model), path.join(fixtures, model, 'golden', 'pipeline.safetensors'));
      expect(r.results.map((x) => x.name)).toEqual(['image']);
      expect(r.results[0].ratio).toBeLessThanOrEqual(1);
      expect(r.ok).toBe(true);
    });
  }

  it('leaves the tensor count unchanged across 20 sampling steps with every scheduler', () => {
    const model = DiffusionModel.load(path.join(fixtures, 'sd2-tiny'));
    const cond = model.encodePrompts(['a red chair', 'a blue chair']);
    const uncond = model.encodePrompts(['']);
    for (const scheduler of ['ddim', 'euler', 'dpm++2m'] as const) {
      const before = tf.memory().numTensors;
      let steps = 0;
      const images = sampleImages(model, { cond, uncond, steps: 20, guidance: 5, scheduler, height: 32, width: 32, seed: 1, onStep: () => steps++ });
      expect(steps).toBe(20);
      expect(images.shape).toEqual([2, 32, 32, 3]);
      const v = images.dataSync();
      expect(v.every((x) => x >= 0 && x <= 1)).toBe(true);
      images.dispose();
      expect(tf.memory().numTensors, scheduler).toBe(before);
    }
    tf.dispose([cond, uncond]);
    model.dispose();
  });

  it('is reproducible for a seed and differs across seeds; non-square sizes work', () => {
    const model = DiffusionModel.load(path.join(fixtures, 'sd1-tiny'));
    const cond = model.encodePrompts(['a red chair']);
    const uncond = model.encodePrompts(['']);
    const run = (seed: number, height = 32, width = 32) =>
      tf.tidy(() => sampleImages(model, { cond, uncond, steps: 3, guidance: 7.5, height, width, seed }).dataSync().slice());
    const a = run(7);
    expect(run(7)).toEqual(a);
    expect(run(8)).not.toEqual(a);
    // 0, every command's default: tfjs treats a seed of 0 as "no seed"
    expect(run(0)).toEqual(run(0));
    expect(run(7, 32, 48).length).toBe(32 * 48 * 3);
    tf.dispose([cond, uncond]);
    model.dispose();
  });
});

describe('dd3d sample', () => {
  it('writes a grid PNG for --n 4 and a JSON summary', async () => {
    const file = path.join(out, 'grid.png');
    const r = runCli([
      'sample',
      '--model',
      path.join(fixtures, 'sd1-tiny'),
      '--prompt',
      'a red chair',
      '--n',
      '4',
      '--steps',
      '3',
      '--seed',
      '3',
      '--out',
      file,
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ out: file, n: 4, height: 32, width: 32, steps: 3, seed: 3 });
    const meta = await sharp(file).metadata();
    // 2×2 grid of 32-pixel images with a 2-pixel gap
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', 66, 66, 3]);
    expect(fs.readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('rejects bad sizes and flags with one line, writing nothing', () => {
    const file = path.join(out, 'bad.png');
    const base = ['sample', '--model', path.join(fixtures, 'sd1-tiny'), '--prompt', 'x', '--out', file];
    expectOneLineError(runCli([...base, '--height', '34']), /--height: 34 is not a positive multiple of 4/);
    expectOneLineError(runCli([...base, '--steps', '0']), /--steps <n>' argument '0' is invalid/);
    expectOneLineError(runCli([...base, '--scheduler', 'plms']), /--scheduler <name>' argument 'plms' is invalid/);
    expectOneLineError(
      runCli(['sample', '--model', path.join(fixtures, 'sd1-tiny'), '--prompt', 'x', '--out', path.join(out, 'x.jpg')]),
      /--out: expected a \.png/,
    );
    expectOneLineError(
      runCli(['sample', '--model', path.join(fixtures, 'pixel-tiny'), '--prompt', 'x', '--out', file]),
      /pixel-tiny: no "scheduler" component/,
    );
    expect(fs.existsSync(file)).toBe(false);
  });
});
