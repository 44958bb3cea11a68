# The prompt sets of the adherence figures, sourced by adherence.sh and views-adherence.sh:
# A (8 families × 2 colours, front and side views: the set the sampling defaults were chosen
# on), B (held out: other colours, back views in place of front views) and C (written fresh for
# the multi-view model, never tuned on: other colour and family pairs, all four views). P
# names a part colour as well (a chair's seat, a table's top, a lamp's shade, a sofa's
# cushions, a car's wheels, a tree's trunk), in the captions' own words: it is scored by
# examples/part-colours.mjs, which reads both colours, not by eval-prompt. N (gray and white,
# 8 prompts) is for choosing sampling settings beside A (`SETS=n bash examples/adherence.sh ...`).
# shellcheck disable=SC2034  # used by the scripts that source this file
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
set_p=("a red chair with a green seat, front view" "a blue chair with a yellow seat, side view"
  "a yellow table with a red top, side view" "a green table with a blue top, front view"
  "a black lamp with a white shade, front view" "a blue lamp with an orange shade, side view"
  "a gray sofa with red cushions, front view" "a yellow sofa with blue cushions, side view"
  "a red car with black wheels, side view" "a white car with gray wheels, front view"
  "a green tree with a brown trunk, side view" "a pink tree with a black trunk, front view")
# N: the neutral colours set A lacks, on family pairs sets B and C do not use (set C's gray
# prompts failed at guidance 5; set N does little better at 3 and 4: docs/training-record.md,
# "Sampling without clipping"). Its first version asked for a gray tree, a colour no tree
# in the world has; eval-prompt now refuses such prompts, and a white tree took its place.
set_n=("a gray sofa, side view" "a gray table, front view" "a gray mug, side view"
  "a gray vase, front view" "a white tree, side view" "a white sofa, front view"
  "a white table, side view" "a white vase, side view")
