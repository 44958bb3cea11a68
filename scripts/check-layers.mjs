#!/usr/bin/env node
/**
 * The import rules of dd3d's layers, checked over the import graph of every .ts file in
 * src/, nerf/, renderers/ and scenes/ (static `import … from`, `export … from` and
 * `import('…')` of relative paths; type-only imports count, since they shape the design too).
 *
 * Layers, lowest first. A file may import its own folder, and any folder of a lower layer:
 *   0  src/core                 seeding, errors, table formatting: imports nothing of dd3d's
 *   1  scenes, nerf             the procedural world; radiance fields and meshing
 *   2  renderers                rasterizer, volume renderer (draws nerf's fields), camera rig
 *   3  src (everything else)    models, pipelines, training, text-to-3D, CLI
 * and no file-level import cycle anywhere.
 *
 * Usage: node scripts/check-layers.mjs [root]. Prints each violation on one line and exits 1
 * if there is any; `npm run lint` and test/scripts/check-layers.test.ts run it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const LAYERS = [
  { name: 'src/core', rank: 0 },
  { name: 'scenes', rank: 1 },
  { name: 'nerf', rank: 1 },
  { name: 'renderers', rank: 2 },
  { name: 'src', rank: 3 },
];

/** The layer a repo-relative path belongs to (the longest matching folder), or null. */
export function layerOf(rel) {
  let best = null;
  for (const l of LAYERS) if ((rel === l.name || rel.startsWith(l.name + '/')) && (!best || l.name.length > best.name.length)) best = l;
  return best;
}

function listTs(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listTs(p) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const IMPORT_RE = /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g;

/** Relative imports of one file, resolved to repo-relative .ts paths. */
export function importsOf(root, rel) {
  const src = fs.readFileSync(path.join(root, rel), 'utf8');
  const out = [];
  for (const m of src.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2];
    out.push(path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec)).replace(/\.js$/, '.ts'));
  }
  return out;
}

export function checkLayers(root) {
  const files = ['src', 'nerf', 'renderers', 'scenes'].flatMap((d) => listTs(path.join(root, d))).map((p) => path.relative(root, p).split(path.sep).join('/'));
  const graph = new Map(files.map((f) => [f, importsOf(root, f)]));
  const problems = [];
  for (const [from, targets] of graph) {
    const lf = layerOf(from);
    for (const to of targets) {
      const lt = layerOf(to);
      if (!lt) problems.push(`${from} imports ${to}, which is outside the layered folders`);
      else if (lt.name !== lf.name && lt.rank >= lf.rank)
        problems.push(`${from} (layer ${lf.name}) imports ${to} (layer ${lt.name}): imports must point to a lower layer`);
    }
  }
  // cycles: depth-first search, reporting each back edge's cycle once
  const state = new Map();
  const stack = [];
  const visit = (f) => {
    state.set(f, 1);
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (!graph.has(t)) continue;
      if (state.get(t) === 1) problems.push(`import cycle: ${[...stack.slice(stack.indexOf(t)), t].join(' -> ')}`);
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of [...graph.keys()].sort()) if (!state.has(f)) visit(f);
  return { files: files.length, problems };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = path.resolve(process.argv[2] ?? '.');
  const { files, problems } = checkLayers(root);
  for (const p of problems) console.log(p);
  console.log(`check-layers: ${files} files, ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
  process.exit(problems.length ? 1 : 0);
}
