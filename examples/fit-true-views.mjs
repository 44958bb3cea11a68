// Fits the field to the V true views of one record of a multi-view dataset (the fast path's fit
// with perfect targets): how good the photometric fit can be. Writes an asset folder.
// Usage: node examples/fit-true-views.mjs DATASET RECORD OUT_DIR ITERS [MODEL]
// e.g.   node examples/fit-true-views.mjs data/mv32 19 out/fit 200   (record 19 of --seed 0 is a pink chair)
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/src/backend/backend.js';
import { SceneDataset } from '../dist/src/dataset/scene-dataset.js';
import { DiffusionModel } from '../dist/src/pipeline/diffusion-model.js';
import { generateAsset } from '../dist/src/generate/generate-asset.js';
import { GENERATE_DEFAULTS } from '../dist/src/generate/config.js';
import { viewConditions } from '../dist/src/generate/view-conditions.js';
import { exportAsset } from '../dist/src/generate/export-asset.js';
const [data, record, out, iters] = process.argv.slice(2);
await initBackend('wasm');
const ds = SceneDataset.open(data);
const V = ds.views, r = Number(record);
const items = Array.from({ length: V }, (_, v) => ds.get(r * V + v));
console.log(items[0].record.caption);
const res = ds.res;
const px = new Float32Array(V * res * res * 3);
items.forEach((it, v) => it.image.forEach((b, k) => (px[v * res * res * 3 + k] = b / 255)));
const model = DiffusionModel.load(process.argv[6] ?? 'models/dd3d-tiny');
const conditions = viewConditions(model, { kind: 'prompt', prompt: 'a chair' });
const config = { ...GENERATE_DEFAULTS, iters: Number(iters), fitIters: Number(iters), views: 1, previewEvery: 0 };
fs.mkdirSync(out, { recursive: true });
const t0 = performance.now();
const result = await generateAsset({ model, conditions, config, seed: 1, dir: out, resume: false, targets: { cameras: items.map((i) => i.record.camera), images: tf.tensor4d(px, [V, res, res, 3]) } });
console.log('fit s', ((performance.now() - t0) / 1000).toFixed(1), 'timing', JSON.stringify(result.timing), 'last loss', result.losses.slice(-4));
await exportAsset({ dir: out, field: result.field, occupancy: result.occupancy, config, manifest: { source: { kind: 'prompt', prompt: 'gt' }, model: 'x', seed: 0, instance: 0, instance_noise_hash: null, iterations: result.iterations, seconds: 0, timing_ms: result.timing } });
