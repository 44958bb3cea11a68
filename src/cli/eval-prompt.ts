import * as path from 'node:path';
import type { Command } from 'commander';
import { evaluatePrompt } from '../eval/eval-prompt.js';
import { promptTerms } from '../eval/prompt-terms.js';
import { builtinModelDir } from '../paths.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { loadProbe } from '../probe/index.js';
import { startBackend } from './common.js';
import { MODEL_FLAG_HELP, resolveModelDir } from './model-flag.js';
import { floatOption, intOption } from './options.js';
import { progressBar } from './progress.js';
import { fmt, formatTable } from './table.js';

interface EvalFlags {
  prompt: string;
  model?: string;
  probe?: string;
  n: number;
  seed: number;
  steps: number;
  guidance: number;
  json?: boolean;
}

export function registerEvalPrompt(program: Command): void {
  program
    .command('eval-prompt')
    .description('sample a prompt n times and score adherence (family, colour, named attributes) and diversity with the attribute probe')
    .requiredOption('--prompt <text>', 'a prompt in the procedural world\'s words, e.g. "a red chair with four legs, front view"')
    .option('--model <dir>', MODEL_FLAG_HELP)
    .option('--probe <dir>', 'attribute probe (default: models/dd3d-tiny/probe)')
    .option('--n <count>', 'images to sample', intOption(2, 4096), 64)
    .option('--seed <n>', 'seed of the first batch\'s noise (batch b uses seed + b)', intOption(0), 0)
    .option('--steps <n>', 'denoising steps', intOption(1, 1000), 25)
    .option('--guidance <scale>', 'classifier-free guidance scale', floatOption(0), 7.5)
    .option('--json', 'print one JSON object: {"n", "family_acc", "color_acc", "attr_acc", "diversity", ...}')
    .action(async (opts: EvalFlags, cmd: Command) => {
      promptTerms(opts.prompt); // a prompt without a family is an error before anything loads
      const modelDir = resolveModelDir(opts.model);
      await startBackend(cmd);
      const probe = loadProbe(opts.probe ?? path.join(builtinModelDir(), 'probe'));
      const model = DiffusionModel.load(modelDir);
      const bar = progressBar('sampling', opts.n, { quiet: opts.json });
      let result;
      try {
        result = evaluatePrompt(model, probe, opts.prompt, { ...opts, onProgress: (done) => bar.update(done) });
      } finally {
        bar.stop();
        model.dispose();
        probe.dispose();
      }
      if (opts.json) {
        console.log(JSON.stringify(result));
        return;
      }
      const pct = (x: number | null) => (x === null ? 'not named' : `${(100 * x).toFixed(1)}%`);
      const rows: Array<[string, string, string]> = [
        ['family', result.terms.family, pct(result.family_acc)],
        ['colour', result.terms.color ?? '-', pct(result.color_acc)],
        ...Object.entries(result.terms.attributes).map(([k, v]) => [k, v, pct(result.per_attribute[k] ?? 0)] as [string, string, string]),
      ];
      console.log(`"${result.prompt}", ${result.n} samples\n`);
      console.log(formatTable(['asked', 'value', 'probe agrees'], rows));
      console.log(`\nattributes: ${pct(result.attr_acc)}   diversity (mean pairwise probe-feature distance): ${fmt(result.diversity)}`);
    });
}
