import sharp from 'sharp';
import { loadProbe } from './dist/src/probe/index.js';
const [file, cols] = [process.argv[2], +process.argv[3]];
const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
const rows = Math.round((info.height + 2) / 34);
const probe = loadProbe('models/dd3d-tiny/probe');
const imgs = [];
for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
  const a = new Uint8Array(32 * 32 * 3);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let k = 0; k < 3; k++)
    a[(y * 32 + x) * 3 + k] = data[((r * 34 + y) * info.width + c * 34 + x) * 3 + k];
  imgs.push(a);
}
const p = probe.predict(imgs, process.argv[4]);
const count = (f) => { const m = {}; for (const q of p) { const v = f(q); m[v] = (m[v] ?? 0) + 1; } return JSON.stringify(m); };
console.log('colour', count((q) => q.color), 'top/shade', count((q) => q.attributes.top_color ?? q.attributes.shade_color));
