import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import validator from 'gltf-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { distributionMixture, instanceComponent, instanceNoise } from '../../../src/distribution/conditions.js';
import { saveDistribution, textEncoderHash, type PromptDistribution } from '../../../src/distribution/distribution-file.js';
import { encodeContext, fitGaussian } from '../../../src/distribution/prompt-learner.js';
import { buildTemplate } from '../../../src/distribution/prompt-template.js';
import { GENERATE_DEFAULTS } from '../../../src/generate/config.js';
import { generateAsset } from '../../../src/generate/generate-asset.js';
import { linearToSrgbTensor } from '../../../renderers/volume.js';
import { cameraAt, lightAt, shadingAt, timestepAt } from '../../../src/generate/schedules.js';
import { sdsLoss } from '../../../src/generate/sds.js';
import { viewConditions, withViewPhrase } from '../../../src/generate/view-conditions.js';
import { DiffusionModel } from '../../../src/pipeline/diffusion-model.js';
import { listAssets } from '../../../src/view/assets.js';
import { exportTinyModel } from '../../../src/train/export.js';
import { allVariables, buildTinyModel } from '../../../src/train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../../../src/train/pretrain-configs.js';
import { VIEW_PHRASES, viewPhrase } from '../../../scenes/index.js';
import { expectOneLineError, runCli } from '../../helpers/cli.js';
import { tinyGenerateConfig } from '../../helpers/tiny-configs.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-generate-'));
const modelDir = path.join(tmp, 'model');
const distFile = path.join(tmp, 'dist.json');
let model: DiffusionModel;

const tiny = tinyGenerateConfig;

beforeAll(async () => {
  await initBackend('wasm');
  // a random-weight pixel model built like dd3d-tiny (the `test` config)
  const config = PRETRAIN_CONFIGS.test!;
  const m = buildTinyModel(config, 5);
  exportTinyModel(modelDir, m, allVariables(m), config, {});
  model = DiffusionModel.load(modelDir);
  // a distribution with random context vectors, fitted in the training template
  const [k, mCtx, d] = [3, 2, model.textEncoder.hiddenSize];
  const ctx = tf.randomNormal([k, mCtx, d], 0, 0.5, 'float32', 9) as tf.Tensor3D;
  const template = buildTemplate(model.tokenizer, 'a', '', mCtx, model.textEncoder.maxLength);
  const g = tf.tidy(() => fitGaussian(encodeContext(model.textEncoder, template, ctx).states) as unknown as tf.TensorContainerObject) as unknown as {
    mu: tf.Tensor2D;
    sigma: tf.Tensor2D;
  };
  const arr = (t: tf.Tensor) => ({ shape: t.shape, data: t.dataSync() as Float32Array });
  const dist: PromptDistribution = {
    model: { path: modelDir, text_encoder_hash: textEncoderHash(modelDir) },
    prompts: k,
    ctx_length: mCtx,
    prefix: 'a',
    suffix: '',
    ctx: arr(ctx),
    mu: arr(g.mu),
    sigma: arr(g.sigma),
    components: null,
    training: { steps: 0 },
  };
  saveDistribution(distFile, dist);
  tf.dispose([ctx, g.mu, g.sigma]);
});
afterAll(() => {
  model?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('score distillation', () => {
  it('puts w(t)(ε̂ − ε) on the render and nothing through the UNet', () => {
    const images = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const cond = model.encodePrompts(['a red chair, front view']);
    const uncond = model.encodePrompts(['']);
    const t = 600;
    const opts = { cond, uncond, t: [t], guidance: 5, gradClip: 0, seed: 11 };
    // Tensors the SDS loss leaves alive inside the gradient scope: the UNet's, were it taped
    // (its activations kept through the backward pass), would be hundreds.
    let leftOnTape = 0;
    const grad = tf.grad((x: tf.Tensor) => {
      const before = tf.memory().numTensors;
      const loss = sdsLoss(model, x as tf.Tensor4D, opts).loss;
      leftOnTape = tf.memory().numTensors - before;
      return loss;
    })(images);
    expect(leftOnTape).toBeLessThan(10);
    // the same quantity by hand: noise with the same seed, guided prediction, v → ε
    const expected = tf.tidy(() => {
      const x0 = tf.sub(tf.mul(images, 2), 1);
      const noise = tf.randomNormal(x0.shape, 0, 1, 'float32', 11);
      const xt = model.trainingScheduler.addNoise(x0, noise, [t]) as tf.Tensor4D;
      const u = model.unet.forward(xt, [t], uncond);
      const c = model.unet.forward(xt, [t], cond);
      const out = tf.add(u, tf.mul(tf.sub(c, u), 5));
      const a = model.trainingScheduler.schedule.alphasCumprod[t]!;
      expect(model.predictionType).toBe('v_prediction');
      const eps = tf.add(tf.mul(out, Math.sqrt(a)), tf.mul(xt, Math.sqrt(1 - a)));
      // d/dimages of sum((2·images − 1)·g) is 2g
      return tf.mul(tf.mul(tf.sub(eps, noise), 1 - a), 2);
    });
    const err = tf.max(tf.abs(tf.sub(grad, expected))).dataSync()[0]!;
    const scale = tf.max(tf.abs(expected)).dataSync()[0]!;
    expect(scale).toBeGreaterThan(1e-3);
    expect(err / scale).toBeLessThan(1e-4);
    tf.dispose([images, cond, uncond, grad, expected]);
  });

  it('clips the gradient elementwise when asked', () => {
    const images = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const cond = model.encodePrompts(['a lamp, side view']);
    const uncond = model.encodePrompts(['']);
    const grad = tf.grad((x: tf.Tensor) => sdsLoss(model, x as tf.Tensor4D, { cond, uncond, t: [900], guidance: 50, gradClip: 0.01, seed: 1 }).loss)(images);
    // 2 × the clip (the [0, 1] → [−1, 1] map doubles it), reached by some elements
    expect(tf.max(tf.abs(grad)).dataSync()[0]).toBeCloseTo(0.02, 6);
    tf.dispose([images, cond, uncond, grad]);
  });

  it('sRGB encoding is continuous, exact at the ends and differentiable everywhere', () => {
    const x = tf.tensor1d([0, 0.002, 0.0031308, 0.2, 1]);
    const y = linearToSrgbTensor(x).dataSync();
    expect(y[0]).toBeCloseTo(0, 6);
    expect(y[1]).toBeCloseTo(0.002 * 12.92, 6);
    expect(y[2]).toBeCloseTo(0.0031308 * 12.92, 5);
    expect(y[3]).toBeCloseTo(1.055 * 0.2 ** (1 / 2.4) - 0.055, 5);
    expect(y[4]).toBeCloseTo(1, 5);
    const g = tf
      .grad((v: tf.Tensor) => tf.sum(linearToSrgbTensor(v)))(x)
      .dataSync();
    expect(g[1]).toBeCloseTo(12.92, 4);
    expect(Array.from(g).every(Number.isFinite)).toBe(true);
    x.dispose();
  });
});

describe('schedules', () => {
  it('anneal t, warm up shading, and are pure functions of (seed, iteration)', () => {
    const s = GENERATE_DEFAULTS.timesteps;
    const early = Array.from({ length: 200 }, (_, i) => timestepAt(s, 0, 100, 1000, i));
    const late = Array.from({ length: 200 }, (_, i) => timestepAt(s, 100, 100, 1000, i));
    expect(Math.max(...early)).toBeGreaterThan(900);
    expect(Math.max(...late)).toBeLessThanOrEqual(500);
    expect(Math.min(...late)).toBeGreaterThanOrEqual(20);
    // the same (iteration, seed) gives the same draw, another seed another one
    expect(timestepAt(s, 7, 100, 1000, 3)).toBe(timestepAt(s, 7, 100, 1000, 3));
    expect(new Set(Array.from({ length: 8 }, (_, seed) => timestepAt(s, 7, 100, 1000, seed))).size).toBeGreaterThan(4);
    expect(shadingAt(GENERATE_DEFAULTS.shading, 0, 1)).toBe('albedo');
    const modes = new Set(Array.from({ length: 100 }, (_, i) => shadingAt(GENERATE_DEFAULTS.shading, 1000 + i, 1)));
    expect([...modes].sort()).toEqual(['albedo', 'lambertian', 'textureless']);
    expect(cameraAt(5, 2)).toEqual(cameraAt(5, 2));
    expect(cameraAt(5, 3).azimuth).not.toBe(cameraAt(5, 2).azimuth);
    const cam = cameraAt(5, 2);
    const light = lightAt(GENERATE_DEFAULTS.light, cam, 5, 2);
    const dist = Math.hypot(...light);
    expect(dist).toBeGreaterThanOrEqual(0.8 * cam.radius - 1e-9);
    expect(dist).toBeLessThanOrEqual(1.5 * cam.radius + 1e-9);
  });
});

describe('view conditions', () => {
  it('re-encode the distribution per view and share one ε, so every view is the same instance', async () => {
    const { loadDistribution } = await import('../../../src/distribution/distribution-file.js');
    const dist = loadDistribution(distFile);
    const a = viewConditions(model, { kind: 'distribution', file: distFile, dist, stdScale: 1, instance: 0, seed: 4 });
    const b = viewConditions(model, { kind: 'distribution', file: distFile, dist, stdScale: 1, instance: 1, seed: 4 });
    const front = distributionMixture(model.textEncoder, model.tokenizer, distFile, dist, { suffix: ', front view' });
    const side = distributionMixture(model.textEncoder, model.tokenizer, distFile, dist, { suffix: ', side view' });
    // ε recovered from two views agrees wherever σ is not tiny
    const epsOf = (c: tf.Tensor3D, g: { mu: tf.Tensor3D; sigma: tf.Tensor3D }) => tf.tidy(() => tf.div(tf.sub(c, g.mu), tf.maximum(g.sigma, 1e-3)));
    const mask = tf.tidy(() => tf.cast(tf.logicalAnd(tf.greater(front.sigma, 1e-2), tf.greater(side.sigma, 1e-2)), 'float32'));
    const e1 = epsOf(a.byView.get('front view')!, front);
    const e2 = epsOf(a.byView.get('side view')!, side);
    expect(tf.sum(mask).dataSync()[0]).toBeGreaterThan(100);
    expect(tf.max(tf.mul(tf.abs(tf.sub(e1, e2)), mask)).dataSync()[0]).toBeLessThan(1e-3);
    // the views differ (the phrase changes μ), instances differ, and the hash tells instances apart
    expect(tf.max(tf.abs(tf.sub(a.byView.get('front view')!, a.byView.get('side view')!))).dataSync()[0]).toBeGreaterThan(1e-3);
    expect(tf.max(tf.abs(tf.sub(a.byView.get('front view')!, b.byView.get('front view')!))).dataSync()[0]).toBeGreaterThan(1e-3);
    expect(a.instanceHash).toMatch(/^[0-9a-f]{16}$/);
    expect(a.instanceHash).not.toBe(b.instanceHash);
    expect(a.viewIndependent).toBe(false);
    expect(a.component).toBeNull(); // one Gaussian: nothing to draw
    tf.dispose([front.mu, front.sigma, side.mu, side.sigma, mask, e1, e2]);
    a.dispose();
    b.dispose();
  });

  it("draw an instance's component once, for every view, from a distribution with components", async () => {
    const { loadDistribution } = await import('../../../src/distribution/distribution-file.js');
    const single = loadDistribution(distFile);
    // prompts 0–1 and prompt 2 as two components, fitted in the training template
    const fitted = distributionMixture(
      model.textEncoder,
      model.tokenizer,
      distFile,
      { ...single, components: { weights: [0.5, 0.5], prompts: [2, 1], mu: single.mu, sigma: single.sigma } },
      { suffix: ' ' },
    ); // a blank suffix refits in the same template
    const arr = (t: tf.Tensor) => ({ shape: t.shape, data: t.dataSync() as Float32Array });
    const dist = { ...single, components: { weights: [0.5, 0.5], prompts: [2, 1], mu: arr(fitted.mu), sigma: arr(fitted.sigma) } };
    tf.dispose([fitted.mu, fitted.sigma]);
    const drawn = [0, 1, 2, 3, 4, 5].map((i) => instanceComponent(dist.components.weights, 4, i));
    expect(new Set(drawn).size).toBe(2);
    for (const [i, c] of drawn.entries()) {
      const v = viewConditions(model, { kind: 'distribution', file: distFile, dist, stdScale: 2, instance: i, seed: 4 });
      expect(v.component).toBe(c);
      for (const phrase of ['front view', 'overhead view'] as const) {
        const g = distributionMixture(model.textEncoder, model.tokenizer, distFile, dist, { suffix: withViewPhrase('', phrase) });
        const want = tf.tidy(() => tf.add(g.mu.gather([c]), tf.mul(tf.mul(g.sigma.gather([c]), 2), instanceNoise(4, i, [77, model.textEncoder.hiddenSize]))));
        expect(tf.max(tf.abs(tf.sub(v.byView.get(phrase)!, want))).dataSync()[0]).toBeLessThan(1e-5);
        tf.dispose([want, g.mu, g.sigma]);
      }
      v.dispose();
    }
  });

  it('use one condition for every view of an imported distribution', async () => {
    const { loadDistribution } = await import('../../../src/distribution/distribution-file.js');
    const dist = { ...loadDistribution(distFile), ctx: null, prompts: null, ctx_length: null };
    const v = viewConditions(model, { kind: 'distribution', file: distFile, dist, stdScale: 1, instance: 0, seed: 4 });
    expect(v.viewIndependent).toBe(true);
    for (const phrase of VIEW_PHRASES) expect(tf.max(tf.abs(tf.sub(v.byView.get(phrase)!, v.byView.get('front view')!))).dataSync()[0]).toBe(0);
    v.dispose();
  });

  it('append the view phrase to a prompt as the dataset captions do', () => {
    expect(withViewPhrase('a red chair', 'back view')).toBe('a red chair, back view');
    expect(withViewPhrase('', 'front view')).toBe(', front view');
    const v = viewConditions(model, { kind: 'prompt', prompt: 'a red chair' });
    const direct = model.encodePrompts(['a red chair, overhead view']);
    expect(tf.max(tf.abs(tf.sub(v.byView.get('overhead view')!, direct))).dataSync()[0]).toBe(0);
    expect(viewPhrase(100, 10)).toBe('side view');
    direct.dispose();
    v.dispose();
  });
});

describe('generateAsset', () => {
  it('keeps the tensor count flat across iterations and resumes exactly', async () => {
    const conditions = viewConditions(model, { kind: 'prompt', prompt: 'a red chair' });
    const counts: number[] = [];
    const straight = await generateAsset({
      model,
      conditions,
      // a checkpoint at iterations 2 and 4 of 6, between the two counts compared
      config: tiny({ iters: 6 }),
      seed: 3,
      dir: path.join(tmp, 'straight'),
      resume: false,
      onIter: () => counts.push(tf.memory().numTensors),
    });
    expect(counts.length).toBe(6);
    expect(counts[5]).toBe(counts[1]);
    const weights = (f: typeof straight.field) => [...f.variables().values()].map((v) => v.dataSync().slice());
    const want = weights(straight.field);
    expect(straight.timing.total).toBeGreaterThan(0);
    expect(straight.timing.unet).toBeGreaterThan(0);
    straight.dispose();

    // four iterations, a "kill", then --resume from the checkpoint at iteration 4
    const dir = path.join(tmp, 'resumed');
    const first = await generateAsset({
      model,
      conditions,
      config: tiny({ iters: 6 }),
      seed: 3,
      dir,
      resume: false,
      onIter: (i) => {
        if (i === 4) throw new Error('killed');
      },
    }).catch((e: Error) => e);
    expect((first as Error).message).toBe('killed');
    expect(fs.existsSync(path.join(dir, 'checkpoint', 'state.json'))).toBe(true);
    const after: number[] = [];
    const resumed = await generateAsset({ model, conditions, config: tiny({ iters: 6 }), seed: 3, dir, resume: true, onIter: (i) => after.push(i) });
    expect(after).toEqual([5, 6]); // iterations 5 and 6: it goes on from the checkpoint at 4
    const got = weights(resumed.field);
    let worst = 0;
    got.forEach((w, i) => w.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - want[i]![j]!)))));
    expect(worst).toBeLessThan(1e-6);
    resumed.dispose();
    conditions.dispose();
  }, 300_000);
});

describe('dd3d generate', () => {
  const args = ['--model', modelDir, '--iters', '2', '--res', '16', '--samples', '8', '--mesh-res', '32', '--preview-every', '2'];

  it('writes a viewable asset folder: valid GLB with vertex colours, turntable, preview, manifest', async () => {
    const out = path.join(tmp, 'out');
    const r = runCli(['generate', '--dist', distFile, '--n', '2', '--seed', '5', '--out', out, '--json', ...args]);
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.assets).toHaveLength(2);
    const hashes = [];
    for (const a of ['asset-000', 'asset-001']) {
      const dir = path.join(out, a);
      expect(fs.readdirSync(dir).sort()).toEqual(['asset.glb', 'manifest.json', 'preview.png', 'previews', 'turntable.png']);
      // written in this order, so that `view` (which lists GLBs) never waits on a GLB's manifest while pictures render
      const written = ['turntable.png', 'preview.png', 'asset.glb', 'manifest.json'].map((f) => fs.statSync(path.join(dir, f)).mtimeMs);
      expect(written).toEqual([...written].sort((x, y) => x - y));
      const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
      expect(m).toMatchObject({
        format: 'dd3d-asset',
        version: 1,
        glb: 'asset.glb',
        seed: 5,
        iterations: 2,
        source: { kind: 'distribution', std_scale: 1, view_independent: false },
      });
      expect(m.source.path).toBe(distFile);
      expect(m.timing_ms.total).toBeGreaterThan(0);
      // the iso level by the default rule, and how it was chosen
      expect(m.settings.mesh.level).toBe('auto');
      expect(m.settings.shading).toEqual({ warmupIters: 100, albedo: 0.25, lambertian: 0.5, textureless: 0.25 }); // single-view SDS keeps its mix
      // and no fast path, so no refits and the photometric weight at 1
      expect(m.settings).toMatchObject({ views: 1, fitIters: 0, fitEvery: 0 });
      expect(m.settings.lambda.photometric).toBe(1);
      expect(m.mesh.thresholdRule).toBe('auto');
      // a rung of the ladder: half the 99.9th percentile × 0.8^k
      const rung = Math.log(m.mesh.thresholdFraction / 0.5) / Math.log(0.8);
      expect(Math.abs(rung - Math.round(rung))).toBeLessThan(1e-6);
      expect(Math.round(rung)).toBeGreaterThanOrEqual(0);
      expect(Math.round(rung)).toBeLessThan(8);
      expect(Number.isInteger(m.mesh.genus)).toBe(true);
      // every loss term of the run, unweighted, each over the iterations that computed it
      expect(Object.keys(m.loss_terms).sort()).toEqual(['loss_orient', 'loss_sds', 'loss_sparsity']);
      for (const t of Object.values(m.loss_terms) as Array<{ iterations: number; first: number; final: number }>) {
        expect(t.iterations).toBe(2);
        expect(Number.isFinite(t.first) && Number.isFinite(t.final)).toBe(true);
      }
      expect(m.loss_terms.loss_sds.first).toBeGreaterThan(0);
      hashes.push(m.instance_noise_hash);
      const report = (await validator.validateBytes(new Uint8Array(fs.readFileSync(path.join(dir, 'asset.glb'))), { maxIssues: 20 })) as {
        issues: { numErrors: number };
        info: { hasMaterials?: boolean };
      };
      expect(report.issues.numErrors).toBe(0);
      const json = JSON.parse(
        fs
          .readFileSync(path.join(dir, 'asset.glb'))
          .subarray(20, 20 + fs.readFileSync(path.join(dir, 'asset.glb')).readUInt32LE(12))
          .toString('utf8'),
      );
      expect(json.meshes[0].primitives[0].attributes.COLOR_0).toBeDefined();
    }
    expect(hashes[0]).not.toBe(hashes[1]);
    // what `dd3d view out/` shows: both assets as generated ones, with turntable and preview
    const listing = await listAssets(fs.realpathSync(out));
    expect(listing.assets.map((a) => [a.path, a.kind, a.thumbnail, a.preview, a.problem])).toEqual([
      ['asset-000/asset.glb', 'generated', 'asset-000/turntable.png', 'asset-000/preview.png', null],
      ['asset-001/asset.glb', 'generated', 'asset-001/turntable.png', 'asset-001/preview.png', null],
    ]);
    expect(listing.assets[0]!.thumbnailFrames).toBe(8);
    // a second run without --resume refuses; with it, finished assets are skipped
    expectOneLineError(runCli(['generate', '--dist', distFile, '--n', '2', '--out', out, ...args]), /--out: .* already holds generated assets; pass --resume/);
    const again = runCli(['generate', '--dist', distFile, '--n', '2', '--out', out, '--resume', '--json', ...args]);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).assets.map((a: { skipped?: boolean }) => a.skipped)).toEqual([true, true]);
  }, 300_000);

  it("--workers 2 runs the assets on two threads and writes exactly the serial run's assets", () => {
    const serial = path.join(tmp, 'serial');
    const parallel = path.join(tmp, 'parallel');
    const one = runCli(['generate', '--dist', distFile, '--n', '2', '--seed', '7', '--workers', '1', '--out', serial, ...args]);
    expect(one.status, one.stderr).toBe(0);
    expect(one.stderr).toMatch(/2 assets on 1 worker\b/);
    const two = runCli(['generate', '--dist', distFile, '--n', '2', '--seed', '7', '--workers', '2', '--out', parallel, ...args]);
    expect(two.status, two.stderr).toBe(0);
    expect(two.stderr).toMatch(/2 assets on 2 workers/);
    for (const a of ['asset-000', 'asset-001']) {
      for (const f of ['asset.glb', 'turntable.png', 'preview.png']) {
        expect(fs.readFileSync(path.join(parallel, a, f)).equals(fs.readFileSync(path.join(serial, a, f))), `${a}/${f}`).toBe(true);
      }
      const [m1, m2] = [serial, parallel].map((d) => JSON.parse(fs.readFileSync(path.join(d, a, 'manifest.json'), 'utf8')));
      expect(m2.instance_noise_hash).toBe(m1.instance_noise_hash);
      expect(m2.loss_terms).toEqual(m1.loss_terms);
    }
  }, 300_000);

  it('rejects bad input with one line', () => {
    expectOneLineError(runCli(['generate', '--out', path.join(tmp, 'x'), ...args]), /--prompt\/--dist: give exactly one/);
    expectOneLineError(
      runCli(['generate', '--prompt', 'a chair', '--dist', distFile, '--out', path.join(tmp, 'x'), ...args]),
      /--prompt\/--dist: give exactly one/,
    );
    const busy = path.join(tmp, 'busy');
    fs.mkdirSync(busy);
    fs.writeFileSync(path.join(busy, 'notes.txt'), 'mine');
    expectOneLineError(runCli(['generate', '--prompt', 'a chair', '--out', busy, ...args]), /--out: .*busy holds other files/);
    expectOneLineError(runCli(['generate', '--prompt', 'a zebra', '--out', path.join(tmp, 'zebra'), ...args]), /Prompt "a zebra": unknown word "zebra"/);
    expectOneLineError(
      runCli(['generate', '--prompt', 'a chair', '--out', path.join(tmp, 'level'), ...args, '--mesh-level', 'lace']),
      /--mesh-level <level>' argument 'lace' is invalid\. expected auto, half-max or a density > 0/,
    );
    expect(fs.existsSync(path.join(tmp, 'level'))).toBe(false);
    for (const bad of ['0.5,0.5', '1,1,-1', '0.5,0.5,0.5', 'a,b,c'])
      expectOneLineError(
        runCli(['generate', '--prompt', 'a chair', '--out', path.join(tmp, 'shading'), ...args, '--shading', bad]),
        /--shading <a,l,t>' argument .* is invalid\. expected three chances ≥ 0 that sum to 1/,
      );
    expect(fs.existsSync(path.join(tmp, 'shading'))).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'zebra', 'asset-000', 'manifest.json'))).toBe(false);
  }, 300_000);
});
