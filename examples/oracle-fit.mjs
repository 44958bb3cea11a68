// The fast path's fit with perfect target views: the world's own renders of a reference GLB
// (as the dataset draws them: sRGB over white, 3×3 supersampled, the model's image size) at the
// ring `sample --views` draws by default (front, elevation 15°, fov 55°), in place of the multi-view
// model's samples. What the fit makes of them is the floor of the fast path: no model of that
// image size can give better views than these. SIZE other than the model's renders the targets
// and the field at SIZE (what a model of that size would give the fit). Writes OUT/asset-000
// (asset.glb, turntable.png, target-views.png) and prints the Chamfer distance of the asset to
// the reference, as eval-3d measures it.
// ELEV=DEG moves the ring to that elevation; ELEV=DEG,DEG,… fits one ring per elevation.
// FIELD='{"maxResolution":128}' overrides the grid field's settings (nerf/grid-field.ts) and
// SAMPLES=N the samples per ray, to see whether the field or the views limit the fit.
// Usage: [ELEV=DEG[,DEG…]] [FIELD=JSON] [SAMPLES=N] node examples/oracle-fit.mjs MODEL_DIR REF.glb OUT_DIR [ITERS [SIZE]]
//        (defaults: the fit's 150 iterations, the model's image size, elevation 15°)
// e.g.   node examples/oracle-fit.mjs models/dd3d-mv examples/chair-refs/ref-011.glb oracle/ 300 64
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/src/backend/backend.js';
import { loadModel } from '../dist/src/cli/model-flag.js';
import { DATASET_SUPERSAMPLE } from '../dist/src/dataset/scene-dataset.js';
import { chamferDistance, shapeCloud } from '../dist/src/eval/chamfer.js';
import { defaultViews, GENERATE_DEFAULTS, MULTIVIEW_DEFAULTS } from '../dist/src/generate/config.js';
import { exportAsset } from '../dist/src/generate/export-asset.js';
import { generateAsset } from '../dist/src/generate/generate-asset.js';
import { viewConditions } from '../dist/src/generate/view-conditions.js';
import { readGlbMeshes, meshesToGroup } from '../dist/src/io/glb-read.js';
import { writePng } from '../dist/src/io/image.js';
import { cameraRing, RING_CAMERA, sceneCamera } from '../dist/renderers/camera-rig.js';
import { renderScene, toRGB8 } from '../dist/renderers/index.js';

const [modelDir, ref, out, itersArg, sizeArg] = process.argv.slice(2);
if (!modelDir || !ref || !out) throw new Error('usage: node examples/oracle-fit.mjs MODEL_DIR REF.glb OUT_DIR [ITERS [SIZE]]');
await initBackend();
const model = loadModel(modelDir);
const views = defaultViews(model.unet);
const size = Number(sizeArg ?? model.defaultSize[0]);
const iters = Number(itersArg ?? MULTIVIEW_DEFAULTS.fitIters);
// the fit alone: every iteration a photometric fit, so SDS's settings do not enter
const config = {
  ...GENERATE_DEFAULTS,
  views,
  iters,
  fitIters: iters,
  res: size,
  previewEvery: 0,
  field: { ...GENERATE_DEFAULTS.field, ...JSON.parse(process.env.FIELD ?? '{}') },
  samplesPerRay: Number(process.env.SAMPLES ?? GENERATE_DEFAULTS.samplesPerRay),
};

const refMeshes = await readGlbMeshes(ref);
const group = meshesToGroup(refMeshes);
const elevations = (process.env.ELEV ?? String(RING_CAMERA.elevation)).split(',').map(Number);
const cameras = elevations.flatMap((elevation) => cameraRing({ ...RING_CAMERA, elevation }, views));
const pixels = new Float32Array(cameras.length * size * size * 3);
cameras.forEach((camera, v) => {
  const bytes = toRGB8(renderScene(group, sceneCamera(camera), { width: size, height: size, supersample: DATASET_SUPERSAMPLE }));
  for (let i = 0; i < bytes.length; i++) pixels[v * bytes.length + i] = bytes[i] / 255;
});
const dir = path.join(out, 'asset-000');
fs.mkdirSync(dir, { recursive: true });
await writePng(path.join(dir, 'target-views.png'), { data: pixels, n: cameras.length, height: size, width: size, channels: 3 }, views);

// the condition is never used by the fit; the loop builds its SDS guidance from it all the same (any prompt the model's tokenizer knows)
const conditions = viewConditions(model, { kind: 'prompt', prompt: 'a chair' });
const targets = { cameras, images: tf.tensor4d(pixels, [cameras.length, size, size, 3]) };
const seed = 0;
const result = await generateAsset({ model, conditions, config, seed, targets, dir, resume: false });
await exportAsset({
  dir,
  field: result.field,
  occupancy: result.occupancy,
  config,
  manifest: {
    source: { kind: 'prompt', prompt: `oracle fit to ${ref}` },
    model: modelDir,
    seed,
    instance: 0,
    instance_noise_hash: null,
    iterations: result.iterations,
    seconds: Math.round(result.seconds * 10) / 10,
    timing_ms: result.timing,
    loss_terms: {},
  },
});
fs.rmSync(path.join(dir, 'checkpoint'), { recursive: true, force: true });
const chamfer = chamferDistance(shapeCloud(await readGlbMeshes(path.join(dir, 'asset.glb'))), shapeCloud(refMeshes));
console.log(`${ref}: ${cameras.length} views of ${size} px, ${iters} fit iterations, ${result.seconds.toFixed(1)} s: Chamfer ${chamfer.toFixed(3)}`);
