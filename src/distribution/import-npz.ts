/**
 * Importing an official DreamDistribution result (`final-N.npz`: `means` and `stds` float64
 * (n_cls, 77, D), `prompt_texts`). It holds only the fitted Gaussian, no raw context vectors,
 * so the imported distribution samples but cannot be edited (re-encoded with a new prefix or
 * suffix).
 */
import { Dd3dError } from '../core/errors.js';
import { readNpz, toFloat32, type NpyArray } from '../io/npz.js';
import { firstNonFinite } from '../models/load.js';
import type { PromptDistribution } from './distribution-file.js';

export function importOfficialNpz(file: string, classIndex: number, model: { path: string; text_encoder_hash: string }): PromptDistribution {
  const arrays = readNpz(file);
  const need = (key: string): NpyArray => {
    const a = arrays.get(key);
    if (!a) throw new Dd3dError(`${file}: no "${key}" array (expected an official DreamDistribution .npz with means, stds and prompt_texts)`);
    return a;
  };
  const means = need('means');
  const stds = need('stds');
  if (means.shape.length !== 3 || stds.shape.join() !== means.shape.join()) {
    throw new Dd3dError(`${file}: "means" and "stds" must both be (n_cls, 77, D), got (${means.shape}) and (${stds.shape})`);
  }
  const [classes, length, width] = means.shape as [number, number, number];
  const texts = arrays.get('prompt_texts');
  const names = texts && Array.isArray(texts.data) ? texts.data : [];
  if (classIndex >= classes) {
    throw new Dd3dError(
      `--class: ${file} holds ${classes} class${classes > 1 ? 'es' : ''} (${names.map((n, i) => `${i}: "${n}"`).join(', ')}), got ${classIndex}`,
    );
  }
  const size = length * width;
  const take = (a: NpyArray, label: string) => toFloat32(a, `${file}: ${label}`).slice(classIndex * size, (classIndex + 1) * size);
  const mu = take(means, 'means');
  const sigma = take(stds, 'stds');
  for (const [key, a] of [
    ['means', mu],
    ['stds', sigma],
  ] as const) {
    const at = firstNonFinite(a);
    if (at >= 0) throw new Dd3dError(`${file}: "${key}" holds ${a[at]} at element ${at} of class ${classIndex}`);
  }
  if (sigma.some((x) => x < 0)) throw new Dd3dError(`${file}: "stds" holds negative values`);
  return {
    model,
    prompts: null,
    ctx_length: null,
    prefix: '',
    suffix: '',
    ctx: null,
    mu: { shape: [length, width], data: mu },
    sigma: { shape: [length, width], data: sigma },
    components: null,
    training: {
      imported_from: file,
      class_index: classIndex,
      prompt_text: names[classIndex] ?? null,
      note: 'official DreamDistribution output: no raw context vectors, so it cannot be edited',
    },
  };
}
