import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { SceneDataset } from '../dataset/scene-dataset.js';
import { Dd3dError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutput } from '../io/output-guard.js';
import { trailingMean, writeLossCurve } from '../io/plot.js';
import { exportTinyModel } from '../train/export.js';
import { hasCheckpoint } from '../train/checkpoint.js';
import { pretrain } from '../train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../train/pretrain-configs.js';
import { startBackend } from './common.js';
import { floatOption, intOption } from './options.js';
import { progressBar } from './progress.js';
import { tryReadJsonFile } from '../io/regular-file.js';

interface PretrainFlags {
  data: string;
  out: string;
  config: string;
  steps?: number;
  batch?: number;
  seed: number;
  init?: string;
  teacher?: string;
  teacherWeight?: number;
  resume?: boolean;
  workers: number;
  force?: boolean;
  json?: boolean;
}

/**
 * An earlier pretrain output, which pretrain may write into without --force: a model folder
 * dd3d exported (model_index.json naming its "_dd3d_config") or one holding a checkpoint.
 */
function isPretrainFolder(dir: string): boolean {
  if (hasCheckpoint(path.join(dir, 'checkpoint'))) return true;
  const index = tryReadJsonFile(path.join(dir, 'model_index.json')) as { _dd3d_config?: unknown } | null | undefined;
  return typeof index?._dd3d_config === 'string';
}

export function registerPretrain(program: Command): void {
  program
    .command('pretrain')
    .description('train a text-to-image model (CLIPTextModel + pixel-space UNet) on a scene dataset, as the built-in models were trained')
    .requiredOption('--data <dir>', 'scene dataset from "dd3d scenes dataset" (its resolution must match the config)')
    .requiredOption('--out <dir>', 'model folder to write (diffusers layout); checkpoints go to <out>/checkpoint/')
    .addOption(new Option('--config <name>', 'model and training configuration').choices(Object.keys(PRETRAIN_CONFIGS)).default('tiny32'))
    .option('--steps <n>', "optimizer steps (default: the config's)", intOption(1))
    .option('--batch <n>', "images per step (default: the config's)", intOption(1))
    .option('--seed <n>', 'seed for weights, batches, noise and timesteps', intOption(0), 0)
    .option('--init <dir>', "start from this model folder's weights (a fine-tune; e.g. models/dd3d-tiny for --config mv32) instead of random ones")
    .option(
      '--teacher <dir>',
      "single-view steps learn this model folder's prediction for their noisy images and captions instead of the data's target (distillation; e.g. models/dd3d-tiny, so a multi-view fine-tune keeps its colour from text)",
    )
    .option(
      '--teacher-weight <w>',
      "multiplier of the taught steps' loss, whose distance to the teacher is a fraction of the data target's noise (default 1)",
      floatOption(0),
    )
    .option('--resume', 'continue from <out>/checkpoint/ (a resumed run loses at most one checkpoint interval)')
    .option(
      '--workers <n>',
      'threads, each with its own wasm backend, splitting every batch (1 or 2; two measured 1.8× faster)',
      intOption(1, 2),
      Math.min(2, os.availableParallelism()),
    )
    .option('--force', 'write the model into an --out folder holding files dd3d did not write (its files of the same names are replaced)')
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText(
      'after',
      '\nExample:\n  dd3d scenes dataset --n 100000 --res 32 --out data/scenes32\n  dd3d pretrain --data data/scenes32 --out models/dd3d-tiny --config tiny32\n\nMulti-view fine-tune of the shipped model (4 views, camera-conditioned):\n  dd3d scenes dataset --n 40000 --views 4 --res 32 --out data/mv32\n  dd3d pretrain --data data/mv32 --out models/dd3d-mv --config mv32q --init models/dd3d-tiny --steps 12000',
    )
    .action(async (opts: PretrainFlags, cmd: Command) => {
      const config = PRETRAIN_CONFIGS[opts.config]!;
      if (opts.teacherWeight !== undefined && opts.teacher === undefined)
        throw new Dd3dError('--teacher-weight: weighs the steps of a --teacher, and none is given');
      checkOutput({ path: opts.out, flag: '--out', kind: 'folder', force: Boolean(opts.force), isOurs: isPretrainFolder });
      const dataset = SceneDataset.open(opts.data);
      if (hasCheckpoint(path.join(opts.out, 'checkpoint')) && !opts.resume) {
        throw new Dd3dError(`--out: ${opts.out} holds a training checkpoint; pass --resume to continue it, or choose another --out`);
      }
      await startBackend(cmd);
      const steps = opts.steps ?? config.steps;
      const bar = progressBar('pretrain', steps, { quiet: opts.json, resumable: true });
      let result;
      try {
        result = await pretrain({
          config,
          dataset,
          out: opts.out,
          seed: opts.seed,
          steps,
          batch: opts.batch,
          init: opts.init,
          teacher: opts.teacher,
          teacherWeight: opts.teacherWeight,
          resume: Boolean(opts.resume),
          workers: opts.workers,
          // after pretrain's checks (--init, --teacher, the checkpoint), so a refused run is one line
          onStart: () => {
            if (!opts.json)
              console.error(
                `pretrain: ${config.name}, ${dataset.length} images${dataset.views > 1 ? ` (${dataset.views} views per object)` : ''}, on ${opts.workers} worker${opts.workers === 1 ? '' : 's'}`,
              );
          },
          onStep: (step, _total, loss) => bar.update(step, `loss ${loss.toFixed(4)}`),
        });
      } finally {
        bar.stop();
      }
      const meta = { dd3d_config: config.name, steps: String(result.steps), seed: String(opts.seed) };
      exportTinyModel(opts.out, result.model, result.ema.shadow, config, meta);
      const trainDir = path.join(opts.out, 'train');
      fs.mkdirSync(trainDir, { recursive: true });
      await writeLossCurve(path.join(trainDir, 'loss.png'), result.losses);
      const summary = {
        out: opts.out,
        config: config.name,
        steps: result.steps,
        batch: opts.batch ?? config.batch,
        seed: opts.seed,
        data: { dir: opts.data, n: dataset.length, res: dataset.res },
        final_loss: trailingMean(result.losses, 50),
        seconds: result.seconds,
      };
      writeFileAtomic(path.join(trainDir, 'record.json'), JSON.stringify({ ...summary, losses: result.losses }) + '\n');
      if (opts.json) console.log(JSON.stringify(summary));
      else console.error(`wrote ${opts.out} (${result.steps} steps, loss ${summary.final_loss.toFixed(4)}, ${(result.seconds / 60).toFixed(1)} min)`);
    });
}
