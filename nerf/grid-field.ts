/**
 * GridField: a multi-resolution dense feature grid (Instant-NGP's idea without the hash:
 * at these resolutions every level fits densely) followed by two tiny MLPs, one for raw
 * density and one for albedo.
 *
 * Trilinear interpolation is a `tf.gather` of the 8 corner rows of each level's table times
 * weights computed on the CPU. The gather's gradient is UnsortedSegmentSum, which dd3d
 * registers for wasm (src/backend/wasm-kernels.ts); everything else is 2-D matmuls with
 * [in, out] weights and elementwise ops, the fast path on wasm.
 */
import * as tf from '@tensorflow/tfjs';
import {
  createMlp,
  DEFAULT_BLOB,
  fieldKernelsEnabled,
  finishDensity,
  namesWithPrefix,
  runMlp,
  subSeed,
  type DenseLayer,
  type DensityActivation,
  type DensityBlob,
  type RadianceField,
} from './field.js';
import { mulberry32, normals } from '../src/core/random.js';

export interface GridFieldConfig {
  kind: 'grid';
  /** Half the cube's side; default 1 (procedural objects fit the unit sphere). */
  bound?: number;
  /** Number of grid levels; default 4. */
  levels?: number;
  /** Vertices per axis of the coarsest and finest level, geometric in between; defaults 16 and 64. */
  minResolution?: number;
  maxResolution?: number;
  /** Features per grid vertex; default 4. */
  featuresPerLevel?: number;
  /** Width of the one hidden layer of each MLP; default 32. */
  hiddenWidth?: number;
  /** Std of the initial grid features; default 0.1 (small, but big enough that the MLPs see the grid from step 1). */
  gridInitStd?: number;
  densityActivation?: DensityActivation;
  blob?: DensityBlob;
  /**
   * How the 8 corners are blended. 'fused' (default): one custom op per query that reads the
   * tables and blends on the CPU, with a hand-written scatter-add gradient, touching each
   * corner once. 'gather': tf.gather of the corner rows, a weighted tf.sum, and tf's own
   * gradient (UnsortedSegmentSum); slower wherever gather is slow (see nerf/README.md).
   */
  interpolation?: 'fused' | 'gather';
}

export type ResolvedGridFieldConfig = Required<GridFieldConfig>;

export function resolveGridFieldConfig(c: GridFieldConfig): ResolvedGridFieldConfig {
  const r: ResolvedGridFieldConfig = {
    kind: 'grid',
    bound: c.bound ?? 1,
    levels: c.levels ?? 4,
    minResolution: c.minResolution ?? 16,
    maxResolution: c.maxResolution ?? 64,
    featuresPerLevel: c.featuresPerLevel ?? 4,
    hiddenWidth: c.hiddenWidth ?? 32,
    gridInitStd: c.gridInitStd ?? 0.1,
    densityActivation: c.densityActivation ?? 'softplus',
    blob: { ...DEFAULT_BLOB, ...c.blob },
    interpolation: c.interpolation ?? 'fused',
  };
  if (!(r.bound > 0)) throw new RangeError(`GridField: bound must be > 0, got ${r.bound}`);
  if (!Number.isInteger(r.levels) || r.levels < 1) throw new RangeError(`GridField: levels must be a positive integer, got ${r.levels}`);
  if (!(r.minResolution >= 2 && r.maxResolution >= r.minResolution))
    throw new RangeError(`GridField: need 2 <= minResolution <= maxResolution, got ${r.minResolution}, ${r.maxResolution}`);
  return r;
}

/** Vertices per axis of each level, geometric from min to max. */
export function levelResolutions(c: ResolvedGridFieldConfig): number[] {
  const { levels, minResolution: lo, maxResolution: hi } = c;
  if (levels === 1) return [hi];
  return Array.from({ length: levels }, (_, l) => Math.round(lo * Math.pow(hi / lo, l / (levels - 1))));
}

/**
 * The 8 corner rows (flattened x-fastest vertex index) and trilinear weights of every point
 * in a grid of r³ vertices spanning [-bound, bound]³, corner-minor: entries 8i..8i+7 belong
 * to point i. Points outside the cube are clamped onto its surface (their density is zeroed
 * elsewhere); clamping keeps every index valid.
 */
export function trilinearCorners(xyz: Float32Array, bound: number, r: number): { index: Int32Array; weight: Float32Array } {
  const n = xyz.length / 3;
  const index = new Int32Array(8 * n);
  const weight = new Float32Array(8 * n);
  const scale = (r - 1) / (2 * bound);
  const cell = new Int32Array(3);
  const frac = new Float64Array(3);
  for (let p = 0; p < n; p++) {
    for (let a = 0; a < 3; a++) {
      const u = Math.min(Math.max((xyz[3 * p + a] + bound) * scale, 0), r - 1);
      const i = Math.min(Math.floor(u), r - 2);
      cell[a] = i;
      frac[a] = u - i;
    }
    const fx = frac[0];
    const fy = frac[1];
    const fz = frac[2];
    const base = cell[0] + r * (cell[1] + r * cell[2]);
    for (let c = 0; c < 8; c++) {
      const dx = c & 1;
      const dy = (c >> 1) & 1;
      const dz = (c >> 2) & 1;
      index[8 * p + c] = base + dx + r * (dy + r * dz);
      weight[8 * p + c] = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy) * (dz ? fz : 1 - fz);
    }
  }
  return { index, weight };
}

/**
 * A table's values for reading on the CPU. On wasm this is a view of the tensor in the wasm
 * heap: `dataSync` would copy the whole table (4 MB for 64³ × 4) on every query, which costs
 * more than the interpolation. The view is read before anything else allocates on the heap
 * (an allocation can grow the heap and detach it).
 */
function readTable(table: tf.Tensor): Float32Array {
  const backend = tf.backend() as unknown as { typedArrayFromHeap?: (t: tf.TensorInfo) => Float32Array };
  if (tf.getBackend() === 'wasm' && typeof backend.typedArrayFromHeap === 'function') return backend.typedArrayFromHeap(table);
  return table.dataSync() as Float32Array;
}

/**
 * All levels' trilinear blends in one custom op: [N, levels · F], level-major columns. The
 * forward pass reads each table once and the gradient scatter-adds w · dy into a dense
 * table-shaped gradient, so no [8N, F] intermediate ever exists. It syncs the tables to the
 * CPU, which is free on the wasm and cpu backends (their tensors already live in CPU memory).
 */
function fusedTrilinear(tables: tf.Variable[], corners: { index: Int32Array; weight: Float32Array }[], f: number): tf.Tensor2D {
  const n = corners[0].index.length / 8;
  const levels = tables.length;
  const width = levels * f;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const inputs = args.slice(0, levels) as tf.Tensor[];
    const out = new Float32Array(n * width);
    inputs.forEach((table, l) => {
      const src = readTable(table);
      const { index, weight } = corners[l];
      for (let p = 0; p < n; p++) {
        const o = p * width + l * f;
        for (let c = 8 * p; c < 8 * p + 8; c++) {
          const w = weight[c];
          const s = index[c] * f;
          for (let j = 0; j < f; j++) out[o + j] += w * src[s + j];
        }
      }
    });
    return {
      value: tf.tensor2d(out, [n, width]),
      gradFunc: (dy: tf.Tensor) => {
        const g = dy.dataSync() as Float32Array;
        return inputs.map((table, l) => {
          const grad = new Float32Array(table.size);
          const { index, weight } = corners[l];
          for (let p = 0; p < n; p++) {
            const o = p * width + l * f;
            for (let c = 8 * p; c < 8 * p + 8; c++) {
              const w = weight[c];
              const s = index[c] * f;
              for (let j = 0; j < f; j++) grad[s + j] += w * g[o + j];
            }
          }
          return tf.tensor(grad, table.shape);
        });
      },
    };
  });
  return op(...tables) as tf.Tensor2D;
}

/**
 * The same blend as `fusedTrilinear` as the backend kernels Dd3dGridEncode and
 * Dd3dGridEncodeGrad (src/backend/fused-kernels.ts, native-kernels.ts), which find the corners
 * themselves: the same arithmetic in the same order, so the same bits, without the [8N] corner
 * arrays or a copy of the tables. The points are saved for the gradient.
 */
function kernelTrilinear(tables: tf.Variable[], points: tf.Tensor2D, bound: number, resolutions: number[], f: number): tf.Tensor2D {
  const levels = tables.length;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[levels] as tf.GradSaveFunc;
    const inputs: Record<string, tf.Tensor> = { points };
    for (let l = 0; l < levels; l++) inputs[`t${l}`] = args[l] as tf.Tensor;
    save([points]);
    return {
      value: tf.engine().runKernel('Dd3dGridEncode', inputs, { bound, resolutions }) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel('Dd3dGridEncodeGrad', { dy, points: saved[0]! }, { bound, resolutions, features: f }) as tf.Tensor[],
    };
  });
  return op(...tables) as tf.Tensor2D;
}

/** Whether the active backend has the grid-encoding kernels (dd3d registers them on wasm and cpu). */
function hasEncodeKernels(): boolean {
  if (!fieldKernelsEnabled()) return false;
  const backend = tf.getBackend();
  return tf.getKernel('Dd3dGridEncode', backend) !== undefined && tf.getKernel('Dd3dGridEncodeGrad', backend) !== undefined;
}

export class GridField implements RadianceField {
  readonly bound: number;
  readonly config: ResolvedGridFieldConfig;
  readonly resolutions: number[];
  private readonly vars = new Map<string, tf.Variable>();
  private readonly tables: tf.Variable[] = [];
  private readonly densityMlp: DenseLayer[];
  private readonly albedoMlp: DenseLayer[];

  constructor(config: GridFieldConfig, seed: number) {
    this.config = resolveGridFieldConfig(config);
    this.bound = this.config.bound;
    this.resolutions = levelResolutions(this.config);
    const f = this.config.featuresPerLevel;
    this.resolutions.forEach((r, l) => {
      const values = normals(mulberry32(subSeed(seed, 100 + l)).next, r * r * r * f, this.config.gridInitStd);
      const table = tf.variable(tf.tensor2d(values, [r * r * r, f]));
      this.tables.push(table);
      this.vars.set(`encoding.levels.${l}`, table);
    });
    const width = this.resolutions.length * f;
    const hidden = this.config.hiddenWidth;
    // Small output layers: raw density starts near 0 (the blob shapes the first renders), albedo near grey.
    this.densityMlp = createMlp('density_mlp', [width, hidden, 1], subSeed(seed, 1), this.vars, 0.1);
    this.albedoMlp = createMlp('albedo_mlp', [width, hidden, 3], subSeed(seed, 2), this.vars, 0.1);
  }

  /** The concatenated per-level features [N, levels · featuresPerLevel]. */
  encode(xyz: Float32Array, points?: tf.Tensor2D): tf.Tensor2D {
    if (this.config.interpolation === 'fused' && hasEncodeKernels()) {
      const p = points ?? tf.tensor2d(xyz, [xyz.length / 3, 3]);
      return kernelTrilinear(this.tables, p, this.bound, this.resolutions, this.config.featuresPerLevel);
    }
    const corners = this.resolutions.map((r) => trilinearCorners(xyz, this.bound, r));
    if (this.config.interpolation === 'fused') return fusedTrilinear(this.tables, corners, this.config.featuresPerLevel);
    const n = xyz.length / 3;
    const f = this.config.featuresPerLevel;
    const parts = this.tables.map((table, l) => {
      const { index, weight } = corners[l];
      const rows = tf.gather(table, tf.tensor1d(index, 'int32'));
      const weighted = tf.mul(rows, tf.tensor2d(weight, [8 * n, 1]));
      return tf.sum(tf.reshape(weighted, [n, 8, f]), 1) as tf.Tensor2D;
    });
    return parts.length === 1 ? parts[0] : (tf.concat(parts, 1) as tf.Tensor2D);
  }

  query(points: tf.Tensor2D): { density: tf.Tensor1D; albedo: tf.Tensor2D } {
    const xyz = points.dataSync() as Float32Array;
    return tf.tidy(() => {
      const features = this.encode(xyz, points);
      const c = this.config;
      const density = finishDensity(runMlp(this.densityMlp, features), xyz, c.bound, c.blob, c.densityActivation);
      const albedo = tf.sigmoid(runMlp(this.albedoMlp, features)) as tf.Tensor2D;
      return { density, albedo };
    });
  }

  density(points: tf.Tensor2D): tf.Tensor1D {
    const xyz = points.dataSync() as Float32Array;
    return tf.tidy(() => {
      const c = this.config;
      return finishDensity(runMlp(this.densityMlp, this.encode(xyz, points)), xyz, c.bound, c.blob, c.densityActivation);
    });
  }

  variables(): Map<string, tf.Variable> {
    return new Map(this.vars);
  }

  groups(): Record<string, string[]> {
    return { encoding: namesWithPrefix(this.vars, 'encoding.'), mlp: namesWithPrefix(this.vars, 'density_mlp.', 'albedo_mlp.') };
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
