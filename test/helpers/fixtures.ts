import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { Dd3dError } from '../../src/core/errors.js';

export const FIXTURES = path.resolve(__dirname, '..', 'fixtures');

/**
 * A copy of one component folder of a fixture model (e.g. sd1-tiny/unet) with config keys
 * overridden, written under `tmp/name`; the weights are symlinked, not copied.
 */
export function componentWithConfig(tmp: string, name: string, fixture: string, component: string, changes: Record<string, unknown>): string {
  const src = path.join(FIXTURES, fixture, component);
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const config = { ...JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')), ...changes };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  for (const f of fs.readdirSync(src)) if (f.endsWith('.safetensors')) fs.symlinkSync(path.join(src, f), path.join(dir, f));
  return dir;
}

/** The Dd3dError `f` throws, checked to be one line; fails if it throws anything else or nothing. */
export function dd3dError(f: () => unknown): Dd3dError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(Dd3dError);
    expect((e as Error).message).not.toContain('\n');
    return e as Dd3dError;
  }
  throw new Error('expected a Dd3dError, nothing was thrown');
}
