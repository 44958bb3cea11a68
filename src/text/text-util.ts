/** What both tokenizers share: message formatting and framing ids. */
import { Dd3dError, oneLine } from '../core/errors.js';

/** At most `max` characters (code points) of `s` on one line, with an ellipsis when cut. */
export function shorten(s: string, max = 60): string {
  const flat = oneLine(s);
  const chars = Array.from(flat);
  return chars.length <= max ? flat : `${chars.slice(0, max - 1).join('')}…`;
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface Framing {
  bosId: number;
  eosId: number;
  padId: number;
  decode(ids: readonly number[]): string;
}

/**
 * BOS + ids + EOS as transformers' `tokenizer(text, truncation=True, max_length=L,
 * padding="max_length")` gives: content truncated to L−2 tokens (EOS stays last, with a
 * warning through `onWarning`), then padded with the pad id unless `padding` is false.
 */
export function frameIds(
  t: Framing,
  text: string,
  body: number[],
  maxLength: number,
  padding: boolean,
  onWarning: (msg: string) => void,
  who: string,
): { ids: number[]; truncated: boolean } {
  if (!Number.isInteger(maxLength) || maxLength < 2) {
    throw new Dd3dError(`${who}.call maxLength: expected a whole number >= 2, got ${maxLength}`);
  }
  const room = maxLength - 2;
  const truncated = body.length > room;
  if (truncated) {
    const dropped = body.slice(room);
    onWarning(
      `Prompt "${shorten(text)}" has ${body.length} tokens but only ${room} fit in ${maxLength} ` +
        `(with start/end tokens); dropped the last ${dropped.length} token${dropped.length === 1 ? '' : 's'}: ` +
        `"${shorten(t.decode(dropped), 40)}"`,
    );
  }
  const ids = [t.bosId, ...(truncated ? body.slice(0, room) : body), t.eosId];
  if (padding) while (ids.length < maxLength) ids.push(t.padId);
  return { ids, truncated };
}
