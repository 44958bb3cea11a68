/**
 * Measuring a prompt distribution (or a baseline) against its reference set in 2D: sample n
 * images, classify them with the attribute probe, and compare with the references in
 * attribute combinations (TV distance, in-distribution rate, coverage) and in probe-feature
 * space (Fréchet distance, precision/recall/density/coverage, diversity).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadReferenceImages } from '../dist/reference-images.js';
import type { Probe } from '../probe/index.js';
import { readJsonFile } from '../text/text-util.js';
import { attributeMetrics, combinationOf, type AttributeMetrics } from './attribute-metrics.js';
import { meanPairwiseDistance } from './eval-prompt.js';
import { frechetDistance, prdc, type Prdc } from './feature-metrics.js';
import type { GeneratedSet } from './sample-and-probe.js';

export interface ReferenceTruth {
  family: string;
  /** The attributes whose values make a combination (the ones the set constrains). */
  keys: string[];
  combinations: string[];
  features: number[][];
}

/**
 * The references' combinations and probe features. A `dd3d scenes refs` folder has ground
 * truth in attributes.json; its constraints name the attributes that matter (colour always
 * counts). Any other folder of images is classified by the probe, keyed by family and colour.
 */
export async function referenceTruth(dir: string, probe: Probe): Promise<ReferenceTruth> {
  const { files, predictions, features } = await probeFolder(dir, probe, '--refs');
  const manifest = path.join(dir, 'attributes.json');
  if (fs.existsSync(manifest)) {
    const j = readJsonFile(manifest) as { family: string; constraints?: Record<string, unknown>; images: Array<{ file: string; attributes: Record<string, string> }> };
    const keys = ['color', ...Object.keys(j.constraints ?? {}).filter((k) => k !== 'color')];
    const byFile = new Map(j.images.map((im) => [im.file, im.attributes]));
    const combinations = files.map((file) => {
      const a = byFile.get(path.basename(file)) ?? {};
      return combinationOf(a.family ?? j.family, a, keys);
    });
    return { family: j.family, keys, combinations, features };
  }
  const family = mostCommon(predictions.map((p) => p.family));
  return { family, keys: ['color'], combinations: predictions.map((p) => combinationOf(p.family, { color: p.color }, ['color'])), features };
}

/**
 * Every image in a folder classified by the probe: the references, or ready-made images
 * measured as a row (`--baseline images:DIR`, e.g. fresh draws from the scene generator).
 */
export async function probeFolder(dir: string, probe: Probe, flag: string): Promise<GeneratedSet & { files: string[] }> {
  const { files, views } = await loadReferenceImages(dir, probe.config.res, probe.config.res, { flip: false, flag });
  const images = tf.tensor4d(views.data, [views.n, views.height, views.width, 3]);
  try {
    const f = probe.features(images);
    const features = f.arraySync() as number[][];
    f.dispose();
    return { files, predictions: probe.predict(images), features };
  } finally {
    images.dispose();
  }
}

function mostCommon(xs: string[]): string {
  const counts = new Map<string, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]![0];
}

export interface Eval2dScores extends Omit<AttributeMetrics, 'coverage'>, Prdc {
  n: number;
  /** Attribute-combination coverage (feature-space coverage is `coverage`). */
  attribute_coverage: number;
  fid: number;
  diversity: number;
}

export function scoreAgainstReferences(gen: GeneratedSet, ref: ReferenceTruth, k = 3): Eval2dScores {
  const combos = gen.predictions.map((p) => combinationOf(p.family, { color: p.color, ...p.attributes }, ref.keys));
  const attributes = attributeMetrics(combos, ref.combinations);
  const diversity = tf.tidy(() => meanPairwiseDistance(tf.tensor2d(gen.features)));
  const { coverage: attributeCoverage, ...rest } = attributes;
  return {
    n: gen.predictions.length,
    ...rest,
    attribute_coverage: attributeCoverage,
    fid: frechetDistance(gen.features, ref.features),
    ...prdc(ref.features, gen.features, Math.min(k, ref.features.length - 1)),
    diversity,
  };
}
