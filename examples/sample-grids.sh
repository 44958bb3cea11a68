#!/usr/bin/env bash
# Regenerates the README's sample grids: the built-in model from text (models/dd3d-tiny/samples/)
# and the learned chair distribution at γ = 0, 1, 2, mixed with a lamp distribution, and edited
# (examples/grids/). Every grid is 8 images at the defaults (seed 0, 25 DDIM steps, the model's
# guidance); about 6 minutes on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
dd3d() { node dist/src/cli.js "$@"; }
mkdir -p examples/grids

for row in "a red chair, front view|red-chair-front" "a blue lamp, front view|blue-lamp-front" \
  "a purple vase, front view|purple-vase-front" "a blue car, side view|blue-car-side" "a green sofa, side view|green-sofa-side"; do
  dd3d sample --prompt "${row%%|*}" --n 8 --out "models/dd3d-tiny/samples/${row##*|}.png"
done

for g in 0 1 2; do
  dd3d sample --dist examples/chair.json --std-scale "$g" --n 8 --out "examples/grids/chair-std$g.png"
done
dd3d sample --dist examples/chair.json=0.5 --mix examples/lamp.json=0.5 --n 8 --out examples/grids/chair-lamp-mix.png
dd3d sample --dist examples/chair.json --suffix ", side view" --n 8 --out examples/grids/chair-side-view.png
dd3d sample --dist examples/chair.json --prefix "a green" --n 8 --out examples/grids/chair-green.png
