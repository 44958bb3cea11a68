import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NodeIO } from '@gltf-transform/core';
import validator from 'gltf-validator';
import * as THREE from 'three';
import { afterAll, describe, expect, it } from 'vitest';
import { extractMesh, meshToGroup, type ExtractedMesh } from '../../nerf/extract-mesh.js';
import { chooseIsoLevel, largestPieceGenus, MAX_GENUS, robustMax, RUNG_RATIO, RUNGS } from '../../nerf/iso-level.js';
import { marchingCubes, type IndexedMesh, type Vec3Tuple } from '../../nerf/marching-cubes.js';
import { connectedComponents, FLOATER_FRACTION, removeFloaters, simplifyMesh, vertexNormals } from '../../nerf/mesh-cleanup.js';
import { srgbToLinear } from '../../renderers/color.js';
import { renderTurntable } from '../../renderers/turntable.js';
import { writeBytesPng } from '../../src/io/image.js';
import { Dd3dError } from '../../src/core/errors.js';
import { extractedToGlbMesh, writeGlb } from '../../src/io/glb.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-mesh-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Field = (x: number, y: number, z: number) => number;

/** Samples `f` on a dims grid over bounds, x fastest (the layout marchingCubes takes). */
function sampleField(f: Field, dims: Vec3Tuple, min: Vec3Tuple, max: Vec3Tuple): Float32Array {
  const [nx, ny, nz] = dims;
  const out = new Float32Array(nx * ny * nz);
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const x = min[0] + ((max[0] - min[0]) * i) / (nx - 1);
        const y = min[1] + ((max[1] - min[1]) * j) / (ny - 1);
        const z = min[2] + ((max[2] - min[2]) * k) / (nz - 1);
        out[i + nx * (j + ny * k)] = f(x, y, z);
      }
  return out;
}

/** Positive inside a ball (a density-like field with the surface at 0). */
const ball =
  (r: number, cx = 0, cy = 0, cz = 0): Field =>
  (x, y, z) =>
    r - Math.hypot(x - cx, y - cy, z - cz);

interface Topology {
  vertices: number;
  edges: number;
  faces: number;
  euler: number;
  /** Every directed edge appears once and its reverse once: closed, manifold, consistently wound. */
  closed: boolean;
  area: number;
  /** Positive when faces wind counter-clockwise seen from outside. */
  signedVolume: number;
}

function topology(mesh: IndexedMesh): Topology {
  const { positions: p, indices } = mesh;
  const nv = p.length / 3;
  const directed = new Map<number, number>();
  let area = 0;
  let volume = 0;
  for (let t = 0; t < indices.length; t += 3) {
    const tri = [indices[t]!, indices[t + 1]!, indices[t + 2]!];
    for (let e = 0; e < 3; e++) {
      const key = tri[e]! * nv + tri[(e + 1) % 3]!;
      directed.set(key, (directed.get(key) ?? 0) + 1);
    }
    const [a, b, c] = tri.map((i) => new THREE.Vector3(p[3 * i], p[3 * i + 1], p[3 * i + 2]));
    const cross = new THREE.Vector3().subVectors(b!, a!).cross(new THREE.Vector3().subVectors(c!, a!));
    area += cross.length() / 2;
    volume += a!.dot(new THREE.Vector3().crossVectors(b!, c!)) / 6;
  }
  let closed = true;
  for (const [key, n] of directed) {
    const from = Math.floor(key / nv),
      to = key % nv;
    if (n !== 1 || directed.get(to * nv + from) !== 1) closed = false;
  }
  const used = new Set(indices).size;
  const edges = directed.size / 2;
  const faces = indices.length / 3;
  return { vertices: used, edges, faces, euler: used - edges + faces, closed, area, signedVolume: volume };
}

describe('marchingCubes', () => {
  it('turns an analytic sphere into a closed, outward-wound genus-0 mesh of the right size', () => {
    const r = 0.7;
    const dims: Vec3Tuple = [48, 48, 48];
    const mesh = marchingCubes(sampleField(ball(r), dims, [-1, -1, -1], [1, 1, 1]), dims, { min: [-1, -1, -1], max: [1, 1, 1] }, 0);
    const t = topology(mesh);
    expect(t.closed).toBe(true);
    expect(t.euler).toBe(2);
    expect(t.vertices).toBe(mesh.positions.length / 3); // no orphan vertices: one per crossed edge
    expect(t.area / (4 * Math.PI * r * r)).toBeCloseTo(1, 1);
    expect(Math.abs(t.area / (4 * Math.PI * r * r) - 1)).toBeLessThan(0.03);
    expect(Math.abs(t.signedVolume / ((4 / 3) * Math.PI * r ** 3) - 1)).toBeLessThan(0.03);
    for (let i = 0; i < mesh.positions.length; i += 3) {
      expect(Math.hypot(mesh.positions[i]!, mesh.positions[i + 1]!, mesh.positions[i + 2]!)).toBeCloseTo(r, 2);
    }
  });

  it('gives a torus Euler characteristic 0, on an anisotropic grid with offset bounds', () => {
    const [R, a] = [0.6, 0.25];
    const torus: Field = (x, y, z) => a - Math.hypot(Math.hypot(x - 0.1, z) - R, y + 0.05);
    const dims: Vec3Tuple = [50, 24, 44];
    const bounds = { min: [-0.95, -0.4, -1] as Vec3Tuple, max: [1.1, 0.35, 0.95] as Vec3Tuple };
    const mesh = marchingCubes(sampleField(torus, dims, bounds.min, bounds.max), dims, bounds, 0);
    const t = topology(mesh);
    expect(t.closed).toBe(true);
    expect(t.euler).toBe(0);
    expect(Math.abs(t.area / (4 * Math.PI * Math.PI * R * a) - 1)).toBeLessThan(0.04);
    expect(Math.abs(t.signedVolume / (2 * Math.PI * Math.PI * R * a * a) - 1)).toBeLessThan(0.04);
  });

  it('stays closed and consistently wound on a noisy field full of ambiguous cubes', () => {
    let s = 12345;
    const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const n = 20;
    const values = new Float32Array(n * n * n).map(() => rand() - 0.5);
    // Outside on the grid's border so every piece of surface closes inside the grid.
    for (let k = 0; k < n; k++)
      for (let j = 0; j < n; j++)
        for (let i = 0; i < n; i++) {
          if ([i, j, k].some((c) => c === 0 || c === n - 1)) values[i + n * (j + n * k)] = -1;
        }
    const mesh = marchingCubes(values, [n, n, n], { min: [0, 0, 0], max: [1, 1, 1] }, 0);
    expect(mesh.indices.length).toBeGreaterThan(10000);
    const t = topology(mesh);
    expect(t.closed).toBe(true);
    expect(t.signedVolume).toBeGreaterThan(0);
  });

  it('treats NaN as outside and rejects inconsistent input', () => {
    const dims: Vec3Tuple = [16, 16, 16];
    const values = sampleField(ball(0.6), dims, [-1, -1, -1], [1, 1, 1]);
    values[0] = NaN;
    const t = topology(marchingCubes(values, dims, { min: [-1, -1, -1], max: [1, 1, 1] }, 0));
    expect(t.closed).toBe(true);
    expect(() => marchingCubes(values, [16, 16, 15], { min: [0, 0, 0], max: [1, 1, 1] }, 0)).toThrow(/values/);
    expect(() => marchingCubes(values, dims, { min: [0, 0, 0], max: [1, 1, 1] }, NaN)).toThrow(/iso/);
  });
});

describe('mesh cleanup', () => {
  const dims: Vec3Tuple = [64, 64, 64];
  const bounds = { min: [-1, -1, -1] as Vec3Tuple, max: [1, 1, 1] as Vec3Tuple };
  const bigAndSmall: Field = (x, y, z) => Math.max(ball(0.55, -0.2)(x, y, z), ball(0.1, 0.75, 0.6, 0.5)(x, y, z));
  const raw = marchingCubes(sampleField(bigAndSmall, dims, bounds.min, bounds.max), dims, bounds, 0);

  it('finds the components and drops the small floater next to a big sphere', () => {
    const { triangleCounts } = connectedComponents(raw.indices, raw.positions.length / 3);
    expect(triangleCounts).toHaveLength(2);
    expect(triangleCounts[1]! / triangleCounts[0]!).toBeLessThan(0.05);
    const { mesh, componentsKept, componentsDropped } = removeFloaters(raw);
    expect([componentsKept, componentsDropped]).toEqual([1, 1]);
    expect(mesh.indices.length / 3).toBe(triangleCounts[0]);
    const t = topology(mesh);
    expect(t.closed).toBe(true);
    expect(t.euler).toBe(2);
    expect(t.vertices).toBe(mesh.positions.length / 3); // compacted
    for (let i = 0; i < mesh.positions.length; i += 3) expect(mesh.positions[i]!).toBeLessThan(0.4); // all on the big ball
    // an absolute floor drops nothing more here, a fraction of 0 keeps both
    expect(removeFloaters(raw, { minFraction: 0 }).componentsDropped).toBe(0);
    expect(removeFloaters(raw, { minFraction: 0, minTriangles: triangleCounts[1]! + 1 }).componentsDropped).toBe(1);
  });

  it('drops a leg-sized piece beside the body (a tenth of its triangles), which the old 5% floor kept', () => {
    const withLeg: Field = (x, y, z) => Math.max(ball(0.55, -0.2)(x, y, z), ball(0.18, 0.75, -0.5)(x, y, z));
    const mesh = marchingCubes(sampleField(withLeg, dims, bounds.min, bounds.max), dims, bounds, 0);
    const { triangleCounts } = connectedComponents(mesh.indices, mesh.positions.length / 3);
    expect(triangleCounts).toHaveLength(2);
    const share = triangleCounts[1]! / triangleCounts[0]!;
    expect(share).toBeGreaterThan(0.05);
    expect(share).toBeLessThan(FLOATER_FRACTION);
    expect(removeFloaters(mesh).componentsDropped).toBe(1);
    expect(removeFloaters(mesh, { minFraction: 0.05 }).componentsDropped).toBe(0);
  });

  it('computes unit, outward, area-weighted vertex normals', () => {
    const { mesh } = removeFloaters(raw);
    const normals = vertexNormals(mesh);
    let worst = 1;
    for (let i = 0; i < normals.length; i += 3) {
      const n = new THREE.Vector3().fromArray(normals, i);
      const radial = new THREE.Vector3()
        .fromArray(mesh.positions, i)
        .sub(new THREE.Vector3(-0.2, 0, 0))
        .normalize();
      expect(n.length()).toBeCloseTo(1, 5);
      worst = Math.min(worst, n.dot(radial));
    }
    expect(worst).toBeGreaterThan(0.98);
  });

  it('simplifies with meshoptimizer toward a triangle target, keeping the shape', async () => {
    const { mesh } = removeFloaters(raw);
    const before = topology(mesh);
    const t0 = performance.now();
    const { mesh: simple, error } = await simplifyMesh(mesh, { targetTriangles: 2000, maxError: 0.01 });
    const ms = performance.now() - t0;
    const after = topology(simple);
    console.log(
      `simplify: ${before.faces} → ${after.faces} triangles in ${ms.toFixed(0)} ms (error ${(error * 100).toFixed(2)}% of extent), closed: ${after.closed}, Euler ${after.euler}`,
    );
    expect(after.faces).toBeLessThanOrEqual(2000);
    expect(after.faces).toBeGreaterThan(1000);
    expect(after.vertices).toBe(simple.positions.length / 3);
    expect(after.closed).toBe(true);
    expect(Math.abs(after.signedVolume / before.signedVolume - 1)).toBeLessThan(0.02);
    // at or under the target: nothing to do
    expect((await simplifyMesh(simple, { targetTriangles: 5000 })).mesh.indices).toEqual(simple.indices);
  });
});

describe('extractMesh', () => {
  const R = 0.6;
  // A soft ball (density 0 outside, up to 20 inside, half-height at r = R) plus a tiny blob far off.
  const soft = (r: number, radius: number) => 20 / (1 + Math.exp((r - radius) / 0.02));
  const density = (pts: Float32Array): Float32Array => {
    const out = new Float32Array(pts.length / 3);
    for (let i = 0; i < out.length; i++) {
      const [x, y, z] = [pts[3 * i]!, pts[3 * i + 1]!, pts[3 * i + 2]!];
      out[i] = Math.max(soft(Math.hypot(x, y, z), R), soft(Math.hypot(x - 0.85, y + 0.8, z - 0.85), 0.06));
    }
    return out;
  };
  const albedoAt = (x: number, y: number, z: number): [number, number, number] => [0.5 + 0.6 * x, 0.5 + 0.6 * y, 0.5 - 0.6 * z];
  const albedo = (pts: Float32Array): Float32Array => {
    const out = new Float32Array(pts.length);
    for (let i = 0; i < pts.length; i += 3) out.set(albedoAt(pts[i]!, pts[i + 1]!, pts[i + 2]!), i);
    return out;
  };
  let extracted: ExtractedMesh | undefined;
  const sphereMesh = async (): Promise<ExtractedMesh> => (extracted ??= await extractMesh({ density, albedo, bound: 1 }));

  it('extracts a closed, coloured sphere at 128³, drops the far-off blob, and writes a valid GLB', async () => {
    const mesh = await sphereMesh();
    const { stats } = mesh;
    console.log(
      `extractMesh 128³: ${stats.seconds.toFixed(2)} s total (sampling ${stats.samplingSeconds.toFixed(2)} s, simplify ${stats.simplifySeconds.toFixed(3)} s); ` +
        `threshold ${stats.threshold.toFixed(3)}; triangles ${stats.trianglesRaw} raw → ${stats.trianglesCleaned} after dropping ${stats.componentsDropped} → ${stats.triangles}`,
    );
    expect(stats.gridResolution).toBe(128);
    // a sharp field: the first rung, half of the solid level (20)
    expect([stats.thresholdRule, stats.thresholdFraction, stats.genus]).toEqual(['auto', 0.5, 0]);
    expect(stats.threshold).toBeCloseTo(10, 0);
    expect(stats.componentsDropped).toBe(1);
    expect(stats.nanSamples).toBe(0);
    expect(stats.triangles).toBeLessThanOrEqual(20000);
    expect(stats.triangles).toBe(mesh.indices.length / 3);
    const t = topology(mesh);
    expect(t.closed).toBe(true);
    expect(t.euler).toBe(2);
    expect(Math.abs(t.signedVolume / ((4 / 3) * Math.PI * R ** 3) - 1)).toBeLessThan(0.02);
    expect(mesh.normals).toHaveLength(mesh.positions.length);
    expect(mesh.colors).toHaveLength(mesh.positions.length);
    for (let i = 0; i < mesh.positions.length; i += 3) {
      const want = albedoAt(mesh.positions[i]!, mesh.positions[i + 1]!, mesh.positions[i + 2]!).map((v) => Math.min(1, Math.max(0, v)));
      for (let c = 0; c < 3; c++) expect(mesh.colors![i + c]).toBeCloseTo(want[c]!, 5);
    }

    const file = path.join(tmp, 'sphere.glb');
    await writeGlb(file, [extractedToGlbMesh(mesh)], { name: 'sphere', extras: { stats } });
    const bytes = new Uint8Array(fs.readFileSync(file));
    const report = (await validator.validateBytes(bytes, { maxIssues: 50 })) as {
      issues: { numErrors: number; messages: Array<{ severity: number; code: string }> };
    };
    expect(report.issues.messages.filter((m) => m.severity === 0)).toEqual([]);
    const prim = (await new NodeIO().readBinary(bytes)).getRoot().listMeshes()[0]!.listPrimitives()[0]!;
    expect(prim.getAttribute('COLOR_0')!.getType()).toBe('VEC3');
    expect(prim.getAttribute('NORMAL')).not.toBeNull();
    expect(prim.getIndices()!.getCount()).toBe(mesh.indices.length);
  });

  it('caps a surface cut by the bounding cube, so the mesh stays closed', async () => {
    const mesh = await extractMesh({ density, bound: 0.3, resolution: 40, threshold: 10 });
    const t = topology(mesh);
    expect(t.closed).toBe(true);
    expect(t.signedVolume).toBeCloseTo(0.6 ** 3, 6); // the ball fills the whole cube, the caps sit on its faces
    for (const v of mesh.positions) expect(Math.abs(v)).toBeLessThanOrEqual(0.3 + 1e-6);
    expect(mesh.colors).toBeUndefined();
  });

  it('says the field is empty (a Dd3dError, not a crash) when nothing is above the threshold', async () => {
    const zero = (pts: Float32Array) => new Float32Array(pts.length / 3);
    const nan = (pts: Float32Array) => new Float32Array(pts.length / 3).fill(NaN);
    await expect(extractMesh({ density: zero, bound: 1, resolution: 16 })).rejects.toThrow(Dd3dError);
    await expect(extractMesh({ density: zero, bound: 1, resolution: 16 })).rejects.toThrow(/density field is empty/);
    await expect(extractMesh({ density, bound: 1, resolution: 16, threshold: 50 })).rejects.toThrow(/empty.*no sample is above the threshold 50/);
    await expect(extractMesh({ density: nan, bound: 1, resolution: 16 })).rejects.toThrow(/empty.*every sample is NaN/);
    await expect(extractMesh({ density: (p) => new Float32Array(p.length), bound: 1, resolution: 16 })).rejects.toThrow(/returned .* values/);
    await expect(extractMesh({ density, bound: 1, resolution: 16, threshold: 'visible' as 'auto' })).rejects.toThrow(
      /threshold must be a finite number, 'auto' or 'half-max', got visible/,
    );
  });

  it('renders as a vertex-coloured turntable whose centres show the albedo', async () => {
    const mesh = await sphereMesh();
    const group = meshToGroup(mesh);
    // Pure ambient light: the shaded colour is exactly the interpolated albedo.
    const light = { direction: new THREE.Vector3(0, 1, 0), intensity: 0, ambient: 1 };
    const size = 48;
    const strip = renderTurntable(group, { size, elevation: 20, fov: 40, light });
    await writeBytesPng(path.join(tmp, 'turntable.png'), strip);
    expect(fs.existsSync(path.join(tmp, 'turntable.png'))).toBe(true);
    expect([strip.width, strip.height, strip.channels]).toEqual([8 * size, size, 3]);
    expect(strip.azimuths).toEqual([0, 45, 90, 135, 180, 225, 270, 315]);
    for (let v = 0; v < 8; v++) {
      // The view's centre ray hits the sphere where the camera direction meets it.
      const az = (strip.azimuths[v]! * Math.PI) / 180,
        el = (20 * Math.PI) / 180;
      const hit = [Math.cos(el) * Math.sin(az), Math.sin(el), Math.cos(el) * Math.cos(az)].map((c) => c * R) as [number, number, number];
      const want = albedoAt(...hit);
      // 2×2 centre pixels, decoded back to linear
      const got = [0, 0, 0];
      for (const [dx, dy] of [
        [-1, -1],
        [0, -1],
        [-1, 0],
        [0, 0],
      ]) {
        const p = ((size / 2 + dy!) * strip.width + v * size + size / 2 + dx!) * 3;
        for (let c = 0; c < 3; c++) got[c]! += srgbToLinear(strip.data[p + c]! / 255) / 4;
      }
      for (let c = 0; c < 3; c++) expect(Math.abs(got[c]! - want[c]!), `view ${v} channel ${c}: ${got} vs ${want}`).toBeLessThan(0.03);
      // The sphere fills the view's middle and leaves a white border (framed, not cropped).
      const corner = v * size * 3;
      expect([...strip.data.subarray(corner, corner + 3)]).toEqual([255, 255, 255]);
    }
  });
});

describe('the iso level: half the robust maximum, lower when that surface is lace', () => {
  const cube = { min: [-1, -1, -1] as Vec3Tuple, max: [1, 1, 1] as Vec3Tuple };
  /** A closed plate (1.6 × 0.2 × 1.6) with `holes` round holes through it: a surface of genus `holes`. */
  const plates = new Map<number, IndexedMesh>();
  const plate = (holes: number): IndexedMesh => {
    if (plates.has(holes)) return plates.get(holes)!;
    const centres = Array.from({ length: holes }, (_, h) => [-0.6 + 0.3 * (h % 5), -0.6 + 0.3 * Math.floor(h / 5)] as const);
    const f: Field = (x, y, z) =>
      Math.min(0.8 - Math.abs(x), 0.1 - Math.abs(y), 0.8 - Math.abs(z), ...centres.map(([cx, cz]) => Math.hypot(x - cx, z - cz) - 0.08));
    const dims: Vec3Tuple = [56, 56, 56];
    plates.set(holes, marchingCubes(sampleField(f, dims, cube.min, cube.max), dims, cube, 0));
    return plates.get(holes)!;
  };

  it('counts the handles of the largest piece (sphere 0, torus 1, a plate with 7 holes 7), ignoring a small second piece', () => {
    const dims: Vec3Tuple = [48, 48, 48];
    const twoBalls: Field = (x, y, z) => Math.max(ball(0.5, -0.3)(x, y, z), ball(0.15, 0.75, 0.7)(x, y, z));
    expect(largestPieceGenus(marchingCubes(sampleField(twoBalls, dims, cube.min, cube.max), dims, cube, 0))).toBe(0);
    const torus: Field = (x, y, z) => 0.2 - Math.hypot(Math.hypot(x, z) - 0.6, y);
    expect(largestPieceGenus(marchingCubes(sampleField(torus, dims, cube.min, cube.max), dims, cube, 0))).toBe(1);
    expect(largestPieceGenus(plate(7))).toBe(7);
    expect(largestPieceGenus({ positions: new Float32Array(0), indices: new Uint32Array(0) })).toBe(0);
  });

  it('walks down the ladder to the first rung of genus at most MAX_GENUS, or else the smallest genus', () => {
    const walk = (genera: number[]) => {
      const asked: number[] = [];
      const choice = chooseIsoLevel(8, (level) => {
        asked.push(level);
        return plate(genera[asked.length - 1]!);
      });
      return { ...choice, asked };
    };
    const first = walk([14, 12, 9, 3]);
    expect(MAX_GENUS).toBe(10);
    expect([first.rung, first.genus, first.asked.length]).toEqual([2, 9, 3]); // stops there, never asks for the 4th
    expect(first.level).toBeCloseTo(4 * RUNG_RATIO ** 2, 12);
    expect(first.asked.map((l) => l / 4)).toEqual([1, RUNG_RATIO, RUNG_RATIO ** 2]);
    const none = walk([19, 17, 14, 13, 11, 12, 16, 18]);
    expect([none.rung, none.genus, none.asked.length]).toEqual([4, 11, RUNGS]);
    expect(largestPieceGenus(none.mesh)).toBe(11);
  });

  // A fog like the ones score distillation leaves (three vases of models/dd3d-mv): density 1.2–4.8
  // per unit length in a ball of radius 0.6, lumpy along a gyroid, a connected labyrinth.
  const R = 0.6;
  const gyroid = (a: number, b: number, c: number) => Math.sin(a) * Math.cos(b) + Math.sin(b) * Math.cos(c) + Math.sin(c) * Math.cos(a);
  const fog: Field = (x, y, z) => (3 * (1 + (0.6 * gyroid(15 * x, 15 * y, 15 * z)) / 1.5)) / (1 + Math.exp((Math.hypot(x, y, z) - R) / 0.02));
  const density = (pts: Float32Array): Float32Array => {
    const out = new Float32Array(pts.length / 3);
    for (let i = 0; i < out.length; i++) out[i] = fog(pts[3 * i]!, pts[3 * i + 1]!, pts[3 * i + 2]!);
    return out;
  };

  it('extracts the fog as one closed ball where half the maximum leaves lace', async () => {
    const res = 64;
    const top = robustMax(sampleField(fog, [res, res, res], cube.min, cube.max));
    expect(top).toBeGreaterThan(4.5);
    expect(top).toBeLessThan(4.9);
    const lace = await extractMesh({ density, bound: 1, resolution: res, threshold: 'half-max' });
    expect([lace.stats.thresholdRule, lace.stats.thresholdFraction]).toEqual(['half-max', 0.5]);
    expect(lace.stats.threshold).toBeCloseTo(top / 2, 5);
    expect(lace.stats.genus).toBeGreaterThan(30);
    const solid = await extractMesh({ density, bound: 1, resolution: res });
    expect(solid.stats.thresholdRule).toBe('auto');
    expect(solid.stats.thresholdFraction).toBeCloseTo(0.5 * RUNG_RATIO ** 3, 9); // the fourth rung, 0.256
    expect(solid.stats.genus).toBe(0);
    const t = topology(solid);
    expect(t.closed).toBe(true);
    expect(t.euler).toBe(2);
    expect(Math.abs(t.signedVolume / ((4 / 3) * Math.PI * R ** 3) - 1)).toBeLessThan(0.1);
    expect(topology(lace).euler).toBeLessThan(-50);
  });
});
