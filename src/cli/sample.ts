import * as fs from 'node:fs';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { Dd3dError } from '../errors.js';
import { writePng } from '../io/image.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { checkImageSize, sampleImages } from '../pipeline/text-to-image.js';
import { SCHEDULER_KINDS, type SchedulerKind } from '../schedulers/index.js';
import { startBackend } from './common.js';
import { MODEL_FLAG_HELP, resolveModelDir } from './model-flag.js';
import { floatOption, intOption } from './options.js';
import { progressBar } from './progress.js';

interface SampleFlags {
  model?: string;
  prompt: string;
  negative: string;
  steps: number;
  guidance: number;
  scheduler?: SchedulerKind;
  seed: number;
  n: number;
  height?: number;
  width?: number;
  out: string;
  json?: boolean;
}

export function registerSample(program: Command): void {
  program
    .command('sample')
    .description('text-to-image: sample images from a model folder with classifier-free guidance')
    .option('--model <dir>', MODEL_FLAG_HELP)
    .requiredOption('--prompt <text>', 'what to draw')
    .option('--negative <text>', 'negative prompt (what to steer away from)', '')
    .option('--steps <n>', 'denoising steps', intOption(1, 1000), 25)
    .option('--guidance <scale>', 'classifier-free guidance scale (1 = no guidance)', floatOption(0), 7.5)
    .addOption(new Option('--scheduler <name>', 'sampler (default: the folder\'s scheduler_config.json class)').choices([...SCHEDULER_KINDS]))
    .option('--seed <n>', 'random seed for the starting noise', intOption(0), 0)
    .option('--n <count>', 'number of images; more than 1 writes a grid', intOption(1, 256), 1)
    .option('--height <px>', 'image height (default: the model\'s training size)', intOption(1))
    .option('--width <px>', 'image width (default: the model\'s training size)', intOption(1))
    .requiredOption('--out <file.png>', 'output PNG (a grid when --n > 1)')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (opts: SampleFlags, cmd: Command) => {
      if (path.extname(opts.out).toLowerCase() !== '.png') throw new Dd3dError(`--out: expected a .png file name, got "${opts.out}"`);
      const outDir = path.dirname(path.resolve(opts.out));
      if (!fs.existsSync(outDir)) throw new Dd3dError(`--out: folder does not exist: ${outDir}`);
      await startBackend(cmd);
      const started = performance.now();
      const model = DiffusionModel.load(resolveModelDir(opts.model));
      const [dh, dw] = model.defaultSize;
      const height = opts.height ?? dh;
      const width = opts.width ?? dw;
      checkImageSize(model, height, width);
      const cond = model.encodePrompt(opts.prompt, opts.n);
      const uncond = model.encodePrompts([opts.negative]);
      const bar = progressBar('sampling', opts.steps, { quiet: opts.json });
      let images;
      try {
        images = sampleImages(model, {
          cond,
          uncond,
          steps: opts.steps,
          guidance: opts.guidance,
          scheduler: opts.scheduler,
          seed: opts.seed,
          height,
          width,
          onStep: (done) => bar.update(done),
        });
      } finally {
        bar.stop();
        cond.dispose();
        uncond.dispose();
      }
      const [n, h, w, c] = images.shape;
      await writePng(opts.out, { data: images.dataSync() as Float32Array, n, height: h, width: w, channels: c });
      images.dispose();
      model.dispose();
      const summary = { out: opts.out, n, height, width, steps: opts.steps, guidance: opts.guidance, seed: opts.seed, seconds: (performance.now() - started) / 1000 };
      if (opts.json) console.log(JSON.stringify(summary));
      else console.error(`wrote ${opts.out} (${n} image${n > 1 ? 's' : ''}, ${width}×${height}, ${summary.seconds.toFixed(1)} s)`);
    });
}
