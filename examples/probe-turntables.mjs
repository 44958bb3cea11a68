// What the probe reads in a turntable grid's rows (examples/turntable-grid.mjs pictures: the
// references on top, one asset per row below): each frame is cut out, flattened on white,
// and given to the probe; one line per row with every view's family and the row's share of
// views of FAMILY. This is how the probe's verdicts were checked against the eye on grids
// whose meshes are gone (the README's magenta cups on legs, red sacks): the frames are the
// exported meshes' turntable renders, not eval-3d's own views, so read the numbers as a check
// of the probe's judgement, not as eval-3d rows.
// Usage: node examples/probe-turntables.mjs GRID.png FAMILY [PROBE_DIR]   (build first: npx tsc -p .)
// e.g.   node examples/probe-turntables.mjs examples/grids/main-command-tiny-turntables.png chair
import sharp from 'sharp';
import { initBackend } from '../dist/src/backend/backend.js';
import { builtinProbeDir } from '../dist/src/paths.js';
import { loadProbe } from '../dist/src/probe/index.js';

const [grid, family, probeDir = builtinProbeDir()] = process.argv.slice(2);
if (!grid || !family) throw new Error('usage: node examples/probe-turntables.mjs GRID.png FAMILY [PROBE_DIR]');
const FRAMES = 8; // turntable-grid.mjs: 8 square frames a row, an 8-px bar under each row
const BAR = 8;
const { width, height } = await sharp(grid).metadata();
const size = width / FRAMES;
const rows = Math.floor((height + BAR) / (size + BAR));
await initBackend('wasm');
const probe = loadProbe(probeDir);
let total = 0;
let hits = 0;
for (let r = 0; r < rows; r++) {
  const frames = [];
  for (let f = 0; f < FRAMES; f++) {
    const raw = await sharp(grid)
      .extract({ left: f * size, top: r * (size + BAR), width: size, height: size })
      .flatten({ background: '#ffffff' }) // frames are 128 px (export-asset.ts): the probe box-downsamples them to its 32
      .removeAlpha()
      .raw()
      .toBuffer();
    frames.push(new Uint8Array(raw));
  }
  const families = probe.predict(frames).map((p) => p.family);
  const matches = families.filter((f) => f === family).length;
  if (r > 0) {
    total += FRAMES;
    hits += matches;
  }
  console.log(`${r === 0 ? 'references' : `asset ${r}    `} ${((100 * matches) / FRAMES).toFixed(0).padStart(3)}% ${family}: ${families.join(' ')}`);
}
console.log(`assets: ${((100 * hits) / total).toFixed(1)}% of ${total} views read as ${family} by ${probeDir}`);
probe.dispose();
