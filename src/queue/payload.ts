/**
 * The queue's job payload: everything a worker needs to make one asset of a `dd3d queue add`
 * run, and nothing that only exists on the adder's machine. A worker reads the distribution
 * from Redis by its sha-256 (dist-store.ts), the model from its own --model folder (checked
 * by fingerprint), and writes to `out`, the shared folder, at the same path on every machine.
 *
 * Conventions:
 * - Redis is input from the network: `parsePayload` checks every field (type, range, shape
 *   of the generate settings against GENERATE_DEFAULTS) and throws a one-line Dd3dError
 *   naming the first bad key; a payload that fails is never executed.
 * - Job ids are `dd3d-<run>-<instance>`, where the run id hashes what decides the assets
 *   (source, model, seed, settings, out), so adding the same run twice adds nothing that is
 *   already queued or done (BullMQ ignores an add whose id exists). Labels (the paths the
 *   user typed) are left out of the hash: they name things, they do not change results.
 */
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { Dd3dError } from '../core/errors.js';
import { FIELDS } from '../../nerf/index.js';
import { GENERATE_DEFAULTS, isMeshLevel, isShadingMix, type GenerateConfig } from '../generate/config.js';

/** The queue `dd3d queue` uses unless --queue names another. */
export const DEFAULT_QUEUE = 'dd3d';
export const JOB_FORMAT = 'dd3d-queue-job';
export const JOB_VERSION = 1;
/** BullMQ's job name for asset jobs (status shows only these). */
export const JOB_NAME = 'asset';
/** More instances than this in one run is a typo, not a plan. */
export const MAX_INSTANCES = 1_000_000;

export type QueueSource =
  /** `label`: the distribution path the user gave `queue add`, recorded in the manifest. `references`: relative to `out`. */
  { kind: 'distribution'; sha256: string; label: string; stdScale: number; references: string[] } | { kind: 'prompt'; prompt: string };

export interface QueueJobPayload {
  format: typeof JOB_FORMAT;
  version: typeof JOB_VERSION;
  /** 16 hex digits: see runId. */
  run: string;
  instance: number;
  /** The run's seed: asset i uses instance noise i of it, exactly as `dd3d generate --seed`. */
  seed: number;
  /** Absolute path of the shared output folder. */
  out: string;
  source: QueueSource;
  /** The model the run was prepared with: `fingerprint` (model-id.ts) must match the worker's. */
  model: { fingerprint: string; label: string };
  /** The model's sampling settings, for the fast path's target views. */
  sampling: { steps: number; guidance: number };
  config: GenerateConfig;
}

export const jobIdFor = (run: string, instance: number): string => `dd3d-${run}-${instance}`;

/** What decides a run's assets, hashed: the same run added twice gets the same job ids. */
export function runId(p: Omit<QueueJobPayload, 'format' | 'version' | 'run' | 'instance'>): string {
  const source = p.source.kind === 'distribution' ? { kind: p.source.kind, sha256: p.source.sha256, stdScale: p.source.stdScale } : p.source;
  const key = JSON.stringify({ source, model: p.model.fingerprint, seed: p.seed, out: p.out, sampling: p.sampling, config: p.config });
  return crypto.createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** Checks untrusted job data; returns it typed, or throws a one-line Dd3dError naming the first bad key. */
export function parsePayload(data: unknown, jobId?: string): QueueJobPayload {
  const bad = (key: string, expected: string): never => {
    throw new Dd3dError(`malformed job payload${jobId ? ` (job ${jobId})` : ''}: "${key}" ${expected}`);
  };
  const p = object(data, 'payload', bad);
  if (p.format !== JOB_FORMAT) bad('format', `must be "${JOB_FORMAT}"`);
  if (p.version !== JOB_VERSION) bad('version', `must be ${JOB_VERSION} (is this worker older than the dd3d that added the job?)`);
  known(p, ['format', 'version', 'run', 'instance', 'seed', 'out', 'source', 'model', 'sampling', 'config'], '', bad);
  if (typeof p.run !== 'string' || !/^[0-9a-f]{16}$/.test(p.run)) bad('run', 'must be 16 hex digits');
  integer(p.instance, 'instance', 0, MAX_INSTANCES - 1, bad);
  integer(p.seed, 'seed', 0, Number.MAX_SAFE_INTEGER, bad);
  if (typeof p.out !== 'string' || !path.isAbsolute(p.out) || p.out.includes('\0')) bad('out', 'must be an absolute path');
  const s = object(p.source, 'source', bad);
  if (s.kind === 'distribution') {
    known(s, ['kind', 'sha256', 'label', 'stdScale', 'references'], 'source.', bad);
    if (typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.sha256)) bad('source.sha256', 'must be 64 hex digits');
    text(s.label, 'source.label', bad);
    if (typeof s.stdScale !== 'number' || !Number.isFinite(s.stdScale) || s.stdScale < 0) bad('source.stdScale', 'must be a number ≥ 0');
    if (!Array.isArray(s.references)) bad('source.references', 'must be a list of paths inside out');
    for (const r of s.references as unknown[]) {
      // relative, normalized, no way out of the shared folder
      if (typeof r !== 'string' || r === '' || path.isAbsolute(r) || path.normalize(r) !== r || r.split(/[\\/]/).includes('..'))
        bad('source.references', 'must be a list of paths inside out');
    }
  } else if (s.kind === 'prompt') {
    known(s, ['kind', 'prompt'], 'source.', bad);
    text(s.prompt, 'source.prompt', bad);
  } else bad('source.kind', 'must be "distribution" or "prompt"');
  const m = object(p.model, 'model', bad);
  known(m, ['fingerprint', 'label'], 'model.', bad);
  if (typeof m.fingerprint !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(m.fingerprint)) bad('model.fingerprint', 'must be "sha256:" and 64 hex digits');
  text(m.label, 'model.label', bad);
  const sampling = object(p.sampling, 'sampling', bad);
  known(sampling, ['steps', 'guidance'], 'sampling.', bad);
  integer(sampling.steps, 'sampling.steps', 1, 10_000, bad);
  if (typeof sampling.guidance !== 'number' || !Number.isFinite(sampling.guidance) || sampling.guidance < 0) bad('sampling.guidance', 'must be a number ≥ 0');
  checkConfig(p.config, bad);
  return p as unknown as QueueJobPayload;
}

type Bad = (key: string, expected: string) => never;

function object(v: unknown, key: string, bad: Bad): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(key, 'must be an object');
  return v as Record<string, unknown>;
}

function known(o: Record<string, unknown>, keys: string[], prefix: string, bad: Bad): void {
  for (const k of keys) if (!(k in o)) bad(prefix + k, 'is missing');
  for (const k of Object.keys(o)) if (!keys.includes(k)) bad(prefix + k, 'is not a known key');
}

function integer(v: unknown, key: string, min: number, max: number, bad: Bad): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(key, `must be an integer from ${min} to ${max}`);
}

function text(v: unknown, key: string, bad: Bad): void {
  if (typeof v !== 'string' || v === '' || v.length > 4096) bad(key, 'must be a non-empty string');
}

/** Counts that must be whole and positive for the loop to make sense (0 allowed where it means "off"). */
const COUNTS: Record<string, [min: number, max: number]> = {
  iters: [1, 1_000_000],
  views: [1, 64],
  fitIters: [0, 1_000_000],
  fitEvery: [0, 1_000_000],
  samplesPerRay: [4, 512],
  occupancyEvery: [1, 1_000_000],
  previewEvery: [0, 1_000_000],
  checkpointEvery: [1, 1_000_000],
  'mesh.resolution': [16, 512],
  'mesh.targetTriangles': [1, 10_000_000],
};

/**
 * The settings have exactly GENERATE_DEFAULTS' shape: the same keys, numbers where it has
 * numbers (finite), arrays of its length; `res` is null or a side in pixels, `background`
 * one of the kinds, `mesh.level` a rule or a density, `field` a kind of nerf/'s FIELDS registry. Then the counts,
 * fitIters ≤ iters and a shading mix that sums to 1, as `generate` requires.
 */
function checkConfig(v: unknown, bad: Bad): void {
  const walk = (value: unknown, like: unknown, key: string): void => {
    if (key === 'config.res') {
      if (value !== null) integer(value, key, 8, 512, bad);
      return;
    }
    if (key === 'config.field') {
      const o = object(value, key, bad);
      known(o, ['kind'], `${key}.`, bad);
      if (typeof o.kind !== 'string' || !Object.hasOwn(FIELDS, o.kind)) bad(`${key}.kind`, `must be one of ${Object.keys(FIELDS).join(', ')}`);
      return;
    }
    if (key === 'config.mesh.level') {
      if (!isMeshLevel(value)) bad(key, 'must be "auto", "half-max" or a number > 0');
      return;
    }
    if (key === 'config.background') {
      if (value !== 'white' && value !== 'random' && value !== 'learned') bad(key, 'must be "white", "random" or "learned"');
      return;
    }
    if (typeof like === 'number') {
      if (typeof value !== 'number' || !Number.isFinite(value)) bad(key, 'must be a finite number');
      const range = COUNTS[key.slice('config.'.length)];
      if (range) integer(value, key, range[0], range[1], bad);
      return;
    }
    if (Array.isArray(like)) {
      if (!Array.isArray(value) || value.length !== like.length) bad(key, `must be a list of ${like.length}`);
      like.forEach((l, i) => walk((value as unknown[])[i], l, `${key}[${i}]`));
      return;
    }
    const o = object(value, key, bad);
    const l = like as Record<string, unknown>;
    known(o, Object.keys(l), `${key}.`, bad);
    for (const k of Object.keys(l)) walk(o[k], l[k], `${key}.${k}`);
  };
  walk(v, GENERATE_DEFAULTS, 'config');
  const c = v as GenerateConfig;
  if (c.fitIters > c.iters) bad('config.fitIters', `must be at most config.iters (${c.iters})`);
  if (!isShadingMix(c.shading)) bad('config.shading', 'must be chances of albedo, lambertian and textureless ≥ 0 that sum to 1');
}
