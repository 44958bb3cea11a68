/**
 * CLIP byte-level BPE tokenizer, behaving like transformers' `CLIPTokenizer` as Stable
 * Diffusion pipelines use it (the variant without ftfy, i.e. with transformers' own
 * BasicTokenizer cleanup).
 *
 * Pipeline for one prompt:
 *  1. split out special tokens (bos/eos/unk/pad and any additional special tokens) from the
 *     raw text, matched exactly and case-sensitively, leftmost then longest. This is why an
 *     SD 2.x tokenizer, whose pad token is "!", turns "view!" into `view</w>` + `!` (id 0);
 *  2. clean each remaining chunk like transformers' BasicTokenizer: drop NUL, U+FFFD and every
 *     Unicode "Other" (C*) character except tab/newline/CR, turn those and Zs spaces into " ",
 *     put spaces around CJK ideographs, NFC-normalise, split on whitespace, lower-case each
 *     word, rejoin with single spaces. HTML entities are NOT unescaped (OpenAI's original
 *     tokenizer does unescape them; transformers does not);
 *  3. find the pre-tokens with the CLIP regex (case-insensitive);
 *  4. map every UTF-8 byte of a pre-token to its printable stand-in (GPT-2 byte-to-unicode),
 *     mark the last symbol with `</w>`, and apply BPE merges by rank;
 *  5. look the resulting symbols up in the vocabulary (unknown → unk id).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { Dd3dError } from '../core/errors.js';
import { readJsonFile, readRegularFile } from '../io/regular-file.js';
import { escapeRegExp, frameIds, shorten } from './text-util.js';
import { isPlainObject, readSpecialTokenFiles, resolveTokenizerFolder, tokenContent, VOCAB_FILE } from './tokenizer-folder.js';
import type { TextTokenizer } from './tokenizer.js';

/** Options common to both constructors. */
export interface ClipTokenizerOptions {
  /** Called when a prompt is truncated; defaults to `console.warn`. */
  onWarning?: (msg: string) => void;
}

/** Options for {@link ClipTokenizer.fromFiles}; the defaults are CLIP's own tokens. */
export interface ClipTokenizerFileOptions extends ClipTokenizerOptions {
  /** Default `<|startoftext|>`. */
  bosToken?: string;
  /** Default `<|endoftext|>`. */
  eosToken?: string;
  /** Default `<|endoftext|>`. */
  unkToken?: string;
  /** Default `<|endoftext|>` (SD 1.x); SD 2.x tokenizers use `!`. */
  padToken?: string;
  /** Further special tokens that are split out of the text verbatim. */
  additionalSpecialTokens?: string[];
  /** Sequence length including BOS and EOS; default 77. */
  maxLength?: number;
}

export interface ClipCallOptions {
  /** Total length including BOS and EOS; defaults to the tokenizer's `maxLength`. */
  maxLength?: number;
  /** Pad with the pad id up to `maxLength` (default true, like `padding="max_length"`). */
  padding?: boolean;
}

export interface ClipCallResult {
  /** BOS + tokens + EOS, truncated (EOS kept last) and optionally padded. */
  ids: number[];
  /** True when tokens were dropped to fit `maxLength`. */
  truncated: boolean;
}

export interface ClipDecodeOptions {
  /** Leave out BOS/EOS/pad/unk and other special tokens (default false, like transformers). */
  skipSpecialTokens?: boolean;
}

const DEFAULT_BOS = '<|startoftext|>';
const DEFAULT_EOS = '<|endoftext|>';
const DEFAULT_MAX_LENGTH = 77;
/** transformers (and OpenAI's SimpleTokenizer) read merges.txt lines [1, 49152-256-2+1). */
const MAX_MERGES = 49152 - 256 - 2;
/** Configs saved without a length use int(1e30) ("no limit"); treat anything this big as absent. */
const MAX_SANE_LENGTH = 1_000_000;
const BPE_CACHE_LIMIT = 20_000;

/** The CLIP pre-tokenisation pattern (transformers compiles it with re.IGNORECASE). */
const PRETOKEN_RE = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;
/** Characters transformers' BasicTokenizer deletes: NUL, U+FFFD, category C* except \t\n\r. */
const DROP_RE = /\0|\uFFFD|(?![\t\n\r])\p{C}/gu;
/** Characters it turns into a plain space. */
const SPACE_RE = /[\t\n\r\p{Zs}]/gu;
/** CJK ideographs get spaces around them (BasicTokenizer._tokenize_chinese_chars). */
const CJK_RE = /[\u4E00-\u9FFF\u3400-\u4DBF\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\uF900-\uFAFF\u{2F800}-\u{2FA1F}]/gu;
/** What Python's str.split() still treats as whitespace after the cleanup above. */
const SPLIT_RE = /[ \u2028\u2029]+/;

/** GPT-2/CLIP reversible byte → printable character table (index = byte value). */
function buildByteEncoder(): string[] {
  const enc: string[] = new Array<string>(256);
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (printable(b)) enc[b] = String.fromCharCode(b);
    else enc[b] = String.fromCharCode(256 + n++);
  }
  return enc;
}

const BYTE_ENCODER = buildByteEncoder();
const BYTE_DECODER = new Map<string, number>(BYTE_ENCODER.map((c, b) => [c, b]));
const UTF8 = new TextEncoder();

function parseVocab(raw: unknown, path: string): Map<string, number> {
  if (!isPlainObject(raw)) {
    throw new Dd3dError(`${path}: expected a JSON object mapping token strings to integer ids`);
  }
  const vocab = new Map<string, number>();
  for (const key in raw) {
    const id = raw[key];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new Dd3dError(
        `${path}: token ${JSON.stringify(shorten(key, 40))} maps to ${shorten(JSON.stringify(id) ?? String(id), 40)}, expected a non-negative integer id`,
      );
    }
    vocab.set(key, id);
  }
  if (vocab.size === 0) throw new Dd3dError(`${path}: the vocabulary is empty`);
  return vocab;
}

function parseMerges(text: string, path: string): Map<string, number> {
  const lines = text.trim().split(/\r?\n/);
  // transformers drops line 0 unconditionally (the "#version: 0.2" header); only do that
  // when it really is a header so a header-less file does not lose its first merge.
  let start = 0;
  if (lines.length > 0 && lines[0]!.startsWith('#version')) start = 1;
  const ranks = new Map<string, number>();
  const end = Math.min(lines.length, start + MAX_MERGES);
  for (let i = start; i < end; i++) {
    const line = lines[i]!;
    let key: string;
    const sp = line.indexOf(' ');
    if (sp > 0 && sp < line.length - 1 && line.indexOf(' ', sp + 1) < 0 && !/[\t\v\f\r]/.test(line)) {
      key = line; // the common, already canonical "a b" form
    } else {
      const parts = line.trim().split(/\s+/);
      if (parts.length !== 2 || parts[0] === '') {
        throw new Dd3dError(`${path} line ${i + 1}: expected a merge of two space-separated symbols, got ${JSON.stringify(shorten(line, 40))}`);
      }
      key = `${parts[0]} ${parts[1]}`;
    }
    // a duplicated pair keeps the later rank, as Python's dict(zip(merges, range(n))) does
    ranks.set(key, i - start);
  }
  if (ranks.size === 0) throw new Dd3dError(`${path}: no BPE merges found`);
  return ranks;
}

function checkMaxLength(v: unknown, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new Dd3dError(`${where}: expected a whole number >= 2, got ${shorten(JSON.stringify(v) ?? String(v), 40)}`);
  }
  if (v > MAX_SANE_LENGTH) return undefined;
  if (!Number.isInteger(v) || v < 2) {
    throw new Dd3dError(`${where}: expected a whole number >= 2, got ${v}`);
  }
  return v;
}

interface TokenizerSetup {
  vocab: Map<string, number>;
  merges: Map<string, number>;
  vocabPath: string;
  /** Where the special tokens came from, for error messages. */
  specialSource: string;
  bosToken: string;
  eosToken: string;
  unkToken: string;
  padToken: string;
  /** Extra special tokens (e.g. additional_special_tokens), and explicit added-token ids. */
  extraSpecial: string[];
  addedIds: Map<string, number>;
  maxLength: number;
  onWarning: (msg: string) => void;
}

export class ClipTokenizer implements TextTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  /** Default total sequence length (BOS + tokens + EOS + padding). */
  readonly maxLength: number;
  readonly bosToken: string;
  readonly eosToken: string;
  readonly padToken: string;
  readonly unkToken: string;

  private readonly vocab: Map<string, number>;
  private readonly idToTokenMap: Map<number, string>;
  private readonly bpeRanks: Map<string, number>;
  /** Special tokens split out verbatim from the raw text → id. */
  private readonly specialIds: Map<string, number>;
  private readonly specialIdSet: Set<number>;
  private readonly specialRe: RegExp | null;
  private readonly cache = new Map<string, string[]>();
  private readonly onWarning: (msg: string) => void;

  private constructor(s: TokenizerSetup) {
    this.vocab = s.vocab;
    this.bpeRanks = s.merges;
    this.maxLength = s.maxLength;
    this.onWarning = s.onWarning;
    this.bosToken = s.bosToken;
    this.eosToken = s.eosToken;
    this.unkToken = s.unkToken;
    this.padToken = s.padToken;

    const idOf = (key: string, token: string): number => {
      const id = s.addedIds.get(token) ?? s.vocab.get(token);
      if (id === undefined) {
        throw new Dd3dError(`${s.specialSource}: ${key} ${JSON.stringify(token)} is not in the vocabulary ${s.vocabPath}`);
      }
      return id;
    };
    this.bosId = idOf('bos_token', s.bosToken);
    this.eosId = idOf('eos_token', s.eosToken);
    this.unkId = idOf('unk_token', s.unkToken);
    this.padId = idOf('pad_token', s.padToken);

    this.specialIds = new Map<string, number>();
    this.specialIds.set(s.bosToken, this.bosId);
    this.specialIds.set(s.eosToken, this.eosId);
    this.specialIds.set(s.unkToken, this.unkId);
    this.specialIds.set(s.padToken, this.padId);
    for (const t of s.extraSpecial) {
      if (t !== '' && !this.specialIds.has(t)) this.specialIds.set(t, idOf('additional special token', t));
    }
    for (const [t, id] of s.addedIds) if (t !== '' && !this.specialIds.has(t)) this.specialIds.set(t, id);
    this.specialIdSet = new Set(this.specialIds.values());
    // Longest first so the alternation picks the longest token at the leftmost position.
    const alternatives = [...this.specialIds.keys()]
      .filter((t) => t !== '')
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp);
    this.specialRe = alternatives.length > 0 ? new RegExp(alternatives.join('|'), 'gu') : null;

    this.idToTokenMap = new Map<number, string>();
    for (const [t, id] of s.vocab) if (!this.idToTokenMap.has(id)) this.idToTokenMap.set(id, t);
    for (const [t, id] of this.specialIds) if (!this.idToTokenMap.has(id)) this.idToTokenMap.set(id, t);
  }

  /**
   * Load a diffusers/transformers tokenizer folder: `vocab.json`, `merges.txt`, and
   * `tokenizer_config.json` and/or `special_tokens_map.json` (the latter wins, as in
   * transformers). Also accepts a model folder that contains a `tokenizer/` subfolder.
   */
  static fromFolder(dir: string, options: ClipTokenizerOptions = {}): ClipTokenizer {
    const folder = resolveTokenizerFolder(dir, [VOCAB_FILE]);
    const vocabPath = join(folder, 'vocab.json');
    const mergesPath = join(folder, 'merges.txt');
    if (!existsSync(vocabPath)) {
      throw new Dd3dError(`Tokenizer folder ${folder} has no vocab.json (expected a CLIP BPE tokenizer folder)`);
    }
    if (!existsSync(mergesPath)) {
      throw new Dd3dError(`Tokenizer folder ${folder} has no merges.txt (expected a CLIP BPE tokenizer folder)`);
    }

    const fileOpts: ClipTokenizerFileOptions = { onWarning: options.onWarning };
    const extra: string[] = [];
    const addedIds = new Map<string, number>();
    const sources: string[] = [];
    const keys = ['bos_token', 'eos_token', 'unk_token', 'pad_token'] as const;
    const optKey = { bos_token: 'bosToken', eos_token: 'eosToken', unk_token: 'unkToken', pad_token: 'padToken' } as const;

    for (const { path, isConfig, raw } of readSpecialTokenFiles(folder)) {
      sources.push(path);
      for (const key of keys) {
        const v = tokenContent(raw[key], `${path} ${key}`, false);
        if (v !== undefined) fileOpts[optKey[key]] = v;
      }
      const add = raw.additional_special_tokens;
      if (Array.isArray(add)) {
        add.forEach((t, i) => {
          const v = tokenContent(t, `${path} additional_special_tokens[${i}]`, false);
          if (v !== undefined) extra.push(v);
        });
      }
      const decoder = raw.added_tokens_decoder;
      if (isPlainObject(decoder)) {
        for (const [idStr, entry] of Object.entries(decoder)) {
          const v = tokenContent(entry, `${path} added_tokens_decoder.${idStr}`, false);
          const id = Number(idStr);
          if (v !== undefined && Number.isInteger(id) && id >= 0) addedIds.set(v, id);
        }
      }
      if (isConfig) {
        const len = checkMaxLength(raw.model_max_length, `${path} model_max_length`);
        if (len !== undefined) fileOpts.maxLength = len;
      }
    }
    return ClipTokenizer.build(vocabPath, mergesPath, fileOpts, {
      extra,
      addedIds,
      specialSource: sources.length > 0 ? sources.join(' / ') : folder,
    });
  }

  /** Build from explicit vocab.json and merges.txt paths; special tokens default to CLIP's. */
  static fromFiles(vocabPath: string, mergesPath: string, options: ClipTokenizerFileOptions = {}): ClipTokenizer {
    return ClipTokenizer.build(vocabPath, mergesPath, options, {
      extra: options.additionalSpecialTokens ?? [],
      addedIds: new Map(),
      specialSource: 'ClipTokenizer options',
    });
  }

  private static build(
    vocabPath: string,
    mergesPath: string,
    options: ClipTokenizerFileOptions,
    more: { extra: string[]; addedIds: Map<string, number>; specialSource: string },
  ): ClipTokenizer {
    if (!existsSync(vocabPath)) throw new Dd3dError(`CLIP vocabulary file ${vocabPath} not found (expected vocab.json)`);
    if (!existsSync(mergesPath)) throw new Dd3dError(`CLIP merges file ${mergesPath} not found (expected merges.txt)`);
    const vocab = parseVocab(readJsonFile(vocabPath), vocabPath);
    const merges = parseMerges(readRegularFile(mergesPath, 'a merges file').toString('utf8'), mergesPath);
    const maxLength =
      options.maxLength === undefined ? DEFAULT_MAX_LENGTH : (checkMaxLength(options.maxLength, 'ClipTokenizer maxLength') ?? DEFAULT_MAX_LENGTH);
    return new ClipTokenizer({
      vocab,
      merges,
      vocabPath,
      specialSource: more.specialSource,
      bosToken: options.bosToken ?? DEFAULT_BOS,
      eosToken: options.eosToken ?? DEFAULT_EOS,
      unkToken: options.unkToken ?? DEFAULT_EOS,
      padToken: options.padToken ?? DEFAULT_EOS,
      extraSpecial: more.extra,
      addedIds: more.addedIds,
      maxLength,
      onWarning: options.onWarning ?? ((msg: string) => console.warn(msg)),
    });
  }

  /** Number of entries in vocab.json (transformers' `vocab_size`). */
  get vocabSize(): number {
    return this.vocab.size;
  }

  /** Id of one token string as written in vocab.json (e.g. "chair</w>"), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.specialIds.get(token) ?? this.vocab.get(token);
  }

  /** The token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.idToTokenMap.get(id);
  }

  /** The BPE token strings for a text, without BOS/EOS. */
  tokenize(text: string): string[] {
    const out: string[] = [];
    this.forEachPiece(
      text,
      (special) => out.push(special),
      (tokens) => out.push(...tokens),
    );
    return out;
  }

  /** Token ids for a text, without BOS/EOS, never truncated. */
  encode(text: string): number[] {
    const out: number[] = [];
    this.forEachPiece(
      text,
      (special) => out.push(this.specialIds.get(special)!),
      (tokens) => {
        for (const t of tokens) out.push(this.vocab.get(t) ?? this.unkId);
      },
    );
    return out;
  }

  /** {@link encode} for several texts. */
  encodeBatch(texts: readonly string[]): number[][] {
    return texts.map((t) => this.encode(t));
  }

  /**
   * BOS + ids + EOS as transformers' `tokenizer(text, truncation=True, max_length=L,
   * padding="max_length")` gives: content truncated to L-2 tokens (EOS stays last), then
   * padded with the pad id. A truncation reports once through `onWarning`.
   */
  call(text: string, options: ClipCallOptions = {}): ClipCallResult {
    return frameIds(this, text, this.encode(text), options.maxLength ?? this.maxLength, options.padding ?? true, this.onWarning, 'ClipTokenizer');
  }

  /** {@link call} for several texts. */
  callBatch(texts: readonly string[], options: ClipCallOptions = {}): ClipCallResult[] {
    return texts.map((t) => this.call(t, options));
  }

  /** Text from ids: bytes restored, `</w>` turned into spaces (transformers' decode). */
  decode(ids: readonly number[], options: ClipDecodeOptions = {}): string {
    const bytes: number[] = [];
    for (const id of ids) {
      if (options.skipSpecialTokens && this.specialIdSet.has(id)) continue;
      const token = this.idToTokenMap.get(id);
      if (token === undefined) continue;
      for (const ch of token) {
        const b = BYTE_DECODER.get(ch);
        if (b !== undefined) bytes.push(b);
        else for (const x of UTF8.encode(ch)) bytes.push(x);
      }
    }
    return new TextDecoder('utf-8').decode(new Uint8Array(bytes)).replaceAll('</w>', ' ').trim();
  }

  /** Split on special tokens, clean and pre-tokenise the rest, BPE each pre-token. */
  private forEachPiece(text: string, onSpecial: (token: string) => void, onTokens: (tokens: string[]) => void): void {
    const handleChunk = (chunk: string): void => {
      if (chunk === '') return;
      const cleaned = cleanText(chunk);
      if (cleaned === '') return;
      for (const m of cleaned.matchAll(PRETOKEN_RE)) onTokens(this.bpe(m[0]));
    };
    if (this.specialRe === null) {
      handleChunk(text);
      return;
    }
    let last = 0;
    for (const m of text.matchAll(this.specialRe)) {
      handleChunk(text.slice(last, m.index));
      onSpecial(m[0]);
      last = m.index + m[0].length;
    }
    handleChunk(text.slice(last));
  }

  /** BPE symbols (vocab keys) for one pre-token, cached. */
  private bpe(pretoken: string): string[] {
    const cached = this.cache.get(pretoken);
    if (cached !== undefined) return cached;
    let result: string[];
    if (pretoken === '<|startoftext|>' || pretoken === '<|endoftext|>') {
      // transformers seeds its BPE cache with these, so they map straight to their ids
      // even when they come from lower-casing, e.g. "<|ENDOFTEXT|>".
      result = [pretoken];
    } else {
      let mapped = '';
      for (const b of UTF8.encode(pretoken)) mapped += BYTE_ENCODER[b]!;
      result = this.mergeWord(mapped);
    }
    if (this.cache.size >= BPE_CACHE_LIMIT) this.cache.clear();
    this.cache.set(pretoken, result);
    return result;
  }

  /** Apply merges (lowest rank first) to a byte-mapped word; the last symbol ends in `</w>`. */
  private mergeWord(mapped: string): string[] {
    // every byte stand-in is a single BMP code unit, so indexing by code unit is safe
    let word: string[] = mapped.split('');
    word[word.length - 1] += '</w>';
    if (word.length === 1) return word;
    const ranks = this.bpeRanks;
    for (;;) {
      let bestRank = Infinity;
      let first = '';
      let second = '';
      for (let i = 0; i + 1 < word.length; i++) {
        const r = ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          first = word[i]!;
          second = word[i + 1]!;
        }
      }
      if (bestRank === Infinity) break;
      const next: string[] = [];
      for (let i = 0; i < word.length;) {
        if (i + 1 < word.length && word[i] === first && word[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else {
          next.push(word[i]!);
          i += 1;
        }
      }
      word = next;
      if (word.length === 1) break;
    }
    return word;
  }
}

/**
 * transformers' BasicTokenizer(strip_accents=False, do_split_on_punc=False) followed by
 * " ".join: drop control/format/unassigned characters, normalise spaces, isolate CJK
 * ideographs, NFC, split on whitespace, lower-case each word.
 */
export function cleanText(text: string): string {
  const s = text.replace(DROP_RE, '').replace(SPACE_RE, ' ').replace(CJK_RE, ' $& ').normalize('NFC').trim();
  if (s === '') return '';
  return s
    .split(SPLIT_RE)
    .filter((w) => w !== '')
    .map((w) => w.toLowerCase())
    .join(' ');
}
