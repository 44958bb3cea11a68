/** Tiny configurations several suites share: a UNet of a few channels, and a generate run of seconds. */
import { GENERATE_DEFAULTS, type GenerateConfig } from '../../src/generate/config.js';
import { unetConfig } from '../../src/models/unet-config.js';

/** An 8×8, two-block UNet with one cross-attention block each way; `extra` adds config keys (the dd3d extensions). */
export function tinyUnetConfig(linear: boolean, extra: Record<string, unknown> = {}) {
  const config = {
    _class_name: 'UNet2DConditionModel',
    in_channels: 3,
    out_channels: 3,
    block_out_channels: [8, 16],
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    layers_per_block: 1,
    norm_num_groups: 4,
    cross_attention_dim: 8,
    attention_head_dim: 2,
    use_linear_projection: linear,
    sample_size: 8,
    ...extra,
  };
  return unetConfig({ name: 'unet', dir: '(test)', config, configPath: `tiny unet (linear projection ${linear})` });
}

/** A few iterations on tiny renders: every code path, seconds per asset. */
export const tinyGenerateConfig = (over: Partial<GenerateConfig> = {}): GenerateConfig => ({
  ...GENERATE_DEFAULTS,
  iters: 4,
  res: 16,
  samplesPerRay: 8,
  occupancyEvery: 2,
  previewEvery: 0,
  checkpointEvery: 2,
  shading: { ...GENERATE_DEFAULTS.shading, warmupIters: 1 },
  mesh: { resolution: 32, targetTriangles: 2000, level: 'auto' },
  ...over,
});
