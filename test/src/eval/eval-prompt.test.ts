import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { meanPairwiseDistance, summarizePromptEvals, type PromptEval } from '../../../src/eval/eval-prompt.js';
import { promptTerms } from '../../../src/eval/prompt-terms.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('what a prompt asks for', () => {
  it('finds the family, the main colour before it, and the attribute phrases of that family', () => {
    expect(promptTerms('a red chair with four legs and a tall back, front view')).toEqual({
      family: 'chair',
      color: 'red',
      attributes: { legs: 'four legs', back: 'tall back' },
    });
    // the last colour before the noun is the object's; "white" after it belongs to a part
    expect(promptTerms('a 3d model of a tall blue lamp with a white drum shade, side view')).toEqual({
      family: 'lamp',
      color: 'blue',
      attributes: { height: 'tall', shade: 'drum shade' },
    });
    expect(promptTerms('a chair with no back')).toEqual({ family: 'chair', color: undefined, attributes: { back: 'no back' } });
    expect(promptTerms('A MUG WITH NO HANDLE').attributes).toEqual({ handle: 'no handle' });
  });

  it('a prompt without a family is a one-line error listing them', () => {
    expect(() => promptTerms('a red thing')).toThrow(
      '--prompt: "a red thing" names no object family (expected one of chair, table, lamp, mug, vase, sofa, car, tree)',
    );
  });

  it('a main colour the family never takes is a one-line error listing the ones it does', () => {
    expect(() => promptTerms('a gray tree, side view')).toThrow(
      '--prompt: "a gray tree, side view" asks for a gray tree, which the world never makes (expected one of green, yellow, orange, red, pink, white, purple)',
    );
    // a part colour outside the main colours is not the object's colour, so it passes
    expect(promptTerms('a green tree with a gray trunk').color).toBe('green');
  });
});

describe('diversity', () => {
  it('is the mean pairwise Euclidean distance of the feature rows', () => {
    // three points: (0,0), (3,4), (0,8): distances 5, 8, 5 → mean 6
    const before = tf.memory().numTensors;
    expect(
      meanPairwiseDistance([
        [0, 0],
        [3, 4],
        [0, 8],
      ]),
    ).toBeCloseTo(6, 4);
    expect(
      meanPairwiseDistance([
        [1, 2],
        [1, 2],
      ]),
    ).toBeCloseTo(0, 5);
    expect(meanPairwiseDistance([[1, 2]])).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('several prompts', () => {
  const result = (prompt: string, family: number, color: number | null, attr: number | null, diversity: number): PromptEval => ({
    prompt,
    n: 8,
    terms: promptTerms(prompt),
    family_acc: family,
    color_acc: color,
    attr_acc: attr,
    per_attribute: {},
    diversity,
  });

  it('averages each score over the prompts that name it', () => {
    const s = summarizePromptEvals([
      result('a red chair with four legs', 1, 0.5, 0.25, 2),
      result('a mug', 0.5, null, null, 4),
      result('a blue lamp', 0.75, 1, null, 3),
    ]);
    expect(s.n).toBe(24);
    expect(s.family_acc).toBeCloseTo(0.75, 10);
    expect(s.color_acc).toBeCloseTo(0.75, 10);
    expect(s.attr_acc).toBeCloseTo(0.25, 10);
    expect(s.diversity).toBeCloseTo(3, 10);
    expect(s.prompts.map((p) => p.prompt)).toEqual(['a red chair with four legs', 'a mug', 'a blue lamp']);
    expect(summarizePromptEvals([result('a vase', 1, null, null, 1)]).color_acc).toBeNull();
  });
});
