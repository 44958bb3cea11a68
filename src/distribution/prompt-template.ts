/**
 * The token layout of a soft prompt: BOS + prefix + M learned slots + suffix + EOS + padding
 * to the encoder's length. The slots hold pad ids here; the learner swaps their embeddings
 * for the context vectors.
 */
import { Dd3dError } from '../core/errors.js';
import type { TextTokenizer } from '../text/tokenizer.js';

export interface PromptTemplate {
  prefix: string;
  suffix: string;
  /** Token ids [maxLength]; positions ctxStart … ctxStart+M−1 are placeholders. */
  ids: number[];
  ctxStart: number;
  ctxLength: number;
  /** Where the pooled (EOS) feature is read. */
  eosIndex: number;
}

export function buildTemplate(tokenizer: TextTokenizer, prefix: string, suffix: string, ctxLength: number, maxLength = tokenizer.maxLength): PromptTemplate {
  const pre = tokenizer.encode(prefix);
  const post = tokenizer.encode(suffix);
  const used = 1 + pre.length + ctxLength + post.length + 1;
  if (used > maxLength) {
    throw new Dd3dError(
      `--prefix/--suffix: "${prefix}" + ${ctxLength} context vectors + "${suffix}" take ${used} tokens, more than the text encoder's ${maxLength}`,
    );
  }
  const ids = [tokenizer.bosId, ...pre, ...new Array<number>(ctxLength).fill(tokenizer.padId), ...post, tokenizer.eosId];
  const eosIndex = ids.length - 1;
  while (ids.length < maxLength) ids.push(tokenizer.padId);
  return { prefix, suffix, ids, ctxStart: 1 + pre.length, ctxLength, eosIndex };
}
