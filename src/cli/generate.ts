/**
 * `dd3d generate`. It only adds asset folders to --out and never deletes or replaces anything,
 * so its guard is narrower than the output guard's: --out must be new, empty, or an earlier
 * generate folder (continued with --resume), and writable, all checked before the model loads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { FIELDS, type FieldKind } from '../../nerf/index.js';
import { checkDistributionModel, loadDistribution, type PromptDistribution } from '../distribution/distribution-file.js';
import { Dd3dError } from '../core/errors.js';
import {
  defaultViews,
  GENERATE_DEFAULTS,
  isMeshLevel,
  isShadingMix,
  MULTIVIEW_DEFAULTS,
  type BackgroundKind,
  type GenerateConfig,
  type MeshLevel,
  type ShadingMix,
} from '../generate/config.js';
import { ASSET_NAME, assetName, copyReferences, runAssetJob, type AssetJob, type AssetJobResult } from '../generate/asset-job.js';
import { runAssetPool } from '../generate/asset-pool.js';
import { jobWorkers } from '../backend/worker-pool.js';
import type { IterStats } from '../generate/generate-asset.js';
import { checkWritableFolder } from '../io/output-guard.js';
import type { DiffusionModel } from '../pipeline/diffusion-model.js';
import { startBackend } from './common.js';
import { DIST_MODEL_FLAG_HELP, imageSize, loadModel, resolveModelDir, samplingSettings } from './model-flag.js';
import { floatOption, intOption } from './options.js';
import { progressBar } from './progress.js';

/** The flags `generate` and `queue add` share: the source and every setting of the run. */
export interface GenerateSettingsFlags {
  model?: string;
  dist?: string;
  prompt?: string;
  iters?: number;
  views?: number;
  fitIters?: number;
  fitEvery?: number;
  res?: number;
  field: FieldKind;
  samples: number;
  guidance: number;
  stdScale: number;
  gradClip: number;
  background: BackgroundKind;
  lambdaOrient: number;
  lambdaSparsity: number;
  lambdaEntropy: number;
  lambdaPhotometric?: number;
  lr: number;
  meshRes: number;
  meshLevel: MeshLevel;
  shading?: ShadingMix;
  previewEvery: number;
  seed: number;
}

interface GenerateFlags extends GenerateSettingsFlags {
  n: number;
  workers?: number;
  out: string;
  resume?: boolean;
  json?: boolean;
}

const D = GENERATE_DEFAULTS;

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description(
      'text-to-3D: score-distil a small NeRF from the frozen model for each of --n instances of a learned distribution (or a prompt), and export GLB + turntable',
    )
    .option('--model <dir>', DIST_MODEL_FLAG_HELP)
    .option('--dist <file.json>', 'a distribution from train-dist: each asset is one new instance c_v = μ_v + γσ_v ⊙ ε, re-encoded per view')
    .option('--prompt <text>', 'plain text-to-3D instead of --dist (the view phrase is appended per view)')
    .option('--n <count>', 'number of assets (instances)', intOption(1, 1000), 3)
    .option(
      '--iters <n>',
      `iterations per asset (default: ${D.iters}; ${MULTIVIEW_DEFAULTS.iters} with multi-view SDS, which renders V views each)`,
      intOption(1),
    )
    .option(
      '--views <v>',
      "views rendered and denoised jointly per iteration (default: the model's trained V for a multi-view model, else 1; 1 = single-view SDS with view phrases)",
      intOption(1, 64),
    )
    .option(
      '--fit-iters <n>',
      `fast path (multi-view models): sample the instance's V views once and fit the field to them for the first n of --iters iterations, then score-distil (default: ${MULTIVIEW_DEFAULTS.fitIters} with multi-view SDS; 0: SDS only)`,
      intOption(0),
    )
    .option(
      '--fit-every <n>',
      `fast path: after the fit, every n-th iteration fits the target views again instead of distilling, so SDS refines without drifting from them (default: ${MULTIVIEW_DEFAULTS.fitEvery} with the fast path; 0: never)`,
      intOption(0),
    )
    .option(
      '--shading <a,l,t>',
      `chances of an albedo, lambertian and textureless render per SDS iteration after a warm-up of ${D.shading.warmupIters} albedo iterations (default: ${D.shading.albedo},${D.shading.lambertian},${D.shading.textureless}; ${MULTIVIEW_DEFAULTS.shading.albedo},${MULTIVIEW_DEFAULTS.shading.lambertian},${MULTIVIEW_DEFAULTS.shading.textureless} with multi-view SDS)`,
      shadingOption,
    )
    .option('--res <px>', "render size (default: the model's image size, at most 64)", intOption(8, 512))
    .addOption(
      new Option(
        '--field <kind>',
        'the radiance field: a multi-resolution grid, or the Fourier-feature MLP baseline (one file and a registry line each, nerf/)',
      )
        .choices(Object.keys(FIELDS))
        .default(D.field.kind),
    )
    .option('--samples <n>', 'samples per ray', intOption(4, 512), D.samplesPerRay)
    .option('--guidance <scale>', 'classifier-free guidance scale of the SDS call', floatOption(0), D.guidance)
    .option('--std-scale <gamma>', 'γ, the scale of σ (0: the mean instance)', floatOption(0), 1)
    .option('--grad-clip <v>', 'clip every SDS gradient element to ±v (0: off)', floatOption(0), D.gradClip)
    .addOption(
      new Option('--background <kind>', "white (as the built-in model's data), a random solid colour per view, or a learned function of direction")
        .choices(['white', 'random', 'learned'])
        .default(D.background),
    )
    .option('--lambda-orient <w>', 'weight of the orientation loss (normals facing away from the camera)', floatOption(0), D.lambda.orient)
    .option('--lambda-sparsity <w>', 'weight of the mean-opacity loss', floatOption(0), D.lambda.sparsity)
    .option('--lambda-entropy <w>', 'weight of the opacity-entropy loss', floatOption(0), D.lambda.entropy)
    .option(
      '--lambda-photometric <w>',
      `weight of the fast path's fit to its target views against score distillation (matters with --fit-every; default: ${MULTIVIEW_DEFAULTS.lambda.photometric} with multi-view SDS, else ${D.lambda.photometric})`,
      floatOption(0),
    )
    .option('--lr <rate>', 'learning rate of the grid features (the MLPs and background take a tenth)', floatOption(0), D.lr.encoding)
    .option('--mesh-res <n>', 'density grid side for marching cubes', intOption(16, 512), D.mesh.resolution)
    .option(
      '--mesh-level <level>',
      "iso level on density: auto (half the grid's 99.9th percentile, lower when that surface is lace, full of holes), half-max (half the 99.9th percentile alone) or a density > 0",
      meshLevelOption,
      D.mesh.level,
    )
    .option('--preview-every <n>', 'write previews/iter-NNNNN.png every n iterations (0: never)', intOption(0), D.previewEvery)
    .option('--seed <n>', 'seed of the instances (asset i uses instance noise i of this seed), cameras and noise', intOption(0), 0)
    .option(
      '--workers <n>',
      "assets optimized at once, each on its own thread (default: the number that finishes all --n soonest on this machine's cores, e.g. 3 assets on 2 cores run as 3 threads, so the last one does not run alone); the assets equal a serial run's",
      intOption(1, 64),
    )
    .requiredOption('--out <dir>', 'output folder: asset-000/, asset-001/, … each with asset.glb, turntable.png, preview.png, manifest.json')
    .option('--resume', 'continue unfinished assets from their checkpoints and skip finished ones')
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText(
      'after',
      '\nExamples:\n  dd3d generate --dist examples/chair.json --n 3 --out out/\n  dd3d generate --prompt "a red chair" --n 1 --iters 300 --out red-chair/\n  dd3d view out/',
    )
    .action(async (opts: GenerateFlags, cmd: Command) => {
      if (!opts.prompt === !opts.dist) throw new Dd3dError('--prompt/--dist: give exactly one of them');
      const config = settingsFromFlags(opts);
      checkOutFolder(opts.out, Boolean(opts.resume));
      const dist = opts.dist ? loadDistribution(opts.dist) : null;
      const modelDir = resolveModelDir(opts.model, dist ? [dist] : []);
      await startBackend(cmd);
      const model = loadModel(modelDir);
      applyModelSettings(config, opts, model, modelDir, dist);
      const warn = (m: string) => console.error(`dd3d: warning: ${m}`);
      fs.mkdirSync(opts.out, { recursive: true });
      const references = dist ? copyReferences(dist, opts.out).map((r) => path.join(opts.out, r)) : [];
      const jobs: AssetJob[] = [];
      const summaries: Array<Record<string, unknown>> = [];
      for (let i = 0; i < opts.n; i++) {
        const dir = path.join(opts.out, assetName(i));
        if (fs.existsSync(path.join(dir, 'manifest.json'))) {
          summaries[i] = { dir, skipped: true };
          continue;
        }
        jobs.push({
          dir,
          instance: i,
          seed: opts.seed,
          config,
          source: dist ? { kind: 'distribution', path: opts.dist!, stdScale: opts.stdScale, references } : { kind: 'prompt', prompt: opts.prompt! },
          modelDir,
          sampling: samplingSettings({}, model),
          resume: Boolean(opts.resume),
        });
      }
      const workers = Math.max(1, Math.min(opts.workers ?? jobWorkers(jobs.length), jobs.length));
      if (!opts.json) console.error(`generate: ${jobs.length} asset${jobs.length === 1 ? '' : 's'} on ${workers} worker${workers === 1 ? '' : 's'}`);
      // one bar over every asset's iterations
      const bar = progressBar(`${jobs.length} asset${jobs.length === 1 ? '' : 's'}`, jobs.length * config.iters, { quiet: opts.json, resumable: true });
      const progress = new Map<AssetJob, number>();
      const onIter = (job: AssetJob, iter: number, _n: number, s: IterStats) => {
        progress.set(job, iter);
        bar.update(
          [...progress.values()].reduce((a, b) => a + b, 0),
          `${path.basename(job.dir)} ${formatTerms(s.terms)} ${s.view}`,
        );
      };
      const onDone = (job: AssetJob, r: AssetJobResult) => {
        summaries[job.instance] = { dir: r.dir, iterations: r.iterations, seconds: r.seconds, timing_ms: r.timing_ms, triangles: r.triangles };
        if (r.nonFinite > 0) warn(`${r.dir}: ${r.nonFinite} SDS gradient elements were NaN or infinite and were zeroed`);
        if (!opts.json) bar.log(`wrote ${r.dir} (${r.iterations} iterations, ${r.seconds.toFixed(0)} s, ${r.triangles} triangles)`);
      };
      try {
        if (workers > 1) {
          model.dispose();
          await runAssetPool({ modelDir, distPath: opts.dist ?? null }, jobs, workers, onIter, onDone);
        } else {
          for (const job of jobs) onDone(job, await runAssetJob(model, dist, job, (iter, n, s) => onIter(job, iter, n, s)));
        }
      } finally {
        bar.stop();
        if (workers === 1) model.dispose();
      }
      if (opts.json) console.log(JSON.stringify({ out: opts.out, n: opts.n, assets: summaries }));
    });
}

/** --out must be new, empty, or an earlier generate folder (with --resume to continue it). */
function checkOutFolder(out: string, resume: boolean): void {
  if (!fs.existsSync(out)) {
    const parent = path.dirname(path.resolve(out));
    if (!fs.existsSync(parent)) throw new Dd3dError(`--out: the parent folder of ${out} does not exist`);
    checkWritableFolder(parent, '--out');
    return;
  }
  if (!fs.statSync(out).isDirectory()) throw new Dd3dError(`--out: ${out} is a file; give a folder`);
  checkWritableFolder(out, '--out');
  const entries = fs.readdirSync(out).filter((e) => !e.startsWith('.'));
  if (entries.length === 0) return;
  const ours = entries.every((e) => ASSET_NAME.test(e) || e === 'references');
  if (!ours) throw new Dd3dError(`--out: ${out} holds other files; give a new or empty folder`);
  if (!resume) throw new Dd3dError(`--out: ${out} already holds generated assets; pass --resume to continue them, or choose another folder`);
}

/** "sds 1.2e-3 t 512 sparsity 0.41": each loss term for the progress bar, loss_ dropped. */
function formatTerms(terms: Record<string, number>): string {
  return Object.entries(terms)
    .map(([k, v]) => `${k.replace(/^loss_/, '')} ${Number.isInteger(v) ? v : v.toExponential(2)}`)
    .join(' ');
}

function shadingOption(value: string): ShadingMix {
  const [albedo, lambertian, textureless, ...rest] = value.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
  const mix = { albedo: albedo!, lambertian: lambertian!, textureless: textureless! };
  if (rest.length > 0 || !isShadingMix(mix)) throw new InvalidArgumentError('expected three chances ≥ 0 that sum to 1, e.g. 0,0.5,0.5.');
  return mix;
}

function meshLevelOption(value: string): MeshLevel {
  // Number('') is 0, which isMeshLevel refuses like any density ≤ 0
  const level = value === 'auto' || value === 'half-max' ? value : Number(value);
  if (!isMeshLevel(level)) throw new InvalidArgumentError('expected auto, half-max or a density > 0.');
  return level;
}

/** Generate's flags → its settings object (`queue add` uses the same, so a queued asset equals a local one). */
export function settingsFromFlags(opts: GenerateSettingsFlags): GenerateConfig {
  const D = GENERATE_DEFAULTS;
  return {
    ...D,
    field: { kind: opts.field },
    iters: opts.iters ?? D.iters,
    fitIters: opts.fitIters ?? D.fitIters,
    fitEvery: opts.fitEvery ?? D.fitEvery,
    res: opts.res ?? null,
    samplesPerRay: opts.samples,
    guidance: opts.guidance,
    gradClip: opts.gradClip,
    background: opts.background,
    lambda: {
      orient: opts.lambdaOrient,
      sparsity: opts.lambdaSparsity,
      entropy: opts.lambdaEntropy,
      photometric: opts.lambdaPhotometric ?? D.lambda.photometric,
    },
    lr: { encoding: opts.lr, mlp: opts.lr / 10, background: opts.lr / 10 },
    shading: { ...D.shading, ...opts.shading },
    previewEvery: opts.previewEvery,
    mesh: { ...D.mesh, resolution: opts.meshRes, level: opts.meshLevel },
  };
}

/**
 * The settings that depend on the model (views, and the multi-view iteration defaults) and the
 * checks of the run against it, made before any work: a multi-view V the model was trained for,
 * the fast path's need for views, a distribution from this model's text encoder, known words.
 */
export function applyModelSettings(
  config: GenerateConfig,
  opts: Pick<GenerateSettingsFlags, 'views' | 'iters' | 'fitIters' | 'fitEvery' | 'shading' | 'lambdaPhotometric' | 'dist' | 'prompt'>,
  model: DiffusionModel,
  modelDir: string,
  dist: PromptDistribution | null,
): void {
  imageSize(model, {}, 'add it to the config');
  config.views = opts.views ?? defaultViews(model.unet);
  if (config.views > 1) {
    config.iters = opts.iters ?? MULTIVIEW_DEFAULTS.iters;
    config.fitIters = opts.fitIters ?? Math.min(MULTIVIEW_DEFAULTS.fitIters, config.iters);
    config.shading = { ...MULTIVIEW_DEFAULTS.shading, ...opts.shading };
    config.fitEvery = opts.fitEvery ?? (config.fitIters > 0 ? MULTIVIEW_DEFAULTS.fitEvery : 0);
    config.lambda = { ...config.lambda, photometric: opts.lambdaPhotometric ?? MULTIVIEW_DEFAULTS.lambda.photometric };
    model.unet.checkViews(config.views, true);
  }
  if (config.fitIters > 0 && config.views < 2) throw new Dd3dError('--fit-iters: the fast path needs a multi-view model (views > 1) to draw the target views');
  if (config.fitIters > config.iters) throw new Dd3dError(`--fit-iters ${config.fitIters}: more than --iters ${config.iters}`);
  if (config.fitEvery > 0 && config.fitIters === 0) throw new Dd3dError('--fit-every: needs the fast path (--fit-iters > 0), whose target views it fits');
  const warn = (m: string) => console.error(`dd3d: warning: ${m}`);
  if (dist) {
    checkDistributionModel(opts.dist!, dist, modelDir, model.textEncoder.hiddenSize, model.textEncoder.maxLength, warn);
    if (!dist.ctx)
      warn(`${opts.dist} is imported (no raw context vectors), so it cannot be re-encoded per view: every view of an asset uses the same condition μ + γσ ⊙ ε`);
  }
  // an unknown word fails here, before any folder is made or anything is queued
  if (opts.prompt) model.encodePrompts([opts.prompt]).dispose();
}
