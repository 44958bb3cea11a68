#!/usr/bin/env bash
# Reproduces the README's prompt-distribution results: three multi-modal reference sets, each
# measured by eval-2d as the learned distribution against a plain caption and single-prompt tuning.
# Usage: bash examples/results-2d.sh [OUT_DIR] [N]      (defaults: results-2d, 256 images per row)
# Each set costs about 10 min of train-dist, a few minutes of prompt-tuning and ~20 min of eval-2d
# on one core; sets run one after another.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results-2d}
n=${2:-256}
dd3d() { node dist/src/cli.js "$@"; }
mkdir -p "$out"

# name | family | --where | caption baseline
sets=(
  "chairs|chair|color=red|blue; back=tall|a chair"
  "lamps|lamp|shade=cone|drum|dome|a lamp"
  "mugs|mug|handle=handle|no handle; color=red|white|a mug"
)

for row in "${sets[@]}"; do
  name=${row%%|*}; rest=${row#*|}
  family=${rest%%|*}; rest=${rest#*|}
  caption=${rest##*|}; where=${rest%|*}
  echo "== $name: $family where \"$where\""
  dd3d scenes refs --family "$family" --where "$where" --n 12 --seed 0 --out "$out/$name-refs"
  if [ ! -f "$out/$name.json" ]; then
    dd3d train-dist --images "$out/$name-refs" --out "$out/$name.json" --seed 0
  fi
  dd3d eval-2d --dist "$out/$name.json" --refs "$out/$name-refs" --n "$n" --seed 0 \
    --baseline "caption:$caption" --baseline prompt-tuning | tee "$out/$name.eval.txt"
done
