#!/usr/bin/env bash
# Reproduces the README's chairs sweep: train-dist on examples/chair-refs with each set of flags
# below, eval-2d on 256 samples, one markdown row per run (TV, attribute and feature coverage,
# FID, the three most common colours and the blue count).
# Usage: bash examples/chair-sweep.sh [OUT_DIR] [N]   (defaults: chair-sweep, 256)
# Each run costs about 9 min of train-dist and 4 min of eval-2d on one core; finished runs
# (OUT_DIR/NAME.json, NAME.eval.json) are kept, so an interrupted sweep continues. MODEL=DIR
# learns with another model (default: models/dd3d-tiny, which the sweep was measured on).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-chair-sweep}
n=${2:-256}
refs=examples/chair-refs
model=${MODEL:-models/dd3d-tiny}
dd3d() { node dist/src/cli.js "$@"; }
mkdir -p "$out"

# name | train-dist flags | extra eval-2d flags (the prompt-tuning row is the first run's baseline)
runs=(
  "default||"
  "ortho0.1|--ortho 0.1|"
  "suffix|--suffix chair|--baseline prompt-tuning"
  "suffix-ortho0.01|--suffix chair --ortho 0.01|"
  "suffix-ortho0.03|--suffix chair --ortho 0.03|"
  "suffix-ortho0.1|--suffix chair --ortho 0.1|"
  "best|--assign best|"
  "suffix-best|--suffix chair --assign best|"
  "best-ortho0.01|--assign best --ortho 0.01|"
  "best-ortho0.01-s8|--assign best --ortho 0.01 --samples 8 --batch 1|"
)

for run in "${runs[@]}"; do
  IFS='|' read -r name flags eval_flags <<< "$run"
  read -r -a train_flags <<< "$flags"
  read -r -a extra <<< "$eval_flags"
  if [ ! -f "$out/$name.json" ]; then
    # the sweep was measured at the defaults of its day (one Gaussian, 300 steps); a run's own flags come after
    dd3d train-dist --images "$refs" --out "$out/$name.json" --seed 0 --components 1 --steps 300 --model "$model" "${train_flags[@]}"
  fi
  if [ ! -f "$out/$name.eval.json" ]; then
    dd3d eval-2d --dist "$out/$name.json" --refs "$refs" --n "$n" --seed 0 "${extra[@]}" --json > "$out/$name.eval.tmp"
    mv "$out/$name.eval.tmp" "$out/$name.eval.json"
  fi
  FLAGS="$flags" node --input-type=module -e '
    import * as fs from "node:fs";
    import { colourCounts } from "./examples/colour-counts.mjs";
    const j = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    for (const r of j.rows) {
      const colours = colourCounts(r);
      const top = colours.slice(0, 3).map(([c, k]) => `${c} ${k}`).join(", ");
      const blue = colours.find(([c]) => c === "blue")?.[1] ?? 0;
      const flags = process.env.FLAGS ? "`" + process.env.FLAGS + "`" : "(defaults)";
      const name = r.name.startsWith("prompt-tuning") ? `${flags}, prompt tuning (K = 1)` : flags;
      console.log(`| ${name} | ${r.tv_distance.toFixed(3)} | ${Math.round(100 * r.attribute_coverage)}% | ${r.coverage.toFixed(3)} | ${Math.round(r.fid)} | ${top}; blue ${blue} |`);
    }' "$out/$name.eval.json"
done
