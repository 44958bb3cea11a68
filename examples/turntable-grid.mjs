// The picture the README puts beside every 3D result: a row of references on top, then one
// row per asset, its turntable (8 views of the exported mesh), grey bars between the rows.
// Usage: node examples/turntable-grid.mjs OUT.png REFS_DIR ASSET_DIR...
// e.g.   node examples/turntable-grid.mjs grid.png examples/chair-refs out/asset-000 out/asset-001
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';

const [out, refsDir, ...assets] = process.argv.slice(2);
if (!out || !refsDir || assets.length === 0) throw new Error('usage: node examples/turntable-grid.mjs OUT.png REFS_DIR ASSET_DIR...');
const FRAMES = 8; // a turntable's views in a row (export-asset.ts); a frame is square
const SIZE = (await sharp(path.join(assets[0], 'turntable.png')).metadata()).height;
const BAR = 8;
const refs = fs
  .readdirSync(refsDir)
  .filter((f) => /^ref-\d+\.png$/.test(f))
  .sort()
  .slice(0, FRAMES);
const refRow = await Promise.all(
  refs.map(async (f, i) => ({ input: await sharp(path.join(refsDir, f)).resize(SIZE, SIZE).flatten({ background: '#ffffff' }).png().toBuffer(), left: i * SIZE, top: 0 })),
);
const rows = [refRow, ...assets.map((dir) => [{ input: path.join(dir, 'turntable.png'), left: 0, top: 0 }])];
const width = FRAMES * SIZE;
const height = rows.length * (SIZE + BAR);
const layers = rows.flatMap((row, r) => [
  ...row.map((l) => ({ ...l, top: l.top + r * (SIZE + BAR) })),
  { input: { create: { width, height: BAR, channels: 3, background: '#888888' } }, left: 0, top: r * (SIZE + BAR) + SIZE },
]);
await sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
  .composite(layers)
  .png()
  .toFile(out);
console.log(`${out}: ${refs.length} references, ${assets.length} turntables`);
