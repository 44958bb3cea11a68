// Writes a pretrain checkpoint as a model folder, while the run goes on: its EMA weights (what
// pretrain itself exports at the end), or with --raw its raw weights (the `w` group). Early in a
// fine-tune the EMA (decay 0.999) still holds mostly the starting weights, zeros for new camera
// weights, so --raw is what shows what the run has learned so far.
// Usage: node examples/export-weights.mjs RUN_DIR/checkpoint CONFIG OUT_DIR [--raw]
// e.g.   node examples/export-weights.mjs models/dd3d-mvq/checkpoint mv32q mvq-ema
import * as fs from 'node:fs';
import { initBackend } from '../dist/src/backend/backend.js';
import { allVariables, buildTinyModel } from '../dist/src/train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../dist/src/train/pretrain-configs.js';
import { loadCheckpoint } from '../dist/src/train/checkpoint.js';
import { exportTinyModel } from '../dist/src/train/export.js';
import { AdamW } from '../dist/src/train/adamw.js';
import { Ema } from '../dist/src/train/ema.js';

const args = process.argv.slice(2);
const raw = args.includes('--raw');
const [checkpoint, configName, out] = args.filter((a) => a !== '--raw');
const config = PRETRAIN_CONFIGS[configName];
if (!checkpoint || !config || !out) throw new Error('usage: node examples/export-weights.mjs RUN_DIR/checkpoint CONFIG OUT_DIR [--raw]');
if (fs.existsSync(out)) throw new Error(`${out} exists; give a new folder`);
await initBackend('wasm');
const model = buildTinyModel(config, 0);
const weights = allVariables(model);
const ema = new Ema(weights, config.emaDecay);
const state = loadCheckpoint(checkpoint, 'dd3d-pretrain-checkpoint', { w: weights, ema: ema.shadow }, new AdamW(weights, {}), { config: config.name });
const meta = { dd3d_config: config.name, steps: String(state.step), weights: raw ? 'raw' : 'ema' };
exportTinyModel(out, model, raw ? weights : ema.shadow, config, meta);
console.log(`${out}: the ${raw ? 'raw' : 'EMA'} weights of step ${state.step}`);
