#!/usr/bin/env bash
# Regenerates the README's sample grids: dd3d-tiny from text (models/dd3d-tiny/samples/)
# and the learned chair distribution (the paper's single Gaussian, examples/chair-single.json) at
# γ = 0, 1, 2, mixed with a lamp distribution, edited, and as a mixture of four components
# (examples/grids/). Every grid is 8 images at the defaults
# (seed 0, the model's guidance and steps), then how far the variants move the images; about 3
# minutes on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
# --force: the grids it replaces are its own earlier outputs
dd3d() { node dist/src/cli.js "$@" --force; }
mkdir -p examples/grids

for row in "a red chair, front view|red-chair-front" "a blue lamp, front view|blue-lamp-front" \
  "a purple vase, front view|purple-vase-front" "a blue car, side view|blue-car-side" "a green sofa, side view|green-sofa-side"; do
  dd3d sample --model models/dd3d-tiny --prompt "${row%%|*}" --n 8 --out "models/dd3d-tiny/samples/${row##*|}.png"
done

for g in 0 1 2; do
  dd3d sample --dist examples/chair-single.json --std-scale "$g" --n 8 --out "examples/grids/chair-std$g.png"
done
dd3d sample --dist examples/chair-single.json=0.5 --mix examples/lamp.json=0.5 --n 8 --out examples/grids/chair-lamp-mix.png
dd3d sample --dist examples/chair-single.json --suffix ", side view" --n 8 --out examples/grids/chair-side-view.png
dd3d sample --dist examples/chair-single.json --prefix "a green" --n 8 --out examples/grids/chair-green.png
# the mixture (train-dist --components 4 on the same references): each image from one colour group
dd3d sample --dist examples/chair-mixture.json --n 8 --out examples/grids/chair-mixture.png

# How far each variant moves the images from the γ = 1 grid (and γ = 0 from γ = 1): the mean
# absolute pixel difference, in 1/255 steps, that the README quotes.
node --input-type=module -e '
import sharp from "sharp";
const px = async (f) => sharp(`examples/grids/${f}.png`).raw().toBuffer();
const base = await px("chair-std1");
for (const f of ["chair-std0", "chair-std2", "chair-lamp-mix", "chair-side-view", "chair-green"]) {
  const b = await px(f);
  let d = 0;
  for (let i = 0; i < b.length; i++) d += Math.abs(b[i] - base[i]);
  console.log(`${f} vs chair-std1: ${(d / b.length).toFixed(1)}/255`);
}'
