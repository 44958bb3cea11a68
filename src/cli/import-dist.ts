/** `dd3d import-dist`: the output goes through the output guard (see src/io/output-guard.ts) before the .npz is read. */
import type { Command } from 'commander';
import { checkDistributionModel, saveDistribution, textEncoderHash } from '../distribution/distribution-file.js';
import { importOfficialNpz } from '../distribution/import-npz.js';
import { getComponent, openModelFolder } from '../io/diffusers.js';
import { clipTextConfig } from '../models/load.js';
import { MODEL_FLAG_HELP, modelLabel, resolveModelDir } from './model-flag.js';
import { checkDistributionOut } from './train-dist.js';
import { intOption } from './options.js';

export function registerImportDist(program: Command): void {
  program
    .command('import-dist')
    .description('import an official DreamDistribution result (.npz with means, stds, prompt_texts) as a dd3d distribution file')
    .argument('<file.npz>', 'the official output, e.g. final-1000.npz')
    .option('--model <dir>', `${MODEL_FLAG_HELP}; it must be the model the .npz was learned with`)
    .requiredOption('--out <file.json>', 'distribution file to write')
    .option('--class <index>', 'which class of a multi-class .npz', intOption(0), 0)
    .option('--force', 'replace an existing --out file that is not a dd3d distribution (an earlier distribution is replaced without it)')
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText(
      'after',
      '\nThe .npz holds only the fitted Gaussian, no learned context vectors: the result samples\n(dd3d sample --dist, generate) but cannot be edited with --prefix/--suffix.\n\nExample:\n  dd3d import-dist final-1000.npz --model ~/models/stable-diffusion-2-1 --out chair.json',
    )
    .action((file: string, opts: { model?: string; out: string; class: number; force?: boolean; json?: boolean }) => {
      checkDistributionOut(opts.out, Boolean(opts.force));
      const modelDir = resolveModelDir(opts.model);
      const config = clipTextConfig(getComponent(openModelFolder(modelDir), 'text_encoder'));
      const dist = importOfficialNpz(file, opts.class, { path: modelLabel(opts.model, modelDir), text_encoder_hash: textEncoderHash(modelDir) });
      checkDistributionModel(file, dist, modelDir, config.hidden_size, config.max_position_embeddings, () => {});
      saveDistribution(opts.out, dist);
      const summary = { out: opts.out, model: modelDir, states: dist.mu.shape, prompt_text: dist.training.prompt_text, editable: false };
      if (opts.json) console.log(JSON.stringify(summary));
      else
        console.error(
          `wrote ${opts.out} ([${dist.mu.shape}] states for "${summary.prompt_text}"; sampling works, editing needs raw context vectors the .npz does not have)`,
        );
    });
}
