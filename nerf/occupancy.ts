/**
 * An occupancy grid over the field's cube (nerfacc's idea): each cell keeps a decaying
 * maximum of the density seen at a few jittered points inside it, and a cell counts as
 * occupied while that value is above a threshold. The renderer asks `occupied(x, y, z)` for
 * every sample and never evaluates the field in empty cells.
 *
 * The CPU side is plain typed arrays; only `update` touches the field (without gradients).
 */
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../src/core/random.js';
import type { RadianceField } from './field.js';

export interface OccupancyGridConfig {
  /** Cells per axis; default 32. */
  resolution?: number;
  /** Each update multiplies the stored value by this before taking the max with new samples; default 0.95. */
  decay?: number;
  /**
   * A cell is occupied when its value is at least min(threshold, mean of all values); default
   * 0.1 (an alpha of about 0.6% across one 1/32 cell of the unit cube). The mean clamp keeps a
   * nearly empty field from going entirely empty, which would stop its gradients for good: its
   * densest cells stay occupied, and a field with no density anywhere is occupied everywhere.
   */
  threshold?: number;
  /** Jittered density samples per cell per update; default 2. */
  samplesPerCell?: number;
  /** Field queries per batch during an update, to bound memory; default 65536. */
  batch?: number;
  /**
   * Cells within this many cells of an occupied one count as occupied too; default 0. Score
   * distillation needs a margin: a cell that is never sampled gets no gradient, so without
   * one an object could never grow past the cells it already fills.
   */
  dilation?: number;
}

export type ResolvedOccupancyGridConfig = Required<OccupancyGridConfig>;

export class OccupancyGrid {
  readonly bound: number;
  readonly config: ResolvedOccupancyGridConfig;
  readonly resolution: number;
  /** Decayed max density per cell, x-fastest (index = x + r·(y + r·z)). */
  readonly values: Float32Array;
  /** 1 where occupied. Starts all occupied, so nothing is skipped before the first update. */
  readonly mask: Uint8Array;
  private updates = 0;

  constructor(bound: number, config: OccupancyGridConfig = {}) {
    const c: ResolvedOccupancyGridConfig = {
      resolution: config.resolution ?? 32,
      decay: config.decay ?? 0.95,
      threshold: config.threshold ?? 0.1,
      samplesPerCell: config.samplesPerCell ?? 2,
      batch: config.batch ?? 65536,
      dilation: config.dilation ?? 0,
    };
    if (!(bound > 0)) throw new RangeError(`OccupancyGrid: bound must be > 0, got ${bound}`);
    if (!Number.isInteger(c.resolution) || c.resolution < 1) throw new RangeError(`OccupancyGrid: resolution must be a positive integer, got ${c.resolution}`);
    if (!Number.isInteger(c.samplesPerCell) || c.samplesPerCell < 1)
      throw new RangeError(`OccupancyGrid: samplesPerCell must be >= 1, got ${c.samplesPerCell}`);
    this.bound = bound;
    this.config = c;
    this.resolution = c.resolution;
    const cells = c.resolution ** 3;
    this.values = new Float32Array(cells);
    this.mask = new Uint8Array(cells).fill(1);
  }

  /** Whether the point lies in an occupied cell; false outside the cube. */
  occupied(x: number, y: number, z: number): boolean {
    const b = this.bound;
    if (!(Math.abs(x) <= b && Math.abs(y) <= b && Math.abs(z) <= b)) return false;
    const r = this.resolution;
    const s = r / (2 * b);
    const i = Math.min(Math.floor((x + b) * s), r - 1);
    const j = Math.min(Math.floor((y + b) * s), r - 1);
    const k = Math.min(Math.floor((z + b) * s), r - 1);
    return this.mask[i + r * (j + r * k)] === 1;
  }

  /** Fraction of cells currently occupied. */
  occupiedFraction(): number {
    let n = 0;
    for (const m of this.mask) n += m;
    return n / this.mask.length;
  }

  /**
   * Samples the field's density at `samplesPerCell` jittered points per cell and refreshes
   * values and mask. The jitter is a function of `seed` alone (pass a different one per
   * update, e.g. derived from the step, so a resumed run jitters as an uninterrupted one);
   * without a seed it is the number of updates so far.
   */
  update(field: RadianceField, seed?: number): void {
    const { resolution: r, samplesPerCell: k, decay, batch } = this.config;
    const cells = r ** 3;
    const next = mulberry32(seed ?? this.updates).next;
    this.updates++;
    const size = (2 * this.bound) / r;
    const fresh = new Float32Array(cells);
    const total = cells * k;
    for (let start = 0; start < total; start += batch) {
      const count = Math.min(batch, total - start);
      const xyz = new Float32Array(3 * count);
      for (let q = 0; q < count; q++) {
        const cell = Math.floor((start + q) / k);
        const i = cell % r;
        const j = Math.floor(cell / r) % r;
        const l = Math.floor(cell / (r * r));
        xyz[3 * q] = -this.bound + (i + next()) * size;
        xyz[3 * q + 1] = -this.bound + (j + next()) * size;
        xyz[3 * q + 2] = -this.bound + (l + next()) * size;
      }
      // dataSync outside tidy: tidy walks a returned typed array element by element.
      const densityTensor = tf.tidy(() => field.density(tf.tensor2d(xyz, [count, 3])));
      const density = densityTensor.dataSync();
      densityTensor.dispose();
      for (let q = 0; q < count; q++) {
        const cell = Math.floor((start + q) / k);
        fresh[cell] = Math.max(fresh[cell], density[q]);
      }
    }
    for (let c = 0; c < cells; c++) this.values[c] = Math.max(this.values[c] * decay, fresh[c]);
    this.refreshMask();
  }

  /** Sets the decayed values (from a checkpoint) and the mask they imply. */
  restore(values: ArrayLike<number>): void {
    if (values.length !== this.values.length) throw new RangeError(`OccupancyGrid.restore: ${values.length} values for ${this.values.length} cells`);
    this.values.set(values);
    this.refreshMask();
  }

  private refreshMask(): void {
    const cells = this.values.length;
    let sum = 0;
    for (let c = 0; c < cells; c++) sum += this.values[c];
    const cut = Math.min(this.config.threshold, sum / cells);
    for (let c = 0; c < cells; c++) this.mask[c] = this.values[c] >= cut ? 1 : 0;
    const d = this.config.dilation;
    if (d > 0) this.dilate(d);
  }

  /** Grows the mask by `d` cells along each axis (a box dilation, one separable pass per axis). */
  private dilate(d: number): void {
    const r = this.resolution;
    const strides = [1, r, r * r];
    let src = this.mask;
    for (const stride of strides) {
      const out = new Uint8Array(src.length);
      for (let c = 0; c < src.length; c++) {
        if (!src[c]) continue;
        const pos = Math.floor(c / stride) % r;
        for (let o = Math.max(0, pos - d); o <= Math.min(r - 1, pos + d); o++) out[c + (o - pos) * stride] = 1;
      }
      src = out;
    }
    this.mask.set(src);
  }
}
