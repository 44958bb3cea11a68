// Where a colour named in a prompt lands: samples N images of PROMPT (null camera, the model's
// sampling defaults, seed 0, as eval-prompt does) and counts, over them, the probe's main colour
// (what the world's "a green table" colours: a table's legs, a lamp's base and stem, a chair's
// frame) and each part colour of the prompt's family (a table's top, a lamp's shade, a chair's
// seat), read with that family's attribute heads. eval-prompt scores only the main colour.
// Usage: node examples/part-colours.mjs MODEL_DIR "PROMPT" [N]   (default N 16)
// e.g.   node examples/part-colours.mjs models/dd3d-mv "a green table, side view"
import { initBackend } from '../dist/src/backend/backend.js';
import { loadModel, samplingSettings } from '../dist/src/cli/model-flag.js';
import { sampleAndProbe } from '../dist/src/eval/sample-and-probe.js';
import { loadProbe } from '../dist/src/probe/index.js';
import { FAMILIES } from '../dist/scenes/index.js';

const [modelDir, prompt, nArg] = process.argv.slice(2);
if (!modelDir || !prompt) throw new Error('usage: node examples/part-colours.mjs MODEL_DIR "PROMPT" [N]');
await initBackend('wasm');
const model = loadModel(modelDir);
const probe = loadProbe('models/dd3d-tiny/probe');
const family = FAMILIES.find((f) => prompt.split(/[\s,]+/).includes(f.name));
if (!family) throw new Error(`no family noun in "${prompt}"`);
const { steps, guidance } = samplingSettings({}, model);
const cond = model.encodePrompts([prompt]);
const n = Number(nArg ?? 16);
const set = await sampleAndProbe(model, probe, (_, count) => cond.tile([count, 1, 1]), { n, steps, guidance, seed: 0, batch: 16, attributesOf: family.name });
const parts = family.attributes.filter((a) => a.kind === 'color' && a.part).map((a) => a.name);
const count = (values) => Object.entries(values.reduce((m, v) => ({ ...m, [v]: (m[v] ?? 0) + 1 }), {})).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
console.log(`${prompt} (${modelDir}, ${n} images)`);
console.log(`  main colour: ${count(set.predictions.map((p) => p.color))}`);
for (const part of parts) console.log(`  ${part}: ${count(set.predictions.map((p) => p.attributes[part]))}`);
