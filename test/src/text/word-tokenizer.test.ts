import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';

import { FAMILIES, caption, makeObject, vocabulary } from '../../../scenes/index.js';
import { initBackend } from '../../../src/backend/backend.js';
import { Dd3dError } from '../../../src/core/errors.js';
import { DiffusionModel } from '../../../src/pipeline/diffusion-model.js';
import { ClipTokenizer } from '../../../src/text/clip-tokenizer.js';
import { type TextTokenizer } from '../../../src/text/tokenizer.js';
import { loadTokenizer } from '../../../src/text/load-tokenizer.js';
import { WORD_TOKENIZER_CLASS, WordTokenizer, editDistance } from '../../../src/text/word-tokenizer.js';

const FIX = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const SD1 = join(FIX, 'sd1-tiny');

const tmpDirs: string[] = [];
function tmpFolder(): string {
  const d = mkdtempSync(join(tmpdir(), 'dd3d-wordtok-'));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

function expectDd3dError(fn: () => unknown, ...parts: (string | RegExp)[]): string {
  const err = catchError(fn);
  expect(err).toBeInstanceOf(Dd3dError);
  expect(err.message).not.toContain('\n');
  for (const p of parts) {
    if (typeof p === 'string') expect(err.message).toContain(p);
    else expect(err.message).toMatch(p);
  }
  return err.message;
}

const quiet = { onWarning: () => {} };
const world = vocabulary();
const tok = WordTokenizer.build(world, quiet);

describe('WordTokenizer.build', () => {
  it('puts the special tokens first, then "," and the sorted words', () => {
    expect(tok.idToToken(0)).toBe('<|startoftext|>');
    expect(tok.idToToken(1)).toBe('<|endoftext|>');
    expect(tok.idToToken(2)).toBe('<|pad|>');
    expect([tok.bosId, tok.eosId, tok.padId]).toEqual([0, 1, 2]);
    expect(tok.idToToken(3)).toBe(',');
    expect(tok.words).toEqual([',', ...world]);
    expect(tok.vocabSize).toBe(world.length + 4);
    expect(tok.maxLength).toBe(77);
    for (const [i, w] of world.entries()) expect(tok.tokenToId(w)).toBe(i + 4);
    expect(tok.tokenToId('3d')).toBeDefined();
    expect(tok.tokenToId('chiar')).toBeUndefined();
    expect(tok.idToToken(tok.vocabSize)).toBeUndefined();
  });

  it('normalises its entries and rejects what is not a word', () => {
    const t = WordTokenizer.build(['Front view', 'chair', 'chair', 'Café'], { ...quiet, punctuation: [',', '.'] });
    expect(t.words).toEqual([',', '.', 'café', 'chair', 'front', 'view']);
    expectDd3dError(() => WordTokenizer.build(['red (dark)']), 'WordTokenizer.build', '"("');
    expectDd3dError(() => WordTokenizer.build([]), 'the word list is empty');
    expectDd3dError(() => WordTokenizer.build(['a'], { maxLength: 78 }), 'maxLength', '2 to 77', '78');
    expectDd3dError(() => WordTokenizer.build(['a'], { maxLength: 1 }), 'maxLength', '1');
    expectDd3dError(() => WordTokenizer.build(['a'], { punctuation: ['-'] }), 'punctuation', '"-"');
    expectDd3dError(() => WordTokenizer.build(['a'], { bosToken: 'x', eosToken: 'x' }), 'must differ');
  });

  it('satisfies the same interface as ClipTokenizer', () => {
    const both: TextTokenizer[] = [tok, ClipTokenizer.fromFolder(SD1, quiet)];
    for (const t of both) {
      const { ids, truncated } = t.call('a red chair, front view');
      expect(ids).toHaveLength(77);
      expect(truncated).toBe(false);
      expect(ids[0]).toBe(t.bosId);
      // CLIP decodes "chair ," with a space, as transformers does without clean-up
      expect(t.decode(t.encode('a red chair, front view')).replace(' ,', ',')).toBe('a red chair, front view');
      expect(t.decode(t.call('a mug').ids, { skipSpecialTokens: true })).toBe('a mug');
      expect(t.idToToken(t.tokenToId(t.tokenize('a mug')[1]!)!)).toBe(t.tokenize('a mug')[1]);
      expect(t.vocabSize).toBeGreaterThan(t.eosId);
    }
  });
});

describe('normalisation', () => {
  it('lower-cases, collapses whitespace, keeps commas and drops other sentence punctuation', () => {
    expect(tok.normalize('  A Red\tCHAIR ,front   view. ')).toBe('a red chair, front view');
    expect(tok.tokenize('A 3D model of a red chair, front view!')).toEqual(['a', '3d', 'model', 'of', 'a', 'red', 'chair', ',', 'front', 'view']);
    expect(tok.tokenize('a red chair; front view?')).toEqual(['a', 'red', 'chair', 'front', 'view']);
    expect(tok.tokenize('a red chair,front view')).toEqual(tok.tokenize('a red chair , front view'));
    expect(tok.encode('')).toEqual([]);
    expect(tok.encode(' \n ')).toEqual([]);
    // zero-width and control characters vanish, as in CLIP's cleanup
    expect(tok.normalize('a re\u200Bd chair\u0007')).toBe('a red chair');
  });

  it('applies NFC, so composed and decomposed accents are the same word', () => {
    const t = WordTokenizer.build(['café', 'a'], quiet);
    expect(t.encode('a CAFE\u0301')).toEqual(t.encode('a café'));
    expect(t.decode(t.encode('a Cafe\u0301'))).toBe('a café');
  });

  it('keeps special tokens written verbatim, like CLIP', () => {
    expect(tok.encode('<|startoftext|>a red chair<|endoftext|>')).toEqual([0, ...tok.encode('a red chair'), 1]);
    expect(tok.decode([0, ...tok.encode('a red chair, front view'), 1, 2, 2])).toBe('<|startoftext|> a red chair, front view <|endoftext|> <|pad|> <|pad|>');
  });
});

describe('captions', () => {
  it('tokenizes every caption without error and decodes it back unchanged', () => {
    // front, side, back, overhead, and a few in between
    const views = [0, 90, 180, -150, 40, 300].map((azimuthDeg) => ({ azimuthDeg, elevationDeg: 15 })).concat([{ azimuthDeg: 10, elevationDeg: 80 }]);
    let n = 0;
    let longest = 0;
    const seen = new Set<string>();
    for (const family of FAMILIES) {
      for (let seed = 0; seed < 60; seed++) {
        const { attributes } = makeObject(family.name, seed);
        for (const [i, view] of views.entries()) {
          for (const keep of [undefined, 0, 1]) {
            const text = caption(attributes, view, seed * 7 + i, keep === undefined ? {} : { keep });
            seen.add(text);
            const ids = tok.encode(text);
            longest = Math.max(longest, ids.length);
            expect(tok.decode(ids)).toBe(text);
            expect(tok.normalize(text)).toBe(text);
            const called = tok.call(text);
            expect(called.truncated).toBe(false);
            expect(called.ids).toHaveLength(77);
            expect(called.ids).toEqual([0, ...ids, 1, ...new Array<number>(75 - ids.length).fill(2)]);
            expect(tok.decode(called.ids, { skipSpecialTokens: true })).toBe(text);
            n++;
          }
        }
      }
    }
    expect(n).toBe(FAMILIES.length * 60 * views.length * 3);
    expect(seen.size).toBeGreaterThan(1000);
    expect(longest).toBeLessThan(75);
    for (const v of ['front view', 'side view', 'back view', 'overhead view']) {
      expect([...seen].some((s) => s.endsWith(`, ${v}`))).toBe(true);
    }
  });

  it('batches like single calls; padding can be turned off', () => {
    const texts = ['a red chair, front view', 'a mug'];
    expect(tok.callBatch(texts)).toEqual(texts.map((t) => tok.call(t)));
    expect(tok.encodeBatch(texts)).toEqual(texts.map((t) => tok.encode(t)));
    expect(tok.call('a mug', { padding: false }).ids).toEqual([0, tok.tokenToId('a'), tok.tokenToId('mug'), 1]);
    expect(tok.call('a mug', { maxLength: 6 }).ids).toEqual([0, tok.tokenToId('a'), tok.tokenToId('mug'), 1, 2, 2]);
    expectDd3dError(() => tok.call('a mug', { maxLength: 1 }), 'maxLength', '1');
  });
});

describe('unknown words', () => {
  it('names the word and suggests the nearest known ones', () => {
    const msg = expectDd3dError(() => tok.encode('a red chiar, front view'), 'a red chiar, front view', '"chiar"', 'did you mean chair');
    expect(msg).toMatch(new RegExp(`knows ${world.length} words$`));
    expectDd3dError(() => tok.call('a bleu mug'), '"bleu"', 'did you mean blue');
    expectDd3dError(() => tok.tokenize('a red chair, frnot view'), '"frnot"', 'did you mean front');
    // at most three suggestions, nearest first
    const many = expectDd3dError(() => tok.encode('a tre'), '"tre"');
    const listed = /did you mean ([^?]*)\?/.exec(many)![1]!.split(/, | or /);
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.length).toBeLessThanOrEqual(3);
    expect(listed[0]).toBe('tree');
    expect(tok.suggest('chiar')[0]).toBe('chair');
    expect(tok.suggest('tabel')).toContain('table');
  });

  it('lists several unknown words in one line, and says when nothing is close', () => {
    expectDd3dError(
      () => tok.encode('a purpel dragon\nwith wingz'),
      'unknown words',
      '"purpel" (did you mean purple?)',
      '"dragon" (',
      '"wingz"',
      'a purpel dragon with wingz',
    );
    expectDd3dError(() => tok.encode('a xylophonequartet'), '"xylophonequartet" (no known word is close)');
    expectDd3dError(() => tok.encode('a (red) chair'), '"(" (not a word');
  });

  it('uses optimal-string-alignment distance', () => {
    expect(editDistance('chiar', 'chair')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('ca', 'abc')).toBe(3);
  });
});

describe('truncation', () => {
  it('keeps EOS last and warns once', () => {
    const warnings: string[] = [];
    const t = WordTokenizer.build(world, { maxLength: 8, onWarning: (m) => warnings.push(m) });
    const text = 'a photo of a red chair with four legs, front view';
    const { ids, truncated } = t.call(text);
    expect(truncated).toBe(true);
    expect(ids).toHaveLength(8);
    expect(ids[0]).toBe(t.bosId);
    expect(ids[7]).toBe(t.eosId);
    expect(t.decode(ids.slice(1, 7))).toBe('a photo of a red chair');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('has 12 tokens but only 6 fit in 8');
    expect(warnings[0]).toContain('"with four legs, front view"');
    expect(t.call('a red chair').truncated).toBe(false);
    expect(warnings).toHaveLength(1);
    // a per-call maxLength truncates too
    expect(tok.call(text, { maxLength: 5 }).ids).toHaveLength(5);
  });
});

describe('save and fromFolder', () => {
  it('round-trips through a diffusers-style folder', () => {
    const dir = join(tmpFolder(), 'tokenizer');
    tok.save(dir);
    expect(readdirSync(dir).sort()).toEqual(['special_tokens_map.json', 'tokenizer_config.json', 'vocab.json']);
    const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      tokenizer_class: WORD_TOKENIZER_CLASS,
      model_max_length: 77,
      bos_token: '<|startoftext|>',
      eos_token: '<|endoftext|>',
      pad_token: '<|pad|>',
    });
    const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
    expect(Object.keys(vocab)).toHaveLength(tok.vocabSize);
    expect(vocab['<|startoftext|>']).toBe(0);
    expect(vocab.chair).toBe(tok.tokenToId('chair'));
    expect(JSON.parse(readFileSync(join(dir, 'special_tokens_map.json'), 'utf8'))).toEqual({
      bos_token: '<|startoftext|>',
      eos_token: '<|endoftext|>',
      pad_token: '<|pad|>',
    });

    const back = WordTokenizer.fromFolder(dir, quiet);
    expect(back.vocabSize).toBe(tok.vocabSize);
    expect(back.words).toEqual(tok.words);
    expect([back.bosId, back.eosId, back.padId, back.maxLength]).toEqual([0, 1, 2, 77]);
    const text = 'a 3d model of a tall orange lamp with a white drum shade and a square base, back view';
    expect(back.call(text)).toEqual(tok.call(text));
    // saving again over the same folder is fine and leaves no temporary files
    back.save(dir);
    expect(readdirSync(dir)).toHaveLength(3);
  });

  it('keeps a smaller max length and accepts a model folder holding tokenizer/', () => {
    const root = tmpFolder();
    WordTokenizer.build(world, { maxLength: 24 }).save(join(root, 'tokenizer'));
    const t = WordTokenizer.fromFolder(root, quiet);
    expect(t.maxLength).toBe(24);
    expect(t.call('a mug').ids).toHaveLength(24);
  });

  it('reports broken folders in one line naming the file', () => {
    const dir = tmpFolder();
    tok.save(dir);
    const vocabPath = join(dir, 'vocab.json');
    const good = readFileSync(vocabPath, 'utf8');

    writeFileSync(vocabPath, good.replace('"chair": ', '"Chair": '));
    expectDd3dError(() => WordTokenizer.fromFolder(dir), vocabPath, '"Chair"', 'can never come out of normalisation');
    writeFileSync(vocabPath, good.replace(/"chair": \d+/, '"chair": 0'));
    expectDd3dError(() => WordTokenizer.fromFolder(dir), vocabPath, 'share id 0');
    writeFileSync(vocabPath, good.replace(/"chair": \d+/, '"chair": 500'));
    expectDd3dError(() => WordTokenizer.fromFolder(dir), vocabPath, '"chair" maps to 500');
    writeFileSync(vocabPath, good.replace('"<|pad|>": 2', '"<|padding|>": 2'));
    expectDd3dError(() => WordTokenizer.fromFolder(dir), 'pad_token "<|pad|>" is not in the vocabulary');
    writeFileSync(vocabPath, '{"a": 0,');
    expectDd3dError(() => WordTokenizer.fromFolder(dir), vocabPath, 'invalid JSON');
    writeFileSync(vocabPath, good);

    const configPath = join(dir, 'tokenizer_config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(configPath, JSON.stringify({ ...config, model_max_length: 100 }));
    expectDd3dError(() => WordTokenizer.fromFolder(dir), configPath, 'model_max_length', '100');
    writeFileSync(configPath, JSON.stringify({ ...config, tokenizer_class: 'CLIPTokenizer' }));
    expectDd3dError(() => WordTokenizer.fromFolder(dir), configPath, '"CLIPTokenizer"', WORD_TOKENIZER_CLASS);

    expectDd3dError(() => WordTokenizer.fromFolder(join(dir, 'missing')), 'does not exist');
    const empty = tmpFolder();
    expectDd3dError(() => WordTokenizer.fromFolder(empty), 'has no vocab.json');
  });
});

describe('loadTokenizer', () => {
  it('picks CLIP BPE for SD folders and the word tokenizer for dd3d folders', () => {
    expect(loadTokenizer(SD1, quiet)).toBeInstanceOf(ClipTokenizer);
    expect(loadTokenizer(join(SD1, 'tokenizer'), quiet)).toBeInstanceOf(ClipTokenizer);
    expect(loadTokenizer(join(FIX, 'sd2-tiny', 'tokenizer'), quiet).padId).toBe(ClipTokenizer.fromFolder(join(FIX, 'sd2-tiny'), quiet).padId);
    // no tokenizer_config.json, but vocab.json + merges.txt: CLIP
    expect(loadTokenizer(join(FIX, 'clip-tokenizer'), quiet)).toBeInstanceOf(ClipTokenizer);
    const clip = loadTokenizer(SD1, quiet);
    expect(clip.call('a red chair').ids).toEqual(ClipTokenizer.fromFolder(SD1, quiet).call('a red chair').ids);

    const root = tmpFolder();
    tok.save(join(root, 'tokenizer'));
    writeFileSync(join(root, 'model_index.json'), '{}');
    const word = loadTokenizer(join(root, 'tokenizer'), quiet);
    expect(word).toBeInstanceOf(WordTokenizer);
    expect(loadTokenizer(root, quiet)).toBeInstanceOf(WordTokenizer);
    expect(word.call('a red chair, front view')).toEqual(tok.call('a red chair, front view'));
  });

  it('rejects other tokenizer classes and folders without a tokenizer', () => {
    const dir = tmpFolder();
    const configPath = join(dir, 'tokenizer_config.json');
    writeFileSync(configPath, JSON.stringify({ tokenizer_class: 'T5Tokenizer', model_max_length: 77 }));
    writeFileSync(join(dir, 'vocab.json'), '{"a": 0}');
    expectDd3dError(() => loadTokenizer(dir), configPath, 'tokenizer_class "T5Tokenizer" is not supported', 'CLIPTokenizer', WORD_TOKENIZER_CLASS);
    writeFileSync(configPath, JSON.stringify({ tokenizer_class: 7 }));
    expectDd3dError(() => loadTokenizer(dir), configPath, 'tokenizer_class must be a string');
    writeFileSync(configPath, '{nope');
    expectDd3dError(() => loadTokenizer(dir), configPath, 'not valid JSON');
    writeFileSync(configPath, '{}');
    expectDd3dError(() => loadTokenizer(dir), 'not a tokenizer folder', 'merges.txt');
    expectDd3dError(() => loadTokenizer(join(dir, 'nope')), 'does not exist');
    const empty = tmpFolder();
    mkdirSync(join(empty, 'unet'));
    expectDd3dError(() => loadTokenizer(empty), 'not a tokenizer folder');
  });
});

describe('DiffusionModel with a word tokenizer', () => {
  it('loads it from tokenizer/ and conditions the text encoder on its ids', async () => {
    await initBackend('cpu');
    const root = tmpFolder();
    for (const c of ['unet', 'vae', 'scheduler']) symlinkSync(join(SD1, c), join(root, c), 'dir');
    mkdirSync(join(root, 'text_encoder'));
    symlinkSync(join(SD1, 'text_encoder', 'model.safetensors'), join(root, 'text_encoder', 'model.safetensors'));
    const config = JSON.parse(readFileSync(join(SD1, 'text_encoder', 'config.json'), 'utf8')) as Record<string, unknown>;
    // ids of the word vocabulary: BOS 0, EOS 1, pad 2
    writeFileSync(join(root, 'text_encoder', 'config.json'), JSON.stringify({ ...config, bos_token_id: 0, eos_token_id: 1, pad_token_id: 2 }));
    const index = JSON.parse(readFileSync(join(SD1, 'model_index.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(root, 'model_index.json'), JSON.stringify({ ...index, tokenizer: ['dd3d', WORD_TOKENIZER_CLASS] }));
    tok.save(join(root, 'tokenizer'));
    expect(existsSync(join(root, 'tokenizer', 'merges.txt'))).toBe(false);

    const model = DiffusionModel.load(root);
    try {
      expect(model.tokenizer).toBeInstanceOf(WordTokenizer);
      const states = model.encodePrompts(['a red chair, front view', 'a blue mug, side view']);
      expect(states.shape).toEqual([2, 77, 32]);
      const v = states.dataSync();
      expect(v.every((x) => Number.isFinite(x))).toBe(true);
      states.dispose();
      expectDd3dError(() => model.encodePrompts(['a red chiar']), 'did you mean chair');
    } finally {
      model.dispose();
      tf.disposeVariables();
    }
  });
});
