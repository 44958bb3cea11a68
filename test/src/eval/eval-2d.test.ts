import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { parseBaseline } from '../../../src/cli/eval-2d.js';
import { Dd3dError } from '../../../src/core/errors.js';
import { writeReferenceSet } from '../../../src/dataset/scene-refs.js';
import { attributeMarginals, attributeMetrics, combinationOf, mostCommon } from '../../../src/eval/attribute-metrics.js';
import { combinationKeys, referenceTruth } from '../../../src/eval/eval-2d.js';
import { builtinProbeDir } from '../../../src/paths.js';
import { loadProbe } from '../../../src/probe/index.js';
import { frechetDistance, prdc, symmetricEigen } from '../../../src/eval/feature-metrics.js';

describe('attribute combinations', () => {
  it('score TV distance, in-distribution rate and coverage', () => {
    const red = combinationOf('chair', { color: 'red', back: 'tall back', legs: 'three legs' }, ['color', 'back']);
    const blue = combinationOf('chair', { color: 'blue', back: 'tall back' }, ['color', 'back']);
    const green = combinationOf('chair', { color: 'green', back: 'tall back' }, ['color', 'back']);
    expect(red).toBe('chair | color=red | back=tall back');
    // references half red, half blue; generated 3/4 red, 1/4 green
    const m = attributeMetrics([red, red, red, green], [red, blue, red, blue]);
    expect(m.tv_distance).toBeCloseTo(0.5 * (0.25 + 0.5 + 0.25), 10);
    expect(m.in_distribution).toBe(0.75);
    expect(m.coverage).toBe(0.5);
    expect(attributeMetrics([red, blue], [blue, red]).tv_distance).toBe(0);
  });

  it('the most common value; a tie goes to the alphabetically first, whatever the order', () => {
    expect(mostCommon(['blue', 'red', 'red'])).toBe('red');
    expect(mostCommon(['red', 'blue', 'red', 'blue'])).toBe('blue');
    expect(mostCommon(['blue', 'red', 'blue', 'red'])).toBe('blue');
  });

  it('marginals count each attribute among the images of one family', () => {
    const m = attributeMarginals('lamp', [
      { family: 'lamp', attributes: { family: 'lamp', color: 'black', height: 'tall', shade: 'drum shade' } },
      { family: 'lamp', attributes: { color: 'black', height: 'short', shade: 'drum shade' } },
      { family: 'lamp', attributes: { color: 'white', height: 'tall', shade: 'cone shade' } },
      { family: 'chair', attributes: { color: 'red', back: 'tall back' } },
    ]);
    expect(m.family_share).toBe(0.75);
    expect(Object.keys(m.marginals).sort()).toEqual(['color', 'height', 'shade']); // not the chair's back, not "family"
    expect(m.marginals.color!.black).toBeCloseTo(2 / 3, 12);
    expect(m.marginals.height).toEqual({ tall: m.marginals.color!.black, short: m.marginals.color!.white });
    expect(attributeMarginals('mug', [])).toEqual({ family_share: 0, marginals: {} });
  });
});

describe('reference combinations', () => {
  it('key on the attributes the set constrains, colour only when constrained', () => {
    expect(combinationKeys({ back: ['tall back'], color: ['red', 'blue'] })).toEqual(['color', 'back']);
    expect(combinationKeys({ shade: ['cone shade', 'drum shade', 'dome shade'] })).toEqual(['shade']);
    expect(combinationKeys({})).toEqual([]);
    // lamps of any colour: fresh draws in other colours than the references' still match them
    const refs = ['red', 'blue', 'green'].map((color, i) => ({ family: 'lamp', attributes: { color, shade: ['cone shade', 'drum shade', 'dome shade'][i]! } }));
    const fresh = ['white', 'black', 'pink'].map((color, i) => ({
      family: 'lamp',
      attributes: { color, shade: ['cone shade', 'drum shade', 'dome shade'][i]! },
    }));
    const keys = combinationKeys({ shade: [] });
    const m = attributeMetrics(
      fresh.map((l) => combinationOf(l.family, l.attributes, keys)),
      refs.map((l) => combinationOf(l.family, l.attributes, keys)),
    );
    expect(m.tv_distance).toBe(0);
    const withColour = attributeMetrics(
      fresh.map((l) => combinationOf(l.family, l.attributes, ['color', ...keys])),
      refs.map((l) => combinationOf(l.family, l.attributes, ['color', ...keys])),
    );
    expect(withColour.tv_distance).toBeCloseTo(1, 12);
  });
});

describe('feature-space metrics', () => {
  const grid = (dx: number) => [
    [0 + dx, 0],
    [1 + dx, 0],
    [0 + dx, 1],
    [1 + dx, 1],
    [0.5 + dx, 0.5],
  ];

  it('diagonalizes a symmetric matrix', () => {
    const { values, vectors } = symmetricEigen([
      [2, 1],
      [1, 2],
    ]);
    expect([...values].sort()).toEqual([expect.closeTo(1, 10), expect.closeTo(3, 10)]);
    // each column of vectors is an eigenvector of its value: A·v = λ·v
    for (const [k, lambda] of values.entries()) {
      const v = [vectors[0]![k]!, vectors[1]![k]!];
      expect(Math.hypot(v[0]!, v[1]!)).toBeCloseTo(1, 10);
      expect(2 * v[0]! + v[1]!).toBeCloseTo(lambda * v[0]!, 10);
      expect(v[0]! + 2 * v[1]!).toBeCloseTo(lambda * v[1]!, 10);
    }
  });

  it('the Fréchet distance is 0 for one set and |Δμ|² for a shifted copy', () => {
    expect(frechetDistance(grid(0), grid(0))).toBeCloseTo(0, 8);
    expect(frechetDistance(grid(0), grid(3))).toBeCloseTo(9, 8);
    // 1-D Gaussians: (μ1 − μ2)² + (s1 − s2)²
    const a = [[0], [2]];
    const b = [[0], [4]];
    expect(frechetDistance(a, b)).toBeCloseTo((1 - 2) ** 2 + (Math.SQRT2 - 2 * Math.SQRT2) ** 2, 8);
  });

  it('precision, recall, density and coverage are 1 for the same set and 0 for a far one', () => {
    // density: each corner's ball (radius 1, its 2nd neighbour) holds itself, the centre and two
    // corners; the centre's (radius √½) holds all five: (4·4 + 5) / (k·5)
    expect(prdc(grid(0), grid(0), 2)).toEqual({ precision: 1, recall: 1, density: 2.1, coverage: 1 });
    expect(prdc(grid(0), grid(100), 2)).toEqual({ precision: 0, recall: 0, density: 0, coverage: 0 });
  });

  it('tells the four apart: real balls for precision, density, coverage; fake balls for recall', () => {
    // k = 1: every real ball has radius √½ (corner to centre), every fake ball 0.1 (its twin).
    // The fakes near (0, 0) lie in real balls, those near (3, 3) in none: precision 2/4. The
    // one at y = 0.05 is in the balls of (0, 0) and the centre, the one at −0.05 in (0, 0)'s
    // only: density 3 / 4. Those two balls hold a fake: coverage 2/5. Only (0, 0) lies in a
    // fake's ball: recall 1/5.
    const fake = [
      [0, 0.05],
      [0, -0.05],
      [3, 3],
      [3, 3.1],
    ];
    expect(prdc(grid(0), fake, 1)).toEqual({ precision: 0.5, recall: 0.2, density: 0.75, coverage: 0.4 });
  });
});

describe('--baseline', () => {
  it('parses caption, prompt-tuning and images, and names a bad one', () => {
    expect(parseBaseline('caption:a red chair')).toEqual({ kind: 'caption', prompt: 'a red chair' });
    expect(parseBaseline('prompt-tuning')).toEqual({ kind: 'prompt-tuning' });
    expect(parseBaseline('prompt-tuning:pt.json')).toEqual({ kind: 'prompt-tuning', file: 'pt.json' });
    expect(parseBaseline('images:fresh/')).toEqual({ kind: 'images', dir: 'fresh/' });
    expect(() => parseBaseline('coop')).toThrow('--baseline: "coop" is not caption:"<prompt>", prompt-tuning, prompt-tuning:<file.json> or images:<dir>');
    expect(() => parseBaseline('caption:')).toThrow(/caption needs a prompt/);
    expect(() => parseBaseline('images:')).toThrow(/images needs a folder/);
  });
});

describe('reference truth', () => {
  it("reads a reference set's attributes.json, and names the file when it lacks the family or the images", async () => {
    await initBackend('wasm');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-eval2d-'));
    const probe = loadProbe(builtinProbeDir());
    try {
      await writeReferenceSet({ family: 'chair', where: 'color=red; back=tall', n: 2, res: 32, out: dir, seed: 0 });
      const truth = await referenceTruth(dir, probe);
      expect(truth.family).toBe('chair');
      expect(truth.keys).toEqual(['color', 'back']);
      expect(truth.combinations).toEqual(['chair | color=red | back=tall back', 'chair | color=red | back=tall back']);
      const manifest = path.join(dir, 'attributes.json');
      const { images: _images, ...noImages } = JSON.parse(fs.readFileSync(manifest, 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(manifest, JSON.stringify(noImages));
      const bad = referenceTruth(dir, probe);
      await expect(bad).rejects.toThrow(Dd3dError);
      await expect(bad).rejects.toThrow(`${manifest}: expected "family" (a string) and "images" (a list)`);
    } finally {
      probe.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
