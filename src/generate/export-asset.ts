/**
 * A finished field becomes an asset folder that `dd3d view` reads:
 *
 *   asset.glb       marching cubes on a density grid, floaters dropped, simplified, with
 *                   vertex colours from the albedo field
 *   turntable.png   8 views of the mesh in a row, by the CPU scene renderer
 *   preview.png     the field itself, volume-rendered from the front, side, back and above
 *   manifest.json   what made it (format "dd3d-asset", version 1)
 *
 * Every file is written to a temporary name and renamed; the GLB goes second to last and the
 * manifest last, so a folder with a manifest is complete.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { renderTurntable } from '../../renderers/turntable.js';
import { linearToSrgbTensor, renderVolume, type OccupancyTest } from '../../renderers/volume.js';
import { extractMesh, meshToGroup, type ExtractionStats } from '../../nerf/extract-mesh.js';
import type { RadianceField } from '../../nerf/index.js';
import { frameRadius, sceneCamera } from '../../renderers/camera-rig.js';
import { writeFileAtomic } from '../io/atomic.js';
import { writeBytesPng } from '../io/image.js';
import { extractedToGlbMesh, writeGlb } from '../io/glb.js';
import type { GenerateConfig } from './config.js';
import type { IterationTiming } from './generate-asset.js';

export const ASSET_FORMAT = 'dd3d-asset';

export type ManifestSource =
  /** `component`: the mixture component the instance was drawn from (train-dist --components), absent for one Gaussian. */
  | { kind: 'distribution'; path: string; references: string[]; std_scale: number; view_independent: boolean; component?: number }
  | { kind: 'prompt'; prompt: string };

export interface AssetManifest {
  format: typeof ASSET_FORMAT;
  version: 1;
  glb: string;
  turntable: string;
  preview: string;
  source: ManifestSource;
  model: string;
  seed: number;
  instance: number;
  /** sha-256 prefix of the instance noise ε, so two assets can be checked for sharing an instance. */
  instance_noise_hash: string | null;
  iterations: number;
  seconds: number;
  /** Mean milliseconds per iteration and their split. */
  timing_ms: IterationTiming;
  /** Each loss term (unweighted, as the progress bar shows it) over the iterations that computed it. */
  loss_terms: Record<string, LossTermSummary>;
  mesh: ExtractionStats;
  settings: GenerateConfig;
}

export interface LossTermSummary {
  /** How many iterations computed the term (the fit's terms only run for --fit-iters). */
  iterations: number;
  first: number;
  /** Mean over the last tenth of those iterations (at least one), steadier than the noisy last value. */
  final: number;
}

export function summarizeLossTerms(terms: Record<string, number[]>): Record<string, LossTermSummary> {
  const out: Record<string, LossTermSummary> = {};
  for (const [name, values] of Object.entries(terms)) {
    // the guidance's other statistics (SDS's timestep t) are progress-bar context, not loss terms
    if (!name.startsWith('loss_') || values.length === 0) continue;
    const tail = values.slice(-Math.max(1, Math.round(values.length / 10)));
    const round = (x: number) => Number(x.toPrecision(4));
    out[name] = { iterations: values.length, first: round(values[0]!), final: round(tail.reduce((a, b) => a + b, 0) / tail.length) };
  }
  return out;
}

/** Reads a tensor made inside tidy (returning a typed array from tidy is slow: tidy walks it). */
function read(make: () => tf.Tensor): Float32Array {
  const t = tf.tidy(make);
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return data;
}

/** The field's density and albedo as plain functions of points, in batches without gradients. */
function fieldSamplers(field: RadianceField) {
  const points = (p: Float32Array) => tf.tensor2d(p, [p.length / 3, 3]);
  return {
    density: (p: Float32Array) => read(() => field.density(points(p))),
    albedo: (p: Float32Array) => read(() => field.query(points(p)).albedo),
  };
}

/** The four view phrases' cameras at RING_CAMERA's fov and framing (unrounded): front, side, back, overhead. */
const PREVIEW_CAMERAS = [
  { azimuth: 0, elevation: 15 },
  { azimuth: 90, elevation: 15 },
  { azimuth: 180, elevation: 15 },
  { azimuth: 30, elevation: 75 },
].map((c) => ({ ...c, fov: 55, radius: frameRadius(55, 1.15) }));

/** The field, lit, from the four preview cameras: sRGB bytes [size, 4·size, 3]. */
function previewStrip(
  field: RadianceField,
  size: number,
  samplesPerRay: number,
  occupancy?: OccupancyTest,
): { data: Uint8Array; width: number; height: number } {
  const width = size * PREVIEW_CAMERAS.length;
  const data = new Uint8Array(width * size * 3);
  PREVIEW_CAMERAS.forEach((c, v) => {
    const px = read(() => {
      const r = renderVolume(field, sceneCamera(c), { width: size, height: size, samplesPerRay, shading: 'lambertian', occupancy });
      return tf.round(tf.mul(linearToSrgbTensor(r.rgb), 255));
    });
    for (let y = 0; y < size; y++) for (let x = 0; x < size * 3; x++) data[(y * width + v * size) * 3 + x] = px[y * size * 3 + x]!;
  });
  return { data, width, height: size };
}

export async function writePreviewPng(file: string, field: RadianceField, size: number, samplesPerRay: number, occupancy?: OccupancyTest): Promise<void> {
  await writeBytesPng(file, { ...previewStrip(field, size, samplesPerRay, occupancy), channels: 3 });
}

export interface ExportInput {
  dir: string;
  field: RadianceField;
  occupancy?: OccupancyTest;
  config: GenerateConfig;
  manifest: Omit<AssetManifest, 'format' | 'version' | 'glb' | 'turntable' | 'preview' | 'mesh' | 'settings'>;
}

export async function exportAsset(o: ExportInput): Promise<AssetManifest> {
  const samplers = fieldSamplers(o.field);
  const mesh = await extractMesh({
    density: samplers.density,
    albedo: samplers.albedo,
    bound: o.field.bound,
    resolution: o.config.mesh.resolution,
    targetTriangles: o.config.mesh.targetTriangles,
    threshold: o.config.mesh.level,
  });
  // the pictures first (seconds of rendering), then the GLB and the manifest back to back, so
  // that `dd3d view`, which lists every GLB, sees a GLB without its manifest for milliseconds
  const group = meshToGroup(mesh, 'asset');
  await writeBytesPng(path.join(o.dir, 'turntable.png'), renderTurntable(group, { views: 8, size: 128 }));
  await writePreviewPng(path.join(o.dir, 'preview.png'), o.field, 64, o.config.samplesPerRay, o.occupancy);
  await writeGlb(path.join(o.dir, 'asset.glb'), [extractedToGlbMesh(mesh, 'asset')], {
    name: 'dd3d asset',
    extras: { seed: o.manifest.seed, instance: o.manifest.instance },
  });
  const manifest: AssetManifest = {
    format: ASSET_FORMAT,
    version: 1,
    glb: 'asset.glb',
    turntable: 'turntable.png',
    preview: 'preview.png',
    ...o.manifest,
    mesh: mesh.stats,
    settings: o.config,
  };
  writeFileAtomic(path.join(o.dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
