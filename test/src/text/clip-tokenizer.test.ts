import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it, vi } from 'vitest';

import { Dd3dError } from '../../../src/core/errors.js';
import { ClipTokenizer, cleanText } from '../../../src/text/clip-tokenizer.js';

const FIX = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const CLIP_DIR = join(FIX, 'clip-tokenizer');
const SD1_TOK = join(FIX, 'sd1-tiny', 'tokenizer');
const SD2_TOK = join(FIX, 'sd2-tiny', 'tokenizer');

interface Case {
  text: string;
  openai_clip_ids: number[];
  transformers_sd1_padded77: number[];
  transformers_sd2_padded77: number[];
}
const fixture = JSON.parse(readFileSync(join(CLIP_DIR, 'cases.json'), 'utf8')) as {
  note: string;
  transformers_ok: boolean;
  cases: Case[];
};
const cases = fixture.cases;

/** The fixture README: OpenAI's tokenizer unescapes HTML entities, transformers does not. */
const hasHtmlEntity = (text: string): boolean => /&(?:[a-z]+|#\d+|#x[0-9a-f]+);/i.test(text);

const quiet = { onWarning: () => {} };
const clip = ClipTokenizer.fromFiles(join(CLIP_DIR, 'vocab.json'), join(CLIP_DIR, 'merges.txt'), quiet);
const sd1 = ClipTokenizer.fromFolder(SD1_TOK, quiet);
const sd2 = ClipTokenizer.fromFolder(SD2_TOK, quiet);

const tmpDirs: string[] = [];
function tmpFolder(): string {
  const d = mkdtempSync(join(tmpdir(), 'dd3d-cliptok-'));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function expectDd3dError(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(Dd3dError);
  const msg = (caught as Error).message;
  expect(msg).not.toContain('\n');
  for (const p of parts) {
    if (typeof p === 'string') expect(msg).toContain(p);
    else expect(msg).toMatch(p);
  }
}

describe('fixture cases', () => {
  it('has the cases we expect to check', () => {
    expect(fixture.transformers_ok).toBe(true);
    expect(cases.length).toBe(15);
  });

  it('transformers sd1 (pad <|endoftext|>) ids match exactly, padded to 77', () => {
    let checked = 0;
    for (const c of cases) {
      expect(sd1.call(c.text, { maxLength: 77, padding: true }).ids, JSON.stringify(c.text)).toEqual(c.transformers_sd1_padded77);
      checked++;
    }
    expect(checked).toBe(cases.length);
  });

  it('transformers sd2 (pad "!" id 0) ids match exactly, padded to 77', () => {
    let checked = 0;
    for (const c of cases) {
      expect(sd2.call(c.text).ids, JSON.stringify(c.text)).toEqual(c.transformers_sd2_padded77);
      checked++;
    }
    expect(checked).toBe(cases.length);
  });

  it('encode() matches OpenAI CLIP ids except where HTML entities make them differ', () => {
    let checked = 0;
    let skipped = 0;
    for (const c of cases) {
      if (hasHtmlEntity(c.text)) {
        skipped++;
        // ours follows transformers: the entity text is tokenized literally
        const eos = c.transformers_sd1_padded77.indexOf(49407);
        expect(clip.encode(c.text)).toEqual(c.transformers_sd1_padded77.slice(1, eos));
        expect(clip.encode(c.text)).not.toEqual(c.openai_clip_ids);
        continue;
      }
      expect(clip.encode(c.text), JSON.stringify(c.text)).toEqual(c.openai_clip_ids);
      checked++;
    }
    expect(skipped).toBe(1);
    expect(checked).toBe(cases.length - 1);
  });

  it('sd1 encode() agrees with the plain-files tokenizer (the folder files are the same)', () => {
    for (const c of cases) expect(sd1.encode(c.text)).toEqual(clip.encode(c.text));
  });
});

describe('special tokens and properties', () => {
  it('reads ids and length from the folders', () => {
    expect(sd1.bosId).toBe(49406);
    expect(sd1.eosId).toBe(49407);
    expect(sd1.padId).toBe(49407);
    expect(sd1.maxLength).toBe(77);
    expect(sd1.vocabSize).toBe(49408);
    expect(sd2.bosId).toBe(49406);
    expect(sd2.eosId).toBe(49407);
    expect(sd2.padId).toBe(0);
    expect(sd2.padToken).toBe('!');
    expect(clip.padId).toBe(49407);
    expect(clip.maxLength).toBe(77);
  });

  it('looks up single tokens', () => {
    expect(clip.tokenToId('chair</w>')).toBe(4269);
    expect(clip.tokenToId('<|startoftext|>')).toBe(49406);
    expect(clip.tokenToId('definitely-not-a-token')).toBeUndefined();
    expect(clip.idToToken(320)).toBe('a</w>');
  });

  it('the sd2 pad token "!" is split out as a special token, like transformers', () => {
    expect(sd2.encode('wow!')).toEqual([clip.tokenToId('wow</w>'), 0]);
    expect(clip.encode('wow!')).toEqual([clip.tokenToId('wow</w>'), 256]);
  });

  it('literal special tokens in the text map to their ids', () => {
    expect(clip.encode('a<|endoftext|>b')).toEqual([320, 49407, 321]);
  });

  it('pads with the pad id, or not at all', () => {
    const a = sd1.call('a photo of a chair', { maxLength: 10 });
    expect(a).toEqual({ ids: [49406, 320, 1125, 539, 320, 4269, 49407, 49407, 49407, 49407], truncated: false });
    const b = sd2.call('a photo of a chair', { maxLength: 10 });
    expect(b.ids).toEqual([49406, 320, 1125, 539, 320, 4269, 49407, 0, 0, 0]);
    const c = sd2.call('a photo of a chair', { padding: false });
    expect(c.ids).toEqual([49406, 320, 1125, 539, 320, 4269, 49407]);
    expect(sd1.call('').ids).toEqual([49406, 49407, ...new Array<number>(75).fill(49407)]);
  });

  it('batch helpers', () => {
    expect(clip.encodeBatch(['a', 'a chair'])).toEqual([[320], [320, 4269]]);
    const r = sd2.callBatch(['a', 'a chair'], { maxLength: 5 });
    expect(r.map((x) => x.ids)).toEqual([
      [49406, 320, 49407, 0, 0],
      [49406, 320, 4269, 49407, 0],
    ]);
  });

  it('decodes', () => {
    const ids = clip.encode("A RED Chair, side view! café 🪑 it's");
    expect(clip.decode(ids)).toBe("a red chair , side view ! café 🪑 it 's");
    expect(sd1.decode(sd1.call('a chair', { maxLength: 8 }).ids, { skipSpecialTokens: true })).toBe('a chair');
  });
});

describe('truncation', () => {
  const long = cases.find((c) => c.openai_clip_ids.length > 75);

  it('a long fixture prompt exists', () => {
    expect(long).toBeDefined();
  });

  it('truncates to 77 with EOS last and warns once', () => {
    const warn = vi.fn<(msg: string) => void>();
    const tok = ClipTokenizer.fromFolder(SD1_TOK, { onWarning: warn });
    const text = long!.text;
    const full = tok.encode(text);
    expect(full.length).toBe(97);
    const r = tok.call(text);
    expect(r.truncated).toBe(true);
    expect(r.ids.length).toBe(77);
    expect(r.ids[0]).toBe(49406);
    expect(r.ids[76]).toBe(49407);
    expect(r.ids.slice(1, 76)).toEqual(full.slice(0, 75));
    expect(warn).toHaveBeenCalledTimes(1);
    const msg = warn.mock.calls[0]![0];
    expect(msg).not.toContain('\n');
    expect(msg).toContain('a photo of a very very');
    expect(msg).toContain('dropped the last 22 tokens');
    expect(msg.length).toBeLessThan(300);
  });

  it('does not warn for a prompt that fits exactly', () => {
    const warn = vi.fn<(msg: string) => void>();
    const tok = ClipTokenizer.fromFolder(SD1_TOK, { onWarning: warn });
    const text = new Array(75).fill('a').join(' ');
    const r = tok.call(text);
    expect(r.truncated).toBe(false);
    expect(r.ids.length).toBe(77);
    expect(r.ids[76]).toBe(49407);
    expect(warn).not.toHaveBeenCalled();
    expect(tok.call(`${text} a`).truncated).toBe(true);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('defaults to console.warn', () => {
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const tok = ClipTokenizer.fromFiles(join(CLIP_DIR, 'vocab.json'), join(CLIP_DIR, 'merges.txt'));
      tok.call(long!.text);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('text cleanup', () => {
  it('collapses whitespace, lower-cases, drops control characters, keeps entities', () => {
    expect(cleanText('  A\tB\n\r C\u00a0D  ')).toBe('a b c d');
    expect(cleanText('a\u0000b\u200bc\u0007d\ufffd')).toBe('abcd');
    expect(cleanText('&amp; X')).toBe('&amp; x');
    expect(cleanText('中文abc')).toBe('中 文 abc');
    expect(cleanText('cafe\u0301')).toBe('café');
  });

  it('handles apostrophes, numbers and symbols the CLIP way', () => {
    expect(clip.encode("it's")).toEqual([585, 568]);
    expect(clip.encode('12')).toEqual(clip.encode('1 2'));
  });
});

describe('errors', () => {
  it('names the folder when vocab.json or merges.txt is missing', () => {
    const empty = tmpFolder();
    expectDd3dError(() => ClipTokenizer.fromFolder(empty), empty, 'vocab.json');
    const noMerges = tmpFolder();
    copyFileSync(join(CLIP_DIR, 'vocab.json'), join(noMerges, 'vocab.json'));
    expectDd3dError(() => ClipTokenizer.fromFolder(noMerges), noMerges, 'merges.txt');
    expectDd3dError(() => ClipTokenizer.fromFolder(join(empty, 'nope')), 'nope');
    expectDd3dError(() => ClipTokenizer.fromFiles(join(empty, 'vocab.json'), join(CLIP_DIR, 'merges.txt')), join(empty, 'vocab.json'));
  });

  it('names the file with invalid JSON', () => {
    const d = tmpFolder();
    writeFileSync(join(d, 'vocab.json'), '{"a": 1,');
    copyFileSync(join(CLIP_DIR, 'merges.txt'), join(d, 'merges.txt'));
    expectDd3dError(() => ClipTokenizer.fromFolder(d), join(d, 'vocab.json'), 'invalid JSON');

    const d2 = tmpFolder();
    copyFileSync(join(CLIP_DIR, 'vocab.json'), join(d2, 'vocab.json'));
    copyFileSync(join(CLIP_DIR, 'merges.txt'), join(d2, 'merges.txt'));
    writeFileSync(join(d2, 'tokenizer_config.json'), '{ nope');
    expectDd3dError(() => ClipTokenizer.fromFolder(d2), join(d2, 'tokenizer_config.json'), 'invalid JSON');
  });

  it('names a special token missing from the vocab', () => {
    const d = tmpFolder();
    copyFileSync(join(CLIP_DIR, 'vocab.json'), join(d, 'vocab.json'));
    copyFileSync(join(CLIP_DIR, 'merges.txt'), join(d, 'merges.txt'));
    writeFileSync(join(d, 'special_tokens_map.json'), JSON.stringify({ pad_token: { content: '<pad>' } }));
    expectDd3dError(() => ClipTokenizer.fromFolder(d), '<pad>', 'pad_token', 'special_tokens_map.json');
    expectDd3dError(() => ClipTokenizer.fromFiles(join(CLIP_DIR, 'vocab.json'), join(CLIP_DIR, 'merges.txt'), { bosToken: '<s>' }), '<s>', 'bos_token');
  });

  it('accepts token objects and model_max_length from tokenizer_config.json', () => {
    const d = tmpFolder();
    copyFileSync(join(CLIP_DIR, 'vocab.json'), join(d, 'vocab.json'));
    copyFileSync(join(CLIP_DIR, 'merges.txt'), join(d, 'merges.txt'));
    writeFileSync(
      join(d, 'tokenizer_config.json'),
      JSON.stringify({
        model_max_length: 16,
        bos_token: { __type: 'AddedToken', content: '<|startoftext|>', lstrip: false },
        pad_token: '!',
      }),
    );
    const tok = ClipTokenizer.fromFolder(d, quiet);
    expect(tok.maxLength).toBe(16);
    expect(tok.padId).toBe(0);
    expect(tok.call('a chair').ids).toEqual([49406, 320, 4269, 49407, ...new Array<number>(12).fill(0)]);
  });
});

describe('performance', () => {
  it('builds from the 49k vocab quickly', () => {
    const t0 = performance.now();
    ClipTokenizer.fromFolder(SD1_TOK, quiet);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1000);
  });
});
