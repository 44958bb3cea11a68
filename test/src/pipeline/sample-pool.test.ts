/**
 * sample, eval-2d and eval-prompt on several threads (issue #10, "both cores on every long command"): the
 * instances split between the main thread and worker threads give the 1-thread run's images,
 * byte for byte, even where the split changes how images are grouped into UNet batches. The
 * workers run compiled code: build (npm run build) before this file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { sampleAndProbe } from '../../../src/eval/sample-and-probe.js';
import { builtinModelDir, builtinProbeDir } from '../../../src/paths.js';
import { DiffusionModel } from '../../../src/pipeline/diffusion-model.js';
import { loadProbe } from '../../../src/probe/index.js';
import { exportTinyModel } from '../../../src/train/export.js';
import { allVariables, buildTinyModel } from '../../../src/train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../../../src/train/pretrain-configs.js';
import { runCli } from '../../helpers/cli.js';
import { FIXTURES } from '../../helpers/fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-sample-workers-'));
const mvDir = path.join(tmp, 'mv');

beforeAll(async () => {
  await initBackend('wasm');
  const config = PRETRAIN_CONFIGS['test-mv']!;
  const m = buildTinyModel(config, 4);
  exportTinyModel(mvDir, m, allVariables(m), config, {});
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs `sample` into a folder with 1 and with 2 workers; returns both folders' PNGs. */
function sampleBoth(name: string, args: string[]): { one: Buffer[]; two: Buffer[]; stderr: string } {
  const pngs = (dir: string) =>
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.png'))
      .sort()
      .map((f) => fs.readFileSync(path.join(dir, f)));
  const runs = [1, 2].map((w) => {
    const out = path.join(tmp, `${name}-${w}`);
    const r = runCli(['sample', ...args, '--seed', '3', '--workers', String(w), '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    return { pngs: pngs(out), stderr: r.stderr };
  });
  return { one: runs[0]!.pngs, two: runs[1]!.pngs, stderr: runs[1]!.stderr };
}

describe('sample --workers', () => {
  it("writes the 1-worker run's PNGs byte for byte, and says it runs on 2 workers", () => {
    // 5 images in batches of 4: one thread batches {0–3}, {4}; two threads {0, 1} and {2–4}
    const { one, two, stderr } = sampleBoth('builtin', ['--prompt', 'a red chair, front view', '--n', '5', '--batch', '4', '--steps', '3']);
    expect(one.length).toBe(5);
    expect(two).toEqual(one);
    expect(stderr).toMatch(/sample: 5 images on 2 workers/);
    // the images differ from each other: each has its own noise
    expect(new Set(one.map((b) => b.toString('base64'))).size).toBe(5);
  });

  it('does so for a latent model and for the views of a multi-view model', () => {
    const latent = sampleBoth('latent', ['--model', path.join(FIXTURES, 'sd1-tiny'), '--prompt', 'a photo', '--n', '3', '--batch', '2', '--steps', '2']);
    expect(latent.one.length).toBe(3);
    expect(latent.two).toEqual(latent.one);
    // 3 instances of 4 views, 2 instances per UNet batch
    const mv = sampleBoth('mv', ['--model', mvDir, '--prompt', 'a red chair', '--views', '4', '--n', '3', '--batch', '8', '--steps', '2']);
    expect(mv.one.length).toBe(12);
    expect(mv.two).toEqual(mv.one);
    expect(mv.stderr).toMatch(/sample: 3 instances of 4 views on 2 workers/);
  });
});

describe("eval-2d's sampling on workers", () => {
  it('gives the same probe predictions and features on 1 and 2 threads', async () => {
    const model = DiffusionModel.load(builtinModelDir());
    const probe = loadProbe(builtinProbeDir());
    const states = model.encodePrompts(['a blue chair']);
    const conditions = (_first: number, count: number) => tf.tile(states, [count, 1, 1]) as tf.Tensor3D;
    const settings = { n: 5, steps: 3, guidance: 3, seed: 2, batch: 4 };
    const progress: number[] = [];
    const one = await sampleAndProbe(model, probe, conditions, { ...settings, workers: 1 });
    const two = await sampleAndProbe(model, probe, conditions, { ...settings, workers: 2, onProgress: (done) => progress.push(done) });
    expect(two.features).toEqual(one.features);
    expect(two.predictions).toEqual(one.predictions);
    expect(progress.at(-1)).toBe(5);
    // attributesOf reads every image of these chairs with the lamp's heads (shade colour, …)
    const lampHeads = probe.config.attribute_heads.filter((h) => h.family === 'lamp').map((h) => h.attribute);
    expect(lampHeads).toContain('shade_color');
    expect(one.predictions.some((p) => p.family !== 'lamp')).toBe(true); // else the heads would be the lamp's anyway
    const lamps = await sampleAndProbe(model, probe, conditions, { ...settings, attributesOf: 'lamp' });
    expect(lamps.predictions.map((p) => p.color)).toEqual(one.predictions.map((p) => p.color));
    for (const p of lamps.predictions) expect(Object.keys(p.attributes).sort()).toEqual([...lampHeads].sort());
    tf.dispose(states);
    model.dispose();
    probe.dispose();
  });
});

describe('eval-prompt --workers', () => {
  it("prints the 1-worker run's scores on 2 workers", () => {
    const args = ['eval-prompt', '--prompt', 'a red chair, front view', '--prompt', 'a blue lamp', '--n', '5', '--steps', '3', '--seed', '4'];
    const one = runCli([...args, '--workers', '1', '--json']);
    const two = runCli([...args, '--workers', '2', '--json']);
    expect(one.status, one.stderr).toBe(0);
    expect(two.status, two.stderr).toBe(0);
    const [a, b] = [JSON.parse(one.stdout), JSON.parse(two.stdout)];
    expect(b).toEqual(a);
    expect(a.n).toBe(10);
    expect(a.prompts.map((p: { diversity: number }) => p.diversity).every((d: number) => d > 0)).toBe(true);
  });
});
