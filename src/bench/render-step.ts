/**
 * `npm run bench -- render`: the render side of one multi-view score-distillation iteration,
 * without the UNet: V views of a ring at res×res, `samplesPerRay` samples, lambertian shading
 * (finite-difference normals), the occupancy grid with generate's two cells of dilation, a
 * fresh grid field (the blob), and a loss that stands in for the SDS one (Σ sRGB(render) · r,
 * r a seeded normal image per iteration) plus the orientation and sparsity regularizers, so
 * the backward pass runs through everything the real loss reaches. Each iteration's time is
 * split as generateAsset's `timing` splits it: render (the renders and their sRGB) and
 * backprop (the loss and tf.variableGrads' backward pass).
 *
 * Both wall and CPU time (process.cpuUsage: user + system of the whole process) are reported.
 * On a machine shared with another job the wall time mostly measures the scheduler; the CPU
 * time is what an A/B comparison should look at. Numbers only, never asserted.
 */
import * as tf from '@tensorflow/tfjs';
import { createField, OccupancyGrid } from '../../nerf/index.js';
import { MULTIVIEW_CAMERA_RANGES, cameraRing, sceneCamera } from '../../renderers/camera-rig.js';
import { linearToSrgbTensor, planSamples, renderVolume, type VolumeShading } from '../../renderers/volume.js';
import { GENERATE_DEFAULTS } from '../generate/config.js';
import { orientationLoss } from '../generate/regularizers.js';
import { cameraAt, lightAt } from '../generate/schedules.js';

export interface RenderStepOptions {
  views?: number;
  res?: number;
  samplesPerRay?: number;
  shading?: VolumeShading;
  /** Occupancy dilation in cells; default 2 (generate's). */
  dilation?: number;
  seed?: number;
}

export interface RenderStepTiming {
  renderMs: number;
  backpropMs: number;
  renderCpuMs: number;
  backpropCpuMs: number;
  loss: number;
}

export interface RenderStepCase {
  /** Live samples per view of the first iteration's ring. */
  live: number[];
  /** One iteration (a new ring, jitter, light and r each call, all from the iteration number). */
  step(): RenderStepTiming;
  /** The gradients of iteration `iter`'s loss, by variable name (for comparing two implementations). */
  gradients(iter: number): Map<string, Float32Array>;
  dispose(): void;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export function renderStepCase(opts: RenderStepOptions = {}): RenderStepCase {
  const views = opts.views ?? 4;
  const res = opts.res ?? 32;
  const samplesPerRay = opts.samplesPerRay ?? GENERATE_DEFAULTS.samplesPerRay;
  const shading = opts.shading ?? 'lambertian';
  const seed = opts.seed ?? 1;
  const field = createField({ kind: 'grid' }, seed);
  const occupancy = new OccupancyGrid(field.bound, { dilation: opts.dilation ?? 2 });
  occupancy.update(field, seed);
  const vars = field.variables();
  const names = [...vars.values()];
  let iter = 0;

  const run = (at: number, timing: RenderStepTiming) => {
    const ring = cameraRing(cameraAt(at, seed, MULTIVIEW_CAMERA_RANGES), views);
    const cameras = ring.map((c) => sceneCamera(c));
    return tf.variableGrads(() => {
      const w0 = performance.now();
      const c0 = cpuMs();
      const renders = cameras.map((camera, v) =>
        renderVolume(field, camera, {
          width: res,
          height: res,
          samplesPerRay,
          jitterSeed: 1000 * at + v,
          shading,
          light: { position: lightAt(GENERATE_DEFAULTS.light, ring[v]!, at, seed), ambient: GENERATE_DEFAULTS.light.ambient },
          occupancy,
          normals: shading === 'albedo' ? 'none' : 'finite-difference',
        }),
      );
      const images = tf.stack(renders.map((r) => linearToSrgbTensor(r.rgb)));
      timing.renderMs += performance.now() - w0;
      timing.renderCpuMs += cpuMs() - c0;
      const r = tf.randomNormal(images.shape, 0, 1, 'float32', at + 1);
      let loss = tf.sum(tf.mul(images, r));
      if (shading !== 'albedo') {
        const orient = tf.div(tf.addN(renders.map((x, v) => orientationLoss(x.normal, cameras[v]!, res))), views);
        loss = tf.add(loss, tf.mul(orient, GENERATE_DEFAULTS.lambda.orient));
      }
      const sparsity = tf.div(tf.addN(renders.map((x) => tf.mean(x.opacity))), views);
      return tf.add(loss, tf.mul(sparsity, GENERATE_DEFAULTS.lambda.sparsity)) as tf.Scalar;
    }, names);
  };

  const live = cameraRing(cameraAt(0, seed, MULTIVIEW_CAMERA_RANGES), views).map(
    (c) => planSamples(sceneCamera(c), field.bound, { width: res, height: res, samplesPerRay, occupancy }).live,
  );

  return {
    live,
    step() {
      const timing: RenderStepTiming = { renderMs: 0, backpropMs: 0, renderCpuMs: 0, backpropCpuMs: 0, loss: 0 };
      const w0 = performance.now();
      const c0 = cpuMs();
      const { value, grads } = run(iter++, timing);
      timing.backpropMs = performance.now() - w0 - timing.renderMs;
      timing.backpropCpuMs = cpuMs() - c0 - timing.renderCpuMs;
      timing.loss = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      return timing;
    },
    gradients(at) {
      const timing: RenderStepTiming = { renderMs: 0, backpropMs: 0, renderCpuMs: 0, backpropCpuMs: 0, loss: 0 };
      const { value, grads } = run(at, timing);
      const out = new Map<string, Float32Array>();
      for (const [name, v] of vars) out.set(name, grads[v.name]!.dataSync() as Float32Array);
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    },
    dispose() {
      field.dispose();
    },
  };
}

/** Median of a list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
