/**
 * `dd3d probe train | eval`: the attribute probe, a small CNN that classifies scene images
 * (family, main colour, family attributes) and gives the feature vectors that eval-prompt
 * measures diversity with.
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { Dd3dError } from '../core/errors.js';
import { checkOutput, folderWithFormat } from '../io/output-guard.js';
import { builtinProbeDir } from '../paths.js';
import { VIEWS, evaluateProbe, type HeadAccuracy, type ProbeEvaluation } from '../probe/evaluate.js';
import { loadProbe } from '../probe/probe.js';
import { summarizeEvaluation, trainProbe } from '../probe/train.js';
import { startBackend } from './common.js';
import { floatOption, intOption } from './options.js';
import { progressBar } from './progress.js';
import { fmt, formatTable } from '../core/table.js';

interface TrainFlags {
  force?: boolean;
  data: string;
  out: string;
  val?: string;
  epochs: number;
  batch: number;
  seed: number;
  res?: number;
  lr: number;
  json?: boolean;
}

interface EvalFlags {
  data: string;
  probe: string;
  json?: boolean;
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '-');

/** The per-head accuracy table `dd3d probe eval` prints. */
export function evaluationTable(e: ProbeEvaluation): string {
  const row = (name: string, h: HeadAccuracy) => [name, String(h.n), pct(h.accuracy), pct(h.chance), ...VIEWS.map((v) => pct(h.views[v]?.accuracy ?? NaN))];
  const rows: string[][] = [
    row('family', e.family),
    row('color', e.color),
    ...e.attributes.map((a) => row(a.head, a)),
    ['attributes (mean)', '-', pct(e.attribute_mean), '-', '-', '-', '-', '-'],
  ];
  return formatTable(['head', 'images', 'accuracy', 'chance', ...VIEWS], rows);
}

/** `--json` output of `dd3d probe eval`: the evaluation, flattened to per-head accuracies, with the heads in full and the wall time. */
function evaluationJson(e: ProbeEvaluation, probeDir: string) {
  return {
    probe: probeDir,
    data: e.data,
    n: e.n,
    family_acc: e.family.accuracy,
    color_acc: e.color.accuracy,
    attr_acc: Object.fromEntries(e.attributes.map((a) => [a.head, a.accuracy])),
    attr_mean: e.attribute_mean,
    heads: [e.family, e.color, ...e.attributes],
    confusion: e.confusion,
    seconds: e.seconds,
  };
}

export function registerProbe(program: Command): void {
  const probe = program
    .command('probe')
    .description('the attribute probe: a small CNN that classifies scene images by family, colour and attributes')
    .addHelpText(
      'after',
      `
Examples:
  dd3d scenes dataset --n 60000 --res 32 --out /tmp/probe-train --seed 1
  dd3d scenes dataset --n 2000 --res 32 --out /tmp/probe-heldout --seed 2
  dd3d probe train --data /tmp/probe-train --val /tmp/probe-heldout --out models/dd3d-tiny/probe
  dd3d probe eval --data /tmp/probe-heldout`,
    );

  probe
    .command('train')
    .description('train a probe on a scene dataset and save it as config.json + model.safetensors')
    .requiredOption('--data <dir>', 'scene dataset to train on ("dd3d scenes dataset")')
    .requiredOption('--out <dir>', 'probe folder to write (created; an earlier probe in it is replaced)')
    .option('--force', 'write into --out even if it holds files dd3d did not write')
    .option('--val <dir>', 'held-out scene dataset, scored after every epoch and recorded in config.json')
    .option('--epochs <n>', 'passes over the data', intOption(1, 10_000), 2)
    .option('--batch <n>', 'images per step', intOption(2, 4096), 64)
    .option('--seed <n>', 'seed of the initial weights, shuffling and augmentation', intOption(0), 0)
    .option('--res <px>', "probe input resolution, 32 or 64 (default: the dataset's; a dataset at a multiple of it is downsampled)", intOption(1, 4096))
    .option('--lr <rate>', 'peak learning rate (AdamW, warm-up then cosine decay)', floatOption(0), 3e-3)
    .option('--json', 'print a JSON summary on stdout: {"out", "steps", "seconds", "loss", "heldout"?}')
    .addHelpText(
      'after',
      `
The probe predicts the family, the main colour and, per (family, attribute) pair, the
attribute's value. Training augments each image (horizontal flip, shifts of up to 2 px at
32x32, small brightness/colour jitter, noise and blur, and on some images a generated look:
mottled, speckled, frayed and dripping surfaces, so that it judges generated assets by their
shape) and is reproducible for a seed.

Examples:
  dd3d probe train --data /tmp/probe-train --val /tmp/probe-heldout --out models/dd3d-tiny/probe --epochs 3 --seed 1
  dd3d probe train --data data/scenes64 --res 64 --out /tmp/probe64`,
    )
    .action(async (opts: TrainFlags, cmd: Command) => {
      for (const [flag, dir] of [
        ['--data', opts.data],
        ['--val', opts.val],
      ] as const) {
        if (dir !== undefined && !fs.existsSync(dir)) throw new Dd3dError(`${flag} ${dir}: folder not found`);
      }
      checkOutput({
        path: opts.out,
        flag: '--out',
        kind: 'folder',
        force: Boolean(opts.force),
        isOurs: folderWithFormat('config.json', ['dd3d-probe']),
        createParent: true,
      });
      await startBackend(cmd);
      let bar: ReturnType<typeof progressBar> | undefined;
      // epoch lines go out as they happen without a TTY, and after the bar with one (so they do not tear it)
      const epochLines: string[] = [];
      let lastVal = '';
      let result;
      try {
        result = await trainProbe({
          data: opts.data,
          val: opts.val,
          res: opts.res,
          epochs: opts.epochs,
          batch: opts.batch,
          seed: opts.seed,
          lr: opts.lr,
          onProgress: (step, total, info) => {
            bar ??= progressBar('training', total, { quiet: opts.json });
            bar.update(step, `epoch ${info.epoch}/${opts.epochs} loss ${fmt(info.loss)}${lastVal}`);
          },
          onEpoch: (epoch, info) => {
            if (info.val) lastVal = ` | held-out family ${pct(info.val.family.accuracy)} colour ${pct(info.val.color.accuracy)}`;
            const val = info.val
              ? ` | held-out family ${pct(info.val.family.accuracy)}, colour ${pct(info.val.color.accuracy)}, attributes ${pct(info.val.attribute_mean)}`
              : '';
            const line = `epoch ${epoch}: loss ${fmt(info.loss)} (${info.seconds.toFixed(0)} s)${val}`;
            if (opts.json) return;
            if (process.stderr.isTTY) epochLines.push(line);
            else process.stderr.write(`${line}\n`);
          },
        });
      } finally {
        bar?.stop();
      }
      for (const line of epochLines) process.stderr.write(`${line}\n`);
      result.probe.save(opts.out);
      const summary = {
        out: opts.out,
        steps: result.steps,
        seconds: result.seconds,
        loss: result.loss,
        ...(result.val ? { heldout: summarizeEvaluation(result.val) } : {}),
      };
      result.probe.dispose();
      if (opts.json) console.log(JSON.stringify(summary));
      else {
        if (result.val) console.log(evaluationTable(result.val));
        process.stderr.write(
          `${opts.out}: probe trained in ${result.steps} steps, ${(result.seconds / 60).toFixed(1)} min; final epoch loss ${fmt(result.loss)}\n`,
        );
      }
    });

  probe
    .command('eval')
    .description('accuracy of a probe on a (held-out) scene dataset: family, colour and every attribute head')
    .requiredOption('--data <dir>', 'scene dataset to score ("dd3d scenes dataset"; use another --seed than the training data)')
    .option('--probe <dir>', 'probe folder (default: the shipped models/dd3d-tiny/probe)')
    .option(
      '--json',
      'print {"probe", "data", "n", "family_acc", "color_acc", "attr_acc": {"<family>.<attribute>": acc}, "attr_mean", "heads": [{"head", "n", "correct", "accuracy", "chance"}], "confusion", "seconds"}',
    )
    .addHelpText(
      'after',
      `
Family and colour are scored on every image; each attribute head on the images of its own
family. "chance" is the accuracy of always answering the most common true value.

Examples:
  dd3d probe eval --data /tmp/probe-heldout
  dd3d probe eval --data /tmp/probe-heldout --probe /tmp/probe64 --json`,
    )
    .action(async (opts: EvalFlags, cmd: Command) => {
      const dir = opts.probe ?? builtinProbeDir();
      if (!fs.existsSync(opts.data)) throw new Dd3dError(`--data ${opts.data}: folder not found`);
      await startBackend(cmd);
      const probe = loadProbe(dir);
      let e: ProbeEvaluation;
      try {
        e = evaluateProbe(probe, opts.data);
      } finally {
        probe.dispose();
      }
      if (opts.json) console.log(JSON.stringify(evaluationJson(e, dir)));
      else {
        console.log(evaluationTable(e));
        console.error(`\n${e.data}: ${e.n} images scored with ${dir} in ${e.seconds.toFixed(1)} s`);
      }
    });
}
