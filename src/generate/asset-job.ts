/**
 * One asset of `dd3d generate`, start to finish, as a self-contained job: conditions for the
 * instance, the fast path's target views, the optimization, the export, the manifest. The
 * CLI's serial loop and its worker threads (asset-pool.ts) run this one function, so parallel
 * runs give exactly the serial run's assets: everything an asset draws comes from
 * (run seed, instance), never from which thread ran it or when.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deriveSeed } from '../core/random.js';
import type { PromptDistribution } from '../distribution/distribution-file.js';
import { listReferenceImages } from '../distribution/reference-images.js';
import { writePng } from '../io/image.js';
import type { DiffusionModel } from '../pipeline/diffusion-model.js';
import type { GenerateConfig } from './config.js';
import { exportAsset, summarizeLossTerms, writePreviewPng, type ManifestSource } from './export-asset.js';
import { generateAsset, type IterationTiming, type IterStats } from './generate-asset.js';
import { sampleTargetViews, type TargetViews } from './target-views.js';
import { viewConditions, type ConditionSource } from './view-conditions.js';

/** An instance's asset folder under a run's --out (generate, its --resume and the queue share them). */
export const assetName = (instance: number): string => `asset-${String(instance).padStart(3, '0')}`;
/** The names assetName gives. */
export const ASSET_NAME = /^asset-\d{3}$/;

/**
 * Copies the distribution's reference images (train-dist records their folder) into
 * <out>/references, so a run's folder shows the assets beside what they were learned from
 * (dd3d view's compare). Returns their paths relative to `out`; none when the folder is gone.
 */
export function copyReferences(dist: PromptDistribution, out: string): string[] {
  const refs = (dist.training as { references?: { dir?: unknown } }).references;
  if (!refs || typeof refs.dir !== 'string' || !fs.existsSync(refs.dir)) return [];
  fs.mkdirSync(path.join(out, 'references'), { recursive: true });
  return listReferenceImages(refs.dir).map((file) => {
    const rel = path.join('references', path.basename(file));
    fs.copyFileSync(file, path.join(out, rel));
    return rel;
  });
}

export interface AssetJob {
  /** The asset's folder, <out>/asset-NNN. */
  dir: string;
  instance: number;
  /** The run's seed; the asset's own is derived from it and the instance. */
  seed: number;
  config: GenerateConfig;
  source: { kind: 'distribution'; path: string; stdScale: number; references: string[] } | { kind: 'prompt'; prompt: string };
  /** As the manifest records it. */
  modelDir: string;
  /** The model's own sampling settings, for the fast path's target views. */
  sampling: { steps: number; guidance: number };
  resume: boolean;
}

export interface AssetJobResult {
  dir: string;
  iterations: number;
  seconds: number;
  timing_ms: IterationTiming;
  triangles: number;
  /** SDS gradient elements that were NaN/Inf and were zeroed. */
  nonFinite: number;
}

export async function runAssetJob(
  model: DiffusionModel,
  dist: PromptDistribution | null,
  job: AssetJob,
  onIter?: (iter: number, iters: number, stats: IterStats) => void,
): Promise<AssetJobResult> {
  const { dir, config } = job;
  fs.mkdirSync(dir, { recursive: true });
  const source: ConditionSource =
    job.source.kind === 'distribution'
      ? { kind: 'distribution', file: job.source.path, dist: dist!, stdScale: job.source.stdScale, instance: job.instance, seed: job.seed }
      : { kind: 'prompt', prompt: job.source.prompt };
  const conditions = viewConditions(model, source);
  const assetSeed = deriveSeed(job.seed, `asset/${job.instance}`);
  let targets: TargetViews | undefined;
  try {
    targets = config.fitIters > 0 ? sampleTargetViews(model, conditions, config.views, job.sampling, assetSeed) : undefined;
    if (targets) await writeTargetViews(path.join(dir, 'target-views.png'), targets);
    const result = await generateAsset({
      model,
      conditions,
      config,
      seed: assetSeed,
      targets,
      dir,
      resume: job.resume,
      onIter,
      onPreview: (iter, field, occupancy) => {
        fs.mkdirSync(path.join(dir, 'previews'), { recursive: true });
        return writePreviewPng(path.join(dir, 'previews', `iter-${String(iter).padStart(5, '0')}.png`), field, 64, config.samplesPerRay, occupancy);
      },
    });
    const manifestSource: ManifestSource =
      job.source.kind === 'distribution'
        ? {
            kind: 'distribution',
            path: job.source.path,
            references: job.source.references.map((r) => path.relative(dir, r)),
            std_scale: job.source.stdScale,
            view_independent: conditions.viewIndependent,
            ...(conditions.component !== null && { component: conditions.component }),
          }
        : { kind: 'prompt', prompt: job.source.prompt };
    try {
      const manifest = await exportAsset({
        dir,
        field: result.field,
        occupancy: result.occupancy,
        config,
        manifest: {
          source: manifestSource,
          model: job.modelDir,
          seed: job.seed,
          instance: job.instance,
          instance_noise_hash: conditions.instanceHash,
          iterations: result.iterations,
          seconds: Math.round(result.seconds * 10) / 10,
          timing_ms: roundTiming(result.timing),
          loss_terms: summarizeLossTerms(result.terms),
        },
      });
      fs.rmSync(path.join(dir, 'checkpoint'), { recursive: true, force: true });
      return {
        dir,
        iterations: manifest.iterations,
        seconds: manifest.seconds,
        timing_ms: manifest.timing_ms,
        triangles: manifest.mesh.triangles,
        nonFinite: result.nonFinite,
      };
    } finally {
      result.dispose();
    }
  } finally {
    conditions.dispose();
    targets?.images.dispose();
  }
}

function roundTiming(t: IterationTiming): IterationTiming {
  const r = (x: number) => Math.round(x * 10) / 10;
  return { render: r(t.render), unet: r(t.unet), backprop: r(t.backprop), optimizer: r(t.optimizer), total: r(t.total) };
}

/** The fast path's sampled views, in a row, beside the asset (what the field was fitted to). */
export async function writeTargetViews(file: string, targets: TargetViews): Promise<void> {
  const [n, height, width] = targets.images.shape;
  await writePng(file, { data: targets.images.dataSync() as Float32Array, n, height, width, channels: 3 }, n);
}
