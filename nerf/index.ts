/**
 * nerf/: radiance fields (a multi-resolution grid field and a Fourier-feature MLP baseline)
 * behind one interface, the shared density initialization, and the occupancy grid.
 */
import type { RadianceField } from './field.js';
import { FourierField, type FourierFieldConfig } from './fourier-field.js';
import { GridField, type GridFieldConfig } from './grid-field.js';

export { DEFAULT_BLOB, activateDensity, createMlp, runMlp, type DenseLayer, type DensityActivation, type DensityBlob, type RadianceField } from './field.js';
export { GridField, levelResolutions, resolveGridFieldConfig, trilinearCorners, type GridFieldConfig, type ResolvedGridFieldConfig } from './grid-field.js';
export { FourierField, resolveFourierFieldConfig, type FourierFieldConfig, type ResolvedFourierFieldConfig } from './fourier-field.js';
export { OccupancyGrid, type OccupancyGridConfig, type ResolvedOccupancyGridConfig } from './occupancy.js';

export type FieldConfig = GridFieldConfig | FourierFieldConfig;

/** A fresh field for `config`; its initial weights are a pure function of `seed`. */
export function createField(config: FieldConfig, seed: number): RadianceField {
  switch (config.kind) {
    case 'grid':
      return new GridField(config, seed);
    case 'fourier':
      return new FourierField(config, seed);
    default:
      throw new RangeError(`createField: unknown field kind ${(config as { kind: unknown }).kind}`);
  }
}
