/**
 * What `dd3d view` shows: every .glb under the served folder, with whatever dd3d wrote next
 * to it. Three layouts are understood:
 *
 * - generated assets (`dd3d generate`): a folder with manifest.json of format "dd3d-asset"
 *   naming its GLB, turntable (N views in one row), NeRF preview and source (a distribution
 *   with its reference images, or a prompt), plus seed, iterations and time;
 * - reference sets (`dd3d scenes refs`): attributes.json of format "dd3d-scene-refs" listing
 *   ref-NNN.glb with its picture ref-NNN.png and attributes;
 * - any other .glb: no thumbnail, no facts.
 *
 * The folder is rescanned on every request so that assets a running `generate` writes show
 * up on reload. Every path reported is relative to the served folder, uses "/" and points
 * at a file that /files/ will actually serve (inside the folder after resolving symlinks,
 * no hidden segments). Symlinked files are listed when their target is inside the folder;
 * symlinked folders are not entered, which rules out cycles and double listings.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { isInside, safeSegments } from './safe-path.js';

export type AssetKind = 'generated' | 'reference' | 'glb';

export type AssetSource = { kind: 'distribution'; path: string } | { kind: 'prompt'; prompt: string };

/** Facts from a generated asset's manifest.json; a missing or mistyped field is null. */
export interface GeneratedFacts {
  source: AssetSource | null;
  seed: number | null;
  instance: number | null;
  iterations: number | null;
  seconds: number | null;
  settings: Record<string, unknown> | null;
}

/** Facts from a reference set's attributes.json about one of its images. */
export interface ReferenceFacts {
  attributes: Record<string, string>;
  seed: number | null;
  view: string | null;
  description: string | null;
}

export interface UnavailableReference {
  /** As the manifest wrote it. */
  path: string;
  reason: 'outside the served folder' | 'missing';
}

export interface AssetRecord {
  /** The GLB, relative to the served folder: also the asset's id. */
  path: string;
  /** Display name: the asset's folder for generated assets, else the path without ".glb". */
  name: string;
  kind: AssetKind;
  size: number;
  /** ISO 8601. */
  mtime: string;
  /** A picture of the asset (relative path), or null: the page then renders one live. */
  thumbnail: string | null;
  /** Views side by side in the thumbnail (a turntable strip has several), from its aspect ratio. */
  thumbnailFrames: number;
  /** A generated asset's NeRF render. */
  preview: string | null;
  /** The manifest.json or attributes.json the facts come from. */
  manifest: string | null;
  facts: GeneratedFacts | ReferenceFacts | null;
  /** Reference images the page can show (relative paths). */
  references: string[];
  /** Reference images it cannot: outside the folder, or missing. */
  unavailableReferences: UnavailableReference[];
  /** Something wrong with the asset's metadata, for the page to show; null when all is well. */
  problem: string | null;
}

export interface AssetListing {
  /** The served folder's name (not its full path: the page may be seen by other machines). */
  root: string;
  assets: AssetRecord[];
  /** The walk stopped early (too deep or too many entries): the list is incomplete. */
  truncated: boolean;
}

export const ASSET_FORMAT = 'dd3d-asset';
export const REFS_FORMAT = 'dd3d-scene-refs';
/** Bounds that keep a mistaken `dd3d view ~` from walking the whole disk. */
const MAX_DEPTH = 16;
const MAX_ENTRIES = 100_000;
/** Metadata files larger than this are not dd3d's and are not parsed. */
const MAX_JSON_BYTES = 4 << 20;

const toPosix = (rel: string): string => rel.split(path.sep).join('/');

interface Walk {
  glbs: string[];
  /** Folder (relative, posix, '' for the root) → the file names in it. */
  folders: Map<string, Set<string>>;
  truncated: boolean;
}

/** Files under `realRoot`, skipping hidden entries, node_modules and symlinked folders. */
async function walk(realRoot: string): Promise<Walk> {
  const out: Walk = { glbs: [], folders: new Map(), truncated: false };
  let entries = 0;
  const visit = async (rel: string, depth: number): Promise<void> => {
    let list: import('node:fs').Dirent[];
    try {
      list = await fs.readdir(path.join(realRoot, rel), { withFileTypes: true });
    } catch {
      return; // unreadable folder: show the rest
    }
    const names = new Set<string>();
    out.folders.set(toPosix(rel), names);
    for (const e of list.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (++entries > MAX_ENTRIES) {
        out.truncated = true;
        return;
      }
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const childRel = rel ? path.join(rel, e.name) : e.name;
      if (e.isDirectory()) {
        if (depth >= MAX_DEPTH) out.truncated = true;
        else await visit(childRel, depth + 1);
        continue;
      }
      if (!e.isFile() && !(e.isSymbolicLink() && (await servedFile(realRoot, path.join(realRoot, childRel))))) continue;
      names.add(e.name);
      if (e.name.toLowerCase().endsWith('.glb')) out.glbs.push(toPosix(childRel));
    }
  };
  await visit('', 0);
  return out;
}

/**
 * `abs` as a relative posix path when /files/ would serve it: a regular file (after
 * symlinks) inside the folder, reached without hidden segments; else null.
 */
async function servedFile(realRoot: string, abs: string): Promise<string | null> {
  const rel = path.relative(realRoot, abs);
  if (rel === '' || !isInside(realRoot, abs)) return null;
  const posix = toPosix(rel);
  if (!safeSegments(posix.split('/').map(encodeURIComponent).join('/'))) return null;
  try {
    const real = await fs.realpath(abs);
    if (!isInside(realRoot, real)) return null;
    return (await fs.stat(real)).isFile() ? posix : null;
  } catch {
    return null;
  }
}

async function readJson(file: string): Promise<{ value?: unknown; problem?: string }> {
  try {
    const st = await fs.stat(file);
    if (st.size > MAX_JSON_BYTES) return { problem: `${path.basename(file)}: larger than ${MAX_JSON_BYTES >> 20} MB, not read` };
    return { value: JSON.parse(await fs.readFile(file, 'utf8')) as unknown };
  } catch (e) {
    return { problem: `${path.basename(file)}: ${e instanceof SyntaxError ? 'not valid JSON' : 'cannot be read'}` };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Width ÷ height of a PNG, rounded: the number of views in a turntable strip (1 when unreadable). */
async function pngFrames(file: string): Promise<number> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    const head = Buffer.alloc(24);
    await handle.read(head, 0, 24, 0);
    if (head.toString('latin1', 12, 16) !== 'IHDR') return 1;
    const w = head.readUInt32BE(16);
    const h = head.readUInt32BE(20);
    return h > 0 ? Math.max(1, Math.min(64, Math.round(w / h))) : 1;
  } catch {
    return 1;
  } finally {
    await handle?.close();
  }
}

async function baseRecord(realRoot: string, rel: string): Promise<AssetRecord> {
  const st = await fs.stat(path.join(realRoot, rel));
  return {
    path: rel,
    name: rel.replace(/\.glb$/i, ''),
    kind: 'glb',
    size: st.size,
    mtime: st.mtime.toISOString(),
    thumbnail: null,
    thumbnailFrames: 1,
    preview: null,
    manifest: null,
    facts: null,
    references: [],
    unavailableReferences: [],
    problem: null,
  };
}

function generatedFacts(m: Record<string, unknown>): GeneratedFacts {
  const s = isObject(m.source) ? m.source : null;
  let source: AssetSource | null = null;
  if (s?.kind === 'distribution' && typeof s.path === 'string') source = { kind: 'distribution', path: s.path };
  else if (s?.kind === 'prompt' && typeof s.prompt === 'string') source = { kind: 'prompt', prompt: s.prompt };
  return {
    source,
    seed: num(m.seed),
    instance: num(m.instance),
    iterations: num(m.iterations),
    seconds: num(m.seconds),
    settings: isObject(m.settings) ? m.settings : null,
  };
}

/** A generated asset folder: fills `records` for the GLB its manifest names. */
async function readGeneratedFolder(realRoot: string, folder: string, records: Map<string, AssetRecord>): Promise<void> {
  const manifestRel = folder ? `${folder}/manifest.json` : 'manifest.json';
  const dirAbs = path.join(realRoot, folder);
  const { value, problem } = await readJson(path.join(dirAbs, 'manifest.json'));
  if (problem !== undefined) {
    // an unreadable manifest next to GLBs is worth saying; the GLBs still show as plain ones
    for (const r of records.values()) if (path.posix.dirname(r.path) === (folder || '.')) r.problem = problem;
    return;
  }
  if (!isObject(value) || value.format !== ASSET_FORMAT) return; // someone else's manifest.json
  const glb = typeof value.glb === 'string' ? await servedFile(realRoot, path.resolve(dirAbs, value.glb)) : null;
  const record = glb ? records.get(glb) : undefined;
  if (!record) {
    const where = folder || '.';
    for (const r of records.values()) if (path.posix.dirname(r.path) === where) r.problem = `${manifestRel}: "glb" does not name a .glb in this folder`;
    return;
  }
  const picture = async (field: unknown, fallback: string): Promise<string | null> =>
    servedFile(realRoot, path.resolve(dirAbs, typeof field === 'string' ? field : fallback));
  record.kind = 'generated';
  record.name = folder || path.posix.basename(record.path).replace(/\.glb$/i, '');
  record.manifest = manifestRel;
  record.facts = generatedFacts(value);
  record.preview = await picture(value.preview, 'preview.png');
  const turntable = await picture(value.turntable, 'turntable.png');
  record.thumbnail = turntable ?? record.preview;
  record.thumbnailFrames = turntable ? await pngFrames(path.join(realRoot, turntable)) : 1;
  if (value.version !== 1) record.problem = `${manifestRel}: version ${JSON.stringify(value.version)}, this viewer knows version 1; facts may be incomplete`;

  const refs = isObject(value.source) && Array.isArray(value.source.references) ? value.source.references : [];
  for (const ref of refs) {
    if (typeof ref !== 'string') continue;
    const abs = path.resolve(dirAbs, ref);
    const served = await servedFile(realRoot, abs);
    if (served) record.references.push(served);
    else {
      let real: string | null = null;
      try {
        real = await fs.realpath(abs);
      } catch {
        // missing, or a dangling link
      }
      const outside = !isInside(realRoot, abs) || (real !== null && !isInside(realRoot, real));
      record.unavailableReferences.push({ path: ref, reason: outside ? 'outside the served folder' : 'missing' });
    }
  }
}

/** A reference set folder: marks each listed GLB as a reference with its picture and attributes. */
async function readRefsFolder(realRoot: string, folder: string, records: Map<string, AssetRecord>): Promise<void> {
  const setRel = folder ? `${folder}/attributes.json` : 'attributes.json';
  const dirAbs = path.join(realRoot, folder);
  const { value } = await readJson(path.join(dirAbs, 'attributes.json'));
  if (!isObject(value) || value.format !== REFS_FORMAT || !Array.isArray(value.images)) return;
  for (const image of value.images) {
    if (!isObject(image) || typeof image.glb !== 'string') continue;
    const glb = await servedFile(realRoot, path.resolve(dirAbs, image.glb));
    const record = glb ? records.get(glb) : undefined;
    if (!record) continue;
    // the picture of a reference GLB is its sibling PNG with the same stem
    const stem = path.basename(image.glb).replace(/\.glb$/i, '');
    record.kind = 'reference';
    record.manifest = setRel;
    record.thumbnail = await servedFile(realRoot, path.join(path.dirname(path.resolve(dirAbs, image.glb)), `${stem}.png`));
    record.facts = {
      attributes: isObject(image.attributes)
        ? (Object.fromEntries(Object.entries(image.attributes).filter(([, v]) => typeof v === 'string')) as Record<string, string>)
        : {},
      seed: num(image.seed),
      view: str(image.view),
      description: str(image.description),
    };
  }
}

/** Every .glb under `realRoot` (a real, absolute path) with what dd3d wrote about it. */
export async function listAssets(realRoot: string): Promise<AssetListing> {
  const found = await walk(realRoot);
  const records = new Map<string, AssetRecord>();
  for (const rel of found.glbs) {
    try {
      records.set(rel, await baseRecord(realRoot, rel));
    } catch {
      // deleted between the walk and now
    }
  }
  for (const [folder, names] of found.folders) {
    if (names.has('attributes.json')) await readRefsFolder(realRoot, folder, records);
    if (names.has('manifest.json')) await readGeneratedFolder(realRoot, folder, records);
  }
  return {
    root: path.basename(realRoot),
    assets: [...records.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    truncated: found.truncated,
  };
}
