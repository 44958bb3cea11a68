// How much could a camera tell a multi-view model? The share of a family's pixel variance that
// the azimuth alone explains: the mean squared distance of its images (in [−1, 1]) to the
// family's mean image, and to the mean image of their 45° azimuth bin. At the last timesteps a
// v-prediction model predicts about −x0 from pure noise, so its loss there can fall by about
// this share once it uses the camera (examples/camera-use.mjs measures how much it does).
// Usage: node examples/camera-oracle.mjs DATASET [FAMILY...] [--images N=4000]
// e.g.   node examples/camera-oracle.mjs data/mv32 car chair sofa lamp
import { SceneDataset } from '../dist/src/dataset/scene-dataset.js';

const args = process.argv.slice(2);
const at = args.indexOf('--images');
const limit = at >= 0 ? Number(args.splice(at, 2)[1]) : 4000;
const [data, ...families] = args;
if (!data || !(limit > 0)) throw new Error('usage: node examples/camera-oracle.mjs DATASET [FAMILY...] [--images N]');
const ds = SceneDataset.open(data);
const [V, P, BINS] = [ds.views, ds.res * ds.res * 3, 8];
for (const family of families.length ? families : ds.settings.families) {
  const images = [];
  const bins = [];
  for (let r = 0; r * V < ds.length && images.length < limit; r++) {
    if (ds.get(r * V).record.attributes.family !== family) continue;
    for (let v = 0; v < V; v++) {
      const it = ds.get(r * V + v);
      images.push(Float32Array.from(it.image, (b) => b / 127.5 - 1));
      bins.push(Math.floor((((it.record.camera.azimuth % 360) + 360 + 22.5) % 360) / 45) % BINS);
    }
  }
  const mean = new Float64Array(P);
  const binMean = Array.from({ length: BINS }, () => new Float64Array(P));
  const count = new Array(BINS).fill(0);
  images.forEach((x, i) => {
    for (let k = 0; k < P; k++) (mean[k] += x[k] / images.length), (binMean[bins[i]][k] += x[k]);
    count[bins[i]]++;
  });
  binMean.forEach((m, b) => m.forEach((_, k) => (m[k] /= Math.max(1, count[b]))));
  let [aroundFamily, aroundBin] = [0, 0];
  images.forEach((x, i) => {
    for (let k = 0; k < P; k++) (aroundFamily += (x[k] - mean[k]) ** 2), (aroundBin += (x[k] - binMean[bins[i]][k]) ** 2);
  });
  const n = images.length * P;
  console.log(`${family}: ${images.length} images; to the family mean ${(aroundFamily / n).toFixed(4)}, to the azimuth bin's mean ${(aroundBin / n).toFixed(4)}: the azimuth explains ${((1 - aroundBin / aroundFamily) * 100).toFixed(1)}%`);
}
