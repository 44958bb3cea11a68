/**
 * `dd3d scenes ...`: the procedural object families as data. `dataset` writes the built-in
 * model's captioned training shards, `refs` a reference set for train-dist with ground-truth
 * GLBs, `list` the families and their attributes, `sheet` a contact sheet of every family.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { COLORS, COLOR_NAMES, FAMILIES, FAMILY_NAMES } from '../../scenes/index.js';
import { DATASET_FORMAT, resolveFamilies, writeSceneDataset } from '../dataset/scene-dataset.js';
import { renderContactSheet, writeReferenceSet } from '../dataset/scene-refs.js';
import { Dd3dError } from '../core/errors.js';
import { writePng } from '../io/image.js';
import { checkOutput, folderWithFormat } from '../io/output-guard.js';
import { intOption } from './options.js';
import { progressBar } from './progress.js';
import { fmt, formatTable } from '../core/table.js';

interface DatasetFlags {
  force?: boolean;
  n: number;
  res: number;
  out: string;
  seed: number;
  families?: string;
  shardSize?: number;
  views: number;
  json?: boolean;
}

interface RefsFlags {
  family: string;
  where: string;
  n: number;
  res: number;
  out: string;
  seed: number;
  json?: boolean;
}

interface SheetFlags {
  force?: boolean;
  out: string;
  perFamily: number;
  res: number;
  seed: number;
  families?: string;
  json?: boolean;
}

const hex = (c: number): string => `#${c.toString(16).padStart(6, '0')}`;

/** `dd3d scenes list --json`: families with their attributes, and the palette. */
function scenesListing(): {
  families: Array<{ name: string; attributes: Array<{ name: string; kind: string; part?: string; values: string[] }> }>;
  colors: Record<string, string>;
} {
  return {
    families: FAMILIES.map((f) => ({
      name: f.name,
      attributes: f.attributes.map((a) => ({ name: a.name, kind: a.kind, ...(a.part ? { part: a.part } : {}), values: [...a.values] })),
    })),
    colors: Object.fromEntries(COLOR_NAMES.map((c) => [c, hex(COLORS[c]!)])),
  };
}

export function registerScenes(program: Command): void {
  const scenes = program
    .command('scenes')
    .description('procedural 3D object families: captioned training datasets, reference sets, listings, contact sheets')
    .addHelpText(
      'after',
      `
Examples:
  dd3d scenes list
  dd3d scenes dataset --n 100000 --res 32 --out data/scenes32
  dd3d scenes refs --family chair --where "color=red|blue; back=tall" --n 12 --out refs/red-blue-chairs
  dd3d scenes sheet --out scenes/contact-sheet.png --per-family 6 --res 96`,
    );

  scenes
    .command('dataset')
    .description('write a captioned image dataset: safetensors shards of uint8 images plus a JSONL of captions, attributes and cameras')
    .requiredOption('--n <count>', 'number of records: images, or with --views V objects of V images each', intOption(1, 100_000_000))
    .requiredOption('--res <px>', 'image width and height', intOption(4, 1024))
    .requiredOption('--out <dir>', 'output folder (created; rerunning the same command resumes it)')
    .option('--force', 'write into --out even if it holds files dd3d did not write (an earlier output of this command needs no flag)')
    .option('--seed <n>', 'dataset seed: record i depends only on (seed, i)', intOption(0), 0)
    .option('--families <list>', 'comma-separated families to draw from, uniformly (default: all; see "dd3d scenes list")')
    .option(
      '--views <v>',
      "views per record: V renders of one object, azimuths 360/V apart from a random offset at one elevation (MVDream's layout; 1 = single images)",
      intOption(1, 64),
      1,
    )
    .option(
      '--shard-size <k>',
      'records per shard (default: the largest power of two of images under 64 MB, at most 8192, divided by --views)',
      intOption(1, 10_000_000),
    )
    .option('--json', 'print a JSON summary on stdout: {"out", "n", "res", "shards", "written", "skipped", "images_written", "seconds", "images_per_s"}')
    .addHelpText(
      'after',
      `
Writes DIR/dataset.json (the settings), and per shard DIR/shard-00000.safetensors (tensor
"images", uint8 [k, res, res, 3], sRGB over white) with DIR/shard-00000.jsonl (one line per
image: index, caption, view, attributes, camera {azimuth, elevation, radius, fov}, seed).
Cameras: azimuth uniform in (-180, 180], elevation -10..45 (10% overhead at 60..90),
fov 40..70, radius = framing / sin(fov/2) with framing 1.05..1.25 so the whole object is in
view. Rerunning keeps complete shards and redoes the rest; a folder holding a dataset with
other settings is an error.

With --views V > 1 each of the --n records is one object in V images (a shard of k records
holds k·V images, each record's views together), its JSONL line has "cameras" and "views"
(one per image) and a caption without a view phrase; no overhead views.

Examples:
  dd3d scenes dataset --n 100000 --res 32 --out data/scenes32
  dd3d scenes dataset --n 5000 --res 64 --families chair,table,lamp --seed 7 --out data/furniture64
  dd3d scenes dataset --n 25000 --views 4 --res 32 --out data/mv32`,
    )
    .action(async (opts: DatasetFlags) => {
      const ours = folderWithFormat('dataset.json', [DATASET_FORMAT]);
      checkOutput({ path: opts.out, flag: '--out', kind: 'folder', force: Boolean(opts.force), isOurs: ours, createParent: true });
      const families = opts.families === undefined ? undefined : resolveFamilies(opts.families.split(','));
      const bar = progressBar(opts.views > 1 ? `rendering (×${opts.views} views)` : 'rendering', opts.n, { quiet: opts.json });
      let summary;
      try {
        summary = await writeSceneDataset({
          out: opts.out,
          n: opts.n,
          res: opts.res,
          seed: opts.seed,
          families,
          shardSize: opts.shardSize,
          views: opts.views,
          onProgress: (done) => bar.update(done),
        });
      } finally {
        bar.stop();
      }
      if (opts.json) console.log(JSON.stringify(summary));
      else {
        const rate = summary.images_written > 0 ? `, ${fmt(summary.images_per_s)} images/s` : '';
        console.error(
          `${summary.out}: ${summary.n} ${opts.views > 1 ? `records of ${opts.views} views` : 'images'} of ${summary.res}×${summary.res} in ${summary.shards} shard${summary.shards > 1 ? 's' : ''} ` +
            `(${summary.written} written, ${summary.skipped} already complete) in ${summary.seconds.toFixed(1)} s${rate}`,
        );
      }
    });

  scenes
    .command('refs')
    .description('write a reference set for train-dist: distinct instances matching --where, as PNGs, ground-truth GLBs and attributes.json')
    .requiredOption('--family <name>', 'object family (see "dd3d scenes list")')
    .option('--where <constraints>', 'attribute constraints, "attr=value|value; attr=value"; a value may be abbreviated to a word ("back=tall")', '')
    .option('--n <count>', 'number of reference images, each a different instance (train-dist wants 5-20)', intOption(1, 10_000), 12)
    .option('--res <px>', 'image width and height', intOption(8, 2048), 256)
    .requiredOption('--out <dir>', 'output folder (created; an earlier reference set in it is replaced)')
    .option('--seed <n>', 'seed of the instances and views', intOption(0), 0)
    .option('--json', 'print a JSON summary on stdout: {"out", "family", "constraints", "n", "res", "seed", "seconds"}')
    .addHelpText(
      'after',
      `
Each ref-NNN.png shows a different object (one view each: 45% front, 45% side, 10% back,
elevation 0..30), and ref-NNN.glb is that object's mesh (unit bounding sphere, +Y up,
facing +Z). attributes.json lists per image: file, glb, attributes, camera, view, seed and
a description naming every attribute.

Examples:
  dd3d scenes refs --family chair --where "color=red|blue; back=tall" --n 12 --out refs/chairs
  dd3d scenes refs --family lamp --where "shade=cone" --n 8 --res 128 --seed 3 --out refs/lamps`,
    )
    .action(async (opts: RefsFlags) => {
      const bar = progressBar('rendering', opts.n, { quiet: opts.json });
      let manifest;
      const started = performance.now();
      try {
        manifest = await writeReferenceSet({
          family: opts.family,
          where: opts.where,
          n: opts.n,
          res: opts.res,
          out: opts.out,
          seed: opts.seed,
          onProgress: (d) => bar.update(d),
        });
      } finally {
        bar.stop();
      }
      const seconds = (performance.now() - started) / 1000;
      if (opts.json) {
        console.log(
          JSON.stringify({
            out: opts.out,
            family: manifest.family,
            constraints: manifest.constraints,
            n: manifest.n,
            res: manifest.res,
            seed: manifest.seed,
            seconds,
          }),
        );
      } else {
        console.error(`${opts.out}: ${manifest.n} ${manifest.family} references (PNG + GLB) and attributes.json in ${seconds.toFixed(1)} s`);
      }
    });

  scenes
    .command('list')
    .description('list the object families, their attributes and values, and the colour palette')
    .option('--json', 'print {"families": [{"name", "attributes": [{"name", "kind", "part"?, "values"}]}], "colors": {name: "#rrggbb"}}')
    .addHelpText('after', '\nExamples:\n  dd3d scenes list\n  dd3d scenes list --json')
    .action((opts: { json?: boolean }) => {
      const listing = scenesListing();
      if (opts.json) {
        console.log(JSON.stringify(listing));
        return;
      }
      const rows: string[][] = [];
      for (const f of listing.families) {
        f.attributes.forEach((a, i) => {
          const whole = a.kind === 'color' && a.values.length === COLOR_NAMES.length;
          rows.push([i === 0 ? f.name : '', a.name, whole ? 'any palette colour' : a.values.join(', ')]);
        });
      }
      console.log(formatTable(['family', 'attribute', 'values'], rows));
      console.log(
        `\npalette: ${Object.entries(listing.colors)
          .map(([n, h]) => `${n} ${h}`)
          .join(', ')}`,
      );
      console.log('\nUse attribute names and values in --where, e.g. dd3d scenes refs --family chair --where "color=red|blue; back=tall".');
    });

  scenes
    .command('sheet')
    .description('draw a contact sheet: one row per family, different instances and views across')
    .requiredOption('--out <file.png>', 'output PNG')
    .option('--force', 'replace --out if it exists')
    .option('--per-family <n>', 'instances per family (columns)', intOption(1, 64), 6)
    .option('--res <px>', 'tile width and height', intOption(8, 1024), 128)
    .option('--seed <n>', 'seed of the instances', intOption(0), 0)
    .option('--families <list>', 'comma-separated families, one row each (default: all, in "dd3d scenes list" order)')
    .option('--json', 'print a JSON summary on stdout: {"out", "rows", "columns", "res", "seed"}')
    .addHelpText(
      'after',
      '\nExamples:\n  dd3d scenes sheet --out scenes/contact-sheet.png --per-family 6 --res 96\n  dd3d scenes sheet --out cars.png --families car --per-family 8 --seed 4',
    )
    .action(async (opts: SheetFlags) => {
      if (path.extname(opts.out).toLowerCase() !== '.png') throw new Dd3dError(`--out: expected a .png file name, got "${opts.out}"`);
      const families = opts.families === undefined ? undefined : resolveFamilies(opts.families.split(','));
      checkOutput({ path: opts.out, flag: '--out', kind: 'file', force: Boolean(opts.force), what: 'PNG' });
      const batch = renderContactSheet({ perFamily: opts.perFamily, res: opts.res, seed: opts.seed, families });
      await writePng(opts.out, batch, opts.perFamily);
      const rows = families ?? [...FAMILY_NAMES];
      if (opts.json) console.log(JSON.stringify({ out: opts.out, rows, columns: opts.perFamily, res: opts.res, seed: opts.seed }));
      else console.error(`wrote ${opts.out} (rows: ${rows.join(', ')}; ${opts.perFamily} per row, ${opts.res} px tiles)`);
    });
}
