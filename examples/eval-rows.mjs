// Prints an `eval-2d --json` result as the README's results rows (TV, in-distribution, attribute
// coverage, FID, precision, recall, feature coverage, diversity) and each row's colour counts.
// Usage: node examples/eval-rows.mjs FILE.eval.json
import * as fs from 'node:fs';
import { colourCounts } from './colour-counts.mjs';

const j = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const g3 = (x) => +x.toPrecision(3);
for (const r of j.rows) {
  const cells = [r.name, r.tv_distance.toFixed(3), `${(100 * r.in_distribution).toFixed(1)}%`, `${Math.round(100 * r.attribute_coverage)}%`, Math.round(r.fid), g3(r.precision), g3(r.recall), g3(r.coverage), r.diversity.toFixed(1)];
  console.log(`| ${cells.join(' | ')} |`);
  console.log(`  colours: ${colourCounts(r).map(([c, k]) => `${c} ${k}`).join(', ')}`);
}
