#!/usr/bin/env bash
# The 3D results of the multi-view issue: for each reference set, learn a distribution with
# train-dist (defaults), make 3 assets with `generate` at its defaults, and score them with
# eval-3d (family, fixed-attribute and colour agreement, majority colour, part colour agreement
# against the references' own, Chamfer to the nearest reference, diversity), printing one
# README row per set plus the wall time, and draw
# OUT_DIR/NAME-turntables.png: the references on top, each asset's turntable below.
# Sets: chairs (the README's examples/chair-refs, red or blue with tall backs) and two
# families the README had not used: tall green or yellow tables, round purple or orange vases.
# Usage: bash examples/results-3d.sh [OUT_DIR] [SET...]  (defaults: results-3d, all three)
# MODEL=DIR uses another model folder (default: the built-in one). GENERATE_FLAGS adds
# generate flags. A set whose OUT_DIR/NAME.json exists reuses that distribution.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results-3d}
only=("${@:2}")
read -r -a gen_flags <<< "${GENERATE_FLAGS:-}"
model=()
[[ -n "${MODEL:-}" ]] && model=(--model "$MODEL")
dd3d() { node dist/src/cli.js "$@"; }
mkdir -p "$out"

# name | family | --where
sets=(
  "chairs|chair|color=red|blue; back=tall"
  "tables|table|color=green|yellow; height=tall"
  "vases|vase|color=purple|orange; shape=round"
)
for entry in "${sets[@]}"; do
  IFS='|' read -r name family rest <<< "$entry"
  where=${entry#*|*|}
  if ((${#only[@]})) && [[ ! " ${only[*]} " =~ " $name " ]]; then continue; fi
  refs=$out/$name-refs
  if [[ $name == chairs ]]; then
    refs=examples/chair-refs
  elif [[ ! -f $refs/attributes.json ]]; then
    dd3d scenes refs --family "$family" --where "$where" --n 12 --res 256 --seed 0 --out "$refs"
  fi
  dist=$out/$name.json
  if [[ ! -f $dist ]]; then
    dd3d train-dist --images "$refs" --out "$dist" --seed 0 "${model[@]}"
  fi
  start=$(date +%s)
  dd3d generate --dist "$dist" --n 3 --seed 0 --out "$out/$name" --resume "${model[@]}" "${gen_flags[@]}"
  secs=$(($(date +%s) - start))
  dd3d eval-3d --assets "$out/$name" --refs "$refs" --json > "$out/$name.eval.json"
  node examples/turntable-grid.mjs "$out/$name-turntables.png" "$refs" "$out/$name"/asset-*/ > /dev/null
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const pct = (x) => (100 * x).toFixed(1) + "%";
    const attrs = Object.entries(r.attribute_agreement).map(([k, v]) => `${k} ${pct(v)}`).join(", ") || "-";
    const colours = r.assets.map((a) => a.majority_color + (a.majority_color_ok ? "" : " ✗")).join(", ");
    const parts = Object.entries(r.part_color_agreement).map(([k, v]) => `${k.replace(/_color$/, "")} ${pct(v)} (${pct(r.reference_part_color_agreement[k])})`).join(", ") || "-";
    console.log(`| ${process.argv[2]} | ${pct(r.family_agreement)} | ${attrs} | ${pct(r.color_agreement)} | ${colours} | ${parts} | ${r.chamfer_to_nearest.toFixed(3)} | ${r.diversity_assets?.toFixed(3)} / ${r.diversity_refs?.toFixed(3)} | ${(process.argv[3] / 60).toFixed(1)} min |`);
  ' "$out/$name.eval.json" "$name" "$secs"
done
