/**
 * How well a set of generated images covers a multi-modal reference set, in the procedural
 * world's attributes. An image's *combination* is its family plus the values of the
 * attributes the reference set varies or constrains (e.g. colour and back for "red or blue
 * chairs with tall backs"); a generated image's comes from the probe, a reference's from its
 * ground truth.
 *
 * - TV distance: ½ Σ |p_gen(c) − p_ref(c)| over all combinations seen on either side.
 * - In-distribution rate: the share of generated images whose combination occurs in the references.
 * - Coverage: the share of the references' combinations that some generated image has.
 *
 * Marginals also show the attributes a set leaves free (a lamp's height when only its shade
 * is constrained), which combinations of 12 references cannot: with every attribute in the key,
 * most combinations would occur once or never.
 */

export type Combination = string;

/** The key of an image: family, then each named attribute's value, in the order given. */
export function combinationOf(family: string, values: Record<string, string | undefined>, keys: readonly string[]): Combination {
  return [family, ...keys.map((k) => `${k}=${values[k] ?? '?'}`)].join(' | ');
}

/** The share of each combination among `items`. */
function histogram(items: readonly Combination[]): Map<Combination, number> {
  const h = new Map<Combination, number>();
  for (const c of items) h.set(c, (h.get(c) ?? 0) + 1 / items.length);
  return h;
}

export interface AttributeMetrics {
  tv_distance: number;
  in_distribution: number;
  coverage: number;
  /** Share of each combination among the generated images and among the references. */
  generated: Record<Combination, number>;
  reference: Record<Combination, number>;
}

export function attributeMetrics(generated: readonly Combination[], reference: readonly Combination[]): AttributeMetrics {
  const g = histogram(generated);
  const r = histogram(reference);
  let tv = 0;
  for (const c of new Set([...g.keys(), ...r.keys()])) tv += Math.abs((g.get(c) ?? 0) - (r.get(c) ?? 0));
  return {
    tv_distance: tv / 2,
    in_distribution: generated.filter((c) => r.has(c)).length / generated.length,
    coverage: [...r.keys()].filter((c) => g.has(c)).length / r.size,
    generated: Object.fromEntries(g),
    reference: Object.fromEntries(r),
  };
}

/** One image's family and attribute values (main colour as `color`). */
export interface LabelledImage {
  family: string;
  attributes: Record<string, string | undefined>;
}

export interface Marginals {
  /** The share of images of the given family. */
  family_share: number;
  /** Among those images: attribute → value → share. */
  marginals: Record<string, Record<string, number>>;
}

export function attributeMarginals(family: string, images: readonly LabelledImage[]): Marginals {
  const members = images.filter((im) => im.family === family);
  const marginals: Record<string, Record<string, number>> = {};
  for (const im of members) {
    for (const [name, value] of Object.entries(im.attributes)) {
      if (name === 'family' || value === undefined) continue;
      const m = (marginals[name] ??= {});
      m[value] = (m[value] ?? 0) + 1 / members.length;
    }
  }
  return { family_share: images.length ? members.length / images.length : 0, marginals };
}

/** The most frequent of `xs`; a tie goes to the first in alphabetical order, so the answer does not depend on the order of `xs`. */
export function mostCommon(xs: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0];
}
