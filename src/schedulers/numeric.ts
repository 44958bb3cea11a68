/**
 * The handful of NumPy / PyTorch numeric routines diffusers' schedulers are built from,
 * reproduced closely enough that timesteps come out identical (a timestep off by one
 * changes every later step) and tables agree to the last float32 bit where we checked.
 */

export const f32 = Math.fround;

/** float32 sqrt: the double sqrt of a float32 is correctly rounded once narrowed. */
export const sqrt32 = (x: number): number => f32(Math.sqrt(x));

/** np.round / np.rint: ties go to the even neighbour, so 499.5 → 500 but 100.5 → 100. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** np.linspace(start, stop, num) in float64: start + i·step, with the endpoint forced exact. */
export function linspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const out = Array.from({ length: num }, (_, i) => i * step + start);
  out[num - 1] = stop;
  return out;
}

/**
 * np.arange(start, stop, step) for floats. NumPy sizes it as ceil((stop − start)/step)
 * and fills it with start + i·delta where delta = (start + step) − start, not step itself;
 * both details can change a rounded timestep, so keep them.
 */
export function arange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const delta = start + step - start;
  return Array.from({ length }, (_, i) => (i === 0 ? start : start + i * delta));
}

/**
 * torch.linspace(start, end, steps, dtype=float32) on the CPU: the first half counts up
 * from start, the second half down from end, each element rounded once to float32
 * (the compiler fuses step·i + start). Checked bit for bit against diffusers' tables.
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const s = f32(start);
  const e = f32(end);
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) out[i] = i < halfway ? s + step * i : e - step * (steps - i - 1);
  return out;
}

/** np.interp(x, [0, 1, …, fp.length − 1], fp) in float64, clamped at both ends. */
export function interpIndex(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (x <= 0) return fp[0]!;
  if (x >= last) return fp[last]!;
  const j = Math.floor(x);
  const slope = fp[j + 1]! - fp[j]!;
  return slope * (x - j) + fp[j]!;
}

/** torch.searchsorted(sorted, value) (left side): how many entries are below value. */
export function searchsortedLeft(sorted: ArrayLike<number>, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
