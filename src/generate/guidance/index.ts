/**
 * The guidance registry: one line per implementation. The loop asks for the main guidance by
 * `guidanceKind` and runs the photometric fit first when the fast path has target views.
 */
import type { Guidance, GuidanceContext } from './guidance.js';
import { createMultiviewSdsGuidance } from './multiview-sds.js';
import { createPhotometricGuidance } from './photometric.js';
import { createSdsGuidance } from './sds.js';

export type { Guidance, GuidanceContext, GuidanceLoss, IterationPlan } from './guidance.js';

export const GUIDANCE: Record<string, (ctx: GuidanceContext, res: number) => Guidance> = {
  sds: createSdsGuidance,
  'multiview-sds': createMultiviewSdsGuidance,
  photometric: createPhotometricGuidance,
};

/** The score-distillation guidance for a run: multi-view SDS with views > 1, else single-view SDS. */
export function guidanceKind(views: number): 'sds' | 'multiview-sds' {
  return views > 1 ? 'multiview-sds' : 'sds';
}
