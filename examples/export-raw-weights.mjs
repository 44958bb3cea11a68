// Writes a pretrain checkpoint's raw weights (its `w` group, not the EMA that pretrain exports)
// as a model folder. Early in a fine-tune the EMA (decay 0.999) still holds mostly the starting
// weights, zeros for new camera weights, so this is what shows what the run has learned so far.
// Usage: node examples/export-raw-weights.mjs RUN_DIR/checkpoint CONFIG OUT_DIR
// e.g.   node examples/export-raw-weights.mjs models/dd3d-mvl/checkpoint mv32l mvl-raw
import * as fs from 'node:fs';
import { initBackend } from '../dist/src/backend/backend.js';
import { allVariables, buildTinyModel } from '../dist/src/train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../dist/src/train/pretrain-configs.js';
import { loadCheckpoint } from '../dist/src/train/checkpoint.js';
import { exportTinyModel } from '../dist/src/train/export.js';
import { AdamW } from '../dist/src/train/adamw.js';
import { Ema } from '../dist/src/train/ema.js';

const [checkpoint, configName, out] = process.argv.slice(2);
const config = PRETRAIN_CONFIGS[configName];
if (!checkpoint || !config || !out) throw new Error('usage: node examples/export-raw-weights.mjs RUN_DIR/checkpoint CONFIG OUT_DIR');
if (fs.existsSync(out)) throw new Error(`${out} exists; give a new folder`);
await initBackend('wasm');
const model = buildTinyModel(config, 0);
const weights = allVariables(model);
const ema = new Ema(weights, config.emaDecay);
const state = loadCheckpoint(checkpoint, 'dd3d-pretrain-checkpoint', { w: weights, ema: ema.shadow }, new AdamW(weights, {}), { config: config.name });
exportTinyModel(out, model, weights, config, {});
console.log(`${out}: the raw weights of step ${state.step}`);
