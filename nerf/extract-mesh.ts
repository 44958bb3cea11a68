/**
 * From a density field to a finished mesh: sample a grid, pick the iso level, march cubes,
 * drop floaters, simplify, add normals and vertex colours. This is what the 3D generator
 * calls after score distillation; `meshToGroup` (and src/io/glb.ts's `extractedToGlbMesh`) hand the result to the
 * turntable renderer and the GLB writer.
 */
import * as THREE from 'three';
import { Dd3dError } from '../src/core/errors.js';
import { chooseIsoLevel, largestPieceGenus, robustMax } from './iso-level.js';
import { marchingCubes, type IndexedMesh } from './marching-cubes.js';
import { FLOATER_FRACTION, removeFloaters, simplifyMesh, vertexNormals } from './mesh-cleanup.js';

export interface MeshExtractionOptions {
  /** Samples density at world points (xyz triplets) → one value per point. Called in chunks. */
  density: (points: Float32Array) => Float32Array;
  /** Linear RGB albedo in [0, 1] at world points → 3 values per point. Called in chunks. */
  albedo?: (points: Float32Array) => Float32Array;
  /** The field lives in the cube [−bound, bound]³. */
  bound: number;
  /** Grid points per side; default 128. */
  resolution?: number;
  /**
   * Iso level on density. 'auto' (the default) is half of the field's robust maximum (the 99.9th
   * percentile of the grid samples), or a lower rung of a ladder when that surface is lace, full
   * of holes (nerf/iso-level.ts). 'half-max' is the first rung alone, the rule before the ladder.
   * Either assumes the object fills at least ~0.1% of the cube (for bound 1, a ball of radius
   * 0.13), which any object worth extracting does.
   */
  threshold?: number | 'auto' | 'half-max';
  /** Drop pieces with fewer triangles than this fraction of the largest piece's; default FLOATER_FRACTION (0.25). */
  minComponentFraction?: number;
  /** meshoptimizer's target triangle count; default 20000. */
  targetTriangles?: number;
  /** Largest simplification error, relative to the mesh extent; default 0.01. */
  maxSimplifyError?: number;
  /** Points per density/albedo call; default 65536. */
  chunk?: number;
}

export interface ExtractionStats {
  gridResolution: number;
  threshold: number;
  /** How the threshold was chosen: a given number, 'half-max' or 'auto'. */
  thresholdRule: 'given' | 'half-max' | 'auto';
  /** The threshold over the robust maximum (the 99.9th percentile of the grid samples). */
  thresholdFraction: number;
  /** The genus of the largest piece straight out of marching cubes (lace has dozens or more). */
  genus: number;
  /** Grid samples the density function returned as NaN (treated as empty space). */
  nanSamples: number;
  /** Straight out of marching cubes. */
  trianglesRaw: number;
  componentsDropped: number;
  /** After dropping floaters, before simplification. */
  trianglesCleaned: number;
  /** Final. */
  triangles: number;
  vertices: number;
  /** Wall-clock seconds: the whole extraction, and the parts of it. */
  seconds: number;
  samplingSeconds: number;
  simplifySeconds: number;
}

export interface ExtractedMesh {
  positions: Float32Array;
  /** Unit, area-weighted vertex normals. */
  normals: Float32Array;
  indices: Uint32Array;
  /** Linear RGB per vertex in [0, 1], when an albedo function was given. */
  colors?: Float32Array;
  stats: ExtractionStats;
}

const DEFAULTS = { resolution: 128, minComponentFraction: FLOATER_FRACTION, targetTriangles: 20000, maxSimplifyError: 0.01, chunk: 65536 };

/** Runs `fn` over `points` (xyz triplets) `chunk` points at a time, checking each answer's size. */
function sampleInChunks(fn: (points: Float32Array) => Float32Array, points: Float32Array, perPoint: number, chunk: number, what: string): Float32Array {
  const n = points.length / 3;
  const out = new Float32Array(n * perPoint);
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    const got = fn(points.subarray(3 * start, 3 * end));
    if (got.length !== (end - start) * perPoint)
      throw new Dd3dError(`extractMesh: the ${what} function returned ${got.length} values for ${end - start} points (expected ${perPoint} per point)`);
    out.set(got, start * perPoint);
  }
  return out;
}

/** The grid's points in marching-cubes order (x fastest), one z-slab at a time to bound memory. */
function sampleGrid(density: MeshExtractionOptions['density'], bound: number, res: number, chunk: number): Float32Array {
  const values = new Float32Array(res * res * res);
  const step = (2 * bound) / (res - 1);
  const slabs = Math.max(1, Math.floor(chunk / (res * res)));
  for (let k0 = 0; k0 < res; k0 += slabs) {
    const k1 = Math.min(res, k0 + slabs);
    const pts = new Float32Array(3 * res * res * (k1 - k0));
    let o = 0;
    for (let k = k0; k < k1; k++)
      for (let j = 0; j < res; j++)
        for (let i = 0; i < res; i++) {
          pts[o++] = -bound + i * step;
          pts[o++] = -bound + j * step;
          pts[o++] = -bound + k * step;
        }
    values.set(sampleInChunks(density, pts, 1, chunk, 'density'), k0 * res * res);
  }
  return values;
}

/**
 * Surrounds the grid with one layer of −∞ so surfaces touching the cube's faces are capped
 * there (a capped vertex lands exactly on the face) and the mesh stays closed.
 */
function padWithEmpty(values: Float32Array, res: number): Float32Array {
  const p = res + 2;
  const out = new Float32Array(p * p * p).fill(-Infinity);
  for (let k = 0; k < res; k++)
    for (let j = 0; j < res; j++) {
      out.set(values.subarray(res * (j + res * k), res * (j + 1 + res * k)), 1 + p * (j + 1 + p * (k + 1)));
    }
  return out;
}

function describeField(values: Float32Array): string {
  let nan = 0,
    lo = Infinity,
    hi = -Infinity;
  for (const v of values) {
    if (Number.isNaN(v)) nan++;
    else {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (nan === values.length) return 'every sample is NaN';
  return `samples range over [${lo.toPrecision(4)}, ${hi.toPrecision(4)}]${nan ? `, ${nan} NaN` : ''}`;
}

/** Extracts a cleaned, simplified, coloured surface mesh from a density field. */
export async function extractMesh(o: MeshExtractionOptions): Promise<ExtractedMesh> {
  const t0 = performance.now();
  const res = o.resolution ?? DEFAULTS.resolution;
  const chunk = o.chunk ?? DEFAULTS.chunk;
  if (!(o.bound > 0 && Number.isFinite(o.bound))) throw new Dd3dError(`extractMesh: bound must be a positive number, got ${o.bound}`);
  if (!Number.isInteger(res) || res < 2 || res > 1024) throw new Dd3dError(`extractMesh: resolution must be an integer in 2..1024, got ${res}`);
  if (!Number.isInteger(chunk) || chunk < 1) throw new Dd3dError(`extractMesh: chunk must be a positive integer, got ${chunk}`);
  if (typeof o.threshold === 'number' ? !Number.isFinite(o.threshold) : o.threshold !== undefined && o.threshold !== 'auto' && o.threshold !== 'half-max')
    throw new Dd3dError(`extractMesh: threshold must be a finite number, 'auto' or 'half-max', got ${o.threshold}`);

  const values = sampleGrid(o.density, o.bound, res, chunk);
  const samplingSeconds = (performance.now() - t0) / 1000;
  const where = `in [−${o.bound}, ${o.bound}]³ at ${res}³`;
  const rule = typeof o.threshold === 'number' ? 'given' : (o.threshold ?? 'auto');
  const top = robustMax(values);
  // the first rung; 'auto' may go lower, where more samples are above
  const firstLevel = typeof o.threshold === 'number' ? o.threshold : 0.5 * top;
  if (!Number.isFinite(firstLevel))
    throw new Dd3dError(`extractMesh: the density field is empty ${where}: ${describeField(values)}, no threshold can be chosen`);
  let above = 0;
  let nanSamples = 0;
  for (const v of values) {
    if (v > firstLevel) above++;
    else if (v !== v) nanSamples++;
  }
  if (above === 0)
    throw new Dd3dError(
      `extractMesh: the density field is empty ${where}: no sample is above the threshold ${firstLevel.toPrecision(4)} (${describeField(values)})`,
    );

  // The padded grid's points sit one step outside the cube, so its bounds grow by one step.
  const step = (2 * o.bound) / (res - 1);
  const b = o.bound + step;
  const padded = padWithEmpty(values, res);
  const surfaceAt = (level: number) => marchingCubes(padded, [res + 2, res + 2, res + 2], { min: [-b, -b, -b], max: [b, b, b] }, level);
  const chosen = rule === 'auto' ? chooseIsoLevel(top, surfaceAt) : undefined;
  const threshold = chosen?.level ?? firstLevel;
  const raw = chosen?.mesh ?? surfaceAt(threshold);
  const trianglesRaw = raw.indices.length / 3;
  if (trianglesRaw === 0)
    throw new Dd3dError(`extractMesh: the density field is empty ${where}: ${above} samples above the threshold ${threshold.toPrecision(4)} make no surface`);

  const cleaned = removeFloaters(raw, { minFraction: o.minComponentFraction ?? DEFAULTS.minComponentFraction });
  const t1 = performance.now();
  const simplified = await simplifyMesh(cleaned.mesh, {
    targetTriangles: o.targetTriangles ?? DEFAULTS.targetTriangles,
    maxError: o.maxSimplifyError ?? DEFAULTS.maxSimplifyError,
  });
  const simplifySeconds = (performance.now() - t1) / 1000;
  const mesh = simplified.mesh;
  const normals = vertexNormals(mesh);
  const colors = o.albedo ? clampedColors(o.albedo, mesh, chunk) : undefined;

  return {
    positions: mesh.positions,
    normals,
    indices: mesh.indices,
    colors,
    stats: {
      gridResolution: res,
      threshold,
      thresholdRule: rule,
      thresholdFraction: threshold / top,
      genus: chosen?.genus ?? largestPieceGenus(raw),
      nanSamples,
      trianglesRaw,
      componentsDropped: cleaned.componentsDropped,
      trianglesCleaned: cleaned.mesh.indices.length / 3,
      triangles: mesh.indices.length / 3,
      vertices: mesh.positions.length / 3,
      seconds: (performance.now() - t0) / 1000,
      samplingSeconds,
      simplifySeconds,
    },
  };
}

/** Albedo at the vertices, clamped to [0, 1]; NaN becomes 0 so a bad sample cannot poison a file. */
function clampedColors(albedo: NonNullable<MeshExtractionOptions['albedo']>, mesh: IndexedMesh, chunk: number): Float32Array {
  const c = sampleInChunks(albedo, mesh.positions, 3, chunk, 'albedo');
  for (let i = 0; i < c.length; i++) c[i] = c[i]! > 0 ? (c[i]! < 1 ? c[i]! : 1) : 0;
  return c;
}

/** The mesh as a three.js group (one Mesh, vertex colours on when present), e.g. for the turntable. */
export function meshToGroup(mesh: ExtractedMesh, name = 'extracted'): THREE.Group {
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute('position', new THREE.BufferAttribute(mesh.positions, 3));
  geometry.setAttribute('normal', new THREE.BufferAttribute(mesh.normals, 3));
  if (mesh.colors) geometry.setAttribute('color', new THREE.BufferAttribute(mesh.colors, 3));
  geometry.setIndex(new THREE.BufferAttribute(mesh.indices, 1));
  geometry.computeBoundingSphere();
  const material = new THREE.MeshStandardMaterial({ color: 0xffffff, vertexColors: !!mesh.colors, roughness: 1, metalness: 0 });
  const object = new THREE.Mesh(geometry, material);
  object.name = name;
  const group = new THREE.Group();
  group.name = name;
  group.add(object);
  return group;
}
