/**
 * A folder of reference images as training views at the model's resolution. Each image is
 * flattened onto white (transparent renders stay objects on white, like the built-in model's
 * data), resized to cover the target, and cut into crops along its long side (start, centre,
 * end; one crop when the aspect matches), each also mirrored when flips are on. Crops are
 * fixed up front so a latent model encodes every view once, not every step.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { Dd3dError } from '../core/errors.js';
import type { ImageBatch } from '../io/image.js';
import { checkRegularFile, readRegularFile } from '../io/regular-file.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif'];
/** Bound on one reference image file; sharp's own pixel limit bounds the decoded size. */
const MAX_IMAGE_BYTES = 256 * 1024 * 1024;

export interface ReferenceSet {
  dir: string;
  files: string[];
  /** sha256 over the files' names and bytes, recorded in the distribution file. */
  hash: string;
  /** All views, NHWC in [0, 1]. */
  views: ImageBatch;
  /** views.n entries: the index in `files` each view came from. */
  source: number[];
}

export function listReferenceImages(dir: string, flag = '--images'): string[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Dd3dError(`${flag}: ${dir} is not a folder of images`);
  const files = fs
    .readdirSync(dir)
    .filter((f) => IMAGE_EXTENSIONS.includes(path.extname(f).toLowerCase()) && !f.startsWith('.'))
    .sort()
    .map((f) => path.join(dir, f));
  if (files.length === 0) throw new Dd3dError(`${flag}: ${dir} holds no images (expected ${IMAGE_EXTENSIONS.join(', ')} files)`);
  // every file checked now, before a model loads: a FIFO, folder, symlink loop or unreadable file named *.png is a one-line error
  for (const f of files) checkRegularFile(f, 'an image', MAX_IMAGE_BYTES);
  return files;
}

export async function loadReferenceImages(dir: string, height: number, width: number, opts: { flip: boolean; flag?: string }): Promise<ReferenceSet> {
  const files = listReferenceImages(dir, opts.flag);
  const hash = crypto.createHash('sha256');
  const crops: Float32Array[] = [];
  const source: number[] = [];
  for (const [i, file] of files.entries()) {
    const bytes = readRegularFile(file, 'an image', MAX_IMAGE_BYTES);
    hash.update(path.basename(file)).update(bytes);
    let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
    try {
      raw = await sharp(bytes)
        .flatten({ background: '#ffffff' })
        .resize(width, height, { fit: 'outside' })
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
    } catch (e) {
      throw new Dd3dError(`${file}: cannot read the image (${(e as Error).message.split('\n')[0]})`);
    }
    const { width: rw, height: rh, channels } = raw.info;
    const offsets = (extra: number) => (extra === 0 ? [0] : [0, Math.floor(extra / 2), extra]);
    for (const oy of offsets(rh - height)) {
      for (const ox of offsets(rw - width)) {
        const crop = new Float32Array(height * width * 3);
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) {
            for (let c = 0; c < 3; c++) crop[(y * width + x) * 3 + c] = raw.data[((y + oy) * rw + x + ox) * channels + c]! / 255;
          }
        }
        crops.push(crop);
        source.push(i);
        if (opts.flip) {
          crops.push(mirror(crop, height, width));
          source.push(i);
        }
      }
    }
  }
  const data = new Float32Array(crops.length * height * width * 3);
  crops.forEach((c, i) => data.set(c, i * c.length));
  return { dir, files, hash: `sha256:${hash.digest('hex')}`, views: { data, n: crops.length, height, width, channels: 3 }, source };
}

function mirror(img: Float32Array, h: number, w: number): Float32Array {
  const out = new Float32Array(img.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = img[(y * w + (w - 1 - x)) * 3 + c]!;
    }
  }
  return out;
}
