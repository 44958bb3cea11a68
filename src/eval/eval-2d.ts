/**
 * Measuring a prompt distribution (or a baseline) against its reference set in 2D: sample n
 * images, classify them with the attribute probe, and compare with the references in
 * attribute combinations (TV distance, in-distribution rate, coverage) and in probe-feature
 * space (Fréchet distance, precision/recall/density/coverage, diversity).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadReferenceImages } from '../distribution/reference-images.js';
import type { Probe, ProbePrediction } from '../probe/index.js';
import { readRefsManifest } from '../dataset/scene-refs.js';
import {
  attributeMarginals,
  attributeMetrics,
  combinationOf,
  mostCommon,
  type AttributeMetrics,
  type LabelledImage,
  type Marginals,
} from './attribute-metrics.js';
import { meanPairwiseDistance } from './eval-prompt.js';
import { frechetDistance, prdc, type Prdc } from './feature-metrics.js';
import type { GeneratedSet } from './sample-and-probe.js';

export interface ReferenceTruth {
  family: string;
  /** The attributes whose values make a combination (the ones the set constrains). */
  keys: string[];
  combinations: string[];
  /** Each reference's family and attributes: ground truth from attributes.json, else the probe's. */
  labels: LabelledImage[];
  features: number[][];
}

/**
 * The references' combinations and probe features. A `dd3d scenes refs` folder has ground
 * truth in attributes.json; its constraints name the attributes that matter, and only those:
 * colour counts when the set constrains it. A set that leaves colour free ("lamps of any
 * colour") once counted it too, and then 12 references held 10 of the generator's 33
 * combinations, so a TV distance to them rewarded copying the references' colours: fresh
 * draws of the concept itself scored worse than every learned row. Any other folder of images
 * is classified by the probe, keyed by family and colour.
 */
export async function referenceTruth(dir: string, probe: Probe): Promise<ReferenceTruth> {
  const { files, predictions, features } = await probeFolder(dir, probe, '--refs');
  const manifest = path.join(dir, 'attributes.json');
  if (fs.existsSync(manifest)) {
    const j = readRefsManifest(manifest);
    const keys = combinationKeys(j.constraints);
    const byFile = new Map(j.images.map((im) => [im.file, im.attributes]));
    const labels = files.map((file) => {
      const a = byFile.get(path.basename(file)) ?? {};
      return { family: a.family ?? j.family, attributes: a };
    });
    const combinations = labels.map((l) => combinationOf(l.family, l.attributes, keys));
    return { family: j.family, keys, combinations, labels, features };
  }
  const family = mostCommon(predictions.map((p) => p.family));
  const labels = predictions.map(probeLabel);
  return { family, keys: ['color'], combinations: labels.map((l) => combinationOf(l.family, l.attributes, ['color'])), labels, features };
}

/** The attributes a reference set's constraints name, colour first when among them (as the probe-labelled key has it); none: family alone. */
export function combinationKeys(constraints: Record<string, unknown>): string[] {
  const named = Object.keys(constraints);
  return [...named.filter((k) => k === 'color'), ...named.filter((k) => k !== 'color')];
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

/** A probe prediction as family plus attributes, the main colour among them. */
function probeLabel(p: ProbePrediction): LabelledImage {
  return { family: p.family, attributes: { color: p.color, ...p.attributes } };
}

export interface Eval2dScores extends Omit<AttributeMetrics, 'coverage'>, Marginals, Prdc {
  n: number;
  /** Attribute-combination coverage (feature-space coverage is `coverage`). */
  attribute_coverage: number;
  fid: number;
  diversity: number;
}

export function scoreAgainstReferences(gen: GeneratedSet, ref: ReferenceTruth, k = 3): Eval2dScores {
  const labels = gen.predictions.map(probeLabel);
  const combos = labels.map((l) => combinationOf(l.family, l.attributes, ref.keys));
  const attributes = attributeMetrics(combos, ref.combinations);
  const { coverage: attributeCoverage, ...rest } = attributes;
  return {
    n: gen.predictions.length,
    ...rest,
    attribute_coverage: attributeCoverage,
    ...attributeMarginals(ref.family, labels),
    fid: frechetDistance(gen.features, ref.features),
    ...prdc(ref.features, gen.features, Math.min(k, ref.features.length - 1)),
    diversity: meanPairwiseDistance(gen.features),
  };
}
