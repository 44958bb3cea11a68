#!/usr/bin/env bash
# Reproduces the README's prompt-distribution results: four multi-modal reference sets, each
# measured by eval-2d as the learned distribution against a plain caption and single-prompt tuning,
# next to N fresh draws from the scene generator with the same --where (what a perfect sampler of
# the concept scores against these 12 references).
# Usage: bash examples/results-2d.sh [OUT_DIR] [N] [SET...]   (defaults: results-2d, 256 images per
# row, all four sets). TRAIN_FLAGS adds train-dist flags; without it train-dist runs at its
# defaults, --components 2 --steps 1000 since 2026-12-04 (the README's "dist, --components 2
# --steps 1000" rows). The README's other rows were measured when the defaults were one
# Gaussian and 300 steps: the plain "dist" rows with TRAIN_FLAGS="--components 1 --steps 300",
# the others with their flags plus what they do not name of those, e.g. TRAIN_FLAGS="--assign
# best --components 1 --steps 300" or "--components 4 --steps 300", each into its own OUT_DIR.
# Their caption and fresh-scenes rows are the same for every TRAIN_FLAGS, and so is the
# prompt-tuning row for the same --steps: prompt tuning trains with the distribution's settings.
# Each set prints its README rows and the colours the probe saw per row (OUT_DIR/NAME.eval.json).
# Each set costs about 7 min of train-dist at the defaults on two cores (34 min on one core before
# the native kernels), a few minutes of prompt tuning and ~15 min of eval-2d; sets run one after
# another. MODEL=DIR learns with another model (default: models/dd3d-tiny, which the README's
# 2D rows were measured on; eval-2d then finds it from each distribution).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results-2d}
n=${2:-256}
only=("${@:3}")
read -r -a train_flags <<< "${TRAIN_FLAGS:-}"   # e.g. TRAIN_FLAGS="--components 4"
model=${MODEL:-models/dd3d-tiny}
dd3d() { node dist/src/cli.js "$@"; }
mkdir -p "$out"

# name | family | --where | caption baseline
sets=(
  "chairs|chair|color=red|blue; back=tall|a chair"
  "black-lamps|lamp|shade=cone|drum|dome; color=black; shade_color=black|a lamp"
  "lamps|lamp|shade=cone|drum|dome|a lamp"
  "mugs|mug|handle=handle|no handle; color=red|white|a mug"
)

for row in "${sets[@]}"; do
  name=${row%%|*}; rest=${row#*|}
  family=${rest%%|*}; rest=${rest#*|}
  caption=${rest##*|}; where=${rest%|*}
  if [ ${#only[@]} -gt 0 ] && [[ " ${only[*]} " != *" $name "* ]]; then continue; fi
  echo "== $name: $family where \"$where\""
  dd3d scenes refs --family "$family" --where "$where" --n 12 --seed 0 --out "$out/$name-refs"
  dd3d scenes refs --family "$family" --where "$where" --n "$n" --seed 1 --out "$out/$name-fresh"
  if [ ! -f "$out/$name.json" ]; then
    dd3d train-dist --images "$out/$name-refs" --out "$out/$name.json" --seed 0 --model "$model" "${train_flags[@]}"
  fi
  dd3d eval-2d --dist "$out/$name.json" --refs "$out/$name-refs" --n "$n" --seed 0 \
    --baseline "caption:$caption" --baseline prompt-tuning --baseline "images:$out/$name-fresh" --json > "$out/$name.eval.tmp"
  mv "$out/$name.eval.tmp" "$out/$name.eval.json"
  node examples/eval-rows.mjs "$out/$name.eval.json"
done
