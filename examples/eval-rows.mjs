// Prints an `eval-2d --json` result as the README's results rows (TV, in-distribution, attribute
// coverage, FID, precision, recall, feature coverage, diversity), each row's colour counts, and
// the attribute marginals among the images of the references' family.
// Usage: node examples/eval-rows.mjs FILE.eval.json
import * as fs from 'node:fs';
import { colourCounts } from './colour-counts.mjs';

const j = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const g3 = (x) => +x.toPrecision(3);
const pct = (x) => `${Math.round(100 * x)}%`;
const marginals = (m) =>
  Object.entries(m ?? {})
    .map(([name, values]) => `${name} ${Object.entries(values).sort((a, b) => b[1] - a[1]).map(([v, x]) => `${v} ${pct(x)}`).join(', ')}`)
    .join('; ');
if (j.reference_marginals) console.log(`references: ${marginals(j.reference_marginals)}`);
for (const r of j.rows) {
  const cells = [r.name, r.tv_distance.toFixed(3), `${(100 * r.in_distribution).toFixed(1)}%`, `${Math.round(100 * r.attribute_coverage)}%`, Math.round(r.fid), g3(r.precision), g3(r.recall), g3(r.coverage), r.diversity.toFixed(1)];
  console.log(`| ${cells.join(' | ')} |`);
  const colours = colourCounts(r);
  if (colours.length) console.log(`  colours: ${colours.map(([c, k]) => `${c} ${k}`).join(', ')}`);
  if (r.marginals) console.log(`  ${pct(r.family_share)} of the family; among them: ${marginals(r.marginals)}`);
}
