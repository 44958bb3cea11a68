/**
 * `dd3d sample`. Outputs go through the output guard (src/io/output-guard.ts): checked before
 * the model loads, replaced only when dd3d wrote them or with --force, and swapped in
 * atomically. Sizes are bounded before anything is allocated, and non-finite images are an
 * error, not black pixels.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { Dd3dError } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs';
import {
  distributionMixture,
  instanceComponent,
  instanceConditions,
  mixGaussians,
  mixWeights,
  parseWeighted,
  type WeightedDistribution,
} from '../distribution/conditions.js';
import { checkDistributionModel, loadDistribution } from '../distribution/distribution-file.js';
import { IMAGE_EXTENSIONS } from '../distribution/reference-images.js';
import type { GaussianMixture } from '../distribution/prompt-learner.js';
import { cameraRing, RING_CAMERA } from '../../renderers/camera-rig.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutput, commitFolder, stageFolder } from '../io/output-guard.js';
import { cameraBatch } from '../models/camera-embedding.js';
import { writePng, type ImageBatch } from '../io/image.js';
import { checkImageSize } from '../pipeline/text-to-image.js';
import { sampleInstances, sampleWorkers } from '../pipeline/sample-pool.js';
import { defaultWorkers, workersText } from '../backend/worker-pool.js';
import { SCHEDULER_KINDS, type SchedulerKind } from '../schedulers/index.js';
import { startBackend } from './common.js';
import { firstNonFinite } from '../models/load.js';
import {
  DIST_MODEL_FLAG_HELP,
  GUIDANCE_FLAG_HELP,
  imageSize,
  loadModel,
  MAX_IMAGE_SIDE,
  resolveModelDir,
  samplingSettings,
  STEPS_FLAG_HELP,
} from './model-flag.js';
import { floatOption, intOption } from './options.js';
import { progressBar } from './progress.js';
import { tryReadJsonFile } from '../io/regular-file.js';

interface SampleFlags {
  model?: string;
  prompt?: string;
  dist?: string;
  mix: string[];
  stdScale: number;
  prefix?: string;
  suffix?: string;
  instanceSeed?: number;
  negative: string;
  steps?: number;
  guidance?: number;
  scheduler?: SchedulerKind;
  seed: number;
  n: number;
  views: number;
  batch: number;
  workers: number;
  cols?: number;
  height?: number;
  width?: number;
  out: string;
  force?: boolean;
  json?: boolean;
}

/** Bound of the float32 values a run holds at once (images × height × width × 3): 1 GiB. */
const MAX_SAMPLE_VALUES = 2 ** 28;

export function registerSample(program: Command): void {
  program
    .command('sample')
    .description('text-to-image: sample images from a prompt, or new instances from a learned prompt distribution (--dist)')
    .option('--model <dir>', DIST_MODEL_FLAG_HELP)
    .option('--prompt <text>', 'what to draw (or use --dist)')
    .option('--dist <file.json>', 'a distribution from train-dist or import-dist: every image is a new prompt c = μ + γσ ⊙ ε')
    .option(
      '--mix <file.json=w>',
      'mix in another distribution with weight w (repeatable); --dist gets the rest, or give it a weight too: --dist a.json=0.7',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--std-scale <gamma>', 'γ, the scale of σ: 0 gives the mean prompt, 1 the learned spread, 2 a wider one', floatOption(0), 1)
    .option('--prefix <text>', 'edit: re-encode the learned context vectors after these words instead of the trained prefix')
    .option('--suffix <text>', 'edit: re-encode with these words after the context vectors, e.g. ", side view"')
    .option('--instance-seed <n>', 'seed of the instance noise ε (default: --seed); keep it to see the same instances across edits', intOption(0))
    .option('--negative <text>', 'negative prompt (what to steer away from)', '')
    .option('--steps <n>', STEPS_FLAG_HELP, intOption(1, 1000))
    .option('--guidance <scale>', GUIDANCE_FLAG_HELP, floatOption(0))
    .addOption(new Option('--scheduler <name>', "sampler (default: the folder's scheduler_config.json class)").choices([...SCHEDULER_KINDS]))
    .option('--seed <n>', 'random seed for the starting noise', intOption(0), 0)
    .option('--n <count>', 'number of images, or of instances with --views', intOption(1, 4096), 1)
    .option(
      '--views <v>',
      'draw V views of each instance together (a multi-view model: its cameras 360/V apart from the front, elevation 15); the grid gets a row per instance',
      intOption(1, 64),
      1,
    )
    .option('--cols <count>', 'grid columns (default: as square as possible)', intOption(1, 4096))
    .option('--batch <count>', 'images per UNet batch', intOption(1, 256), 16)
    .option(
      '--workers <n>',
      "threads, each with its own backend and copy of the model, splitting the images (default: the cores); the images equal a 1-worker run's",
      intOption(1, 64),
      defaultWorkers(),
    )
    .option('--height <px>', "image height (default: the model's training size)", intOption(1, MAX_IMAGE_SIDE))
    .option('--width <px>', "image width (default: the model's training size)", intOption(1, MAX_IMAGE_SIDE))
    .requiredOption('--out <file.png|dir>', 'a .png (one image, or a grid when --n > 1), or a folder for one PNG per image and manifest.json')
    .option('--force', 'replace an existing --out file, or a folder holding files dd3d did not write (an earlier sample folder is replaced without it)')
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText(
      'after',
      '\nExamples:\n  dd3d sample --prompt "a red chair with four legs, front view" --n 16 --out grid.png\n  dd3d sample --dist chair.json --n 16 --out grid.png\n  dd3d sample --dist chair.json --std-scale 2 --mix lamp.json=0.3 --out mixed/ --n 8\n  dd3d sample --dist chair.json --suffix ", side view" --instance-seed 7 --n 8 --out side.png\n  dd3d sample --model models/dd3d-mv --prompt "a red chair with a tall back" --views 4 --n 3 --out views.png',
    )
    .action(async (opts: SampleFlags, cmd: Command) => {
      if (!opts.prompt === !opts.dist) throw new Dd3dError('--prompt/--dist: give exactly one of them');
      // --std-scale has a default, so only its source tells whether it was given
      const stdScaleGiven = cmd.getOptionValueSource('stdScale') === 'cli';
      if (opts.prompt && (opts.mix.length || opts.prefix !== undefined || opts.suffix !== undefined || opts.instanceSeed !== undefined || stdScaleGiven)) {
        throw new Dd3dError('--mix/--prefix/--suffix/--instance-seed/--std-scale: only with --dist');
      }
      const ext = path.extname(opts.out).toLowerCase();
      if (IMAGE_EXTENSIONS.includes(ext) && ext !== '.png') throw new Dd3dError(`--out: expected a .png file name or a folder, got "${opts.out}"`);
      const toFolder = ext !== '.png';
      checkOutput({
        path: opts.out,
        flag: '--out',
        kind: toFolder ? 'folder' : 'file',
        force: Boolean(opts.force),
        isOurs: toFolder ? isSampleFolder : undefined,
      });
      const sources = opts.dist ? readSources(opts.dist, opts.mix) : [];
      const modelDir = resolveModelDir(
        opts.model,
        sources.map((s) => s.dist),
      );
      await startBackend(cmd);
      const started = performance.now();
      const model = loadModel(modelDir);
      const { guidance, steps } = samplingSettings(opts, model);
      const views = opts.views;
      if (views > 1) model.unet.checkViews(views, true);
      const rig = views > 1 ? cameraRing(RING_CAMERA, views) : [];
      const images_n = opts.n * views;
      const [height, width] = imageSize(model, opts);
      checkImageSize(model, height, width);
      if (images_n * height * width * 3 > MAX_SAMPLE_VALUES) {
        throw new Dd3dError(
          `--n/--views/--height/--width: ${images_n} images of ${width}×${height} are ${images_n * height * width * 3} values, over the limit of ${MAX_SAMPLE_VALUES} (1 GiB of float32) per run`,
        );
      }
      const instanceSeed = opts.instanceSeed ?? opts.seed;
      let gaussian: GaussianMixture | null = null;
      if (sources.length) {
        for (const s of sources)
          checkDistributionModel(s.file, s.dist, modelDir, model.textEncoder.hiddenSize, model.textEncoder.maxLength, (m) =>
            console.error(`dd3d: warning: ${m}`),
          );
        const edit = { prefix: opts.prefix, suffix: opts.suffix };
        const parts = sources.map((s) => ({
          file: s.file,
          g: distributionMixture(model.textEncoder, model.tokenizer, s.file, s.dist, edit),
          weight: s.weight,
        }));
        gaussian = mixGaussians(parts, opts.stdScale);
        for (const p of parts) tf.dispose([p.g.mu, p.g.sigma]);
      }
      const uncond = model.encodePrompts([opts.negative]);
      // a prompt is encoded once, before the bar, so an unknown word fails first
      const promptStates = opts.prompt ? model.encodePrompts([opts.prompt]) : null;
      const workers = sampleWorkers(opts.n, opts.workers);
      if (!opts.json)
        console.error(
          `sample: ${opts.n} ${views > 1 ? `instance${opts.n === 1 ? '' : 's'} of ${views} views` : `image${opts.n === 1 ? '' : 's'}`} ${workersText(workers)}`,
        );
      const bar = progressBar('sampling', images_n * steps, { quiet: opts.json });
      const rigFeatures = views > 1 ? cameraBatch(rig) : undefined;
      let data: Float32Array;
      try {
        data = await sampleInstances(model, {
          n: opts.n,
          conditions: (first, count) =>
            gaussian ? instanceConditions(gaussian, instanceSeed, first, count) : (tf.tile(promptStates!, [count, 1, 1]) as tf.Tensor3D),
          uncond,
          rig: rigFeatures,
          settings: { steps, guidance, scheduler: opts.scheduler, seed: opts.seed, height, width, views, batch: opts.batch },
          workers,
          onProgress: (done) => bar.update(done),
        });
      } finally {
        bar.stop();
        tf.dispose([uncond, ...(promptStates ? [promptStates] : []), ...(rigFeatures ? [rigFeatures] : [])]);
        if (gaussian) tf.dispose([gaussian.mu, gaussian.sigma]);
        model.dispose();
      }
      // NaN would be written as black without a word: name what produced it instead
      const bad = firstNonFinite(data);
      if (bad >= 0) {
        throw new Dd3dError(
          `the sampler produced ${data[bad]} in image ${Math.floor(bad / (height * width * 3))}: the model at ${modelDir}${sources.length ? ` or the distribution ${sources.map((s) => s.file).join(', ')}` : ''} gives non-finite values at these settings (guidance ${guidance}, ${steps} steps)`,
        );
      }
      const batch = { data, n: images_n, height, width, channels: 3 };
      const weights = gaussian?.weights ?? [1];
      // which component each image was drawn from, when there is a choice
      const components = weights.length > 1 ? { components: Array.from({ length: opts.n }, (_, i) => instanceComponent(weights, instanceSeed, i)) } : {};
      const settings = {
        model: modelDir,
        ...(opts.prompt
          ? { prompt: opts.prompt }
          : {
              dist: sources.map((s) => ({ file: s.file, weight: s.weight })),
              std_scale: opts.stdScale,
              prefix: opts.prefix ?? null,
              suffix: opts.suffix ?? null,
              instance_seed: instanceSeed,
              ...components,
            }),
        negative: opts.negative,
        ...(views > 1 ? { views, cameras: rig } : {}),
        steps,
        guidance,
        seed: opts.seed,
        batch: opts.batch,
        height,
        width,
      };
      if (toFolder) await writeImageFolder(opts.out, batch, settings);
      else await writePng(opts.out, batch, opts.cols ?? (views > 1 ? views : undefined));
      const summary = { out: opts.out, n: opts.n, ...settings, seconds: (performance.now() - started) / 1000 };
      if (opts.json) console.log(JSON.stringify(summary));
      else {
        const what = views > 1 ? `${opts.n} instance${opts.n > 1 ? 's' : ''} × ${views} views` : `${opts.n} image${opts.n > 1 ? 's' : ''}`;
        console.error(`wrote ${opts.out} (${what}, ${width}×${height}, ${summary.seconds.toFixed(1)} s)`);
      }
    });
}

/** The --dist file and the --mix files with their weights (summing to 1). */
function readSources(dist: string, mix: string[]): WeightedDistribution[] {
  const main = parseWeighted(dist, '--dist');
  const others = mix.map((m) => parseWeighted(m, '--mix'));
  const missing = others.find((o) => o.weight === null);
  if (missing) throw new Dd3dError(`--mix: "${missing.file}" needs a weight, e.g. ${missing.file}=0.3`);
  const weights = mixWeights(
    main.weight,
    others.map((o) => o.weight!),
  );
  return [main, ...others].map((s, i) => ({ file: s.file, dist: loadDistribution(s.file), weight: weights[i]! }));
}

/**
 * An earlier sample folder: a manifest.json of format "dd3d-samples", and nothing in the folder
 * but it and the images it lists. Anything else (notes.txt, a sub-folder) is the user's.
 */
function isSampleFolder(dir: string): boolean {
  try {
    const manifest = (tryReadJsonFile(path.join(dir, 'manifest.json')) ?? {}) as { format?: unknown; images?: unknown };
    if (manifest.format !== 'dd3d-samples' || !Array.isArray(manifest.images)) return false;
    const listed = new Set(['manifest.json', ...manifest.images.map(String)]);
    return fs.readdirSync(dir).every((f) => listed.has(f) && fs.lstatSync(path.join(dir, f)).isFile());
  } catch {
    return false;
  }
}

/** One PNG per image plus manifest.json, written into a staged folder that is swapped into place (output-guard.ts). */
async function writeImageFolder(out: string, batch: ImageBatch, settings: Record<string, unknown>): Promise<void> {
  const tmp = stageFolder(out);
  const size = batch.height * batch.width * batch.channels;
  const images: string[] = [];
  for (let i = 0; i < batch.n; i++) {
    const file = `${String(i).padStart(4, '0')}.png`;
    await writePng(path.join(tmp, file), { ...batch, n: 1, data: batch.data.subarray(i * size, (i + 1) * size) });
    images.push(file);
  }
  writeFileAtomic(path.join(tmp, 'manifest.json'), JSON.stringify({ format: 'dd3d-samples', version: 1, ...settings, images }, null, 1) + '\n');
  commitFolder(tmp, out);
}
