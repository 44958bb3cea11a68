// Where a colour named in a prompt lands: samples N images of each PROMPT (null camera, the
// model's sampling defaults, seed 0, as eval-prompt does) and counts, over them, the probe's
// main colour (what the world's "a green table" colours: a table's legs, a lamp's base and
// stem, a chair's frame) and each part colour of the prompt's family (a table's top, a lamp's
// shade, a chair's seat), read with that family's attribute heads. eval-prompt scores only
// the main colour.
//
// A prompt that names colours ("a red chair with a green seat") is also scored: the share of
// its images whose main colour is the one before the family noun, and whose part colour is
// the one before the part noun. With several prompts the last lines are those shares over all
// of them: whether the model binds each colour to its part. examples/prompt-sets.sh's set_p
// is the part-colour set (adherence.sh scores the main colour alone, so it is not for that).
// Usage: node examples/part-colours.mjs MODEL_DIR "PROMPT"... [N]   (default N 16)
// e.g.   node examples/part-colours.mjs models/dd3d-mv "a green table, side view"
//        source examples/prompt-sets.sh; node examples/part-colours.mjs models/dd3d-mv "${set_p[@]}"
import { initBackend } from '../dist/src/backend/backend.js';
import { loadModel, samplingSettings } from '../dist/src/cli/model-flag.js';
import { sampleAndProbe } from '../dist/src/eval/sample-and-probe.js';
import { loadProbe } from '../dist/src/probe/index.js';
import { COLOR_NAMES, FAMILIES } from '../dist/scenes/index.js';

const args = process.argv.slice(2);
const n = /^\d+$/.test(args.at(-1) ?? '') ? Number(args.pop()) : 16;
const [modelDir, ...prompts] = args;
if (!modelDir || prompts.length === 0) throw new Error('usage: node examples/part-colours.mjs MODEL_DIR "PROMPT"... [N]');
await initBackend('wasm');
const model = loadModel(modelDir);
const probe = loadProbe('models/dd3d-tiny/probe');
const { steps, guidance } = samplingSettings({}, model);
const count = (values) =>
  Object.entries(values.reduce((m, v) => ({ ...m, [v]: (m[v] ?? 0) + 1 }), {}))
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
// hits and images over every prompt that names the main colour / a part colour
const total = { main: [0, 0], part: [0, 0], both: [0, 0] };

for (const prompt of prompts) {
  const words = prompt.split(/[\s,]+/);
  const family = FAMILIES.find((f) => words.includes(f.name));
  if (!family) throw new Error(`no family noun in "${prompt}"`);
  // the colour word just before a noun: "a red chair with a green seat" → red, green
  const colourBefore = (noun) => {
    const i = words.indexOf(noun);
    return i > 0 && COLOR_NAMES.includes(words[i - 1]) ? words[i - 1] : undefined;
  };
  const parts = family.attributes.filter((a) => a.kind === 'color' && a.part);
  const named = { main: colourBefore(family.name), parts: parts.map((a) => [a.name, colourBefore(a.part)]).filter(([, c]) => c) };
  const cond = model.encodePrompts([prompt]);
  const set = await sampleAndProbe(model, probe, (_, k) => cond.tile([k, 1, 1]), { n, steps, guidance, seed: 0, batch: 16, attributesOf: family.name });
  cond.dispose();
  const p = set.predictions;
  console.log(`${prompt} (${modelDir}, ${n} images)`);
  console.log(`  main colour: ${count(p.map((x) => x.color))}`);
  for (const a of parts) console.log(`  ${a.name}: ${count(p.map((x) => x.attributes[a.name]))}`);
  const mainHit = (x) => x.color === named.main;
  const partHit = (x) => named.parts.every(([k, c]) => x.attributes[k] === c);
  const add = (key, hit) => {
    const hits = p.filter(hit).length;
    total[key][0] += hits;
    total[key][1] += p.length;
    return `${hits}/${p.length}`;
  };
  const scored = [];
  if (named.main) scored.push(`main ${named.main} ${add('main', mainHit)}`);
  if (named.parts.length > 0) scored.push(`${named.parts.map(([, c]) => c).join('+')} ${named.parts.map(([k]) => k.replace('_color', '')).join('+')} ${add('part', partHit)}`);
  if (named.main && named.parts.length > 0) scored.push(`both ${add('both', (x) => mainHit(x) && partHit(x))}`);
  if (scored.length > 0) console.log(`  as named: ${scored.join('; ')}`);
}
if (prompts.length > 1) {
  const pct = ([hits, all]) => (all === 0 ? '–' : `${((100 * hits) / all).toFixed(1)}% (${hits}/${all})`);
  console.log(`over ${prompts.length} prompts: main colour as named ${pct(total.main)}, part colour as named ${pct(total.part)}, both ${pct(total.both)}`);
}
