/**
 * `loadTokenizer`, which picks the implementation a diffusers tokenizer folder asks for:
 *  - `CLIPTokenizer` (or `CLIPTokenizerFast`, same files), or no `tokenizer_class` but
 *    vocab.json + merges.txt → {@link ClipTokenizer} (Stable Diffusion 1.x/2.x);
 *  - `Dd3dWordTokenizer` → {@link WordTokenizer} (the built-in dd3d-mv and dd3d-tiny);
 *  - any other class is a one-line error naming tokenizer_config.json and the class.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { Dd3dError, oneLine } from '../core/errors.js';
import { ClipTokenizer } from './clip-tokenizer.js';
import { CONFIG_FILE, readTokenizerConfig, resolveTokenizerFolder, VOCAB_FILE } from './tokenizer-folder.js';
import { WORD_TOKENIZER_CLASS, WordTokenizer } from './word-tokenizer.js';

export interface LoadTokenizerOptions {
  /** Called when a prompt is truncated; defaults to `console.warn`. */
  onWarning?: (msg: string) => void;
}

/** Classes whose folders ClipTokenizer reads (the fast variant saves the same vocab.json + merges.txt). */
const CLIP_CLASSES = new Set(['CLIPTokenizer', 'CLIPTokenizerFast']);
const SUPPORTED = 'supported: CLIPTokenizer (vocab.json + merges.txt) and Dd3dWordTokenizer (vocab.json)';

/**
 * Load the tokenizer of a diffusers tokenizer folder, or of a model folder that contains
 * `tokenizer/`, choosing the class from tokenizer_config.json's `tokenizer_class`.
 */
export function loadTokenizer(dir: string, options: LoadTokenizerOptions = {}): ClipTokenizer | WordTokenizer {
  const folder = resolveTokenizerFolder(dir, [CONFIG_FILE, VOCAB_FILE]);
  const config = readTokenizerConfig(folder);
  const configPath = config.path;
  const cls = config.raw?.tokenizer_class ?? undefined;
  if (cls !== undefined && typeof cls !== 'string') {
    throw new Dd3dError(`${configPath}: tokenizer_class must be a string, got ${oneLine(JSON.stringify(cls))} (${SUPPORTED})`);
  }
  if (cls === WORD_TOKENIZER_CLASS) return WordTokenizer.fromFolder(folder, options);
  if (cls !== undefined && CLIP_CLASSES.has(cls)) return ClipTokenizer.fromFolder(folder, options);
  if (cls !== undefined) throw new Dd3dError(`${configPath}: tokenizer_class "${cls}" is not supported (${SUPPORTED})`);
  if (existsSync(join(folder, VOCAB_FILE)) && existsSync(join(folder, 'merges.txt'))) {
    return ClipTokenizer.fromFolder(folder, options);
  }
  throw new Dd3dError(
    `${folder}: not a tokenizer folder: expected tokenizer_config.json naming its tokenizer_class, or vocab.json + merges.txt (${SUPPORTED})`,
  );
}
