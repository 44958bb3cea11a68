// Can a camera pathway express pose? Trains only the camera weights (isCameraKey) of a
// multi-view config, everything else frozen at a model folder's weights, on objects of the
// families whose look depends on the azimuth, at high timesteps (where the picture must come
// from the conditioning), and prints every 50 steps how much the denoising loss of held-out
// records rises when their cameras are turned 90° (t = 600 and 999), as camera-use.mjs does.
// Weights the folder lacks start at zero, as in a fine-tune. Nothing is written but the picture.
// --weights all trains every UNet weight instead (the text encoder stays frozen): which data
// makes a whole model learn to read its camera? --test FAMILY measures on that family's
// held-out objects only (default: the training families'). --picture OUT.png draws, for four
// held-out objects seen from the front first, the truth and the model's x0 at t = 999 with
// true cameras and with cameras turned 90° (one row each, views across).
// Usage: node examples/camera-only-fit.mjs MODEL_DIR DATASET CONFIG [STEPS=150] [LR=1e-2] [T_MIN=700] [FAMILIES=car,chair,sofa]
//          [--weights camera|all] [--test FAMILY] [--picture OUT.png]
// e.g.   node examples/camera-only-fit.mjs .scratch/mvr-5000 data/mv32 mv32l 50
//        node examples/camera-only-fit.mjs .scratch/mvr-5000 data/mv32 mv32l 300 2e-4 800 car --weights all --test car --picture cars.png
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/src/backend/backend.js';
import { SceneDataset } from '../dist/src/dataset/scene-dataset.js';
import { buildTinyModel, loadInitWeights } from '../dist/src/train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../dist/src/train/pretrain-configs.js';
import { DDPMScheduler } from '../dist/src/schedulers/ddpm.js';
import { CAMERA_FEATURES, cameraFeatures, isCameraKey } from '../dist/src/models/camera-embedding.js';
import { AdamW } from '../dist/src/train/adamw.js';
import { mulberry32 } from '../dist/src/core/random.js';
import { seededNormal } from '../dist/src/core/seeded-normal.js';
import { tileGrid, toUint8 } from '../dist/src/io/image.js';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { weights: { type: 'string', default: 'camera' }, test: { type: 'string' }, picture: { type: 'string' } },
});
const [init, data, configName, steps = '150', lr = '1e-2', tMin = '700', families = 'car,chair,sofa'] = positionals;
if (!['camera', 'all'].includes(flags.weights)) throw new Error(`--weights: expected camera or all, got ${flags.weights}`);
const config = PRETRAIN_CONFIGS[configName];
if (!init || !data || !config?.multiview) throw new Error('usage: node examples/camera-only-fit.mjs MODEL_DIR DATASET MULTIVIEW_CONFIG [STEPS] [LR] [T_MIN] [FAMILIES]');
await initBackend('wasm');
const model = buildTinyModel(config, 0);
loadInitWeights(model, init);
const ddpm = DDPMScheduler.fromConfig(config.scheduler);
const ds = SceneDataset.open(data);
const [V, res] = [ds.views, ds.res];
const P = res * res * 3;
const keep = families.split(',');
// every tenth object is held out; those of the --test family (or of the training families) measure
const [train, test] = [[], []];
for (let r = 0; r * V < ds.length && train.length < 3000; r++) {
  const family = ds.get(r * V).record.attributes.family;
  if (r % 10 === 0) {
    if (flags.test === undefined ? keep.includes(family) : family === flags.test) test.push(r);
  } else if (keep.includes(family)) train.push(r);
}
const camera = new Map([...model.unetParams.variables()].filter(([k]) => flags.weights === 'all' || isCameraKey(k)));
for (const [k, v] of model.unetParams.variables()) v.trainable = camera.has(k);
for (const v of model.textParams.variables().values()) v.trainable = false;
const adam = new AdamW(camera, { lr: Number(lr), weightDecay: 0 });

/**
 * The model's output for these objects (all V views each) at timestep t, their cameras turned
 * by `turn` degrees, with what it was computed from. The caller tidies.
 */
function predict(objects, t, turn, seed) {
  const px = new Float32Array(objects.length * V * P);
  const cams = new Float32Array(objects.length * V * CAMERA_FEATURES);
  const captions = [];
  objects.forEach((r, o) => {
    for (let v = 0; v < V; v++) {
      const { image, record } = ds.get(r * V + v);
      image.forEach((b, k) => (px[(o * V + v) * P + k] = b / 127.5 - 1));
      cams.set(cameraFeatures({ ...record.camera, azimuth: record.camera.azimuth + turn }), (o * V + v) * CAMERA_FEATURES);
      captions.push(record.caption.replace(/, (front|side|back|overhead) view$/, ''));
    }
  });
  const n = captions.length;
  const x0 = tf.tensor4d(px, [n, res, res, 3]);
  const noise = seededNormal(x0.shape, 0, 1, seed);
  const ts = Array(n).fill(t);
  const xt = ddpm.addNoise(x0, noise, ts);
  const states = model.text.forward(captions.map((c) => model.tokenizer.call(c).ids));
  const out = model.unet.forward(xt, ts, states.lastHiddenState, { camera: tf.tensor2d(cams, [n, CAMERA_FEATURES]), views: V });
  return { x0, noise, ts, xt, out };
}

/** The denoising loss of these objects at timestep t, their cameras turned by `turn` degrees. */
function loss(objects, t, turn, seed) {
  const { x0, noise, ts, out } = predict(objects, t, turn, seed);
  return tf.mean(tf.squaredDifference(out, ddpm.trainingTarget(x0, noise, ts)));
}

function report(step) {
  const rise = [600, 999].map((t) => {
    const [straight, turned] = [0, 90].map((turn) => {
      let sum = 0;
      for (let i = 0; i < 4; i++) sum += tf.tidy(() => loss(test.slice(4 * i, 4 * i + 4), t, turn, 100 + i).dataSync()[0]);
      return sum / 4;
    });
    return `t = ${t}: loss ${straight.toFixed(5)}, turned 90° +${((turned / straight - 1) * 100).toFixed(1)}%`;
  });
  console.log(`step ${step}: ${rise.join('; ')}`);
}

report(0);
const rng = mulberry32(7);
for (let s = 1; s <= Number(steps); s++) {
  const objects = Array.from({ length: 4 }, () => train[Math.floor(rng.next() * train.length)]);
  const t = Number(tMin) + Math.floor(rng.next() * (1000 - Number(tMin)));
  const { value, grads } = tf.variableGrads(() => loss(objects, t, 0, 1000 + s), [...camera.values()]);
  adam.step(grads);
  tf.dispose([value, ...Object.values(grads)]);
  if (s % 50 === 0) report(s);
}

if (flags.picture) {
  if (ddpm.predictionType !== 'v_prediction') throw new Error(`--picture: reads x0 from a v-prediction model; ${configName} predicts ${ddpm.predictionType}`);
  const t = 999;
  const [sa, sb] = [Math.sqrt(ddpm.schedule.alphasCumprod[t]), Math.sqrt(1 - ddpm.schedule.alphasCumprod[t])];
  const fronts = test.filter((r) => Math.abs(((ds.get(r * V).record.camera.azimuth + 540) % 360) - 180) < 30).slice(0, 4);
  // per object: the truth, then x0 = √ᾱ·x_t − √(1 − ᾱ)·v with true cameras and turned 90°, in [0, 1]
  const rows = tf.tidy(() => {
    const parts = [];
    for (const r of fronts) {
      const [straight, turned] = [0, 90].map((turn) => predict([r], t, turn, r));
      parts.push(straight.x0, ...[straight, turned].map(({ xt, out }) => tf.sub(tf.mul(xt, sa), tf.mul(out, sb))));
    }
    return tf.concat(parts).clipByValue(-1, 1).add(1).div(2);
  });
  const grid = tileGrid({ data: rows.dataSync(), n: rows.shape[0], height: res, width: res, channels: 3 }, V);
  rows.dispose();
  await sharp(toUint8(grid.data), { raw: { width: grid.width, height: grid.height, channels: 3 } })
    .resize(grid.width * 3, grid.height * 3, { kernel: 'nearest' })
    .png()
    .toFile(flags.picture);
  console.log(`wrote ${flags.picture}: per object, rows truth / x0 at t = ${t} with true cameras / turned 90°`);
}
