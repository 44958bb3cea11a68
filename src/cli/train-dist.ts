/**
 * `dd3d train-dist`. Everything that could fail after the training is checked before it: the
 * output (output guard: an existing file is replaced only if it is a dd3d distribution or with
 * --force), its <name>.train/ folder, the references (regular image files only) and the model
 * (weights, configs, image size).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { instanceConditions } from '../distribution/conditions.js';
import { SAMPLE_REDUCTIONS, type SampleReduction } from '../distribution/denoise-loss.js';
import { DISTRIBUTION_FORMAT, fittedArrays, saveDistribution } from '../distribution/distribution-file.js';
import { listReferenceImages, loadReferenceImages } from '../distribution/reference-images.js';
import { TRAIN_DIST_DEFAULTS, trainDistribution, type TrainDistConfig } from '../distribution/train-dist.js';
import { defaultWorkers, workersText } from '../backend/worker-pool.js';
import { Dd3dError } from '../core/errors.js';
import { hasCheckpoint } from '../train/checkpoint.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutput, checkWritableFolder, isJsonWithFormat } from '../io/output-guard.js';
import { writePng } from '../io/image.js';
import { trailingMean, writeLossCurve } from '../io/plot.js';
import { sampleImages } from '../pipeline/text-to-image.js';
import { startBackend } from './common.js';
import { firstNonFinite } from '../models/load.js';
import { imageSize, loadModel, MODEL_FLAG_HELP, modelLabel, resolveModelDir } from './model-flag.js';
import { floatOption, intOption } from './options.js';
import { progressBar } from './progress.js';

interface TrainDistFlags {
  images: string;
  out: string;
  model?: string;
  prompts: number;
  ctx: number;
  steps: number;
  batch: number;
  samples: number;
  components?: number;
  assign: SampleReduction;
  ortho: number;
  lr: number;
  prefix: string;
  suffix: string;
  seed: number;
  flip: boolean;
  resume?: boolean;
  validateEvery?: number;
  workers: number;
  force?: boolean;
  json?: boolean;
}

const D = TRAIN_DIST_DEFAULTS;

/** A dd3d distribution file: train-dist and import-dist replace one without --force. */
const isDistributionFile = (file: string) => isJsonWithFormat(file, [DISTRIBUTION_FORMAT]);

/** train-dist's and import-dist's --out: a .json name, and through the output guard (a distribution is replaced without --force). */
export function checkDistributionOut(out: string, force: boolean): void {
  if (path.extname(out).toLowerCase() !== '.json') throw new Dd3dError(`--out: expected a .json file name, got "${out}"`);
  checkOutput({ path: out, flag: '--out', kind: 'file', force, isOurs: isDistributionFile });
}

/** The names train-dist writes in <name>.train/ (beside its checkpoint/). */
const TRAIN_DIR_FILE = /^(loss\.png|record\.json|val-\d{6}\.png)$/;

/**
 * <name>.train/ must be a folder dd3d can write in, or not exist yet (it is created). A folder
 * that holds files under the names train-dist writes (loss.png, record.json, val-NNNNNN.png)
 * is taken as an earlier run's only when --out is already a dd3d distribution or the folder
 * holds a training checkpoint; otherwise those files may be the user's, and replacing them
 * needs --force.
 */
function checkTrainDir(trainDir: string, out: string, force: boolean): void {
  const s = fs.statSync(trainDir, { throwIfNoEntry: false });
  if (!s) return;
  if (!s.isDirectory())
    throw new Dd3dError(`--out: ${trainDir} exists and is not a folder; train-dist keeps its checkpoints and grids there: move it or choose another --out`);
  checkWritableFolder(trainDir, '--out');
  if (force || isDistributionFile(out) || hasCheckpoint(path.join(trainDir, 'checkpoint'))) return;
  const clash = fs.readdirSync(trainDir).find((f) => TRAIN_DIR_FILE.test(f));
  if (clash)
    throw new Dd3dError(
      `--out: ${path.join(trainDir, clash)} exists and train-dist would replace it, but ${out} is not a dd3d distribution; pass --force to replace it, or choose another --out`,
    );
}

/** Where a distribution's checkpoints, validation grids and loss curve go: chair.json → chair.train/. */
export function trainDirFor(out: string): string {
  return path.join(path.dirname(out), `${path.basename(out, path.extname(out))}.train`);
}

export function registerTrainDist(program: Command): void {
  program
    .command('train-dist')
    .description('learn a prompt distribution (DreamDistribution) from 5–20 reference images of a concept')
    .requiredOption('--images <dir>', "folder of reference images (png, jpg, webp, …; any size: resized and cropped to the model's resolution)")
    .requiredOption('--out <file.json>', 'distribution file to write; checkpoints, validation grids and the loss curve go to <name>.train/ beside it')
    .option('--model <dir>', MODEL_FLAG_HELP)
    .option('--prompts <K>', 'number of soft prompts the Gaussian is fitted over', intOption(1, 1024), D.prompts)
    .option('--ctx <M>', 'learned context vectors per prompt', intOption(1, 64), D.ctxLength)
    .option('--steps <n>', 'optimizer steps', intOption(1), D.steps)
    .option('--batch <n>', 'reference images per step', intOption(1, 64), D.batch)
    .option('--samples <S>', 'reparameterized prompt samples per image', intOption(1, 64), D.samples)
    .option(
      '--components <C>',
      `fit C Gaussians, for concepts with separate modes (red or blue chairs) that one Gaussian blends: k-means on colour splits the references into C groups, K/C prompts learn each, and sampling draws a group by its share of the references (default ${D.components}, or 1 with a single image or fewer than ${2 * D.components} prompts; 1 = DreamDistribution's single Gaussian)`,
      intOption(1, 64),
    )
    .addOption(
      new Option(
        '--assign <how>',
        "how each image's S sample losses combine: mean (DreamDistribution) or best (only the sample that denoises it best trains, which rewards spread)",
      )
        .choices(SAMPLE_REDUCTIONS)
        .default(D.assign),
    )
    .option('--ortho <lambda>', "weight of the orthogonality loss on the prompts' EOS features", floatOption(0), D.orthoLambda)
    .option('--lr <rate>', 'AdamW learning rate (weight decay 1e-2, gradient clip 1.0)', floatOption(0), D.lr)
    .option('--prefix <text>', 'fixed words before the context vectors', D.prefix)
    .option('--suffix <text>', 'fixed words after the context vectors (e.g. the class noun)', D.suffix)
    .option('--seed <n>', 'seed for the initial prompts, image order, timesteps and noise', intOption(0), 0)
    .option('--no-flip', 'do not add mirrored copies of the references')
    .option(
      '--validate-every <n>',
      'write a grid of 8 samples every n steps (default: 100 for pixel models, off for latent models, whose sampling is slow)',
      intOption(0),
    )
    .option('--resume', 'continue from <name>.train/checkpoint/')
    .option(
      '--workers <n>',
      "threads, each with its own backend and copy of the model, splitting every step's images (default: the cores; at most --batch are used); the losses equal a 1-worker run's to float rounding",
      intOption(1, 64),
      defaultWorkers(),
    )
    .option(
      '--force',
      "replace an existing --out file that is not a dd3d distribution (an earlier distribution is replaced without it), and files under train-dist's names in <name>.train/ that no earlier run wrote",
    )
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText(
      'after',
      '\nExample:\n  dd3d scenes refs --family chair --where "color=red|blue; back=tall" --n 12 --out refs/\n  dd3d train-dist --images refs/ --out chair.json',
    )
    .action(async (opts: TrainDistFlags, cmd: Command) => {
      checkDistributionOut(opts.out, Boolean(opts.force));
      listReferenceImages(opts.images);
      const trainDir = trainDirFor(opts.out);
      checkTrainDir(trainDir, opts.out, Boolean(opts.force));
      if (hasCheckpoint(path.join(trainDir, 'checkpoint')) && !opts.resume) {
        throw new Dd3dError(`--out: ${trainDir} holds a training checkpoint; pass --resume to continue it, or choose another --out`);
      }
      const modelDir = resolveModelDir(opts.model);
      await startBackend(cmd);
      const model = loadModel(modelDir);
      const [height, width] = imageSize(model, {}, 'add it to the config');
      const refs = await loadReferenceImages(opts.images, height, width, { flip: opts.flip });
      if (refs.files.length < 5 || refs.files.length > 20) {
        console.error(`dd3d: warning: ${refs.files.length} reference images; DreamDistribution is meant for 5–20`);
      }
      fs.mkdirSync(trainDir, { recursive: true });
      const cfg: TrainDistConfig = {
        ...D,
        prompts: opts.prompts,
        ctxLength: opts.ctx,
        steps: opts.steps,
        batch: opts.batch,
        samples: opts.samples,
        components: opts.components ?? (refs.files.length >= D.components && opts.prompts >= 2 * D.components ? D.components : 1),
        assign: opts.assign,
        orthoLambda: opts.ortho,
        lr: opts.lr,
        prefix: opts.prefix,
        suffix: opts.suffix,
        seed: opts.seed,
      };
      const uncond = model.encodePrompts(['']);
      const bar = progressBar('train-dist', cfg.steps, { quiet: opts.json, resumable: true });
      let result;
      try {
        result = await trainDistribution(model, refs, cfg, {
          modelPath: modelLabel(opts.model, modelDir),
          trainDir,
          resume: Boolean(opts.resume),
          workers: opts.workers,
          // said once the checks inside the trainer have passed, so an error stays the only line
          onStart: (workers) =>
            bar.log(`train-dist: ${refs.files.length} references (${refs.views.n} views), ${cfg.steps} steps of ${cfg.batch} images, ${workersText(workers)}`),
          validateEvery: opts.validateEvery ?? (model.vae ? 0 : 100),
          onStep: (step, _total, loss) => bar.update(step, `loss ${loss.toFixed(4)}`),
          onValidate: async (step, g) => {
            // the same 8 instances every time, so the grids show the distribution converging
            const cond = instanceConditions(g, opts.seed, 0, 8);
            const images = sampleImages(model, { cond, uncond, ...model.sampling, height, width, seed: opts.seed });
            await writePng(
              path.join(trainDir, `val-${String(step).padStart(6, '0')}.png`),
              { data: images.dataSync() as Float32Array, n: 8, height, width, channels: 3 },
              8,
            );
            tf.dispose([cond, images]);
          },
        });
      } finally {
        bar.stop();
        uncond.dispose();
      }
      const d = result.distribution;
      for (const [key, a] of fittedArrays(d)) {
        if (firstNonFinite(a.data) >= 0)
          throw new Dd3dError(
            `train-dist: the training diverged ("${key}" holds NaN or infinity); ${opts.out} was not written: try a lower --lr (checkpoints are in ${trainDir})`,
          );
      }
      saveDistribution(opts.out, d);
      await writeLossCurve(path.join(trainDir, 'loss.png'), result.losses);
      const summary = {
        out: opts.out,
        model: modelDir,
        images: refs.files.length,
        views: refs.views.n,
        prompts: cfg.prompts,
        ctx: cfg.ctxLength,
        components: cfg.components,
        steps: cfg.steps,
        final_loss: trailingMean(result.losses, 20),
        seconds: result.seconds,
        peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      };
      writeFileAtomic(path.join(trainDir, 'record.json'), JSON.stringify({ ...summary, losses: result.losses }) + '\n');
      model.dispose();
      if (opts.json) console.log(JSON.stringify(summary));
      else
        console.error(
          `wrote ${opts.out} (${cfg.steps} steps, loss ${summary.final_loss.toFixed(4)}, ${(result.seconds / 60).toFixed(1)} min, peak memory ${summary.peak_rss_mb} MB)`,
        );
    });
}
