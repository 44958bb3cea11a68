import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { SceneDataset, writeSceneDataset } from '../../../src/dataset/scene-dataset.js';
import { readSafetensors } from '../../../src/io/safetensors.js';
import { DiffusionModel } from '../../../src/pipeline/diffusion-model.js';
import { pretrain } from '../../../src/train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../../../src/train/pretrain-configs.js';
import { expectOneLineError, runCli } from '../../helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-pretrain-'));
const data = path.join(tmp, 'data');
const config = PRETRAIN_CONFIGS.test!;

beforeAll(async () => {
  await initBackend('wasm');
  await writeSceneDataset({ n: 48, res: 32, out: data, seed: 4 });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('pretraining the built-in model', () => {
  it('learns: finite losses, a steady tensor count, and a resumed run equal to an uninterrupted one', async () => {
    const dataset = SceneDataset.open(data);
    const counts: number[] = [];
    const whole = await pretrain({
      config,
      dataset,
      out: path.join(tmp, 'a'),
      seed: 1,
      steps: 4,
      resume: false,
      onStep: () => counts.push(tf.memory().numTensors),
    });
    expect(whole.losses.length).toBe(4);
    expect(whole.losses.every(Number.isFinite)).toBe(true);
    expect(new Set(counts.slice(1)).size).toBe(1);

    // killed during step 3, after the step-2 checkpoint: the resume redoes steps 3 and 4
    await expect(
      pretrain({
        config,
        dataset,
        out: path.join(tmp, 'b'),
        seed: 1,
        steps: 4,
        resume: false,
        onStep: (s) => {
          if (s === 3) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    const resumed = await pretrain({ config, dataset, out: path.join(tmp, 'b'), seed: 1, steps: 4, resume: true });
    expect(resumed.losses).toEqual(whole.losses);
    for (const [key, v] of whole.ema.shadow) {
      expect(Array.from(resumed.ema.shadow.get(key)!.dataSync()), key).toEqual(Array.from(v.dataSync()));
    }
  });

  it('with a worker thread taking half of each batch, computes the same training', async () => {
    const dataset = SceneDataset.open(data);
    const one = await pretrain({ config, dataset, out: path.join(tmp, 'w1'), seed: 2, steps: 2, resume: false });
    const counts: number[] = [];
    const two = await pretrain({
      config,
      dataset,
      out: path.join(tmp, 'w2'),
      seed: 2,
      steps: 2,
      resume: false,
      workers: 2,
      onStep: () => counts.push(tf.memory().numTensors),
    });
    expect(counts[1]).toBe(counts[0]);
    for (let i = 0; i < 2; i++) expect(Math.abs(two.losses[i]! - one.losses[i]!)).toBeLessThan(1e-5 * one.losses[i]!);
    for (const [key, v] of one.ema.shadow) {
      const a = v.dataSync();
      const b = two.ema.shadow.get(key)!.dataSync();
      // Adam turns float noise in a (mathematically) zero gradient, such as CLIP's k_proj.bias,
      // into steps of about lr: judge near-zero weights on an absolute floor.
      const scale = Math.max(0.05, ...Array.from(a, Math.abs));
      const err = Math.max(...Array.from(a, (x, j) => Math.abs(x - b[j]!)));
      expect(err, key).toBeLessThan(1e-4 * scale);
    }
  });

  it('refuses a dataset at another resolution, naming both', async () => {
    const dataset = SceneDataset.open(data);
    await expect(pretrain({ config: PRETRAIN_CONFIGS.tiny64!, dataset, out: path.join(tmp, 'c'), seed: 1, steps: 1, resume: false })).rejects.toThrow(
      /the dataset is 32px, config "tiny64" trains at 64px/,
    );
  });
});

describe('dd3d pretrain', () => {
  const out = path.join(tmp, 'model');
  it('writes a diffusers-layout model that dd3d sample loads, a loss curve and a record', async () => {
    const r = runCli(['pretrain', '--data', data, '--out', out, '--config', 'test', '--steps', '2', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ config: 'test', steps: 2, data: { n: 48, res: 32 } });
    // without --json it says what it trains and on how many workers
    const said = runCli(['pretrain', '--data', data, '--out', path.join(tmp, 'said'), '--config', 'test', '--steps', '1', '--workers', '1']);
    expect(said.status, said.stderr).toBe(0);
    expect(said.stderr).toMatch(/^pretrain: test, 48 images, on 1 worker$/m);
    const unet = readSafetensors(path.join(out, 'unet', 'diffusion_pytorch_model.safetensors')).tensors;
    // conv weights are stored in PyTorch's [out, in, kh, kw] layout
    expect(unet.get('conv_in.weight')!.shape).toEqual([32, 3, 3, 3]);
    expect((await sharp(path.join(out, 'train', 'loss.png')).metadata()).format).toBe('png');
    const model = DiffusionModel.load(out);
    expect(model.vae).toBeNull();
    expect(model.defaultSize).toEqual([32, 32]);
    const { guidance_scale, num_inference_steps } = PRETRAIN_CONFIGS.test!.sampling;
    expect(model.sampling).toEqual({ guidance: guidance_scale, steps: num_inference_steps });
    model.dispose();
    const s = runCli(['sample', '--model', out, '--prompt', 'a red chair, front view', '--steps', '3', '--out', path.join(tmp, 's.png')]);
    expect(s.status, s.stderr).toBe(0);
    expectOneLineError(
      runCli(['sample', '--model', out, '--prompt', 'a red chiar', '--out', path.join(tmp, 's-typo.png')]),
      /unknown word "chiar" \(did you mean chair/,
    );
    const e = runCli(['eval-prompt', '--model', out, '--prompt', 'a red chair with four legs, front view', '--n', '4', '--steps', '2', '--json']);
    expect(e.status, e.stderr).toBe(0);
    const j = JSON.parse(e.stdout);
    expect(j).toMatchObject({
      n: 4,
      steps: 2,
      guidance: PRETRAIN_CONFIGS.test!.sampling.guidance_scale,
      terms: { family: 'chair', color: 'red', attributes: { legs: 'four legs' } },
    });
    for (const k of ['family_acc', 'color_acc', 'attr_acc']) (expect(j[k]).toBeGreaterThanOrEqual(0), expect(j[k]).toBeLessThanOrEqual(1));
    expect(j.diversity).toBeGreaterThan(0);
    const two = runCli(['eval-prompt', '--model', out, '--prompt', 'a red chair, front view', '--prompt', 'a blue mug', '--n', '2', '--steps', '2', '--json']);
    expect(two.status, two.stderr).toBe(0);
    const m = JSON.parse(two.stdout);
    expect(m).toMatchObject({ n: 4, steps: 2, guidance: PRETRAIN_CONFIGS.test!.sampling.guidance_scale });
    expect(m.prompts.map((p: { prompt: string }) => p.prompt)).toEqual(['a red chair, front view', 'a blue mug']);
    expect(m.family_acc).toBeCloseTo((m.prompts[0].family_acc + m.prompts[1].family_acc) / 2, 10);
    expectOneLineError(runCli(['eval-prompt', '--model', out, '--n', '2']), /--prompt: expected at least one prompt/);
  });

  it('will not overwrite a run without --resume, and checks its flags', () => {
    expectOneLineError(runCli(['pretrain', '--data', data, '--out', out, '--config', 'test']), /holds a training checkpoint; pass --resume/);
    expectOneLineError(runCli(['pretrain', '--data', path.join(tmp, 'nope'), '--out', out]), /no dataset\.json/);
    const fresh = path.join(tmp, 'taught');
    expectOneLineError(
      runCli(['pretrain', '--data', data, '--out', fresh, '--config', 'test', '--teacher', path.join(tmp, 'nope')]),
      /--teacher: model folder not found: .*nope/,
    );
    expect(fs.existsSync(fresh)).toBe(false);
    // an --init that cannot be read is refused as one line too, before pretrain prints anything
    expectOneLineError(
      runCli(['pretrain', '--data', data, '--out', fresh, '--config', 'test', '--init', path.join(tmp, 'nope')]),
      /model folder not found: .*nope/,
    );
    expectOneLineError(runCli(['pretrain', '--data', data, '--out', fresh, '--config', 'test', '--teacher-weight', '3']), /--teacher-weight: .* none is given/);
    const r = runCli(['pretrain', '--data', data, '--out', out, '--config', 'huge']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--config <name>' argument 'huge' is invalid/);
  });
});
