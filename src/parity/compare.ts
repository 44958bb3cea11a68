/**
 * Judging our numbers against a reference implementation's, with the tolerances of the
 * fixtures README: each tensor against its own scale.
 *   forward outputs:            max|ours − ref| ≤ 1e-4 · max(1, max|ref|)
 *   gradients, trajectories:    max|ours − ref| ≤ 1e-3 · max|ref|
 * The gradient bar is relative only, so a zero gradient cannot pass.
 */
export type Tolerance = 'forward' | 'gradient';

export interface ParityResult {
  name: string;
  max_abs_err: number;
  tolerance: number;
  /** max_abs_err / tolerance: at most 1 passes. */
  ratio: number;
  ok: boolean;
}

export interface ParityReport {
  component: string;
  ok: boolean;
  results: ParityResult[];
}

export function compare(name: string, ours: ArrayLike<number>, ref: ArrayLike<number>, kind: Tolerance): ParityResult {
  if (ours.length !== ref.length) {
    return { name, max_abs_err: Infinity, tolerance: 0, ratio: Infinity, ok: false };
  }
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i] - ref[i]);
    // NaN must fail: Math.max would propagate it, but make it explicit
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  const tolerance = kind === 'forward' ? 1e-4 * Math.max(1, scale) : 1e-3 * scale;
  const ratio = tolerance > 0 ? err / tolerance : err === 0 ? 0 : Infinity;
  return { name, max_abs_err: err, tolerance, ratio, ok: ratio <= 1 };
}

export function report(component: string, results: ParityResult[]): ParityReport {
  return { component, ok: results.length > 0 && results.every((r) => r.ok), results };
}
