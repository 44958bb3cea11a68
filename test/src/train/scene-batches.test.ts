/**
 * Multi-view data and training: `scenes dataset --views V` (MVDream's layout), the batches it
 * gives (whole objects, shared caption and timestep, camera dropout, single-view steps, objects
 * drawn by family and by main colour), and a camera-conditioned fine-tune from a model folder:
 * step 0 equals the folder's model, a resumed run equals an uninterrupted one, and a worker
 * thread computes the same training.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { SceneDataset, readSceneShard, writeSceneDataset, type MultiViewRecord } from '../../../src/dataset/scene-dataset.js';
import { CAMERA_FEATURES, cameraBatch, cameraFeatures } from '../../../src/models/camera-embedding.js';
import { loadUNet } from '../../../src/models/load.js';
import { allVariables, buildTinyModel, loadInitWeights, lrScaleOf, partLoss, pretrain, batchOptions, trainingTimesteps } from '../../../src/train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../../../src/train/pretrain-configs.js';
import { exportTinyModel } from '../../../src/train/export.js';
import { isFocusedStep, SceneBatches } from '../../../src/train/scene-batches.js';
import { Teacher } from '../../../src/train/teacher.js';
import { COLOR_NAMES } from '../../../scenes/index.js';
import { DDPMScheduler } from '../../../src/schedulers/index.js';
import { expectOneLineError, runCli } from '../../helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-mv-'));
const data = path.join(tmp, 'mv');
const config = PRETRAIN_CONFIGS['test-mv']!;
const base = path.join(tmp, 'base');

beforeAll(async () => {
  await initBackend('wasm');
  await writeSceneDataset({ n: 12, views: 4, res: 32, out: data, seed: 3, shardSize: 5 });
  // a single-view model folder of the test config to fine-tune from
  const m = buildTinyModel(PRETRAIN_CONFIGS.test!, 9);
  const all = new Map<string, tf.Tensor>();
  for (const [k, v] of m.textParams.variables()) all.set(`text_encoder/${k}`, v);
  for (const [k, v] of m.unetParams.variables()) all.set(`unet/${k}`, v);
  exportTinyModel(base, m, all, PRETRAIN_CONFIGS.test!, {});
  m.textParams.dispose();
  m.unetParams.dispose();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('scenes dataset --views', () => {
  it('writes V views of one object per record: azimuths 360/V apart, one elevation, fov and radius', () => {
    const settings = JSON.parse(fs.readFileSync(path.join(data, 'dataset.json'), 'utf8'));
    expect(settings.views).toBe(4);
    expect(settings.shards).toBe(3);
    const lines = fs.readFileSync(path.join(data, 'shard-00000.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBe(5);
    for (const line of lines) {
      const r = JSON.parse(line) as MultiViewRecord;
      expect(r.cameras.length).toBe(4);
      expect(r.views.length).toBe(4);
      expect(r.caption).not.toMatch(/view/);
      for (let v = 1; v < 4; v++) {
        const step = (((r.cameras[v]!.azimuth - r.cameras[0]!.azimuth) % 360) + 360) % 360;
        expect(step).toBeCloseTo(90 * v, 1);
        expect(r.cameras[v]).toMatchObject({ elevation: r.cameras[0]!.elevation, fov: r.cameras[0]!.fov, radius: r.cameras[0]!.radius });
      }
      expect(r.cameras[0]!.elevation).toBeLessThanOrEqual(45);
    }
    const shard = readSceneShard(path.join(data, 'shard-00000.safetensors'), 4);
    expect(shard.count).toBe(20);
    expect(shard.records.map((r) => r.index)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(shard.records[1]!.caption).toMatch(/, (front|side|back) view$/);
    // the four views of an object are different pictures of it
    const differ = (a: Uint8Array, b: Uint8Array) => a.some((x, i) => x !== b[i]);
    expect(differ(shard.image(0), shard.image(1))).toBe(true);
    const ds = SceneDataset.open(data);
    expect([ds.length, ds.views]).toEqual([48, 4]);
    expect(ds.get(45).record.seed).toBe(ds.get(44).record.seed);
    expect(ds.get(44).record.seed).not.toBe(ds.get(43).record.seed);
    // the single-view layout has no "views" key, as before
    expect(() => readSceneShard(path.join(data, 'shard-00000.safetensors'))).toThrow(/5 lines for 20 images/);
  });

  it('resumes like the single-view layout and names --views when it differs', async () => {
    const again = await writeSceneDataset({ n: 12, views: 4, res: 32, out: data, seed: 3, shardSize: 5 });
    expect([again.written, again.skipped]).toEqual([0, 3]);
    await expect(writeSceneDataset({ n: 12, views: 2, res: 32, out: data, seed: 3, shardSize: 5 })).rejects.toThrow(
      /made with --views 4, but this run asks for --views 2/,
    );
    const r = runCli(['scenes', 'dataset', '--n', '2', '--views', '0', '--out', path.join(tmp, 'bad')]);
    expectOneLineError(r, /--views/);
  });
});

describe('multi-view batches', () => {
  it('hold whole objects with one caption and their cameras; camera dropout and single-view steps as configured', () => {
    const ds = SceneDataset.open(data);
    const m = buildTinyModel(config, 1);
    const batches = new SceneBatches(ds, m.tokenizer, { seed: 5, captionDropout: 0, cameraDropout: 0.5, singleViewShare: 0.3 });
    let multi = 0;
    let single = 0;
    let dropped = 0;
    for (let step = 0; step < 40; step++) {
      const b = batches.batch(step, 8);
      expect(b.views).toBe(batches.viewsAt(step));
      if (b.views === 1) {
        single++;
        expect(b.cameras.every((x) => x === 0)).toBe(true);
        expect(b.captions.every((c) => / view$/.test(c))).toBe(true);
      } else {
        multi++;
        for (let o = 0; o < 2; o++) {
          const caps = b.captions.slice(4 * o, 4 * o + 4);
          expect(new Set(caps).size).toBe(1);
          expect(caps[0]).not.toMatch(/view/);
          const cam = b.cameras.subarray(4 * o * CAMERA_FEATURES, (4 * o + 4) * CAMERA_FEATURES);
          if (cam.every((x) => x === 0)) dropped++;
          else {
            // views in order: azimuth features rotate by 90°
            const [s0, c0, s1, c1] = [cam[0]!, cam[1]!, cam[CAMERA_FEATURES]!, cam[CAMERA_FEATURES + 1]!];
            expect(Math.atan2(s1 * c0 - c1 * s0, c1 * c0 + s1 * s0)).toBeCloseTo(Math.PI / 2, 3);
          }
        }
      }
      b.images.dispose();
    }
    expect(single).toBeGreaterThan(4);
    expect(multi).toBeGreaterThan(15);
    expect(dropped).toBeGreaterThan(4);
    // the recorded camera is the one the batch encodes
    const first = ds.get(0).record.camera;
    expect(cameraFeatures(first).length).toBe(CAMERA_FEATURES);
    m.textParams.dispose();
    m.unetParams.dispose();
  });

  it("captionMinKeep 1 names every object's colour, on single- and multi-view steps (mv32c's config reaches the batches)", () => {
    const ds = SceneDataset.open(data);
    const m = buildTinyModel(config, 1);
    const colours = (options: Parameters<typeof batchOptions>[0]): [number, number] => {
      const batches = new SceneBatches(ds, m.tokenizer, { ...batchOptions(options, 5), captionDropout: 0, singleViewShare: 0.5 });
      let named = 0;
      let total = 0;
      for (let step = 0; step < 12; step++) {
        const b = batches.batch(step, 8);
        b.captions.forEach((c) => {
          total++;
          if (COLOR_NAMES.some((name) => c.split(/[\s,]+/).includes(name))) named++;
        });
        b.images.dispose();
      }
      return [named, total];
    };
    const [all, total] = colours({ ...config, captionMinKeep: 1 });
    expect(all).toBe(total);
    expect(colours(config)[0]).toBeLessThan(total * 0.9);
    expect(batchOptions(PRETRAIN_CONFIGS.mv32c!, 0).captionMinKeep).toBe(0.5);
    m.textParams.dispose();
    m.unetParams.dispose();
  });
});

/** The dataset index of every image of a batch, found by its pixels. */
function imagesOf(ds: SceneDataset, b: { images: tf.Tensor4D }): number[] {
  const frame = ds.res * ds.res * 3;
  const byImage = new Map<string, number>();
  for (let i = 0; i < ds.length; i++) byImage.set(Buffer.from(ds.get(i).image).toString('base64'), i);
  const pixels = b.images.dataSync();
  return Array.from({ length: b.images.shape[0] }, (_, k) => {
    const bytes = Uint8Array.from(pixels.subarray(k * frame, (k + 1) * frame), (x) => Math.round((x + 1) * 127.5));
    return byImage.get(Buffer.from(bytes).toString('base64'))!;
  });
}

describe('batches by main colour (colorWeights, mv32n)', () => {
  it('draws objects by main colour in single- and multi-view steps, on top of familyWeights in focused steps', () => {
    const ds = SceneDataset.open(data);
    const m = buildTinyModel(config, 1);
    const objects = Array.from({ length: ds.length / 4 }, (_, r) => ds.get(4 * r).record.attributes);
    const present = [...new Set(objects.map((a) => a.color!))];
    expect(present.length).toBeGreaterThan(2);
    const c = present[0]!;
    const zero = Object.fromEntries(COLOR_NAMES.map((name) => [name, 0]));
    const draw = (options: { colorWeights: Record<string, number>; familyWeights?: Record<string, number> }, steps = 40) => {
      const batches = new SceneBatches(ds, m.tokenizer, { seed: 5, captionDropout: 0, singleViewShare: 0.5, ...options });
      const drawn = { single: [] as number[], multi: [] as number[] };
      for (let step = 0; step < steps; step++) {
        const b = batches.batch(step, 8);
        drawn[b.views === 1 ? 'single' : 'multi'].push(...imagesOf(ds, b));
        b.images.dispose();
      }
      return drawn;
    };
    const only = draw({ colorWeights: { ...zero, [c]: 1 } });
    expect(only.single.length).toBeGreaterThan(40);
    expect(only.multi.length).toBeGreaterThan(40);
    const colorOf = (i: number) => ds.get(i).record.attributes.color;
    expect(new Set([...only.single, ...only.multi].map(colorOf))).toEqual(new Set([c]));
    // a single-view step takes any view of the drawn object, not only its first
    expect(new Set(only.single.map((i) => i % 4)).size).toBe(4);

    // weight 3 against 1: c's share of the draws is 3·n_c / (3·n_c + n_rest)
    const nc = objects.filter((a) => a.color === c).length;
    const expected = (3 * nc) / (3 * nc + objects.length - nc);
    const mix = draw({ colorWeights: { [c]: 3 } }, 120);
    const all = [...mix.single, ...mix.multi.filter((_, k) => k % 4 === 0)];
    const share = all.filter((i) => colorOf(i) === c).length / all.length;
    expect(Math.abs(share - expected)).toBeLessThan(0.1);
    expect(expected).toBeGreaterThan(nc / objects.length + 0.15); // so the weight shows against uniform draws

    // with familyWeights, focused multi-view steps draw only the weighted families
    const family = objects[0]!.family;
    const families = Object.fromEntries(objects.map((a) => [a.family, a.family === family ? 1 : 0]));
    const both = draw({ colorWeights: {}, familyWeights: families });
    const familyOf = (i: number) => ds.get(i).record.attributes.family;
    expect(new Set(both.multi.map(familyOf))).toEqual(new Set([family]));
    expect(new Set(both.single.map(familyOf)).size).toBeGreaterThan(1);

    expect(() => new SceneBatches(ds, m.tokenizer, { seed: 5, captionDropout: 0, colorWeights: { teal: 1 } })).toThrow(/colorWeights: "teal" is not a colour/);
    expect(() => new SceneBatches(ds, m.tokenizer, { seed: 5, captionDropout: 0, colorWeights: { [c]: Number.NaN } })).toThrow(
      new RegExp(`colorWeights.${c}: expected a finite weight >= 0, got NaN`),
    );
    expect(() => new SceneBatches(ds, m.tokenizer, { seed: 5, captionDropout: 0, colorWeights: zero })).toThrow(/every object of the dataset weighs 0/);
    expect(batchOptions(PRETRAIN_CONFIGS.mv32n!, 0).colorWeights).toEqual({ gray: 3, white: 3 });
    m.textParams.dispose();
    m.unetParams.dispose();
  });
});

describe('multi-view batches by family and timestep', () => {
  /** The family of each object of a multi-view batch. */
  const familiesOf = (ds: SceneDataset, b: { images: tf.Tensor4D }, views: number): string[] =>
    imagesOf(ds, b)
      .filter((_, k) => k % views === 0)
      .map((i) => ds.get(i).record.attributes.family);

  it('familyWeights draws multi-view objects by family, in proportion; unlisted families weigh 1', () => {
    const ds = SceneDataset.open(data);
    const m = buildTinyModel(config, 1);
    const present = [...new Set(Array.from({ length: ds.length / 4 }, (_, r) => ds.get(4 * r).record.attributes.family))];
    expect(present.length).toBeGreaterThan(2);
    const [a, b] = [present[0]!, present[1]!];
    const zero = Object.fromEntries(present.map((f) => [f, 0]));
    const draw = (familyWeights: Record<string, number>) => {
      const batches = new SceneBatches(ds, m.tokenizer, { seed: 5, captionDropout: 0, familyWeights });
      const counts = new Map<string, number>();
      for (let step = 0; step < 60; step++) {
        const batch = batches.batch(step, 8);
        for (const f of familiesOf(ds, batch, 4)) counts.set(f, (counts.get(f) ?? 0) + 1);
        batch.images.dispose();
      }
      return counts;
    };
    expect([...draw({ ...zero, [a]: 1 }).keys()]).toEqual([a]);
    const mix = draw({ ...zero, [a]: 3, [b]: 1 });
    expect([...mix.keys()].sort()).toEqual([a, b].sort());
    expect(mix.get(a)! / 120).toBeGreaterThan(0.6); // 0.75 expected of 120 objects
    expect(mix.get(a)! / 120).toBeLessThan(0.9);
    // unlisted families weigh 1: with only `a` listed at 0 every other family appears
    expect(draw({ [a]: 0 }).has(a)).toBe(false);
    expect(draw({ [a]: 0 }).size).toBe(present.length - 1);
    expect(() => new SceneBatches(ds, m.tokenizer, { seed: 5, captionDropout: 0, familyWeights: { dragon: 1 } })).toThrow(
      /familyWeights: the dataset has no objects of family "dragon"/,
    );
    expect(() => new SceneBatches(ds, m.tokenizer, { seed: 5, captionDropout: 0, familyWeights: { [a]: -1 } })).toThrow(
      new RegExp(`familyWeights.${a}: expected a finite weight >= 0, got -1`),
    );
    expect(() => new SceneBatches(ds, m.tokenizer, { seed: 5, captionDropout: 0, familyWeights: zero })).toThrow(/every family weighs 0/);
    m.textParams.dispose();
    m.unetParams.dispose();
  });

  it('multiview.minTimestep raises the timesteps of multi-view steps only (mv32p: t >= 800)', () => {
    const mv32p = PRETRAIN_CONFIGS.mv32p!;
    expect(mv32p.multiview!.minTimestep).toBe(800);
    const multi = Array.from({ length: 40 }, (_, k) => trainingTimesteps(mv32p, 1000, 1, k, 16, 4)).flat();
    const single = Array.from({ length: 40 }, (_, k) => trainingTimesteps(mv32p, 1000, 1, k, 16, 1)).flat();
    expect(Math.min(...multi)).toBeGreaterThanOrEqual(800);
    expect(Math.max(...multi)).toBeLessThanOrEqual(999);
    expect(Math.min(...single)).toBeLessThan(100);
    // without the key the range is the whole schedule
    expect(Math.min(...Array.from({ length: 40 }, (_, k) => trainingTimesteps(PRETRAIN_CONFIGS.mv32r!, 1000, 1, k, 16, 4)).flat())).toBeLessThan(100);
  });

  it('focusedShare: that share of multi-view steps is drawn by family at t >= minTimestep, the rest uniformly at every t (mv32q: half)', () => {
    expect([0, 1, 2].map((step) => isFocusedStep(3, step, undefined))).toEqual([true, true, true]);
    expect([0, 1, 2].map((step) => isFocusedStep(3, step, 0))).toEqual([false, false, false]);
    const mv32q = PRETRAIN_CONFIGS.mv32q!;
    expect(mv32q.multiview!.focusedShare).toBe(0.5);
    const steps = Array.from({ length: 200 }, (_, k) => k);
    const focused = steps.filter((k) => isFocusedStep(1, k, 0.5));
    expect(focused.length / 200).toBeGreaterThan(0.4);
    expect(focused.length / 200).toBeLessThan(0.6);
    const t = (k: number) => trainingTimesteps(mv32q, 1000, 1, k, 16, 4);
    expect(Math.min(...focused.flatMap(t))).toBeGreaterThanOrEqual(800);
    expect(Math.min(...steps.filter((k) => !isFocusedStep(1, k, 0.5)).flatMap(t))).toBeLessThan(100);

    const ds = SceneDataset.open(data);
    const m = buildTinyModel(config, 1);
    const present = [...new Set(Array.from({ length: ds.length / 4 }, (_, r) => ds.get(4 * r).record.attributes.family))];
    const onlyFirst = Object.fromEntries(present.map((f, i) => [f, i === 0 ? 1 : 0]));
    const batches = new SceneBatches(ds, m.tokenizer, { seed: 5, captionDropout: 0, familyWeights: onlyFirst, focusedShare: 0.5 });
    const seen = { focused: new Set<string>(), other: new Set<string>() };
    for (let step = 0; step < 40; step++) {
      const batch = batches.batch(step, 8);
      for (const f of familiesOf(ds, batch, 4)) seen[isFocusedStep(5, step, 0.5) ? 'focused' : 'other'].add(f);
      batch.images.dispose();
    }
    expect([...seen.focused]).toEqual([present[0]]);
    expect(seen.other.size).toBeGreaterThan(1);
    expect(() => new SceneBatches(ds, m.tokenizer, { seed: 5, captionDropout: 0, focusedShare: 1.5 })).toThrow(
      /focusedShare: expected a share in \[0, 1\], got 1.5/,
    );
    m.textParams.dispose();
    m.unetParams.dispose();
  });
});

describe('multi-view fine-tune (pretrain --config with multiview, --init)', () => {
  it("starts from the folder: at step 0 the camera-conditioned UNet equals the folder's", () => {
    const m = buildTinyModel(config, 1);
    loadInitWeights(m, base);
    const folder = loadUNet(base);
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const ctx = tf.randomNormal([4, 77, 32], 0, 1, 'float32', 4) as tf.Tensor3D;
    const camera = cameraBatch([0, 90, 180, -90].map((azimuth) => ({ azimuth, elevation: 20, fov: 50, radius: 2.5 })));
    const a = m.unet.forward(x, 200, ctx, { camera });
    const b = folder.forward(x, 200, ctx);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
    tf.dispose([x, ctx, camera, a, b]);
    folder.dispose();
    m.textParams.dispose();
    m.unetParams.dispose();
    // a folder of another architecture is named
    const wide = buildTinyModel(PRETRAIN_CONFIGS.tiny32!, 1);
    expect(() => loadInitWeights(wide, base)).toThrow(/--init .*base: .* has shape \[.*\], this config needs/);
    wide.textParams.dispose();
    wide.unetParams.dispose();
  });

  it('mv64 is mv32q at 64x64: the same weights by name and shape (so --init models/dd3d-mv loads all of them), the same batches recipe', () => {
    const [mv32q, mv64] = [PRETRAIN_CONFIGS.mv32q!, PRETRAIN_CONFIGS.mv64!];
    expect([mv64.resolution, mv64.batch, mv64.lr]).toEqual([64, 8, 1e-4]);
    expect(mv64.multiview).toEqual(mv32q.multiview);
    const shapes = (c: typeof mv64) => {
      const m = buildTinyModel(c, 1);
      const out = [...allVariables(m)].map(([k, v]) => `${k} [${v.shape}]`);
      m.textParams.dispose();
      m.unetParams.dispose();
      return out;
    };
    const want = shapes(mv32q);
    expect(want.length).toBeGreaterThan(100);
    expect(shapes(mv64)).toEqual(want);
  });

  it("scales the camera weights' learning rate by the config's cameraLrScale, and only theirs", () => {
    const m = buildTinyModel(config, 1);
    const scale = lrScaleOf(config);
    const scaled = [...allVariables(m).keys()].filter((k) => scale(k) !== 1);
    expect(scaled.sort()).toEqual(
      [
        'camera_embedding.linear_1.bias',
        'camera_embedding.linear_1.weight',
        'camera_embedding.linear_2.bias',
        'camera_embedding.linear_2.weight',
        'camera_ray_levels.0.weight',
        'camera_ray_levels.1.weight',
        'camera_rays.weight',
      ].map((k) => `unet/${k}`),
    );
    expect(scaled.every((k) => scale(k) === config.cameraLrScale)).toBe(true);
    expect(config.cameraLrScale).toBe(10);
    expect(lrScaleOf(PRETRAIN_CONFIGS.mv32r!)('unet/camera_rays.weight')).toBe(1);
    m.textParams.dispose();
    m.unetParams.dispose();
  });

  it('trains, resumes exactly, and a worker thread computes the same training', async () => {
    const dataset = SceneDataset.open(data);
    const counts: number[] = [];
    const common = { config, dataset, seed: 1, steps: 4, init: base };
    const whole = await pretrain({ ...common, out: path.join(tmp, 'a'), resume: false, onStep: () => counts.push(tf.memory().numTensors) });
    expect(whole.losses.every(Number.isFinite)).toBe(true);
    expect(new Set(counts.slice(1)).size).toBe(1);
    await expect(
      pretrain({
        ...common,
        out: path.join(tmp, 'b'),
        resume: false,
        onStep: (s) => {
          if (s === 3) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    const resumed = await pretrain({ ...common, out: path.join(tmp, 'b'), resume: true });
    expect(resumed.losses).toEqual(whole.losses);
    await expect(pretrain({ ...common, init: undefined, out: path.join(tmp, 'b'), resume: true })).rejects.toThrow(
      /made with init "base", this run asks for the default/,
    );

    const two = await pretrain({ ...common, out: path.join(tmp, 'w'), resume: false, workers: 2 });
    for (let i = 0; i < 4; i++) expect(Math.abs(two.losses[i]! - whole.losses[i]!)).toBeLessThan(1e-5 * whole.losses[i]!);
    for (const key of [
      'unet/camera_embedding.linear_2.weight',
      'unet/camera_rays.weight',
      'unet/camera_ray_levels.0.weight',
      'unet/camera_ray_levels.1.weight',
    ]) {
      const [p, q] = [whole.ema.shadow.get(key)!.dataSync(), two.ema.shadow.get(key)!.dataSync()];
      expect(Math.max(...Array.from(p, Math.abs))).toBeGreaterThan(0); // the camera MLP and ray projection have left zero
      expect(Math.max(...Array.from(p, (x, j) => Math.abs(x - q[j]!)))).toBeLessThan(1e-4 * Math.max(...Array.from(p, Math.abs)) + 1e-7);
    }
  });

  it('the camera warm-up draws high timesteps and moves the camera weights alone', async () => {
    const warm = config.cameraWarmup!;
    expect(warm).toEqual({ steps: 1, minTimestep: 700, lrScale: 50 });
    expect(lrScaleOf(config, 0)('unet/camera_rays.weight')).toBe(50);
    expect(lrScaleOf(config, 1)('unet/camera_rays.weight')).toBe(10);
    expect(lrScaleOf(config, 0)('unet/conv_in.weight')).toBe(0); // frozen in the warm-up, but its moments run
    expect(lrScaleOf(config, 1)('unet/conv_in.weight')).toBe(1);
    for (let step = 0; step < 6; step++) {
      const t = trainingTimesteps(config, 1000, 1, step, 8, 4);
      expect(t.slice(0, 4)).toEqual(Array(4).fill(t[0])); // one per object
      expect(t.slice(4)).toEqual(Array(4).fill(t[4]));
      if (step < warm.steps) expect(Math.min(...t)).toBeGreaterThanOrEqual(700);
    }
    // after the warm-up the whole range comes back
    const later = Array.from({ length: 40 }, (_, k) => trainingTimesteps(config, 1000, 1, warm.steps + k, 8, 4)).flat();
    expect(Math.min(...later)).toBeLessThan(300);

    const run = await pretrain({
      config,
      dataset: SceneDataset.open(data),
      seed: 1,
      steps: warm.steps,
      init: base,
      out: path.join(tmp, 'warm'),
      resume: false,
    });
    const start = buildTinyModel(config, 1);
    loadInitWeights(start, base);
    const [before, after] = [allVariables(start), allVariables(run.model)];
    const moved = [...after].filter(([k, v]) => tf.tidy(() => tf.max(tf.abs(tf.sub(v, before.get(k)!))).dataSync()[0]!) > 0).map(([k]) => k);
    // nothing but camera weights moved (linear_1 gets no gradient while linear_2 is still zero)
    expect(moved.filter((k) => lrScaleOf(config)(k) === 1)).toEqual([]);
    expect(moved).toEqual(
      expect.arrayContaining([
        'unet/camera_rays.weight',
        'unet/camera_ray_levels.0.weight',
        'unet/camera_ray_levels.1.weight',
        'unet/camera_embedding.linear_2.weight',
      ]),
    );
    start.textParams.dispose();
    start.unetParams.dispose();
    run.model.textParams.dispose();
    run.model.unetParams.dispose();
  });

  it("with --teacher, single-view steps learn the teacher's prediction and multi-view steps the data's", async () => {
    // the student starts as the folder it distils (a zero camera path), so its single-view loss is ~0 at the start
    const m = buildTinyModel(config, 1);
    loadInitWeights(m, base);
    const ddpm = DDPMScheduler.fromConfig(config.scheduler);
    const teacher = Teacher.load(base, ddpm, config.resolution);
    const dataset = SceneDataset.open(data);
    const batches = new SceneBatches(dataset, m.tokenizer, batchOptions(config, 1));
    const steps = Array.from({ length: 12 }, (_, k) => k);
    const single = steps.find((k) => batches.viewsAt(k) === 1)!;
    const multi = steps.find((k) => batches.viewsAt(k) === 4)!;
    expect(single).toBeDefined();
    expect(multi).toBeDefined();
    const loss = (step: number, t?: Teacher) => tf.tidy(() => partLoss(m, ddpm, config, batches, 1, step, 8, 0, 8, t)().dataSync()[0]!);
    expect(loss(single)).toBeGreaterThan(0.01);
    expect(loss(single, teacher)).toBeLessThan(1e-9);
    expect(loss(multi, teacher)).toBe(loss(multi));
    expect(loss(multi)).toBeGreaterThan(0.01);
    // --teacher-weight multiplies the taught steps' loss, and only theirs (a fresh student, far from the teacher)
    const fresh = buildTinyModel(config, 2);
    const heavy = Teacher.load(base, ddpm, config.resolution, 10);
    const freshLoss = (step: number, t?: Teacher) => tf.tidy(() => partLoss(fresh, ddpm, config, batches, 1, step, 8, 0, 8, t)().dataSync()[0]!);
    expect(freshLoss(single, teacher)).toBeGreaterThan(1e-3);
    expect(freshLoss(single, heavy)).toBeCloseTo(10 * freshLoss(single, teacher), 5);
    expect(freshLoss(multi, heavy)).toBe(freshLoss(multi));
    heavy.dispose();
    fresh.textParams.dispose();
    fresh.unetParams.dispose();

    // what the teacher must share with the run, named
    expect(() => Teacher.load(base, ddpm, 64)).toThrow(/^--teacher .*base: it works at 32×32 pixels, this config trains at 64×64$/);
    const epsilon = DDPMScheduler.fromConfig({ ...config.scheduler, prediction_type: 'epsilon' });
    expect(() => Teacher.load(base, epsilon, 32)).toThrow(/it predicts v_prediction, this config trains epsilon/);
    const linear = DDPMScheduler.fromConfig({ ...config.scheduler, beta_schedule: 'linear' });
    expect(() => Teacher.load(base, linear, 32)).toThrow(/its noise schedule differs/);
    teacher.dispose();
    m.textParams.dispose();
    m.unetParams.dispose();

    // a worker thread loads the teacher too and computes the same training; a resume checks the teacher
    const common = { config, dataset, seed: 1, steps: 2, init: base, teacher: base, teacherWeight: 4 };
    expect(single).toBeLessThan(common.steps); // the runs include a taught step, so a worker without the teacher would differ
    const one = await pretrain({ ...common, out: path.join(tmp, 't1'), resume: false });
    const two = await pretrain({ ...common, out: path.join(tmp, 't2'), resume: false, workers: 2 });
    for (let i = 0; i < 2; i++) expect(Math.abs(two.losses[i]! - one.losses[i]!)).toBeLessThan(1e-5 * one.losses[i]! + 1e-9);
    await expect(pretrain({ ...common, teacher: undefined, out: path.join(tmp, 't1'), resume: true })).rejects.toThrow(
      /made with teacher "base", this run asks for the default/,
    );
    await expect(pretrain({ ...common, teacherWeight: 1, out: path.join(tmp, 't1'), resume: true })).rejects.toThrow(
      /made with teacherWeight 4, this run asks for the default/,
    );
    for (const r of [one, two]) {
      r.model.textParams.dispose();
      r.model.unetParams.dispose();
    }
  });

  it('refuses a dataset with another number of views, naming both', async () => {
    const single = path.join(tmp, 'single');
    await writeSceneDataset({ n: 8, res: 32, out: single, seed: 1 });
    await expect(pretrain({ config, dataset: SceneDataset.open(single), out: path.join(tmp, 'c'), seed: 1, steps: 1, resume: false })).rejects.toThrow(
      /the dataset has 1 view\(s\) per record, config "test-mv" trains on 4/,
    );
  });
});
