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

# shellcheck source=examples/prompt-sets.sh
source examples/prompt-sets.sh

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
