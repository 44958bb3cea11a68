/**
 * FourierField: the classic NeRF field, one MLP on Fourier features of the position
 * [x, sin(2^k π x/bound), cos(2^k π x/bound)], k < frequencies. No grid, few parameters,
 * slow to fit fine detail: the baseline GridField is measured against (src/bench/fields.ts).
 */
import * as tf from '@tensorflow/tfjs';
import {
  createMlp,
  DEFAULT_BLOB,
  finishDensity,
  namesWithPrefix,
  runMlp,
  subSeed,
  type DenseLayer,
  type DensityActivation,
  type DensityBlob,
  type RadianceField,
} from './field.js';

export interface FourierFieldConfig {
  kind: 'fourier';
  /** Half the cube's side; default 1. */
  bound?: number;
  /** Octaves of sin/cos per axis; default 6. */
  frequencies?: number;
  /** Hidden layer width; default 64. */
  hiddenWidth?: number;
  /** Number of hidden layers; default 3. */
  hiddenLayers?: number;
  densityActivation?: DensityActivation;
  blob?: DensityBlob;
}

export type ResolvedFourierFieldConfig = Required<FourierFieldConfig>;

export function resolveFourierFieldConfig(c: FourierFieldConfig): ResolvedFourierFieldConfig {
  const r: ResolvedFourierFieldConfig = {
    kind: 'fourier',
    bound: c.bound ?? 1,
    frequencies: c.frequencies ?? 6,
    hiddenWidth: c.hiddenWidth ?? 64,
    hiddenLayers: c.hiddenLayers ?? 3,
    densityActivation: c.densityActivation ?? 'softplus',
    blob: { ...DEFAULT_BLOB, ...c.blob },
  };
  if (!(r.bound > 0)) throw new RangeError(`FourierField: bound must be > 0, got ${r.bound}`);
  if (!Number.isInteger(r.frequencies) || r.frequencies < 0) throw new RangeError(`FourierField: frequencies must be an integer >= 0, got ${r.frequencies}`);
  if (!Number.isInteger(r.hiddenLayers) || r.hiddenLayers < 1) throw new RangeError(`FourierField: hiddenLayers must be >= 1, got ${r.hiddenLayers}`);
  return r;
}

export class FourierField implements RadianceField {
  readonly bound: number;
  readonly config: ResolvedFourierFieldConfig;
  private readonly vars = new Map<string, tf.Variable>();
  private readonly mlp: DenseLayer[];
  /** [3, 3·frequencies]: column (k, axis) = 2^k π / bound on that axis, so sin/cos of x·B is one 2-D matmul away. */
  private readonly frequencyMatrix: tf.Tensor2D;

  constructor(config: FourierFieldConfig, seed: number) {
    this.config = resolveFourierFieldConfig(config);
    this.bound = this.config.bound;
    const k = this.config.frequencies;
    const b = new Float32Array(3 * 3 * k);
    for (let o = 0; o < k; o++) for (let a = 0; a < 3; a++) b[a * 3 * k + 3 * o + a] = (Math.pow(2, o) * Math.PI) / this.bound;
    this.frequencyMatrix = tf.tensor2d(b, [3, 3 * k]);
    const width = 3 + 6 * k;
    const sizes = [width, ...Array(this.config.hiddenLayers).fill(this.config.hiddenWidth), 4];
    this.mlp = createMlp('mlp', sizes, subSeed(seed, 3), this.vars, 0.1);
  }

  /** [N, 3 + 6·frequencies]: the scaled point, then sines, then cosines. */
  encode(points: tf.Tensor2D): tf.Tensor2D {
    const scaled = tf.div(points, this.bound) as tf.Tensor2D;
    if (this.config.frequencies === 0) return scaled;
    const phase = tf.matMul(points, this.frequencyMatrix);
    return tf.concat([scaled, tf.sin(phase), tf.cos(phase)], 1) as tf.Tensor2D;
  }

  /** The MLP's raw output [N, 4]: raw density, then albedo logits. */
  private raw(points: tf.Tensor2D): tf.Tensor2D {
    return runMlp(this.mlp, this.encode(points));
  }

  query(points: tf.Tensor2D): { density: tf.Tensor1D; albedo: tf.Tensor2D } {
    const xyz = points.dataSync() as Float32Array;
    return tf.tidy(() => {
      const out = this.raw(points);
      const [rawDensity, logits] = tf.split(out, [1, 3], 1);
      const c = this.config;
      return { density: finishDensity(rawDensity, xyz, c.bound, c.blob, c.densityActivation), albedo: tf.sigmoid(logits) as tf.Tensor2D };
    });
  }

  density(points: tf.Tensor2D): tf.Tensor1D {
    const xyz = points.dataSync() as Float32Array;
    return tf.tidy(() => {
      const rawDensity = tf.slice(this.raw(points), [0, 0], [-1, 1]);
      const c = this.config;
      return finishDensity(rawDensity, xyz, c.bound, c.blob, c.densityActivation);
    });
  }

  variables(): Map<string, tf.Variable> {
    return new Map(this.vars);
  }

  groups(): Record<string, string[]> {
    return { mlp: namesWithPrefix(this.vars, 'mlp.') };
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
    this.frequencyMatrix.dispose();
  }
}
