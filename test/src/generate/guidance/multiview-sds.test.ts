/**
 * Multi-view sampling and text-to-3D on a tiny random-weight camera-conditioned model
 * (the `test-mv` config): `sample --views`, multi-view SDS (the views' gradients talk to each
 * other), the fast path's target views and fit, exact resume, and the one-line errors.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../../src/backend/backend.js';
import { cameraRing, RING_CAMERA } from '../../../../renderers/camera-rig.js';
import { defaultViews, type GenerateConfig } from '../../../../src/generate/config.js';
import { generateAsset, TAPE_PIXELS, viewPasses } from '../../../../src/generate/generate-asset.js';
import { sdsLoss } from '../../../../src/generate/sds.js';
import { sampleTargetViews } from '../../../../src/generate/target-views.js';
import { viewConditions } from '../../../../src/generate/view-conditions.js';
import { cameraBatch } from '../../../../src/models/camera-embedding.js';
import { DiffusionModel } from '../../../../src/pipeline/diffusion-model.js';
import { sampleImages } from '../../../../src/pipeline/text-to-image.js';
import { exportTinyModel } from '../../../../src/train/export.js';
import { allVariables, buildTinyModel } from '../../../../src/train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../../../../src/train/pretrain-configs.js';
import { expectOneLineError, runCli } from '../../../helpers/cli.js';
import { tinyGenerateConfig } from '../../../helpers/tiny-configs.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-mvgen-'));
const mvDir = path.join(tmp, 'mv');
const singleDir = path.join(tmp, 'single');
let model: DiffusionModel;

const tiny = (over: Partial<GenerateConfig> = {}): GenerateConfig => tinyGenerateConfig({ views: 4, ...over });

beforeAll(async () => {
  await initBackend('wasm');
  for (const [dir, name] of [
    [mvDir, 'test-mv'],
    [singleDir, 'test'],
  ] as const) {
    const config = PRETRAIN_CONFIGS[name]!;
    const m = buildTinyModel(config, 5);
    // move the camera MLP's last layer and the ray projection off their zero start, so cameras matter
    const moved = (k: string) => k.startsWith('camera_embedding.linear_2') || k.startsWith('camera_ray');
    tf.tidy(() => m.unetParams.variables().forEach((v, k) => moved(k) && v.assign(tf.randomNormal(v.shape, 0, 0.5, 'float32', 3))));
    exportTinyModel(dir, m, allVariables(m), config, {});
    m.textParams.dispose();
    m.unetParams.dispose();
  }
  model = DiffusionModel.load(mvDir);
});
afterAll(() => {
  model?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('multi-view sampling', () => {
  it('draws V views per instance jointly: shapes, a flat tensor count, and cameras that matter', () => {
    expect(defaultViews(model.unet)).toBe(4);
    const cond = tf.tile(model.encodePrompts(['a red chair']), [8, 1, 1]) as tf.Tensor3D;
    const uncond = model.encodePrompts(['']);
    const rig = cameraRing(RING_CAMERA, 4);
    expect(rig.map((c) => c.azimuth)).toEqual([0, 90, 180, -90]);
    const cameras = cameraBatch([...rig, ...rig]);
    const opts = { cond, uncond, steps: 2, guidance: 3, height: 32, width: 32, seed: 1, views: 4 };
    const before = tf.memory().numTensors;
    const a = sampleImages(model, { ...opts, cameras });
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(a.shape).toEqual([8, 32, 32, 3]);
    const turned = cameraBatch([...cameraRing({ ...RING_CAMERA, azimuth: 45 }, 4), ...rig]);
    const b = sampleImages(model, { ...opts, cameras: turned });
    const diff = (x: tf.Tensor, y: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]!);
    // other cameras for instance 0 change instance 0's views, and not instance 1's
    expect(diff(a.slice([0, 0, 0, 0], [4, -1, -1, -1]), b.slice([0, 0, 0, 0], [4, -1, -1, -1]))).toBeGreaterThan(1e-3);
    expect(diff(a.slice([4, 0, 0, 0], [4, -1, -1, -1]), b.slice([4, 0, 0, 0], [4, -1, -1, -1]))).toBe(0);
    tf.dispose([cond, uncond, cameras, turned, a, b]);
  });

  it('dd3d sample --views 4 writes a row per instance; a model without cameras or another V is a one-line error', async () => {
    const out = path.join(tmp, 'views.png');
    const r = runCli(['sample', '--model', mvDir, '--prompt', 'a blue lamp', '--views', '4', '--n', '2', '--steps', '2', '--out', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const meta = await sharp(out).metadata();
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ n: 2, views: 4 });
    expect(j.cameras.map((c: { azimuth: number }) => c.azimuth)).toEqual([0, 90, 180, -90]);
    // 4 columns (the views), 2 rows (the instances) of 32-px images, 2 px apart
    expect([meta.width, meta.height]).toEqual([4 * 32 + 3 * 2, 2 * 32 + 2]);
    // the first row is what --n 1 draws (instance 0), the second another instance
    const one = path.join(tmp, 'views-1.png');
    expect(runCli(['sample', '--model', mvDir, '--prompt', 'a blue lamp', '--views', '4', '--n', '1', '--steps', '2', '--out', one]).status).toBe(0);
    const grid = await sharp(out).raw().toBuffer();
    const row0 = await sharp(one).raw().toBuffer();
    const rowBytes = (4 * 32 + 3 * 2) * 3;
    expect(grid.subarray(0, 32 * rowBytes).equals(row0)).toBe(true);
    expect(grid.subarray(34 * rowBytes, 66 * rowBytes).equals(row0)).toBe(false);
    // plain sampling still works on the multi-view model (a null camera)
    expect(runCli(['sample', '--model', mvDir, '--prompt', 'a blue lamp', '--steps', '2', '--out', path.join(tmp, 'plain.png')]).status).toBe(0);
    expectOneLineError(
      runCli(['sample', '--model', singleDir, '--prompt', 'a lamp', '--views', '4', '--out', path.join(tmp, 'no.png')]),
      /--views 4: this model denoises one view at a time/,
    );
    expectOneLineError(
      runCli(['sample', '--model', mvDir, '--prompt', 'a lamp', '--views', '3', '--out', path.join(tmp, 'no.png')]),
      /--views 3: this model was trained for 4 views; use 1 or 4/,
    );
    // joint views but no camera input: --views asks for cameras the model cannot take
    const noCamera = path.join(tmp, 'no-camera');
    fs.cpSync(singleDir, noCamera, { recursive: true });
    const unetConfig = path.join(noCamera, 'unet', 'config.json');
    fs.writeFileSync(unetConfig, JSON.stringify({ ...JSON.parse(fs.readFileSync(unetConfig, 'utf8')), dd3d_num_views: 4 }));
    expectOneLineError(
      runCli(['sample', '--model', noCamera, '--prompt', 'a lamp', '--views', '4', '--out', path.join(tmp, 'no.png')]),
      /--views 4: this model has no camera conditioning \(its unet\/config.json has no "dd3d_camera_dim"\)/,
    );
    expect(fs.existsSync(path.join(tmp, 'no.png'))).toBe(false);
  });
});

describe('multi-view score distillation', () => {
  it("denoises the V renders jointly: one view's gradient depends on the other views", () => {
    const cond = tf.tile(model.encodePrompts(['a red chair']), [4, 1, 1]) as tf.Tensor3D;
    const uncond = model.encodePrompts(['']);
    const cameras = cameraBatch(cameraRing(RING_CAMERA, 4));
    const grad = (images: tf.Tensor4D, views: number, cams = cameras) =>
      tf.grad(
        (x: tf.Tensor) =>
          sdsLoss(model, x as tf.Tensor4D, { cond, uncond, t: [500, 500, 500, 500], guidance: 10, gradClip: 0, seed: 3, views, cameras: cams }).loss,
      )(images);
    const x = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const other = tf.concat([x.slice([0, 0, 0, 0], [1, -1, -1, -1]), tf.randomUniform([3, 32, 32, 3], 0, 1, 'float32', 2)]) as tf.Tensor4D;
    const view0 = (g: tf.Tensor) => g.slice([0, 0, 0, 0], [1, -1, -1, -1]);
    const diff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
    expect(diff(view0(grad(x, 4)), view0(grad(other, 4)))).toBeGreaterThan(1e-4);
    const noCameras = (images: tf.Tensor4D) =>
      tf.grad((xx: tf.Tensor) => sdsLoss(model, xx as tf.Tensor4D, { cond, uncond, t: [500, 500, 500, 500], guidance: 10, gradClip: 0, seed: 3 }).loss)(images);
    expect(diff(view0(noCameras(x)), view0(noCameras(other)))).toBe(0);
    // the same renders under other cameras (the ring turned by 45°) get another gradient
    const turned = cameraBatch(cameraRing({ ...RING_CAMERA, azimuth: RING_CAMERA.azimuth + 45 }, 4));
    expect(diff(grad(x, 4), grad(x, 4, turned))).toBeGreaterThan(1e-4);
    tf.dispose([cond, uncond, cameras, turned, x, other]);
  });

  it('the fast path fits the sampled target views, then distils (refitting every --fit-every); the tensor count stays flat and a resume is exact', async () => {
    const conditions = viewConditions(model, { kind: 'prompt', prompt: 'a red chair' });
    const targets = sampleTargetViews(model, conditions, 4, { steps: 2, guidance: 3 }, 7);
    expect(targets.images.shape).toEqual([4, 32, 32, 3]);
    expect(new Set(targets.cameras.map((c) => c.elevation)).size).toBe(1);
    const again = sampleTargetViews(model, conditions, 4, { steps: 2, guidance: 3 }, 7);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(again.images, targets.images))).dataSync()[0])).toBe(0);
    again.images.dispose();
    // another layout around the same first camera: its cameras, drawn from the same noise
    const level = sampleTargetViews(model, conditions, 4, { steps: 2, guidance: 3 }, 7, (first, v) => cameraRing({ ...first, elevation: 0 }, v));
    expect(level.cameras.map((c) => [c.azimuth, c.elevation])).toEqual(targets.cameras.map((c) => [c.azimuth, 0]));
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(level.images, targets.images))).dataSync()[0])).toBeGreaterThan(1e-3);
    level.images.dispose();
    // after the fit, every second iteration fits the views again (--fit-every 2)
    const config = tiny({ iters: 7, fitIters: 3, fitEvery: 2 });
    const counts: number[] = [];
    const views: string[] = [];
    const terms: string[][] = [];
    const straight = await generateAsset({
      model,
      conditions,
      config,
      seed: 3,
      targets,
      dir: path.join(tmp, 'a'),
      resume: false,
      onIter: (_i, _n, s) => (counts.push(tf.memory().numTensors), views.push(s.view), terms.push(Object.keys(s.terms))),
    });
    expect(views).toEqual(['fit', 'fit', 'fit', '4 views', 'fit', '4 views', 'fit']);
    // the fit pulls colour and opacity (towards the target's non-white mask); SDS logs its own terms
    expect(terms[0]).toEqual(expect.arrayContaining(['loss_photometric', 'loss_mask']));
    expect(terms[5]).toEqual(expect.arrayContaining(['loss_sds', 't']));
    expect(counts[5]).toBe(counts[1]);
    // the fit phase records its photometric MSE (sRGB in [0, 1]), the SDS phase 0.5·mean(grad²)
    expect(straight.losses.slice(0, 3).every((l) => l > 0 && l < 1)).toBe(true);
    const want = [...straight.field.variables().values()].map((v) => v.dataSync().slice());
    straight.dispose();
    const dir = path.join(tmp, 'b');
    await expect(
      generateAsset({
        model,
        conditions,
        config,
        seed: 3,
        targets,
        dir,
        resume: false,
        onIter: (i) => {
          if (i === 4) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    expect(fs.existsSync(path.join(dir, 'checkpoint', 'state.json'))).toBe(true);
    const after: number[] = [];
    const resumed = await generateAsset({ model, conditions, config, seed: 3, targets, dir, resume: true, onIter: (i) => after.push(i) });
    expect(after).toEqual([5, 6, 7]); // it goes on from the checkpoint at iteration 4
    let worst = 0;
    [...resumed.field.variables().values()].forEach((v, i) => v.dataSync().forEach((x, j) => (worst = Math.max(worst, Math.abs(x - want[i]![j]!)))));
    expect(worst).toBeLessThan(1e-6);
    resumed.dispose();
    targets.images.dispose();
    conditions.dispose();
  }, 300_000);

  it('renders too large for one tape go back in passes of views, with the one-tape result', async () => {
    expect(viewPasses(4, 32, TAPE_PIXELS)).toEqual([[0, 1, 2, 3]]);
    expect(viewPasses(4, 64, TAPE_PIXELS)).toEqual([[0], [1], [2], [3]]);
    expect(viewPasses(4, 16, 2 * 16 * 16)).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(viewPasses(3, 128, TAPE_PIXELS)).toEqual([[0], [1], [2]]);
    const conditions = viewConditions(model, { kind: 'prompt', prompt: 'a red chair' });
    // lit SDS iterations with every regularizer (orient reads the normals, entropy the opacity)
    const config = tiny({ iters: 3, lambda: { orient: 0.01, sparsity: 0.001, entropy: 0.01, photometric: 1 } });
    const run = async (tapePixels: number | undefined, dir: string) => {
      const stats: Array<Record<string, number>> = [];
      const losses: number[] = [];
      const counts: number[] = [];
      const r = await generateAsset({
        model,
        conditions,
        config,
        seed: 5,
        dir: path.join(tmp, dir),
        resume: false,
        tapePixels,
        onIter: (_i, _n, s) => (stats.push(s.terms), losses.push(s.loss), counts.push(tf.memory().numTensors)),
      });
      const field = [...r.field.variables().values()].map((v) => v.dataSync().slice());
      r.dispose();
      return { field, stats, losses, counts };
    };
    const one = await run(undefined, 'one-pass');
    const four = await run(16 * 16, 'four-passes');
    expect(Object.keys(four.stats[2]!).sort()).toEqual(Object.keys(one.stats[2]!).sort());
    expect(Object.keys(one.stats[2]!)).toEqual(expect.arrayContaining(['loss_sds', 'loss_orient', 'loss_sparsity', 'loss_entropy']));
    for (let i = 0; i < 3; i++) {
      for (const [k, v] of Object.entries(one.stats[i]!)) expect(four.stats[i]![k], `iteration ${i} ${k}`).toBeCloseTo(v, 4);
      expect(four.losses[i]).toBeCloseTo(one.losses[i]!, 2);
    }
    let worst = 0;
    let size = 0;
    one.field.forEach((w, i) => w.forEach((x, j) => ((worst = Math.max(worst, Math.abs(x - four.field[i]![j]!))), (size = Math.max(size, Math.abs(x))))));
    expect(size).toBeGreaterThan(1e-3);
    expect(worst).toBeLessThan(1e-5 * Math.max(1, size));
    // and the passes leave no tensors behind
    expect(four.counts[2]).toBe(four.counts[1]);
    conditions.dispose();
  }, 120_000);

  it("dd3d generate picks the model's V, writes the fast path's target views, and refuses what a model cannot do", () => {
    const args = ['--iters', '2', '--res', '16', '--samples', '8', '--mesh-res', '32', '--preview-every', '0'];
    const out = path.join(tmp, 'gen');
    const r = runCli(['generate', '--model', mvDir, '--prompt', 'a red chair', '--n', '1', '--fit-iters', '1', '--out', out, '--json', ...args]);
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(fs.readFileSync(path.join(out, 'asset-000', 'manifest.json'), 'utf8'));
    // the multi-view defaults: the fast path refits every second iteration, weighed 1000
    expect(m.settings).toMatchObject({ views: 4, fitIters: 1, fitEvery: 2 });
    expect(m.settings.lambda.photometric).toBe(1000);
    // multi-view SDS renders no albedo-only views after the warm-up, unless --shading says so
    expect(m.settings.shading).toEqual({ warmupIters: 100, albedo: 0, lambertian: 0.5, textureless: 0.5 });
    expect(fs.existsSync(path.join(out, 'asset-000', 'target-views.png'))).toBe(true);
    const given = path.join(tmp, 'gen-shading');
    const sdsOnly = ['--fit-iters', '0', '--lambda-photometric', '250', '--shading', '0.25,0.5,0.25'];
    const g = runCli(['generate', '--model', mvDir, '--prompt', 'a red chair', '--n', '1', ...sdsOnly, '--out', given, ...args]);
    expect(g.status, g.stderr).toBe(0);
    const givenSettings = JSON.parse(fs.readFileSync(path.join(given, 'asset-000', 'manifest.json'), 'utf8')).settings;
    expect(givenSettings.shading).toMatchObject({ albedo: 0.25, textureless: 0.25 });
    // without the fast path there is nothing to refit, so no refits by default; a given weight is kept
    expect(givenSettings).toMatchObject({ fitIters: 0, fitEvery: 0 });
    expect(givenSettings.lambda.photometric).toBe(250);
    expect(fs.existsSync(path.join(given, 'asset-000', 'target-views.png'))).toBe(false);
    expectOneLineError(
      runCli(['generate', '--model', singleDir, '--prompt', 'a chair', '--views', '4', '--out', path.join(tmp, 'g1'), ...args]),
      /--views 4: this model denoises one view at a time/,
    );
    expectOneLineError(
      runCli(['generate', '--model', singleDir, '--prompt', 'a chair', '--fit-iters', '1', '--out', path.join(tmp, 'g2'), ...args]),
      /--fit-iters: the fast path needs a multi-view model/,
    );
    expectOneLineError(
      runCli(['generate', '--model', mvDir, '--prompt', 'a chair', '--views', '2', '--out', path.join(tmp, 'g3'), ...args]),
      /--views 2: this model was trained for 4 views/,
    );
    expectOneLineError(
      runCli(['generate', '--model', mvDir, '--prompt', 'a chair', '--fit-iters', '0', '--fit-every', '2', '--out', path.join(tmp, 'g4'), ...args]),
      /--fit-every: needs the fast path \(--fit-iters > 0\)/,
    );
    expectOneLineError(
      runCli(['generate', '--model', mvDir, '--prompt', 'a chair', '--lambda-photometric', '-1', '--out', path.join(tmp, 'g5'), ...args]),
      /--lambda-photometric <w>' argument '-1' is invalid\. expected a number ≥ 0/,
    );
    for (const g of ['g1', 'g2', 'g3', 'g4', 'g5']) expect(fs.existsSync(path.join(tmp, g))).toBe(false);
  }, 300_000);
});
