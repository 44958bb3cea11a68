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

/** Where the built-in model lives: models/dd3d-tiny in the package. */
export function builtinModelDir(): string {
  return path.join(packageRoot(), 'models', 'dd3d-tiny');
}
