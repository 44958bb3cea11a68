import * as THREE from 'three';
import { describe, expect, it } from 'vitest';
import {
  cameraForward,
  cameraRays,
  linearToSRGB,
  linearToSRGB8,
  orbitCamera,
  orbitPosition,
  Rasterizer,
  renderScene,
  toRGB8,
  toRGBA8,
  type RenderResult,
} from '../../renderers/index.js';
import { measureRenderThroughput, primitivesScene } from '../../src/bench/render-throughput.js';

const TAN = (deg: number) => Math.tan((deg * Math.PI) / 360); // tan of half a full angle in degrees

function headOnCamera(distance: number, fov = 40, aspect = 1): THREE.PerspectiveCamera {
  const camera = new THREE.PerspectiveCamera(fov, aspect, 0.1, 100);
  camera.position.set(0, 0, distance);
  camera.lookAt(0, 0, 0);
  return camera;
}

function basic(color: THREE.ColorRepresentation, side: THREE.Side = THREE.FrontSide): THREE.MeshBasicMaterial {
  return new THREE.MeshBasicMaterial({ color, side });
}

function unitCube(material: THREE.Material | THREE.Material[] = basic(0xff0000)): THREE.Mesh {
  return new THREE.Mesh(new THREE.BoxGeometry(1, 1, 1), material);
}

function scene(...objects: THREE.Object3D[]): THREE.Group {
  const g = new THREE.Group();
  for (const o of objects) g.add(o);
  return g;
}

function pixel(r: RenderResult, x: number, y: number) {
  const p = y * r.width + x;
  return {
    rgb: [r.rgba[4 * p], r.rgba[4 * p + 1], r.rgba[4 * p + 2]],
    alpha: r.alpha[p],
    depth: r.depth[p],
    normal: [r.normal[3 * p], r.normal[3 * p + 1], r.normal[3 * p + 2]],
  };
}

function sum(a: Float32Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s;
}

/** Number of sample positions (k + 0.5)/ss, k ∈ [0, n·ss), strictly within `half` of `centre` (pixel units). */
function samplesWithin(n: number, ss: number, centre: number, half: number): number {
  let c = 0;
  for (let k = 0; k < n * ss; k++) if (Math.abs((k + 0.5) / ss - centre) < half) c++;
  return c;
}

function expectVec(actual: number[], expected: number[], digits = 5): void {
  for (let i = 0; i < expected.length; i++) expect(actual[i]).toBeCloseTo(expected[i], digits);
}

/** A tiny deterministic generator for test points. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('renderScene: projection and coverage', () => {
  it('a unit cube seen head-on covers exactly the analytically projected square', () => {
    const d = 3;
    const fov = 40;
    // The front face (z = 0.5) is nearest and largest: its half-size in NDC is 0.5 / ((d − 0.5)·tan(fov/2)).
    const s = 0.5 / ((d - 0.5) * TAN(fov));
    for (const ss of [1, 3]) {
      const W = 64;
      const r = renderScene(scene(unitCube()), headOnCamera(d, fov), { width: W, height: W, supersample: ss });
      const n = samplesWithin(W, ss, W / 2, (s * W) / 2);
      expect(sum(r.alpha)).toBeCloseTo((n * n) / (ss * ss), 3);
    }
  });

  it('keeps pixels square when aspect = width / height (non-square image)', () => {
    const d = 3;
    const fov = 40;
    const s = 0.5 / ((d - 0.5) * TAN(fov));
    const W = 96;
    const H = 48;
    const r = renderScene(scene(unitCube()), headOnCamera(d, fov, W / H), { width: W, height: H, supersample: 1 });
    expect(r.rgba.length).toBe(4 * W * H);
    expect(r.depth.length).toBe(W * H);
    expect(r.normal.length).toBe(3 * W * H);
    // x: NDC half-size s/aspect spans (s/aspect)·W/2 = s·H/2 pixels, the same as y.
    const cols = samplesWithin(W, 1, W / 2, (s * H) / 2);
    const rows = samplesWithin(H, 1, H / 2, (s * H) / 2);
    expect(sum(r.alpha)).toBe(cols * rows);
    let minX = W;
    let maxX = -1;
    let minY = H;
    let maxY = -1;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        if (r.alpha[y * W + x] > 0) {
          minX = Math.min(minX, x);
          maxX = Math.max(maxX, x);
          minY = Math.min(minY, y);
          maxY = Math.max(maxY, y);
        }
    expect(maxX - minX).toBe(maxY - minY); // a square, centred
    expect(minX + maxX).toBe(W - 1);
    expect(minY + maxY).toBe(H - 1);
  });

  it("puts a point where three's Vector3.project puts it (pixel centres at +0.5, row 0 at the top)", () => {
    const W = 90;
    const H = 60;
    const camera = orbitCamera({ azimuth: 37, elevation: 23, radius: 3, fov: 45, aspect: W / H });
    const rand = lcg(7);
    for (let k = 0; k < 12; k++) {
      const p = new THREE.Vector3(rand() - 0.5, rand() - 0.5, rand() - 0.5).multiplyScalar(1.2);
      const ndc = p.clone().project(camera);
      const px = ((ndc.x + 1) / 2) * W;
      const py = ((1 - ndc.y) / 2) * H;
      // A small cube around p: its coverage centroid is p's projection (to perspective error ≪ 0.01 px).
      const cube = new THREE.Mesh(new THREE.BoxGeometry(0.06, 0.06, 0.06), basic(0xffffff));
      cube.position.copy(p);
      const r = renderScene(scene(cube), camera, { width: W, height: H, supersample: 8 });
      let a = 0;
      let cx = 0;
      let cy = 0;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const v = r.alpha[y * W + x];
          a += v;
          cx += v * (x + 0.5);
          cy += v * (y + 0.5);
        }
      expect(a).toBeGreaterThan(1);
      expect(Math.abs(cx / a - px)).toBeLessThan(0.08);
      expect(Math.abs(cy / a - py)).toBeLessThan(0.08);
      // And at one sample per pixel the pixel containing the projection is covered.
      const r1 = renderScene(scene(cube), camera, { width: W, height: H, supersample: 1 });
      expect(r1.alpha[Math.floor(py) * W + Math.floor(px)]).toBe(1);
    }
  });

  it('fills the background colour where nothing is drawn, with alpha 0, depth Infinity, normal 0', () => {
    const bg: [number, number, number] = [0.2, 0.5, 1];
    const r = renderScene(new THREE.Group(), headOnCamera(3), { width: 8, height: 6, background: bg });
    for (let p = 0; p < 48; p++) {
      expect([r.rgba[4 * p], r.rgba[4 * p + 1], r.rgba[4 * p + 2], r.rgba[4 * p + 3]]).toEqual([0.2, 0.5, 1, 0].map(Math.fround));
      expect(r.alpha[p]).toBe(0);
      expect(r.depth[p]).toBe(Infinity);
      expect([r.normal[3 * p], r.normal[3 * p + 1], r.normal[3 * p + 2]]).toEqual([0, 0, 0]);
    }
    // sRGB bytes of the linear background.
    expect(Array.from(toRGB8(r).subarray(0, 3))).toEqual([124, 188, 255]);
    const white = renderScene(new THREE.Group(), headOnCamera(3), { width: 2, height: 2 });
    expect(Array.from(toRGB8(white))).toEqual(new Array(12).fill(255));
  });

  it('anti-aliases: fractional coverage on edges, straight-alpha colour, binary at 1 sample', () => {
    const color = new THREE.Color(0.8, 0.1, 0.3);
    const cube = unitCube(basic(color));
    cube.rotation.z = 0.3;
    const camera = headOnCamera(3);
    const aa = renderScene(scene(cube), camera, { width: 48, height: 48, background: [0, 0, 1] });
    let partial = 0;
    for (let p = 0; p < 48 * 48; p++) {
      const a = aa.alpha[p];
      expect(aa.rgba[4 * p + 3]).toBe(a);
      if (a > 0 && a < 1) {
        partial++;
        // Straight alpha: the colour is the object's, not blended with the background…
        expect(aa.rgba[4 * p]).toBeCloseTo(color.r, 6);
        expect(aa.rgba[4 * p + 2]).toBeCloseTo(color.b, 6);
      }
    }
    expect(partial).toBeGreaterThan(40);
    // …and toRGB8 composites over the background in linear light before encoding.
    const rgb = toRGB8(aa);
    const rgba8 = toRGBA8(aa);
    for (let p = 0; p < 48 * 48; p++) {
      const a = aa.alpha[p];
      expect(rgb[3 * p + 2]).toBe(linearToSRGB8(color.b * a + (1 - a)));
      expect(rgba8[4 * p + 3]).toBe(Math.round(a * 255));
    }
    const point = renderScene(scene(cube), camera, { width: 48, height: 48, supersample: 1 });
    for (const a of point.alpha) expect(a === 0 || a === 1).toBe(true);
  });

  it('is deterministic, and separate Rasterizer instances agree', () => {
    const root = primitivesScene();
    const camera = orbitCamera({ azimuth: 20, elevation: 30, radius: 2.5, fov: 50, aspect: 4 / 3 });
    const a = renderScene(root, camera, { width: 40, height: 30 });
    const b = renderScene(root, camera, { width: 40, height: 30 });
    const c = new Rasterizer().render(root, camera, { width: 40, height: 30 });
    for (const r of [b, c]) {
      expect(r.rgba).toEqual(a.rgba);
      expect(r.depth).toEqual(a.depth);
      expect(r.normal).toEqual(a.normal);
      expect(r.alpha).toEqual(a.alpha);
    }
  });

  it('rejects bad sizes', () => {
    expect(() => renderScene(new THREE.Group(), headOnCamera(3), { width: 0, height: 4 })).toThrow(RangeError);
    expect(() => renderScene(new THREE.Group(), headOnCamera(3), { width: 4.5, height: 4 })).toThrow(RangeError);
    expect(() => renderScene(new THREE.Group(), headOnCamera(3), { width: 4, height: 4, supersample: 0 })).toThrow(RangeError);
  });
});

describe('renderScene: depth, normals and faces', () => {
  it('depth is the view-space z-depth and grows with distance; nearer surfaces win', () => {
    const camera = headOnCamera(3);
    const near = renderScene(scene(unitCube()), camera, { width: 32, height: 32 });
    // A face parallel to the image has one z-depth everywhere (it is not the ray length).
    for (let p = 0; p < 32 * 32; p++) if (near.alpha[p] === 1) expect(near.depth[p]).toBeCloseTo(2.5, 4);
    const far = unitCube();
    far.position.z = -2;
    const farR = renderScene(scene(far), camera, { width: 32, height: 32 });
    expect(pixel(farR, 16, 16).depth).toBeCloseTo(4.5, 4);
    // Both: the near cube hides the far one, whatever the drawing order.
    for (const objects of [
      [unitCube(basic(0xff0000)), far],
      [far, unitCube(basic(0xff0000))],
    ]) {
      const both = renderScene(scene(...objects), camera, { width: 32, height: 32 });
      expect(pixel(both, 16, 16).depth).toBeCloseTo(2.5, 4);
      expect(pixel(both, 16, 16).rgb).toEqual([1, 0, 0]);
    }
    // A tilted floor: farther rows (toward the top of the image) are deeper.
    const floor = new THREE.Mesh(new THREE.PlaneGeometry(4, 4), basic(0x808080));
    floor.rotation.x = -Math.PI / 2;
    floor.position.y = -0.5;
    const f = renderScene(scene(floor), orbitCamera({ azimuth: 0, elevation: 25, radius: 3, fov: 50 }), { width: 32, height: 32 });
    let prev = Infinity;
    for (let y = 31; y >= 0; y--) {
      const d = pixel(f, 16, y).depth;
      if (d === Infinity) break;
      expect(d).toBeGreaterThan(prev === Infinity ? 0 : prev);
      prev = d;
    }
    expect(prev).toBeGreaterThan(3);
  });

  it('reports world-space normals of box faces', () => {
    const cube = unitCube(new THREE.MeshStandardMaterial({ color: 0xffffff }));
    const views: Array<[number, number, number[]]> = [
      [0, 0, [0, 0, 1]],
      [90, 0, [1, 0, 0]],
      [180, 0, [0, 0, -1]],
      [-90, 0, [-1, 0, 0]],
      [0, 90, [0, 1, 0]],
      [0, -90, [0, -1, 0]],
    ];
    for (const [azimuth, elevation, n] of views) {
      const r = renderScene(scene(cube), orbitCamera({ azimuth, elevation, radius: 3, fov: 40 }), { width: 16, height: 16 });
      expectVec(pixel(r, 8, 8).normal, n);
    }
    const turned = unitCube(new THREE.MeshStandardMaterial({ color: 0xffffff }));
    turned.rotation.y = 0.3;
    const r = renderScene(scene(turned), headOnCamera(3), { width: 16, height: 16 });
    expectVec(pixel(r, 8, 8).normal, [Math.sin(0.3), 0, Math.cos(0.3)]);
  });

  it('culls faces as three does: FrontSide, BackSide, DoubleSide, and mirrored objects', () => {
    const front = headOnCamera(3); // looks at the plane's front (+Z normal)
    const back = headOnCamera(-3); // from behind
    const plane = (side: THREE.Side) => new THREE.Mesh(new THREE.PlaneGeometry(1, 1), new THREE.MeshStandardMaterial({ color: 0xffffff, side }));
    const at = (obj: THREE.Object3D, cam: THREE.PerspectiveCamera) => pixel(renderScene(scene(obj), cam, { width: 16, height: 16 }), 8, 8);

    expect(at(plane(THREE.FrontSide), front).alpha).toBe(1);
    expect(at(plane(THREE.FrontSide), back).alpha).toBe(0);
    expect(at(plane(THREE.BackSide), front).alpha).toBe(0);
    expect(at(plane(THREE.BackSide), back).alpha).toBe(1);
    expectVec(at(plane(THREE.BackSide), back).normal, [0, 0, -1]); // FLIP_SIDED
    expectVec(at(plane(THREE.DoubleSide), front).normal, [0, 0, 1]);
    expectVec(at(plane(THREE.DoubleSide), back).normal, [0, 0, -1]); // faceDirection

    // A negative scale reverses the winding; three then calls clockwise faces front faces.
    const mirrored = plane(THREE.FrontSide);
    mirrored.scale.set(-1, 1, 1);
    expect(mirrored.matrixWorld.determinant()).toBe(1); // not updated yet: renderScene must do it
    expect(at(mirrored, front).alpha).toBe(1);
    expect(at(mirrored, back).alpha).toBe(0);
    const parent = new THREE.Group();
    parent.scale.set(1, -1, 1); // mirrored by an ancestor
    parent.add(plane(THREE.FrontSide));
    expect(at(parent, front).alpha).toBe(1);
    expect(at(parent, back).alpha).toBe(0);

    // A mirrored closed box shows its outside: the front face's depth and outward normal.
    const box = unitCube(new THREE.MeshStandardMaterial({ color: 0xffffff }));
    box.scale.set(-1, 1, 1);
    const p = at(box, front);
    expect(p.depth).toBeCloseTo(2.5, 4);
    expectVec(p.normal, [0, 0, 1]);
  });

  it('shades Lambert plus ambient under one directional light; MeshBasicMaterial is unlit', () => {
    const color = new THREE.Color(0.5, 0.25, 1); // linear, as three stores it
    const plane = new THREE.Mesh(new THREE.PlaneGeometry(1, 1), new THREE.MeshStandardMaterial({ color }));
    const camera = headOnCamera(3);
    const shade = (light: Parameters<typeof renderScene>[2]['light'], obj: THREE.Object3D = plane) =>
      pixel(renderScene(scene(obj), camera, { width: 8, height: 8, light }), 4, 4).rgb;
    const s60 = Math.sin(Math.PI / 3);
    expectVec(shade({ direction: new THREE.Vector3(0, 0, 1), intensity: 0.7, ambient: 0.3 }), [0.5, 0.25, 1]);
    expectVec(shade({ direction: new THREE.Vector3(0, s60, 0.5).multiplyScalar(3), intensity: 0.7, ambient: 0.3 }), [0.325, 0.1625, 0.65]);
    expectVec(shade({ direction: new THREE.Vector3(0, 0, -1), intensity: 0.7, ambient: 0.3 }), [0.15, 0.075, 0.3]);
    expectVec(shade({ direction: new THREE.Vector3(0, 0, 1), color: [1, 0.5, 0], intensity: 0.5, ambient: [0.1, 0.2, 0.3] }), [0.3, 0.1125, 0.3]);
    const glowing = new THREE.Mesh(plane.geometry, new THREE.MeshLambertMaterial({ color, emissive: new THREE.Color(0.1, 0, 0), emissiveIntensity: 2 }));
    expectVec(shade({ direction: new THREE.Vector3(0, 0, -1), intensity: 0.7, ambient: 0.3 }, glowing), [0.35, 0.075, 0.3]);
    const unlit = new THREE.Mesh(plane.geometry, basic(color));
    expectVec(shade({ direction: new THREE.Vector3(0, 0, -1), intensity: 0.7, ambient: 0 }, unlit), [0.5, 0.25, 1]);
    // Interpolated vertex normals: a sphere's centre faces the camera, its rim does not.
    const ball = new THREE.Mesh(new THREE.SphereGeometry(0.5, 64, 32), new THREE.MeshStandardMaterial({ color: 0xffffff }));
    const r = renderScene(scene(ball), camera, { width: 32, height: 32, light: { direction: new THREE.Vector3(0, 0, 1), intensity: 1, ambient: 0 } });
    expect(pixel(r, 16, 16).rgb[0]).toBeGreaterThan(0.99);
    expect(pixel(r, 16, 16).rgb[0]).toBeGreaterThan(pixel(r, 16, 11).rgb[0]);
    expect(pixel(r, 16, 11).rgb[0]).toBeGreaterThan(pixel(r, 16, 9).rgb[0]);
  });

  it('flat shading turns the face normal toward the camera, as three does', () => {
    const ball = new THREE.Mesh(new THREE.SphereGeometry(0.5, 8, 6), new THREE.MeshStandardMaterial({ color: 0xffffff, flatShading: true }));
    const r = renderScene(scene(ball), headOnCamera(3), { width: 32, height: 32, supersample: 1 });
    const ray = cameraRays(headOnCamera(3), 32, 32).directions;
    // Every covered pixel's normal faces the camera (against the ray through it).
    let covered = 0;
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++) {
        const p = pixel(r, x, y);
        if (p.alpha === 0) continue;
        covered++;
        const q = 3 * (y * 32 + x);
        expect(p.normal[0] * ray[q] + p.normal[1] * ray[q + 1] + p.normal[2] * ray[q + 2]).toBeLessThan(0);
      }
    expect(covered).toBeGreaterThan(100);
    // Facets are flat: the centre pixel's normal is one facet normal, not the sphere's (0, 0, 1).
    const n = pixel(r, 16, 16).normal;
    expect(Math.abs(n[2])).toBeLessThan(0.999);
  });

  it('clips against the near and far planes like WebGL (a floor that passes behind the camera)', () => {
    const W = 40;
    const H = 30;
    const camera = new THREE.PerspectiveCamera(60, W / H, 0.1, 20);
    camera.position.set(0, 0, 0);
    camera.lookAt(0, 0, -1);
    const floor = new THREE.Mesh(new THREE.PlaneGeometry(100, 100), basic(0x808080));
    floor.rotation.x = -Math.PI / 2;
    floor.position.y = -1;
    const r = renderScene(scene(floor), camera, { width: W, height: H, supersample: 1 });
    const { directions } = cameraRays(camera, W, H);
    let covered = 0;
    for (let p = 0; p < W * H; p++) {
      const dy = directions[3 * p + 1];
      const dz = directions[3 * p + 2];
      // Hit y = −1 at t = 1/−dy; z-depth = t·(−dz); inside the far plane and the plane's extent.
      const t = dy < 0 ? -1 / dy : Infinity;
      const zDepth = t * -dz;
      const hit = zDepth < 20 && Math.abs(t * directions[3 * p]) < 50 && t * -dz < 50;
      const margin = Math.abs(zDepth - 20) > 0.05;
      if (margin) expect(r.alpha[p], `pixel ${p}`).toBe(hit ? 1 : 0);
      if (hit && margin) {
        covered++;
        expect(r.depth[p]).toBeCloseTo(zDepth, 3);
      }
    }
    expect(covered).toBeGreaterThan((W * H) / 4);
  });

  it('draws visible meshes only: visibility of ancestors, layers, material.visible, drawRange, groups', () => {
    const camera = headOnCamera(3);
    const covered = (root: THREE.Object3D) => sum(renderScene(root, camera, { width: 16, height: 16 }).alpha);
    const hiddenParent = scene(unitCube());
    hiddenParent.visible = false;
    expect(covered(scene(hiddenParent))).toBe(0);
    const otherLayer = unitCube();
    otherLayer.layers.set(3);
    expect(covered(scene(otherLayer))).toBe(0);
    expect(covered(scene(new THREE.Mesh(new THREE.BoxGeometry(), new THREE.MeshBasicMaterial({ visible: false }))))).toBe(0);
    const ranged = unitCube();
    ranged.geometry.setDrawRange(0, 0);
    expect(covered(scene(ranged))).toBe(0);
    expect(covered(scene(new THREE.Points(new THREE.BoxGeometry())))).toBe(0);
    // Material arrays follow geometry groups: BoxGeometry's +Z face is group 4.
    const colours = [0xff0000, 0x00ff00, 0x0000ff, 0xffff00, 0xff00ff, 0x00ffff];
    const box = unitCube(colours.map((c) => basic(c)));
    const r = renderScene(scene(box), camera, { width: 16, height: 16 });
    expectVec(pixel(r, 8, 8).rgb, [1, 0, 1]);
    // InstancedMesh: one draw per instance matrix.
    const inst = new THREE.InstancedMesh(new THREE.BoxGeometry(0.4, 0.4, 0.4), basic(0xffffff), 2);
    inst.setMatrixAt(0, new THREE.Matrix4().makeTranslation(-0.5, 0, 0));
    inst.setMatrixAt(1, new THREE.Matrix4().makeTranslation(0.5, 0, 0));
    const ri = renderScene(scene(inst), camera, { width: 32, height: 32 });
    expect(pixel(ri, 16, 16).alpha).toBe(0);
    expect(pixel(ri, 9, 16).alpha).toBe(1);
    expect(pixel(ri, 22, 16).alpha).toBe(1);
  });

  it('renders non-indexed, interleaved and quantized geometry the same as plain indexed geometry', () => {
    const camera = orbitCamera({ azimuth: 30, elevation: 20, radius: 3, fov: 40 });
    const base = new THREE.BoxGeometry(1, 1, 1);
    const ref = renderScene(scene(new THREE.Mesh(base, basic(0xffffff))), camera, { width: 24, height: 24 });
    const nonIndexed = renderScene(scene(new THREE.Mesh(base.toNonIndexed(), basic(0xffffff))), camera, { width: 24, height: 24 });
    expect(nonIndexed.alpha).toEqual(ref.alpha);
    const pos = base.getAttribute('position') as THREE.BufferAttribute;
    const inter = new THREE.InterleavedBuffer(new Float32Array(pos.count * 4), 4);
    for (let i = 0; i < pos.count; i++) inter.array.set([pos.getX(i), pos.getY(i), pos.getZ(i), 9], i * 4);
    const g = new THREE.BufferGeometry();
    g.setAttribute('position', new THREE.InterleavedBufferAttribute(inter, 3, 0));
    g.setIndex(base.getIndex());
    expect(renderScene(scene(new THREE.Mesh(g, basic(0xffffff))), camera, { width: 24, height: 24 }).alpha).toEqual(ref.alpha);
    const q = new THREE.BufferGeometry();
    const i16 = new Int16Array(pos.count * 3);
    for (let i = 0; i < pos.count * 3; i++) i16[i] = Math.round((pos.array as Float32Array)[i] * 2 * 32767);
    q.setAttribute('position', new THREE.BufferAttribute(i16, 3, true));
    q.setIndex(base.getIndex());
    const qm = new THREE.Mesh(q, basic(0xffffff));
    qm.scale.setScalar(0.5);
    const qr = renderScene(scene(qm), camera, { width: 24, height: 24 });
    let diff = 0;
    for (let p = 0; p < 24 * 24; p++) diff += Math.abs(qr.alpha[p] - ref.alpha[p]);
    expect(diff).toBeLessThan(0.5);
  });
});

describe('renderScene: vertex colours', () => {
  /**
   * A floor quad at y = −1 from z = zNear to z = zFar whose vertex colours go from `near` to
   * `far`: the colour is affine in world z, so a perspective-correct renderer reproduces the
   * colour of the exact 3D point each pixel centre sees.
   */
  function colouredFloor(zNear: number, zFar: number, near: number[], far: number[], material: THREE.Material): THREE.Mesh {
    const g = new THREE.BufferGeometry();
    g.setAttribute('position', new THREE.Float32BufferAttribute([-3, -1, zNear, 3, -1, zNear, 3, -1, zFar, -3, -1, zFar], 3));
    g.setAttribute('normal', new THREE.Float32BufferAttribute([0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0], 3));
    g.setAttribute('color', new THREE.Float32BufferAttribute([...near, ...near, ...far, ...far], near.length));
    g.setIndex([0, 1, 2, 0, 2, 3]); // counter-clockwise seen from above
    return new THREE.Mesh(g, material);
  }

  /** Max |rendered − expected| over covered pixels, expected from the ray's hit on the floor. */
  function floorColourError(
    mesh: THREE.Mesh,
    camera: THREE.PerspectiveCamera,
    zNear: number,
    zFar: number,
    near: number[],
    far: number[],
    tint: number[],
    W = 40,
    H = 30,
  ) {
    const r = renderScene(scene(mesh), camera, { width: W, height: H, supersample: 1 });
    const { origins, directions } = cameraRays(camera, W, H);
    let worst = 0;
    let covered = 0;
    for (let p = 0; p < W * H; p++) {
      if (r.alpha[p] !== 1) continue;
      const t = (-1 - origins[3 * p + 1]) / directions[3 * p + 1];
      const z = origins[3 * p + 2] + t * directions[3 * p + 2];
      const s = (zNear - z) / (zNear - zFar);
      if (s < 0.01 || s > 0.99) continue; // pixel centres right at the quad's ends
      covered++;
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(r.rgba[4 * p + c] - (near[c] + s * (far[c] - near[c])) * tint[c]));
    }
    return { worst, covered };
  }

  const NEAR = [1, 0.2, 0];
  const FAR = [0, 0.5, 1];

  it('multiplies material.color by the colour attribute, interpolated perspective-correctly', () => {
    const camera = new THREE.PerspectiveCamera(60, 40 / 30, 0.1, 50);
    camera.position.set(0, 0.5, 2);
    camera.lookAt(0, -1, -4);
    const tint = [0.8, 1, 0.5];
    const basicTinted = new THREE.MeshBasicMaterial({ color: new THREE.Color(...tint), vertexColors: true });
    const { worst, covered } = floorColourError(colouredFloor(1, -9, NEAR, FAR, basicTinted), camera, 1, -9, NEAR, FAR, tint);
    expect(covered).toBeGreaterThan(300);
    expect(worst).toBeLessThan(1e-5);
    // RGBA attributes (alpha ignored: opacity is not modelled) and normalized bytes read the same.
    const rgba = colouredFloor(1, -9, [...NEAR, 0.3], [...FAR, 0.9], basicTinted);
    expect(floorColourError(rgba, camera, 1, -9, NEAR, FAR, tint).worst).toBeLessThan(1e-5);
    const bytes = colouredFloor(1, -9, NEAR, FAR, basicTinted);
    const f32 = bytes.geometry.getAttribute('color').array as Float32Array;
    bytes.geometry.setAttribute(
      'color',
      new THREE.BufferAttribute(
        Uint8Array.from(f32, (v) => Math.round(v * 255)),
        3,
        true,
      ),
    );
    const q = (v: number) => Math.round(v * 255) / 255;
    expect(floorColourError(bytes, camera, 1, -9, NEAR.map(q), FAR.map(q), tint).worst).toBeLessThan(1e-5);
  });

  it('keeps vertex colours right on triangles clipped by the near plane', () => {
    const camera = new THREE.PerspectiveCamera(60, 40 / 30, 0.1, 50);
    camera.position.set(0, 0, 0);
    camera.lookAt(0, 0, -1);
    // The quad starts 5 units behind the camera, so every triangle crosses the near plane.
    const floor = colouredFloor(5, -15, NEAR, FAR, new THREE.MeshBasicMaterial({ vertexColors: true }));
    const { worst, covered } = floorColourError(floor, camera, 5, -15, NEAR, FAR, [1, 1, 1]);
    expect(covered).toBeGreaterThan(200);
    expect(worst).toBeLessThan(1e-5);
  });

  it('shades the vertex-coloured albedo; ignores the attribute without vertexColors; black without the attribute', () => {
    const camera = headOnCamera(3);
    const light = { direction: new THREE.Vector3(0, 0.6, 0.8), intensity: 0.5, ambient: 0.25 };
    const plane = new THREE.PlaneGeometry(1, 1);
    plane.setAttribute('color', new THREE.Float32BufferAttribute(new Array(4).fill([0.5, 1, 0.25]).flat(), 3));
    const centre = (material: THREE.Material, geometry: THREE.BufferGeometry = plane) =>
      pixel(renderScene(scene(new THREE.Mesh(geometry, material)), camera, { width: 8, height: 8, light }), 4, 4).rgb;
    const shading = 0.25 + 0.5 * 0.8;
    expectVec(centre(new THREE.MeshLambertMaterial({ color: new THREE.Color(0.5, 0.5, 1), vertexColors: true })), [
      0.25 * shading,
      0.5 * shading,
      0.25 * shading,
    ]);
    expectVec(centre(new THREE.MeshLambertMaterial({ color: new THREE.Color(0.5, 0.5, 1) })), [0.5 * shading, 0.5 * shading, shading]);
    // WebGL's default value for a missing attribute is (0, 0, 0, 1); emissive still adds.
    const bare = new THREE.PlaneGeometry(1, 1);
    expectVec(centre(new THREE.MeshLambertMaterial({ vertexColors: true, emissive: new THREE.Color(0, 0.1, 0) }), bare), [0, 0.1, 0]);
    // One material drawing a coloured and an uncoloured mesh takes each mesh's own colours.
    const shared = new THREE.MeshBasicMaterial({ vertexColors: true });
    const left = new THREE.Mesh(plane, shared);
    left.position.x = -0.6;
    const right = new THREE.Mesh(bare, shared);
    right.position.x = 0.6;
    const r = renderScene(scene(left, right), camera, { width: 32, height: 32, light });
    expectVec(pixel(r, 11, 16).rgb, [0.5, 1, 0.25]);
    expectVec(pixel(r, 21, 16).rgb, [0, 0, 0]);
  });
});

describe('orbit camera and rays', () => {
  it('azimuth 0 is on +Z looking at the front; 90 is on +X; elevation 90 is above', () => {
    const c0 = orbitCamera({ azimuth: 0, elevation: 0, radius: 2, fov: 50 });
    expectVec(c0.position.toArray(), [0, 0, 2]);
    expectVec(cameraForward(c0).toArray(), [0, 0, -1]);
    const c90 = orbitCamera({ azimuth: 90, elevation: 0, radius: 2, fov: 50 });
    expectVec(c90.position.toArray(), [2, 0, 0]);
    expectVec(cameraForward(c90).toArray(), [-1, 0, 0]);
    const c180 = orbitCamera({ azimuth: 180, elevation: 0, radius: 2, fov: 50 });
    expectVec(c180.position.toArray(), [0, 0, -2]);
    const top = orbitCamera({ azimuth: 0, elevation: 90, radius: 2, fov: 50 });
    expectVec(top.position.toArray(), [0, 2, 0]);
    expectVec(cameraForward(top).toArray(), [0, -1, 0]);
    // From above, the object's back (−Z) is at the top of the image, as in the views just below the pole.
    expect(new THREE.Vector3(0, 0, -0.5).project(top).y).toBeGreaterThan(0.1);
    const nearTop = orbitCamera({ azimuth: 40, elevation: 89.9, radius: 2, fov: 50 });
    const atTop = orbitCamera({ azimuth: 40, elevation: 90, radius: 2, fov: 50 });
    const pt = new THREE.Vector3(0.3, 0.1, -0.2);
    expect(pt.clone().project(nearTop).distanceTo(pt.clone().project(atTop))).toBeLessThan(0.01);
    const below = orbitCamera({ azimuth: 0, elevation: -30, radius: 2, fov: 50 });
    expect(below.position.y).toBeCloseTo(-1, 6);
    expectVec(orbitPosition(30, 45, 2, new THREE.Vector3(1, 2, 3)).toArray(), [1 + Math.SQRT2 * 0.5, 2 + Math.SQRT2, 3 + Math.SQRT2 * Math.sqrt(3) * 0.5]);
    // The target moves the orbit.
    const t = orbitCamera({ azimuth: 0, elevation: 0, radius: 2, fov: 50, target: new THREE.Vector3(1, 1, 1) });
    expectVec(t.position.toArray(), [1, 1, 3]);
    expect(() => orbitCamera({ azimuth: 0, elevation: 0, radius: 0, fov: 50 })).toThrow(RangeError);
  });

  it('azimuth 0 sees the object front (+Z), 180 its back, 90 its +X side', () => {
    const marker = (color: number, pos: [number, number, number]) => {
      const m = new THREE.Mesh(new THREE.BoxGeometry(0.2, 0.2, 0.2), basic(color));
      m.position.set(...pos);
      return m;
    };
    const root = scene(
      new THREE.Mesh(new THREE.SphereGeometry(0.5, 24, 12), basic(0x808080)),
      marker(0xff0000, [0, 0, 0.55]),
      marker(0x0000ff, [0, 0, -0.55]),
      marker(0x00ff00, [0.55, 0, 0]),
    );
    const centre = (azimuth: number) =>
      pixel(renderScene(root, orbitCamera({ azimuth, elevation: 0, radius: 3, fov: 40 }), { width: 33, height: 33 }), 16, 16).rgb;
    expectVec(centre(0), [1, 0, 0]);
    expectVec(centre(180), [0, 0, 1]);
    expectVec(centre(90), [0, 1, 0]);
  });

  it('cameraRays pass through the pixel centres that Vector3.project maps points to', () => {
    const W = 48;
    const H = 32;
    const camera = orbitCamera({ azimuth: 30, elevation: 20, radius: 2.5, fov: 50, aspect: W / H });
    const { origins, directions } = cameraRays(camera, W, H);
    expect(origins.length).toBe(3 * W * H);
    const rand = lcg(3);
    for (let k = 0; k < 50; k++) {
      const i = Math.floor(rand() * W);
      const j = Math.floor(rand() * H);
      const p = 3 * (j * W + i);
      const d = new THREE.Vector3(directions[p], directions[p + 1], directions[p + 2]);
      expect(d.length()).toBeCloseTo(1, 6);
      expectVec([origins[p], origins[p + 1], origins[p + 2]], camera.position.toArray());
      const point = new THREE.Vector3(origins[p], origins[p + 1], origins[p + 2]).addScaledVector(d, 0.5 + 3 * rand());
      const ndc = point.project(camera);
      expect(((ndc.x + 1) / 2) * W).toBeCloseTo(i + 0.5, 4);
      expect(((1 - ndc.y) / 2) * H).toBeCloseTo(j + 0.5, 4);
    }
  });

  it("the rasterizer's depth along each pixel's ray matches an analytic sphere hit", () => {
    const W = 32;
    const H = 24;
    const camera = orbitCamera({ azimuth: -50, elevation: 35, radius: 3, fov: 40, aspect: W / H });
    const R = 0.8;
    const ball = new THREE.Mesh(new THREE.SphereGeometry(R, 256, 128), basic(0xffffff));
    const r = renderScene(scene(ball), camera, { width: W, height: H, supersample: 1 });
    const { origins, directions } = cameraRays(camera, W, H);
    const fwd = cameraForward(camera);
    let checked = 0;
    for (let p = 0; p < W * H; p++) {
      const o = new THREE.Vector3(origins[3 * p], origins[3 * p + 1], origins[3 * p + 2]);
      const d = new THREE.Vector3(directions[3 * p], directions[3 * p + 1], directions[3 * p + 2]);
      const b = o.dot(d);
      const disc = b * b - (o.lengthSq() - R * R);
      if (disc < 0.05) {
        if (disc < -0.05) expect(r.alpha[p]).toBe(0);
        continue;
      }
      expect(r.alpha[p]).toBe(1);
      const t = -b - Math.sqrt(disc);
      expect(r.depth[p] / d.dot(fwd)).toBeCloseTo(t, 3);
      checked++;
    }
    expect(checked).toBeGreaterThan(100);
  });
});

describe('colour helpers', () => {
  it('encodes sRGB like the standard transfer function', () => {
    expect(linearToSRGB(0.5)).toBeCloseTo(0.735357, 5);
    expect(linearToSRGB(0.001)).toBeCloseTo(0.01292, 6);
    for (let i = 0; i <= 1000; i++) {
      const x = i / 1000;
      expect(Math.abs(linearToSRGB8(x) - linearToSRGB(x) * 255)).toBeLessThanOrEqual(0.5 + 1e-3);
    }
  });
});

describe('throughput', () => {
  it('renders a ~2.4k-triangle object fast on one core', () => {
    const root = primitivesScene();
    const small = measureRenderThroughput(root, { width: 32, height: 32, budgetMs: 700 });
    const large = measureRenderThroughput(root, { width: 128, height: 128, budgetMs: 700 });
    console.log(
      `renderScene, ${small.supersample}×${small.supersample} supersampling: ` +
        `32×32 ${small.imagesPerSecond.toFixed(0)} images/s, 128×128 ${large.imagesPerSecond.toFixed(0)} images/s`,
    );
    // Loose floors (targets are 500 and 50 on an idle core; test files run in parallel here).
    expect(small.imagesPerSecond).toBeGreaterThan(100);
    expect(large.imagesPerSecond).toBeGreaterThan(10);
  });
});
