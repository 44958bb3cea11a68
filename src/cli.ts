#!/usr/bin/env node
/**
 * The dd3d command line. It only wires: each command lives in src/cli/<name>.ts and calls
 * the library. A Dd3dError is the user's problem and prints as one line; anything else is
 * a bug and keeps its stack.
 */
import { Command, Option } from 'commander';
import { BACKEND_CHOICES } from './backend/backend.js';
import { registerDoctor } from './cli/doctor.js';
import { registerEval2d } from './cli/eval-2d.js';
import { registerEval3d } from './cli/eval-3d.js';
import { registerEvalPrompt } from './cli/eval-prompt.js';
import { registerImportDist } from './cli/import-dist.js';
import { registerParity } from './cli/parity.js';
import { registerPretrain } from './cli/pretrain.js';
import { registerProbe } from './cli/probe.js';
import { registerSample } from './cli/sample.js';
import { registerGenerate } from './cli/generate.js';
import { registerScenes } from './cli/scenes.js';
import { registerTrainDist } from './cli/train-dist.js';
import { registerView } from './cli/view.js';
import { Dd3dError } from './core/errors.js';
import { packageVersion } from './paths.js';

const program = new Command('dd3d')
  .description('Learn a distribution of prompts for a visual concept, then turn it into many different 3D objects.')
  .version(packageVersion())
  .addOption(
    new Option('--backend <name>', 'tensor backend; also read from env DD3D_BACKEND (default: auto)')
      .choices([...BACKEND_CHOICES]),
  )
  // commander's own usage errors ("error: option '--steps <n>' argument 'x' is invalid...") get our prefix and stay one line
  .configureOutput({ outputError: (text, write) => write(`dd3d: ${text}`) });

registerDoctor(program);
registerEval2d(program);
registerEval3d(program);
registerEvalPrompt(program);
registerImportDist(program);
registerParity(program);
registerPretrain(program);
registerProbe(program);
registerSample(program);
registerGenerate(program);
registerScenes(program);
registerTrainDist(program);
registerView(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof Dd3dError) {
    process.stderr.write(`dd3d: error: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}
