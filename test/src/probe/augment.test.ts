import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../src/core/random.js';
import { augment, objectMask, type AugmentOptions } from '../../../src/probe/data.js';

const S = 32;

/** A white S×S image with a chair from the side painted in `rgb`: a back, a seat and two legs, 2 px wide. */
function chairSide(rgb: [number, number, number]): Float32Array {
  const img = new Float32Array(S * S * 3).fill(1);
  const rect = (x0: number, y0: number, x1: number, y1: number) => {
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) img.set(rgb, (y * S + x) * 3);
  };
  rect(8, 4, 9, 27);
  rect(10, 16, 22, 17);
  rect(21, 18, 22, 27);
  return img;
}

describe('the probe’s generated look (augmentation)', () => {
  const still: AugmentOptions = { flip: 0, shift: 0, brightness: 0, channelGain: 0, offset: 0, noise: 0, blur: 0 };
  const look = (o: Partial<AugmentOptions>, seed = 2) => {
    const img = chairSide([0.6, 0.3, 0.1]);
    augment(img, S, mulberry32(seed), { ...still, ...o });
    return img;
  };
  const clean = chairSide([0.6, 0.3, 0.1]);
  const mask = objectMask(clean, S);
  const changed = (img: Float32Array) => Array.from({ length: S * S }, (_, p) => [0, 1, 2].some((ch) => img[p * 3 + ch] !== clean[p * 3 + ch]));

  it('finds the object on white', () => {
    expect(mask.reduce((a, b) => a + b, 0)).toBe(2 * 24 + 13 * 2 + 2 * 10);
  });

  it('mottle and speckle change the object’s colours only; without the options nothing changes', () => {
    expect(look({})).toEqual(clean);
    for (const o of [{ mottle: 1 }, { speckle: 1 }]) {
      const diff = changed(look(o));
      expect(diff.some((d, p) => d && mask[p])).toBe(true);
      expect(diff.some((d, p) => d && !mask[p])).toBe(false);
    }
  });

  it('ragged changes only the outline; drips add pixels under the object; each is a function of the seed', () => {
    const near = (p: number) => [p, p - 1, p + 1, p - S, p + S].some((q) => q >= 0 && q < S * S && mask[q]);
    const ragged = changed(look({ ragged: 1 }));
    expect(ragged.some(Boolean)).toBe(true);
    ragged.forEach((d, p) => d && expect(near(p), `pixel ${p}`).toBe(true));
    const drips = changed(look({ drips: 1 }));
    const lowest = (x: number) => Math.max(...Array.from({ length: S }, (_, y) => (mask[y * S + x] ? y : -1)));
    expect(drips.some(Boolean)).toBe(true);
    drips.forEach((d, p) => d && expect(Math.floor(p / S), `pixel ${p}`).toBeGreaterThan(lowest(p % S)));
    const all = { mottle: 1, speckle: 1, ragged: 1, drips: 1 };
    expect(look(all, 7)).toEqual(look(all, 7));
    expect(look(all, 8)).not.toEqual(look(all, 7));
  });
});
