/**
 * The tokenizer interface the pipeline and the soft-prompt code use. {@link ClipTokenizer}
 * (Stable Diffusion 1.x/2.x) and {@link WordTokenizer} (the built-in dd3d-mv and dd3d-tiny) implement it;
 * load-tokenizer.ts picks one for a folder; tokenizer-folder.ts is the one reader of a
 * tokenizer folder's files that all three use.
 */
export interface TokenizerCallOptions {
  /** Total length including BOS and EOS; defaults to the tokenizer's `maxLength`. */
  maxLength?: number;
  /** Pad with the pad id up to `maxLength` (default true, like `padding="max_length"`). */
  padding?: boolean;
}

export interface TokenizerCallResult {
  /** BOS + tokens + EOS, truncated (EOS kept last) and optionally padded. */
  ids: number[];
  /** True when tokens were dropped to fit `maxLength`. */
  truncated: boolean;
}

export interface TokenizerDecodeOptions {
  /** Leave out BOS/EOS/pad and other special tokens (default false). */
  skipSpecialTokens?: boolean;
}

/** What callers need from a prompt tokenizer; {@link ClipTokenizer} and {@link WordTokenizer} both provide it. */
export interface TextTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** Default total sequence length (BOS + tokens + EOS + padding). */
  readonly maxLength: number;
  /** Number of vocabulary entries (the text encoder's embedding table must be at least this big). */
  readonly vocabSize: number;
  /** BOS + ids + EOS, truncated to `maxLength` with a warning, padded unless `padding: false`. */
  call(text: string, options?: TokenizerCallOptions): TokenizerCallResult;
  callBatch(texts: readonly string[], options?: TokenizerCallOptions): TokenizerCallResult[];
  /** Token ids without BOS/EOS, never truncated. */
  encode(text: string): number[];
  /** Token strings without BOS/EOS. */
  tokenize(text: string): string[];
  decode(ids: readonly number[], options?: TokenizerDecodeOptions): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}
