/**
 * A line chart as a PNG, drawn pixel by pixel: enough for a loss curve in the README
 * without a plotting dependency. Series are drawn over light grid lines at the y ticks.
 */
import { writePng } from './image.js';

export interface Series {
  /** y values at x = 0, 1, 2, … (or at `x` when given). */
  y: number[];
  x?: number[];
  color: [number, number, number];
}

export async function writeLineChart(file: string, series: Series[], opts: { width?: number; height?: number; logY?: boolean } = {}): Promise<void> {
  const w = opts.width ?? 640;
  const h = opts.height ?? 320;
  const pad = 12;
  const img = new Float32Array(w * h * 3).fill(1);
  const ty = (v: number) => (opts.logY ? Math.log10(Math.max(v, 1e-12)) : v);
  const xs = series.flatMap((s) => s.x ?? s.y.map((_, i) => i));
  const ys = series.flatMap((s) => s.y.filter(Number.isFinite).map(ty));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const px = (x: number) => pad + ((x - x0) / Math.max(1e-12, x1 - x0)) * (w - 2 * pad);
  const py = (y: number) => h - pad - ((ty(y) - y0) / Math.max(1e-12, y1 - y0)) * (h - 2 * pad);
  const put = (x: number, y: number, c: [number, number, number]) => {
    const [ix, iy] = [Math.round(x), Math.round(y)];
    if (ix < 0 || iy < 0 || ix >= w || iy >= h) return;
    img.set(c, (iy * w + ix) * 3);
  };
  // grid: 5 horizontal lines
  for (let k = 0; k <= 4; k++) {
    const y = h - pad - (k / 4) * (h - 2 * pad);
    for (let x = pad; x < w - pad; x++) put(x, y, [0.88, 0.88, 0.88]);
  }
  for (const s of series) {
    const sx = s.x ?? s.y.map((_, i) => i);
    for (let i = 1; i < s.y.length; i++) {
      if (!Number.isFinite(s.y[i - 1]) || !Number.isFinite(s.y[i])) continue;
      const [ax, ay, bx, by] = [px(sx[i - 1]), py(s.y[i - 1]), px(sx[i]), py(s.y[i])];
      const n = Math.max(1, Math.ceil(Math.hypot(bx - ax, by - ay)));
      for (let t = 0; t <= n; t++) put(ax + ((bx - ax) * t) / n, ay + ((by - ay) * t) / n, s.color);
    }
  }
  await writePng(file, { data: img, n: 1, height: h, width: w, channels: 3 });
}

/** Mean of the last `n` values. */
export function trailingMean(xs: number[], n: number): number {
  const tail = xs.slice(-n);
  return tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length);
}

/** A training loss curve: every step's loss in pale blue, its trailing mean over `window` steps in dark blue. */
export async function writeLossCurve(file: string, losses: number[], window = 50): Promise<void> {
  const smooth: number[] = [];
  let sum = 0;
  losses.forEach((l, i) => {
    sum += l - (i >= window ? losses[i - window]! : 0);
    smooth.push(sum / Math.min(i + 1, window));
  });
  await writeLineChart(file, [
    { y: losses, color: [0.75, 0.8, 0.95] },
    { y: smooth, color: [0.1, 0.25, 0.7] },
  ]);
}
