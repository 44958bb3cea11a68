/**
 * A word-level tokenizer for the built-in models (dd3d-mv and dd3d-tiny), whose prompts only
 * ever use the procedural world's vocabulary (scenes/captions.ts `vocabulary()`). It offers the same
 * interface as the CLIP BPE tokenizer (see ./tokenizer.ts) and is stored as a diffusers-style
 * tokenizer folder:
 *   vocab.json               token → id: `<|startoftext|>` 0, `<|endoftext|>` 1, `<|pad|>` 2,
 *                            then the words (and "," ) in code-unit order
 *   tokenizer_config.json    {"tokenizer_class": "Dd3dWordTokenizer", "model_max_length": 77, …}
 *   special_tokens_map.json  {"bos_token", "eos_token", "pad_token"}
 *
 * Normalisation of a prompt:
 *  1. special tokens (bos/eos/pad) are split out verbatim, case-sensitively, as in CLIP;
 *  2. the rest loses control/format characters, is lower-cased and NFC-normalised;
 *  3. it is cut into pieces: a word is a run of letters, digits and combining marks, with
 *     inner apostrophes or hyphens ("3d" and "chair's" are one word each); every other
 *     non-space character is a piece of its own; whitespace only separates;
 *  4. sentence punctuation (, . ; : ! ?) is a token when the vocabulary has it and is dropped
 *     otherwise. `build` puts "," in by default and nothing else, so "a red chair, front view"
 *     keeps its comma (it separates the object from the view phrase, as in every training
 *     caption and as CLIP's tokenizer keeps it) while a trailing "." or "!" is ignored;
 *  5. any other piece not in the vocabulary is an error that names it and suggests the
 *     nearest known words (optimal-string-alignment edit distance, up to 3).
 * The normalised text (what `decode` returns) joins tokens with single spaces, punctuation
 * attached to the word before it: "A  Red CHAIR , front view." → "a red chair, front view".
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { Dd3dError, oneLine } from '../core/errors.js';
import { escapeRegExp, frameIds, shorten } from './text-util.js';
import { readJsonObject, readSpecialTokenFiles, resolveTokenizerFolder, show, tokenContent, VOCAB_FILE } from './tokenizer-folder.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { TextTokenizer, TokenizerCallOptions, TokenizerCallResult, TokenizerDecodeOptions } from './tokenizer.js';

/** The `tokenizer_class` a word-tokenizer folder declares in tokenizer_config.json. */
export const WORD_TOKENIZER_CLASS = 'Dd3dWordTokenizer';

export const DEFAULT_BOS_TOKEN = '<|startoftext|>';
export const DEFAULT_EOS_TOKEN = '<|endoftext|>';
export const DEFAULT_PAD_TOKEN = '<|pad|>';
/** Default sequence length, the CLIP text model's; soft-prompt code treats both tokenizers alike. */
export const DEFAULT_MAX_LENGTH = 77;
/** The CLIP text models dd3d loads have 77 position embeddings, so longer sequences cannot be encoded. */
export const MAX_MAX_LENGTH = 77;
/** Punctuation split off as pieces of their own: kept when in the vocabulary, dropped otherwise. */
export const SENTENCE_PUNCTUATION: readonly string[] = [',', '.', ';', ':', '!', '?'];

const SUGGESTIONS = 3;
const MAX_REPORTED_UNKNOWN = 5;

const PUNCT = new Set(SENTENCE_PUNCTUATION);
const WORD = String.raw`[\p{L}\p{M}\p{N}]+(?:['’\-][\p{L}\p{M}\p{N}]+)*`;
const PIECE_RE = new RegExp(`${WORD}|[^\\s\\p{L}\\p{M}\\p{N}]`, 'gu');
const WORD_RE = new RegExp(`^${WORD}$`, 'u');
/** Control, format, surrogate, private-use and unassigned characters, except tab/newline/CR. */
const DROP_RE = /(?![\t\n\r])\p{C}/gu;

export interface WordTokenizerOptions {
  /** Called when a prompt is truncated; defaults to `console.warn`. */
  onWarning?: (msg: string) => void;
}

export interface WordTokenizerBuildOptions extends WordTokenizerOptions {
  /** Sequence length including BOS and EOS, 2…77; default 77. */
  maxLength?: number;
  /** Sentence punctuation to keep as tokens (a subset of , . ; : ! ?); default [","]. */
  punctuation?: readonly string[];
  /** Default `<|startoftext|>`. */
  bosToken?: string;
  /** Default `<|endoftext|>`. */
  eosToken?: string;
  /** Default `<|pad|>`; may equal the EOS token (as in SD 1.x). */
  padToken?: string;
}

interface Setup {
  vocab: Map<string, number>;
  bosToken: string;
  eosToken: string;
  padToken: string;
  maxLength: number;
  /** Where the vocabulary came from, for messages ("the word tokenizer in DIR"). */
  source: string;
  onWarning: (msg: string) => void;
}

function checkMaxLength(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 2 || v > MAX_MAX_LENGTH) {
    throw new Dd3dError(`${where}: expected a whole number from 2 to ${MAX_MAX_LENGTH} (start and end tokens included), got ${show(v)}`);
  }
  return v;
}

/** Lower-case, NFC, and cut into words and single non-space characters (no special-token handling). */
function pieces(text: string): string[] {
  const s = text.replace(DROP_RE, '').toLowerCase().normalize('NFC');
  return Array.from(s.matchAll(PIECE_RE), (m) => m[0]);
}

/** True for a string normalisation yields unchanged as one word. */
function isWord(s: string): boolean {
  if (!WORD_RE.test(s)) return false;
  const p = pieces(s);
  return p.length === 1 && p[0] === s;
}

/** Tokens joined with single spaces; sentence punctuation attaches to the token before it. */
function joinTokens(tokens: readonly string[]): string {
  let out = '';
  for (const t of tokens) out += out === '' || PUNCT.has(t) ? t : ` ${t}`;
  return out;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const s = Array.from(a);
  const t = Array.from(b);
  const cols = t.length + 1;
  const d = new Int32Array((s.length + 1) * cols);
  for (let i = 0; i <= s.length; i++) d[i * cols] = i;
  for (let j = 0; j <= t.length; j++) d[j] = j;
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = v;
    }
  }
  return d[s.length * cols + t.length]!;
}

function listOr(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

export class WordTokenizer implements TextTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** Default total sequence length (BOS + tokens + EOS + padding). */
  readonly maxLength: number;
  readonly bosToken: string;
  readonly eosToken: string;
  readonly padToken: string;

  private readonly vocab: Map<string, number>;
  private readonly tokens: string[];
  private readonly specialIds: Map<string, number>;
  private readonly specialIdSet: Set<number>;
  private readonly specialRe: RegExp;
  private readonly source: string;
  private readonly onWarning: (msg: string) => void;

  private constructor(s: Setup) {
    this.vocab = s.vocab;
    this.maxLength = s.maxLength;
    this.bosToken = s.bosToken;
    this.eosToken = s.eosToken;
    this.padToken = s.padToken;
    this.source = s.source;
    this.onWarning = s.onWarning;
    this.tokens = new Array<string>(s.vocab.size);
    for (const [t, id] of s.vocab) this.tokens[id] = t;
    this.bosId = s.vocab.get(s.bosToken)!;
    this.eosId = s.vocab.get(s.eosToken)!;
    this.padId = s.vocab.get(s.padToken)!;
    this.specialIds = new Map([
      [s.bosToken, this.bosId],
      [s.eosToken, this.eosId],
      [s.padToken, this.padId],
    ]);
    this.specialIdSet = new Set(this.specialIds.values());
    const alternatives = [...this.specialIds.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.specialRe = new RegExp(alternatives.join('|'), 'gu');
  }

  /**
   * A vocabulary of the special tokens (ids 0, 1, 2: bos, eos, pad) followed by the words,
   * normalised, de-duplicated and sorted by code unit, plus the kept punctuation. Entries are
   * normalised like prompts, so "Front view" adds "front" and "view".
   */
  static build(words: Iterable<string>, options: WordTokenizerBuildOptions = {}): WordTokenizer {
    const bosToken = tokenContent(options.bosToken, 'WordTokenizer.build bosToken', true) ?? DEFAULT_BOS_TOKEN;
    const eosToken = tokenContent(options.eosToken, 'WordTokenizer.build eosToken', true) ?? DEFAULT_EOS_TOKEN;
    const padToken = tokenContent(options.padToken, 'WordTokenizer.build padToken', true) ?? DEFAULT_PAD_TOKEN;
    if (bosToken === eosToken) throw new Dd3dError(`WordTokenizer.build: bosToken and eosToken must differ, both are "${bosToken}"`);
    if (padToken === bosToken) throw new Dd3dError(`WordTokenizer.build: padToken must differ from bosToken "${bosToken}"`);
    const maxLength = checkMaxLength(options.maxLength ?? DEFAULT_MAX_LENGTH, 'WordTokenizer.build maxLength');

    const entries = new Set<string>();
    for (const p of options.punctuation ?? [',']) {
      if (!PUNCT.has(p)) {
        throw new Dd3dError(`WordTokenizer.build punctuation: ${show(p)} is not one of ${SENTENCE_PUNCTUATION.join(' ')}`);
      }
      entries.add(p);
    }
    let count = 0;
    for (const w of words) {
      count++;
      if (typeof w !== 'string') throw new Dd3dError(`WordTokenizer.build: expected word strings, got ${show(w)}`);
      for (const p of pieces(w)) {
        if (!isWord(p) && !PUNCT.has(p)) {
          throw new Dd3dError(
            `WordTokenizer.build: ${show(w)} contains ${show(p)}, which is neither a word (letters and digits) nor one of ${SENTENCE_PUNCTUATION.join(' ')}`,
          );
        }
        entries.add(p);
      }
    }
    const sorted = [...entries].sort();
    if (count === 0 || sorted.every((t) => PUNCT.has(t))) throw new Dd3dError('WordTokenizer.build: the word list is empty');
    for (const special of [bosToken, eosToken, padToken]) {
      if (entries.has(special)) throw new Dd3dError(`WordTokenizer.build: special token "${special}" is also in the word list`);
    }
    const vocab = new Map<string, number>();
    for (const t of [bosToken, eosToken, padToken, ...sorted]) if (!vocab.has(t)) vocab.set(t, vocab.size);
    return new WordTokenizer({
      vocab,
      bosToken,
      eosToken,
      padToken,
      maxLength,
      source: 'the word tokenizer',
      onWarning: options.onWarning ?? ((msg: string) => console.warn(msg)),
    });
  }

  /**
   * Load a folder written by {@link save}: vocab.json, plus tokenizer_config.json and/or
   * special_tokens_map.json (the latter wins, as in transformers). Also accepts a model
   * folder that contains a `tokenizer/` subfolder.
   */
  static fromFolder(dir: string, options: WordTokenizerOptions = {}): WordTokenizer {
    const folder = resolveTokenizerFolder(dir, [VOCAB_FILE]);
    const vocabPath = join(folder, 'vocab.json');
    if (!existsSync(vocabPath)) {
      throw new Dd3dError(`Tokenizer folder ${folder} has no vocab.json (expected a ${WORD_TOKENIZER_CLASS} folder)`);
    }

    let bosToken = DEFAULT_BOS_TOKEN;
    let eosToken = DEFAULT_EOS_TOKEN;
    let padToken = DEFAULT_PAD_TOKEN;
    let maxLength = DEFAULT_MAX_LENGTH;
    for (const { path, isConfig, raw } of readSpecialTokenFiles(folder)) {
      bosToken = tokenContent(raw.bos_token, `${path} bos_token`, true) ?? bosToken;
      eosToken = tokenContent(raw.eos_token, `${path} eos_token`, true) ?? eosToken;
      padToken = tokenContent(raw.pad_token, `${path} pad_token`, true) ?? padToken;
      if (!isConfig) continue;
      const cls = raw.tokenizer_class;
      if (cls !== undefined && cls !== null && cls !== WORD_TOKENIZER_CLASS) {
        throw new Dd3dError(`${path}: tokenizer_class is ${show(cls)}, not "${WORD_TOKENIZER_CLASS}" (load this folder with loadTokenizer)`);
      }
      if (raw.model_max_length !== undefined && raw.model_max_length !== null) {
        maxLength = checkMaxLength(raw.model_max_length, `${path} model_max_length`);
      }
    }

    const vocab = WordTokenizer.parseVocab(readJsonObject(vocabPath), vocabPath);
    const specials = new Set([bosToken, eosToken, padToken]);
    for (const [key, token] of [
      ['bos_token', bosToken],
      ['eos_token', eosToken],
      ['pad_token', padToken],
    ] as const) {
      if (!vocab.has(token)) throw new Dd3dError(`${folder}: ${key} "${token}" is not in the vocabulary ${vocabPath}`);
    }
    if (bosToken === eosToken) throw new Dd3dError(`${folder}: bos_token and eos_token must differ, both are "${bosToken}"`);
    for (const t of vocab.keys()) {
      if (specials.has(t) || PUNCT.has(t) || isWord(t)) continue;
      throw new Dd3dError(
        `${vocabPath}: token ${show(t)} can never come out of normalisation (expected a lower-case word of letters and digits, one of ${SENTENCE_PUNCTUATION.join(' ')}, or a special token)`,
      );
    }
    return new WordTokenizer({
      vocab,
      bosToken,
      eosToken,
      padToken,
      maxLength,
      source: `the word tokenizer in ${folder}`,
      onWarning: options.onWarning ?? ((msg: string) => console.warn(msg)),
    });
  }

  /** token → id, with ids exactly 0 … n-1 each used once (an embedding table has no holes). */
  private static parseVocab(raw: Record<string, unknown>, path: string): Map<string, number> {
    const entries = Object.entries(raw);
    if (entries.length === 0) throw new Dd3dError(`${path}: the vocabulary is empty`);
    const vocab = new Map<string, number>();
    const owner = new Map<number, string>();
    for (const [token, id] of entries) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= entries.length) {
        throw new Dd3dError(
          `${path}: token ${show(token)} maps to ${show(id)}, expected an integer id from 0 to ${entries.length - 1} (ids number the entries without gaps)`,
        );
      }
      const other = owner.get(id);
      if (other !== undefined) throw new Dd3dError(`${path}: tokens ${show(other)} and ${show(token)} share id ${id}`);
      owner.set(id, token);
      vocab.set(token, id);
    }
    return vocab;
  }

  /**
   * Write vocab.json, special_tokens_map.json and tokenizer_config.json into `dir` (created
   * if missing), each atomically; tokenizer_config.json, which names the class, goes last.
   */
  save(dir: string): void {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new Dd3dError(`${dir}: cannot create the tokenizer folder (${oneLine((err as Error).message)})`);
    }
    const lines = this.tokens.map((t, id) => `  ${JSON.stringify(t)}: ${id}`);
    const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;
    const specials = { bos_token: this.bosToken, eos_token: this.eosToken, pad_token: this.padToken };
    writeFileAtomic(join(dir, 'vocab.json'), `{\n${lines.join(',\n')}\n}\n`);
    writeFileAtomic(join(dir, 'special_tokens_map.json'), json(specials));
    writeFileAtomic(
      join(dir, 'tokenizer_config.json'),
      json({ tokenizer_class: WORD_TOKENIZER_CLASS, model_max_length: this.maxLength, ...specials, do_lower_case: true }),
    );
  }

  /** Number of entries in vocab.json, special tokens included. */
  get vocabSize(): number {
    return this.tokens.length;
  }

  /** The non-special tokens (words and kept punctuation) in id order. */
  get words(): string[] {
    return this.tokens.filter((t) => !this.specialIds.has(t));
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.tokens[id];
  }

  /** The normalised text of a prompt (see the module comment); unknown words are kept, not rejected. */
  normalize(text: string): string {
    return joinTokens(this.split(text).tokens);
  }

  /** The tokens of a text without BOS/EOS; an unknown word is a Dd3dError suggesting known ones. */
  tokenize(text: string): string[] {
    const { tokens, unknown } = this.split(text);
    if (unknown.length > 0) throw this.unknownError(text, unknown);
    return tokens;
  }

  /** Token ids for a text, without BOS/EOS, never truncated. */
  encode(text: string): number[] {
    return this.tokenize(text).map((t) => this.vocab.get(t)!);
  }

  /** {@link encode} for several texts. */
  encodeBatch(texts: readonly string[]): number[][] {
    return texts.map((t) => this.encode(t));
  }

  /**
   * BOS + ids + EOS: content truncated to maxLength-2 tokens (EOS stays last, with a warning
   * through `onWarning`), then padded with the pad id unless `padding: false`.
   */
  call(text: string, options: TokenizerCallOptions = {}): TokenizerCallResult {
    return frameIds(this, text, this.encode(text), options.maxLength ?? this.maxLength, options.padding ?? true, this.onWarning, 'WordTokenizer');
  }

  /** {@link call} for several texts. */
  callBatch(texts: readonly string[], options: TokenizerCallOptions = {}): TokenizerCallResult[] {
    return texts.map((t) => this.call(t, options));
  }

  /** The normalised text of ids (unknown ids are skipped). */
  decode(ids: readonly number[], options: TokenizerDecodeOptions = {}): string {
    const tokens: string[] = [];
    for (const id of ids) {
      if (options.skipSpecialTokens && this.specialIdSet.has(id)) continue;
      const t = this.tokens[id];
      if (t !== undefined) tokens.push(t);
    }
    return joinTokens(tokens);
  }

  /** Up to 3 known words nearest to `word` (edit distance ≤ max(2, ⌊length/2⌋)), nearest first. */
  suggest(word: string, max = SUGGESTIONS): string[] {
    const len = Array.from(word).length;
    const limit = Math.max(2, Math.floor(len / 2));
    const scored: { w: string; d: number; dl: number }[] = [];
    for (const w of this.tokens) {
      if (this.specialIds.has(w) || PUNCT.has(w)) continue;
      const d = editDistance(word, w);
      if (d <= limit) scored.push({ w, d, dl: Math.abs(Array.from(w).length - len) });
    }
    scored.sort((a, b) => a.d - b.d || a.dl - b.dl || (a.w < b.w ? -1 : a.w > b.w ? 1 : 0));
    return scored.slice(0, max).map((s) => s.w);
  }

  /** Special tokens verbatim, then normalised pieces; unknown pieces are listed and kept. */
  private split(text: string): { tokens: string[]; unknown: string[] } {
    const tokens: string[] = [];
    const unknown: string[] = [];
    const chunk = (s: string): void => {
      for (const p of pieces(s)) {
        if (this.vocab.has(p) && !this.specialIds.has(p)) tokens.push(p);
        else if (PUNCT.has(p)) continue;
        else {
          tokens.push(p);
          unknown.push(p);
        }
      }
    };
    let last = 0;
    for (const m of text.matchAll(this.specialRe)) {
      chunk(text.slice(last, m.index));
      tokens.push(m[0]);
      last = m.index + m[0].length;
    }
    chunk(text.slice(last));
    return { tokens, unknown };
  }

  private unknownError(text: string, unknown: readonly string[]): Dd3dError {
    const distinct = [...new Set(unknown)];
    const described = distinct.slice(0, MAX_REPORTED_UNKNOWN).map((u) => {
      if (!isWord(u)) return `${JSON.stringify(u)} (not a word; only letters, digits and ${SENTENCE_PUNCTUATION.join(' ')})`;
      const near = this.suggest(u);
      return `${JSON.stringify(u)} (${near.length > 0 ? `did you mean ${listOr(near)}?` : 'no known word is close'})`;
    });
    const more = distinct.length > MAX_REPORTED_UNKNOWN ? ` and ${distinct.length - MAX_REPORTED_UNKNOWN} more` : '';
    const n = this.words.filter((w) => !PUNCT.has(w)).length;
    return new Dd3dError(
      `Prompt "${shorten(text)}": unknown word${distinct.length === 1 ? '' : 's'} ${described.join(', ')}${more}; ` + `${this.source} knows ${n} words`,
    );
  }
}
