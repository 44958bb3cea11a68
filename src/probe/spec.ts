/**
 * What the attribute probe predicts and how it is built: its heads (family, main colour,
 * one per (family, attribute) pair), its layers, and the `config.json` that records both.
 *
 * Heads. Attribute names repeat across families with different values ("legs" is three/four
 * for chairs, one/three/four for tables, short/no for sofas), so the probe has one head per
 * (family, attribute) pair rather than one per name with a "not applicable" class. A pair's
 * head is trained only on images of its family and read only for the family the probe
 * predicts. The main colour (`color`, every family has it) is its own 11-way head over the
 * whole palette and is not repeated as a pair. Part colours (seat_color, shade_color, …) are
 * ordinary pair heads.
 */
import { COLOR_NAMES, FAMILIES, FAMILY_NAMES } from '../../scenes/index.js';
import { Dd3dError } from '../core/errors.js';

export const PROBE_FORMAT = 'dd3d-probe';
export const PROBE_VERSION = 1;
/** Input resolutions the probe supports: 32 and 64 (the built-in model generates at one of them). */
export const PROBE_RESOLUTIONS = [32, 64] as const;

/** One classifier head over a (family, attribute) pair. */
export interface AttributeHead {
  family: string;
  attribute: string;
  values: string[];
}

/** One 3×3 convolution + batch norm + ReLU, optionally followed by a 2×2 max pool. */
export interface ConvLayerSpec {
  name: string;
  in: number;
  out: number;
  stride: number;
  pool: boolean;
}

export interface ProbeArchitecture {
  convs: ConvLayerSpec[];
  /** Width of the penultimate (feature) layer: a dense layer after global average pooling. */
  feature_dim: number;
  /** Batch-norm epsilon. */
  bn_epsilon: number;
}

/** How uint8 sRGB bytes become network input: `(byte / 255 − mean) / std`, per channel. */
export interface ProbeNormalization {
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

export interface ProbeConfig {
  format: typeof PROBE_FORMAT;
  version: number;
  /** Input images are res × res × 3 sRGB (white background), NHWC. */
  res: number;
  normalization: ProbeNormalization;
  architecture: ProbeArchitecture;
  families: string[];
  colors: string[];
  attribute_heads: AttributeHead[];
  /** How the weights were trained (absent until trained). */
  training?: Record<string, unknown>;
  /** Accuracy on the held-out dataset of `probe train --val`, rounded, per head (summarizeEvaluation; absent until measured). */
  heldout?: Record<string, unknown>;
}

/** Every (family, attribute) pair except the main colour, in registry order. */
export function defaultAttributeHeads(): AttributeHead[] {
  const heads: AttributeHead[] = [];
  for (const f of FAMILIES) {
    for (const a of f.attributes) {
      if (a.name === 'color') continue;
      heads.push({ family: f.name, attribute: a.name, values: [...a.values] });
    }
  }
  return heads;
}

/**
 * The layer stack for a resolution: a stem that brings any supported resolution to 32×32
 * (stride 1 at 32, stride 2 at 64), then 32→16→8 with widths `widths`, global average
 * pooling and a dense feature layer.
 */
export function defaultArchitecture(res: number, widths: [number, number, number] = [24, 48, 96], featureDim = 128): ProbeArchitecture {
  checkResolution(res, '--res');
  const [a, b, c] = widths;
  return {
    convs: [
      { name: 'stem', in: 3, out: a, stride: res / 32, pool: false },
      { name: 'conv1', in: a, out: a, stride: 1, pool: true },
      { name: 'conv2a', in: a, out: b, stride: 1, pool: false },
      { name: 'conv2b', in: b, out: b, stride: 1, pool: true },
      { name: 'conv3a', in: b, out: c, stride: 1, pool: false },
      { name: 'conv3b', in: c, out: c, stride: 1, pool: false },
    ],
    feature_dim: featureDim,
    bn_epsilon: 1e-3,
  };
}

const DEFAULT_NORMALIZATION: ProbeNormalization = { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

function checkResolution(res: number, what: string): void {
  if (!(PROBE_RESOLUTIONS as readonly number[]).includes(res)) {
    throw new Dd3dError(`${what} ${res}: the probe supports resolutions ${PROBE_RESOLUTIONS.join(' and ')}`);
  }
}

export function defaultConfig(res: number): ProbeConfig {
  return {
    format: PROBE_FORMAT,
    version: PROBE_VERSION,
    res,
    normalization: structuredClone(DEFAULT_NORMALIZATION),
    architecture: defaultArchitecture(res),
    families: [...FAMILY_NAMES],
    colors: [...COLOR_NAMES],
    attribute_heads: defaultAttributeHeads(),
  };
}

/** The name under which an attribute head's weights are stored, e.g. `head.chair.legs` (the other two are `head.family` and `head.color`). */
const headKey = (h: AttributeHead): string => `head.${h.family}.${h.attribute}`;

/** Every head in logit order: family, colour, then the attribute heads. */
export interface HeadLayout {
  name: string;
  classes: string[];
  /** First logit of this head in the concatenated logits. */
  offset: number;
}

export function headLayout(cfg: ProbeConfig): HeadLayout[] {
  const out: HeadLayout[] = [];
  let offset = 0;
  const add = (name: string, classes: string[]) => {
    out.push({ name, classes, offset });
    offset += classes.length;
  };
  add('head.family', cfg.families);
  add('head.color', cfg.colors);
  for (const h of cfg.attribute_heads) add(headKey(h), h.values);
  return out;
}

// ---------------------------------------------------------------------------------------
// Validation of a config.json read from disk
// ---------------------------------------------------------------------------------------

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrList = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s !== '');
const isPosInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isNum3 = (v: unknown): v is [number, number, number] => Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** Checks a parsed config.json; every problem is a one-line Dd3dError naming the file and key. */
export function validateConfig(raw: unknown, file: string): ProbeConfig {
  const bad = (key: string, want: string): never => {
    throw new Dd3dError(`${file}: "${key}" ${want}`);
  };
  if (!isObj(raw)) throw new Dd3dError(`${file}: expected a JSON object`);
  if (raw.format !== PROBE_FORMAT) throw new Dd3dError(`${file}: not a dd3d probe config (expected "format": "${PROBE_FORMAT}")`);
  if (raw.version !== PROBE_VERSION) throw new Dd3dError(`${file}: probe version ${String(raw.version)}, this dd3d reads version ${PROBE_VERSION}`);
  if (!isPosInt(raw.res)) bad('res', 'must be a positive integer');
  checkResolution(raw.res as number, `${file}: "res"`);
  const norm = raw.normalization;
  if (!isObj(norm) || typeof norm.scale !== 'number' || !isNum3(norm.mean) || !isNum3(norm.std) || norm.std.some((s) => s <= 0)) {
    bad('normalization', 'must be {"scale": number, "mean": [r, g, b], "std": [r, g, b] (positive)}');
  }
  const arch = raw.architecture;
  if (!isObj(arch) || !Array.isArray(arch.convs) || arch.convs.length === 0 || !isPosInt(arch.feature_dim) || typeof arch.bn_epsilon !== 'number') {
    bad('architecture', 'must be {"convs": [...], "feature_dim": integer, "bn_epsilon": number}');
  }
  const a = arch as unknown as ProbeArchitecture;
  let channels = 3;
  let size = raw.res as number;
  const names = new Set<string>();
  a.convs.forEach((c, i) => {
    const key = `architecture.convs[${i}]`;
    if (
      !isObj(c) ||
      typeof c.name !== 'string' ||
      !/^[a-z][a-z0-9_]*$/.test(c.name) ||
      !isPosInt(c.in) ||
      !isPosInt(c.out) ||
      !isPosInt(c.stride) ||
      typeof c.pool !== 'boolean'
    ) {
      bad(key, 'must be {"name": lowercase word, "in", "out", "stride": positive integers, "pool": boolean}');
    }
    if (names.has(c.name)) bad(key, `repeats the layer name "${c.name}"`);
    names.add(c.name);
    if (c.in !== channels) bad(`${key}.in`, `is ${c.in} but the previous layer gives ${channels} channels`);
    channels = c.out;
    size = Math.ceil(size / c.stride);
    if (c.pool) size = Math.floor(size / 2);
    if (size < 1) bad(key, `shrinks the ${String(raw.res)}px input to nothing`);
  });
  if (!isStrList(raw.families)) bad('families', 'must be a non-empty list of names');
  if (!isStrList(raw.colors)) bad('colors', 'must be a non-empty list of names');
  if (!Array.isArray(raw.attribute_heads)) bad('attribute_heads', 'must be a list');
  const fams = new Set(raw.families as string[]);
  const seen = new Set<string>();
  (raw.attribute_heads as unknown[]).forEach((h, i) => {
    const key = `attribute_heads[${i}]`;
    if (!isObj(h) || typeof h.family !== 'string' || typeof h.attribute !== 'string' || !isStrList(h.values)) {
      bad(key, 'must be {"family", "attribute", "values": [names]}');
    }
    const head = h as unknown as AttributeHead;
    if (!fams.has(head.family)) bad(`${key}.family`, `"${head.family}" is not in "families"`);
    const id = `${head.family}.${head.attribute}`;
    if (seen.has(id)) bad(key, `repeats ${id}`);
    seen.add(id);
  });
  return raw as unknown as ProbeConfig;
}
