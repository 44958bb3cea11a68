import { describe, expect, it } from 'vitest';
import { FAMILIES, caption, makeObject, normalizeAzimuth, viewPhrase, vocabulary } from '../../scenes/index.js';

const VIEWS = ['front view', 'side view', 'back view', 'overhead view'];

describe('viewPhrase', () => {
  it('switches at 45° and 135° of azimuth and above 60° of elevation', () => {
    expect(viewPhrase(0, 0)).toBe('front view');
    expect(viewPhrase(44, 0)).toBe('front view');
    expect(viewPhrase(45, 0)).toBe('side view');
    expect(viewPhrase(46, 0)).toBe('side view');
    expect(viewPhrase(90, 30)).toBe('side view');
    expect(viewPhrase(134, 0)).toBe('side view');
    expect(viewPhrase(135, 0)).toBe('side view');
    expect(viewPhrase(136, 0)).toBe('back view');
    expect(viewPhrase(180, 0)).toBe('back view');
    expect(viewPhrase(-180, 0)).toBe('back view');
    expect(viewPhrase(0, 59)).toBe('front view');
    expect(viewPhrase(0, 60)).toBe('front view');
    expect(viewPhrase(0, 61)).toBe('overhead view');
    expect(viewPhrase(180, 61)).toBe('overhead view');
    expect(viewPhrase(90, 90)).toBe('overhead view');
    expect(viewPhrase(100, -30)).toBe('side view');
  });

  it('treats negative and wrapped azimuths by their angle from the front', () => {
    expect(viewPhrase(-44, 0)).toBe('front view');
    expect(viewPhrase(-46, 0)).toBe('side view');
    expect(viewPhrase(-134, 0)).toBe('side view');
    expect(viewPhrase(-136, 0)).toBe('back view');
    expect(viewPhrase(350, 0)).toBe('front view');
    expect(viewPhrase(316, 0)).toBe('front view');
    expect(viewPhrase(314, 0)).toBe('side view');
    expect(viewPhrase(540, 0)).toBe('back view');
    expect(viewPhrase(-720 + 30, 10)).toBe('front view');
    expect(normalizeAzimuth(180)).toBe(180);
    expect(normalizeAzimuth(-180)).toBe(180);
    expect(normalizeAzimuth(270)).toBe(-90);
    expect(normalizeAzimuth(-190)).toBe(170);
  });
});

describe('caption', () => {
  const view = { azimuthDeg: 10, elevationDeg: 15 };

  it('names every attribute when nothing is dropped', () => {
    const attributes = { family: 'chair', color: 'red', seat_color: 'blue', legs: 'four legs', back: 'tall back', seat: 'round seat', arms: 'no armrests' };
    const text = caption(attributes, view, 3, { keep: 1 });
    expect(text).toMatch(
      /^a (photo of a |picture of a |render of a |3d model of a )?red chair with four legs, a tall back, a round blue seat and no armrests, front view$/,
    );
    const lamp = { family: 'lamp', color: 'orange', shade_color: 'white', height: 'tall', shade: 'drum shade', base: 'square base' };
    const texts = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => caption(lamp, { azimuthDeg: 180, elevationDeg: 0 }, s, { keep: 1 })));
    expect(texts).toContain('a tall orange lamp with a white drum shade and a square base, back view');
    const car = { family: 'car', color: 'orange', wheel_color: 'black', wheels: 'six wheels', roof: 'roof', spoiler: 'spoiler' };
    expect(caption(car, view, 1, { keep: 1 })).toMatch(/ an orange car with six black wheels, a roof and a spoiler, front view$/);
  });

  it('keeps only the family and the view when everything is dropped', () => {
    const { attributes } = makeObject('mug', 4);
    expect(caption(attributes, { azimuthDeg: 100, elevationDeg: 0 }, 9, { keep: 0 })).toMatch(/^a (.* )?mug, side view$/);
  });

  it('minKeep raises the share of captions that name a colour, and at 0 changes nothing', () => {
    const chair = { family: 'chair', color: 'red', seat_color: 'blue', legs: 'four legs', back: 'tall back', seat: 'round seat', arms: 'no armrests' };
    const seeds = Array.from({ length: 2000 }, (_, s) => s);
    const share = (minKeep?: number): number => seeds.filter((s) => caption(chair, view, s, { minKeep }).split(' ').includes('red')).length / seeds.length;
    // an attribute is kept with probability p, p uniform in [m, 1): E[p] = (1 + m) / 2
    expect(share()).toBeCloseTo(0.5, 1);
    expect(share(0.5)).toBeCloseTo(0.75, 1);
    // both colours at once: E[p²] = (1 + m + m²) / 3, 1/3 → 7/12
    const both = (minKeep: number): number => seeds.filter((s) => /red .*blue/.test(caption(chair, view, s, { minKeep }))).length / seeds.length;
    expect(both(0)).toBeCloseTo(1 / 3, 1);
    expect(both(0.5)).toBeCloseTo(7 / 12, 1);
    for (const s of seeds.slice(0, 50)) expect(caption(chair, view, s, { minKeep: 0 })).toBe(caption(chair, view, s));
  });

  it('attaches a part colour to its part even when the part phrase is dropped', () => {
    // the colour goes inside its part's phrase, after the size word
    const tree = { family: 'tree', color: 'green', trunk_color: 'gray', crown: 'round crown', trunk: 'short trunk', pot: 'no pot' };
    expect(caption(tree, view, 2, { keep: 1 })).toMatch(/a green tree with a round crown, a short gray trunk and no pot, front view$/);
    // keep=1 but with the cushions phrase absent from the record: the colour still needs its noun
    const partial = { family: 'sofa', color: 'blue', cushion_color: 'white' } as Record<string, string> & { family: string };
    expect(caption(partial, view, 2, { keep: 1 })).toMatch(/a blue sofa with white cushions, front view$/);
  });

  it('always keeps the family word, ends with the view phrase, is deterministic and drops attributes', () => {
    const vocab = new Set(vocabulary());
    for (const f of FAMILIES) {
      const lengths = new Set<number>();
      for (let seed = 0; seed < 60; seed++) {
        const { attributes } = makeObject(f.name, seed);
        const v = { azimuthDeg: ((seed * 37) % 360) - 180, elevationDeg: (seed * 13) % 80 };
        const text = caption(attributes, v, seed);
        expect(caption(attributes, v, seed)).toBe(text);
        expect(text.split(/[ ,]+/)).toContain(f.name);
        expect(text.endsWith(`, ${viewPhrase(v.azimuthDeg, v.elevationDeg)}`)).toBe(true);
        expect(VIEWS.filter((p) => text.includes(p))).toHaveLength(1);
        expect(text).not.toMatch(/  |,,| ,|^ | $/);
        for (const w of text.replace(/,/g, ' ').split(/ +/)) expect(vocab.has(w), `"${w}" from "${text}"`).toBe(true);
        // a mentioned value is the object's value: captions never contradict the attributes
        for (const spec of f.attributes.filter((s) => s.kind === 'with')) {
          for (const other of spec.values)
            if (other !== attributes[spec.name] && text.includes(` ${other}`)) {
              // "no handle" contains "handle": only fail if the other value appears as its own phrase
              expect(attributes[spec.name]!.includes(other), `${text} mentions ${other}`).toBe(true);
            }
        }
        lengths.add(text.split(' ').length);
      }
      expect(lengths.size, `${f.name} captions vary in length`).toBeGreaterThan(3);
    }
    const { attributes } = makeObject('chair', 1);
    const many = new Set(Array.from({ length: 40 }, (_, s) => caption(attributes, view, s)));
    expect(many.size).toBeGreaterThan(10);
  });

  it('uses "an" before vowels', () => {
    for (let seed = 0; seed < 200; seed++) {
      const text = caption(makeObject('vase', seed).attributes, view, seed);
      expect(text).not.toMatch(/\ba [aeiou]/);
      expect(text).not.toMatch(/\ban [^aeiou]/);
    }
  });
});

describe('vocabulary', () => {
  it('lists sorted unique lowercase words including families, colours and view words', () => {
    const v = vocabulary();
    expect([...v].sort()).toEqual(v);
    expect(new Set(v).size).toBe(v.length);
    for (const w of v) expect(w).toMatch(/^[a-z0-9]+$/);
    for (const w of ['chair', 'tree', 'red', 'gray', 'front', 'overhead', 'view', 'with', 'and', 'an', 'handle', 'legs']) expect(v).toContain(w);
    console.log(`vocabulary: ${v.length} words`);
  });
});
