/**
 * A tiny seeded PRNG (mulberry32). Every procedural choice draws from one of these so an
 * object, a caption or a dataset shard is a pure function of its seed; Math.random would
 * make results impossible to reproduce or resume.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number;
  /** Uniform integer in [lo, hi], both ends included. */
  int(lo: number, hi: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    range: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
    chance: (p) => next() < p,
  };
}

/**
 * Mixes a seed with a label (FNV-1a over the label, then a murmur finalizer) so that, say,
 * chair #7 and table #7, or an object and its caption, do not draw the same stream.
 */
export function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ (Math.trunc(seed) >>> 0);
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  h ^= Math.trunc(seed / 4294967296) >>> 0; // keep seeds above 2^32 distinct
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Box–Muller: two independent standard normals from two uniforms of `next`. `1 - u` keeps
 * the logarithm's argument in (0, 1], so a uniform of exactly 0 cannot give -Infinity.
 */
export function boxMuller(next: () => number): [number, number] {
  const r = Math.sqrt(-2 * Math.log(1 - next()));
  const a = 2 * Math.PI * next();
  return [r * Math.cos(a), r * Math.sin(a)];
}

/** One standard normal from `rng` (the first of a Box–Muller pair; the second is discarded). */
export function gaussian(rng: Rng): number {
  return boxMuller(rng.next)[0];
}

/** `count` normals with standard deviation `scale`, both of each Box–Muller pair used in order. */
export function normals(next: () => number, count: number, scale = 1): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const [a, b] = boxMuller(next);
    out[i] = scale * a;
    if (i + 1 < count) out[i + 1] = scale * b;
  }
  return out;
}
