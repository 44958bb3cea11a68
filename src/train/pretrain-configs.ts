/**
 * Named configurations of the built-in model: the same classes as Stable Diffusion
 * (CLIPTextModel + UNet2DConditionModel), small, in pixel space (no VAE), with diffusers
 * config keys so the exported folder loads like any model folder.
 */
import { CAMERA_FEATURES } from '../models/camera-embedding.js';

export interface PretrainConfig {
  name: string;
  /** Image side in pixels: the UNet works on RGB directly. */
  resolution: number;
  /** diffusers UNet2DConditionModel config (sample_size is set from `resolution`). */
  unet: Record<string, unknown>;
  /** transformers CLIPTextModel config, less the vocabulary keys, which come from the tokenizer. */
  textEncoder: Record<string, unknown>;
  /** DDPM noise schedule for training; sampling reuses it with DDIM. */
  scheduler: Record<string, unknown>;
  batch: number;
  steps: number;
  lr: number;
  warmupSteps: number;
  minLrRatio: number;
  weightDecay: number;
  emaDecay: number;
  /** Probability of training on the empty prompt, for classifier-free guidance. */
  captionDropout: number;
  /**
   * Lowest probability of a caption mentioning each attribute, drawn per caption uniformly in
   * [captionMinKeep, 1) (scenes/captions.ts); default 0, from the bare family to every attribute.
   */
  captionMinKeep?: number;
  /** Relative weight of each main colour among the objects drawn, unlisted colours 1 (scene-batches.ts). */
  colorWeights?: Readonly<Record<string, number>>;
  gradClip: number;
  checkpointEvery: number;
  /**
   * Sampling defaults written into model_index.json ("_dd3d_sampling"): what models/dd3d-mv
   * samples best at, by the measurements in docs/training-record.md ("Sampling without
   * clipping"). (The shape these models lost over many steps was the scheduler's clipping.)
   */
  sampling: { guidance_scale: number; num_inference_steps: number };
  /**
   * Multi-view training (a dataset made with --views V): the UNet gets camera conditioning and
   * cross-view attention (unet keys dd3d_camera_dim, dd3d_num_views); see scene-batches.ts for
   * the dropouts and `familyWeights` (the families of multi-view objects). `minTimestep` is the
   * lowest timestep of multi-view steps (trainingTimesteps); single-view steps stay uniform.
   * `focusedShare` (default 1) is the share of multi-view steps that use familyWeights and
   * minTimestep; the others draw families and timesteps uniformly.
   */
  multiview?: {
    views: number;
    cameraDropout: number;
    singleViewShare: number;
    familyWeights?: Readonly<Record<string, number>>;
    minTimestep?: number;
    focusedShare?: number;
  };
  /** Multiplier of `lr` for the camera conditioning's weights (isCameraKey); default 1. */
  cameraLrScale?: number;
  /**
   * The first `steps` steps train the camera weights alone (the rest keep the --init model's),
   * at timesteps from `minTimestep` up, where the picture has to come from the conditioning,
   * and at `lrScale` × lr: new camera weights learn there first, before the model around them
   * moves (pretrain.ts).
   */
  cameraWarmup?: { steps: number; minTimestep: number; lrScale: number };
}

const TEXT_ENCODER = {
  architectures: ['CLIPTextModel'],
  model_type: 'clip_text_model',
  hidden_size: 128,
  intermediate_size: 512,
  num_attention_heads: 4,
  num_hidden_layers: 3,
  max_position_embeddings: 77,
  hidden_act: 'gelu',
  layer_norm_eps: 1e-5,
};

const SCHEDULER = {
  _class_name: 'DDIMScheduler',
  num_train_timesteps: 1000,
  beta_schedule: 'squaredcos_cap_v2',
  beta_start: 0.0001,
  beta_end: 0.02,
  prediction_type: 'v_prediction',
  timestep_spacing: 'trailing',
  steps_offset: 0,
  // No clipping of the predicted x0. DDIM (as diffusers) clips x0 but keeps the unclipped ε for
  // the direction term, and on these pixel-space v-prediction models that inconsistency grows
  // with the steps: 8 and 25 steps drew images 0.052 apart (mean |Δ| of 16, models/dd3d-mv),
  // 0.016 without clipping, where DPM-Solver++ agrees (0.017), and set A's family / colour rose
  // from 95.3 / 77.7% to 98.6 / 79.9% (docs/training-record.md, "Sampling without clipping").
  clip_sample: false,
  set_alpha_to_one: false,
};

function unet(channels: number[], resolution: number, layersPerBlock: number): Record<string, unknown> {
  const attn = channels.map((_, i) => i > 0);
  return {
    _class_name: 'UNet2DConditionModel',
    sample_size: resolution,
    in_channels: 3,
    out_channels: 3,
    block_out_channels: channels,
    down_block_types: attn.map((a) => (a ? 'CrossAttnDownBlock2D' : 'DownBlock2D')),
    up_block_types: [...attn].reverse().map((a) => (a ? 'CrossAttnUpBlock2D' : 'UpBlock2D')),
    mid_block_type: 'UNetMidBlock2DCrossAttn',
    layers_per_block: layersPerBlock,
    attention_head_dim: 4,
    cross_attention_dim: TEXT_ENCODER.hidden_size,
    norm_num_groups: 32,
    norm_eps: 1e-5,
    use_linear_projection: true,
    flip_sin_to_cos: true,
    freq_shift: 0,
    act_fn: 'silu',
  };
}

/** The dd3d extension keys of a camera-conditioned, V-view UNet (unet-config.ts). */
function multiviewUnet(base: Record<string, unknown>, views: number): Record<string, unknown> {
  return { ...base, dd3d_camera_dim: CAMERA_FEATURES, dd3d_num_views: views };
}

const common = {
  textEncoder: TEXT_ENCODER,
  scheduler: SCHEDULER,
  lr: 3e-4,
  warmupSteps: 200,
  minLrRatio: 0.1,
  weightDecay: 1e-2,
  emaDecay: 0.999,
  captionDropout: 0.1,
  gradClip: 1.0,
  checkpointEvery: 200,
  // models/dd3d-tiny keeps the 3 / 8 it was measured at with clip_sample on (docs/commands.md)
  sampling: { guidance_scale: 5, num_inference_steps: 25 },
};

export const PRETRAIN_CONFIGS: Record<string, PretrainConfig> = {
  // 17 MB of UNet weights; a step at batch 16 takes about 3.8 s on one wasm core. Wider
  // models or 64×64 at batch 16 exceed tfjs-wasm's 4 GB heap during the backward pass.
  tiny32: { name: 'tiny32', resolution: 32, unet: unet([32, 64, 128], 32, 1), batch: 16, steps: 2000, ...common },
  tiny64: { name: 'tiny64', resolution: 64, unet: unet([32, 64, 128], 64, 1), batch: 4, steps: 6000, ...common },
  // tiny32 fine-tuned as a 4-view, camera-conditioned model (MVDream's recipe): start it with
  // --init models/dd3d-tiny on a "scenes dataset --views 4" dataset. A batch of 16 images is 4
  // objects; a quarter of the steps are single images with no camera, as tiny32 trained on.
  mv32: {
    name: 'mv32',
    resolution: 32,
    unet: multiviewUnet(unet([32, 64, 128], 32, 1), 4),
    batch: 16,
    steps: 4000,
    ...common,
    lr: 1e-4,
    warmupSteps: 100,
    checkpointEvery: 100,
    multiview: { views: 4, cameraDropout: 0.1, singleViewShare: 0.25 },
  },
  // mv32 with the per-pixel camera ray map (camera-rays.ts), fine-tuned from an mv32 model
  // (--init): the 6,000-step mv32 run had learned to ignore its camera MLP. Nine steps in ten
  // are multi-view, at twice mv32's learning rate, so the camera gets the steps.
  mv32r: {
    name: 'mv32r',
    resolution: 32,
    unet: { ...multiviewUnet(unet([32, 64, 128], 32, 1), 4), dd3d_camera_rays: true },
    batch: 16,
    steps: 12000,
    ...common,
    lr: 2e-4,
    warmupSteps: 100,
    checkpointEvery: 100,
    multiview: { views: 4, cameraDropout: 0.1, singleViewShare: 0.1 },
  },
  /** For tests: a few seconds a step at most. */
  test: {
    name: 'test',
    resolution: 32,
    unet: { ...unet([32, 32], 32, 1), norm_num_groups: 8 },
    batch: 4,
    steps: 4,
    ...common,
    textEncoder: { ...TEXT_ENCODER, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1 },
    warmupSteps: 1,
    checkpointEvery: 2,
  },
};
// mv32r with the encoded ray maps at every level (camera-rays.ts says why), fine-tuned from an
// mv32r model (--init); the camera weights learn at 10× the rate of the rest, and alone for
// the first 600 steps (at t ≥ 700 and 50× the rate, as examples/camera-only-fit.mjs): without
// that, 1,000 steps of the whole model moved the cars' 90° loss rise at t = 999 nowhere
// (−0.2%), where 50 camera-only steps reach 6.7%; a 300-step warm-up at 10× did no better.
PRETRAIN_CONFIGS.mv32l = {
  ...PRETRAIN_CONFIGS.mv32r!,
  name: 'mv32l',
  unet: { ...PRETRAIN_CONFIGS.mv32r!.unet, dd3d_camera_ray_levels: true },
  cameraLrScale: 10,
  cameraWarmup: { steps: 600, minTimestep: 700, lrScale: 50 },
};
// mv32l's model trained where the camera pays: multi-view objects drawn by how much of their
// family's look the azimuth explains (examples/camera-oracle.mjs: cars 17.9%, sofas 15.0%,
// chairs 7.3%, lamps 0.6% of the pixel variance; chairs weighed up as the README's concept)
// and denoised at t ≥ 800, where the layout is decided. Measured with a whole-model fit
// (examples/camera-only-fit.mjs --weights all, docs/training-record.md, "What data teaches the camera"): 200 steps on cars alone at t ≥ 800 take the cars'
// 90° loss rise at t = 999 from 0.8% to 98%; all eight families at t ≥ 800, or cars at every
// t, barely move it (1.3%, 4.7%). Single-view steps (a quarter, every t and family) keep the
// text-only model. No camera warm-up: these steps train the camera without one.
PRETRAIN_CONFIGS.mv32p = {
  ...PRETRAIN_CONFIGS.mv32r!,
  name: 'mv32p',
  unet: PRETRAIN_CONFIGS.mv32l!.unet,
  multiview: {
    views: 4,
    cameraDropout: 0.1,
    singleViewShare: 0.25,
    minTimestep: 800,
    familyWeights: { car: 1, sofa: 1, chair: 2, table: 1, mug: 0.25, lamp: 0.1, vase: 0.1, tree: 0.1 },
  },
};
// mv32p with half of its multi-view steps drawn as mv32r's (every family alike, every t),
// fine-tuned from an mv32p model (--init). mv32p never denoises several views below t = 800,
// and by its step 4,700 that had cost its multi-view loss at t = 100 / 300 / 600 against the
// mv32r model it started from (EMA weights, true cameras, 16 objects; examples/camera-use.mjs):
// chairs +5 / +11 / +3%, vases +9 / +20 / +19%; sampling and the SDS refinement after the
// fast path (t ≤ 500) run there.
PRETRAIN_CONFIGS.mv32q = {
  ...PRETRAIN_CONFIGS.mv32p!,
  name: 'mv32q',
  multiview: { ...PRETRAIN_CONFIGS.mv32p!.multiview!, focusedShare: 0.5 },
};
// mv32q continued from an mv32q model (--init) with half of all steps single images with no
// camera (a quarter in mv32q), at half its learning rate. Single-view steps are what keeps
// sampling from text alone: by step 6,000 mv32q's colour adherence from text had fallen from
// dd3d-tiny's 83.2 / 78.9% (sets A / B) to 71.5 / 69.1%, and it paints a table's named colour
// on the top where the world puts it on the legs (of 16 "a green table, side view": top green
// 7, legs green 2; dd3d-tiny 15 and 9).
PRETRAIN_CONFIGS.mv32s = {
  ...PRETRAIN_CONFIGS.mv32q,
  name: 'mv32s',
  steps: 4000,
  lr: 1e-4,
  multiview: { ...PRETRAIN_CONFIGS.mv32q.multiview!, singleViewShare: 0.5 },
};
// mv32s whose captions name more of each object: each attribute is mentioned with probability
// drawn in [0.5, 1) per caption instead of [0, 1), so a colour word comes with three captions in
// four instead of one in two, and a frame and a seat colour together with 7 in 12 instead of 1
// in 3. Every mv32 model so far lost colour from text against dd3d-tiny (a red chair 7 of 16
// red, "a red chair with a green seat" orange); this asks whether the captions, not the
// model's size, are what it lacks. Fine-tuned from models/dd3d-mv (--init): 3,000 steps from
// the step-9,600 weights lifted colour from text 6–12 points on sets A / B / C at a cost of
// 0.2–1.6 points of family, and ship as models/dd3d-mv (docs/training-record.md, "mv32c").
PRETRAIN_CONFIGS.mv32c = {
  ...PRETRAIN_CONFIGS.mv32s,
  name: 'mv32c',
  steps: 3000,
  captionMinKeep: 0.5,
};
// mv32c drawing gray and white objects three times as often. The second mv32c link still missed
// them from text ("a gray lamp, back view" 0%, "a gray car, side view" 16%, "a white lamp, front
// view" 9%), where the world's own renders read 96–99%. Gray is an object's main colour as often
// as blue (3,200 of 40,000 records), but gray, white and black are also the commonest part
// colours (wheels, trunks, seats, shades: about 4,800 records each, blue 1,800), so the word
// mostly names a part. The weight 3 was chosen before any run; judged on set N (the neutral
// colours' tuning set) and on set C (docs/training-record.md, "mv32n").
PRETRAIN_CONFIGS.mv32n = {
  ...PRETRAIN_CONFIGS.mv32c,
  name: 'mv32n',
  steps: 2000,
  colorWeights: { gray: 3, white: 3 },
};
// mv32q at 64×64, fine-tuned from a 32-pixel mv32q model (--init models/dd3d-mv): the UNet has
// no positional weights, so the same weights run at twice the side and only have to learn
// objects twice as many pixels wide. At 32 pixels a table top or a chair seat is under a pixel
// thick from the dataset's rings, and even the world's own four views fitted by the fast path
// stay over Chamfer 0.05 (examples/oracle-fit.mjs: chairs 0.068 at 32 px, 0.052 at 64).
// Half the learning rate of mv32q, as for any fine-tune of a trained model. Batch 8: two objects,
// one per worker thread (--workers 2), each on its own 4 GB wasm heap. 2.2 s a step on two cores.
// Run to step 6,000 (8.3 hours): it fits, but its 3D does not beat the 32-pixel model's, so
// dd3d-mv stays 32×32 (docs/training-record.md, "64×64").
PRETRAIN_CONFIGS.mv64 = {
  ...PRETRAIN_CONFIGS.mv32q,
  name: 'mv64',
  resolution: 64,
  batch: 8,
  steps: 6000,
  lr: 1e-4,
  warmupSteps: 100,
  checkpointEvery: 100,
};
/** For tests: the test config as a 4-view model with every kind of camera conditioning. */
PRETRAIN_CONFIGS['test-mv'] = {
  ...PRETRAIN_CONFIGS.test!,
  name: 'test-mv',
  unet: { ...multiviewUnet(PRETRAIN_CONFIGS.test!.unet, 4), dd3d_camera_rays: true, dd3d_camera_ray_levels: true },
  batch: 8,
  multiview: { views: 4, cameraDropout: 0.25, singleViewShare: 0.25 },
  cameraLrScale: 10,
  cameraWarmup: { steps: 1, minTimestep: 700, lrScale: 50 },
};
// mv32q's recipe on a UNet with 1.5× the channels at the two inner levels (17 → 36 MB of
// weights), trained from scratch on the multi-view dataset: every 17 MB model so far traded
// family against colour from text (mv32q/r/s, a dd3d-tiny teacher, weight interpolation),
// which points at capacity. The outer level stays 32 channels, where most of the FLOPs are.
PRETRAIN_CONFIGS.mv32w = {
  ...PRETRAIN_CONFIGS.mv32q,
  name: 'mv32w',
  unet: { ...PRETRAIN_CONFIGS.mv32q.unet, block_out_channels: [32, 96, 192] },
  steps: 24000,
  // a model from scratch: the from-scratch schedule of tiny32, not the fine-tunes' (mv32r's)
  lr: common.lr,
  warmupSteps: common.warmupSteps,
  checkpointEvery: common.checkpointEvery,
};
