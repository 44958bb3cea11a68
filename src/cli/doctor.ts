import type { Command } from 'commander';
import { measureKernelRates } from '../backend/gflops.js';
import { startBackend } from './common.js';
import { fmt, formatTable } from '../core/table.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('show the compute backend, why it was chosen, the kernels dd3d patched, and measured GFLOPS')
    .option('--json', 'print one JSON object instead of text')
    .option('--stock', "measure tfjs's own wasm kernels, without dd3d's rewrites (to see what they buy; NaN = missing)")
    .action(async (opts: { json?: boolean; stock?: boolean }, cmd: Command) => {
      const info = await startBackend(cmd, opts.stock);
      if (!opts.json) process.stderr.write('measuring kernel throughput (a few seconds)...\n');
      const rates = measureKernelRates();
      if (opts.json) {
        console.log(
          JSON.stringify({
            backend: info.name,
            requested: info.requested,
            reason: info.reason,
            patched_kernels: info.patchedKernels,
            node: process.version,
            kernels: rates,
          }),
        );
        return;
      }
      console.log(`backend:          ${info.name}`);
      console.log(`why:              ${info.reason}`);
      console.log(`patched kernels:  ${info.patchedKernels.join(', ') || 'none'}`);
      console.log(`node:             ${process.version}\n`);
      console.log(
        formatTable(
          ['kernel', 'problem', 'ms', 'GFLOPS'],
          rates.map((r) => [r.name, r.shape, fmt(r.ms), fmt(r.gflops)]),
        ),
      );
    });
}
