/**
 * The prompt-distribution file (`chair.json`): versioned JSON holding what `sample` and
 * `generate` need (the fitted μ and σ), what editing needs (the raw context vectors and the
 * template they were fitted in), and which model it belongs to. Arrays are little-endian
 * float32 in base64: {"shape": [...], "base64": "..."}.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Dd3dError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { getComponent, openModelFolder } from '../io/diffusers.js';
import { checkRegularFile, readJsonFile } from '../io/regular-file.js';
import { firstNonFinite, textEncoderStateBound } from '../models/load.js';

export const DISTRIBUTION_FORMAT = 'dd3d-distribution';
/** The newest version this dd3d reads. Version 2 adds `components`; files without them are still written as 1. */
const DISTRIBUTION_VERSION = 2;

export interface FloatArray {
  shape: number[];
  data: Float32Array;
}

export interface PromptDistribution {
  /** The frozen model: the path as given, and a hash of its text encoder's config and weights. */
  model: { path: string; text_encoder_hash: string };
  /** K prompts of M context vectors; null for an imported distribution (no raw ctx). */
  prompts: number | null;
  ctx_length: number | null;
  prefix: string;
  suffix: string;
  /** [K, M, D] the learned context vectors, or null when imported. */
  ctx: FloatArray | null;
  /** [L, D] fitted over the K prompts in the training template. */
  mu: FloatArray;
  sigma: FloatArray;
  /**
   * A mixture (train-dist --components C > 1): C Gaussians, each fitted over its own group of
   * the K prompts (`prompts[c]` of them, in ctx order), drawn with probability `weights[c]`.
   * Sampling uses these instead of `mu`/`sigma`, which stay the single Gaussian over all K.
   */
  components: Components | null;
  /** Where it came from: train-dist's steps, final loss and reference-set hash, or the imported file. */
  training: Record<string, unknown>;
}

export interface Components {
  weights: number[];
  prompts: number[];
  /** [C, L, D] */
  mu: FloatArray;
  sigma: FloatArray;
}

const encodeArray = (a: FloatArray) => ({
  shape: a.shape,
  base64: Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).toString('base64'),
});

export function saveDistribution(file: string, d: PromptDistribution): void {
  const json = {
    format: DISTRIBUTION_FORMAT,
    version: d.components ? 2 : 1,
    model: d.model,
    prompts: d.prompts,
    ctx_length: d.ctx_length,
    prefix: d.prefix,
    suffix: d.suffix,
    training: d.training,
    ctx: d.ctx && encodeArray(d.ctx),
    mu: encodeArray(d.mu),
    sigma: encodeArray(d.sigma),
    ...(d.components && {
      components: { weights: d.components.weights, prompts: d.components.prompts, mu: encodeArray(d.components.mu), sigma: encodeArray(d.components.sigma) },
    }),
  };
  writeFileAtomic(file, JSON.stringify(json, null, 1) + '\n');
}

/** Reads and validates a distribution file; every problem is a one-line error naming the file and key. */
export function loadDistribution(file: string): PromptDistribution {
  if (!fs.existsSync(file)) throw new Dd3dError(`${file}: distribution file not found`);
  // a regular file of sane size only: a FIFO named chair.json would block the read forever
  checkRegularFile(file, 'a distribution file (.json)', 512 * 1024 * 1024);
  const j = readJsonFile(file) as Record<string, unknown>;
  const bad = (key: string, expected: string): never => {
    throw new Dd3dError(`${file}: "${key}" ${expected}`);
  };
  if (typeof j !== 'object' || j === null || j.format !== DISTRIBUTION_FORMAT)
    bad('format', `must be "${DISTRIBUTION_FORMAT}" (is this a dd3d distribution file?)`);
  if (j.version !== 1 && j.version !== 2) {
    bad(
      'version',
      typeof j.version === 'number' && j.version > DISTRIBUTION_VERSION
        ? `is ${j.version}: written by a newer dd3d (this one reads 1 and 2)`
        : 'must be 1 or 2',
    );
  }
  const model = j.model as Record<string, unknown> | undefined;
  if (!model || typeof model.path !== 'string' || typeof model.text_encoder_hash !== 'string')
    bad('model', 'must be {"path": string, "text_encoder_hash": string}');
  for (const key of ['prefix', 'suffix'] as const) if (typeof j[key] !== 'string') bad(key, 'must be a string');
  const count = (key: string): number | null => {
    const v = j[key];
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) bad(key, 'must be a positive integer or null');
    return v as number;
  };
  const prompts = count('prompts');
  const ctxLength = count('ctx_length');
  const array = (key: string, rank: number, from: Record<string, unknown> = j, label = key): FloatArray => {
    const v = from[key] as { shape?: unknown; base64?: unknown } | null | undefined;
    if (!v || !Array.isArray(v.shape) || v.shape.length !== rank || !v.shape.every((n) => Number.isInteger(n) && n > 0) || typeof v.base64 !== 'string') {
      bad(label, `must be {"shape": [${rank} positive integers], "base64": float32 data}`);
    }
    const shape = v!.shape as number[];
    const bytes = Buffer.from(v!.base64 as string, 'base64');
    const n = shape.reduce((a, b) => a * b, 1);
    if (bytes.length !== 4 * n) bad(`${label}.base64`, `holds ${bytes.length} bytes, shape [${shape}] needs ${4 * n}`);
    const data = new Float32Array(n);
    Buffer.from(data.buffer).set(bytes);
    const at = firstNonFinite(data);
    if (at >= 0) bad(label, `has a non-finite value (${data[at]}) at element ${at}`);
    return { shape, data };
  };
  const mu = array('mu', 2);
  const sigma = array('sigma', 2);
  if (sigma.shape.join() !== mu.shape.join()) bad('sigma', `has shape [${sigma.shape}], mu has [${mu.shape}]`);
  if (sigma.data.some((x) => x < 0)) bad('sigma', 'has a negative standard deviation');
  let ctx: FloatArray | null = null;
  if (j.ctx !== null) {
    ctx = array('ctx', 3);
    if (ctx.shape[0] !== prompts || ctx.shape[1] !== ctxLength)
      bad('ctx', `has shape [${ctx.shape}], expected [prompts=${prompts}, ctx_length=${ctxLength}, D]`);
    if (ctx.shape[2] !== mu.shape[1]) bad('ctx', `has width ${ctx.shape[2]}, mu has ${mu.shape[1]}`);
  }
  // version 2 is a mixture: without its components only the top-level Gaussian would be sampled, silently
  if (j.version === 2 && (j.components === undefined || j.components === null))
    bad('components', 'is missing: a version-2 distribution is a mixture and needs its components (a single Gaussian is "version": 1)');
  const components = j.components === undefined ? null : readComponents(j.components);
  const training = typeof j.training === 'object' && j.training !== null ? (j.training as Record<string, unknown>) : {};
  return {
    model: model as PromptDistribution['model'],
    prompts,
    ctx_length: ctxLength,
    prefix: j.prefix as string,
    suffix: j.suffix as string,
    ctx,
    mu,
    sigma,
    components,
    training,
  };

  function readComponents(v: unknown): Components {
    if (j.version !== 2) bad('components', 'needs "version": 2');
    const c = v as Record<string, unknown>;
    if (typeof c !== 'object' || c === null) return bad('components', 'must be {"weights", "prompts", "mu", "sigma"}');
    const weights = c.weights;
    if (!Array.isArray(weights) || weights.length < 1 || !weights.every((w) => typeof w === 'number' && w > 0 && Number.isFinite(w)))
      bad('components.weights', 'must be a list of positive numbers');
    const ws = weights as number[];
    if (Math.abs(ws.reduce((a, b) => a + b, 0) - 1) > 1e-6) bad('components.weights', `must sum to 1 (they sum to ${ws.reduce((a, b) => a + b, 0)})`);
    const counts = c.prompts;
    if (!Array.isArray(counts) || counts.length !== ws.length || !counts.every((n) => Number.isInteger(n) && n >= 1))
      bad('components.prompts', `must be ${ws.length} positive integers, one per weight`);
    const total = (counts as number[]).reduce((a, b) => a + b, 0);
    if (prompts !== null && total !== prompts) bad('components.prompts', `sum to ${total}, "prompts" is ${prompts}`);
    const cmu = array('mu', 3, c, 'components.mu');
    const csigma = array('sigma', 3, c, 'components.sigma');
    const want = [ws.length, ...mu.shape].join();
    for (const [key, a] of [
      ['components.mu', cmu],
      ['components.sigma', csigma],
    ] as const) {
      if (a.shape.join() !== want) bad(key, `has shape [${a.shape}], expected [${want}] (components × the shape of mu)`);
    }
    if (csigma.data.some((x) => x < 0)) bad('components.sigma', 'has a negative standard deviation');
    return { weights: ws, prompts: counts as number[], mu: cmu, sigma: csigma };
  }
}

/**
 * One hash per folder and process: sampling a mix checks every distribution against the same
 * model, and an SD text encoder is hundreds of MB.
 */
const hashes = new Map<string, string>();

/**
 * sha256 of the text encoder's config and weights: a distribution only means something for
 * the encoder it was fitted with. Weights are hashed in chunks, so multi-GB files are fine.
 */
export function textEncoderHash(modelDir: string): string {
  const known = hashes.get(path.resolve(modelDir));
  if (known) return known;
  const component = getComponent(openModelFolder(modelDir), 'text_encoder');
  const hash = crypto.createHash('sha256');
  if (component.configPath) hash.update(fs.readFileSync(component.configPath));
  if (component.weightsPath) {
    const fd = fs.openSync(component.weightsPath, 'r');
    const chunk = Buffer.alloc(1 << 24);
    try {
      for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0;) hash.update(chunk.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  }
  const digest = `sha256:${hash.digest('hex')}`;
  hashes.set(path.resolve(modelDir), digest);
  return digest;
}

/** The fitted Gaussians' arrays under their keys in the file: μ and σ, and the components' when it has them. */
export function fittedArrays(d: PromptDistribution): Array<[string, FloatArray]> {
  return [
    ['mu', d.mu],
    ['sigma', d.sigma],
    ...(d.components
      ? ([
          ['components.mu', d.components.mu],
          ['components.sigma', d.components.sigma],
        ] as Array<[string, FloatArray]>)
      : []),
  ];
}

/**
 * Checks a distribution against the model it is about to condition: the state shape must
 * match, and its values must lie in the range of the encoder's states (errors otherwise); a
 * different text encoder hash is a warning naming both.
 */
export function checkDistributionModel(
  file: string,
  d: PromptDistribution,
  modelDir: string,
  hiddenSize: number,
  maxLength: number,
  warn: (msg: string) => void,
): void {
  const [l, dim] = d.mu.shape;
  if (dim !== hiddenSize || l !== maxLength) {
    throw new Dd3dError(
      `${file}: states are [${l}, ${dim}], the model at ${modelDir} gives [${maxLength}, ${hiddenSize}]: the distribution belongs to ${d.model.path}`,
    );
  }
  checkStateRange(file, d, modelDir);
  const hash = textEncoderHash(modelDir);
  if (hash !== d.model.text_encoder_hash) {
    warn(
      `${file} was fitted with the text encoder of ${d.model.path} (${d.model.text_encoder_hash.slice(0, 19)}…), not that of ${modelDir} (${hash.slice(0, 19)}…); results may be meaningless`,
    );
  }
}

/**
 * How far past the encoder's state bound a distribution may reach before it is refused: μ is a
 * mean of states and σ a spread of them, so both stay within the bound itself; the slack is
 * only for rounding. Past it the file is corrupt or belongs to another model, and sampling
 * would give NaN or black images.
 */
const RANGE_SLACK = 2;

/**
 * Bound of the raw context vectors: they live among the token embeddings (trained from
 * N(0, 0.02²)); far past this, re-encoding them (edits, generate's per-view prompts) overflows
 * the encoder's layer norms into NaN.
 */
const MAX_CTX = 1e4;

function checkStateRange(file: string, d: PromptDistribution, modelDir: string): void {
  if (d.ctx) {
    const peak = peakMagnitude(d.ctx.data);
    if (peak > MAX_CTX)
      throw new Dd3dError(
        `${file}: "ctx" reaches ${peak.toPrecision(3)}, over the limit of ${MAX_CTX} for context vectors (token embeddings are near 1); the file is corrupt`,
      );
  }
  const bound = textEncoderStateBound(modelDir);
  for (const [key, a] of fittedArrays(d)) {
    const peak = peakMagnitude(a.data);
    if (peak > RANGE_SLACK * bound) {
      throw new Dd3dError(
        `${file}: "${key}" reaches ${peak.toPrecision(3)}, far outside the range of the text encoder of ${modelDir} (its states stay within ±${bound.toPrecision(3)}); the file is corrupt or belongs to another model`,
      );
    }
  }
}

/** The largest |x| of `data` (0 when empty). */
function peakMagnitude(data: Float32Array): number {
  let peak = 0;
  for (const v of data) peak = Math.max(peak, Math.abs(v));
  return peak;
}
