// Does a multi-view model use its camera? The denoising loss of the model on true V-view
// records of a multi-view dataset, each view with its own camera ("true"), with every camera
// turned about the vertical axis by 90° or 180°, and with null cameras. A model that draws
// what its camera sees loses accuracy when the cameras are turned; one that ignores them
// does not. Prints the mean loss per timestep and setting, and the rise over "true" in %.
// Captions are the records' without the view phrase, as multi-view training sees them.
// FAMILY keeps the records of one family (every third record from the start, the first RECORDS
// of that family): a mean over all families hides that lamps, vases, trees and tables look
// alike from every azimuth.
// Usage: node examples/camera-use.mjs MODEL_DIR DATASET [RECORDS=32] [TIMESTEPS=300,600,900] [FAMILY]
// e.g.   node examples/camera-use.mjs .scratch/mv-run data/mv32
//        node examples/camera-use.mjs .scratch/mv-run data/mv32 16 600,900,999 car
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/src/backend/backend.js';
import { SceneDataset } from '../dist/src/dataset/scene-dataset.js';
import { DiffusionModel } from '../dist/src/pipeline/diffusion-model.js';
import { cameraBatch } from '../dist/src/models/camera-embedding.js';
import { seededNormal } from '../dist/src/core/seeded-normal.js';

const [modelDir, data, records = '32', timesteps = '300,600,900', family] = process.argv.slice(2);
if (!modelDir || !data) throw new Error('usage: node examples/camera-use.mjs MODEL_DIR DATASET [RECORDS] [TIMESTEPS]');
await initBackend('wasm');
const ds = SceneDataset.open(data);
const [V, res] = [ds.views, ds.res];
const model = DiffusionModel.load(modelDir);
const ddpm = model.trainingScheduler;
const settings = { true: 0, 'turned 90°': 90, 'turned 180°': 180, null: null };
const ts = timesteps.split(',').map(Number);
const N = Number(records);
const total = new Map();
const stride = Math.max(1, Math.floor(ds.length / V / N));
const firsts = [];
if (family === undefined) for (let r = 0; r < N; r++) firsts.push(r * stride);
else for (let r = 0; firsts.length < N && r * V < ds.length; r += 3) if (ds.get(r * V).record.attributes.family === family) firsts.push(r);
if (firsts.length < N) throw new Error(`${data}: only ${firsts.length} records of family "${family}" among every third`);
for (let r = 0; r < N; r++) {
  const items = Array.from({ length: V }, (_, v) => ds.get(firsts[r] * V + v));
  const px = new Float32Array(V * res * res * 3);
  items.forEach((it, v) => it.image.forEach((b, k) => (px[v * res * res * 3 + k] = (b / 255) * 2 - 1)));
  const x0 = tf.tensor4d(px, [V, res, res, 3]);
  const caption = items[0].record.caption.replace(/, (front|side|back|overhead) view$/, '');
  const ctx = model.encodePrompts(Array(V).fill(caption));
  for (const t of ts) {
    const noise = seededNormal(x0.shape, 0, 1, r * 1000 + t);
    const tv = Array(V).fill(t);
    const xt = ddpm.addNoise(x0, noise, tv);
    const target = ddpm.trainingTarget(x0, noise, tv);
    for (const [name, turn] of Object.entries(settings)) {
      const camera = cameraBatch(items.map((it) => (turn === null ? null : { ...it.record.camera, azimuth: it.record.camera.azimuth + turn })));
      const loss = tf.tidy(() => tf.mean(tf.squaredDifference(model.unet.forward(xt, tv, ctx, { camera, views: V }), target)).dataSync()[0]);
      total.set(`${t}|${name}`, (total.get(`${t}|${name}`) ?? 0) + loss / N);
      camera.dispose();
    }
    tf.dispose([noise, xt, target]);
  }
  tf.dispose([x0, ctx]);
}
console.log(`${modelDir}: ${N} records of ${V} views${family ? ` (${family})` : ''}, denoising loss (rise over true cameras)`);
console.log(['t', ...Object.keys(settings)].join('\t'));
for (const t of ts) {
  const base = total.get(`${t}|true`);
  console.log([t, ...Object.keys(settings).map((k) => `${total.get(`${t}|${k}`).toFixed(5)}${k === 'true' ? '' : ` (${(((total.get(`${t}|${k}`) - base) / base) * 100).toFixed(1)}%)`}`)].join('\t'));
}
