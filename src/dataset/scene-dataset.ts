/**
 * Captioned image datasets of the procedural scenes: the built-in model's training data.
 *
 * On disk (`dd3d scenes dataset --out DIR`):
 * - `DIR/dataset.json`: the settings that determine every byte of the images (format,
 *   version, n, res, seed, families, shard size, camera ranges, render and caption settings).
 * - `DIR/shard-00000.safetensors`: one U8 tensor `images`, shape [k, res, res, 3], NHWC,
 *   sRGB over a white background; k = shard size except in the last shard.
 * - `DIR/shard-00000.jsonl`: k lines, one per image, in the same order:
 *   `{"index", "caption", "view", "attributes", "camera": {"azimuth", "elevation", "radius", "fov"}, "seed"}`
 *   (index is the image's position in the whole dataset, seed the object's makeObject seed).
 *
 * Multi-view datasets (`--views V`, V > 1, MVDream's layout): each record is one object seen
 * from V cameras with azimuths 360°/V apart from a uniform random offset, at one elevation,
 * fov and radius (no overhead views). A shard of k records holds k·V images, record r's views
 * at rows r·V … r·V + V − 1; its JSONL line has `"cameras"` (V cameras) and `"views"` (their
 * view phrases) in place of `"camera"` and `"view"`, and a caption without a view phrase.
 * dataset.json says `"views": V`; a single-view dataset has no such key, as before. Readers
 * expand a record into V per-image records (caption + ", " + view phrase), so everything that
 * reads images (the probe, pretraining) reads either layout.
 *
 * Record i is a pure function of (seed, i): its family, object seed, camera and caption seed
 * all come from `deriveSeed(seed, "dataset/<i>")`. So a shard has the same bytes however the
 * run was split, killed or resumed, and resuming only has to find which shards are complete.
 * Every file is written atomically (temporary name, then rename).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rasterizer, toRGB8 } from '../../renderers/index.js';
import { CAMERA_RANGES, MULTIVIEW_CAMERA_RANGES, cameraRing, sampleCamera, sceneCamera, type SceneCamera } from '../../renderers/camera-rig.js';
import { FAMILY_NAMES, caption, disposeObject, familyName, makeObject, viewPhrase, type Attributes } from '../../scenes/index.js';
import { deriveSeed, mulberry32 } from '../core/random.js';
import { Dd3dError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { pidAlive } from '../io/output-guard.js';
import { readJsonFile, readRegularFile } from '../io/regular-file.js';
import { openSafetensors, writeSafetensors } from '../io/safetensors.js';

// ---------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------

export const DATASET_FORMAT = 'dd3d-scene-dataset';
const DATASET_VERSION = 1;
/** Anti-aliasing of dataset renders: 3×3 samples per pixel. */
export const DATASET_SUPERSAMPLE = 3;

/** dataset.json. Every field but `shards` (derived) is compared when a run resumes. */
export interface DatasetSettings {
  format: typeof DATASET_FORMAT;
  version: number;
  /** Records: images, or objects of `views` images each. */
  n: number;
  /** Views per record, only when more than one (MVDream's layout, see the header). */
  views?: number;
  res: number;
  seed: number;
  families: string[];
  shard_size: number;
  shards: number;
  images: { tensor: 'images'; dtype: 'U8'; layout: 'NHWC'; channels: 3; color: 'sRGB'; background: 'white' };
  render: { supersample: number; light: string };
  camera: {
    azimuth: readonly [number, number];
    elevation: readonly [number, number];
    overhead_probability: number;
    overhead_elevation: readonly [number, number];
    fov: readonly [number, number];
    framing: readonly [number, number];
    radius: string;
    /** Multi-view datasets only: how a record's cameras relate. */
    views?: string;
  };
  captions: { attribute_dropout: string; view_phrase: string };
}

/**
 * The default shard size: the largest power of two whose images stay under 64 MB, at most
 * 8192 (8192 at 32×32 = 24 MB, 4096 at 64×64, 1024 at 128×128, 256 at 256×256).
 */
export function defaultShardSize(res: number): number {
  const fit = Math.floor((64 << 20) / (res * res * 3));
  let k = 1;
  while (k * 2 <= Math.min(8192, fit)) k *= 2;
  return k;
}

/** Resolves a --families list to canonical names, in registry order, without duplicates; empty entries are skipped. */
export function resolveFamilies(list: readonly string[] | undefined): string[] {
  if (list === undefined) return [...FAMILY_NAMES];
  const want = new Set(list.filter((raw) => raw.trim() !== '').map((raw) => familyName(raw, '--families')));
  if (want.size === 0) throw new Dd3dError(`--families: no family given; valid families: ${FAMILY_NAMES.join(', ')}`);
  return FAMILY_NAMES.filter((f) => want.has(f));
}

export interface DatasetOptions {
  /** Output folder; created if missing. */
  out: string;
  /** Number of records: images, or with `views` objects of V images each. */
  n: number;
  /** Views per record (default 1: the single-view layout). */
  views?: number;
  /** Image width and height in pixels. */
  res: number;
  /** Default 0. */
  seed?: number;
  /** Family names (default: all), drawn uniformly. */
  families?: readonly string[];
  /** Records per shard (default: `defaultShardSize(res)` images' worth). */
  shardSize?: number;
  /** Called as images are done (skipped shards count as done). */
  onProgress?: (done: number, total: number) => void;
  /** Stops the run between images; complete shards stay on disk and a rerun resumes. */
  signal?: AbortSignal;
}

/** A numeric option given in code (the CLI's parsers check the typed ones first), named by its flag in the error. */
export function checkInt(flag: string, v: number, lo: number, hi = Number.MAX_SAFE_INTEGER): void {
  if (Number.isSafeInteger(v) && v >= lo && v <= hi) return;
  throw new Dd3dError(`${flag} ${v}: expected an integer ${hi < Number.MAX_SAFE_INTEGER ? `from ${lo} to ${hi}` : `≥ ${lo}`}`);
}

/** The dataset.json a run with these options writes (and compares against on resume). */
export function datasetSettings(opts: Pick<DatasetOptions, 'n' | 'res' | 'seed' | 'families' | 'shardSize' | 'views'>): DatasetSettings {
  const seed = opts.seed ?? 0;
  const views = opts.views ?? 1;
  checkInt('--n', opts.n, 1);
  checkInt('--res', opts.res, 1, 4096);
  checkInt('--seed', seed, 0);
  checkInt('--views', views, 1, 64);
  const shardSize = opts.shardSize ?? Math.max(1, Math.floor(defaultShardSize(opts.res) / views));
  checkInt('--shard-size', shardSize, 1);
  const r = CAMERA_RANGES;
  return {
    format: DATASET_FORMAT,
    version: DATASET_VERSION,
    n: opts.n,
    ...(views > 1 ? { views } : {}),
    res: opts.res,
    seed,
    families: resolveFamilies(opts.families),
    shard_size: shardSize,
    shards: Math.ceil(opts.n / shardSize),
    images: { tensor: 'images', dtype: 'U8', layout: 'NHWC', channels: 3, color: 'sRGB', background: 'white' },
    render: { supersample: DATASET_SUPERSAMPLE, light: 'renderers DEFAULT_LIGHT: direction (0.4, 1, 0.6), intensity 0.7, ambient 0.3' },
    camera: {
      azimuth: r.azimuth,
      elevation: r.elevation,
      overhead_probability: r.overheadProbability,
      overhead_elevation: r.overheadElevation,
      fov: r.fov,
      framing: r.framing,
      radius: 'framing / sin(fov / 2)',
      ...(views > 1 ? { views: `azimuths 360/${views} apart from a uniform offset; one elevation (no overhead), fov and radius per record` } : {}),
    },
    captions: {
      attribute_dropout: 'each attribute kept with probability p, p uniform in [0, 1) per caption',
      view_phrase: 'front view |azimuth| < 45, back view > 135, overhead view elevation > 60, else side view',
    },
  };
}

/** Which flag to blame when a stored setting differs from this run's. */
const SETTING_FLAGS: Record<string, string> = { n: '--n', res: '--res', seed: '--seed', families: '--families', shard_size: '--shard-size', views: '--views' };
const COMPARED: Array<keyof DatasetSettings> = [
  'format',
  'version',
  'n',
  'views',
  'res',
  'seed',
  'families',
  'shard_size',
  'images',
  'render',
  'camera',
  'captions',
];

function describeSetting(key: keyof DatasetSettings, v: unknown): string {
  // a single-view dataset.json has no "views" key; any other missing key is just missing
  if (v === undefined) return key === 'views' ? '1' : 'nothing';
  return Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function checkSameSettings(file: string, stored: Record<string, unknown>, want: DatasetSettings): void {
  for (const key of COMPARED) {
    if (JSON.stringify(stored[key]) === JSON.stringify(want[key])) continue;
    const flag = SETTING_FLAGS[key];
    const dir = path.dirname(file);
    if (flag) {
      throw new Dd3dError(
        `${file} holds a dataset made with ${flag} ${describeSetting(key, stored[key])}, but this run asks for ${flag} ${describeSetting(key, want[key])}; ` +
          `rerun with the same settings to resume it, or choose a new --out than ${dir}`,
      );
    }
    throw new Dd3dError(
      `${file}: its "${key}" setting differs from this dd3d's (${describeSetting(key, stored[key])}); it was written by another version: choose a new --out than ${dir}`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

/** One JSONL line. */
export interface SceneRecord {
  /** Position in the whole dataset. */
  index: number;
  caption: string;
  /** The view phrase of `camera` (also the end of `caption`). */
  view: string;
  attributes: Attributes;
  camera: SceneCamera;
  /** The object's makeObject seed. */
  seed: number;
}

/** One JSONL line of a multi-view dataset: an object seen from V cameras. */
export interface MultiViewRecord {
  index: number;
  /** Without a view phrase: the cameras carry the view. */
  caption: string;
  /** The view phrase of each camera. */
  views: string[];
  attributes: Attributes;
  cameras: SceneCamera[];
  seed: number;
}

/** What record `index` will show: a pure function of (dataset seed, families, views, index). */
export interface ItemPlan {
  index: number;
  family: string;
  seed: number;
  captionSeed: number;
  /** The single view's camera, or the first of `cameras`. */
  camera: SceneCamera;
  /** With views > 1: every view's camera. */
  cameras?: SceneCamera[];
}

export function planItem(settings: Pick<DatasetSettings, 'seed' | 'families' | 'views'>, index: number): ItemPlan {
  const base = deriveSeed(settings.seed, `dataset/${index}`);
  const rng = mulberry32(base);
  const family = settings.families[Math.floor(rng.next() * settings.families.length)]!;
  const views = settings.views ?? 1;
  const camera = sampleCamera(rng, views > 1 ? MULTIVIEW_CAMERA_RANGES : CAMERA_RANGES);
  const plan: ItemPlan = { index, family, seed: deriveSeed(base, 'object'), captionSeed: deriveSeed(base, 'caption'), camera };
  if (views > 1) plan.cameras = cameraRing(camera, views);
  return plan;
}

/**
 * Renders one planned record (V images with views > 1, one after another) into `out` at
 * `offset` (res·res·3 sRGB bytes over white each) and returns its record. The object's
 * geometries are disposed before returning.
 */
function renderItem(rasterizer: Rasterizer, plan: ItemPlan, res: number, out: Uint8Array, offset: number): SceneRecord | MultiViewRecord {
  const { group, attributes } = makeObject(plan.family, plan.seed);
  const cameras = plan.cameras ?? [plan.camera];
  try {
    cameras.forEach((c, v) => {
      const img = rasterizer.render(group, sceneCamera(c), { width: res, height: res, supersample: DATASET_SUPERSAMPLE });
      out.set(toRGB8(img), offset + v * res * res * 3);
    });
  } finally {
    disposeObject(group);
  }
  if (plan.cameras) {
    return {
      index: plan.index,
      caption: caption(attributes, { azimuthDeg: 0, elevationDeg: 0 }, plan.captionSeed, { viewPhrase: false }),
      views: cameras.map((c) => viewPhrase(c.azimuth, c.elevation)),
      attributes,
      cameras,
      seed: plan.seed,
    };
  }
  const view = { azimuthDeg: plan.camera.azimuth, elevationDeg: plan.camera.elevation };
  return {
    index: plan.index,
    caption: caption(attributes, view, plan.captionSeed),
    view: viewPhrase(view.azimuthDeg, view.elevationDeg),
    attributes,
    camera: plan.camera,
    seed: plan.seed,
  };
}

// ---------------------------------------------------------------------------------------
// Shards
// ---------------------------------------------------------------------------------------

const shardName = (s: number): string => `shard-${String(s).padStart(5, '0')}`;
const TEMP_FILE = /^\.(shard-\d+\.(safetensors|jsonl)|dataset\.json)\.(\d+)\.\d+\.tmp$/;

function shardRange(settings: Pick<DatasetSettings, 'n' | 'shard_size'>, s: number): { start: number; count: number } {
  const start = s * settings.shard_size;
  return { start, count: Math.min(settings.shard_size, settings.n - start) };
}

/**
 * Whether shard `s` is on disk and whole: both files exist, the tensor `images` is U8 of
 * shape [k, res, res, 3], and the JSONL has k lines whose first and last indices are right.
 */
function shardComplete(dir: string, settings: DatasetSettings, s: number): boolean {
  const { start, count } = shardRange(settings, s);
  const base = path.join(dir, shardName(s));
  if (!fs.existsSync(`${base}.safetensors`) || !fs.existsSync(`${base}.jsonl`)) return false;
  try {
    const f = openSafetensors(`${base}.safetensors`);
    try {
      if (!f.names.includes('images')) return false;
      const info = f.info('images');
      const want = [count * (settings.views ?? 1), settings.res, settings.res, 3];
      if (info.dtype !== 'U8' || JSON.stringify(info.shape) !== JSON.stringify(want)) return false;
    } finally {
      f.close();
    }
    const lines = splitLines(readRegularFile(`${base}.jsonl`, 'a JSONL shard').toString('utf8'));
    if (lines.length !== count) return false;
    const first = JSON.parse(lines[0]!) as SceneRecord;
    const last = JSON.parse(lines[count - 1]!) as SceneRecord;
    return first.index === start && last.index === start + count - 1;
  } catch (e) {
    if (e instanceof Dd3dError || e instanceof SyntaxError) return false;
    throw e;
  }
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Removes temporary files that a killed run left behind (not those of a live process). */
function removeStaleTemps(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    const m = TEMP_FILE.exec(name);
    if (!m) continue;
    const pid = Number(m[3]);
    // this process's own are not spared: a run calls this before it writes anything
    if (pid !== process.pid && pidAlive(pid)) continue;
    fs.rmSync(path.join(dir, name), { force: true });
  }
}

/** Creates `dir` or checks that it is either empty (but for our temporary files) or one of our datasets. */
function prepareFolder(dir: string, settings: DatasetSettings): void {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new Dd3dError(`--out ${dir}: expected a folder, got a file`);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'dataset.json');
  if (fs.existsSync(file)) {
    let stored: unknown;
    try {
      stored = readJsonFile(file);
    } catch (e) {
      if (!(e instanceof Dd3dError)) throw e;
      throw new Dd3dError(`${e.message}; choose a new --out, or delete the folder to start over`);
    }
    if (typeof stored !== 'object' || stored === null || (stored as { format?: unknown }).format !== DATASET_FORMAT) {
      throw new Dd3dError(`${file}: not a dd3d scene dataset (expected "format": "${DATASET_FORMAT}"); choose a new --out`);
    }
    checkSameSettings(file, stored as Record<string, unknown>, settings);
    return;
  }
  const foreign = fs.readdirSync(dir).filter((name) => !TEMP_FILE.test(name));
  if (foreign.length > 0) {
    throw new Dd3dError(
      `--out ${dir}: the folder holds other files (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}) and no dataset.json; choose a new or empty folder`,
    );
  }
  writeFileAtomic(file, `${JSON.stringify(settings, null, 2)}\n`);
}

export interface DatasetSummary {
  out: string;
  n: number;
  res: number;
  shards: number;
  /** Shards rendered by this run. */
  written: number;
  /** Complete shards found on disk and kept. */
  skipped: number;
  /** Images rendered by this run. */
  images_written: number;
  seconds: number;
  /** Images rendered per second of this run (0 when nothing was rendered). */
  images_per_s: number;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Writes (or finishes) a dataset. Complete shards already in `out` are kept; the rest are
 * rendered. Throws a Dd3dError when `out` holds a dataset with different settings.
 */
export async function writeSceneDataset(opts: DatasetOptions): Promise<DatasetSummary> {
  const started = performance.now();
  const settings = datasetSettings(opts);
  const dir = opts.out;
  prepareFolder(dir, settings);
  removeStaleTemps(dir);

  const rasterizer = new Rasterizer();
  const views = settings.views ?? 1;
  const frame = settings.res * settings.res * 3 * views;
  let done = 0;
  let written = 0;
  let skipped = 0;
  let rendered = 0;
  opts.onProgress?.(0, settings.n);
  for (let s = 0; s < settings.shards; s++) {
    const { start, count } = shardRange(settings, s);
    if (shardComplete(dir, settings, s)) {
      skipped++;
      done += count;
      opts.onProgress?.(done, settings.n);
      continue;
    }
    const images = new Uint8Array(count * frame);
    const lines: string[] = [];
    for (let k = 0; k < count; k++) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
      lines.push(JSON.stringify(renderItem(rasterizer, planItem(settings, start + k), settings.res, images, k * frame)));
      done++;
      rendered++;
      if ((k & 63) === 63) {
        opts.onProgress?.(done, settings.n);
        await yieldToEventLoop(); // lets progress output, signals and aborts through
      }
    }
    const base = path.join(dir, shardName(s));
    // the JSONL goes second: a shard without one is incomplete and gets redone
    writeSafetensors(
      `${base}.safetensors`,
      { images: { dtype: 'U8', shape: [count * views, settings.res, settings.res, 3], data: images } },
      {
        format: DATASET_FORMAT,
        shard: String(s),
        first_index: String(start),
        count: String(count),
      },
    );
    writeFileAtomic(`${base}.jsonl`, `${lines.join('\n')}\n`);
    written++;
    opts.onProgress?.(done, settings.n);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    out: dir,
    n: settings.n,
    res: settings.res,
    shards: settings.shards,
    written,
    skipped,
    images_written: rendered * views,
    seconds,
    images_per_s: rendered > 0 ? (rendered * views) / seconds : 0,
  };
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

export interface SceneShard {
  /** The shard's .safetensors path. */
  file: string;
  res: number;
  /** Images (records × views). */
  count: number;
  /** Views per object: images r·views … r·views + views − 1 show one object. */
  views: number;
  /** All images, [count, res, res, 3] sRGB bytes. */
  images: Uint8Array;
  /** One per image; a multi-view record is expanded into one per view (caption + view phrase). */
  records: SceneRecord[];
  /** Image k of this shard as a view into `images` (res·res·3 bytes). */
  image(k: number): Uint8Array;
}

/** A multi-view record as V per-image records, indexed by image (record index · V + view). */
function expandRecord(r: MultiViewRecord): SceneRecord[] {
  const v = r.cameras.length;
  return r.cameras.map((camera, k) => ({
    index: r.index * v + k,
    caption: `${r.caption}, ${r.views[k]}`,
    view: r.views[k]!,
    attributes: r.attributes,
    camera,
    seed: r.seed,
  }));
}

/**
 * Reads one shard (`shard-00000.safetensors`, its `.jsonl`, or the path without extension);
 * `views` as the dataset's settings say (a multi-view shard's JSONL has a line per object).
 */
export function readSceneShard(file: string, views = 1): SceneShard {
  const base = file.replace(/\.(safetensors|jsonl)$/, '');
  const st = `${base}.safetensors`;
  const f = openSafetensors(st);
  let images: Uint8Array;
  let shape: number[];
  try {
    if (!f.names.includes('images')) throw new Dd3dError(`${st}: no tensor "images"; not a dd3d scene shard`);
    const t = f.get('images');
    shape = t.shape;
    if (t.dtype !== 'U8' || shape.length !== 4 || shape[1] !== shape[2] || shape[3] !== 3) {
      throw new Dd3dError(`${st}: "images" is ${t.dtype} [${shape}], expected U8 [k, res, res, 3]`);
    }
    images = t.data as Uint8Array;
  } finally {
    f.close();
  }
  const jsonl = `${base}.jsonl`;
  if (!fs.existsSync(jsonl)) throw new Dd3dError(`${jsonl}: file not found (every shard has a .safetensors and a .jsonl)`);
  const lines = splitLines(readRegularFile(jsonl, 'a JSONL shard').toString('utf8'));
  const [count, res] = shape as [number, number];
  if (lines.length * views !== count) {
    const what = views > 1 ? `${count} images of ${views} views each` : `${count} images`;
    throw new Dd3dError(`${jsonl}: ${lines.length} lines for ${what}; the shard is incomplete (rerun the dataset command to redo it)`);
  }
  const records = lines.flatMap((line, i) => {
    let r: SceneRecord | MultiViewRecord;
    try {
      r = JSON.parse(line) as SceneRecord | MultiViewRecord;
    } catch {
      throw new Dd3dError(`${jsonl}: line ${i + 1} is not valid JSON`);
    }
    if (views === 1) return [r as SceneRecord];
    if (!('cameras' in r) || !Array.isArray(r.cameras) || r.cameras.length !== views)
      throw new Dd3dError(`${jsonl}: line ${i + 1} does not hold ${views} cameras`);
    return expandRecord(r);
  });
  const frame = res * res * 3;
  return { file: st, res, count, views, images, records, image: (k) => images.subarray(k * frame, (k + 1) * frame) };
}

export interface SceneItem {
  index: number;
  /** res·res·3 sRGB bytes, row 0 at the top. */
  image: Uint8Array;
  caption: string;
  record: SceneRecord;
}

/**
 * A dataset folder for training: `length`, random access with `get(i)` (one shard cached),
 * and shard-by-shard iteration with `for (const item of ds)`.
 */
export class SceneDataset implements Iterable<SceneItem> {
  private cached: { s: number; shard: SceneShard } | undefined;

  private constructor(
    readonly dir: string,
    readonly settings: DatasetSettings,
  ) {}

  /** Opens a finished dataset; a missing shard is an error that says how to finish it. */
  static open(dir: string): SceneDataset {
    const file = path.join(dir, 'dataset.json');
    if (!fs.existsSync(file)) throw new Dd3dError(`${dir}: no dataset.json; not a dd3d scene dataset (make one with "dd3d scenes dataset")`);
    const settings = (readJsonFile(file) ?? {}) as DatasetSettings;
    if (settings.format !== DATASET_FORMAT) throw new Dd3dError(`${file}: not a dd3d scene dataset (expected "format": "${DATASET_FORMAT}")`);
    if (settings.version !== DATASET_VERSION) throw new Dd3dError(`${file}: dataset version ${settings.version}, this dd3d reads version ${DATASET_VERSION}`);
    for (let s = 0; s < settings.shards; s++) {
      for (const ext of ['safetensors', 'jsonl']) {
        const f = path.join(dir, `${shardName(s)}.${ext}`);
        if (!fs.existsSync(f)) throw new Dd3dError(`${f}: missing; the dataset is unfinished: rerun "dd3d scenes dataset" with its settings to complete it`);
      }
    }
    return new SceneDataset(dir, settings);
  }

  /** Images: records × views. */
  get length(): number {
    return this.settings.n * this.views;
  }

  /** Views per record: 1, or V for a multi-view dataset. */
  get views(): number {
    return this.settings.views ?? 1;
  }

  get res(): number {
    return this.settings.res;
  }

  get shardCount(): number {
    return this.settings.shards;
  }

  /** Shard `s`, read whole (the last one read is cached). */
  shard(s: number): SceneShard {
    if (this.cached?.s === s) return this.cached.shard;
    if (!Number.isInteger(s) || s < 0 || s >= this.settings.shards) throw new RangeError(`shard ${s} out of range 0..${this.settings.shards - 1}`);
    const shard = readSceneShard(path.join(this.dir, `${shardName(s)}.safetensors`), this.views);
    const want = shardRange(this.settings, s).count * this.views;
    if (shard.count !== want || shard.res !== this.settings.res) {
      throw new Dd3dError(`${shard.file}: holds ${shard.count} images of ${shard.res}px, dataset.json expects ${want} of ${this.settings.res}px`);
    }
    this.cached = { s, shard };
    return shard;
  }

  /** Image `index` (with views > 1, view index % V of record ⌊index / V⌋). */
  get(index: number): SceneItem {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) throw new RangeError(`image ${index} out of range 0..${this.length - 1}`);
    const perShard = this.settings.shard_size * this.views;
    const s = Math.floor(index / perShard);
    const shard = this.shard(s);
    const k = index - s * perShard;
    const record = shard.records[k]!;
    return { index, image: shard.image(k), caption: record.caption, record };
  }

  *[Symbol.iterator](): Iterator<SceneItem> {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }
}
