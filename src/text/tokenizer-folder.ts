/**
 * Reading a diffusers/transformers tokenizer folder, once for every tokenizer:
 *   vocab.json               token → id (each tokenizer checks its own rules on the ids)
 *   tokenizer_config.json    tokenizer_class, model_max_length, special tokens, …
 *   special_tokens_map.json  special tokens again; read after the config, so it wins, as in transformers
 * A token entry in the last two is a string or an AddedToken object `{content, …}`.
 * A model folder is accepted in place of its `tokenizer/` subfolder. Every failure is a
 * one-line Dd3dError naming the file.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { Dd3dError } from '../core/errors.js';
import { readJsonFile } from '../io/regular-file.js';
import { shorten } from './text-util.js';

export const VOCAB_FILE = 'vocab.json';
export const CONFIG_FILE = 'tokenizer_config.json';
export const SPECIAL_TOKENS_FILE = 'special_tokens_map.json';

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value on one line, at most `max` characters, for messages. */
export function show(v: unknown, max = 40): string {
  return shorten(JSON.stringify(v) ?? String(v), max);
}

/** {@link readJsonFile} of a file that must hold a JSON object. */
export function readJsonObject(path: string): Record<string, unknown> {
  const raw = readJsonFile(path);
  if (!isPlainObject(raw)) throw new Dd3dError(`${path}: expected a JSON object`);
  return raw;
}

const isDir = (p: string): boolean => statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;

/**
 * The absolute tokenizer folder for `dir`: `dir` itself, or its `tokenizer/` subfolder when
 * `dir` has none of `markers` (the files the caller needs) and the subfolder has one.
 */
export function resolveTokenizerFolder(dir: string, markers: readonly string[]): string {
  const folder = resolve(dir);
  if (!isDir(folder)) throw new Dd3dError(`Tokenizer folder ${folder} does not exist or is not a folder`);
  const holds = (d: string): boolean => markers.some((m) => existsSync(join(d, m)));
  const sub = join(folder, 'tokenizer');
  return !holds(folder) && isDir(sub) && holds(sub) ? sub : folder;
}

/** One of the JSON files that name special tokens, as read. */
export interface SpecialTokenFile {
  path: string;
  /** True for tokenizer_config.json (which alone carries tokenizer_class and model_max_length). */
  isConfig: boolean;
  raw: Record<string, unknown>;
}

/** tokenizer_config.json then special_tokens_map.json, those that exist, in the order that lets the map win. */
export function readSpecialTokenFiles(folder: string): SpecialTokenFile[] {
  const out: SpecialTokenFile[] = [];
  for (const [name, isConfig] of [
    [CONFIG_FILE, true],
    [SPECIAL_TOKENS_FILE, false],
  ] as const) {
    const path = join(folder, name);
    if (existsSync(path)) out.push({ path, isConfig, raw: readJsonObject(path) });
  }
  return out;
}

/** tokenizer_config.json of `folder`, or undefined when it is absent. */
export function readTokenizerConfig(folder: string): { path: string; raw: Record<string, unknown> | undefined } {
  const path = join(folder, CONFIG_FILE);
  return { path, raw: existsSync(path) ? readJsonObject(path) : undefined };
}

/**
 * A token entry: a string or `{content: string}`; undefined when absent (undefined/null).
 * `nonEmpty` rejects "" (the word tokenizer splits special tokens out of text, so "" would
 * match everywhere; CLIP's folders may carry "" and its constructor skips it).
 */
export function tokenContent(v: unknown, where: string, nonEmpty: boolean): string | undefined {
  if (v === undefined || v === null) return undefined;
  const content = typeof v === 'string' ? v : isPlainObject(v) && typeof v.content === 'string' ? v.content : undefined;
  if (content !== undefined && !(nonEmpty && content === '')) return content;
  if (nonEmpty) throw new Dd3dError(`${where}: expected a non-empty token string or an object with a "content" string, got ${show(v)}`);
  throw new Dd3dError(`${where}: expected a token string or an object with a "content" string, got ${show(v, 60)}`);
}
