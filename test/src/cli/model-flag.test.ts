/**
 * Which model a command runs when --model is not given: the one the distributions were learned
 * with, found from their `model.path` and confirmed by their text encoder hash, else the
 * built-in model.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkModelFiles, modelLabel, resolveModelDir } from '../../../src/cli/model-flag.js';
import { Dd3dError } from '../../../src/core/errors.js';
import { MAX_READ_BYTES } from '../../../src/io/regular-file.js';
import { textEncoderHash, type PromptDistribution } from '../../../src/distribution/distribution-file.js';
import { builtinModelDir, packageRoot } from '../../../src/paths.js';

const TINY = path.join(packageRoot(), 'models', 'dd3d-tiny');
const MV = builtinModelDir();
const learnedWith = (p: string, dir: string) => ({ model: { path: p, text_encoder_hash: textEncoderHash(dir) } }) as PromptDistribution;

describe('resolveModelDir', () => {
  it('--model wins over everything', () => {
    expect(resolveModelDir('some/folder', [learnedWith('built-in (models/dd3d-tiny)', TINY)])).toBe('some/folder');
  });

  it('no distribution: the built-in model, models/dd3d-mv', () => {
    expect(resolveModelDir(undefined)).toBe(path.join(packageRoot(), 'models', 'dd3d-mv'));
  });

  it("finds the distribution's model by its built-in label, by a path from here or from the package", () => {
    expect(resolveModelDir(undefined, [learnedWith('built-in (models/dd3d-tiny)', TINY)])).toBe(TINY);
    expect(resolveModelDir(undefined, [learnedWith(TINY, TINY)])).toBe(TINY);
    const cwd = process.cwd();
    try {
      process.chdir(os.tmpdir()); // models/dd3d-tiny is not under it: found from the package
      expect(resolveModelDir(undefined, [learnedWith('models/dd3d-tiny', TINY)])).toBe(TINY);
    } finally {
      process.chdir(cwd);
    }
  });

  it('falls back to the built-in model when the named folder is gone, holds another text encoder, or the files disagree', () => {
    const gone = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-gone-')), 'model');
    expect(resolveModelDir(undefined, [learnedWith(gone, TINY)])).toBe(MV);
    // the folder is there, but the file was fitted with another encoder: not its model
    expect(resolveModelDir(undefined, [{ model: { path: TINY, text_encoder_hash: textEncoderHash(MV) } } as PromptDistribution])).toBe(MV);
    expect(resolveModelDir(undefined, [learnedWith('built-in (models/dd3d-tiny)', TINY), learnedWith('built-in (models/dd3d-mv)', MV)])).toBe(MV);
    expect(resolveModelDir(undefined, [learnedWith('built-in (models/dd3d-tiny)', TINY), learnedWith(TINY, TINY)])).toBe(TINY);
  });

  it('a distribution records --model as given, else the built-in label', () => {
    expect(modelLabel(undefined, MV)).toBe('built-in (models/dd3d-mv)');
    expect(modelLabel('~/sd-2-1', '/home/u/sd-2-1')).toBe('~/sd-2-1');
  });
});

describe('checkModelFiles', () => {
  it('lets multi-GB weights through (a Stable Diffusion UNet) and holds configs to the read bound', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-model-files-'));
    try {
      fs.mkdirSync(path.join(dir, 'unet'));
      // sparse files: sizes without the bytes
      fs.writeFileSync(path.join(dir, 'unet', 'diffusion_pytorch_model.safetensors'), '');
      fs.truncateSync(path.join(dir, 'unet', 'diffusion_pytorch_model.safetensors'), 3.4e9);
      fs.writeFileSync(path.join(dir, 'unet', 'config.json'), '{}');
      expect(() => checkModelFiles(dir)).not.toThrow();
      fs.truncateSync(path.join(dir, 'unet', 'config.json'), MAX_READ_BYTES + 1);
      expect(() => checkModelFiles(dir)).toThrow(
        new Dd3dError(`${path.join(dir, 'unet', 'config.json')}: ${MAX_READ_BYTES + 1} bytes, over the limit of ${MAX_READ_BYTES} bytes for a model file`),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
