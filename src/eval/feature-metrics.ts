/**
 * Distances between two sets of feature vectors (rows), computed in float64 in plain
 * JavaScript: the sets are small (a few hundred rows of 128 probe features).
 *
 * - Fréchet distance (FID's formula): |μ₁ − μ₂|² + Tr(Σ₁ + Σ₂ − 2 (Σ₁^½ Σ₂ Σ₁^½)^½), with the
 *   square roots from symmetric eigendecompositions (Jacobi).
 * - Precision, recall, density and coverage (Naeem et al. 2020) with k-nearest-neighbour balls.
 */

export type Rows = number[][];

function mean(x: Rows): number[] {
  const d = x[0]!.length;
  const m = new Array<number>(d).fill(0);
  for (const r of x) for (let j = 0; j < d; j++) m[j]! += r[j]! / x.length;
  return m;
}

/** Sample covariance (n − 1 in the denominator, as numpy.cov). */
function covariance(x: Rows, m: number[]): number[][] {
  const d = m.length;
  const c = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (const r of x) {
    for (let i = 0; i < d; i++) {
      const di = r[i]! - m[i]!;
      for (let j = i; j < d; j++) c[i]![j]! += di * (r[j]! - m[j]!);
    }
  }
  const n = Math.max(1, x.length - 1);
  for (let i = 0; i < d; i++) for (let j = i; j < d; j++) c[j]![i] = c[i]![j]! /= n;
  return c;
}

/** Eigenvalues and eigenvectors (columns of `vectors`) of a symmetric matrix, by cyclic Jacobi rotations. */
export function symmetricEigen(a: number[][]): { values: number[]; vectors: number[][] } {
  const n = a.length;
  const m = a.map((r) => [...r]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += m[i]![j]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p]![q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q]![q]! - m[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k]![p]!;
          const mkq = m[k]![q]!;
          m[k]![p] = c * mkp - s * mkq;
          m[k]![q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p]![k]!;
          const mqk = m[q]![k]!;
          m[p]![k] = c * mpk - s * mqk;
          m[q]![k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k]![p]!;
          const vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: m.map((r, i) => r[i]!), vectors: v };
}

/** The symmetric positive semi-definite square root (negative round-off eigenvalues clamp to 0). */
function sqrtPsd(a: number[][]): number[][] {
  const { values, vectors } = symmetricEigen(a);
  const n = a.length;
  const r = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let k = 0; k < n; k++) {
    const s = Math.sqrt(Math.max(0, values[k]!));
    if (s === 0) continue;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) r[i]![j]! += s * vectors[i]![k]! * vectors[j]![k]!;
  }
  return r;
}

function matmul(a: number[][], b: number[][]): number[][] {
  const n = a.length;
  const m = b[0]!.length;
  const out = Array.from({ length: n }, () => new Array<number>(m).fill(0));
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < b.length; k++) {
      const aik = a[i]![k]!;
      if (aik === 0) continue;
      for (let j = 0; j < m; j++) out[i]![j]! += aik * b[k]![j]!;
    }
  }
  return out;
}

const trace = (a: number[][]) => a.reduce((s, r, i) => s + r[i]!, 0);

/** The Fréchet distance between Gaussians fitted to the two sets (FID's formula). */
export function frechetDistance(x: Rows, y: Rows): number {
  const mx = mean(x);
  const my = mean(y);
  const cx = covariance(x, mx);
  const cy = covariance(y, my);
  const rx = sqrtPsd(cx);
  // Tr((Σx Σy)^½) = Tr((Σx^½ Σy Σx^½)^½), whose argument is symmetric PSD
  const inner = sqrtPsd(matmul(matmul(rx, cy), rx));
  const dm = mx.reduce((s, v, i) => s + (v - my[i]!) ** 2, 0);
  return Math.max(0, dm + trace(cx) + trace(cy) - 2 * trace(inner));
}

function distance(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

/** Distance from each row to its k-th nearest other row of the same set. */
function kthNeighbourRadii(x: Rows, k: number): number[] {
  return x.map((a, i) => {
    const d = x
      .filter((_, j) => j !== i)
      .map((b) => distance(a, b))
      .sort((p, q) => p - q);
    return d[Math.min(k, d.length) - 1] ?? 0;
  });
}

export interface Prdc {
  precision: number;
  recall: number;
  density: number;
  coverage: number;
}

/**
 * Naeem et al.'s metrics with k-NN balls (real = references, fake = generated):
 * precision, the share of fakes inside some real ball; recall, of reals inside some fake
 * ball; density, the mean count of real balls holding a fake, over k; coverage, the share of
 * reals whose ball holds a fake.
 */
export function prdc(real: Rows, fake: Rows, k: number): Prdc {
  const rr = kthNeighbourRadii(real, k);
  const fr = kthNeighbourRadii(fake, k);
  const d = fake.map((f) => real.map((r) => distance(f, r)));
  const inside = d.map((row) => row.map((v, j) => v <= rr[j]!));
  const precision = inside.filter((row) => row.some(Boolean)).length / fake.length;
  const density = inside.reduce((s, row) => s + row.filter(Boolean).length, 0) / (k * fake.length);
  const coverage = real.filter((_, j) => d.some((row) => row[j]! <= rr[j]!)).length / real.length;
  const recall = real.filter((_, j) => fake.some((_, i) => d[i]![j]! <= fr[i]!)).length / real.length;
  return { precision, recall, density, coverage };
}
