import type { Command } from 'commander';
import { evaluatePrompt, summarizePromptEvals, type PromptEval } from '../eval/eval-prompt.js';
import { promptTerms } from '../eval/prompt-terms.js';
import { defaultWorkers, workersText } from '../backend/worker-pool.js';
import { builtinProbeDir } from '../paths.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { sampleWorkers } from '../pipeline/sample-pool.js';
import { loadProbe } from '../probe/index.js';
import { Dd3dError } from '../core/errors.js';
import { startBackend } from './common.js';
import { GUIDANCE_FLAG_HELP, MODEL_FLAG_HELP, resolveModelDir, samplingSettings, STEPS_FLAG_HELP } from './model-flag.js';
import { floatOption, intOption } from './options.js';
import { progressBar } from './progress.js';
import { fmt, formatTable } from '../core/table.js';

interface EvalFlags {
  prompt: string[];
  model?: string;
  probe?: string;
  n: number;
  seed: number;
  steps?: number;
  guidance?: number;
  workers: number;
  json?: boolean;
}

export function registerEvalPrompt(program: Command): void {
  program
    .command('eval-prompt')
    .description('sample a prompt n times and score adherence (family, colour, named attributes) and diversity with the attribute probe')
    .option(
      '--prompt <text>',
      'a prompt in the procedural world\'s words, e.g. "a red chair with four legs, front view"; repeat it to score several prompts and their mean',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--model <dir>', MODEL_FLAG_HELP)
    .option('--probe <dir>', 'attribute probe (default: models/dd3d-tiny/probe)')
    .option('--n <count>', 'images to sample', intOption(2, 4096), 64)
    .option('--seed <n>', "seed of the sampling noise (image i's noise depends on the seed and i alone)", intOption(0), 0)
    .option('--steps <n>', STEPS_FLAG_HELP, intOption(1, 1000))
    .option('--guidance <scale>', GUIDANCE_FLAG_HELP, floatOption(0))
    .option(
      '--workers <n>',
      "threads, each with its own backend and copy of the model, splitting each prompt's images (default: the cores); the scores equal a 1-worker run's",
      intOption(1, 64),
      defaultWorkers(),
    )
    .option('--json', 'print one JSON object: {"n", "family_acc", "color_acc", "attr_acc", "diversity", ...}')
    .action(async (opts: EvalFlags, cmd: Command) => {
      if (opts.prompt.length === 0) throw new Dd3dError('--prompt: expected at least one prompt, e.g. --prompt "a red chair, front view"');
      for (const p of opts.prompt) promptTerms(p); // a prompt without a family is an error before anything loads
      const modelDir = resolveModelDir(opts.model);
      await startBackend(cmd);
      const probe = loadProbe(opts.probe ?? builtinProbeDir());
      const model = DiffusionModel.load(modelDir);
      const sampling = samplingSettings(opts, model);
      const total = opts.n * opts.prompt.length;
      if (!opts.json) console.error(`eval-prompt: ${opts.n} images per prompt ${workersText(sampleWorkers(opts.n, opts.workers))}`);
      const bar = progressBar('sampling', total, { quiet: opts.json });
      const evals: PromptEval[] = [];
      try {
        for (const [i, prompt] of opts.prompt.entries()) {
          evals.push(await evaluatePrompt(model, probe, prompt, { ...opts, ...sampling, onProgress: (done) => bar.update(i * opts.n + done) }));
        }
      } finally {
        bar.stop();
        model.dispose();
        probe.dispose();
      }
      if (evals.length === 1) {
        printOne({ ...evals[0], ...sampling }, Boolean(opts.json));
        return;
      }
      const summary = summarizePromptEvals(evals);
      if (opts.json) {
        console.log(JSON.stringify({ ...summary, ...sampling }));
        return;
      }
      const rows = evals.map((e) => [e.prompt, pct(e.family_acc), pct(e.color_acc), pct(e.attr_acc), fmt(e.diversity)]);
      rows.push([
        `mean of ${evals.length} prompts, ${opts.n} samples each`,
        pct(summary.family_acc),
        pct(summary.color_acc),
        pct(summary.attr_acc),
        fmt(summary.diversity),
      ]);
      console.log(formatTable(['prompt', 'family', 'colour', 'attributes', 'diversity'], rows));
    });
}

const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);

function printOne(result: PromptEval & { guidance: number; steps: number }, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(result));
    return;
  }
  const named = (x: number | null) => (x === null ? 'not named' : pct(x));
  const rows: Array<[string, string, string]> = [
    ['family', result.terms.family, named(result.family_acc)],
    ['colour', result.terms.color ?? '-', named(result.color_acc)],
    ...Object.entries(result.terms.attributes).map(([k, v]) => [k, v, named(result.per_attribute[k] ?? 0)] as [string, string, string]),
  ];
  console.log(`"${result.prompt}", ${result.n} samples (guidance ${result.guidance}, ${result.steps} steps)\n`);
  console.log(formatTable(['asked', 'value', 'probe agrees'], rows));
  console.log(`\nattributes: ${named(result.attr_acc)}   diversity (mean pairwise probe-feature distance): ${fmt(result.diversity)}`);
}
