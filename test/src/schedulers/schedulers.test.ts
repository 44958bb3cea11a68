import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { Dd3dError } from '../../../src/core/errors.js';
import { getComponent, openModelFolder } from '../../../src/io/diffusers.js';
import { readSafetensors } from '../../../src/io/safetensors.js';
import { parsePythonJson } from '../../../src/io/json.js';
import { schedulersParity, standInDenoiser } from '../../../src/parity/schedulers.js';
import { createScheduler, DDPMScheduler, type SchedulerKind } from '../../../src/schedulers/index.js';
import { roundHalfEven } from '../../../src/schedulers/numeric.js';

const GOLDEN = 'test/fixtures/schedulers/schedulers.safetensors';
const golden = readSafetensors(GOLDEN);
const SD = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear' };

beforeAll(async () => {
  await initBackend('wasm');
});

describe('schedulers parity with diffusers', () => {
  it('recomputes every table and trajectory in schedulers.safetensors within tolerance', () => {
    const r = schedulersParity(GOLDEN);
    const inputs = ['x0', 'noise', 't'];
    const expected = [...golden.tensors.keys()].filter((n) => !inputs.includes(n)).sort();
    expect(expected.length).toBeGreaterThanOrEqual(15);
    expect(r.results.map((x) => x.name).sort()).toEqual(expected);
    for (const x of r.results) expect(x, x.name).toMatchObject({ ok: true });
    expect(r.ok).toBe(true);
  });

  it('reproduces alphas_cumprod and the timesteps exactly', () => {
    const r = schedulersParity(GOLDEN);
    for (const x of r.results.filter((x) => x.name === 'alphas_cumprod' || x.name.endsWith('_timesteps'))) {
      expect(x.max_abs_err, x.name).toBe(0);
    }
  });

  it('has the init_noise_sigma diffusers reports for each sampler', () => {
    for (const [key, kind] of [
      ['ddim', 'ddim'],
      ['euler', 'euler'],
      ['dpmpp2m', 'dpm++2m'],
    ] as const) {
      for (const pred of ['epsilon', 'v_prediction']) {
        const meta = parsePythonJson(golden.metadata[`${key}_${pred}`]!) as { init_noise_sigma: number; config: Record<string, unknown> };
        const s = createScheduler(meta.config, kind as SchedulerKind);
        s.setTimesteps(10);
        expect(s.initNoiseSigma).toBe(meta.init_noise_sigma);
      }
    }
  });
});

describe('timestep spacing', () => {
  const spaced = (kind: SchedulerKind, spacing: string, n = 10, extra: Record<string, unknown> = {}) => {
    const s = createScheduler({ ...SD, timestep_spacing: spacing, steps_offset: 1, ...extra }, kind);
    s.setTimesteps(n);
    return s.timesteps;
  };

  it('DDIM: leading with steps_offset, trailing and linspace', () => {
    expect(spaced('ddim', 'leading')).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(spaced('ddim', 'trailing')).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    expect(spaced('ddim', 'linspace')).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    expect(spaced('ddim', 'leading', 10, { steps_offset: 0 })).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
  });

  it('Euler keeps linspace timesteps fractional; DPM-Solver drops t = 0', () => {
    expect(spaced('euler', 'linspace', 4)).toEqual([999, 666, 333, 0]);
    expect(spaced('euler', 'linspace', 25)[1]).toBe(957.375);
    expect(spaced('dpm++2m', 'linspace')).toEqual([999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
    expect(spaced('dpm++2m', 'leading')).toEqual([901, 811, 721, 631, 541, 451, 361, 271, 181, 91]);
    expect(spaced('dpm++2m', 'trailing')).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  });

  it('rounds ties to even like NumPy', () => {
    expect([0.5, 1.5, 2.5, 499.5, -1.5, 3.2].map(roundHalfEven)).toEqual([0, 2, 2, 500, -2, 3]);
  });
});

describe('DDPM training helpers', () => {
  it('SNR is alpha_bar / (1 - alpha_bar)', () => {
    const ddpm = DDPMScheduler.fromConfig({ num_train_timesteps: 2, trained_betas: [0.5, 0.5] });
    const snr = tf.tidy(() => Array.from(ddpm.snr([0, 1, 1]).dataSync()));
    expect(snr[0]).toBeCloseTo(1, 6);
    expect(snr[1]).toBeCloseTo(1 / 3, 6);
    expect(snr[2]).toBeCloseTo(1 / 3, 6);

    const sd = DDPMScheduler.fromConfig(SD);
    const ac = sd.schedule.alphasCumprod;
    const ts = [0, 250, 999];
    const got = tf.tidy(() => Array.from(sd.snr(tf.tensor1d(ts, 'int32')).dataSync()));
    ts.forEach((t, i) => expect(got[i]! / (ac[t]! / (1 - ac[t]!))).toBeCloseTo(1, 5));
    // SD's schedule: SNR falls from ~1175 at t = 0 to ~0.0047 at t = 999.
    expect(got[0]).toBeGreaterThan(1000);
    expect(got[2]).toBeLessThan(0.005);
  });

  it('broadcasts over the batch axis only (NHWC and NCHW alike) and checks timesteps', () => {
    const ddpm = DDPMScheduler.fromConfig(SD);
    tf.tidy(() => {
      const x0 = tf.ones([2, 3, 3, 4]);
      const noise = tf.zeros([2, 3, 3, 4]);
      const x = ddpm.addNoise(x0, noise, [0, 999]);
      expect(x.shape).toEqual([2, 3, 3, 4]);
      const v = x.dataSync();
      const ac = ddpm.schedule.alphasCumprod;
      expect(v[0]).toBeCloseTo(Math.sqrt(ac[0]!), 6);
      expect(v[36]).toBeCloseTo(Math.sqrt(ac[999]!), 6);
      // v = sqrt(ab)·noise − sqrt(1 − ab)·x0; with noise = x0 = 1 and ab = 1/2 both terms cancel.
      const half = DDPMScheduler.fromConfig({ num_train_timesteps: 1, trained_betas: [0.5] });
      expect(Math.abs(half.getVelocity(tf.ones([1, 2]), tf.ones([1, 2]), [0]).dataSync()[0]!)).toBeLessThan(1e-7);
    });
    expect(() => ddpm.snr([1000])).toThrow(/timestep 1000 is not an integer in \[0, 999\]/);
    expect(() => ddpm.snr([2.5])).toThrow(Dd3dError);
  });
});

describe('config errors', () => {
  const bad = (config: Record<string, unknown>, kind: SchedulerKind | undefined, message: RegExp) => {
    let err: unknown;
    try {
      createScheduler(config, kind);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Dd3dError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  };

  it('names the key, the value and what is supported', () => {
    bad({ ...SD, timestep_spacing: 'uniform' }, 'ddim', /key "timestep_spacing" is "uniform"; supported: leading, linspace, trailing/);
    bad({ ...SD, beta_schedule: 'sigmoid' }, 'euler', /"beta_schedule" is "sigmoid"; supported: linear, scaled_linear, squaredcos_cap_v2/);
    bad({ ...SD, prediction_type: 'flow_prediction' }, 'ddim', /"prediction_type" is "flow_prediction"; supported: epsilon, v_prediction, sample/);
    bad({ ...SD, thresholding: true }, 'ddim', /"thresholding" is true; dynamic thresholding is not supported/);
    bad({ ...SD, thresholding: true }, 'dpm++2m', /"thresholding".*not supported/);
    bad({ ...SD, use_karras_sigmas: true }, 'euler', /"use_karras_sigmas" is true; Karras sigmas is not supported/);
    bad({ ...SD, algorithm_type: 'sde-dpmsolver++' }, 'dpm++2m', /"algorithm_type" is "sde-dpmsolver\+\+"; supported: dpmsolver\+\+/);
    bad({ ...SD, solver_order: 3 }, 'dpm++2m', /"solver_order" is 3; supported: 1, 2/);
    bad({ ...SD, rescale_betas_zero_snr: true }, 'ddim', /"rescale_betas_zero_snr" is true/);
    bad({ ...SD, steps_offset: -1 }, 'ddim', /"steps_offset" is -1/);
    bad({ ...SD, beta_start: 'small' }, 'ddim', /key "beta_start" is "small" \(expected a number\)/);
    bad({ ...SD, num_train_timesteps: 3, trained_betas: [0.1] }, 'ddim', /"trained_betas".*expected num_train_timesteps = 3 values/);
  });

  it('picks the sampler from _class_name and rejects an unknown one without a kind', () => {
    expect(createScheduler({ ...SD, _class_name: 'EulerDiscreteScheduler' }).kind).toBe('euler');
    expect(createScheduler({ ...SD, _class_name: 'DPMSolverMultistepScheduler' }).kind).toBe('dpm++2m');
    bad(
      { ...SD, _class_name: 'PNDMScheduler' },
      undefined,
      /"_class_name" is "PNDMScheduler"; supported: DDIMScheduler, EulerDiscreteScheduler, DPMSolverMultistepScheduler/,
    );
    bad({ ...SD }, undefined, /"_class_name" is null/);
    expect(createScheduler({ ...SD, _class_name: 'PNDMScheduler' }, 'euler').kind).toBe('euler');
  });

  it('reads a model folder scheduler component', () => {
    for (const [dir, prediction] of [
      ['sd1-tiny', 'epsilon'],
      ['sd2-tiny', 'v_prediction'],
    ]) {
      const s = createScheduler(getComponent(openModelFolder(`test/fixtures/${dir}`), 'scheduler'));
      expect(s.kind).toBe('ddim');
      expect(s.predictionType).toBe(prediction);
      s.setTimesteps(4);
      expect(s.timesteps).toEqual([751, 501, 251, 1]);
    }
  });

  it('stepping out of order or before setTimesteps is an error', () => {
    const s = createScheduler({ ...SD }, 'euler');
    tf.tidy(() => {
      const x = tf.zeros([1, 2]);
      expect(() => s.step(x, 999, x)).toThrow(/call setTimesteps/);
      s.setTimesteps(5);
      expect(() => s.step(x, 500, x)).toThrow(/timestep 500 is not one of the scheduled timesteps/);
      s.step(x, s.timesteps[0]!, x);
      expect(() => s.step(x, s.timesteps[2]!, x)).toThrow(/expected timestep/);
    });
  });
});

describe('tensor memory', () => {
  it('a 20-step DPM-Solver++ loop leaves no tensors behind once disposed', () => {
    const s = createScheduler({ ...SD, _class_name: 'DPMSolverMultistepScheduler', prediction_type: 'v_prediction' });
    s.setTimesteps(20);
    const before = tf.memory().numTensors;
    let x = tf.randomNormal([1, 8, 8, 4]);
    for (const t of s.timesteps) {
      // The caller's tidy must not free the scheduler's history (it is tf.keep'd).
      const next = tf.tidy(() => s.step(standInDenoiser(s.scaleModelInput(x, t), t), t, x));
      x.dispose();
      x = next;
    }
    expect(Number.isFinite(x.dataSync()[0])).toBe(true);
    x.dispose();
    expect(tf.memory().numTensors).toBe(before + 1); // the last x0 prediction, held for a next step
    s.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
