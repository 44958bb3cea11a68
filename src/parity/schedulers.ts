/**
 * Scheduler parity against diffusers' schedulers.safetensors: the DDPM table, add_noise
 * and velocity, and every sampler trajectory the file holds. Trajectories are found by
 * name (`<sampler>_<prediction>_trajectory`), so a fixture regenerated with more samplers
 * is either compared or rejected, never skipped.
 *
 * The trajectories come from a stand-in denoiser instead of a UNet, so they test the
 * sampler arithmetic alone: model_output = 0.3·x + 0.1·sin(3·x + t/100), applied to the
 * scaled model input, starting from the file's first trajectory entry (already scaled by
 * init_noise_sigma).
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { createScheduler, DDPMScheduler, type Scheduler, type SchedulerKind } from '../schedulers/index.js';
import { Golden } from './golden.js';
import { compare, report, type ParityReport, type ParityResult } from './compare.js';

export const STAND_IN_DENOISER = '0.3*sample + 0.1*sin(3*sample + t/100)';

/** The stand-in denoiser of the fixture, on the scaled model input at timestep t. */
export function standInDenoiser(input: tf.Tensor, t: number): tf.Tensor {
  return tf.tidy(() => tf.add(tf.mul(input, 0.3), tf.mul(tf.sin(tf.add(tf.mul(input, 3), Math.fround(t / 100))), 0.1)));
}

const KINDS: Record<string, SchedulerKind> = { ddim: 'ddim', euler: 'euler', dpmpp2m: 'dpm++2m' };
/** Tensors that are inputs to the computations, not results to check. */
const INPUTS = new Set(['x0', 'noise', 't']);

export interface SamplerRun {
  scheduler: Scheduler;
  /** x_T followed by the sample after each step, flattened. */
  trajectory: Float32Array;
}

/** Runs `scheduler` with the stand-in denoiser from x_T for `steps` steps. */
export function runStandIn(scheduler: Scheduler, xT: tf.Tensor, steps: number): SamplerRun {
  scheduler.setTimesteps(steps);
  const states: Float32Array[] = [xT.dataSync() as Float32Array];
  let x = tf.clone(xT);
  try {
    for (const t of scheduler.timesteps) {
      const next = tf.tidy(() => scheduler.step(standInDenoiser(scheduler.scaleModelInput(x, t), t), t, x));
      x.dispose();
      x = next;
      states.push(x.dataSync() as Float32Array);
    }
  } finally {
    x.dispose();
    scheduler.dispose();
  }
  const trajectory = new Float32Array(states.reduce((n, s) => n + s.length, 0));
  states.reduce((at, s) => (trajectory.set(s, at), at + s.length), 0);
  return { scheduler, trajectory };
}

export function schedulersParity(goldenFile: string): ParityReport {
  const golden = new Golden(goldenFile, 'schedulers');
  const need = (name: string) => golden.need(name);
  const meta = (key: string) => golden.meta(key);
  const tensors = golden.tensors;
  const model = meta('fake_model');
  if (model !== STAND_IN_DENOISER) {
    throw new Dd3dError(`${goldenFile}: metadata "fake_model" is ${JSON.stringify(model)}, expected "${STAND_IN_DENOISER}"`);
  }

  const results: ParityResult[] = [];
  const handled = new Set(INPUTS);
  const check = (name: string, ours: ArrayLike<number>, kind: 'forward' | 'gradient') => {
    handled.add(name);
    results.push(compare(name, ours, need(name).data, kind));
  };

  const ddpm = DDPMScheduler.fromConfig(meta('config') as Record<string, unknown>);
  check('alphas_cumprod', ddpm.schedule.alphasCumprod, 'forward');
  tf.tidy(() => {
    const x0 = tf.tensor(need('x0').data, need('x0').shape);
    const noise = tf.tensor(need('noise').data, need('noise').shape);
    const t = Array.from(need('t').data, Math.round);
    check('add_noise', ddpm.addNoise(x0, noise, t).dataSync(), 'forward');
    check('velocity', ddpm.getVelocity(x0, noise, t).dataSync(), 'forward');
  });

  for (const name of [...tensors.keys()].sort()) {
    const m = /^(.+)_(epsilon|v_prediction|sample)_trajectory$/.exec(name);
    if (!m) continue;
    const [, sampler, prediction] = m as unknown as [string, string, string];
    const kind = KINDS[sampler];
    if (!kind) throw new Dd3dError(`${goldenFile}: tensor "${name}" is for sampler "${sampler}", which dd3d does not implement`);
    const entry = meta(`${sampler}_${prediction}`) as { config: Record<string, unknown> };
    const ref = need(name);
    const steps = ref.shape[0]! - 1;
    const sampleShape = ref.shape.slice(1);
    const xT = tf.tensor(ref.data.subarray(0, ref.data.length / ref.shape[0]!), sampleShape);
    try {
      const run = runStandIn(createScheduler(entry.config, kind), xT, steps);
      check(`${sampler}_${prediction}_timesteps`, run.scheduler.timesteps, 'forward');
      check(name, run.trajectory, 'gradient');
    } finally {
      xT.dispose();
    }
  }

  const unchecked = [...tensors.keys()].filter((n) => !handled.has(n));
  if (unchecked.length) throw new Dd3dError(`${goldenFile}: no check for tensor(s) ${unchecked.join(', ')}`);
  return report('schedulers', results);
}
