/**
 * Captions for rendered objects: the family noun, a random subset of its attributes
 * (dropout, so short prompts like "a red chair" stay in the training distribution), then
 * the view phrase text-to-3D guidance appends ("front view", ...).
 */
import type { Attributes, AttributeSpec } from './family.js';
import { REGISTRY } from './families/index.js';
import { COLOR_NAMES } from './colors.js';
import { deriveSeed, mulberry32 } from '../src/core/random.js';
import { findFamily } from './where.js';

export type ViewPhrase = 'front view' | 'side view' | 'back view' | 'overhead view';
export const VIEW_PHRASES: readonly ViewPhrase[] = ['front view', 'side view', 'back view', 'overhead view'];

/** Maps any angle in degrees to (−180, 180]. */
export function normalizeAzimuth(deg: number): number {
  const a = ((deg % 360) + 360) % 360;
  return a > 180 ? a - 360 : a;
}

/**
 * The DreamFusion/threestudio thresholds. Azimuth 0 puts the camera on the +Z side looking
 * at the object's front; the sign of the azimuth does not matter here. Boundaries (exactly
 * 45° or 135°, exactly 60° elevation) fall to "side view" / not overhead.
 */
export function viewPhrase(azimuthDeg: number, elevationDeg: number): ViewPhrase {
  if (elevationDeg > 60) return 'overhead view';
  const a = Math.abs(normalizeAzimuth(azimuthDeg));
  if (a < 45) return 'front view';
  if (a > 135) return 'back view';
  return 'side view';
}

const PREFIXES = ['a', 'a photo of a', 'a picture of a', 'a render of a', 'a 3d model of a'];
const NUMBERS = new Set(['one', 'two', 'three', 'four', 'five', 'six']);
/** Size, shape and count words precede a colour in English ("round red seat"); kind words like "drum" follow it. */
const BEFORE_COLOR = new Set([...NUMBERS, 'round', 'square', 'rectangular', 'tall', 'short', 'low', 'long', 'pointed', 'layered']);

const article = (next: string): string => (/^[aeiou]/.test(next) ? 'an' : 'a');

/** "four legs", "no handle", "armrests" take no article; "tall back" takes "a". */
function withArticle(phrase: string): string {
  const w = phrase.split(' ');
  if (NUMBERS.has(w[0]!) || w[0] === 'no' || w[w.length - 1]!.endsWith('s')) return phrase;
  return `${article(phrase)} ${phrase}`;
}

/** Puts a part colour after the phrase's size, shape and count words: ("round seat", "blue") → "round blue seat". */
function insertColor(phrase: string, color: string): string {
  const w = phrase.split(' ');
  let i = 0;
  while (i < w.length - 1 && BEFORE_COLOR.has(w[i]!)) i++;
  w.splice(i, 0, color);
  return w.join(' ');
}

/** "a, b and c"; no comma before "and". */
function joinList(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

export interface CaptionOptions {
  /**
   * Probability that each attribute is mentioned. Default: drawn uniformly in [0, 1) per
   * caption, so captions range from the bare family to every attribute.
   */
  keep?: number;
  /**
   * Without `keep`: the lowest keep probability drawn, uniformly in [minKeep, 1); default 0.
   * Above 0, fewer captions leave out the colours (pretrain-configs.ts, mv32c).
   */
  minKeep?: number;
  /** false: no view phrase (multi-view records, whose cameras carry the view). Default true. */
  viewPhrase?: boolean;
}

/**
 * A caption such as "a red chair with four legs and a tall back, front view". Deterministic
 * for (attributes, view, seed, options). Words are separated by single spaces, with ", "
 * between listed parts and before the view phrase; every word is in vocabulary().
 */
export function caption(attributes: Attributes, view: { azimuthDeg: number; elevationDeg: number }, seed: number, opts: CaptionOptions = {}): string {
  const family = findFamily(attributes.family);
  const rng = mulberry32(deriveSeed(seed, `${family.spec.name}/caption`));
  const minKeep = opts.minKeep ?? 0;
  const keepP = opts.keep ?? minKeep + (1 - minKeep) * rng.next();
  const kept: AttributeSpec[] = [];
  for (const spec of family.spec.attributes) {
    const u = rng.next(); // drawn for every attribute so captions of one seed differ only where kept differs
    if (u < keepP && attributes[spec.name] !== undefined) kept.push(spec);
  }
  const prefix = PREFIXES[Math.floor(rng.next() * PREFIXES.length)]!;

  const value = (s: AttributeSpec): string => attributes[s.name]!;
  const adjectives = kept.filter((s) => s.kind === 'adjective').map(value);
  const main = kept.find((s) => s.kind === 'color' && !s.part);
  if (main) adjectives.push(value(main));
  const phrases = kept.filter((s) => s.kind === 'with').map(value);
  for (const s of kept) {
    if (s.kind !== 'color' || !s.part) continue;
    const i = phrases.findIndex((p) => p.split(' ').pop() === s.part && !p.startsWith('no '));
    if (i >= 0) phrases[i] = insertColor(phrases[i]!, value(s));
    else phrases.push(`${value(s)} ${s.part}`);
  }

  const noun = [...adjectives, family.spec.name].join(' ');
  // every prefix ends in the article, which has to agree with the next word ("an orange")
  const head = `${prefix.slice(0, -1)}${article(noun)} ${noun}`;
  const tail = phrases.length > 0 ? ` with ${joinList(phrases.map(withArticle))}` : '';
  if (opts.viewPhrase === false) return `${head}${tail}`;
  return `${head}${tail}, ${viewPhrase(view.azimuthDeg, view.elevationDeg)}`;
}

/** Every word a caption can contain, sorted; the built-in tokenizer is trained on these. */
export function vocabulary(): string[] {
  const words = new Set<string>(['a', 'an', 'with', 'and']);
  const add = (text: string): void => text.split(' ').forEach((w) => words.add(w));
  PREFIXES.forEach(add);
  VIEW_PHRASES.forEach(add);
  COLOR_NAMES.forEach(add);
  for (const f of REGISTRY) {
    add(f.spec.name);
    for (const a of f.spec.attributes) {
      a.values.forEach(add);
      if (a.part) add(a.part);
    }
  }
  return [...words].sort();
}
