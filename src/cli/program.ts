/**
 * The dd3d command tree. It only wires: each command lives in src/cli/<name>.ts and calls the
 * library. Built by a function, not at import, so the CLI entry (src/cli.ts) and in-process
 * tests (the fuzz suite) each get a fresh program; commander throws instead of exiting
 * (`exitOverride`), and src/cli/run.ts turns every failure into one line.
 */
import { Command, Option } from 'commander';
import { BACKEND_CHOICES } from '../backend/backend.js';
import { packageVersion } from '../paths.js';
import { registerDoctor } from './doctor.js';
import { registerEval2d } from './eval-2d.js';
import { registerEval3d } from './eval-3d.js';
import { registerEvalPrompt } from './eval-prompt.js';
import { registerGenerate } from './generate.js';
import { registerImportDist } from './import-dist.js';
import { registerParity } from './parity.js';
import { registerPretrain } from './pretrain.js';
import { registerProbe } from './probe.js';
import { registerQueue } from './queue.js';
import { registerSample } from './sample.js';
import { registerScenes } from './scenes.js';
import { registerTrainDist } from './train-dist.js';
import { registerView } from './view.js';
import { processIo, type CliIo } from './run.js';

export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('dd3d')
    .description('Learn a distribution of prompts for a visual concept, then turn it into many different 3D objects.')
    .version(packageVersion())
    .addOption(new Option('--backend <name>', 'tensor backend; also read from env DD3D_BACKEND (default: auto)').choices([...BACKEND_CHOICES]))
    // before the commands are added, so each inherits both: commander throws instead of exiting,
    // and its own usage errors ("error: option '--steps <n>' argument 'x' is invalid...") get our prefix and stay one line
    .exitOverride()
    .configureOutput({ writeErr: (text) => io.err(text), outputError: (text, write) => write(`dd3d: ${text}`) });

  registerDoctor(program);
  registerEval2d(program);
  registerEval3d(program);
  registerEvalPrompt(program);
  registerImportDist(program);
  registerParity(program);
  registerPretrain(program);
  registerProbe(program);
  registerQueue(program);
  registerSample(program);
  registerGenerate(program);
  registerScenes(program);
  registerTrainDist(program);
  registerView(program);
  return program;
}
