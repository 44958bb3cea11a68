#!/usr/bin/env bash
# Prompt adherence of a multi-view model with and without its cameras, on prompt set A: for
# each prompt, N plain samples (null camera, as eval-prompt draws) and N/4 instances of
# `sample --views 4` (N images), each image scored by the probe for the prompt's family and
# colour. Prints one line per prompt and the means (docs/training-record.md, "Step 9,600").
# Usage: bash examples/views-adherence.sh OUT_DIR [N] [MODEL_DIR]   (defaults: 32, the built-in model)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bash examples/views-adherence.sh OUT_DIR [N] [MODEL_DIR]}
n=${2:-32}
model=(); [[ -n "${3:-}" ]] && model=(--model "$3")
dd3d() { node dist/src/cli.js "$@"; }
mkdir -p "$out"
# shellcheck source=examples/prompt-sets.sh
source examples/prompt-sets.sh
prompts=("${set_a[@]}")
for p in "${prompts[@]}"; do
  d=$out/$(tr ' ,' '__' <<< "$p")
  [[ -d $d-plain ]] || dd3d sample "${model[@]}" --prompt "$p" --n "$n" --out "$d-plain" >/dev/null
  [[ -d $d-views ]] || dd3d sample "${model[@]}" --prompt "$p" --views 4 --n $((n / 4)) --out "$d-views" >/dev/null
done
node --input-type=module - "$out" "${prompts[@]}" <<'JS'
import * as path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './dist/src/backend/backend.js';
import { loadReferenceImages } from './dist/src/distribution/reference-images.js';
import { builtinProbeDir } from './dist/src/paths.js';
import { loadProbe } from './dist/src/probe/index.js';
import { promptTerms } from './dist/src/eval/prompt-terms.js';
const [out, ...prompts] = process.argv.slice(2);
await initBackend('wasm');
const probe = loadProbe(builtinProbeDir());
// a folder of samples as one batch, at the size they were drawn
const score = async (dir, family, colour) => {
  const { width, height } = await sharp(path.join(dir, '0000.png')).metadata();
  const { views } = await loadReferenceImages(dir, height, width, { flip: false });
  const images = tf.tensor4d(views.data, [views.n, height, width, 3]);
  const p = probe.predict(images);
  images.dispose();
  return [p.filter((x) => x.family === family).length / p.length, p.filter((x) => x.color === colour).length / p.length];
};
const sums = { plain: [0, 0], views: [0, 0] };
for (const prompt of prompts) {
  const { family, color } = promptTerms(prompt);
  const d = path.join(out, prompt.replace(/[ ,]/g, '_'));
  const row = [];
  for (const kind of ['plain', 'views']) {
    const [f, c] = await score(`${d}-${kind}`, family, color);
    sums[kind][0] += f / prompts.length;
    sums[kind][1] += c / prompts.length;
    row.push(`${kind} ${(100 * f).toFixed(1)} / ${(100 * c).toFixed(1)}%`);
  }
  console.log(`${prompt}: ${row.join(', ')}`);
}
for (const kind of ['plain', 'views']) console.log(`${kind}: family ${(100 * sums[kind][0]).toFixed(1)}%, colour ${(100 * sums[kind][1]).toFixed(1)}%`);
JS
