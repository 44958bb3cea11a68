/**
 * A CPU rasterizer for three.js scene graphs: no WebGL, no DOM, one core.
 *
 * It draws what three's WebGLRenderer would draw for opaque meshes, using three's own
 * matrices: `camera.projectionMatrix`, `camera.matrixWorldInverse` and each mesh's
 * `matrixWorld`, clip-space near/far clipping, WebGL's viewport mapping (pixel centres at
 * +0.5, row 0 at the top of the image), WebGL's face culling including three's rule for
 * mirrored (negative-determinant) objects, and per-fragment Lambert shading with normals
 * handled as three's shaders do (flat shading, `BackSide`, `DoubleSide`).
 *
 * How: a visibility buffer. Pass 1 rasterizes every triangle into a supersampled grid
 * (edge functions over a tight per-row span, depth test `<=` on NDC z, which is affine in
 * screen space) and stores only the winning triangle's id per sample. Pass 2 shades each
 * visible sample once (perspective-correct barycentrics, normal, Lambert) and box-filters
 * the ss×ss samples of each pixel. Shading cost therefore does not grow with overdraw.
 *
 * Outputs (all row-major, row 0 at the top, `width × height` pixels):
 * - `rgba`: straight (unpremultiplied) linear RGBA. RGB is the mean shaded colour of the
 *   covered samples, clamped to [0, 1] per sample; where nothing is covered RGB is the
 *   background colour. A is the coverage (fraction of samples covered). Composite over the
 *   background as `rgb·a + background·(1−a)` (that is exactly the box-filtered picture);
 *   `toRGB8` in color.ts does this and sRGB-encodes.
 * - `alpha`: the coverage again, one float per pixel (same values as `rgba[4i+3]`).
 * - `depth`: view-space z-depth, i.e. distance along the camera's viewing axis (−z in
 *   camera space, = clip w), mean over the covered samples; `Infinity` where nothing is
 *   covered. Distance along a pixel's ray is `depth / dot(rayDirection, cameraForward)`.
 * - `normal`: world-space unit shading normal (3 floats per pixel), the normalized mean over
 *   covered samples; (0, 0, 0) where nothing is covered. It is the normal the light saw:
 *   flipped for `BackSide`, for the back of `DoubleSide` faces, and camera-facing for flat
 *   shading, as in three's shaders.
 *
 * Scope: visible `Mesh` and `InstancedMesh` objects (an object and all its ancestors
 * `visible`, layers matching the camera) with a `BufferGeometry` (indexed or not, groups and
 * material arrays, drawRange) and materials that are `visible`. Albedo is `material.color`
 * (white when a material has none), times the interpolated `color` attribute when
 * `material.vertexColors` is true (RGB of an itemSize 3 or 4 attribute, linear, interpolated
 * perspective-correctly like the normals; a missing attribute reads as black, WebGL's
 * default vertex attribute value), plus `emissive × emissiveIntensity` when present.
 * `MeshBasicMaterial` is unlit, as in three. Not modelled: transparency/opacity (vertex
 * alpha included), textures, instance colours, wireframe, morph targets, skinning, PBR
 * specular (MeshStandardMaterial is shaded as Lambert), shadows, tone mapping.
 */
import * as THREE from 'three';
import type { RGB } from './color.js';

/** One directional light plus ambient. Colours are linear. */
export interface LightSpec {
  /** World-space direction from the surface toward the light (normalized internally). */
  direction: THREE.Vector3;
  /** Light colour, linear RGB; default white. */
  color?: RGB;
  /** Multiplies `color`; default 0.7. The shaded colour is albedo × (ambient + color·intensity·max(0, n·l)). */
  intensity?: number;
  /** Ambient light, a grey level or linear RGB; default 0.3. */
  ambient?: number | RGB;
}

export interface RenderOptions {
  width: number;
  height: number;
  /** Linear RGB behind the object; default white [1, 1, 1]. */
  background?: RGB;
  /** Default: `DEFAULT_LIGHT` (from above, front, right). */
  light?: LightSpec;
  /**
   * Samples per pixel along each axis (3 → 3×3 on a regular grid), box-filtered; default 3.
   * 1 samples only the pixel centre, exactly like WebGL without MSAA. Odd values keep the
   * pixel centre among the samples, so `alpha > 0.5` (a majority of the samples) tracks
   * WebGL's point-sampled silhouette closely; with 2×2, parts one or two pixels wide (chair
   * legs) flip in or out of such a mask as a whole.
   */
  supersample?: number;
}

export interface RenderResult {
  width: number;
  height: number;
  /** Straight-alpha linear RGBA, 4 floats per pixel (see the module comment). */
  rgba: Float32Array;
  /** Coverage in [0, 1], 1 float per pixel. */
  alpha: Float32Array;
  /** View-space z-depth (positive, scene units); Infinity for background. */
  depth: Float32Array;
  /** World-space unit normals, 3 floats per pixel; 0 for background. */
  normal: Float32Array;
  /** The linear background colour used. */
  background: RGB;
}

/** The light used when none is given: from the upper right front, 70% direct + 30% ambient. */
export const DEFAULT_LIGHT: Readonly<{ direction: THREE.Vector3; color: RGB; intensity: number; ambient: number }> = {
  direction: new THREE.Vector3(0.4, 1.0, 0.6).normalize(),
  color: [1, 1, 1],
  intensity: 0.7,
  ambient: 0.3,
};

// Triangle record layout in the visibility buffer (Float64Array, stride TRI_STRIDE):
//   0..2  b1 = [0]·x + [1]·y + [2]      (screen-space barycentric of vertex 1, sample units)
//   3..5  b2 = [3]·x + [4]·y + [5]
//   6..8  1/w of vertices 0, 1, 2      (for perspective-correct interpolation)
//   9..17 world normals of vertices 0, 1, 2 (already sign-adjusted for the side)
//   18    material index
//   19..27 vertex colours (linear rgb) of vertices 0, 1, 2; read only if the material uses them
const TRI_STRIDE = 28;
type F64 = Float64Array<ArrayBuffer>;
// Vertex record handed from the setup code to `raster` (Float64Array, stride TV):
// x, y, z, 1/w, nx, ny, nz, r, g, b.
const TV = 10;
// Clip-space outcodes.
const OUT_NEAR = 16;
const OUT_FAR = 32;
const OUT_Z = OUT_NEAR | OUT_FAR;
// Material record: albedo rgb, emissive rgb, lit flag, vertex-colour flag.
const MAT_STRIDE = 8;
/** Smallest positive double: `e >= MIN_POS` is `e > 0`, so one comparison serves both tie rules. */
const MIN_POS = Number.MIN_VALUE;

const _mvp = new THREE.Matrix4();
const _viewProj = new THREE.Matrix4();
const _model = new THREE.Matrix4();
const _instance = new THREE.Matrix4();
const _normalMatrix = new THREE.Matrix3();
const _camPos = new THREE.Vector3();
const _lightDir = new THREE.Vector3();

/** `a` if it holds n values, else a larger copy of it. */
function grow(a: F64, n: number): F64 {
  if (a.length >= n) return a;
  const b = new Float64Array(Math.max(n, Math.ceil(a.length * 1.5)));
  b.set(a);
  return b;
}

/** Reads an attribute's array, stride and offset so hot loops can index it directly. */
function attributeView(attr: THREE.BufferAttribute | THREE.InterleavedBufferAttribute): {
  array: ArrayLike<number>;
  stride: number;
  offset: number;
} {
  if ((attr as THREE.InterleavedBufferAttribute).isInterleavedBufferAttribute) {
    const ia = attr as THREE.InterleavedBufferAttribute;
    return { array: ia.data.array as ArrayLike<number>, stride: ia.data.stride, offset: ia.offset };
  }
  return { array: attr.array as ArrayLike<number>, stride: attr.itemSize, offset: 0 };
}

/** Copies an xyz attribute into a Float64Array (3 per vertex), de-normalizing integer data. */
function readVec3(attr: THREE.BufferAttribute | THREE.InterleavedBufferAttribute, out: F64): void {
  const n = attr.count;
  if (attr.normalized) {
    for (let i = 0; i < n; i++) {
      out[3 * i] = attr.getX(i);
      out[3 * i + 1] = attr.getY(i);
      out[3 * i + 2] = attr.getZ(i);
    }
    return;
  }
  const { array, stride, offset } = attributeView(attr);
  for (let i = 0, j = offset; i < n; i++, j += stride) {
    out[3 * i] = array[j];
    out[3 * i + 1] = array[j + 1];
    out[3 * i + 2] = array[j + 2];
  }
}

/**
 * The renderer with its reusable buffers. `renderScene` uses one shared instance; make your
 * own if you render from several async contexts (a render itself is synchronous).
 */
export class Rasterizer {
  // Sample grid.
  private sw = 0;
  private sh = 0;
  private zbuf = new Float64Array(0);
  private ids = new Int32Array(0);
  // Triangles that won at least one sample.
  private tris = new Float64Array(0);
  private triCount = 0;
  // Materials of the current render.
  private mats = new Float64Array(0);
  private matCount = 0;
  private matIndex = new Map<THREE.Material, number>();
  // Per-mesh vertex scratch.
  private pos = new Float64Array(0); // object-space positions, 3 per vertex
  private nrm = new Float64Array(0); // world normals (unit), 3 per vertex
  private col = new Float64Array(0); // vertex colours (linear rgb), 3 per vertex
  private wpos = new Float64Array(0); // world positions, 3 per vertex (flat shading only)
  private clip = new Float64Array(0); // clip coordinates, 4 per vertex
  private scr = new Float64Array(0); // sample-space x, y, NDC z, 1/w; 4 per vertex
  private codes = new Uint8Array(0);
  // Per-triangle scratch.
  private tv = new Float64Array(3 * TV);
  private polyA = new Float64Array(9 * TV);
  private polyB = new Float64Array(9 * TV);
  private polyS = new Float64Array(9 * TV);
  private camX = 0;
  private camY = 0;
  private camZ = 0;

  render(root: THREE.Object3D, camera: THREE.PerspectiveCamera, opts: RenderOptions): RenderResult {
    const { width, height } = opts;
    const ss = opts.supersample ?? 3;
    if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1)
      throw new RangeError(`renderScene: width and height must be positive integers, got ${width}×${height}`);
    if (!Number.isInteger(ss) || ss < 1 || ss > 16) throw new RangeError(`renderScene: supersample must be an integer in 1..16, got ${ss}`);
    const background: RGB = opts.background ? [opts.background[0], opts.background[1], opts.background[2]] : [1, 1, 1];

    root.updateMatrixWorld(true);
    camera.updateMatrixWorld();
    camera.updateProjectionMatrix();
    _viewProj.multiplyMatrices(camera.projectionMatrix, camera.matrixWorldInverse);
    _camPos.setFromMatrixPosition(camera.matrixWorld);
    this.camX = _camPos.x;
    this.camY = _camPos.y;
    this.camZ = _camPos.z;

    // Sample grid.
    const sw = width * ss;
    const sh = height * ss;
    this.sw = sw;
    this.sh = sh;
    if (this.zbuf.length < sw * sh) {
      this.zbuf = new Float64Array(sw * sh);
      this.ids = new Int32Array(sw * sh);
    }
    this.zbuf.fill(Infinity, 0, sw * sh);
    this.ids.fill(-1, 0, sw * sh);
    this.triCount = 0;
    this.matCount = 0;
    this.matIndex.clear();

    this.visit(root, camera);
    return this.resolve(width, height, ss, background, opts.light);
  }

  /** three's projectObject: an invisible object hides its subtree; layers are tested per object. */
  private visit(obj: THREE.Object3D, camera: THREE.Camera): void {
    if (obj.visible === false) return;
    if ((obj as THREE.Mesh).isMesh && obj.layers.test(camera.layers)) {
      const mesh = obj as THREE.Mesh;
      if ((mesh as THREE.InstancedMesh).isInstancedMesh) {
        const im = mesh as THREE.InstancedMesh;
        // three culls instanced meshes by the object's determinant only, not the instance's.
        const mirrored = mesh.matrixWorld.determinantAffine() < 0;
        for (let k = 0; k < im.count; k++) {
          im.getMatrixAt(k, _instance);
          _model.multiplyMatrices(mesh.matrixWorld, _instance);
          this.drawMesh(mesh, _model, mirrored);
        }
      } else {
        this.drawMesh(mesh, mesh.matrixWorld, mesh.matrixWorld.determinantAffine() < 0);
      }
    }
    const children = obj.children;
    for (let i = 0; i < children.length; i++) this.visit(children[i], camera);
  }

  private materialId(m: THREE.Material): number {
    const known = this.matIndex.get(m);
    if (known !== undefined) return known;
    const id = this.matCount++;
    this.mats = grow(this.mats, this.matCount * MAT_STRIDE);
    const o = id * MAT_STRIDE;
    const color = (m as THREE.MeshStandardMaterial).color as THREE.Color | undefined;
    this.mats[o] = color?.isColor ? color.r : 1;
    this.mats[o + 1] = color?.isColor ? color.g : 1;
    this.mats[o + 2] = color?.isColor ? color.b : 1;
    const emissive = (m as THREE.MeshStandardMaterial).emissive as THREE.Color | undefined;
    const ei = (m as THREE.MeshStandardMaterial).emissiveIntensity ?? 1;
    this.mats[o + 3] = emissive?.isColor ? emissive.r * ei : 0;
    this.mats[o + 4] = emissive?.isColor ? emissive.g * ei : 0;
    this.mats[o + 5] = emissive?.isColor ? emissive.b * ei : 0;
    this.mats[o + 6] = (m as THREE.MeshBasicMaterial).isMeshBasicMaterial ? 0 : 1;
    this.mats[o + 7] = m.vertexColors === true ? 1 : 0;
    this.matIndex.set(m, id);
    return id;
  }

  private drawMesh(mesh: THREE.Mesh, model: THREE.Matrix4, mirrored: boolean): void {
    const geometry = mesh.geometry as THREE.BufferGeometry;
    if (!geometry || !geometry.isBufferGeometry) return;
    const position = geometry.getAttribute('position');
    if (!position || position.count === 0) return;
    const normalAttr = geometry.getAttribute('normal');
    const nv = position.count;

    // Which index ranges draw with which material (three's renderBufferDirect).
    const index = geometry.index;
    const indexCount = index ? index.count : nv;
    const dr = geometry.drawRange;
    const drStart = Math.max(0, dr.start);
    const drEnd = Math.min(indexCount, dr.start + dr.count);
    const ranges: Array<{ start: number; end: number; material: THREE.Material }> = [];
    if (Array.isArray(mesh.material)) {
      for (const g of geometry.groups) {
        const material = mesh.material[g.materialIndex ?? 0];
        if (!material) continue;
        ranges.push({ start: Math.max(drStart, g.start), end: Math.min(drEnd, g.start + g.count), material });
      }
    } else if (mesh.material) {
      ranges.push({ start: drStart, end: drEnd, material: mesh.material });
    }
    const live = ranges.filter((r) => r.material.visible !== false && r.end > r.start);
    if (live.length === 0) return;

    // Transform every vertex once: clip coordinates, outcodes, sample-space positions, world normals.
    this.pos = grow(this.pos, 3 * nv);
    this.clip = grow(this.clip, 4 * nv);
    this.scr = grow(this.scr, 4 * nv);
    if (this.codes.length < nv) this.codes = new Uint8Array(Math.max(nv, Math.ceil(this.codes.length * 1.5)));
    readVec3(position, this.pos);
    _mvp.multiplyMatrices(_viewProj, model);
    const e = _mvp.elements;
    const pos = this.pos;
    const clip = this.clip;
    const scr = this.scr;
    const codes = this.codes;
    const hw = 0.5 * this.sw;
    const hh = 0.5 * this.sh;
    for (let i = 0; i < nv; i++) {
      const x = pos[3 * i];
      const y = pos[3 * i + 1];
      const z = pos[3 * i + 2];
      const cx = e[0] * x + e[4] * y + e[8] * z + e[12];
      const cy = e[1] * x + e[5] * y + e[9] * z + e[13];
      const cz = e[2] * x + e[6] * y + e[10] * z + e[14];
      const cw = e[3] * x + e[7] * y + e[11] * z + e[15];
      clip[4 * i] = cx;
      clip[4 * i + 1] = cy;
      clip[4 * i + 2] = cz;
      clip[4 * i + 3] = cw;
      let code = 0;
      if (cx < -cw) code |= 1;
      if (cx > cw) code |= 2;
      if (cy < -cw) code |= 4;
      if (cy > cw) code |= 8;
      if (cz < -cw) code |= OUT_NEAR;
      if (cz > cw) code |= OUT_FAR;
      codes[i] = code;
      if ((code & OUT_Z) === 0) {
        // WebGL viewport transform; y flipped so that sample row 0 is the top of the image.
        const iw = 1 / cw;
        scr[4 * i] = (cx * iw + 1) * hw;
        scr[4 * i + 1] = (1 - cy * iw) * hh;
        scr[4 * i + 2] = cz * iw;
        scr[4 * i + 3] = iw;
      }
    }

    const hasNormals = !!normalAttr && normalAttr.count >= nv;
    let needWorld = !hasNormals;
    for (const r of live) if ((r.material as THREE.MeshStandardMaterial).flatShading === true) needWorld = true;
    if (hasNormals) {
      this.nrm = grow(this.nrm, 3 * nv);
      readVec3(normalAttr, this.nrm);
      _normalMatrix.getNormalMatrix(model);
      const m = _normalMatrix.elements;
      const nrm = this.nrm;
      for (let i = 0; i < nv; i++) {
        const x = nrm[3 * i];
        const y = nrm[3 * i + 1];
        const z = nrm[3 * i + 2];
        const nx = m[0] * x + m[3] * y + m[6] * z;
        const ny = m[1] * x + m[4] * y + m[7] * z;
        const nz = m[2] * x + m[5] * y + m[8] * z;
        const len = Math.sqrt(nx * nx + ny * ny + nz * nz);
        const s = len > 0 ? 1 / len : 0;
        nrm[3 * i] = nx * s;
        nrm[3 * i + 1] = ny * s;
        nrm[3 * i + 2] = nz * s;
      }
    }
    if (needWorld) {
      this.wpos = grow(this.wpos, 3 * nv);
      const w = this.wpos;
      const me = model.elements;
      for (let i = 0; i < nv; i++) {
        const x = pos[3 * i];
        const y = pos[3 * i + 1];
        const z = pos[3 * i + 2];
        w[3 * i] = me[0] * x + me[4] * y + me[8] * z + me[12];
        w[3 * i + 1] = me[1] * x + me[5] * y + me[9] * z + me[13];
        w[3 * i + 2] = me[2] * x + me[6] * y + me[10] * z + me[14];
      }
    }

    if (live.some((r) => r.material.vertexColors === true)) this.readColors(geometry.getAttribute('color'), nv);

    const idx = index ? (index.array as ArrayLike<number>) : null;
    for (const r of live) {
      const material = r.material;
      const matId = this.materialId(material);
      const side = material.side;
      const flat = !hasNormals || (material as THREE.MeshStandardMaterial).flatShading === true;
      const vertexColors = material.vertexColors === true;
      // three: gl.frontFace is CCW, flipped for BackSide and again for mirrored objects;
      // gl.cullFace(BACK) unless DoubleSide; FLIP_SIDED negates normals for BackSide;
      // DoubleSide multiplies normals by faceDirection (gl_FrontFacing ? 1 : −1).
      const frontCCW = (side === THREE.BackSide) === mirrored;
      const cull = side !== THREE.DoubleSide;
      const sideSign = side === THREE.BackSide ? -1 : 1;
      const end = r.end - ((r.end - r.start) % 3);
      for (let t = r.start; t < end; t += 3) {
        const i0 = idx ? idx[t] : t;
        const i1 = idx ? idx[t + 1] : t + 1;
        const i2 = idx ? idx[t + 2] : t + 2;
        const c0 = codes[i0];
        const c1 = codes[i1];
        const c2 = codes[i2];
        if ((c0 & c1 & c2) !== 0) continue; // entirely outside one frustum plane
        if (((c0 | c1 | c2) & OUT_Z) !== 0) {
          this.clipTriangle(i0, i1, i2, matId, flat, vertexColors, frontCCW, cull, sideSign);
          continue;
        }
        const x0 = scr[4 * i0];
        const y0 = scr[4 * i0 + 1];
        const x1 = scr[4 * i1];
        const y1 = scr[4 * i1 + 1];
        const x2 = scr[4 * i2];
        const y2 = scr[4 * i2 + 1];
        const area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0);
        if (!(area > 0 || area < 0)) continue; // zero area or NaN
        // area < 0 in our y-down sample space ⇔ counter-clockwise in GL window space.
        const glFront = area < 0 === frontCCW;
        if (!glFront && cull) continue;
        const tv = this.tv;
        for (let k = 0; k < 3; k++) {
          const vi = k === 0 ? i0 : k === 1 ? i1 : i2;
          const o = k * TV;
          tv[o] = scr[4 * vi];
          tv[o + 1] = scr[4 * vi + 1];
          tv[o + 2] = scr[4 * vi + 2];
          tv[o + 3] = scr[4 * vi + 3];
        }
        if (vertexColors) this.copyVertexColors(i0, i1, i2);
        if (flat) this.flatNormal(i0, i1, i2);
        else {
          const s = glFront ? sideSign : -sideSign;
          const nrm = this.nrm;
          for (let k = 0; k < 3; k++) {
            const vi = k === 0 ? i0 : k === 1 ? i1 : i2;
            const o = k * TV;
            tv[o + 4] = s * nrm[3 * vi];
            tv[o + 5] = s * nrm[3 * vi + 1];
            tv[o + 6] = s * nrm[3 * vi + 2];
          }
        }
        this.raster(tv, 0, TV, 2 * TV, area, matId);
      }
    }
  }

  /**
   * The mesh's `color` attribute as linear RGB, 3 per vertex (alpha of an itemSize-4
   * attribute dropped: opacity is not modelled). Without the attribute WebGL feeds the
   * shader its default vertex attribute (0, 0, 0, 1), so vertex-coloured materials draw black.
   */
  private readColors(attr: THREE.BufferAttribute | THREE.InterleavedBufferAttribute | undefined, nv: number): void {
    this.col = grow(this.col, 3 * nv);
    const col = this.col;
    if (!attr || attr.count < nv) {
      col.fill(0, 0, 3 * nv);
      return;
    }
    if (attr.itemSize >= 3) {
      readVec3(attr, col);
      return;
    }
    // A 1- or 2-component colour attribute: WebGL fills the missing components with 0.
    for (let i = 0; i < nv; i++) {
      col[3 * i] = attr.getX(i);
      col[3 * i + 1] = attr.itemSize > 1 ? attr.getY(i) : 0;
      col[3 * i + 2] = 0;
    }
  }

  /** Copies the three vertices' colours into the triangle's vertex records. */
  private copyVertexColors(i0: number, i1: number, i2: number): void {
    const tv = this.tv;
    const col = this.col;
    for (let k = 0; k < 3; k++) {
      const vi = k === 0 ? i0 : k === 1 ? i1 : i2;
      const o = k * TV;
      tv[o + 7] = col[3 * vi];
      tv[o + 8] = col[3 * vi + 1];
      tv[o + 9] = col[3 * vi + 2];
    }
  }

  /** three's flat shading: the face normal, always turned toward the camera (cross(dFdx, dFdy) of the view position). */
  private flatNormal(i0: number, i1: number, i2: number): void {
    const w = this.wpos;
    const ax = w[3 * i1] - w[3 * i0];
    const ay = w[3 * i1 + 1] - w[3 * i0 + 1];
    const az = w[3 * i1 + 2] - w[3 * i0 + 2];
    const bx = w[3 * i2] - w[3 * i0];
    const by = w[3 * i2 + 1] - w[3 * i0 + 1];
    const bz = w[3 * i2 + 2] - w[3 * i0 + 2];
    let nx = ay * bz - az * by;
    let ny = az * bx - ax * bz;
    let nz = ax * by - ay * bx;
    const toCam = nx * (this.camX - w[3 * i0]) + ny * (this.camY - w[3 * i0 + 1]) + nz * (this.camZ - w[3 * i0 + 2]);
    const len = Math.sqrt(nx * nx + ny * ny + nz * nz);
    const s = len > 0 ? (toCam < 0 ? -1 : 1) / len : 0;
    nx *= s;
    ny *= s;
    nz *= s;
    const tv = this.tv;
    for (let o = 0; o < 3 * TV; o += TV) {
      tv[o + 4] = nx;
      tv[o + 5] = ny;
      tv[o + 6] = nz;
    }
  }

  /**
   * A triangle that crosses the near or far plane: Sutherland–Hodgman in homogeneous clip
   * space (attributes interpolated linearly there, which is what perspective-correct
   * varyings need), then a fan of triangles sharing the polygon's facing.
   */
  private clipTriangle(
    i0: number,
    i1: number,
    i2: number,
    matId: number,
    flat: boolean,
    vertexColors: boolean,
    frontCCW: boolean,
    cull: boolean,
    sideSign: number,
  ): void {
    const V = TV; // cx, cy, cz, cw, nx, ny, nz, r, g, b
    let a = this.polyA;
    let b = this.polyB;
    const clip = this.clip;
    const nrm = this.nrm;
    const col = this.col;
    for (let k = 0; k < 3; k++) {
      const vi = k === 0 ? i0 : k === 1 ? i1 : i2;
      a[k * V] = clip[4 * vi];
      a[k * V + 1] = clip[4 * vi + 1];
      a[k * V + 2] = clip[4 * vi + 2];
      a[k * V + 3] = clip[4 * vi + 3];
      if (!flat) {
        a[k * V + 4] = nrm[3 * vi];
        a[k * V + 5] = nrm[3 * vi + 1];
        a[k * V + 6] = nrm[3 * vi + 2];
      }
      if (vertexColors) {
        a[k * V + 7] = col[3 * vi];
        a[k * V + 8] = col[3 * vi + 1];
        a[k * V + 9] = col[3 * vi + 2];
      }
    }
    let n = 3;
    for (let plane = 0; plane < 2 && n > 0; plane++) {
      // Signed distance: near z + w ≥ 0, far w − z ≥ 0.
      const sz = plane === 0 ? 1 : -1;
      let m = 0;
      for (let k = 0; k < n; k++) {
        const p = k * V;
        const q = ((k + 1) % n) * V;
        const dp = sz * a[p + 2] + a[p + 3];
        const dq = sz * a[q + 2] + a[q + 3];
        if (dp >= 0) {
          for (let c = 0; c < V; c++) b[m * V + c] = a[p + c];
          m++;
        }
        if (dp >= 0 !== dq >= 0) {
          const t = dp / (dp - dq);
          for (let c = 0; c < V; c++) b[m * V + c] = a[p + c] + t * (a[q + c] - a[p + c]);
          m++;
        }
      }
      const tmp = a;
      a = b;
      b = tmp;
      n = m;
    }
    if (n < 3) return;

    // Project the polygon and find its facing from its total signed area.
    const ps = this.polyS;
    const hw = 0.5 * this.sw;
    const hh = 0.5 * this.sh;
    for (let k = 0; k < n; k++) {
      const p = k * V;
      const iw = 1 / a[p + 3];
      ps[k * TV] = (a[p] * iw + 1) * hw;
      ps[k * TV + 1] = (1 - a[p + 1] * iw) * hh;
      ps[k * TV + 2] = a[p + 2] * iw;
      ps[k * TV + 3] = iw;
      for (let c = 4; c < TV; c++) ps[k * TV + c] = a[p + c];
    }
    let area = 0;
    for (let k = 1; k + 1 < n; k++) {
      area += (ps[k * TV] - ps[0]) * (ps[(k + 1) * TV + 1] - ps[1]) - (ps[(k + 1) * TV] - ps[0]) * (ps[k * TV + 1] - ps[1]);
    }
    if (!(area > 0 || area < 0)) return;
    const glFront = area < 0 === frontCCW;
    if (!glFront && cull) return;
    if (flat) {
      this.flatNormal(i0, i1, i2);
      const tv = this.tv;
      for (let k = 0; k < n; k++) {
        ps[k * TV + 4] = tv[4];
        ps[k * TV + 5] = tv[5];
        ps[k * TV + 6] = tv[6];
      }
    } else {
      const s = glFront ? sideSign : -sideSign;
      for (let k = 0; k < n; k++) {
        ps[k * TV + 4] *= s;
        ps[k * TV + 5] *= s;
        ps[k * TV + 6] *= s;
      }
    }
    for (let k = 1; k + 1 < n; k++) {
      const o1 = k * TV;
      const o2 = (k + 1) * TV;
      const ak = (ps[o1] - ps[0]) * (ps[o2 + 1] - ps[1]) - (ps[o2] - ps[0]) * (ps[o1 + 1] - ps[1]);
      if (!(ak > 0 || ak < 0)) continue;
      this.rasterFrom(ps, o1, o2, ak, matId);
    }
  }

  private rasterFrom(src: Float64Array, o1: number, o2: number, area: number, matId: number): void {
    const tv = this.tv;
    for (let c = 0; c < TV; c++) {
      tv[c] = src[c];
      tv[TV + c] = src[o1 + c];
      tv[2 * TV + c] = src[o2 + c];
    }
    this.raster(tv, 0, TV, 2 * TV, area, matId);
  }

  /**
   * Pass 1 for one screen-space triangle (vertex records at offsets p0, p1, p2 of `v`):
   * depth-test every covered sample and record the triangle's id where it wins.
   */
  private raster(v: Float64Array, p0: number, p1: number, p2: number, area: number, matId: number): void {
    if (area < 0) {
      // Make the winding positive in y-down space so "inside" is all edge functions ≥ 0.
      const t = p1;
      p1 = p2;
      p2 = t;
      area = -area;
    }
    const x0 = v[p0],
      y0 = v[p0 + 1],
      z0 = v[p0 + 2];
    const x1 = v[p1],
      y1 = v[p1 + 1],
      z1 = v[p1 + 2];
    const x2 = v[p2],
      y2 = v[p2 + 1],
      z2 = v[p2 + 2];
    const sw = this.sw;
    const sh = this.sh;
    // Sample (sx, sy) sits at (sx + 0.5, sy + 0.5).
    let xmin = Math.ceil(Math.min(x0, x1, x2) - 0.5);
    let xmax = Math.floor(Math.max(x0, x1, x2) - 0.5);
    let ymin = Math.ceil(Math.min(y0, y1, y2) - 0.5);
    let ymax = Math.floor(Math.max(y0, y1, y2) - 0.5);
    if (xmin < 0) xmin = 0;
    if (ymin < 0) ymin = 0;
    if (xmax > sw - 1) xmax = sw - 1;
    if (ymax > sh - 1) ymax = sh - 1;
    if (xmin > xmax || ymin > ymax) return;

    // Edge functions E(p) = ex·px + ey·py + ec, positive inside. E0 is the edge opposite
    // vertex 0 (v1→v2), so E0/area is vertex 0's barycentric, and so on.
    const ex0 = y1 - y2,
      ey0 = x2 - x1,
      ec0 = -(ex0 * x1 + ey0 * y1);
    const ex1 = y2 - y0,
      ey1 = x0 - x2,
      ec1 = -(ex1 * x2 + ey1 * y2);
    const ex2 = y0 - y1,
      ey2 = x1 - x0,
      ec2 = -(ex2 * x0 + ey2 * y0);
    // Top-left rule: a sample exactly on an edge belongs to the triangle only if the edge is
    // a left edge (interior to its right, ex > 0) or a top edge (horizontal, interior below).
    const t0 = ex0 > 0 || (ex0 === 0 && ey0 > 0) ? 0 : MIN_POS;
    const t1 = ex1 > 0 || (ex1 === 0 && ey1 > 0) ? 0 : MIN_POS;
    const t2 = ex2 > 0 || (ex2 === 0 && ey2 > 0) ? 0 : MIN_POS;
    // NDC z is affine in screen space: z = zx·px + zy·py + zc.
    const inv = 1 / area;
    const zx = (ex0 * z0 + ex1 * z1 + ex2 * z2) * inv;
    const zy = (ey0 * z0 + ey1 * z1 + ey2 * z2) * inv;
    const zc = (ec0 * z0 + ec1 * z1 + ec2 * z2) * inv;

    const id = this.triCount;
    const zbuf = this.zbuf;
    const ids = this.ids;
    let wrote = false;
    for (let sy = ymin; sy <= ymax; sy++) {
      const py = sy + 0.5;
      const k0 = ey0 * py + ec0;
      const k1 = ey1 * py + ec1;
      const k2 = ey2 * py + ec2;
      // The row's span, from each edge's crossing, widened by one sample; the exact test follows.
      let lo = xmin;
      let hi = xmax;
      if (ex0 > 0) {
        const c = Math.ceil(-k0 / ex0 - 0.5) - 1;
        if (c > lo) lo = c;
      } else if (ex0 < 0) {
        const c = Math.floor(-k0 / ex0 - 0.5) + 1;
        if (c < hi) hi = c;
      } else if (k0 < t0) continue;
      if (ex1 > 0) {
        const c = Math.ceil(-k1 / ex1 - 0.5) - 1;
        if (c > lo) lo = c;
      } else if (ex1 < 0) {
        const c = Math.floor(-k1 / ex1 - 0.5) + 1;
        if (c < hi) hi = c;
      } else if (k1 < t1) continue;
      if (ex2 > 0) {
        const c = Math.ceil(-k2 / ex2 - 0.5) - 1;
        if (c > lo) lo = c;
      } else if (ex2 < 0) {
        const c = Math.floor(-k2 / ex2 - 0.5) + 1;
        if (c < hi) hi = c;
      } else if (k2 < t2) continue;
      const zrow = zy * py + zc;
      const row = sy * sw;
      for (let sx = lo; sx <= hi; sx++) {
        const px = sx + 0.5;
        if (ex0 * px + k0 >= t0 && ex1 * px + k1 >= t1 && ex2 * px + k2 >= t2) {
          const z = zx * px + zrow;
          const j = row + sx;
          if (z <= zbuf[j]) {
            zbuf[j] = z;
            ids[j] = id;
            wrote = true;
          }
        }
      }
    }
    if (!wrote) return;

    this.tris = grow(this.tris, (id + 1) * TRI_STRIDE);
    const r = this.tris;
    const o = id * TRI_STRIDE;
    r[o] = ex1 * inv;
    r[o + 1] = ey1 * inv;
    r[o + 2] = ec1 * inv;
    r[o + 3] = ex2 * inv;
    r[o + 4] = ey2 * inv;
    r[o + 5] = ec2 * inv;
    r[o + 6] = v[p0 + 3];
    r[o + 7] = v[p1 + 3];
    r[o + 8] = v[p2 + 3];
    r[o + 9] = v[p0 + 4];
    r[o + 10] = v[p0 + 5];
    r[o + 11] = v[p0 + 6];
    r[o + 12] = v[p1 + 4];
    r[o + 13] = v[p1 + 5];
    r[o + 14] = v[p1 + 6];
    r[o + 15] = v[p2 + 4];
    r[o + 16] = v[p2 + 5];
    r[o + 17] = v[p2 + 6];
    r[o + 18] = matId;
    for (let c = 0; c < 3; c++) {
      r[o + 19 + c] = v[p0 + 7 + c];
      r[o + 22 + c] = v[p1 + 7 + c];
      r[o + 25 + c] = v[p2 + 7 + c];
    }
    this.triCount = id + 1;
  }

  /** Pass 2: shade each visible sample once and box-filter the ss×ss samples of each pixel. */
  private resolve(width: number, height: number, ss: number, background: RGB, light: LightSpec | undefined): RenderResult {
    const n = width * height;
    const rgba = new Float32Array(4 * n);
    const alpha = new Float32Array(n);
    const depth = new Float32Array(n);
    const normal = new Float32Array(3 * n);

    const L = light ?? DEFAULT_LIGHT;
    _lightDir.copy(L.direction);
    if (_lightDir.lengthSq() > 0) _lightDir.normalize();
    const lx = _lightDir.x,
      ly = _lightDir.y,
      lz = _lightDir.z;
    const li = L.intensity ?? DEFAULT_LIGHT.intensity;
    const lc = L.color ?? DEFAULT_LIGHT.color;
    const lr = lc[0] * li,
      lg = lc[1] * li,
      lb = lc[2] * li;
    const amb = L.ambient ?? DEFAULT_LIGHT.ambient;
    const ar = typeof amb === 'number' ? amb : amb[0];
    const ag = typeof amb === 'number' ? amb : amb[1];
    const ab = typeof amb === 'number' ? amb : amb[2];

    const [br, bgc, bb] = background;
    const ids = this.ids;
    const t = this.tris;
    const mats = this.mats;
    const sw = this.sw;
    const spp = ss * ss;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let cnt = 0;
        let cr = 0,
          cg = 0,
          cb = 0,
          d = 0,
          nx = 0,
          ny = 0,
          nz = 0;
        for (let j = 0; j < ss; j++) {
          const sy = y * ss + j;
          const py = sy + 0.5;
          const row = sy * sw;
          for (let i = 0; i < ss; i++) {
            const sx = x * ss + i;
            const id = ids[row + sx];
            if (id < 0) continue;
            const px = sx + 0.5;
            const o = id * TRI_STRIDE;
            const b1 = t[o] * px + t[o + 1] * py + t[o + 2];
            const b2 = t[o + 3] * px + t[o + 4] * py + t[o + 5];
            const q0 = (1 - b1 - b2) * t[o + 6];
            const q1 = b1 * t[o + 7];
            const q2 = b2 * t[o + 8];
            const w = 1 / (q0 + q1 + q2); // = clip w = view-space depth
            const w0 = q0 * w,
              w1 = q1 * w,
              w2 = q2 * w;
            let ux = w0 * t[o + 9] + w1 * t[o + 12] + w2 * t[o + 15];
            let uy = w0 * t[o + 10] + w1 * t[o + 13] + w2 * t[o + 16];
            let uz = w0 * t[o + 11] + w1 * t[o + 14] + w2 * t[o + 17];
            const len = Math.sqrt(ux * ux + uy * uy + uz * uz);
            if (len > 0) {
              const s = 1 / len;
              ux *= s;
              uy *= s;
              uz *= s;
            }
            const m = t[o + 18] * MAT_STRIDE;
            let albR = mats[m],
              albG = mats[m + 1],
              albB = mats[m + 2];
            if (mats[m + 7] !== 0) {
              albR *= w0 * t[o + 19] + w1 * t[o + 22] + w2 * t[o + 25];
              albG *= w0 * t[o + 20] + w1 * t[o + 23] + w2 * t[o + 26];
              albB *= w0 * t[o + 21] + w1 * t[o + 24] + w2 * t[o + 27];
            }
            let r: number, g: number, b: number;
            if (mats[m + 6] !== 0) {
              let ndl = ux * lx + uy * ly + uz * lz;
              if (ndl < 0) ndl = 0;
              r = albR * (ar + lr * ndl) + mats[m + 3];
              g = albG * (ag + lg * ndl) + mats[m + 4];
              b = albB * (ab + lb * ndl) + mats[m + 5];
            } else {
              r = albR;
              g = albG;
              b = albB;
            }
            cr += r < 0 ? 0 : r > 1 ? 1 : r;
            cg += g < 0 ? 0 : g > 1 ? 1 : g;
            cb += b < 0 ? 0 : b > 1 ? 1 : b;
            d += w;
            nx += ux;
            ny += uy;
            nz += uz;
            cnt++;
          }
        }
        const p = y * width + x;
        if (cnt === 0) {
          rgba[4 * p] = br;
          rgba[4 * p + 1] = bgc;
          rgba[4 * p + 2] = bb;
          depth[p] = Infinity;
          continue;
        }
        const ic = 1 / cnt;
        const a = cnt / spp;
        rgba[4 * p] = cr * ic;
        rgba[4 * p + 1] = cg * ic;
        rgba[4 * p + 2] = cb * ic;
        rgba[4 * p + 3] = a;
        alpha[p] = a;
        depth[p] = d * ic;
        const nl = Math.sqrt(nx * nx + ny * ny + nz * nz);
        if (nl > 0) {
          normal[3 * p] = nx / nl;
          normal[3 * p + 1] = ny / nl;
          normal[3 * p + 2] = nz / nl;
        }
      }
    }
    return { width, height, rgba, alpha, depth, normal, background };
  }
}

const shared = new Rasterizer();

/**
 * Renders the visible meshes under `root` as seen by `camera` (three.js conventions; the
 * camera's own `aspect` is used, as WebGLRenderer does, so set it to width/height).
 * Calls `root.updateMatrixWorld(true)`, `camera.updateMatrixWorld()` and
 * `camera.updateProjectionMatrix()`. See the module comment for the outputs.
 */
export function renderScene(root: THREE.Object3D, camera: THREE.PerspectiveCamera, opts: RenderOptions): RenderResult {
  return shared.render(root, camera, opts);
}
