#!/usr/bin/env bash
# Draws the README's multi-view grids: `sample --views 4` of a multi-view model, three instances
# each of three prompts (one row per instance: the ring cameras at azimuths 0°, 90°, 180°, 270°,
# elevation 15°), stacked into one picture and enlarged (nearest neighbour) to 128 pixels a view
# (4× for a 32-pixel model, 2× for 64) so that they can be read. Seed 0, the model's own
# guidance and steps.
# Usage: bash examples/views-grids.sh MODEL_DIR OUT.png
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: bash examples/views-grids.sh MODEL_DIR OUT.png}
out=${2:?usage: bash examples/views-grids.sh MODEL_DIR OUT.png}
dd3d() { node dist/src/cli.js "$@"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
parts=()
for prompt in "a red chair with a tall back" "a blue car" "a green lamp"; do
  part=$tmp/${#parts[@]}.png
  dd3d sample --model "$model" --prompt "$prompt" --views 4 --n 3 --seed 0 --out "$part"
  parts+=("$part")
done
size=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).sample_size)' "$model/unet/config.json")
node --input-type=module - "$out" "$size" "${parts[@]}" <<'EOF'
import sharp from 'sharp';
const [out, size, ...parts] = process.argv.slice(2);
const scale = Math.max(1, Math.round(128 / Number(size))), gap = 8;
const images = [];
for (const f of parts) {
  const { width, height } = await sharp(f).metadata();
  images.push({ input: await sharp(f).resize(width * scale, height * scale, { kernel: 'nearest' }).toBuffer(), width: width * scale, height: height * scale });
}
const width = Math.max(...images.map((i) => i.width));
const height = images.reduce((h, i) => h + i.height, 0) + gap * (images.length - 1);
let top = 0;
const layers = images.map((i) => {
  const layer = { input: i.input, left: 0, top };
  top += i.height + gap;
  return layer;
});
await sharp({ create: { width, height, channels: 3, background: '#888888' } }).composite(layers).png().toFile(out);
console.log(`wrote ${out}`);
EOF
