/**
 * nerf/: radiance fields (a multi-resolution grid field and a Fourier-feature MLP baseline)
 * behind one interface, the shared density initialization, and the occupancy grid.
 *
 * A new field is one file implementing `RadianceField` plus one line in `FIELDS` (its config
 * joins the `FieldConfig` union by its `kind`); `generate --field <kind>` then offers it.
 */
import type { RadianceField } from './field.js';
import { FourierField, type FourierFieldConfig } from './fourier-field.js';
import { GridField, type GridFieldConfig } from './grid-field.js';

export { DEFAULT_BLOB, activateDensity, createMlp, runMlp, type DenseLayer, type DensityActivation, type DensityBlob, type RadianceField } from './field.js';
export { GridField, levelResolutions, resolveGridFieldConfig, trilinearCorners, type GridFieldConfig, type ResolvedGridFieldConfig } from './grid-field.js';
export { FourierField, resolveFourierFieldConfig, type FourierFieldConfig, type ResolvedFourierFieldConfig } from './fourier-field.js';
export { OccupancyGrid, type OccupancyGridConfig, type ResolvedOccupancyGridConfig } from './occupancy.js';

export type FieldConfig = GridFieldConfig | FourierFieldConfig;
export type FieldKind = FieldConfig['kind'];

/** The field registry: kind → constructor. Initial weights are a pure function of the seed. */
export const FIELDS: { [K in FieldKind]: (config: Extract<FieldConfig, { kind: K }>, seed: number) => RadianceField } = {
  grid: (config, seed) => new GridField(config, seed),
  fourier: (config, seed) => new FourierField(config, seed),
};

/** A fresh field for `config`; its initial weights are a pure function of `seed`. */
export function createField(config: FieldConfig, seed: number): RadianceField {
  const make = FIELDS[config.kind] as ((config: FieldConfig, seed: number) => RadianceField) | undefined;
  if (!make) throw new RangeError(`createField: unknown field kind ${(config as { kind: unknown }).kind}`);
  return make(config, seed);
}
