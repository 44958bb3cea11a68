/**
 * `loadTokenizer`, which picks the implementation a diffusers tokenizer folder asks for:
 *  - `CLIPTokenizer` (or `CLIPTokenizerFast`, same files), or no `tokenizer_class` but
 *    vocab.json + merges.txt → {@link ClipTokenizer} (Stable Diffusion 1.x/2.x);
 *  - `Dd3dWordTokenizer` → {@link WordTokenizer} (the built-in dd3d-tiny model);
 *  - any other class is a one-line error naming tokenizer_config.json and the class.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { Dd3dError } from '../core/errors.js';
import { parsePythonJson } from '../io/json.js';
import { ClipTokenizer } from './clip-tokenizer.js';
import { WORD_TOKENIZER_CLASS, WordTokenizer } from './word-tokenizer.js';

export interface LoadTokenizerOptions {
  /** Called when a prompt is truncated; defaults to `console.warn`. */
  onWarning?: (msg: string) => void;
}

/** Classes whose folders ClipTokenizer reads (the fast variant saves the same vocab.json + merges.txt). */
const CLIP_CLASSES = new Set(['CLIPTokenizer', 'CLIPTokenizerFast']);
const SUPPORTED =
  'supported: CLIPTokenizer (vocab.json + merges.txt) and Dd3dWordTokenizer (vocab.json)';

const isDir = (p: string): boolean => statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
const holdsTokenizer = (d: string): boolean =>
  existsSync(join(d, 'tokenizer_config.json')) || existsSync(join(d, 'vocab.json'));

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** tokenizer_class from tokenizer_config.json, or undefined when the file or key is absent. */
function readTokenizerClass(configPath: string): string | undefined {
  if (!existsSync(configPath)) return undefined;
  let raw: unknown;
  try {
    let text = readFileSync(configPath, 'utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    raw = parsePythonJson(text);
  } catch (err) {
    throw new Dd3dError(`${configPath}: not valid JSON (${oneLine((err as Error).message)})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Dd3dError(`${configPath}: expected a JSON object`);
  }
  const cls = (raw as Record<string, unknown>).tokenizer_class;
  if (cls === undefined || cls === null) return undefined;
  if (typeof cls !== 'string') {
    throw new Dd3dError(`${configPath}: tokenizer_class must be a string, got ${oneLine(JSON.stringify(cls))} (${SUPPORTED})`);
  }
  return cls;
}

/**
 * Load the tokenizer of a diffusers tokenizer folder, or of a model folder that contains
 * `tokenizer/`, choosing the class from tokenizer_config.json's `tokenizer_class`.
 */
export function loadTokenizer(dir: string, options: LoadTokenizerOptions = {}): ClipTokenizer | WordTokenizer {
  let folder = resolve(dir);
  if (!isDir(folder)) throw new Dd3dError(`Tokenizer folder ${folder} does not exist or is not a folder`);
  if (!holdsTokenizer(folder) && isDir(join(folder, 'tokenizer')) && holdsTokenizer(join(folder, 'tokenizer'))) {
    folder = join(folder, 'tokenizer');
  }
  const configPath = join(folder, 'tokenizer_config.json');
  const cls = readTokenizerClass(configPath);
  if (cls === WORD_TOKENIZER_CLASS) return WordTokenizer.fromFolder(folder, options);
  if (cls !== undefined && CLIP_CLASSES.has(cls)) return ClipTokenizer.fromFolder(folder, options);
  if (cls !== undefined) throw new Dd3dError(`${configPath}: tokenizer_class "${cls}" is not supported (${SUPPORTED})`);
  if (existsSync(join(folder, 'vocab.json')) && existsSync(join(folder, 'merges.txt'))) {
    return ClipTokenizer.fromFolder(folder, options);
  }
  throw new Dd3dError(
    `${folder}: not a tokenizer folder: expected tokenizer_config.json naming its tokenizer_class, or vocab.json + merges.txt (${SUPPORTED})`,
  );
}
