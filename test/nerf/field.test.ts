/**
 * Radiance fields (nerf/): shapes, seeded determinism, the empty outside of the cube, the
 * density blob, variable names and groups, the two grid interpolations agreeing (values and
 * gradients), and the occupancy grid.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/backend.js';
import { createField, GridField, OccupancyGrid, trilinearCorners, type FieldConfig, type RadianceField } from '../../nerf/index.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const CONFIGS: Record<string, FieldConfig> = {
  grid: { kind: 'grid', levels: 3, minResolution: 8, maxResolution: 16, featuresPerLevel: 2, hiddenWidth: 16 },
  fourier: { kind: 'fourier', frequencies: 4, hiddenWidth: 16, hiddenLayers: 2 },
};

/** A tiny deterministic generator for test points. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomPoints(n: number, extent: number, seed: number): tf.Tensor2D {
  const next = lcg(seed);
  return tf.tensor2d(
    Float32Array.from({ length: 3 * n }, () => (2 * next() - 1) * extent),
    [n, 3],
  );
}

function queryArrays(field: RadianceField, points: tf.Tensor2D): { density: Float32Array; albedo: Float32Array } {
  const q = field.query(points);
  const out = { density: q.density.dataSync() as Float32Array, albedo: q.albedo.dataSync() as Float32Array };
  tf.dispose([q.density, q.albedo]);
  return out;
}

describe.each(Object.keys(CONFIGS))('%s field', (name) => {
  const config = CONFIGS[name];

  it('returns density [N] >= 0 and albedo [N, 3] in [0, 1]; density() matches query().density', () => {
    const field = createField(config, 1);
    const points = randomPoints(50, 1.2, 3);
    const q = field.query(points);
    expect(q.density.shape).toEqual([50]);
    expect(q.albedo.shape).toEqual([50, 3]);
    const d = q.density.dataSync();
    for (const v of d) expect(v).toBeGreaterThanOrEqual(0);
    for (const v of q.albedo.dataSync()) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    const alone = field.density(points);
    expect(Array.from(alone.dataSync())).toEqual(Array.from(d));
    tf.dispose([q.density, q.albedo, alone, points]);
    field.dispose();
  });

  it('is a pure function of the seed', () => {
    const points = randomPoints(40, 1, 5);
    const [a, b, c] = [createField(config, 7), createField(config, 7), createField(config, 8)];
    const [qa, qb, qc] = [a, b, c].map((f) => queryArrays(f, points));
    expect(Array.from(qa.density)).toEqual(Array.from(qb.density));
    expect(Array.from(qa.albedo)).toEqual(Array.from(qb.albedo));
    expect(Array.from(qa.albedo)).not.toEqual(Array.from(qc.albedo));
    for (const [key, v] of a.variables()) expect(Array.from(v.dataSync())).toEqual(Array.from(b.variables().get(key)!.dataSync()));
    for (const f of [a, b, c]) f.dispose();
    points.dispose();
  });

  it('has zero density outside the cube, also just outside a face', () => {
    const field = createField(config, 2);
    const b = field.bound;
    const outside = tf.tensor2d([
      [1.01 * b, 0, 0],
      [0, -1.01 * b, 0],
      [0, 0, 1.2 * b],
      [3, 3, 3],
      [-b * 1.001, 0.2, 0.1],
    ]);
    expect(Array.from(queryArrays(field, outside).density)).toEqual([0, 0, 0, 0, 0]);
    outside.dispose();
    field.dispose();
  });

  it('starts as a soft ball: the blob makes the centre denser than the edge', () => {
    const field = createField(config, 3);
    const points = tf.tensor2d([
      [0, 0, 0],
      [0.9, 0, 0],
      [0, 0.6, 0.6],
      [-0.5, -0.5, -0.5],
    ]);
    const d = queryArrays(field, points).density;
    expect(d[0]).toBeGreaterThan(5); // softplus(≈10)
    for (const edge of [d[1], d[2], d[3]]) expect(edge).toBeLessThan(d[0] / 10);
    points.dispose();
    field.dispose();
  });

  it('names its variables checkpoint-style and its groups cover them exactly once', () => {
    const field = createField(config, 4);
    const names = [...field.variables().keys()];
    for (const n of names) expect(n).toMatch(/^[a-z_]+(\.[a-z0-9_]+)+$/);
    const grouped = Object.values(field.groups()).flat();
    expect([...grouped].sort()).toEqual([...names].sort());
    if (name === 'grid') {
      expect(names).toContain('encoding.levels.0');
      expect(names).toContain('density_mlp.0.weight');
      expect(Object.keys(field.groups()).sort()).toEqual(['encoding', 'mlp']);
    }
    field.dispose();
  });

  it('does not leak tensors across queries', () => {
    const field = createField(config, 5);
    const points = randomPoints(30, 1, 9);
    queryArrays(field, points);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      queryArrays(field, points);
      tf.dispose(tf.tidy(() => field.density(points)));
    }
    expect(tf.memory().numTensors).toBe(before);
    points.dispose();
    field.dispose();
  });
});

describe('GridField interpolation', () => {
  it('trilinear corners: weights sum to 1 and reproduce a linear function exactly', () => {
    const r = 5;
    const xyz = Float32Array.from([0.1, -0.3, 0.77, -1, -1, -1, 1, 1, 1, 0.5, 0.5, -0.25, 2, -3, 0]);
    const { index, weight } = trilinearCorners(xyz, 1, r);
    const vertexValue = (i: number) => {
      const [x, y, z] = [i % r, Math.floor(i / r) % r, Math.floor(i / (r * r))].map((v) => -1 + (2 * v) / (r - 1));
      return 2 * x - y + 0.5 * z;
    };
    for (let p = 0; p < 5; p++) {
      let sum = 0;
      let value = 0;
      for (let c = 0; c < 8; c++) {
        sum += weight[8 * p + c];
        value += weight[8 * p + c] * vertexValue(index[8 * p + c]);
        expect(index[8 * p + c]).toBeGreaterThanOrEqual(0);
        expect(index[8 * p + c]).toBeLessThan(r ** 3);
      }
      expect(sum).toBeCloseTo(1, 6);
      const clamp = (v: number) => Math.min(Math.max(v, -1), 1);
      const [x, y, z] = [clamp(xyz[3 * p]), clamp(xyz[3 * p + 1]), clamp(xyz[3 * p + 2])];
      expect(value).toBeCloseTo(2 * x - y + 0.5 * z, 5);
    }
  });

  it("'fused' and 'gather' give the same values and gradients", () => {
    const base = CONFIGS.grid as { kind: 'grid' };
    const fused = new GridField({ ...base, interpolation: 'fused' }, 6);
    const gather = new GridField({ ...base, interpolation: 'gather' }, 6);
    const points = randomPoints(200, 1.1, 11);
    const w = tf.randomNormal([200, 3], 0, 1, 'float32', 1);
    const run = (field: GridField) =>
      tf.variableGrads(() => {
        const q = field.query(points);
        return tf.add(tf.sum(tf.mul(q.albedo, w)), tf.sum(tf.log1p(q.density))) as tf.Scalar;
      }, [...field.variables().values()]);
    const a = run(fused);
    const b = run(gather);
    expect(a.value.dataSync()[0]).toBeCloseTo(b.value.dataSync()[0], 4);
    const varsB = gather.variables();
    for (const [key, v] of fused.variables()) {
      const ga = a.grads[v.name].dataSync();
      const gb = b.grads[varsB.get(key)!.name].dataSync();
      let maxDiff = 0;
      let maxAbs = 0;
      for (let i = 0; i < ga.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(ga[i] - gb[i]));
        maxAbs = Math.max(maxAbs, Math.abs(gb[i]));
      }
      expect(maxAbs, key).toBeGreaterThan(0);
      expect(maxDiff, key).toBeLessThan(1e-5 * Math.max(1, maxAbs));
    }
    tf.dispose([a.value, b.value, a.grads, b.grads, points, w]);
    fused.dispose();
    gather.dispose();
  });
});

describe('OccupancyGrid', () => {
  it('marks the blob occupied and the corners empty, deterministically for a seed', () => {
    const field = createField(CONFIGS.grid, 1);
    const a = new OccupancyGrid(field.bound, { resolution: 16 });
    const b = new OccupancyGrid(field.bound, { resolution: 16 });
    expect(a.occupiedFraction()).toBe(1); // nothing is skipped before the first update
    a.update(field, 3);
    b.update(field, 3);
    expect(Array.from(a.values)).toEqual(Array.from(b.values));
    expect(a.occupied(0, 0, 0)).toBe(true);
    expect(a.occupied(0.2, -0.2, 0.1)).toBe(true);
    expect(a.occupied(0.95, 0.95, 0.95)).toBe(false);
    expect(a.occupied(-0.95, 0.9, -0.9)).toBe(false);
    expect(a.occupied(0, 0, 1.5)).toBe(false); // outside the cube
    const f = a.occupiedFraction();
    expect(f).toBeGreaterThan(0.02);
    expect(f).toBeLessThan(0.5);
    field.dispose();
  });

  it('decays values by the EMA rule; the mean clamp keeps the densest cells of a fading field', () => {
    const grid = new OccupancyGrid(1, { resolution: 4, decay: 0.5, threshold: 1 });
    const state = { density: 100 };
    // A stand-in field, dense on the x < 0 half: update uses only `bound` and `density`.
    const stub = {
      bound: 1,
      density: (p: tf.Tensor2D) =>
        tf.tidy(() => tf.mul(tf.cast(tf.less(tf.slice(p, [0, 0], [-1, 1]).reshape([-1]), 0), 'float32'), state.density)) as tf.Tensor1D,
    } as unknown as RadianceField;
    grid.update(stub);
    expect(grid.occupied(-0.5, 0.1, 0.1)).toBe(true);
    expect(grid.occupied(0.5, 0.1, 0.1)).toBe(false);
    expect(grid.occupiedFraction()).toBe(0.5);
    state.density = 0;
    for (let i = 0; i < 7; i++) grid.update(stub);
    expect(grid.values[0]).toBeCloseTo(100 * 0.5 ** 7, 4); // cell (0, 0, 0) is on the dense side
    expect(grid.values[3]).toBe(0);
    // 0.78 is below the threshold 1, but at least the mean (0.39): still occupied.
    expect(grid.occupied(-0.5, 0.1, 0.1)).toBe(true);
    expect(grid.occupied(0.5, 0.1, 0.1)).toBe(false);
  });

  it('dilation marks the cells around occupied ones; restore rebuilds the mask from saved values', () => {
    // one dense cell at (1, 1, 1) of an 8³ grid over [-1, 1]³ (cells 0.25 wide)
    const dense = {
      bound: 1,
      density: (p: tf.Tensor2D) =>
        tf.tidy(() => {
          const inCell = tf.all(tf.logicalAnd(tf.greaterEqual(p, -0.75), tf.less(p, -0.5)), 1);
          return tf.mul(tf.cast(inCell, 'float32'), 50);
        }) as tf.Tensor1D,
    } as unknown as RadianceField;
    const plain = new OccupancyGrid(1, { resolution: 8, threshold: 1 });
    const grown = new OccupancyGrid(1, { resolution: 8, threshold: 1, dilation: 2 });
    plain.update(dense, 1);
    grown.update(dense, 1);
    expect(plain.occupiedFraction() * 512).toBe(1);
    // cells 0..3 along each axis: a 4×4×4 block
    expect(grown.occupiedFraction() * 512).toBe(64);
    expect(grown.occupied(-0.1, -0.1, -0.1)).toBe(true); // cell 3
    expect(grown.occupied(0.1, -0.1, -0.1)).toBe(false); // cell 4 along x
    const copy = new OccupancyGrid(1, { resolution: 8, threshold: 1, dilation: 2 });
    copy.restore(grown.values);
    expect(Array.from(copy.mask)).toEqual(Array.from(grown.mask));
  });

  it('a field with no density anywhere stays occupied everywhere, so it can still learn', () => {
    const grid = new OccupancyGrid(1, { resolution: 4 });
    const empty = { bound: 1, density: (p: tf.Tensor2D) => tf.zeros([p.shape[0]]) as tf.Tensor1D } as unknown as RadianceField;
    grid.update(empty);
    expect(grid.occupiedFraction()).toBe(1);
  });
});
