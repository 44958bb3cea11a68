/**
 * Reference sets for train-dist (`dd3d scenes refs`) and the family contact sheet
 * (`dd3d scenes sheet`), both drawn from the procedural scenes.
 *
 * A reference set stands in for the user's 5–20 photos of a concept, so every image is a
 * *distinct instance* matching the --where constraints, each seen once: what train-dist
 * has to learn is the spread of the concept (colours, proportions, optional parts), and
 * several views of one object would teach that spread less than the same number of
 * different objects. Views are mostly front and side at elevation 0–30°, as people
 * photograph things; each instance is also written as a GLB, the ground truth a 3D result
 * can be compared with.
 *
 * On disk: `ref-000.png` (sRGB over white), `ref-000.glb` (the same object, unit bounding
 * sphere, +Y up, front +Z; asset extras hold its attributes and seed), and
 * `attributes.json`: `{format, version, family, where, constraints, seed, n, res, views,
 * images: [{file, glb, attributes, camera, view, seed, description}]}`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rasterizer, toRGB8 } from '../../renderers/index.js';
import { FAMILY_NAMES, caption, disposeObject, familyName, makeObject, parseWhere, viewPhrase, type Attributes } from '../../scenes/index.js';
import { deriveSeed, mulberry32, type Rng } from '../core/random.js';
import { Dd3dError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/regular-file.js';
import { groupToMeshes, writeGlb } from '../io/glb.js';
import { type ImageBatch, writePng } from '../io/image.js';
import { DATASET_SUPERSAMPLE, checkInt } from './scene-dataset.js';
import { CAMERA_RANGES, frameRadius, framedCamera, roundCamera, sceneCamera, type SceneCamera } from '../../renderers/camera-rig.js';

export const REFS_FORMAT = 'dd3d-scene-refs';
const REFS_VERSION = 1;

/** Reference views: mostly front and side, a few from the back, elevation 0–30°. */
const REF_VIEWS = Object.freeze({
  /** Shares of front (|azimuth| ≤ 40°), side (50–130°) and back (140–180°) views; margins keep them clear of the 45°/135° thresholds. */
  front: 0.45,
  side: 0.45,
  back: 0.1,
  elevation: [0, 30] as const,
  fov: CAMERA_RANGES.fov,
  framing: CAMERA_RANGES.framing,
});

/** One reference camera: always the same six draws from `rng`. */
export function refCamera(rng: Rng): SceneCamera {
  const kind = rng.next();
  const u = rng.next();
  const sign = rng.next() < 0.5 ? -1 : 1;
  const azimuth = kind < REF_VIEWS.front ? sign * 40 * u : kind < REF_VIEWS.front + REF_VIEWS.side ? sign * (50 + 80 * u) : sign * (140 + 40 * u);
  const [eLo, eHi] = REF_VIEWS.elevation;
  const elevation = eLo + (eHi - eLo) * rng.next();
  return framedCamera(azimuth, elevation, rng, REF_VIEWS);
}

export interface RefsOptions {
  family: string;
  /** Constraints such as "color=red|blue; back=tall" (see parseWhere). */
  where?: string;
  n: number;
  res: number;
  out: string;
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface RefImage {
  file: string;
  glb: string;
  attributes: Attributes;
  camera: SceneCamera;
  view: string;
  /** The object's makeObject seed. */
  seed: number;
  /** A caption naming every attribute, for people reading the file (train-dist does not use it). */
  description: string;
}

export interface RefsManifest {
  format: typeof REFS_FORMAT;
  version: number;
  family: string;
  where: string;
  constraints: Record<string, string[]>;
  seed: number;
  n: number;
  res: number;
  views: typeof REF_VIEWS;
  images: RefImage[];
}

const REF_FILE = /^ref-\d+\.(png|glb)$/;
const TEMP = /^\..+\.\d+\.\d+\.tmp$/;

/** Files of an earlier set in `dir` that this one does not rewrite; refuses folders that hold anything else. */
function prepareRefsFolder(dir: string): void {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new Dd3dError(`--out ${dir}: expected a folder, got a file`);
  fs.mkdirSync(dir, { recursive: true });
  const foreign = fs.readdirSync(dir).filter((f) => f !== 'attributes.json' && !REF_FILE.test(f) && !TEMP.test(f));
  if (foreign.length > 0) {
    throw new Dd3dError(
      `--out ${dir}: the folder holds files that are not a reference set (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}); choose a new or empty folder`,
    );
  }
}

/** Writes a reference set; returns its manifest (also written as attributes.json). */
export async function writeReferenceSet(opts: RefsOptions): Promise<RefsManifest> {
  const family = familyName(opts.family, '--family');
  const where = opts.where ?? '';
  const constraints = parseWhere(family, where, '--where');
  const seed = opts.seed ?? 0;
  checkInt('--seed', seed, 0);
  checkInt('--n', opts.n, 1);
  checkInt('--res', opts.res, 1, 4096);
  const dir = opts.out;
  prepareRefsFolder(dir);

  const digits = Math.max(3, String(opts.n - 1).length);
  const rasterizer = new Rasterizer();
  const images: RefImage[] = [];
  opts.onProgress?.(0, opts.n);
  for (let i = 0; i < opts.n; i++) {
    const stem = `ref-${String(i).padStart(digits, '0')}`;
    const objectSeed = deriveSeed(seed, `refs/${family}/${i}`);
    const camera = refCamera(mulberry32(deriveSeed(seed, `refs/${family}/${i}/camera`)));
    const { group, attributes } = makeObject(family, objectSeed, constraints);
    try {
      const img = rasterizer.render(group, sceneCamera(camera), { width: opts.res, height: opts.res, supersample: DATASET_SUPERSAMPLE });
      await writePng(path.join(dir, `${stem}.png`), bytesToBatch(toRGB8(img), opts.res));
      await writeGlb(path.join(dir, `${stem}.glb`), groupToMeshes(group), { name: `${family} ${stem}`, extras: { attributes, seed: objectSeed } });
    } finally {
      disposeObject(group);
    }
    const view = { azimuthDeg: camera.azimuth, elevationDeg: camera.elevation };
    images.push({
      file: `${stem}.png`,
      glb: `${stem}.glb`,
      attributes,
      camera,
      view: viewPhrase(view.azimuthDeg, view.elevationDeg),
      seed: objectSeed,
      description: caption(attributes, view, objectSeed, { keep: 1 }),
    });
    opts.onProgress?.(i + 1, opts.n);
  }

  // an earlier, larger set in the same folder must not leave extra references behind
  const keep = new Set(images.flatMap((im) => [im.file, im.glb]));
  for (const f of fs.readdirSync(dir)) if (REF_FILE.test(f) && !keep.has(f)) fs.rmSync(path.join(dir, f), { force: true });

  const manifest: RefsManifest = {
    format: REFS_FORMAT,
    version: REFS_VERSION,
    family,
    where,
    constraints,
    seed,
    n: opts.n,
    res: opts.res,
    views: REF_VIEWS,
    images,
  };
  writeFileAtomic(path.join(dir, 'attributes.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** What readers of a reference set rely on in its attributes.json. */
export interface RefsManifestEntries {
  family: string;
  /** Attribute → the values --where allowed. */
  constraints: Record<string, string[]>;
  /** Each image's file, its GLB (absent in a set from elsewhere) and attributes. */
  images: Array<{ file: string; glb?: string; attributes: Record<string, string> }>;
}

/**
 * A reference set's attributes.json, checked against what writeReferenceSet writes: the
 * format key, the family, constraints as lists of values, and images with a file name and
 * string attributes. The one reader for eval-2d and eval-3d; anything else is a one-line
 * error naming the file and the key.
 */
export function readRefsManifest(file: string): RefsManifestEntries {
  const j = readJsonFile(file) as Record<string, unknown> | null;
  const expected = `as "dd3d scenes refs" writes it`;
  if (typeof j !== 'object' || j === null || Array.isArray(j) || j.format !== REFS_FORMAT)
    throw new Dd3dError(`${file}: not a reference set (expected "format": "${REFS_FORMAT}")`);
  if (typeof j.family !== 'string' || !Array.isArray(j.images)) throw new Dd3dError(`${file}: expected "family" (a string) and "images" (a list), ${expected}`);
  const constraints: Record<string, string[]> = {};
  const rawConstraints = j.constraints ?? {};
  if (typeof rawConstraints !== 'object' || rawConstraints === null || Array.isArray(rawConstraints))
    throw new Dd3dError(`${file}: "constraints" is not an object of attribute → values`);
  for (const [k, v] of Object.entries(rawConstraints)) {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Dd3dError(`${file}: constraints.${k} is not a list of values`);
    constraints[k] = v as string[];
  }
  const images = (j.images as unknown[]).map((im, i) => {
    const e = im as { file?: unknown; glb?: unknown; attributes?: unknown } | null;
    if (typeof e !== 'object' || e === null || typeof e.file !== 'string') throw new Dd3dError(`${file}: images[${i}] has no "file" (a string), ${expected}`);
    if (e.glb !== undefined && typeof e.glb !== 'string') throw new Dd3dError(`${file}: images[${i}].glb is not a file name`);
    const attributes = e.attributes ?? {};
    if (typeof attributes !== 'object' || attributes === null || !Object.values(attributes).every((v) => typeof v === 'string'))
      throw new Dd3dError(`${file}: images[${i}].attributes is not an object of attribute → value`);
    return { file: e.file, ...(e.glb === undefined ? {} : { glb: e.glb }), attributes: attributes as Record<string, string> };
  });
  return { family: j.family, constraints, images };
}

/** `n` square res×res RGB images of sRGB bytes as the float batch writePng takes. */
function bytesToBatch(bytes: Uint8Array, res: number, n = 1): ImageBatch {
  const data = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) data[i] = bytes[i]! / 255;
  return { data, n, height: res, width: res, channels: 3 };
}

export interface SheetOptions {
  perFamily?: number;
  res?: number;
  seed?: number;
  families?: readonly string[];
}

/** Contact-sheet views: front three-quarter views from alternating sides at varying heights. */
function sheetCamera(j: number): SceneCamera {
  const side = j % 2 === 0 ? 1 : -1;
  const fov = 50;
  return roundCamera({ azimuth: side * (25 + ((j * 23) % 50)), elevation: 12 + ((j * 11) % 20), radius: frameRadius(fov, 1.1), fov });
}

/**
 * One row per family (registry order unless `families` says otherwise), `perFamily`
 * distinct instances per row, each from a different view. Returns the images as a batch of
 * families × perFamily tiles; write it with `writePng(file, batch, perFamily)`.
 */
export function renderContactSheet(opts: SheetOptions = {}): ImageBatch {
  const per = opts.perFamily ?? 6;
  const res = opts.res ?? 128;
  const seed = opts.seed ?? 0;
  const families = opts.families ?? FAMILY_NAMES;
  const frame = res * res * 3;
  const bytes = new Uint8Array(families.length * per * frame);
  const rasterizer = new Rasterizer();
  families.forEach((family, f) => {
    for (let j = 0; j < per; j++) {
      const { group } = makeObject(family, deriveSeed(seed, `sheet/${family}/${j}`));
      try {
        const img = rasterizer.render(group, sceneCamera(sheetCamera(j)), { width: res, height: res, supersample: DATASET_SUPERSAMPLE });
        bytes.set(toRGB8(img), (f * per + j) * frame);
      } finally {
        disposeObject(group);
      }
    }
  });
  return bytesToBatch(bytes, res, families.length * per);
}
