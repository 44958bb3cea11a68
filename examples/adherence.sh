#!/usr/bin/env bash
# Reproduces the README's adherence tables (built-in model, or --model DIR): eval-prompt on prompt set A
# (8 families × 2 colours, front and side views: the set the sampling defaults were chosen on)
# and the held-out set B (other colours, back views in place of front views), one set after
# the other, each on every core. Set C (written fresh for the multi-view model, never
# tuned on: other colour and family pairs, all four views, overhead included) runs with
# SETS="a b c" (default "a b").
# Usage: bash examples/adherence.sh [OUT_DIR] [N] [extra eval-prompt flags, e.g. --model DIR]
# (defaults: adherence, 32 samples per prompt)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-adherence}
n=${2:-32}
shift $(($# < 2 ? $# : 2))
extra=("$@")
mkdir -p "$out"
dd3d() { node dist/src/cli.js "$@"; }

set_a=("a red chair, front view" "a blue chair, side view" "a green table, side view"
  "a yellow table, front view" "a blue lamp, front view" "a red lamp, side view"
  "a red mug, side view" "a black mug, front view" "a purple vase, front view"
  "an orange vase, side view" "a brown sofa, front view" "a green sofa, side view"
  "a blue car, side view" "a red car, front view" "a green tree, side view"
  "a pink tree, front view")
set_b=("a white chair, back view" "a black chair, side view" "a brown table, front view"
  "a red table, back view" "a yellow lamp, side view" "a green lamp, back view"
  "a blue mug, front view" "a white mug, back view" "a green vase, side view"
  "a red vase, back view" "a red sofa, side view" "a blue sofa, back view"
  "a yellow car, front view" "a white car, back view" "an orange tree, side view"
  "a yellow tree, back view")
set_c=("a gray chair, overhead view" "a purple chair, front view" "an orange table, side view"
  "a pink table, overhead view" "a white lamp, front view" "a gray lamp, back view"
  "a green mug, side view" "a yellow mug, overhead view" "a blue vase, back view"
  "a black vase, front view" "an orange sofa, overhead view" "a purple sofa, front view"
  "a green car, back view" "a gray car, side view" "a red tree, front view"
  "a purple tree, overhead view")

run() {
  local name=$1; shift
  local args=()
  for p in "$@"; do args+=(--prompt "$p"); done
  dd3d eval-prompt --n "$n" --seed 0 "${extra[@]}" "${args[@]}" >"$out/$name.txt"
}
names=()
for s in ${SETS:-a b}; do
  declare -n prompts="set_$s"
  run "set-$s" "${prompts[@]}" # on every core (eval-prompt --workers)
  names+=("set-$s")
  unset -n prompts
done
for name in "${names[@]}"; do
  echo "== $name"
  cat "$out/$name.txt"
done
