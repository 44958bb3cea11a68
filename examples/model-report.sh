#!/usr/bin/env bash
# Every figure the README gives for a built-in model, for a candidate model folder: what
# decides whether a training run's weights replace models/dd3d-mv.
#   2D from text: family and colour on prompt sets A, B and C (examples/adherence.sh), and
#   part colours on set P (examples/part-colours.mjs);
#   3D: examples/results-3d.sh on chairs, tables and vases at each seed of SEEDS (default 0),
#   the three sets side by side (about 17 GB at the peak). Seeds after the first reuse the first
#   seed's distributions, as the README's three-seed figures do.
# Writes OUT_DIR/report.md (the tables, then each set's row) and leaves every run's files under
# OUT_DIR. ONLY="2d" or ONLY="3d" runs one half.
# Usage: [SEEDS="0 1 2"] [ONLY=2d|3d] bash examples/model-report.sh MODEL_DIR OUT_DIR
# e.g.   bash examples/model-report.sh .scratch/run report/   (a pretrain --out folder)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -ne 2 ]]; then
  echo "usage: [SEEDS=\"0 1 2\"] [ONLY=2d|3d] bash examples/model-report.sh MODEL_DIR OUT_DIR" >&2
  exit 2
fi
model=$1
out=$2
read -r -a seeds <<< "${SEEDS:-0}"
case ${ONLY:-} in "" | 2d | 3d) ;; *) echo "model-report.sh: ONLY must be 2d or 3d, not '$ONLY'" >&2; exit 2 ;; esac
mkdir -p "$out"
report=$out/report.md
: > "$report"

if [[ ${ONLY:-2d} == 2d ]]; then
  SETS="a b c" bash examples/adherence.sh "$out/adherence" 32 --model "$model" > "$out/adherence.md"
  # shellcheck source=examples/prompt-sets.sh
  source examples/prompt-sets.sh
  node examples/part-colours.mjs "$model" "${set_p[@]}" | grep -v '^\s*$' > "$out/part-colours.md"
  {
    echo "## 2D from text: sets A, B, C"
    echo
    cat "$out/adherence.md"
    echo
    echo "## Part colours: set P"
    echo
    cat "$out/part-colours.md"
    echo
  } >> "$report"
fi

if [[ ${ONLY:-3d} == 3d ]]; then
  sets=(chairs tables vases)
  first=${seeds[0]}
  for seed in "${seeds[@]}"; do
    dir=$out/3d-seed$seed
    mkdir -p "$dir"
    pids=()
    for set in "${sets[@]}"; do
      if [[ $seed != "$first" && ! -f $dir/$set.json ]]; then
        cp "$out/3d-seed$first/$set.json" "$dir/"
        [[ -d $out/3d-seed$first/$set-refs ]] && cp -r "$out/3d-seed$first/$set-refs" "$dir/"
      fi
      MODEL=$model GENERATE_FLAGS="--seed $seed" bash examples/results-3d.sh "$dir" "$set" > "$dir/$set.log" 2>&1 &
      pids+=($!)
    done
    for i in "${!sets[@]}"; do
      wait "${pids[$i]}" || echo "| ${sets[$i]} | failed: see $dir/${sets[$i]}.log |" >> "$dir/${sets[$i]}.log"
    done
    {
      echo "## 3D, seed $seed (examples/results-3d.sh; the set, family, fixed attributes, colour agreement, majority colours, part colours, Chamfer, diversity / refs', time)"
      echo
      for set in "${sets[@]}"; do tail -n 1 "$dir/$set.log"; done
      echo
    } >> "$report"
  done
fi
cat "$report"
