/**
 * Colour space helpers for the CPU renderer.
 *
 * Everything the renderer computes is linear-light (three.js keeps `Color` values linear
 * since r152 when ColorManagement is on). Images meant for eyes (PNGs, dataset tensors) are
 * sRGB-encoded, exactly as three's WebGLRenderer encodes its output to an sRGB canvas.
 */

/** An RGB triple of linear values, usually in [0, 1]. */
export type RGB = [number, number, number];

/** Where the sRGB curve turns from its linear segment to the power law (linear side). */
export const SRGB_KNEE = 0.0031308;

/** The sRGB transfer function (IEC 61966-2-1), linear → encoded, both in [0, 1]. */
export function linearToSRGB(x: number): number {
  if (!(x > 0)) return 0;
  if (x >= 1) return 1;
  return x <= SRGB_KNEE ? 12.92 * x : 1.055 * Math.pow(x, 1 / 2.4) - 0.055;
}

/** The inverse sRGB transfer function, encoded → linear, both in [0, 1]. */
export function srgbToLinear(x: number): number {
  if (!(x > 0)) return 0;
  if (x >= 1) return 1;
  return x <= 0.04045 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
}

const LUT_BITS = 16;
const LUT_SIZE = 1 << LUT_BITS;
let lut: Uint8Array | undefined;

/** Linear [0, 1] → sRGB byte, via a 65536-entry table (exact to the byte except at rare ties). */
function srgbByteTable(): Uint8Array {
  if (lut) return lut;
  lut = new Uint8Array(LUT_SIZE + 1);
  for (let i = 0; i <= LUT_SIZE; i++) lut[i] = Math.round(linearToSRGB(i / LUT_SIZE) * 255);
  return lut;
}

/** One linear value → sRGB byte (clamped). */
export function linearToSRGB8(x: number): number {
  const t = srgbByteTable();
  if (!(x > 0)) return 0;
  if (x >= 1) return 255;
  return t[Math.round(x * LUT_SIZE)];
}

/** The parts of a render that colour conversion needs. */
export interface RGBAImage {
  width: number;
  height: number;
  /** Straight (unpremultiplied) linear RGBA, 4 floats per pixel, row 0 at the top. */
  rgba: Float32Array;
  /** Linear RGB the image is composited over. */
  background: RGB;
}

/**
 * The picture as a viewer sees it: the straight-alpha render composited over its background
 * (or over `background` if given) in linear light, then sRGB-encoded to bytes, 3 per pixel.
 */
export function toRGB8(img: RGBAImage, background: RGB = img.background): Uint8Array {
  const t = srgbByteTable();
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  const src = img.rgba;
  const [br, bg, bb] = background;
  for (let i = 0; i < n; i++) {
    const a = src[4 * i + 3];
    const ia = 1 - a;
    for (let c = 0; c < 3; c++) {
      const v = src[4 * i + c] * a + (c === 0 ? br : c === 1 ? bg : bb) * ia;
      out[3 * i + c] = v > 0 ? (v >= 1 ? 255 : t[Math.round(v * LUT_SIZE)]) : 0;
    }
  }
  return out;
}

/** Straight-alpha RGBA bytes: sRGB-encoded colour, alpha (coverage) scaled to 0..255, 4 per pixel. */
export function toRGBA8(img: RGBAImage): Uint8Array {
  const t = srgbByteTable();
  const n = img.width * img.height;
  const out = new Uint8Array(n * 4);
  const src = img.rgba;
  for (let i = 0; i < 4 * n; i++) {
    const v = src[i];
    if ((i & 3) === 3) out[i] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    else out[i] = v > 0 ? (v >= 1 ? 255 : t[Math.round(v * LUT_SIZE)]) : 0;
  }
  return out;
}
