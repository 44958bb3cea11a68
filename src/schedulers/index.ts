/**
 * Building a sampler from a diffusers scheduler config. The kind defaults to the config's
 * `_class_name`; passing one explicitly reuses the config's noise schedule with another
 * sampler, as diffusers' `OtherScheduler.from_config(pipe.scheduler.config)` does (keys the
 * other sampler does not have are ignored, missing ones take its defaults).
 */
import { Dd3dError } from '../core/errors.js';
import { asComponent, readDDIMConfig, readDPMSolverConfig, readEulerConfig, where, type ConfigSource } from './config.js';
import { DDIMScheduler } from './ddim.js';
import { DPMSolverMultistepScheduler } from './dpm-solver.js';
import { EulerDiscreteScheduler } from './euler.js';
import type { Scheduler, SchedulerKind } from './scheduler.js';

export const SCHEDULER_KINDS: readonly SchedulerKind[] = ['ddim', 'euler', 'dpm++2m'];

const KIND_OF_CLASS: Record<string, SchedulerKind> = {
  DDIMScheduler: 'ddim',
  EulerDiscreteScheduler: 'euler',
  DPMSolverMultistepScheduler: 'dpm++2m',
};

export function createScheduler(config: ConfigSource, kind?: SchedulerKind): Scheduler {
  const c = asComponent(config);
  if (kind !== undefined && !SCHEDULER_KINDS.includes(kind)) {
    throw new Dd3dError(`scheduler kind "${String(kind)}" is not supported (supported: ${SCHEDULER_KINDS.join(', ')})`);
  }
  if (kind === undefined) {
    const cls = c.config?._class_name ?? c.className;
    const known = typeof cls === 'string' ? KIND_OF_CLASS[cls] : undefined;
    if (!known) {
      const supported = Object.keys(KIND_OF_CLASS).join(', ');
      throw new Dd3dError(
        `${where(c)}: key "_class_name" is ${JSON.stringify(cls ?? null)}; supported: ${supported} ` +
          `(or choose a sampler explicitly: ${SCHEDULER_KINDS.join(', ')})`,
      );
    }
    kind = known;
  }
  switch (kind) {
    case 'ddim':
      return new DDIMScheduler(readDDIMConfig(c));
    case 'euler':
      return new EulerDiscreteScheduler(readEulerConfig(c));
    case 'dpm++2m':
      return new DPMSolverMultistepScheduler(readDPMSolverConfig(c));
  }
}

export type { ConfigSource, DDIMConfig, DPMSolverConfig, EulerConfig, NoiseScheduleConfig } from './config.js';
export { DDIMScheduler } from './ddim.js';
export { DDPMScheduler, type Timesteps } from './ddpm.js';
export { DPMSolverMultistepScheduler } from './dpm-solver.js';
export { EulerDiscreteScheduler } from './euler.js';
export { makeNoiseSchedule, type NoiseSchedule } from './noise-schedule.js';
export type { Scheduler, SchedulerKind } from './scheduler.js';
