import * as fs from 'node:fs';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { deriveSeed } from '../../scenes/index.js';
import { checkDistributionModel, loadDistribution, type PromptDistribution } from '../dist/distribution-file.js';
import { listReferenceImages } from '../dist/reference-images.js';
import { Dd3dError } from '../errors.js';
import { defaultViews, GENERATE_DEFAULTS, type BackgroundKind, type GenerateConfig } from '../generate/config.js';
import { exportAsset, writePreviewPng, type ManifestSource } from '../generate/export-asset.js';
import { generateAsset, type IterationTiming } from '../generate/generate-asset.js';
import { sampleTargetViews, type TargetViews } from '../generate/target-views.js';
import { viewConditions, type ConditionSource } from '../generate/view-conditions.js';
import { writePng } from '../io/image.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { startBackend } from './common.js';
import { MODEL_FLAG_HELP, resolveModelDir, samplingSettings } from './model-flag.js';
import { floatOption, intOption } from './options.js';
import { progressBar } from './progress.js';

interface GenerateFlags {
  model?: string;
  dist?: string;
  prompt?: string;
  n: number;
  iters: number;
  views?: number;
  fitIters: number;
  res?: number;
  samples: number;
  guidance: number;
  stdScale: number;
  gradClip: number;
  background: BackgroundKind;
  lambdaOrient: number;
  lambdaSparsity: number;
  lambdaEntropy: number;
  lr: number;
  meshRes: number;
  previewEvery: number;
  seed: number;
  out: string;
  resume?: boolean;
  json?: boolean;
}

const D = GENERATE_DEFAULTS;

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('text-to-3D: score-distil a small NeRF from the frozen model for each of --n instances of a learned distribution (or a prompt), and export GLB + turntable')
    .option('--model <dir>', MODEL_FLAG_HELP)
    .option('--dist <file.json>', 'a distribution from train-dist: each asset is one new instance c_v = μ_v + γσ_v ⊙ ε, re-encoded per view')
    .option('--prompt <text>', 'plain text-to-3D instead of --dist (the view phrase is appended per view)')
    .option('--n <count>', 'number of assets (instances)', intOption(1, 1000), 3)
    .option('--iters <n>', 'score-distillation iterations per asset', intOption(1), D.iters)
    .option('--views <v>', 'views rendered and denoised jointly per iteration (default: the model\'s trained V for a multi-view model, else 1; 1 = single-view SDS with view phrases)', intOption(1, 64))
    .option('--fit-iters <n>', 'fast path (multi-view models): sample the instance\'s V views once and fit the field to them for the first n of --iters iterations, then score-distil (0: SDS only)', intOption(0), D.fitIters)
    .option('--res <px>', 'render size (default: the model\'s image size, at most 64)', intOption(8, 512))
    .option('--samples <n>', 'samples per ray', intOption(4, 512), D.samplesPerRay)
    .option('--guidance <scale>', 'classifier-free guidance scale of the SDS call', floatOption(0), D.guidance)
    .option('--std-scale <gamma>', 'γ, the scale of σ (0: the mean instance)', floatOption(0), D.stdScale)
    .option('--grad-clip <v>', 'clip every SDS gradient element to ±v (0: off)', floatOption(0), D.gradClip)
    .addOption(new Option('--background <kind>', 'white (as the built-in model\'s data), a random solid colour per view, or a learned function of direction').choices(['white', 'random', 'learned']).default(D.background))
    .option('--lambda-orient <w>', 'weight of the orientation loss (normals facing away from the camera)', floatOption(0), D.lambda.orient)
    .option('--lambda-sparsity <w>', 'weight of the mean-opacity loss', floatOption(0), D.lambda.sparsity)
    .option('--lambda-entropy <w>', 'weight of the opacity-entropy loss', floatOption(0), D.lambda.entropy)
    .option('--lr <rate>', 'learning rate of the grid features (the MLPs and background take a tenth)', floatOption(0), D.lr.encoding)
    .option('--mesh-res <n>', 'density grid side for marching cubes', intOption(16, 512), D.mesh.resolution)
    .option('--preview-every <n>', 'write previews/iter-NNNNN.png every n iterations (0: never)', intOption(0), D.previewEvery)
    .option('--seed <n>', 'seed of the instances (asset i uses instance noise i of this seed), cameras and noise', intOption(0), 0)
    .requiredOption('--out <dir>', 'output folder: asset-000/, asset-001/, … each with asset.glb, turntable.png, preview.png, manifest.json')
    .option('--resume', 'continue unfinished assets from their checkpoints and skip finished ones')
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText('after', '\nExamples:\n  dd3d generate --dist examples/chair.json --n 3 --out out/\n  dd3d generate --prompt "a red chair" --n 1 --iters 300 --out red-chair/\n  dd3d view out/')
    .action(async (opts: GenerateFlags, cmd: Command) => {
      if (!opts.prompt === !opts.dist) throw new Dd3dError('--prompt/--dist: give exactly one of them');
      const config: GenerateConfig = {
        ...D,
        iters: opts.iters,
        fitIters: opts.fitIters,
        res: opts.res ?? null,
        samplesPerRay: opts.samples,
        guidance: opts.guidance,
        stdScale: opts.stdScale,
        gradClip: opts.gradClip,
        background: opts.background,
        lambda: { orient: opts.lambdaOrient, sparsity: opts.lambdaSparsity, entropy: opts.lambdaEntropy },
        lr: { encoding: opts.lr, mlp: opts.lr / 10, background: opts.lr / 10 },
        previewEvery: opts.previewEvery,
        mesh: { ...D.mesh, resolution: opts.meshRes },
        checkpointEvery: D.checkpointEvery,
      };
      checkOutFolder(opts.out, Boolean(opts.resume));
      const dist = opts.dist ? loadDistribution(opts.dist) : null;
      const modelDir = resolveModelDir(opts.model);
      await startBackend(cmd);
      const model = DiffusionModel.load(modelDir);
      config.views = opts.views ?? defaultViews(model.unet);
      if (config.views > 1) model.unet.checkViews(config.views, true);
      if (config.fitIters > 0 && config.views < 2) throw new Dd3dError('--fit-iters: the fast path needs a multi-view model (views > 1) to draw the target views');
      if (config.fitIters > config.iters) throw new Dd3dError(`--fit-iters ${config.fitIters}: more than --iters ${config.iters}`);
      const warn = (m: string) => console.error(`dd3d: warning: ${m}`);
      if (dist) {
        checkDistributionModel(opts.dist!, dist, modelDir, model.textEncoder.hiddenSize, model.textEncoder.maxLength, warn);
        if (!dist.ctx) warn(`${opts.dist} is imported (no raw context vectors), so it cannot be re-encoded per view: every view of an asset uses the same condition μ + γσ ⊙ ε`);
      }
      // an unknown word fails here, before any folder is made
      if (opts.prompt) model.encodePrompts([opts.prompt]).dispose();
      fs.mkdirSync(opts.out, { recursive: true });
      const references = dist ? copyReferences(dist, opts.out) : [];
      const summaries: Array<Record<string, unknown>> = [];
      try {
        for (let i = 0; i < opts.n; i++) {
          const dir = path.join(opts.out, `asset-${String(i).padStart(3, '0')}`);
          if (fs.existsSync(path.join(dir, 'manifest.json'))) {
            summaries.push({ dir, skipped: true });
            continue;
          }
          fs.mkdirSync(dir, { recursive: true });
          const source: ConditionSource = dist
            ? { kind: 'distribution', file: opts.dist!, dist, stdScale: opts.stdScale, instance: i, seed: opts.seed }
            : { kind: 'prompt', prompt: opts.prompt! };
          const conditions = viewConditions(model, source);
          const assetSeed = deriveSeed(opts.seed, `asset/${i}`);
          const targets = config.fitIters > 0 ? sampleTargetViews(model, conditions, config.views, samplingSettings({}, model), assetSeed) : undefined;
          if (targets) await writeTargetViews(path.join(dir, 'target-views.png'), targets);
          const bar = progressBar(`asset ${i + 1}/${opts.n}`, config.iters, { quiet: opts.json, resumable: true });
          let result;
          try {
            result = await generateAsset({
              model,
              conditions,
              config,
              seed: assetSeed,
              targets,
              dir,
              resume: Boolean(opts.resume),
              onIter: (iter, _n, s) => bar.update(iter, ` | ${formatTerms(s.terms)} ${s.view}`),
              onPreview: (iter, field, occupancy) => {
                fs.mkdirSync(path.join(dir, 'previews'), { recursive: true });
                return writePreviewPng(path.join(dir, 'previews', `iter-${String(iter).padStart(5, '0')}.png`), field, 64, config.samplesPerRay, occupancy);
              },
            });
          } finally {
            bar.stop();
          }
          const manifestSource: ManifestSource = dist
            ? { kind: 'distribution', path: opts.dist!, references: references.map((r) => path.relative(dir, r)), std_scale: opts.stdScale, view_independent: conditions.viewIndependent, ...(conditions.component !== null && { component: conditions.component }) }
            : { kind: 'prompt', prompt: opts.prompt! };
          const manifest = await exportAsset({
            dir,
            field: result.field,
            occupancy: result.occupancy,
            config,
            manifest: {
              source: manifestSource,
              model: modelDir,
              seed: opts.seed,
              instance: i,
              instance_noise_hash: conditions.instanceHash,
              iterations: result.iterations,
              seconds: Math.round(result.seconds * 10) / 10,
              timing_ms: roundTiming(result.timing),
            },
          });
          if (result.nonFinite > 0) warn(`${dir}: ${result.nonFinite} SDS gradient elements were NaN or infinite and were zeroed`);
          result.dispose();
          conditions.dispose();
          targets?.images.dispose();
          fs.rmSync(path.join(dir, 'checkpoint'), { recursive: true, force: true });
          summaries.push({ dir, iterations: manifest.iterations, seconds: manifest.seconds, timing_ms: manifest.timing_ms, triangles: manifest.mesh.triangles });
          if (!opts.json) console.error(`wrote ${dir} (${manifest.iterations} iterations, ${manifest.seconds.toFixed(0)} s, ${manifest.mesh.triangles} triangles)`);
        }
      } finally {
        model.dispose();
      }
      if (opts.json) console.log(JSON.stringify({ out: opts.out, n: opts.n, assets: summaries }));
    });
}

function roundTiming(t: IterationTiming): IterationTiming {
  const r = (x: number) => Math.round(x * 10) / 10;
  return { render: r(t.render), unet: r(t.unet), backprop: r(t.backprop), optimizer: r(t.optimizer), total: r(t.total) };
}

/** --out must be new, empty, or an earlier generate folder (with --resume to continue it). */
function checkOutFolder(out: string, resume: boolean): void {
  if (!fs.existsSync(out)) {
    if (!fs.existsSync(path.dirname(path.resolve(out)))) throw new Dd3dError(`--out: the parent folder of ${out} does not exist`);
    return;
  }
  if (!fs.statSync(out).isDirectory()) throw new Dd3dError(`--out: ${out} is a file; give a folder`);
  const entries = fs.readdirSync(out).filter((e) => !e.startsWith('.'));
  if (entries.length === 0) return;
  const ours = entries.every((e) => /^asset-\d{3}$/.test(e) || e === 'references');
  if (!ours) throw new Dd3dError(`--out: ${out} holds other files; give a new or empty folder`);
  if (!resume) throw new Dd3dError(`--out: ${out} already holds generated assets; pass --resume to continue them, or choose another folder`);
}

/** The distribution's reference images, copied next to the assets so `dd3d view` can show them (it serves only its folder). */
function copyReferences(dist: PromptDistribution, out: string): string[] {
  const refs = (dist.training as { references?: { dir?: unknown } }).references;
  if (!refs || typeof refs.dir !== 'string' || !fs.existsSync(refs.dir)) return [];
  const into = path.join(out, 'references');
  fs.mkdirSync(into, { recursive: true });
  return listReferenceImages(refs.dir).map((file) => {
    const copy = path.join(into, path.basename(file));
    fs.copyFileSync(file, copy);
    return copy;
  });
}

/** The fast path's sampled views, in a row, beside the asset (what the field was fitted to). */
async function writeTargetViews(file: string, targets: TargetViews): Promise<void> {
  const [n, height, width] = targets.images.shape;
  await writePng(file, { data: targets.images.dataSync() as Float32Array, n, height, width, channels: 3 }, n);
}

/** "sds 1.2e-3 t 512 sparsity 0.41": each loss term for the progress bar, loss_ dropped. */
function formatTerms(terms: Record<string, number>): string {
  return Object.entries(terms)
    .map(([k, v]) => `${k.replace(/^loss_/, '')} ${Number.isInteger(v) ? v : v.toExponential(2)}`)
    .join(' ');
}
