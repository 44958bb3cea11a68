/**
 * The named palette every family draws from. Names are the words captions use, so each
 * hue is chosen to be unambiguous at 32×32 under Lambertian shading (no near-duplicates
 * like crimson/red). Hex values are sRGB, as three.js Color parses them.
 */
export const COLORS: Readonly<Record<string, number>> = Object.freeze({
  red: 0xd62828,
  orange: 0xf77f00,
  yellow: 0xf6d02f,
  green: 0x3a9d23,
  blue: 0x1f5fd6,
  purple: 0x7b2cbf,
  pink: 0xf28ab2,
  brown: 0x7a4a26,
  black: 0x1c1c1c,
  white: 0xf2f2f2,
  gray: 0x8a8a8a,
});

export const COLOR_NAMES: readonly string[] = Object.keys(COLORS);
