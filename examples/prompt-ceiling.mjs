// What a perfect model would score on eval-prompt: the probe's family and main-colour
// accuracy on the world's own renders of each PROMPT (its family, main colour and view
// phrase), taken from a single-view scene dataset. Where a part hides the main colour from a
// view (a table's legs under its top from overhead: the world's "a pink table" has pink legs)
// the world itself scores low, so a prompt's adherence is read against this ceiling.
// Usage: node examples/prompt-ceiling.mjs DATASET_DIR "PROMPT"...
// e.g.   npx dd3d scenes dataset --n 40000 --res 32 --seed 3 --out /tmp/world
//        source examples/prompt-sets.sh; node examples/prompt-ceiling.mjs /tmp/world "${set_c[@]}"
import { initBackend } from '../dist/src/backend/backend.js';
import { promptTerms } from '../dist/src/eval/prompt-terms.js';
import { loadProbe } from '../dist/src/probe/index.js';
import { loadProbeData } from '../dist/src/probe/data.js';
import { VIEW_PHRASES } from '../dist/scenes/index.js';

const [dataDir, ...prompts] = process.argv.slice(2);
if (!dataDir || prompts.length === 0) throw new Error('usage: node examples/prompt-ceiling.mjs DATASET_DIR "PROMPT"...');
await initBackend('wasm');
const probe = loadProbe('models/dd3d-tiny/probe');
const cfg = probe.config;
const data = loadProbeData(dataDir, cfg);
// the probe's reading of every image (one byte array per image, so a dataset at a multiple of
// the probe's resolution is box-downsampled)
const frame = data.res * data.res * 3;
const predictions = probe.predict(Array.from({ length: data.n }, (_, i) => data.images.subarray(i * frame, (i + 1) * frame)));

const pct = (x) => `${(100 * x).toFixed(1)}%`.padStart(7);
console.log(`${'prompt'.padEnd(36)}  images  family  colour`);
let familySum = 0;
let colorSum = 0;
for (const prompt of prompts) {
  const terms = promptTerms(prompt);
  const view = VIEW_PHRASES.find((v) => prompt.endsWith(v));
  if (!terms.color || !view) throw new Error(`"${prompt}": name a colour, a family and a view phrase (${VIEW_PHRASES.join(', ')})`);
  let n = 0;
  let familyOk = 0;
  let colorOk = 0;
  for (let i = 0; i < data.n; i++) {
    if (cfg.families[data.family[i]] !== terms.family || cfg.colors[data.color[i]] !== terms.color || data.records[i].view !== view) continue;
    n++;
    if (predictions[i].family === terms.family) familyOk++;
    if (predictions[i].color === terms.color) colorOk++;
  }
  if (n === 0) throw new Error(`"${prompt}": no image of the dataset matches it; make the dataset larger`);
  familySum += familyOk / n;
  colorSum += colorOk / n;
  console.log(`${prompt.padEnd(36)}  ${String(n).padStart(6)} ${pct(familyOk / n)} ${pct(colorOk / n)}`);
}
console.log(`${`mean of ${prompts.length} prompts`.padEnd(36)}  ${''.padStart(6)} ${pct(familySum / prompts.length)} ${pct(colorSum / prompts.length)}`);
