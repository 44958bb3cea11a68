import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { distributionMixture, instanceConditions, mixGaussians } from '../distribution/conditions.js';
import { checkDistributionModel, loadDistribution, saveDistribution, type PromptDistribution } from '../distribution/distribution-file.js';
import { listReferenceImages, loadReferenceImages } from '../distribution/reference-images.js';
import { checkTrainDistSettings, TRAIN_DIST_DEFAULTS, trainDistribution } from '../distribution/train-dist.js';
import { Dd3dError } from '../core/errors.js';
import { attributeMarginals } from '../eval/attribute-metrics.js';
import { probeFolder, referenceTruth, scoreAgainstReferences, type Eval2dScores } from '../eval/eval-2d.js';
import { sampleAndProbe } from '../eval/sample-and-probe.js';
import { builtinProbeDir } from '../paths.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { loadProbe } from '../probe/index.js';
import { startBackend } from './common.js';
import { defaultWorkers, workersText } from '../backend/worker-pool.js';
import { sampleWorkers } from '../pipeline/sample-pool.js';
import { DIST_MODEL_FLAG_HELP, GUIDANCE_FLAG_HELP, resolveModelDir, samplingSettings, STEPS_FLAG_HELP } from './model-flag.js';
import { floatOption, intOption } from './options.js';
import { progressBar } from './progress.js';
import { fmt, formatTable } from '../core/table.js';

interface Eval2dFlags {
  dist: string;
  refs: string;
  model?: string;
  probe?: string;
  baseline: string[];
  stdScale: number;
  n: number;
  steps?: number;
  guidance?: number;
  seed: number;
  batch: number;
  workers: number;
  json?: boolean;
}

type Baseline = { kind: 'caption'; prompt: string } | { kind: 'prompt-tuning'; file?: string } | { kind: 'images'; dir: string };

export function parseBaseline(spec: string): Baseline {
  if (spec.startsWith('caption:')) {
    const prompt = spec.slice('caption:'.length).trim();
    if (!prompt) throw new Dd3dError('--baseline: caption needs a prompt, e.g. caption:"a chair"');
    return { kind: 'caption', prompt };
  }
  if (spec === 'prompt-tuning') return { kind: 'prompt-tuning' };
  if (spec.startsWith('prompt-tuning:')) return { kind: 'prompt-tuning', file: spec.slice('prompt-tuning:'.length) };
  if (spec.startsWith('images:')) {
    const dir = spec.slice('images:'.length).trim();
    if (!dir) throw new Dd3dError('--baseline: images needs a folder, e.g. images:oracle/');
    return { kind: 'images', dir };
  }
  throw new Dd3dError(`--baseline: "${spec}" is not caption:"<prompt>", prompt-tuning, prompt-tuning:<file.json> or images:<dir>`);
}

export function registerEval2d(program: Command): void {
  program
    .command('eval-2d')
    .description('measure a prompt distribution against its reference images with the attribute probe, next to baselines')
    .requiredOption('--dist <file.json>', 'the distribution to measure (from train-dist)')
    .requiredOption('--refs <dir>', 'its reference images; a "dd3d scenes refs" folder gives ground-truth attributes')
    .option('--model <dir>', DIST_MODEL_FLAG_HELP)
    .option('--probe <dir>', 'attribute probe (default: models/dd3d-tiny/probe)')
    .option(
      '--baseline <spec>',
      'also measure caption:"a chair" (a plain prompt) or prompt-tuning (one learned prompt, K = 1, no sampling: trained here with the distribution\'s settings and cached beside it as <name>.prompt-tuning.json; or prompt-tuning:<file.json>), or images:<dir> (a folder of ready-made images, probed like the samples: fresh "dd3d scenes refs" draws with the references\' --where give the score of a perfect sampler); repeatable',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--std-scale <gamma>', "γ, the scale of σ in the distribution rows, as in sample (0: each component's mean prompt)", floatOption(0), 1)
    .option('--n <count>', 'images to generate for each row', intOption(4, 4096), 256)
    .option('--steps <n>', STEPS_FLAG_HELP, intOption(1, 1000))
    .option('--guidance <scale>', GUIDANCE_FLAG_HELP, floatOption(0))
    .option('--seed <n>', 'seed of the instances and the sampling noise', intOption(0), 0)
    .option('--batch <count>', 'images per UNet batch', intOption(1, 256), 32)
    .option(
      '--workers <n>',
      "threads, each with its own backend and copy of the model, splitting each row's images and the prompt-tuning baseline's training steps (default: the cores); the images equal a 1-worker run's",
      intOption(1, 64),
      defaultWorkers(),
    )
    .option(
      '--json',
      'print one JSON object: {"refs", "reference_marginals", "rows": [{"name", "tv_distance", "in_distribution", "attribute_coverage", "fid", "precision", "recall", "density", "coverage", "diversity", "family_share", "marginals", ...}]}; marginals are attribute → value → share among the images of the references\' family',
    )
    .addHelpText('after', '\nExample:\n  dd3d eval-2d --dist chair.json --refs refs/chairs --baseline caption:"a chair" --baseline prompt-tuning')
    .action(async (opts: Eval2dFlags, cmd: Command) => {
      const baselines = opts.baseline.map(parseBaseline);
      // a bad folder fails before minutes of sampling, not after
      for (const b of baselines) if (b.kind === 'images') listReferenceImages(b.dir, '--baseline images');
      const dist = loadDistribution(opts.dist);
      // so are settings the prompt-tuning baseline would train with
      const tuningSettings = baselines.some((b) => b.kind === 'prompt-tuning') ? trainingSettings(opts.dist, dist) : {};
      const modelDir = resolveModelDir(opts.model, [dist]);
      await startBackend(cmd);
      const probe = loadProbe(opts.probe ?? builtinProbeDir());
      const model = DiffusionModel.load(modelDir);
      const sampling = samplingSettings(opts, model);
      const warn = (m: string) => console.error(`dd3d: warning: ${m}`);
      checkDistributionModel(opts.dist, dist, modelDir, model.textEncoder.hiddenSize, model.textEncoder.maxLength, warn);
      const truth = await referenceTruth(opts.refs, probe);
      const rows: Array<{ name: string } & Eval2dScores> = [];
      if (!opts.json) console.error(`eval-2d: ${opts.n} images per row ${workersText(sampleWorkers(opts.n, opts.workers))}`);
      try {
        const measure = async (name: string, conditions: (first: number, count: number) => tf.Tensor3D) => {
          const bar = progressBar(name, opts.n, { quiet: opts.json });
          try {
            const gen = await sampleAndProbe(model, probe, conditions, { ...opts, ...sampling, onProgress: (done) => bar.update(done) });
            rows.push({ name, ...scoreAgainstReferences(gen, truth) });
          } finally {
            bar.stop();
          }
        };
        const fromDistribution = async (name: string, file: string, d: PromptDistribution) => {
          const learned = distributionMixture(model.textEncoder, model.tokenizer, file, d);
          const g = mixGaussians([{ file, g: learned, weight: 1 }], opts.stdScale);
          tf.dispose([learned.mu, learned.sigma]);
          try {
            await measure(name, (first, count) => instanceConditions(g, opts.seed, first, count));
          } finally {
            tf.dispose([g.mu, g.sigma]);
          }
        };
        await fromDistribution(`dist (${path.basename(opts.dist)}${opts.stdScale === 1 ? '' : `, γ = ${opts.stdScale}`})`, opts.dist, dist);
        for (const b of baselines) {
          if (b.kind === 'caption') {
            await measure(`caption "${b.prompt}"`, (_first, count) => model.encodePrompt(b.prompt, count));
          } else if (b.kind === 'images') {
            rows.push({ name: `images (${b.dir})`, ...scoreAgainstReferences(await probeFolder(b.dir, probe, '--baseline images'), truth) });
          } else {
            const file = b.file ?? promptTuningFile(opts.dist);
            const tuned = fs.existsSync(file)
              ? loadDistribution(file)
              : await trainPromptTuning(model, dist, tuningSettings, opts.refs, file, opts.workers, opts.json);
            await fromDistribution('prompt-tuning (K = 1)', file, tuned);
          }
        }
      } finally {
        model.dispose();
        probe.dispose();
      }
      if (opts.json) {
        const referenceMarginals = attributeMarginals(truth.family, truth.labels).marginals;
        console.log(
          JSON.stringify({
            refs: opts.refs,
            reference_combinations: truth.keys,
            reference_marginals: referenceMarginals,
            n: opts.n,
            std_scale: opts.stdScale,
            ...sampling,
            rows,
          }),
        );
        return;
      }
      const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
      console.log(`${opts.refs}: ${truth.combinations.length} references, combinations of family + ${truth.keys.join(' + ')}; ${opts.n} samples per row\n`);
      console.log(
        formatTable(
          ['', 'TV dist ↓', 'in-dist ↑', 'attr coverage ↑', 'FID ↓', 'precision', 'recall', 'density', 'coverage', 'diversity'],
          rows.map((r) => [
            r.name,
            fmt(r.tv_distance),
            pct(r.in_distribution),
            pct(r.attribute_coverage),
            fmt(r.fid),
            fmt(r.precision),
            fmt(r.recall),
            fmt(r.density),
            fmt(r.coverage),
            fmt(r.diversity),
          ]),
        ),
      );
    });
}

/** chair.json → chair.prompt-tuning.json */
export function promptTuningFile(distFile: string): string {
  return path.join(path.dirname(distFile), `${path.basename(distFile, path.extname(distFile))}.prompt-tuning.json`);
}

type TrainingSettings = Partial<typeof TRAIN_DIST_DEFAULTS> & { seed?: number; flip?: boolean };

/**
 * The train-dist settings a distribution file records (`training.settings`), checked as
 * trainDistribution checks its own (the baseline trains with them), before any sampling.
 */
function trainingSettings(file: string, dist: PromptDistribution): TrainingSettings {
  const raw = dist.training.settings ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Dd3dError(`${file}: "training.settings" is not an object`);
  const label = (key: string) => `${file}: "training.settings.${key}"`;
  checkTrainDistSettings(raw as Record<string, unknown>, label);
  const { flip } = raw as { flip?: unknown };
  if (flip !== undefined && typeof flip !== 'boolean') throw new Dd3dError(`${label('flip')} is ${JSON.stringify(flip)}, expected true or false`);
  return raw as TrainingSettings;
}

/** The CoOp / textual-inversion baseline: the same trainer with one prompt and no sampling, on the same references and settings. */
async function trainPromptTuning(
  model: DiffusionModel,
  dist: PromptDistribution,
  settings: TrainingSettings,
  refsDir: string,
  out: string,
  workers: number,
  quiet?: boolean,
): Promise<PromptDistribution> {
  const cfg = {
    ...TRAIN_DIST_DEFAULTS,
    ...settings,
    seed: settings.seed ?? 0,
    prompts: 1,
    samples: 1,
    components: 1,
    prefix: dist.prefix,
    suffix: dist.suffix,
  };
  const [h, w] = model.defaultSize;
  const refs = await loadReferenceImages(refsDir, h, w, { flip: settings.flip ?? true, flag: '--refs' });
  const bar = progressBar('prompt-tuning', cfg.steps, { quiet, resumable: true });
  try {
    const result = await trainDistribution(model, refs, cfg, {
      modelPath: dist.model.path,
      trainDir: `${out.replace(/\.json$/, '')}.train`,
      resume: true,
      workers,
      onStep: (step, _t, loss) => bar.update(step, `loss ${loss.toFixed(4)}`),
    });
    saveDistribution(out, result.distribution);
    return result.distribution;
  } finally {
    bar.stop();
  }
}
