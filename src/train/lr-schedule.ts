/**
 * Learning rate as a function of the step (threestudio's habit: every schedule is a pure
 * function of the step, so a resumed run continues exactly where it stopped).
 */
export interface WarmupCosine {
  /** Peak learning rate, reached at the end of warm-up. */
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  /** The floor the cosine decays to, as a fraction of `lr`. */
  minRatio: number;
}

/** Linear warm-up from 0 to `lr`, then half a cosine down to `lr · minRatio` at `totalSteps`. */
export function warmupCosine(s: WarmupCosine, step: number): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const elapsed = Math.min(span, step - s.warmupSteps);
  const floor = s.lr * s.minRatio;
  // π·elapsed/span, multiplied before dividing: the order the probe's trainer has always used
  return floor + (s.lr - floor) * 0.5 * (1 + Math.cos((Math.PI * elapsed) / span));
}
