import type { Command } from 'commander';
import { DEFAULT_POINTS } from '../eval/chamfer.js';
import { evaluateAssets, EVAL_VIEWS, listAssets, readReferenceSet, type Check3d, type Eval3dResult } from '../eval/eval-3d.js';
import { builtinProbeDir } from '../paths.js';
import { loadProbe } from '../probe/index.js';
import { startBackend } from './common.js';
import { intOption } from './options.js';
import { progressBar } from './progress.js';
import { fmt, formatTable } from '../core/table.js';

interface Eval3dFlags {
  assets: string;
  refs: string;
  probe?: string;
  points: number;
  seed: number;
  json?: boolean;
}

export function registerEval3d(program: Command): void {
  program
    .command('eval-3d')
    .description(
      "measure generated 3D assets against a reference set: probe family, attribute and colour agreement over 8 views, each asset's majority colour, part colour agreement (a chair's seat, a table's top, ...), Chamfer distance to the nearest reference, and shape diversity",
    )
    .requiredOption(
      '--assets <dir>',
      'generated assets: a "dd3d generate" folder (asset-NNN/ with manifest.json), one asset folder, a folder of .glb files, or one .glb',
    )
    .requiredOption('--refs <dir>', 'the reference set from "dd3d scenes refs" (attributes.json + ref-NNN.glb)')
    .option('--probe <dir>', 'attribute probe (default: models/dd3d-tiny/probe)')
    .option('--points <n>', 'surface points sampled per mesh for Chamfer distances', intOption(16, 1_000_000), DEFAULT_POINTS)
    .option('--seed <n>', 'seed of the surface sampling', intOption(0), 0)
    .option(
      '--json',
      'print one JSON object: {"assets": [...], "family_agreement", "color_agreement", "attribute_agreement", "attribute_agreement_overall", "majority_color_share", "part_color_agreement", "reference_part_color_agreement", "chamfer_to_nearest", "diversity_assets", "diversity_refs", "n_assets", "n_refs", ...}',
    )
    .addHelpText('after', '\nExample:\n  dd3d eval-3d --assets out/ --refs refs/chairs')
    .action(async (opts: Eval3dFlags, cmd: Command) => {
      // bad folders are reported before the backend and probe load
      const total = readReferenceSet(opts.refs).refs.length + listAssets(opts.assets).length;
      await startBackend(cmd);
      const probe = loadProbe(opts.probe ?? builtinProbeDir());
      const bar = progressBar('eval-3d', total, { quiet: opts.json });
      let result: Eval3dResult;
      try {
        result = await evaluateAssets({
          assets: opts.assets,
          refs: opts.refs,
          probe,
          points: opts.points,
          seed: opts.seed,
          onProgress: (done) => bar.update(done),
        });
      } finally {
        bar.stop();
        probe.dispose();
      }
      if (opts.json) {
        console.log(JSON.stringify(result));
        return;
      }
      printReport(result, opts.refs);
    });
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function printReport(r: Eval3dResult, refsDir: string): void {
  console.log(
    `${r.n_assets} assets against ${r.n_refs} references in ${refsDir} (${r.reference_family}; colours ${r.reference_colors.join(', ') || '-'}); ` +
      `${EVAL_VIEWS.azimuths.length} views each at elevation ${EVAL_VIEWS.elevation}°, ${r.points} surface points per mesh\n`,
  );
  const attrs = Object.keys(r.reference_constraints);
  const parts = Object.keys(r.reference_part_colors);
  const rows = r.assets.map((a) => [
    a.name,
    pct(a.family_agreement),
    ...attrs.map((k) => pct(a.attribute_agreement[k]!)),
    pct(a.color_agreement),
    `${a.majority_color}${a.majority_color_ok ? '' : ' ✗'}`,
    ...parts.map((k) => pct(a.part_color_agreement[k]!)),
    a.nearest_ref,
    fmt(a.chamfer),
  ]);
  rows.push([
    `mean of ${r.n_assets}`,
    pct(r.family_agreement),
    ...attrs.map((k) => pct(r.attribute_agreement[k]!)),
    pct(r.color_agreement),
    `${pct(r.majority_color_share)} ok`,
    ...parts.map((k) => pct(r.part_color_agreement[k]!)),
    '',
    fmt(r.chamfer_to_nearest),
  ]);
  console.log(
    formatTable(
      ['asset', 'family ↑', ...attrs.map((k) => `${k} ↑`), 'colour ↑', 'majority colour', ...parts.map((k) => `${k} ↑`), 'nearest ref', 'chamfer ↓'],
      rows,
    ),
  );
  if (attrs.length) {
    const fixed = attrs.map((k) => `${k} = ${r.reference_constraints[k]!.join(' | ')}`).join('; ');
    console.log(`
attribute agreement (views reading an allowed value of ${fixed}): ${pct(r.attribute_agreement_overall!)} overall`);
  }
  for (const k of parts)
    console.log(
      `\n${k} agreement (views reading a colour some reference's ${k} has: ${r.reference_part_colors[k]!.join(', ')}): ` +
        `assets ${pct(r.part_color_agreement[k]!)}, the references themselves ${pct(r.reference_part_color_agreement[k]!)}`,
    );
  const div = (x: number | null) => (x === null ? '- (needs 2)' : fmt(x));
  console.log(`\ndiversity (mean pairwise chamfer): assets ${div(r.diversity_assets)}, references ${div(r.diversity_refs)}`);
  // Chamfer distances print as numbers, agreements as shares.
  const show = (c: Check3d, x: number) => (c.name === 'chamfer' || c.name === 'diversity' ? fmt(x) : pct(x));
  const failed = r.checks.filter((c) => !c.pass).map((c) => `${c.name} ${show(c, c.value)} ${c.atMost ? '>' : '<'} ${show(c, c.target)}`);
  console.log(`\nlike the references: ${r.pass ? 'yes' : `no (${failed.join('; ')})`}`);
}
