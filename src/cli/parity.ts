import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { Dd3dError } from '../core/errors.js';
import type { ParityReport } from '../parity/compare.js';
import { pipelineParity } from '../parity/pipeline.js';
import { promptDistributionParity } from '../parity/prompt-distribution.js';
import { schedulersParity } from '../parity/schedulers.js';
import { textEncoderParity } from '../parity/text-encoder.js';
import { unetParity } from '../parity/unet.js';
import { vaeParity } from '../parity/vae.js';
import { startBackend } from './common.js';
import { fmt, formatTable } from '../core/table.js';

/** Each check, and whether it needs a model folder (the scheduler check runs a fixed stand-in denoiser). */
const COMPONENTS: Record<string, { run: (model: string, golden: string) => ParityReport; needsModel: boolean }> = {
  text_encoder: { run: textEncoderParity, needsModel: true },
  unet: { run: unetParity, needsModel: true },
  vae: { run: vaeParity, needsModel: true },
  pipeline: { run: pipelineParity, needsModel: true },
  prompt_distribution: { run: promptDistributionParity, needsModel: true },
  schedulers: { run: (_model, golden) => schedulersParity(golden), needsModel: false },
};

export function registerParity(program: Command): void {
  program
    .command('parity')
    .description('check a model folder against reference outputs and gradients from diffusers/transformers')
    .option('--model <dir>', 'model folder in the diffusers layout, or one component folder (not needed for schedulers)')
    .requiredOption('--component <name>', `component to check: ${Object.keys(COMPONENTS).join(', ')}`)
    .option('--golden <file>', 'golden .safetensors with inputs and reference outputs (default: <model>/golden/<component>.safetensors)')
    .option('--json', 'print one JSON object: {"component", "ok", "results": [{"name", "max_abs_err", "tolerance", "ok"}]}')
    .addHelpText('after', '\nExits 1 when any output or gradient is over tolerance: forward outputs 1e-4·max(1, max|ref|), gradients 1e-3·max|ref|.')
    .addHelpText(
      'after',
      '\nExamples:\n  dd3d parity --model test/fixtures/sd1-tiny --component unet\n  dd3d parity --component schedulers --golden test/fixtures/schedulers/schedulers.safetensors',
    )
    .action(async (opts: { model?: string; component: string; golden?: string; json?: boolean }, cmd: Command) => {
      const check = COMPONENTS[opts.component];
      if (!check) throw new Dd3dError(`--component: unknown component "${opts.component}" (expected one of ${Object.keys(COMPONENTS).join(', ')})`);
      if (check.needsModel && !opts.model) throw new Dd3dError(`--model: required for --component ${opts.component}`);
      if (!opts.golden && !opts.model) throw new Dd3dError(`--golden: required for --component ${opts.component}`);
      const golden = opts.golden ?? path.join(opts.model!, 'golden', `${opts.component}.safetensors`);
      if (!fs.existsSync(golden)) throw new Dd3dError(`--golden: file not found: ${golden}`);
      await startBackend(cmd);
      const result = check.run(opts.model ?? '', golden);
      if (opts.json) {
        console.log(JSON.stringify(result));
      } else {
        console.log(`${result.component} parity against ${golden}\n`);
        const rows = result.results.map((r) => [r.name, fmt(r.max_abs_err), fmt(r.tolerance), fmt(r.ratio), r.ok ? 'ok' : 'FAIL']);
        console.log(formatTable(['output', 'max abs err', 'tolerance', 'err/tol', ''], rows));
        console.log(`\n${result.ok ? 'PASS' : 'FAIL'}`);
      }
      if (!result.ok) process.exitCode = 1;
    });
}
