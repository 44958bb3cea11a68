/**
 * `npm run bench`: throughput of the pieces that dominate training, printed as tables.
 * Numbers only, never asserts: these machines are noisy, so compare ratios within one run.
 *
 *   npm run bench                 every section but profile
 *   npm run bench -- kernels      one section (kernels, text, unet, sd15, scenes, pretrain, fields, render, generate, peer, profile)
 *   npm run bench -- generate [--iters N]
 *                                 one asset as the main command makes it, fit and SDS iterations timed apart
 *   npm run bench -- render [--iters N]
 *                                 render + backprop of a 4-view SDS iteration without the UNet, CPU and wall ms (render-step.ts)
 *   npm run bench -- peer [--reps N] [--threads 1,2] [--peer PATH/run.sh] [--no-full-step]
 *                                 dd3d beside PyTorch (diffusers' UNet on CPU) on the built-in UNet config (peer.ts)
 *   npm run bench -- profile [--case pretrain|sds|traindist|render] [--batch B] [--top N] [--json FILE]
 *                                 per-kernel and per-op time of one call of a peer case (default: tiny32 UNet
 *                                 forward+backward to every weight at batch 16; profile.ts)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { measureRenderThroughput } from './render-throughput.js';
import { FAMILY_NAMES, disposeObject, makeObject, triangleCount } from '../../scenes/index.js';
import { SceneDataset, writeSceneDataset } from '../dataset/scene-dataset.js';
import { initBackend } from '../backend/backend.js';
import { measureKernelRates, timeMs } from '../backend/gflops.js';
import { fmt, formatTable } from '../core/table.js';
import { ClipTextModel, clipTextFlops, clipTextParamShapes, type ClipTextConfig } from '../models/clip-text-model.js';
import { loadClipTextModel } from '../models/load.js';
import { Params, randomInit } from '../models/nn.js';
import { unetConfig } from '../models/unet-config.js';
import { unetFlops } from '../models/unet-flops.js';
import { UNet2DConditionModel } from '../models/unet.js';
import { loadUNet } from '../models/load.js';
import { builtinModelDir, packageRoot } from '../paths.js';
import { benchFields } from './fields.js';
import { applyModelSettings } from '../cli/generate.js';
import { GENERATE_DEFAULTS, type GenerateConfig } from '../generate/config.js';
import { exportAsset, summarizeLossTerms } from '../generate/export-asset.js';
import { generateAsset, isFitIteration } from '../generate/generate-asset.js';
import { sampleTargetViews } from '../generate/target-views.js';
import { viewConditions } from '../generate/view-conditions.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { pretrain } from '../train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../train/pretrain-configs.js';
import { seededNormal } from '../core/seeded-normal.js';
import { benchPeer, defaultPeerScript, peerCase, peerInputs, randomUNet } from './peer.js';
import { printKernelProfile, profileKernels } from './profile.js';
import { median, renderStepCase, type RenderStepTiming } from './render-step.js';
import { setFieldKernels } from '../../nerf/field.js';
import { planSamples, setFusedCompositing } from '../../renderers/volume.js';
import { sceneCamera } from '../../renderers/camera-rig.js';

const SECTIONS = ['kernels', 'text', 'unet', 'sd15', 'pretrain', 'fields', 'render', 'generate', 'scenes', 'peer', 'profile'];
/** Sections only run when named. */
const ON_REQUEST = new Set(['profile']);

/** Section names and --options (`--name value`, or `--no-name` for a false flag). */
function parseArgs(argv: string[]): { sections: Set<string>; options: Map<string, string> } {
  const sections = new Set<string>();
  const options = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--no-')) options.set(a.slice(5), 'false');
    else if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Error(`bench: ${a} needs a value`);
      options.set(name, value);
    } else if (SECTIONS.includes(a)) sections.add(a);
    else throw new Error(`bench: unknown section "${a}" (expected ${SECTIONS.join(', ')})`);
  }
  return { sections, options };
}

function positiveInt(options: Map<string, string>, name: string, fallback: number): number {
  const raw = options.get(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bench: --${name} ${raw}: expected a positive integer`);
  return n;
}

/** CLIP ViT-L/14's text tower, the text encoder of Stable Diffusion 1.x. */
const CLIP_VIT_L14: ClipTextConfig = {
  hidden_size: 768,
  intermediate_size: 3072,
  num_attention_heads: 12,
  num_hidden_layers: 12,
  max_position_embeddings: 77,
  vocab_size: 49408,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
  eos_token_id: 2,
};

function randomClipText(config: ClipTextConfig): ClipTextModel {
  const tensors = new Map<string, tf.Tensor>();
  let seed = 1;
  for (const [key, shape] of clipTextParamShapes(config)) tensors.set(key, seededNormal(shape, 0, 0.02, seed++));
  return new ClipTextModel(config, new Params(tensors, 'random ViT-L/14 text weights'));
}

type Row = Array<string | number>;

/** One timed row: ms, GFLOPS, and the live tensor count before and after the repetitions. */
function row(label: string[], flops: number, f: () => tf.Tensor | tf.Tensor[], reps: number): Row {
  const before = tf.memory().numTensors;
  const ms = timeMs(f, reps);
  const after = tf.memory().numTensors;
  return [...label, fmt(ms), fmt(flops / ms / 1e6), before, after];
}

function textEncoderRows(model: ClipTextModel, name: string, batch: number, reps: number): Row[] {
  const ids = Array.from({ length: batch }, () => [49406, 320, 1125, 539, 320, 4269, 49407, ...Array(70).fill(49407)]);
  const eos = ids.map(() => 6);
  const flops = clipTextFlops(model.config, batch, 77);
  const forward = () => {
    const out = model.forward(ids);
    out.pooled.dispose();
    return out.lastHiddenState;
  };
  // The soft-prompt gradient: d(sum of states)/d(token embeddings). Weights are constants,
  // so the backward pass costs about one more forward.
  const backward = () => tf.tidy(() => tf.grad((e: tf.Tensor) => model.forwardEmbeddings(e as tf.Tensor3D, eos).lastHiddenState.sum())(model.embedTokens(ids)));
  return [row([name, String(batch), 'forward'], flops, forward, reps), row([name, String(batch), 'forward+backward'], 2 * flops, backward, reps)];
}

/** Stable Diffusion 1.5's UNet config (runwayml/stable-diffusion-v1-5, unet/config.json). */
const SD15_UNET = {
  _class_name: 'UNet2DConditionModel',
  act_fn: 'silu',
  attention_head_dim: 8,
  block_out_channels: [320, 640, 1280, 1280],
  center_input_sample: false,
  cross_attention_dim: 768,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 2,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: 32,
  out_channels: 4,
  sample_size: 64,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
};

function unetRows(unet: UNet2DConditionModel, name: string, size: [number, number], batch: number, reps: number, backward = true): Row[] {
  const [h, w] = size;
  const c = unet.config;
  const sample = seededNormal([batch, h, w, c.in_channels], 0, 1, 1) as tf.Tensor4D;
  const states = seededNormal([batch, 77, c.cross_attention_dim[0]], 0, 1, 2) as tf.Tensor3D;
  const t = Array.from({ length: batch }, (_, i) => (97 * i + 500) % 1000);
  const flops = unetFlops(c, h, w, batch);
  const label = [name, `${h}x${w}`, String(batch)];
  const rows = [row([...label, 'forward'], flops, () => unet.forward(sample, t, states), reps)];
  if (backward) {
    // Gradients to the inputs (sample and conditioning), the weights frozen, as in prompt learning.
    const grads = tf.grads((x: tf.Tensor, e: tf.Tensor) => unet.forward(x as tf.Tensor4D, t, e as tf.Tensor3D).sum());
    rows.push(row([...label, 'forward+backward'], 2 * flops, () => grads([sample, states]), reps));
  }
  tf.dispose([sample, states]);
  return rows;
}

/**
 * Renderer images/s for one typical object (seed 1) of each family at 32×32 and 128×128
 * (3×3 supersampling, as the dataset renders), then `scenes dataset` end to end: 5k images
 * at 32×32 into a temporary folder (objects built, rendered, captioned, shards written).
 */
async function sceneRows(): Promise<{ render: Row[]; dataset: Row[] }> {
  const render: Row[] = [];
  for (const family of FAMILY_NAMES) {
    const { group } = makeObject(family, 1);
    const at = (res: number) => measureRenderThroughput(group, { width: res, height: res, budgetMs: 400 }).imagesPerSecond;
    render.push([family, triangleCount(group), fmt(at(32)), fmt(at(128))]);
    disposeObject(group);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-bench-scenes-'));
  try {
    const n = 5000;
    const s = await writeSceneDataset({ out: path.join(dir, 'ds'), n, res: 32, seed: 0 });
    const bytes = fs.readdirSync(path.join(dir, 'ds')).reduce((a, f) => a + fs.statSync(path.join(dir, 'ds', f)).size, 0);
    return { render, dataset: [[n, '32x32', s.shards, fmt(s.seconds), fmt(s.images_per_s), fmt(100_000 / s.images_per_s / 60), fmt(bytes / n)]] };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { sections: only, options } = parseArgs(process.argv.slice(2));
  const want = (s: string) => only.has(s) || (only.size === 0 && !ON_REQUEST.has(s));
  const info = await initBackend();
  console.log(`dd3d bench: backend ${info.name} (${info.reason}); node ${process.version}\n`);

  if (want('kernels')) {
    const rates = measureKernelRates({ scale: 2, reps: 5 });
    console.log('Kernels');
    console.log(
      formatTable(
        ['kernel', 'problem', 'ms', 'GFLOPS'],
        rates.map((r) => [r.name, r.shape, fmt(r.ms), fmt(r.gflops)]),
      ),
    );
    console.log();
  }

  if (want('text')) {
    const rows: Row[] = [];
    for (const name of ['sd1-tiny', 'sd2-tiny']) {
      const model = loadClipTextModel(`${packageRoot()}/test/fixtures/${name}`);
      rows.push(...textEncoderRows(model, name, 2, 5));
      model.dispose();
    }
    const big = randomClipText(CLIP_VIT_L14);
    rows.push(...textEncoderRows(big, 'ViT-L/14 text (random)', 1, 3));
    rows.push(...textEncoderRows(big, 'ViT-L/14 text (random)', 4, 2));
    big.dispose();
    console.log('Text encoder (77 tokens)');
    console.log(formatTable(['model', 'batch', 'pass', 'ms', 'GFLOPS', 'tensors before', 'after'], rows));
    console.log();
  }

  const unetHeader = ['model', 'latents', 'batch', 'pass', 'ms', 'GFLOPS', 'tensors before', 'after'];
  if (want('unet')) {
    const rows: Row[] = [];
    for (const [name, size] of [
      ['sd1-tiny', [16, 16]],
      ['pixel-tiny', [32, 32]],
    ] as const) {
      const unet = loadUNet(`${packageRoot()}/test/fixtures/${name}`);
      for (const batch of [1, 8, 32]) rows.push(...unetRows(unet, name, [...size], batch, batch === 32 ? 2 : 3));
      unet.dispose();
    }
    console.log('UNet (77 conditioning tokens; backward = gradients to sample and conditioning)');
    console.log(formatTable(unetHeader, rows));
    console.log();
  }

  if (want('sd15')) {
    const component = { name: 'unet', dir: '(built in)', config: SD15_UNET, configPath: 'SD 1.5 unet config' };
    const unet = new UNet2DConditionModel(unetConfig(component), new Params(new Map(), 'random SD 1.5 UNet', randomInit()));
    // 3.2 GB of fp32 weights: the UNet parks each block's weights outside the wasm heap between uses
    const rows = unetRows(unet, 'SD 1.5 (random weights)', [64, 64], 1, 1, false);
    unet.dispose();
    console.log('Full-size UNet');
    console.log(formatTable(unetHeader, rows));
    console.log();
  }

  if (want('pretrain')) {
    // Training steps of the built-in model's config on a small dataset: one thread, then two.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-bench-pretrain-'));
    await writeSceneDataset({ n: 1024, res: 32, out: path.join(dir, 'data'), seed: 1 });
    const dataset = SceneDataset.open(path.join(dir, 'data'));
    const config = PRETRAIN_CONFIGS.tiny32!;
    const rows: Row[] = [];
    let single = 0;
    for (const workers of [1, 2]) {
      const times: number[] = [];
      let last = performance.now();
      const onStep = () => {
        const now = performance.now();
        times.push(now - last);
        last = now;
      };
      const r = await pretrain({ config, dataset, out: path.join(dir, `w${workers}`), seed: 1, steps: 6, resume: false, workers, onStep });
      r.ema.dispose();
      r.model.textParams.dispose();
      r.model.unetParams.dispose();
      const steady = times.slice(2); // the first steps warm up kernels and the worker
      const ms = steady.reduce((a, b) => a + b, 0) / steady.length;
      if (workers === 1) single = ms;
      rows.push([config.name, String(config.batch), String(workers), fmt(ms), fmt(single / ms)]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    console.log('Pretraining steps (forward, backward to every weight, AdamW, EMA; steps 3–6 of 6)');
    console.log(formatTable(['config', 'batch', 'threads', 'ms/step', 'speed-up'], rows));
    console.log();
  }

  if (want('fields')) {
    benchFields();
  }

  if (want('render')) {
    // Before/after in one process: the same iterations with the renderer's and fields' fast paths
    // off (tf ops, as before them) and on, alternating, so both see the same machine load.
    const iters = positiveInt(options, 'iters', 8);
    const rows: Row[] = [];
    for (const shading of ['lambertian', 'albedo'] as const) {
      const runs = { before: renderStepCase({ shading }), after: renderStepCase({ shading }) };
      const steps: Record<string, RenderStepTiming[]> = { before: [], after: [] };
      const tensors: Record<string, number[]> = { before: [], after: [] };
      let maxLossDiff = 0;
      for (let i = 0; i <= iters; i++) {
        const losses: number[] = [];
        for (const which of ['before', 'after'] as const) {
          const fieldWas = setFieldKernels(which === 'after');
          const compositingWas = setFusedCompositing(which === 'after');
          const t = runs[which].step();
          setFieldKernels(fieldWas);
          setFusedCompositing(compositingWas);
          losses.push(t.loss);
          tensors[which]!.push(tf.memory().numTensors);
          if (i > 0) steps[which]!.push(t); // the first warms up
        }
        maxLossDiff = Math.max(maxLossDiff, Math.abs(losses[0]! - losses[1]!) / Math.max(1, Math.abs(losses[0]!)));
      }
      for (const which of ['before', 'after'] as const) {
        const m = (k: keyof RenderStepTiming) => fmt(median(steps[which]!.map((s) => s[k])));
        const n = tensors[which]!;
        rows.push([
          shading,
          which,
          runs[which].live.join(', '),
          m('renderCpuMs'),
          m('backpropCpuMs'),
          m('renderMs'),
          m('backpropMs'),
          `${n[0]} → ${n[n.length - 1]}`,
        ]);
      }
      rows.push([
        shading,
        'after / before',
        '',
        ...(['renderCpuMs', 'backpropCpuMs', 'renderMs', 'backpropMs'] as const).map((k) =>
          fmt(median(steps.after!.map((s) => s[k])) / median(steps.before!.map((s) => s[k]))),
        ),
        `loss rel. diff ≤ ${maxLossDiff.toExponential(1)}`,
      ]);
      runs.before.dispose();
      runs.after.dispose();
    }
    console.log(
      `Render side of a 4-view SDS iteration (32x32, 48 samples/ray, fresh grid field; medians of ${iters} iterations after 1 warm-up; before = fast paths off)`,
    );
    console.log(
      formatTable(['shading', 'path', 'live samples per view', 'render CPU ms', 'backprop CPU ms', 'render wall ms', 'backprop wall ms', 'tensors'], rows),
    );
    console.log();
  }

  if (want('generate')) {
    // One asset as the main command makes it: the built-in model at generate's multi-view
    // defaults (applyModelSettings: the fast path's target views, fit, then SDS and refits in
    // turn), on this thread, then the export. Each kind of iteration timed on its own: a mean
    // over all of them hides that the SDS ones are most of the time.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-bench-generate-'));
    const model = DiffusionModel.load(builtinModelDir());
    const conditions = viewConditions(model, { kind: 'prompt', prompt: 'a red chair' });
    const config: GenerateConfig = { ...GENERATE_DEFAULTS, previewEvery: 0, checkpointEvery: Infinity };
    applyModelSettings(config, { iters: options.has('iters') ? positiveInt(options, 'iters', 1) : undefined }, model, model.dir, null);
    const t0 = performance.now();
    const targets = sampleTargetViews(model, conditions, config.views, model.sampling, 1);
    const targetS = (performance.now() - t0) / 1000;
    const wall = { fit: [] as number[], sds: [] as number[] };
    let last = performance.now();
    const r = await generateAsset({
      model,
      conditions,
      config,
      seed: 1,
      dir,
      resume: false,
      targets,
      onIter: (iter) => {
        const now = performance.now();
        wall[isFitIteration(config, iter - 1) ? 'fit' : 'sds'].push(now - last);
        last = now;
      },
    });
    const t1 = performance.now();
    const m = await exportAsset({
      dir,
      field: r.field,
      occupancy: r.occupancy,
      config,
      manifest: {
        source: { kind: 'prompt', prompt: 'a red chair' },
        model: model.dir,
        seed: 1,
        instance: 0,
        instance_noise_hash: null,
        iterations: r.iterations,
        seconds: r.seconds,
        timing_ms: r.timing,
        loss_terms: summarizeLossTerms(r.terms),
      },
    });
    const exportS = (performance.now() - t1) / 1000;
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    const live = planSamples(sceneCamera(targets.cameras[0]!), r.field.bound, {
      width: 32,
      height: 32,
      samplesPerRay: config.samplesPerRay,
      occupancy: r.occupancy,
    }).live;
    const t = r.timing;
    const oneAsset = targetS + r.seconds + exportS;
    console.log(
      `One asset as \`generate\` makes it on the built-in model ("a red chair", ${config.iters} iterations: ${wall.fit.length} fit or refit, ${wall.sds.length} ${config.views}-view SDS), this thread`,
    );
    console.log(
      formatTable(
        [
          'target views s',
          'fit ms/iter',
          'SDS ms/iter',
          'mean: render',
          'guidance',
          'backprop',
          'Adam',
          'export s',
          'one asset s',
          'cells occupied',
          'live samples, one view',
        ],
        [
          [
            fmt(targetS),
            fmt(mean(wall.fit)),
            fmt(mean(wall.sds)),
            fmt(t.render),
            fmt(t.unet),
            fmt(t.backprop),
            fmt(t.optimizer),
            fmt(exportS),
            fmt(oneAsset),
            `${(100 * r.occupancy.occupiedFraction()).toFixed(1)}%`,
            String(live),
          ],
        ],
      ),
    );
    console.log(`(the main command runs three such assets on three threads: on two cores, about 1.5× the one asset's time and the threads' contention)`);
    console.log(`(mesh: ${m.mesh.triangles} triangles from a ${m.mesh.gridResolution}³ grid)`);
    console.log();
    r.dispose();
    targets.images.dispose();
    conditions.dispose();
    model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  if (want('peer')) {
    const threads = (options.get('threads') ?? '1,2').split(',').map((t) => Number(t));
    if (threads.some((t) => !Number.isInteger(t) || t < 1)) throw new Error(`bench: --threads ${options.get('threads')}: expected e.g. 1,2`);
    console.log('Peer: dd3d and PyTorch (diffusers UNet2DConditionModel, CPU) on the same UNet config and shapes');
    await benchPeer({
      model: options.get('model') ?? 'models/dd3d-tiny',
      script: path.resolve(options.get('peer') ?? defaultPeerScript()),
      threads,
      reps: positiveInt(options, 'reps', 5),
      fullStep: options.get('full-step') !== 'false',
    });
  }

  if (want('profile') && options.get('case') === 'render') {
    // The render side of a multi-view SDS iteration (render-step.ts), sites in nerf/ and renderers/, CPU time.
    const c = renderStepCase();
    const report = profileKernels(() => void c.step(), 2, { clock: 'cpu', sites: /[\\/](nerf|renderers)[\\/]/ });
    printKernelProfile(
      `Profile: render + backprop of 4 views at 32x32 (fresh grid field, lambertian, live samples per view ${c.live.join(', ')}), CPU ms, one call after 2 warm-ups`,
      report,
      positiveInt(options, 'top', 30),
    );
    const json = options.get('json');
    if (json) fs.writeFileSync(json, JSON.stringify(report, null, 1));
    c.dispose();
  } else if (want('profile')) {
    // One of the peer section's cases (default pretrain: tiny32 UNet, batch 16, gradients to every weight).
    const model = options.get('model') ?? 'models/dd3d-tiny';
    const which = (options.get('case') ?? 'pretrain') as 'pretrain' | 'sds' | 'traindist';
    if (!['pretrain', 'sds', 'traindist'].includes(which)) throw new Error(`bench: --case ${which}: expected pretrain, sds, traindist or render`);
    const batch = positiveInt(options, 'batch', { pretrain: 16, sds: 2, traindist: 8 }[which]);
    const unet = randomUNet(path.isAbsolute(model) ? model : path.join(packageRoot(), model), which === 'pretrain');
    const inputs = peerInputs(unet, batch);
    const report = profileKernels(peerCase(which, unet, inputs));
    const [h, w] = unet.config.sample_size ?? [32, 32];
    const pass = { pretrain: 'forward + backward to every weight', sds: 'forward only', traindist: 'forward + backward to the encoder states' }[which];
    printKernelProfile(
      `Profile: ${model} UNet (random weights), batch ${batch}, ${h}x${w}, ${pass}, one call after 2 warm-ups`,
      report,
      positiveInt(options, 'top', 30),
    );
    const json = options.get('json');
    if (json) fs.writeFileSync(json, JSON.stringify(report, null, 1));
    tf.dispose([inputs.x, inputs.ehs, inputs.r]);
    unet.dispose();
  }

  if (want('scenes')) {
    const { render, dataset } = await sceneRows();
    console.log('Scene renderer (one object of each family, seed 1; 3×3 supersampling; images/s on one core)');
    console.log(formatTable(['family', 'triangles', '32x32 img/s', '128x128 img/s'], render));
    console.log();
    console.log('scenes dataset (build object, render, caption, write shards; one core)');
    console.log(formatTable(['images', 'res', 'shards', 's', 'images/s', 'min per 100k', 'bytes/image'], dataset));
    console.log();
  }
}

await main();
