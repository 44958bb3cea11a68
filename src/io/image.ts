/**
 * Images in and out. Inside dd3d an image batch is float NHWC in [0, 1]; on disk it is PNG.
 */
import sharp from 'sharp';
import { writeFileAtomic } from './atomic.js';

export interface ImageBatch {
  /** NHWC, values in [0, 1] (clamped on write). */
  data: Float32Array;
  n: number;
  height: number;
  width: number;
  channels: number;
}

/** Tiles a batch into one image, `cols` wide (default: as square as possible), with a pad of background. */
export function tileGrid(batch: ImageBatch, cols?: number, pad = 2, background = 1): ImageBatch {
  const { n, height: h, width: w, channels: c } = batch;
  const nc = Math.max(1, Math.min(n, cols ?? Math.ceil(Math.sqrt(n))));
  const nr = Math.ceil(n / nc);
  const gh = nr * h + (nr - 1) * pad;
  const gw = nc * w + (nc - 1) * pad;
  const out = new Float32Array(gh * gw * c).fill(background);
  for (let i = 0; i < n; i++) {
    const oy = Math.floor(i / nc) * (h + pad);
    const ox = (i % nc) * (w + pad);
    for (let y = 0; y < h; y++) {
      const src = (i * h + y) * w * c;
      out.set(batch.data.subarray(src, src + w * c), ((oy + y) * gw + ox) * c);
    }
  }
  return { data: out, n: 1, height: gh, width: gw, channels: c };
}

/** Float [0, 1] to bytes, rounding to nearest as PIL's conversion of (x·255).round() does. */
export function toUint8(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, data[i])) * 255);
  return out;
}

/** Writes one image (n = 1) or a grid of the batch as PNG, atomically. */
export async function writePng(file: string, batch: ImageBatch, cols?: number): Promise<void> {
  const img = batch.n === 1 ? batch : tileGrid(batch, cols);
  await writeBytesPng(file, { data: toUint8(img.data), width: img.width, height: img.height, channels: img.channels });
}

/** Byte pixels, row-major, row 0 at the top: what the CPU renderers produce. */
export interface ByteImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** Writes byte pixels as PNG, atomically (a crash leaves the old file or none). */
export async function writeBytesPng(file: string, img: ByteImage): Promise<void> {
  const png = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 2 | 3 | 4 } })
    .png()
    .toBuffer();
  writeFileAtomic(file, png);
}
