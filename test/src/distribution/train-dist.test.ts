import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { Dd3dError } from '../../../src/core/errors.js';
import { writeReferenceSet } from '../../../src/dataset/scene-refs.js';
import { instanceComponent, instanceConditions, instanceNoise, mixGaussians, mixWeights, parseWeighted } from '../../../src/distribution/conditions.js';
import { checkDistributionModel, loadDistribution, saveDistribution, type PromptDistribution } from '../../../src/distribution/distribution-file.js';
import { encodeContext, fitGaussian } from '../../../src/distribution/prompt-learner.js';
import { buildTemplate } from '../../../src/distribution/prompt-template.js';
import { loadReferenceImages } from '../../../src/distribution/reference-images.js';
import { TRAIN_DIST_DEFAULTS, trainDistribution, type TrainDistConfig } from '../../../src/distribution/train-dist.js';
import { DiffusionModel } from '../../../src/pipeline/diffusion-model.js';
import { exportTinyModel } from '../../../src/train/export.js';
import { allVariables, buildTinyModel } from '../../../src/train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../../../src/train/pretrain-configs.js';
import { expectOneLineError, runCli } from '../../helpers/cli.js';
import { FIXTURES } from '../../helpers/fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-dist-'));
const modelDir = path.join(tmp, 'model');
const refs = path.join(tmp, 'refs');
const cfg = (over: Partial<TrainDistConfig> = {}): TrainDistConfig => ({
  ...TRAIN_DIST_DEFAULTS,
  prompts: 3,
  components: 1,
  steps: 4,
  checkpointEvery: 2,
  seed: 1,
  ...over,
});

beforeAll(async () => {
  await initBackend('wasm');
  // a tiny random-weight pixel model built like dd3d-tiny (the `test` config), and six chairs at 48 px
  const config = PRETRAIN_CONFIGS.test!;
  const m = buildTinyModel(config, 3);
  exportTinyModel(modelDir, m, allVariables(m), config, {});
  await writeReferenceSet({ family: 'chair', where: 'color=red|blue', n: 6, res: 48, out: refs, seed: 2 });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('reference images', () => {
  it('are resized to the model resolution, cropped along the long side and mirrored', async () => {
    const wide = path.join(tmp, 'wide');
    fs.mkdirSync(wide);
    // 64×32, left half black, right half white
    const px = Buffer.alloc(64 * 32 * 3, 255);
    for (let y = 0; y < 32; y++) px.fill(0, y * 64 * 3, y * 64 * 3 + 32 * 3);
    await sharp(px, { raw: { width: 64, height: 32, channels: 3 } })
      .png()
      .toFile(path.join(wide, 'a.png'));
    const set = await loadReferenceImages(wide, 16, 16, { flip: true });
    expect(set.views.n).toBe(6); // crops at left, centre, right, each mirrored
    const at = (v: number, x: number) => set.views.data[(v * 16 * 16 + 8 * 16 + x) * 3]!;
    expect([at(0, 0), at(0, 12)]).toEqual([0, 0]); // left crop: black (its last columns blend into the white half)
    expect([at(1, 15), at(1, 3)]).toEqual([0, 0]); // its mirror
    expect([at(4, 3), at(4, 15)]).toEqual([1, 1]); // right crop: white
    expect(set.source).toEqual([0, 0, 0, 0, 0, 0]);
    expect((await loadReferenceImages(wide, 16, 16, { flip: false })).views.n).toBe(3);
    expect(set.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe('training a distribution', () => {
  it('keeps the tensor count steady, learns finite ctx, and a resumed run equals an uninterrupted one', async () => {
    const model = DiffusionModel.load(modelDir);
    const set = await loadReferenceImages(refs, 32, 32, { flip: true });
    const counts: number[] = [];
    const whole = await trainDistribution(model, set, cfg(), {
      modelPath: modelDir,
      trainDir: path.join(tmp, 'a'),
      resume: false,
      onStep: () => counts.push(tf.memory().numTensors),
    });
    expect(new Set(counts).size).toBe(1);
    expect(whole.losses.length).toBe(4);
    expect(whole.losses.every(Number.isFinite)).toBe(true);
    const d = whole.distribution;
    const width = model.textEncoder.hiddenSize;
    expect(d.ctx!.shape).toEqual([3, 4, width]);
    expect(d.mu.shape).toEqual([77, width]);
    // BOS and the prefix "a" are the same in every prompt: σ ≈ 0 there (batched float32 rounding
    // may differ by row), and large from the context on
    const sigmaAt = (p: number) => Math.max(...d.sigma.data.subarray(p * width, (p + 1) * width));
    expect(sigmaAt(2)).toBeGreaterThan(1e-3);
    expect(Math.max(sigmaAt(0), sigmaAt(1))).toBeLessThan(1e-4 * sigmaAt(2));
    expect(d.training).toMatchObject({ steps: 4, references: { images: 6, views: 12, hash: set.hash } });

    await expect(
      trainDistribution(model, set, cfg(), {
        modelPath: modelDir,
        trainDir: path.join(tmp, 'b'),
        resume: false,
        onStep: (s) => {
          if (s === 3) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    const after: number[] = [];
    const resumed = await trainDistribution(model, set, cfg(), {
      modelPath: modelDir,
      trainDir: path.join(tmp, 'b'),
      resume: true,
      onStep: (s) => after.push(s),
    });
    expect(after).toEqual([3, 4]); // steps 3 and 4: it goes on from the checkpoint at step 2
    expect(resumed.losses).toEqual(whole.losses);
    expect(Array.from(resumed.distribution.ctx!.data)).toEqual(Array.from(d.ctx!.data));
    await expect(trainDistribution(model, set, cfg({ prompts: 5 }), { modelPath: modelDir, trainDir: path.join(tmp, 'b'), resume: true })).rejects.toThrow(
      /--resume: the checkpoint in .* was made with prompts 3, this run asks for 5/,
    );
    // settings no flag parser has seen are checked before anything is written
    for (const [over, message] of [
      [{ steps: 0 }, 'trainDistribution: "steps" is 0, expected a whole number ≥ 1'],
      [{ lr: Number.NaN }, 'trainDistribution: "lr" is NaN, expected a finite number ≥ 0'],
      [{ assign: 'median' }, 'trainDistribution: "assign" is "median", expected one of mean, best'],
    ] as const) {
      const dir = path.join(tmp, 'never');
      await expect(trainDistribution(model, set, { ...cfg(), ...over } as TrainDistConfig, { modelPath: modelDir, trainDir: dir })).rejects.toThrow(
        new Dd3dError(message),
      );
      expect(fs.existsSync(dir)).toBe(false);
    }
    model.dispose();
  });
  it('with components, learns one Gaussian per group of references: the groups split the colours', async () => {
    // red or blue chairs whose seats are all white, so colour is the one mode
    const twoColours = path.join(tmp, 'refs-two-colours');
    await writeReferenceSet({ family: 'chair', where: 'color=red|blue; seat_color=white', n: 6, res: 48, out: twoColours, seed: 2 });
    const model = DiffusionModel.load(modelDir);
    const set = await loadReferenceImages(twoColours, 32, 32, { flip: true });
    const counts: number[] = [];
    const run = await trainDistribution(model, set, cfg({ prompts: 5, components: 2, steps: 3 }), {
      modelPath: modelDir,
      trainDir: path.join(tmp, 'c'),
      resume: false,
      onStep: () => counts.push(tf.memory().numTensors),
    });
    expect(new Set(counts).size).toBe(1);
    const d = run.distribution;
    const width = d.mu.shape[1]!;
    const groups = d.training.groups as Record<string, number>;
    const colors = JSON.parse(fs.readFileSync(path.join(twoColours, 'attributes.json'), 'utf8')).images.map(
      (im: { file: string; attributes: { color: string } }) => [groups[im.file], im.attributes.color],
    );
    // two groups, each holding one colour
    expect(new Set(colors.map(([g]: [number]) => g)).size).toBe(2);
    expect(new Set(colors.map(([g, c]: [number, string]) => `${g}:${c}`)).size).toBe(2);
    const share = colors.filter(([g]: [number]) => g === 0).length / colors.length;
    expect(d.components!.weights[0]).toBeCloseTo(share, 6);
    expect(d.components!.weights[0]! + d.components!.weights[1]!).toBeCloseTo(1, 6);
    expect(d.components!.prompts).toEqual([3, 2]);
    expect(d.components!.mu.shape).toEqual([2, 77, width]);
    // component 1's σ is the std over prompts 3 and 4 alone
    const ctx = tf.tensor3d(d.ctx!.data, d.ctx!.shape as [number, number, number]);
    const { states, eos } = encodeContext(model.textEncoder, buildTemplate(model.tokenizer, 'a', '', 4, 77), ctx);
    const last = fitGaussian(states.slice([3, 0, 0], [2, -1, -1]) as tf.Tensor3D);
    const at = 3 * width + 5; // position 3 (BOS, "a", then the 4 context tokens), any channel
    expect(d.components!.sigma.data[77 * width + at]).toBeCloseTo(last.sigma.dataSync()[at]!, 5);
    expect(d.components!.mu.data[77 * width + at]).toBeCloseTo(last.mu.dataSync()[at]!, 5);
    tf.dispose([ctx, states, eos, last.mu, last.sigma]);
    await expect(
      trainDistribution(model, set, cfg({ prompts: 5, steps: 4 }), { modelPath: modelDir, trainDir: path.join(tmp, 'c'), resume: true }),
    ).rejects.toThrow(/--resume: the checkpoint in .* was made with components the default, this run asks for 1/);
    // the loss settings are part of a run's identity too
    for (const [over, message] of [
      [{ assign: 'best' }, /was made with assign the default, this run asks for "best"/],
      [{ orthoLambda: 0.01 }, /was made with ortho the default, this run asks for 0\.01/],
      [{ lr: 0.01 }, /was made with lr the default, this run asks for 0\.01/],
    ] as const) {
      await expect(
        trainDistribution(model, set, cfg({ prompts: 5, components: 2, steps: 4, ...over }), {
          modelPath: modelDir,
          trainDir: path.join(tmp, 'c'),
          resume: true,
        }),
      ).rejects.toThrow(message);
    }
    await expect(
      trainDistribution(model, set, cfg({ prompts: 3, components: 2 }), { modelPath: modelDir, trainDir: path.join(tmp, 'd'), resume: false }),
    ).rejects.toThrow('--components: 2 components need at least 4 prompts (2 each, for a standard deviation), got --prompts 3');
    model.dispose();
  });
});

describe('mixing and instances', () => {
  const g = (mu: number, sigma: number) => ({ mu: tf.fill([1, 1, 2], mu) as tf.Tensor3D, sigma: tf.fill([1, 1, 2], sigma) as tf.Tensor3D, weights: [1] });

  it("mixes by the official rule and keeps each instance's ε whatever the batch", () => {
    const mixed = mixGaussians(
      [
        { file: 'a', g: g(1, 3), weight: 0.25 },
        { file: 'b', g: g(5, 4), weight: 0.75 },
      ],
      2,
    );
    expect(mixed.mu.dataSync()[0]).toBeCloseTo(0.25 * 1 + 0.75 * 5, 6);
    expect(mixed.sigma.dataSync()[0]).toBeCloseTo(Math.sqrt((0.25 * 2 * 3) ** 2 + (0.75 * 2 * 4) ** 2), 5);
    const all = instanceConditions(g(0, 1), 9, 0, 4);
    const third = instanceConditions(g(0, 1), 9, 2, 1);
    expect(Array.from(third.dataSync())).toEqual(Array.from(all.slice([2, 0, 0], [1, -1, -1]).dataSync()));
    expect(Array.from(instanceConditions(g(7, 0), 9, 0, 2).dataSync())).toEqual([7, 7, 7, 7]); // γσ = 0: the mean prompt
    // ε is the one instanceNoise gives: a single Gaussian's instances are as they were before mixtures
    expect(Array.from(all.slice([1, 0, 0], [1, -1, -1]).dataSync())).toEqual(Array.from(instanceNoise(9, 1, [1, 2]).dataSync()));
  });

  it("draws each instance's component by weight, and keeps its ε", () => {
    // component 0 sits at 0, component 1 at 100, both with σ = 1
    const m = { mu: tf.tensor3d([0, 0, 100, 100], [2, 1, 2]), sigma: tf.ones([2, 1, 2]) as tf.Tensor3D, weights: [0.25, 0.75] };
    const n = 400;
    const c = instanceConditions(m, 3, 0, n).dataSync();
    const drawn = Array.from({ length: n }, (_, i) => (c[2 * i]! > 50 ? 1 : 0));
    expect(drawn).toEqual(Array.from({ length: n }, (_, i) => instanceComponent(m.weights, 3, i)));
    // consecutive instances spread evenly: 400 of them hold the weights to within 1% (independent draws: ±4%)
    expect(Math.abs(drawn.filter((x) => x === 1).length / n - 0.75)).toBeLessThan(0.01);
    const eps = instanceNoise(3, 5, [1, 2]).dataSync();
    expect(c[10]! - 100 * drawn[5]!).toBeCloseTo(eps[0]!, 4);
    expect(() =>
      mixGaussians(
        [
          { file: 'm.json', g: m, weight: 0.5 },
          { file: 'b', g: g(5, 4), weight: 0.5 },
        ],
        1,
      ),
    ).toThrow('--mix: m.json has 2 components; --mix combines single-Gaussian distributions (train-dist without --components)');
    expect(mixGaussians([{ file: 'm.json', g: m, weight: 1 }], 2).sigma.dataSync()[0]).toBe(2);
  });

  it("draws each instance's component with the weight's probability, and a few instances cover the components", () => {
    const seeds = Array.from({ length: 4000 }, (_, s) => s);
    for (const i of [0, 1, 7]) {
      // alone, instance i of a random seed is component 1 with probability 0.25, as an independent draw
      const share = seeds.filter((s) => instanceComponent([0.75, 0.25], s, i) === 1).length / seeds.length;
      expect(Math.abs(share - 0.25)).toBeLessThan(0.025);
    }
    const firstThree = (w: number[], s: number) => [0, 1, 2].map((i) => instanceComponent(w, s, i));
    const alike = (w: number[]) => seeds.filter((s) => new Set(firstThree(w, s)).size === 1).length / seeds.length;
    // three instances all from the 0.75 component: 26% of seeds (0.75³ + 0.25³ = 44% drawn independently)
    expect(alike([0.75, 0.25])).toBeGreaterThan(0.23);
    expect(alike([0.75, 0.25])).toBeLessThan(0.3);
    // no share holds three consecutive points when each is under 0.618 (the golden gaps are 0.236, 0.382, 0.382)
    expect(alike([5 / 12, 7 / 12])).toBe(0);
    expect(alike([0.5, 0.5])).toBe(0);
  });

  it('needs weights that sum to 1', () => {
    expect(mixWeights(null, [0.3])).toEqual([0.7, 0.3]);
    expect(mixWeights(0.5, [0.25, 0.25])).toEqual([0.5, 0.25, 0.25]);
    expect(() => mixWeights(0.6, [0.3])).toThrow('--mix: the weights (0.6 + 0.3) must be positive and sum to 1');
    expect(() => mixWeights(null, [0.7, 0.5])).toThrow(/must be positive and sum to 1/);
    expect(parseWeighted('a=b.json=0.3', '--mix')).toEqual({ file: 'a=b.json', weight: 0.3 });
    expect(() => parseWeighted('b.json=x', '--mix')).toThrow('--mix: "b.json=x" needs a weight in (0, 1] after "=", e.g. other.json=0.3');
  });
});

describe('the distribution file', () => {
  const file = path.join(tmp, 'd.json');
  const dist: PromptDistribution = {
    model: { path: 'm', text_encoder_hash: 'sha256:00' },
    prompts: 2,
    ctx_length: 1,
    prefix: 'a',
    suffix: '',
    ctx: { shape: [2, 1, 2], data: Float32Array.from([1, 2, 3, 4]) },
    mu: { shape: [3, 2], data: Float32Array.from([0, 1, 2, 3, 4, 5]) },
    sigma: { shape: [3, 2], data: Float32Array.from([0, 0, 1, 1, 2, 2]) },
    components: null,
    training: { steps: 1 },
  };
  const mixture: PromptDistribution = {
    ...dist,
    components: {
      weights: [0.25, 0.75],
      prompts: [1, 1],
      mu: { shape: [2, 3, 2], data: Float32Array.from({ length: 12 }, (_, i) => i) },
      sigma: { shape: [2, 3, 2], data: new Float32Array(12).fill(0.5) },
    },
  };
  const edited = (change: (j: Record<string, any>) => void, d = dist) => {
    saveDistribution(file, d);
    const j = JSON.parse(fs.readFileSync(file, 'utf8'));
    change(j);
    fs.writeFileSync(file, JSON.stringify(j));
    return () => loadDistribution(file);
  };

  it('round-trips exactly', () => {
    saveDistribution(file, dist);
    const back = loadDistribution(file);
    expect(back.ctx!.data).toEqual(dist.ctx!.data);
    expect(back.sigma).toEqual(dist.sigma);
    expect(back.prefix).toBe('a');
    expect(back.components).toBeNull();
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).version).toBe(1); // still readable by a dd3d without mixtures
    saveDistribution(file, mixture);
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).version).toBe(2);
    expect(loadDistribution(file).components).toEqual(mixture.components);
  });

  it('refuses bad files with one line naming the key', () => {
    expect(edited((j) => (j.format = 'x'))).toThrow(/"format" must be "dd3d-distribution"/);
    expect(edited((j) => (j.version = 3))).toThrow(/"version" is 3: written by a newer dd3d \(this one reads 1 and 2\)/);
    expect(edited((j) => (j.version = 1), mixture)).toThrow(/"components" needs "version": 2/);
    expect(edited((j) => (j.components.weights = [0.5, 0.25]), mixture)).toThrow(/"components.weights" must sum to 1 \(they sum to 0.75\)/);
    expect(edited((j) => (j.components.prompts = [1, 2]), mixture)).toThrow(/"components.prompts" sum to 3, "prompts" is 2/);
    expect(edited((j) => (j.components.mu.shape = [2, 2, 3]), mixture)).toThrow(/"components.mu" has shape \[2,2,3\], expected \[2,3,2\]/);
    expect(edited((j) => (j.components.sigma.base64 = ''), mixture)).toThrow(/"components.sigma.base64" holds 0 bytes/);
    expect(edited((j) => (j.mu.base64 = j.mu.base64.slice(0, 8)))).toThrow(/"mu.base64" holds 6 bytes, shape \[3,2\] needs 24/);
    expect(edited((j) => (j.sigma.shape = [2, 3]))).toThrow(/"sigma" has shape \[2,3\], mu has \[3,2\]/);
    expect(edited((j) => (j.ctx.shape = [3, 1, 2]))).toThrow(/"ctx.base64" holds 16 bytes, shape \[3,1,2\] needs 24/);
    expect(edited((j) => (j.ctx.shape = [1, 2, 2]))).toThrow(/"ctx" has shape \[1,2,2\], expected \[prompts=2, ctx_length=1, D\]/);
    expect(edited((j) => (j.mu.base64 = Buffer.from(Float32Array.from([0, NaN, 0, 0, 0, 0]).buffer).toString('base64')))).toThrow(
      /"mu" has a non-finite value \(NaN\) at element 1/,
    );
    expect(edited((j) => (j.sigma.base64 = Buffer.from(Float32Array.from([0, 0, 1, -1, 2, 2]).buffer).toString('base64')))).toThrow(
      /"sigma" has a negative standard deviation/,
    );
    expect(edited((j) => (j.ctx = { shape: [2, 1, 3], base64: Buffer.from(new Float32Array(6).buffer).toString('base64') }))).toThrow(
      /"ctx" has width 3, mu has 2/,
    );
    expect(edited((j) => delete j.components, mixture)).toThrow(/"components" is missing: a version-2 distribution is a mixture/);
    expect(() => loadDistribution(path.join(tmp, 'none.json'))).toThrow(/none.json: distribution file not found/);
  });

  it("is checked against the model: its state shape, every array within the encoder's range (the components' too), its text encoder", () => {
    // the test model's text encoder: 77 states of width 32
    const zeros = (shape: number[]) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    const fitted: PromptDistribution = {
      ...dist,
      ctx: null,
      mu: zeros([77, 32]),
      sigma: zeros([77, 32]),
      components: { weights: [0.5, 0.5], prompts: [1, 1], mu: zeros([2, 77, 32]), sigma: zeros([2, 77, 32]) },
    };
    const warnings: string[] = [];
    checkDistributionModel('f.json', fitted, modelDir, 32, 77, (m) => warnings.push(m));
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(
      /^f\.json was fitted with the text encoder of m \(sha256:00…\), not that of .*model \(sha256:[0-9a-f]{12}…\); results may be meaningless$/,
    );
    expect(() => checkDistributionModel('f.json', fitted, modelDir, 33, 77, () => {})).toThrow(
      `f.json: states are [77, 32], the model at ${modelDir} gives [77, 33]: the distribution belongs to m`,
    );
    fitted.components!.sigma.data[5] = 1e30;
    expect(() => checkDistributionModel('f.json', fitted, modelDir, 32, 77, () => {})).toThrow(
      /^f\.json: "components\.sigma" reaches 1\.00e\+30, far outside the range of the text encoder of .*model \(its states stay within ±[0-9.]+\)/,
    );
  });
});

describe('the commands', () => {
  const out = path.join(tmp, 'chair.json');

  it('train-dist writes a distribution, validation grids and a loss curve; sample draws, mixes and edits it', async () => {
    const r = runCli([
      'train-dist',
      '--images',
      refs,
      '--out',
      out,
      '--model',
      modelDir,
      '--prompts',
      '3',
      '--steps',
      '2',
      '--validate-every',
      '2',
      '--assign',
      'best',
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ images: 6, views: 12, prompts: 3, steps: 2 });
    expect(JSON.parse(r.stdout).peak_rss_mb).toBeGreaterThan(0);
    expect(r.stderr).not.toMatch(/warning/); // 6 images is within 5–20
    const train = path.join(tmp, 'chair.train');
    for (const f of ['val-000002.png', 'loss.png', 'record.json']) expect(fs.existsSync(path.join(train, f)), f).toBe(true);
    expect(await sharp(path.join(train, 'val-000002.png')).metadata()).toMatchObject({ width: 8 * 32 + 7 * 2, height: 32 });
    expect(loadDistribution(out).ctx!.shape[0]).toBe(3);
    // 3 prompts cannot make two components of 2 each: the default falls back to one Gaussian
    expect(loadDistribution(out).components).toBeNull();
    expect(loadDistribution(out).training.settings).toMatchObject({ assign: 'best', samples: 4 });

    const dir = path.join(tmp, 'samples');
    const s = runCli([
      'sample',
      '--model',
      modelDir,
      '--dist',
      out,
      '--mix',
      `${out}=0.5`,
      '--suffix',
      ', side view',
      '--n',
      '3',
      '--steps',
      '2',
      '--out',
      dir,
      '--json',
    ]);
    expect(s.status, s.stderr).toBe(0);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      format: 'dd3d-samples',
      images: ['0000.png', '0001.png', '0002.png'],
      suffix: ', side view',
      dist: [{ weight: 0.5 }, { weight: 0.5 }],
    });
    expect(await sharp(path.join(dir, '0002.png')).metadata()).toMatchObject({ width: 32, height: 32 });
  }, 300_000);

  it('train-dist fits a mixture of two by default; sample draws each image from one component and will not --mix it', { timeout: 300_000 }, async () => {
    const mixed = path.join(tmp, 'chair-c2.json');
    const r = runCli([
      'train-dist',
      '--images',
      refs,
      '--out',
      mixed,
      '--model',
      modelDir,
      '--prompts',
      '4',
      // no --components: the default, 2
      '--steps',
      '2',
      '--validate-every',
      '2',
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ prompts: 4, components: 2, steps: 2 });
    expect(fs.existsSync(path.join(tmp, 'chair-c2.train', 'val-000002.png'))).toBe(true);
    const d = loadDistribution(mixed);
    expect(d.components!.prompts).toEqual([2, 2]);
    expect(Object.keys(d.training.groups as object).length).toBe(6);
    const dir = path.join(tmp, 'samples-c2');
    const s = runCli(['sample', '--model', modelDir, '--dist', mixed, '--n', '4', '--steps', '2', '--out', dir]);
    expect(s.status, s.stderr).toBe(0);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.components).toEqual([0, 1, 2, 3].map((i) => instanceComponent(d.components!.weights, 0, i)));
    expectOneLineError(
      runCli(['sample', '--model', modelDir, '--dist', mixed, '--mix', `${out}=0.5`, '--out', path.join(tmp, 'x.png')]),
      /--mix: .*chair-c2\.json has 2 components; --mix combines single-Gaussian distributions/,
    );
    expectOneLineError(
      runCli(['train-dist', '--images', refs, '--out', path.join(tmp, 'c7.json'), '--model', modelDir, '--prompts', '14', '--components', '7']),
      /--components: 7 components need at least 7 reference images, got 6/,
    );
  });

  it('eval-2d scores the distribution and the baselines against the references', { timeout: 300_000 }, () => {
    const r = runCli([
      'eval-2d',
      '--dist',
      out,
      '--refs',
      refs,
      '--model',
      modelDir,
      '--n',
      '6',
      '--steps',
      '2',
      '--baseline',
      'caption:a chair',
      '--baseline',
      'prompt-tuning',
      '--baseline',
      `images:${refs}`,
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.reference_combinations).toEqual(['color']);
    expect(j).toMatchObject({ steps: 2, guidance: PRETRAIN_CONFIGS.test!.sampling.guidance_scale }); // --steps as given, guidance from the folder
    expect(j.rows.map((row: { name: string }) => row.name)).toEqual(['dist (chair.json)', 'caption "a chair"', 'prompt-tuning (K = 1)', `images (${refs})`]);
    // marginals of the references come from attributes.json: 6 chairs, red or blue
    const colours = JSON.parse(fs.readFileSync(path.join(refs, 'attributes.json'), 'utf8')).images.map(
      (im: { attributes: { color: string } }) => im.attributes.color,
    );
    expect(j.reference_marginals.color.red).toBeCloseTo(colours.filter((c: string) => c === 'red').length / 6, 12);
    expect(Object.keys(j.reference_marginals.color).sort()).toEqual([...new Set(colours)].sort());
    // the references measured as a row: the same probe features, so feature space cannot tell them apart
    const same = j.rows[3];
    expect([same.precision, same.recall, same.coverage]).toEqual([1, 1, 1]);
    expect(same.fid).toBeLessThan(1e-3);
    expect(same.family_share).toBeGreaterThan(0.5); // the probe knows the rendered chairs, so the marginal check below runs
    for (const row of j.rows) {
      expect(row.n).toBe(6);
      for (const k of ['tv_distance', 'in_distribution', 'attribute_coverage', 'precision', 'recall', 'coverage'])
        (expect(row[k], k).toBeGreaterThanOrEqual(0), expect(row[k], k).toBeLessThanOrEqual(1));
      if (row !== same) expect(row.fid).toBeGreaterThan(0);
      const shares = Object.values(row.marginals.color ?? {}) as number[];
      if (row.family_share > 0) expect(shares.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 9);
    }
    // --std-scale 0 samples each instance at the mean prompt: a row of its own, other samples
    const mean = runCli(['eval-2d', '--dist', out, '--refs', refs, '--model', modelDir, '--n', '6', '--steps', '2', '--std-scale', '0', '--json']);
    expect(mean.status, mean.stderr).toBe(0);
    const jm = JSON.parse(mean.stdout);
    expect([j.std_scale, jm.std_scale]).toEqual([1, 0]);
    expect(jm.rows.map((row: { name: string }) => row.name)).toEqual(['dist (chair.json, γ = 0)']);
    expect(jm.rows[0].fid).not.toBe(j.rows[0].fid);
    expectOneLineError(
      runCli(['eval-2d', '--dist', out, '--refs', refs, '--std-scale', '-1']),
      /--std-scale <gamma>' argument '-1' is invalid\. expected a number ≥ 0/,
    );
    // the prompt-tuning baseline was trained once, with one prompt, and cached beside the distribution
    expect(loadDistribution(path.join(tmp, 'chair.prompt-tuning.json')).ctx!.shape[0]).toBe(1);
  });

  it('errors are one line naming the flag or file', { timeout: 300_000 }, () => {
    expectOneLineError(
      runCli(['train-dist', '--images', path.join(tmp, 'nope'), '--out', out, '--model', modelDir]),
      /--images: .*nope is not a folder of images/,
    );
    expectOneLineError(runCli(['train-dist', '--images', tmp, '--out', path.join(tmp, 'x.txt'), '--model', modelDir]), /--out: expected a \.json file name/);
    expectOneLineError(
      runCli(['train-dist', '--images', refs, '--out', out, '--assign', 'worst']),
      /--assign <how>' argument 'worst' is invalid\. Allowed choices are mean, best/,
    );
    expectOneLineError(runCli(['train-dist', '--images', refs, '--out', out, '--model', modelDir]), /chair\.train holds a training checkpoint; pass --resume/);
    expectOneLineError(
      runCli(['sample', '--model', modelDir, '--dist', out, '--prompt', 'a chair', '--out', path.join(tmp, 'x.png')]),
      /--prompt\/--dist: give exactly one/,
    );
    expectOneLineError(
      runCli(['eval-2d', '--dist', out, '--refs', refs, '--model', modelDir, '--baseline', `images:${path.join(tmp, 'nope')}`]),
      /--baseline images: .*nope is not a folder of images/,
    );
    expectOneLineError(
      runCli(['sample', '--model', modelDir, '--dist', `${out}=0.5`, '--mix', `${out}=0.2`, '--out', path.join(tmp, 'x.png')]),
      /--mix: the weights \(0\.5 \+ 0\.2\) must be positive and sum to 1/,
    );
    expectOneLineError(runCli(['sample', '--model', modelDir, '--dist', out, '--out', refs]), /--out: .* holds files dd3d did not write/);
    // same state shape, another text encoder: a warning naming both, then it samples anyway
    const other = runCli(['sample', '--model', path.join(FIXTURES, 'sd1-tiny'), '--dist', out, '--steps', '1', '--out', path.join(tmp, 'x.png')]);
    expect(other.status, other.stderr).toBe(0);
    expect(other.stderr).toMatch(/warning: .*chair\.json was fitted with the text encoder of .*model \(sha256:.*\), not that of .*sd1-tiny/);
    expectOneLineError(
      runCli(['sample', '--model', path.join(FIXTURES, 'sd2-tiny'), '--dist', out, '--out', path.join(tmp, 'y.png')]),
      /chair\.json: states are \[77, 32\], the model at .*sd2-tiny gives \[77, 24\]/,
    );
  });

  it('import-dist reads the official .npz; it samples but cannot be edited', { timeout: 300_000 }, () => {
    const sd1 = path.join(FIXTURES, 'sd1-tiny');
    const npz = path.join(FIXTURES, 'dreamdistribution-npz', 'final-1000.npz');
    const imported = path.join(tmp, 'imported.json');
    const r = runCli(['import-dist', npz, '--model', sd1, '--out', imported, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ states: [77, 32], prompt_text: 'X X X X', editable: false });
    const d = loadDistribution(imported);
    expect(d.ctx).toBeNull();
    expect(d.mu.shape).toEqual([77, 32]);
    expect(runCli(['sample', '--model', sd1, '--dist', imported, '--n', '2', '--steps', '2', '--out', path.join(tmp, 'i.png')]).status).toBe(0);
    expectOneLineError(
      runCli(['sample', '--model', sd1, '--dist', imported, '--suffix', 'at night', '--out', path.join(tmp, 'i-night.png')]),
      /imported\.json: an imported distribution has no raw context vectors/,
    );
    expectOneLineError(
      runCli(['import-dist', npz, '--model', path.join(FIXTURES, 'sd2-tiny'), '--out', imported]),
      /final-1000\.npz: states are \[77, 32\], the model at .*sd2-tiny gives \[77, 24\]/,
    );
    expectOneLineError(runCli(['import-dist', npz, '--model', sd1, '--class', '1', '--out', imported]), /--class: .* holds 1 class \(0: "X X X X"\), got 1/);
  });
});
