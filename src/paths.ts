/** Locations inside the installed package, valid both from src/ (tests) and dist/src/ (the CLI). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The folder holding dd3d's package.json. */
export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('dd3d: cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return (root = dir);
}

export function packageVersion(): string {
  return JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version;
}

/**
 * Where the built-in model lives: models/dd3d-mv in the package, the multi-view model (4 views
 * with their cameras), which every 3D measure prefers. models/dd3d-tiny, the single-view model
 * it was fine-tuned from, ships beside it and is used by `--model` or by the distributions
 * learned with it.
 */
export function builtinModelDir(): string {
  return path.join(packageRoot(), 'models', 'dd3d-mv');
}

/** How a distribution file names a model inside the package: "built-in (models/dd3d-mv)". */
export function packageModelLabel(modelDir: string): string {
  return `built-in (${path.relative(packageRoot(), modelDir).split(path.sep).join('/')})`;
}

/** The folder a {@link packageModelLabel} names, or null for any other text. */
export function packageModelFromLabel(label: string): string | null {
  const m = /^built-in \((.+)\)$/.exec(label);
  return m ? path.join(packageRoot(), m[1]!) : null;
}

/**
 * The attribute probe that judges images (eval-2d, eval-3d, eval-prompt, probe eval). It was
 * trained on the world's renders, not on any model's samples, so it serves every model.
 */
export function builtinProbeDir(): string {
  return path.join(packageRoot(), 'models', 'dd3d-tiny', 'probe');
}
