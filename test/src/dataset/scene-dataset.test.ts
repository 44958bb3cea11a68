import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rasterizer, toRGB8 } from '../../../renderers/index.js';
import { FAMILY_NAMES, disposeObject, makeObject, viewPhrase } from '../../../scenes/index.js';
import { mulberry32 } from '../../../src/core/random.js';
import {
  DATASET_SUPERSAMPLE,
  SceneDataset,
  datasetSettings,
  defaultShardSize,
  planItem,
  readSceneShard,
  resolveFamilies,
  writeSceneDataset,
  type DatasetOptions,
} from '../../../src/dataset/scene-dataset.js';
import { CAMERA_RANGES, sampleCamera, sceneCamera } from '../../../renderers/camera-rig.js';
import { refCamera } from '../../../src/dataset/scene-refs.js';
import { Dd3dError } from '../../../src/core/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-scene-dataset-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
const fresh = (): string => path.join(tmp, `ds-${counter++}`);

/** Every file of a folder, name → bytes. */
function snapshot(dir: string): Map<string, Buffer> {
  return new Map(
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(dir, f))]),
  );
}

function expectSameFiles(a: string, b: string): void {
  const sa = snapshot(a);
  const sb = snapshot(b);
  expect([...sb.keys()]).toEqual([...sa.keys()]);
  for (const [name, bytes] of sa) expect(sb.get(name)!.equals(bytes), `${name} differs`).toBe(true);
}

// 13 images in shards of 5: two full shards and a short last one.
const SMALL: Omit<DatasetOptions, 'out'> = { n: 13, res: 8, seed: 5, shardSize: 5 };
const reference = fresh();
const referenceRun = writeSceneDataset({ ...SMALL, out: reference });

describe('dataset cameras', () => {
  it('covers azimuth (−180, 180], elevation −10..45 with ~10% overhead, and frames the unit sphere fully', () => {
    const rng = mulberry32(123);
    const N = 4000;
    const views = new Map<string, number>();
    let overhead = 0;
    for (let i = 0; i < N; i++) {
      const c = sampleCamera(rng);
      expect(c.azimuth).toBeGreaterThan(-180);
      expect(c.azimuth).toBeLessThanOrEqual(180);
      if (c.elevation > 60) {
        overhead++;
        expect(c.elevation).toBeLessThanOrEqual(90);
      } else {
        expect(c.elevation).toBeGreaterThanOrEqual(CAMERA_RANGES.elevation[0]);
        expect(c.elevation).toBeLessThanOrEqual(CAMERA_RANGES.elevation[1]);
      }
      expect(c.fov).toBeGreaterThanOrEqual(40);
      expect(c.fov).toBeLessThanOrEqual(70);
      // the unit sphere is inside the frame iff radius · sin(fov/2) ≥ 1
      const framing = c.radius * Math.sin((c.fov * Math.PI) / 360);
      expect(framing).toBeGreaterThanOrEqual(CAMERA_RANGES.framing[0]);
      expect(framing).toBeLessThanOrEqual(CAMERA_RANGES.framing[1] + 1e-3);
      // stored values are rounded, so JSONL holds exactly what was rendered
      expect(Math.round(c.azimuth * 100) / 100).toBe(c.azimuth);
      const v = viewPhrase(c.azimuth, c.elevation);
      views.set(v, (views.get(v) ?? 0) + 1);
    }
    expect(overhead / N).toBeGreaterThan(0.08);
    expect(overhead / N).toBeLessThan(0.12);
    for (const v of ['front view', 'side view', 'back view', 'overhead view']) expect(views.get(v), v).toBeGreaterThan(0.05 * N);
  });

  it('gives reference sets mostly front and side views at elevation 0–30°', () => {
    const rng = mulberry32(9);
    const views = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const c = refCamera(rng);
      expect(c.elevation).toBeGreaterThanOrEqual(0);
      expect(c.elevation).toBeLessThanOrEqual(30);
      expect(c.radius * Math.sin((c.fov * Math.PI) / 360)).toBeGreaterThanOrEqual(1.05);
      const v = viewPhrase(c.azimuth, c.elevation);
      views.set(v, (views.get(v) ?? 0) + 1);
    }
    expect((views.get('front view')! + views.get('side view')!) / 2000).toBeGreaterThan(0.85);
    expect(views.get('back view')).toBeGreaterThan(0);
    expect(views.get('overhead view')).toBeUndefined();
  });

  it('plans image i from (seed, i) alone', () => {
    const s = { seed: 3, families: [...FAMILY_NAMES] };
    expect(planItem(s, 41)).toEqual(planItem(s, 41));
    expect(planItem(s, 41)).not.toEqual(planItem(s, 42));
    expect(planItem({ ...s, seed: 4 }, 41)).not.toEqual(planItem(s, 41));
    const families = new Set(Array.from({ length: 400 }, (_, i) => planItem(s, i).family));
    expect([...families].sort()).toEqual([...FAMILY_NAMES].sort());
  });

  it('picks shard sizes that keep shards under 64 MB', () => {
    expect(defaultShardSize(32)).toBe(8192);
    expect(defaultShardSize(128)).toBe(1024);
    for (const r of [8, 32, 64, 100, 256, 1024]) expect(defaultShardSize(r) * r * r * 3).toBeLessThanOrEqual(64 << 20);
  });
});

describe('writeSceneDataset', () => {
  it('writes shards, JSONL and dataset.json; the records describe the images', async () => {
    const summary = await referenceRun;
    expect(summary).toMatchObject({ n: 13, res: 8, shards: 3, written: 3, skipped: 0, images_written: 13 });
    expect(fs.readdirSync(reference).sort()).toEqual([
      'dataset.json',
      'shard-00000.jsonl',
      'shard-00000.safetensors',
      'shard-00001.jsonl',
      'shard-00001.safetensors',
      'shard-00002.jsonl',
      'shard-00002.safetensors',
    ]);
    const settings = JSON.parse(fs.readFileSync(path.join(reference, 'dataset.json'), 'utf8'));
    expect(settings).toEqual(JSON.parse(JSON.stringify(datasetSettings(SMALL))));
    expect(settings).toMatchObject({ version: 1, n: 13, res: 8, seed: 5, shard_size: 5, families: FAMILY_NAMES });

    const last = readSceneShard(path.join(reference, 'shard-00002.safetensors'));
    expect(last.count).toBe(3);
    expect(last.images.length).toBe(3 * 8 * 8 * 3);

    const ds = SceneDataset.open(reference);
    expect(ds.length).toBe(13);
    const items = [...ds];
    expect(items.map((it) => it.index)).toEqual(Array.from({ length: 13 }, (_, i) => i));
    for (const it of items) {
      const r = it.record;
      expect(r.index).toBe(it.index);
      expect(it.image.length).toBe(8 * 8 * 3);
      expect(it.caption.split(/[ ,]+/)).toContain(r.attributes.family);
      const view = viewPhrase(r.camera.azimuth, r.camera.elevation);
      expect(r.view).toBe(view);
      expect(it.caption.endsWith(`, ${view}`)).toBe(true);
      expect(
        it.image.some((b) => b < 200),
        `image ${it.index} shows something`,
      ).toBe(true);
      expect(planItem(settings, it.index)).toMatchObject({ family: r.attributes.family, seed: r.seed, camera: r.camera });
    }
  });

  it('stores exactly the picture its record describes, framed whole', async () => {
    const out = fresh();
    await writeSceneDataset({ out, n: 6, res: 24, seed: 1 });
    const ds = SceneDataset.open(out);
    const rasterizer = new Rasterizer();
    for (const { image, record } of ds) {
      const { group, attributes } = makeObject(record.attributes.family, record.seed);
      expect(attributes).toEqual(record.attributes);
      const again = toRGB8(rasterizer.render(group, sceneCamera(record.camera), { width: 24, height: 24, supersample: DATASET_SUPERSAMPLE }));
      disposeObject(group);
      expect(Buffer.from(again).equals(Buffer.from(image))).toBe(true);
      // the unit sphere is inside the frame, so the outermost ring of pixels is background
      for (let k = 0; k < 24; k++) {
        for (const [x, y] of [
          [k, 0],
          [k, 23],
          [0, k],
          [23, k],
        ] as const) {
          const o = 3 * (y * 24 + x);
          expect([image[o], image[o + 1], image[o + 2]]).toEqual([255, 255, 255]);
        }
      }
    }
  });

  it('is deterministic: the same seed gives byte-identical files', async () => {
    await referenceRun;
    const again = fresh();
    await writeSceneDataset({ ...SMALL, out: again });
    expectSameFiles(reference, again);
  });

  it('gives different images and captions for another seed', async () => {
    await referenceRun;
    const other = fresh();
    await writeSceneDataset({ ...SMALL, seed: 6, out: other });
    const a = readSceneShard(path.join(reference, 'shard-00000.safetensors'));
    const b = readSceneShard(path.join(other, 'shard-00000.safetensors'));
    expect(Buffer.from(a.images).equals(Buffer.from(b.images))).toBe(false);
    expect(b.records.map((r) => r.caption)).not.toEqual(a.records.map((r) => r.caption));
  });

  it('resumes: keeps complete shards, redoes missing, truncated and half-written ones, to the same bytes', async () => {
    await referenceRun;
    const dir = fresh();
    fs.cpSync(reference, dir, { recursive: true });
    fs.rmSync(path.join(dir, 'shard-00001.safetensors'));
    const jsonl = path.join(dir, 'shard-00002.jsonl');
    fs.writeFileSync(jsonl, fs.readFileSync(jsonl, 'utf8').split('\n').slice(0, 2).join('\n') + '\n');
    // what a run killed in the middle of writing leaves: a temporary file of a dead process
    const stale = path.join(dir, '.shard-00001.safetensors.999999999.1700000000000.tmp');
    fs.writeFileSync(stale, Buffer.alloc(100, 7));
    const summary = await writeSceneDataset({ ...SMALL, out: dir });
    expect(summary).toMatchObject({ written: 2, skipped: 1, images_written: 8 });
    expect(fs.existsSync(stale)).toBe(false);
    expectSameFiles(reference, dir);

    const rerun = await writeSceneDataset({ ...SMALL, out: dir });
    expect(rerun).toMatchObject({ written: 0, skipped: 3, images_written: 0, images_per_s: 0 });
  });

  it('resumes a run stopped mid-shard to the same bytes', async () => {
    await referenceRun;
    const dir = fresh();
    const stop = new AbortController();
    const run = writeSceneDataset({ ...SMALL, out: dir, signal: stop.signal, onProgress: (done) => done >= 5 && stop.abort(new Error('stopped')) });
    await expect(run).rejects.toThrow('stopped');
    expect(fs.existsSync(path.join(dir, 'shard-00000.jsonl'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'shard-00001.safetensors'))).toBe(false);
    const summary = await writeSceneDataset({ ...SMALL, out: dir });
    expect(summary).toMatchObject({ written: 2, skipped: 1 });
    expectSameFiles(reference, dir);
  });

  it('refuses to resume with other settings, naming the flag that differs', async () => {
    await referenceRun;
    const cases: Array<[Partial<DatasetOptions>, RegExp]> = [
      [{ res: 12 }, /made with --res 8, but this run asks for --res 12;.*new --out/],
      [{ n: 14 }, /--n 13, but this run asks for --n 14/],
      [{ seed: 6 }, /--seed 5, but this run asks for --seed 6/],
      [{ shardSize: 4 }, /--shard-size 5, but this run asks for --shard-size 4/],
      [{ families: ['chair'] }, /--families chair,table,.*but this run asks for --families chair;/],
      // a single-view dataset.json has no "views": it reads as 1
      [{ views: 2 }, /made with --views 1, but this run asks for --views 2;/],
    ];
    for (const [change, pattern] of cases) {
      await expect(writeSceneDataset({ ...SMALL, ...change, out: reference })).rejects.toThrow(pattern);
    }
    await expect(writeSceneDataset({ ...SMALL, res: 12, out: reference })).rejects.toBeInstanceOf(Dd3dError);

    // settings no flag sets: written by another version of dd3d
    const dir = fresh();
    fs.cpSync(reference, dir, { recursive: true });
    const file = path.join(dir, 'dataset.json');
    const stored = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, JSON.stringify({ ...stored, render: { ...stored.render, supersample: 2 } }));
    await expect(writeSceneDataset({ ...SMALL, out: dir })).rejects.toThrow(
      /dataset\.json: its "render" setting differs from this dd3d's \(\{"supersample":2,.*\}\); it was written by another version/,
    );
    delete stored.captions;
    fs.writeFileSync(file, JSON.stringify(stored));
    await expect(writeSceneDataset({ ...SMALL, out: dir })).rejects.toThrow(/its "captions" setting differs from this dd3d's \(nothing\)/);
  });

  it('names the flag and the range of a bad setting', () => {
    const cases: Array<[Partial<DatasetOptions>, string]> = [
      [{ n: 0 }, '--n 0: expected an integer ≥ 1'],
      [{ n: 2.5 }, '--n 2.5: expected an integer ≥ 1'],
      [{ res: 4097 }, '--res 4097: expected an integer from 1 to 4096'],
      [{ seed: -1 }, '--seed -1: expected an integer ≥ 0'],
      [{ views: 65 }, '--views 65: expected an integer from 1 to 64'],
      [{ shardSize: 0 }, '--shard-size 0: expected an integer ≥ 1'],
      [{ families: [' ', ''] }, '--families: no family given; valid families: chair, table, lamp, mug, vase, sofa, car, tree'],
    ];
    for (const [change, message] of cases) expect(() => datasetSettings({ ...SMALL, ...change })).toThrow(new Dd3dError(message));
    expect(resolveFamilies([' Car', 'chair', '', 'CAR'])).toEqual(['chair', 'car']);
    expect(resolveFamilies(undefined)).toEqual(FAMILY_NAMES);
  });

  it('refuses a folder that holds other files, and unknown families', async () => {
    const dir = fresh();
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    await expect(writeSceneDataset({ ...SMALL, out: dir })).rejects.toThrow(/holds other files \(notes\.txt\) and no dataset\.json/);
    await expect(writeSceneDataset({ ...SMALL, out: fresh(), families: ['chair', 'spaceship'] })).rejects.toThrow(
      /--families: unknown family "spaceship"; valid families: chair, table, lamp/,
    );
  });

  it('draws only the chosen families; their order does not matter', async () => {
    const a = fresh();
    const b = fresh();
    await writeSceneDataset({ out: a, n: 10, res: 8, families: ['table', 'Chair'] });
    await writeSceneDataset({ out: b, n: 10, res: 8, families: ['chair', 'table', 'chair'] });
    expectSameFiles(a, b);
    const families = new Set([...SceneDataset.open(a)].map((it) => it.record.attributes.family));
    expect([...families].sort()).toEqual(['chair', 'table']);
  });

  it('reports unfinished datasets and broken shards to readers', async () => {
    await referenceRun;
    const dir = fresh();
    fs.cpSync(reference, dir, { recursive: true });
    fs.rmSync(path.join(dir, 'shard-00001.jsonl'));
    expect(() => SceneDataset.open(dir)).toThrow(/shard-00001\.jsonl: missing; the dataset is unfinished/);
    const jsonl = path.join(dir, 'shard-00000.jsonl');
    fs.writeFileSync(jsonl, fs.readFileSync(jsonl, 'utf8').split('\n')[0] + '\n');
    expect(() => readSceneShard(jsonl)).toThrow(/1 lines for 5 images/);
  });
});
