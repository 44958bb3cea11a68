import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { Dd3dError } from '../errors.js';
import { textEncoderParity } from '../parity/text-encoder.js';
import type { ParityReport } from '../parity/compare.js';
import { startBackend } from './common.js';
import { fmt, formatTable } from './table.js';

const COMPONENTS: Record<string, (model: string, golden: string) => ParityReport> = {
  text_encoder: textEncoderParity,
};

export function registerParity(program: Command): void {
  program
    .command('parity')
    .description('check a model folder against reference outputs and gradients from diffusers/transformers')
    .requiredOption('--model <dir>', 'model folder in the diffusers layout (or one component folder)')
    .requiredOption('--component <name>', `component to check: ${Object.keys(COMPONENTS).join(', ')}`)
    .option('--golden <file>', 'golden .safetensors with inputs and reference outputs (default: <model>/golden/<component>.safetensors)')
    .option('--json', 'print one JSON object: {"component", "ok", "results": [{"name", "max_abs_err", "tolerance", "ok"}]}')
    .addHelpText('after', '\nExits 1 when any output or gradient is over tolerance: forward outputs 1e-4·max(1, max|ref|), gradients 1e-3·max|ref|.')
    .action(async (opts: { model: string; component: string; golden?: string; json?: boolean }, cmd: Command) => {
      const run = COMPONENTS[opts.component];
      if (!run) throw new Dd3dError(`--component: unknown component "${opts.component}" (expected one of ${Object.keys(COMPONENTS).join(', ')})`);
      const golden = opts.golden ?? path.join(opts.model, 'golden', `${opts.component}.safetensors`);
      if (!fs.existsSync(golden)) throw new Dd3dError(`--golden: file not found: ${golden}`);
      await startBackend(cmd);
      const result = run(opts.model, golden);
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
