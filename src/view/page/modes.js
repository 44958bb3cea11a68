// Display modes: which material every mesh of a loaded GLB wears. "shaded" is the GLB's own
// materials under lights; the others are ShaderMaterials built from /shaders/*.glsl, one per
// mesh (each keeps its base colour, texture and side). Originals are kept on the mesh so
// switching back is exact, and everything made here is disposed with the model.
import * as THREE from 'three';

export const MODES = ['shaded', 'albedo', 'normals', 'wireframe', 'matcap'];

const SHADER_FILES = ['mesh.vert', 'albedo.frag', 'normals.frag', 'matcap.frag', 'wireframe.frag'];

let shaders = null;

/** Fetches the GLSL once; rejects with a message naming the file that failed. */
export function loadShaders() {
  shaders ??= Promise.all(
    SHADER_FILES.map(async (name) => {
      const res = await fetch(`/shaders/${name}.glsl`);
      if (!res.ok) throw new Error(`/shaders/${name}.glsl: HTTP ${res.status}`);
      return [name, await res.text()];
    }),
  ).then((pairs) => Object.fromEntries(pairs));
  return shaders;
}

let matcapTexture = null;

/**
 * A matcap painted in code: a clay sphere lit by a warm key light from the upper left, a
 * cool fill from the right and a rim, Blinn specular. Computed in linear light, stored sRGB.
 */
export function matcap() {
  if (matcapTexture) return matcapTexture;
  const size = 128;
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(size, size);
  const norm = (v) => {
    const l = Math.hypot(...v);
    return v.map((c) => c / l);
  };
  const key = norm([-0.5, 0.6, 0.65]);
  const fill = norm([0.8, -0.1, 0.5]);
  const half = norm([key[0], key[1], key[2] + 1]);
  const clay = [0.62, 0.58, 0.54];
  const toSrgb = (c) => Math.round(255 * (c <= 0.0031308 ? 12.92 * c : 1.055 * Math.pow(c, 1 / 2.4) - 0.055));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const nx = ((x + 0.5) / size) * 2 - 1;
      const ny = 1 - ((y + 0.5) / size) * 2;
      const r2 = Math.min(1, nx * nx + ny * ny);
      const n = [nx, ny, Math.sqrt(1 - r2)];
      const dot = (a) => Math.max(0, a[0] * n[0] + a[1] * n[1] + a[2] * n[2]);
      const diffuse = 0.03 + 0.97 * Math.pow(dot(key), 1.4);
      const spec = 0.3 * Math.pow(dot(half), 48);
      const rim = 0.18 * Math.pow(1 - n[2], 4);
      const f = 0.12 * dot(fill);
      const o = 4 * (y * size + x);
      const rgb = [clay[0] * diffuse + 0.8 * f + spec + rim, clay[1] * diffuse + 0.9 * f + spec + rim, clay[2] * diffuse + 1.1 * f + spec + rim];
      for (let c = 0; c < 3; c++) img.data[o + c] = toSrgb(Math.min(1, rgb[c]));
      img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  matcapTexture = new THREE.CanvasTexture(canvas);
  matcapTexture.colorSpace = THREE.SRGBColorSpace;
  return matcapTexture;
}

/** The same triangles, un-indexed, with a barycentric attribute for the wireframe shader. */
function barycentricGeometry(geometry) {
  const g = geometry.index ? geometry.toNonIndexed() : geometry.clone();
  const n = g.getAttribute('position').count;
  const bary = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) bary[3 * i + (i % 3)] = 1;
  g.setAttribute('barycentric', new THREE.BufferAttribute(bary, 3));
  return g;
}

function shaderMaterial(mode, original, geometry, glsl) {
  const hasColor = geometry.hasAttribute('color');
  const base = {
    vertexShader: glsl['mesh.vert'],
    side: original.side,
    vertexColors: hasColor,
    defines: {},
  };
  if (mode === 'albedo') {
    const map = original.map ?? null;
    if (map) base.defines.DD3D_MAP = '';
    return new THREE.ShaderMaterial({
      ...base,
      fragmentShader: glsl['albedo.frag'],
      uniforms: {
        baseColor: { value: original.color ? original.color.clone() : new THREE.Color(1, 1, 1) },
        opacity: { value: original.opacity ?? 1 },
        baseMap: { value: map },
      },
      transparent: original.transparent === true,
    });
  }
  if (mode === 'normals') return new THREE.ShaderMaterial({ ...base, fragmentShader: glsl['normals.frag'] });
  if (mode === 'matcap') return new THREE.ShaderMaterial({ ...base, fragmentShader: glsl['matcap.frag'], uniforms: { matcap: { value: matcap() } } });
  if (mode === 'wireframe') {
    base.defines.DD3D_BARYCENTRIC = '';
    return new THREE.ShaderMaterial({
      ...base,
      fragmentShader: glsl['wireframe.frag'],
      // fwidth needs GLSL ES 3.00, which three uses on WebGL 2
      uniforms: {
        lineColor: { value: new THREE.Color(0x1b2430) },
        fillColor: { value: new THREE.Color(0xd8dde6) },
        lineWidth: { value: 1.2 },
      },
    });
  }
  throw new Error(`unknown display mode "${mode}"`);
}

/** Every mesh of `root` wears `mode`'s material. `glsl` is what loadShaders() resolved to. */
export function applyMode(root, mode, glsl) {
  if (!MODES.includes(mode)) throw new Error(`unknown display mode "${mode}"; modes: ${MODES.join(', ')}`);
  root.traverse((o) => {
    if (!o.isMesh) return;
    const u = o.userData;
    u.dd3d ??= { material: o.material, geometry: o.geometry, cache: new Map(), wireGeometry: null };
    const keep = u.dd3d;
    if (!keep.geometry.hasAttribute('normal')) keep.geometry.computeVertexNormals();
    if (mode === 'shaded') {
      o.material = keep.material;
      o.geometry = keep.geometry;
      return;
    }
    if (!keep.cache.has(mode)) {
      const originals = Array.isArray(keep.material) ? keep.material : [keep.material];
      const made = originals.map((m) => shaderMaterial(mode, m, keep.geometry, glsl));
      keep.cache.set(mode, Array.isArray(keep.material) ? made : made[0]);
    }
    if (mode === 'wireframe') keep.wireGeometry ??= barycentricGeometry(keep.geometry);
    o.geometry = mode === 'wireframe' ? keep.wireGeometry : keep.geometry;
    o.material = keep.cache.get(mode);
  });
}

/** Frees what applyMode made and the GLB's own geometry, materials and textures. */
export function disposeModel(root) {
  const seen = new Set();
  const free = (x) => {
    if (x && !seen.has(x)) {
      seen.add(x);
      x.dispose();
    }
  };
  root.traverse((o) => {
    if (!o.isMesh) return;
    const keep = o.userData.dd3d ?? { material: o.material, geometry: o.geometry, cache: new Map(), wireGeometry: null };
    for (const m of [keep.material, ...keep.cache.values()].flat()) {
      for (const v of Object.values(m)) if (v && v.isTexture && v !== matcapTexture) free(v);
      free(m);
    }
    free(keep.geometry);
    free(keep.wireGeometry);
  });
}
