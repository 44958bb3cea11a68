/**
 * Accuracy of a probe on a scene dataset, per head.
 *
 * Family and colour are scored on every image. An attribute head is scored on the images of
 * its own family (whatever family the probe predicts), so its accuracy measures that head
 * alone; `chance` is the share of the most common value among those images, the accuracy of
 * always guessing it.
 */
import * as tf from '@tensorflow/tfjs';
import { VIEW_PHRASES } from '../../scenes/index.js';
import { imageToFloat, loadProbeData, type ProbeData } from './data.js';
import { headArgmax, type Probe } from './probe.js';

export interface HeadAccuracy {
  /** "family", "color", or "<family>.<attribute>". */
  head: string;
  /** Images scored. */
  n: number;
  correct: number;
  accuracy: number;
  /** Accuracy of always answering the most common true value. */
  chance: number;
  /** Accuracy by the image's view ("front", "side", "back", "overhead"): some parts hide from some views. */
  views: Record<string, { n: number; accuracy: number }>;
}

/** A record's view phrase as one word: "front view" → "front". */
const viewWord = (phrase: string): string => phrase.replace(/ view$/, '');

/** The view words of `record.view`, in report order (the captions' order). */
export const VIEWS: readonly string[] = VIEW_PHRASES.map(viewWord);

export interface ProbeEvaluation {
  data: string;
  n: number;
  res: number;
  family: HeadAccuracy;
  color: HeadAccuracy;
  attributes: HeadAccuracy[];
  /** Mean of the attribute heads' accuracies. */
  attribute_mean: number;
  /** confusion[true][predicted], rows and columns in the config's order. */
  confusion: { families: string[]; family: number[][]; colors: string[]; color: number[][] };
  seconds: number;
}

/** Float images [count, R, R, 3] in [0, 1] at the probe's resolution: `data`'s images `indices`, box-downsampled. */
function batchTensor(data: ProbeData, R: number, indices: ArrayLike<number>): tf.Tensor4D {
  const frame = data.res * data.res * 3;
  const out = new Float32Array(indices.length * R * R * 3);
  const factor = data.res / R;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    imageToFloat(data.images.subarray(i * frame, (i + 1) * frame), data.res, factor, out.subarray(k * R * R * 3, (k + 1) * R * R * 3));
  }
  return tf.tensor4d(out, [indices.length, R, R, 3]);
}

function score(head: string, truth: number[], pred: number[], view: string[], classes: number): HeadAccuracy {
  const counts = new Array<number>(classes).fill(0);
  const byView = new Map<string, { n: number; correct: number }>(VIEWS.map((v) => [v, { n: 0, correct: 0 }]));
  let correct = 0;
  truth.forEach((t, i) => {
    counts[t]!++;
    const v = byView.get(view[i]!) ?? byView.set(view[i]!, { n: 0, correct: 0 }).get(view[i]!)!;
    v.n++;
    if (pred[i] === t) {
      correct++;
      v.correct++;
    }
  });
  const n = truth.length;
  const views = Object.fromEntries([...byView].map(([k, v]) => [k, { n: v.n, accuracy: v.n ? v.correct / v.n : NaN }]));
  return { head, n, correct, accuracy: n ? correct / n : NaN, chance: n ? Math.max(...counts) / n : NaN, views };
}

/** Scores `probe` on a dataset folder (or data already loaded for it). */
export function evaluateProbe(
  probe: Probe,
  data: ProbeData | string,
  opts: { batch?: number; onProgress?: (done: number, total: number) => void } = {},
): ProbeEvaluation {
  const started = performance.now();
  const cfg = probe.config;
  const d = typeof data === 'string' ? loadProbeData(data, cfg) : data;
  const R = cfg.res;
  const batch = opts.batch ?? 256;
  const H = cfg.attribute_heads.length;
  const heads = probe.heads;
  const famPred: number[] = [];
  const colPred: number[] = [];
  const attrTruth: number[][] = Array.from({ length: H }, () => []);
  const attrView: string[][] = Array.from({ length: H }, () => []);
  const viewOf = (i: number) => viewWord(d.records[i]?.view ?? '');
  const attrPred: number[][] = Array.from({ length: H }, () => []);
  for (let start = 0; start < d.n; start += batch) {
    const count = Math.min(batch, d.n - start);
    const idx = Array.from({ length: count }, (_, k) => start + k);
    const x = batchTensor(d, R, idx);
    const logits = probe.logits(x);
    x.dispose();
    const T = logits.shape[1];
    const all = logits.dataSync() as Float32Array;
    logits.dispose();
    for (let k = 0; k < count; k++) {
      const i = start + k;
      const row = all.subarray(k * T, (k + 1) * T);
      famPred.push(headArgmax(row, heads[0]!));
      colPred.push(headArgmax(row, heads[1]!));
      for (let h = 0; h < H; h++) {
        const t = d.attrs[i * H + h]!;
        if (t < 0) continue;
        attrTruth[h]!.push(t);
        attrView[h]!.push(viewOf(i));
        attrPred[h]!.push(headArgmax(row, heads[h + 2]!));
      }
    }
    opts.onProgress?.(start + count, d.n);
  }
  const famTruth = Array.from(d.family);
  const colTruth = Array.from(d.color);
  const confusion = (truth: number[], pred: number[], k: number) => {
    const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    truth.forEach((t, i) => m[t]![pred[i]!]!++);
    return m;
  };
  const views = Array.from({ length: d.n }, (_, i) => viewOf(i));
  const attributes = cfg.attribute_heads.map((h, j) => score(`${h.family}.${h.attribute}`, attrTruth[j]!, attrPred[j]!, attrView[j]!, h.values.length));
  const scored = attributes.filter((a) => a.n > 0);
  return {
    data: d.dir,
    n: d.n,
    res: d.res,
    family: score('family', famTruth, famPred, views, cfg.families.length),
    color: score('color', colTruth, colPred, views, cfg.colors.length),
    attributes,
    attribute_mean: scored.length ? scored.reduce((s, a) => s + a.accuracy, 0) / scored.length : NaN,
    confusion: {
      families: cfg.families,
      family: confusion(famTruth, famPred, cfg.families.length),
      colors: cfg.colors,
      color: confusion(colTruth, colPred, cfg.colors.length),
    },
    seconds: (performance.now() - started) / 1000,
  };
}
