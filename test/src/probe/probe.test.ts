import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAMILIES } from '../../../scenes/index.js';
import { initBackend } from '../../../src/backend/backend.js';
import { SceneDataset, writeSceneDataset } from '../../../src/dataset/scene-dataset.js';
import { Dd3dError } from '../../../src/core/errors.js';
import { CONFIG_FILE, WEIGHTS_FILE, evaluateProbe, loadProbe, loadProbeData, trainProbe, type Probe } from '../../../src/probe/index.js';
import { expectOneLineError, runCli } from '../../helpers/cli.js';

const root = path.join(__dirname, '../..', '..');
const shipped = path.join(root, 'models', 'dd3d-tiny', 'probe');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-probe-'));
const fresh = path.join(tmp, 'fresh32');
const big = path.join(tmp, 'fresh64');
let probe: Probe;
let ds: SceneDataset;

beforeAll(async () => {
  await initBackend('wasm');
  await writeSceneDataset({ out: fresh, n: 64, res: 32, seed: 99 });
  await writeSceneDataset({ out: big, n: 8, res: 64, seed: 98 });
  ds = SceneDataset.open(fresh);
  probe = loadProbe(shipped);
});

afterAll(() => {
  probe?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** All images of a dataset as one float tensor in [0, 1]. */
function asTensor(d: SceneDataset): tf.Tensor4D {
  const bytes = new Uint8Array(d.length * d.res * d.res * 3);
  for (const item of d) bytes.set(item.image, item.index * item.image.length);
  return tf.tidy(() => tf.tensor4d(bytes, [d.length, d.res, d.res, 3], 'int32').toFloat().div(255));
}

describe('shipped probe', () => {
  it('is a small res-32 model with the documented heads', () => {
    expect(probe.res).toBe(32);
    expect(probe.config.families).toEqual(FAMILIES.map((f) => f.name));
    expect(probe.config.colors.length).toBe(11);
    const pairs = FAMILIES.flatMap((f) => f.attributes.filter((a) => a.name !== 'color').map((a) => `${f.name}.${a.name}`));
    expect(probe.config.attribute_heads.map((h) => `${h.family}.${h.attribute}`)).toEqual(pairs);
    expect(fs.statSync(path.join(shipped, WEIGHTS_FILE)).size).toBeLessThan(5 << 20);
  });

  it('classifies fresh renders (64 images, seed 99): family ≥ 0.9, colour ≥ 0.8', () => {
    const e = evaluateProbe(probe, fresh);
    expect(e.n).toBe(64);
    expect(e.family.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(e.color.accuracy).toBeGreaterThanOrEqual(0.8);
    expect(e.attributes.length).toBe(probe.config.attribute_heads.length);
  });

  it("predict returns the family, colour and that family's attributes with probabilities; inputs agree", () => {
    const x = asTensor(ds);
    const preds = probe.predict(x);
    expect(preds.length).toBe(64);
    let right = 0;
    preds.forEach((p, i) => {
      const truth = ds.get(i).record.attributes;
      if (p.family === truth.family) right++;
      const heads = probe.config.attribute_heads.filter((h) => h.family === p.family).map((h) => h.attribute);
      expect(Object.keys(p.attributes)).toEqual(heads);
      expect(Object.values(p.probabilities.family).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(Object.values(p.probabilities.color).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      for (const [attr, probs] of Object.entries(p.probabilities.attributes)) {
        expect(Object.keys(probs)).toContain(p.attributes[attr]);
        expect(Math.max(...Object.values(probs))).toBe(probs[p.attributes[attr]!]);
      }
    });
    expect(right / 64).toBeGreaterThanOrEqual(0.9);
    // bytes, a list of per-image bytes and a float tensor give the same answers
    const list = [...ds].map((item) => item.image);
    const flat = new Uint8Array(list.length * list[0]!.length);
    list.forEach((im, i) => flat.set(im, i * im.length));
    expect(probe.predict(flat).map((p) => p.family)).toEqual(preds.map((p) => p.family));
    expect(probe.predict(list).map((p) => p.color)).toEqual(preds.map((p) => p.color));
    x.dispose();
  });

  it('features are [N, F], finite, deterministic, and differ between different objects', () => {
    const before = tf.memory().numTensors;
    const x = asTensor(ds);
    const f = probe.features(x);
    expect(f.shape).toEqual([64, probe.featureDim]);
    const v = f.arraySync();
    expect(v.flat().every((a) => Number.isFinite(a) && a >= 0)).toBe(true);
    const again = probe.features(x);
    expect(again.arraySync()).toEqual(v);
    // batching inside features() does not change a row
    const x5 = x.slice([5, 0, 0, 0], [1, -1, -1, -1]);
    const one = probe.features(x5);
    const row = one.arraySync()[0]!;
    row.forEach((a, j) => expect(a).toBeCloseTo(v[5]![j]!, 4));
    const dist = (a: number[], b: number[]) => Math.hypot(...a.map((ai, j) => ai - b[j]!));
    const norm = Math.max(...v.map((r) => Math.hypot(...r)));
    const fams = [...ds].map((it) => it.record.attributes.family);
    const i = 0;
    const j = fams.findIndex((fam) => fam !== fams[0]);
    expect(dist(v[i]!, v[j]!)).toBeGreaterThan(0.05 * norm);
    tf.dispose([x, x5, f, again, one]);
    expect(tf.memory().numTensors).toBe(before);
  });

  // The judgement the eye makes on turntable grids (examples/probe-turntables.mjs): dd3d-mv's
  // tall-backed red chairs are chairs; red sacks on dripping legs (the 64-pixel fit alone) and
  // dd3d-tiny's cups on legs are not. The probe trained on clean renders alone reads the sacks
  // as chairs in 70.8% of these views, the cups in 41.7%, the chairs in 87.5%. The chairs are a
  // fixed grid (the main command of 2026-12-07 afternoon), not main-command-turntables.png, which
  // each new built-in model redraws: this holds the probe, not the model (docs/commands.md).
  it('reads dd3d-mv’s chairs as chairs and fails sacks and cups on legs (turntable grids)', () => {
    const chairShare = (grid: string) => {
      const r = spawnSync(process.execPath, ['examples/probe-turntables.mjs', `examples/grids/${grid}`, 'chair'], { cwd: root, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return Number(/^assets: ([\d.]+)% of 24 views/m.exec(r.stdout)![1]);
    };
    expect(chairShare('mv32c-g5s25-chair-turntables.png')).toBeGreaterThanOrEqual(95);
    expect(chairShare('mv64-step1000-fit-only-chair-turntables.png')).toBeLessThanOrEqual(50);
    expect(chairShare('main-command-tiny-turntables.png')).toBeLessThanOrEqual(60);
  });

  it('takes 64×64 images by downsampling them to its 32×32', () => {
    const d64 = SceneDataset.open(big);
    const list = [...d64].map((it) => it.image);
    const f = probe.features(list);
    expect(f.shape).toEqual([8, probe.featureDim]);
    f.dispose();
    const e = evaluateProbe(probe, big);
    expect(e.family.accuracy).toBeGreaterThanOrEqual(0.75);
    expect(() => probe.features(new Uint8Array(10))).toThrow(Dd3dError);
  });
});

describe('probe folders', () => {
  it('save then load is bitwise identical', () => {
    const out = path.join(tmp, 'roundtrip');
    probe.save(out);
    expect(fs.readFileSync(path.join(out, WEIGHTS_FILE)).equals(fs.readFileSync(path.join(shipped, WEIGHTS_FILE)))).toBe(true);
    expect(fs.readFileSync(path.join(out, CONFIG_FILE), 'utf8')).toBe(fs.readFileSync(path.join(shipped, CONFIG_FILE), 'utf8'));
    const back = loadProbe(out);
    const a = probe.weights();
    const b = back.weights();
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, w] of a) expect(Buffer.from(b.get(k)!.buffer).equals(Buffer.from(w.buffer)), k).toBe(true);
    const images = ds.get(3).image;
    expect(back.logits(images).dataSync()).toEqual(probe.logits(images).dataSync());
    back.dispose();
  });

  it('bad folders are one-line Dd3dErrors naming the file', () => {
    const bad = (name: string, files: Record<string, string | Buffer | null>) => {
      const dir = path.join(tmp, name);
      fs.mkdirSync(dir, { recursive: true });
      for (const f of [CONFIG_FILE, WEIGHTS_FILE]) fs.copyFileSync(path.join(shipped, f), path.join(dir, f));
      for (const [f, body] of Object.entries(files)) {
        if (body === null) fs.rmSync(path.join(dir, f));
        else fs.writeFileSync(path.join(dir, f), body);
      }
      return dir;
    };
    const cfg = JSON.parse(fs.readFileSync(path.join(shipped, CONFIG_FILE), 'utf8'));
    const cases: Array<[string, RegExp]> = [
      [path.join(tmp, 'nope'), /probe folder not found/],
      [path.join(shipped, CONFIG_FILE), /got a file/],
      [bad('no-config', { [CONFIG_FILE]: null }), /config\.json: file not found/],
      [bad('bad-json', { [CONFIG_FILE]: '{"format": ' }), /config\.json: invalid JSON, the file is not valid JSON/],
      [bad('bad-format', { [CONFIG_FILE]: JSON.stringify({ ...cfg, format: 'other' }) }), /not a dd3d probe config/],
      [bad('bad-res', { [CONFIG_FILE]: JSON.stringify({ ...cfg, res: 48 }) }), /"res" 48: the probe supports resolutions 32 and 64/],
      [
        bad('bad-heads', { [CONFIG_FILE]: JSON.stringify({ ...cfg, attribute_heads: [{ family: 'boat', attribute: 'sail', values: ['one'] }] }) }),
        /attribute_heads\[0\]\.family/,
      ],
      [
        bad('more-classes', { [CONFIG_FILE]: JSON.stringify({ ...cfg, colors: [...cfg.colors, 'teal'] }) }),
        /tensor "head\.color\.weight" has shape \[128,11\], config\.json expects \[128,12\]/,
      ],
      [bad('no-weights', { [WEIGHTS_FILE]: null }), /model\.safetensors: file not found/],
      [bad('junk-weights', { [WEIGHTS_FILE]: Buffer.from('not safetensors') }), /model\.safetensors: header length/],
    ];
    for (const [dir, pattern] of cases) {
      let err: unknown;
      try {
        loadProbe(dir).dispose();
      } catch (e) {
        err = e;
      }
      expect(err, dir).toBeInstanceOf(Dd3dError);
      const msg = (err as Error).message;
      expect(msg, dir).toMatch(pattern);
      expect(msg.includes('\n'), msg).toBe(false);
    }
  });
});

describe('probe training', () => {
  it('is reproducible for a seed (weights bitwise), differs across seeds, and trains at 64 too', async () => {
    const data = loadProbeData(fresh, probe.config);
    const run = async (seed: number) => {
      const r = await trainProbe({ data, epochs: 1, batch: 16, limit: 32, seed });
      const w = r.probe.weights();
      r.probe.dispose();
      expect(r.steps).toBe(2);
      expect(Number.isFinite(r.loss)).toBe(true);
      return w;
    };
    const a = await run(3);
    const b = await run(3);
    const c = await run(4);
    for (const [k, w] of a) expect(Buffer.from(b.get(k)!.buffer).equals(Buffer.from(w.buffer)), k).toBe(true);
    expect(Buffer.from(c.get('stem.weight')!.buffer).equals(Buffer.from(a.get('stem.weight')!.buffer))).toBe(false);

    const r64 = await trainProbe({ data: big, epochs: 1, batch: 4, seed: 1 });
    expect(r64.probe.res).toBe(64);
    expect(r64.probe.config.architecture.convs[0]!.stride).toBe(2);
    const f = r64.probe.features([...SceneDataset.open(big)].map((it) => it.image));
    expect(f.shape).toEqual([8, r64.probe.featureDim]);
    f.dispose();
    r64.probe.dispose();
    await expect(trainProbe({ data: fresh, res: 48 })).rejects.toThrow(/--res 48: the probe supports resolutions 32 and 64/);
  });
});

describe('dd3d probe (CLI)', () => {
  it('eval prints per-head accuracy as JSON; a bad --probe is one error line', () => {
    const r = runCli(['probe', 'eval', '--data', fresh, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.n).toBe(64);
    expect(j.family_acc).toBeGreaterThanOrEqual(0.9);
    expect(Object.keys(j.attr_acc)).toContain('car.spoiler');
    expectOneLineError(runCli(['probe', 'eval', '--data', fresh, '--probe', path.join(tmp, 'missing')]), /probe folder not found/);
    expectOneLineError(runCli(['probe', 'train', '--data', path.join(tmp, 'missing'), '--out', path.join(tmp, 'x')]), /--data .*: folder not found/);
  });
});
