// Experiment (2026-12-06, measured and not adopted; docs/training-record.md, "Weight interpolation"): weight-space
// interpolation between two model folders of one architecture (WiSE-FT, Wortsman et al. 2022),
// θ = α·θ_A + (1 − α)·θ_B for every tensor of the UNet and the text encoder that both hold; the
// tensors only A has (dd3d-mv's camera MLP and ray maps) stay A's. OUT is A's folder otherwise.
// Usage: node docs/experiments/interpolate-weights.mjs A_DIR B_DIR ALPHA OUT_DIR
// e.g.   node docs/experiments/interpolate-weights.mjs models/dd3d-mv models/dd3d-tiny 0.5 wise50
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors } from '../../dist/src/io/safetensors.js';

const [a, b, alphaArg, out] = process.argv.slice(2);
const alpha = Number(alphaArg);
if (!a || !b || !out || !(alpha >= 0 && alpha <= 1)) throw new Error('usage: node docs/experiments/interpolate-weights.mjs A_DIR B_DIR ALPHA OUT_DIR');
if (fs.existsSync(out)) throw new Error(`${out} exists; give a new folder`);
fs.cpSync(a, out, { recursive: true });
for (const file of ['unet/diffusion_pytorch_model.safetensors', 'text_encoder/model.safetensors']) {
  const A = readSafetensors(path.join(a, file));
  const B = readSafetensors(path.join(b, file));
  for (const [name, t] of A.tensors) {
    const u = B.tensors.get(name);
    if (!u) continue;
    if (u.shape.join() !== t.shape.join()) throw new Error(`${file}: ${name} has shape [${t.shape}] in ${a} and [${u.shape}] in ${b}`);
    for (let i = 0; i < t.data.length; i++) t.data[i] = alpha * t.data[i] + (1 - alpha) * u.data[i];
  }
  writeSafetensors(path.join(out, file), A.tensors, { ...A.metadata, interpolation: `${alpha} ${a} + ${1 - alpha} ${b}` });
}
console.log(`${out}: ${alpha} × ${a} + ${1 - alpha} × ${b}`);
