/**
 * `npm run bench -- peer`: dd3d beside PyTorch (diffusers' own UNet2DConditionModel on CPU) on
 * the built-in model's UNet config, at the shapes of dd3d's three hot loops, in one run:
 *
 *   pretrain    batch 16, S×S, forward + backward, gradients to every weight (the UNet alone)
 *   sds         batch 2 (the classifier-free guidance pair), forward only
 *   train-dist  batch 8, forward + backward, gradients to the conditioning only (weights frozen)
 *
 * The PyTorch side is `bash <peer>/run.sh <unet config> --threads T --reps N` (bench_tiny.py:
 * random weights, float32, x ~ N(0,1), encoder states ~ N(0,1) [B, 77, D], timesteps
 * linspace(1, 999, B), loss sum(out · R) with R ~ N(0,1); 2 warm-up calls, then the median of N).
 * The dd3d side builds the same config with random weights and measures the same way. dd3d
 * runs on one thread (wasm), so the ratio is taken against PyTorch's one-thread time.
 * Numbers only, never asserted. When PyTorch cannot run, one line says why and dd3d's column
 * is printed alone.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fmt, formatTable } from '../core/table.js';
import { SceneDataset, writeSceneDataset } from '../dataset/scene-dataset.js';
import { getComponent, openModelFolder } from '../io/diffusers.js';
import { Params, randomInit } from '../models/nn.js';
import { unetConfig } from '../models/unet-config.js';
import { UNet2DConditionModel } from '../models/unet.js';
import { packageRoot } from '../paths.js';
import { seededNormal } from '../core/seeded-normal.js';
import { DDPMScheduler } from '../schedulers/index.js';
import { AdamW, clipGlobalNorm } from '../train/adamw.js';
import { Ema } from '../train/ema.js';
import { PRETRAIN_CONFIGS } from '../train/pretrain-configs.js';
import { SceneBatches } from '../train/scene-batches.js';
import { allVariables, batchOptions, buildTinyModel, partLoss } from '../train/pretrain.js';
import { partGrads } from '../train/grad-worker-client.js';

export interface PeerOptions {
  /** The model folder whose unet/config.json both sides build (relative to the package root or absolute). */
  model: string;
  /** bench_tiny.py's run.sh. */
  script: string;
  /** Thread counts for PyTorch, e.g. [1, 2]; dd3d always runs on one. */
  threads: number[];
  /** Timed repetitions after 2 warm-ups (median), both sides. */
  reps: number;
  /** Also time dd3d's whole pretraining step (text encoder, UNet, clipping, AdamW, EMA). */
  fullStep: boolean;
}

/** The default location of the peer script: ../shared/peer/run.sh beside the package. */
export function defaultPeerScript(): string {
  return process.env.DD3D_PEER_SCRIPT ?? path.resolve(packageRoot(), '..', 'shared', 'peer', 'run.sh');
}

/** The cases bench_tiny.py measures, in its order and under its keys (`<name>/b<batch>/t<threads>`). */
const CASES = [
  { name: 'pretrain', batch: 16, label: 'pretrain step (UNet alone)', what: 'fwd+bwd, grads to every weight' },
  { name: 'sds', batch: 2, label: 'SDS guidance (CFG pair)', what: 'forward only' },
  { name: 'traindist', batch: 8, label: 'train-dist UNet', what: 'fwd+bwd, grads to encoder states only' },
] as const;

type CaseName = (typeof CASES)[number]['name'];

/** Median as Python's statistics.median (the mean of the middle two for an even count). */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** bench_tiny.py's policy: two warm-up calls, then the median wall time of `reps` calls. */
export function timeLikePeer(f: () => void, reps: number): number {
  for (let i = 0; i < 2; i++) f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** The UNet of a model folder's config with random weights: trainable variables, or frozen constants. */
export function randomUNet(model: string, trainable: boolean, seed = 1): UNet2DConditionModel {
  const component = getComponent(openModelFolder(model), 'unet');
  const params = new Params(new Map(), `random ${path.basename(model)} UNet`, randomInit(seed));
  return new UNet2DConditionModel(unetConfig(component), trainable ? params.toVariables() : params, component.configPath);
}

/** The config's sample_size (bench_tiny.py's default 32 when absent). */
export function sampleSize(unet: UNet2DConditionModel): [number, number] {
  return unet.config.sample_size ?? [32, 32];
}

/** Inputs as bench_tiny.py draws them (NHWC here): x, encoder states [B, 77, D], R, and linspace(1, 999, B) timesteps. */
export function peerInputs(unet: UNet2DConditionModel, batch: number, seed = 1) {
  const c = unet.config;
  const [h, w] = sampleSize(unet);
  const x = seededNormal([batch, h, w, c.in_channels], 0, 1, seed) as tf.Tensor4D;
  const ehs = seededNormal([batch, 77, c.cross_attention_dim[0]], 0, 1, seed + 1) as tf.Tensor3D;
  const r = seededNormal([batch, h, w, c.out_channels], 0, 1, seed + 2) as tf.Tensor4D;
  const t = Array.from({ length: batch }, (_, i) => (batch === 1 ? 1 : 1 + (998 * i) / (batch - 1)));
  return { x, ehs, r, t };
}

/**
 * One call of a case, as a function to time: `pretrain` differentiates sum(out · R) with respect
 * to every weight of a trainable UNet; `traindist` with respect to the encoder states of a frozen
 * one; `sds` runs the frozen UNet forward.
 */
export function peerCase(name: CaseName, unet: UNet2DConditionModel, inputs: ReturnType<typeof peerInputs>): () => void {
  const { x, ehs, r, t } = inputs;
  const loss = (e: tf.Tensor3D) => tf.sum(tf.mul(unet.forward(x, t, e), r)) as tf.Scalar;
  if (name === 'sds') return () => tf.dispose(unet.forward(x, t, ehs));
  if (name === 'pretrain') {
    const vars = [...unet.params.variables().values()];
    if (vars.length === 0) throw new Error('peer: the pretrain case needs a trainable UNet');
    return () => {
      const { value, grads } = tf.variableGrads(() => loss(ehs), vars);
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
    };
  }
  const grad = tf.grad((e: tf.Tensor) => loss(e as tf.Tensor3D));
  return () => tf.dispose(grad(ehs));
}

interface PeerResult {
  ok: boolean;
  /** One line: why PyTorch is missing, or torch's version and the BLAS warning if any. */
  note: string;
  cases: Record<string, number>;
}

function runPeer(opts: PeerOptions, command: string[]): PeerResult {
  if (!fs.existsSync(opts.script)) return { ok: false, note: `${opts.script} not found (set DD3D_PEER_SCRIPT or --peer PATH)`, cases: {} };
  const r = spawnSync(command[0]!, command.slice(1), { cwd: packageRoot(), encoding: 'utf8', maxBuffer: 16 << 20, timeout: 30 * 60_000 });
  const stderr = (r.stderr ?? '').trim();
  const firstErr = stderr.split('\n').find((l) => l.trim()) ?? '';
  if (r.error) return { ok: false, note: `could not run ${command[0]}: ${r.error.message}`, cases: {} };
  if (r.status !== 0) return { ok: false, note: firstErr || `${path.basename(opts.script)} exited with status ${r.status}`, cases: {} };
  try {
    const out = JSON.parse(r.stdout) as { torch?: string; cases?: Record<string, number> };
    const warn = stderr.split('\n').filter((l) => /warning/i.test(l));
    return { ok: true, note: `torch ${out.torch ?? '?'}${warn.length ? `; ${warn.join('; ')}` : ''}`, cases: out.cases ?? {} };
  } catch {
    return { ok: false, note: `${path.basename(opts.script)} printed no JSON object (${firstErr || 'empty output'})`, cases: {} };
  }
}

/** ms of dd3d's whole tiny32 pretraining step on one thread (steps 3–2+reps of a fresh model on a small dataset, median). */
async function fullPretrainStep(reps: number): Promise<number> {
  const config = PRETRAIN_CONFIGS.tiny32!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-bench-peer-'));
  try {
    await writeSceneDataset({ n: 64, res: config.resolution, out: path.join(dir, 'data'), seed: 1 });
    const model = buildTinyModel(config, 1);
    const weights = allVariables(model);
    const ddpm = DDPMScheduler.fromConfig(config.scheduler);
    const batches = new SceneBatches(SceneDataset.open(path.join(dir, 'data')), model.tokenizer, batchOptions(config, 1));
    const ema = new Ema(weights, config.emaDecay);
    const adam = new AdamW(weights, { lr: config.lr, weightDecay: config.weightDecay, noDecay: (k) => k.endsWith('.bias') || /norm/.test(k) });
    let step = 0;
    // The body of pretrain()'s loop with one worker.
    const once = () => {
      const local = partGrads(weights, partLoss(model, ddpm, config, batches, 1, step, config.batch, 0, config.batch));
      const grads: tf.NamedTensorMap = {};
      for (const [k, g] of local.grads) grads[weights.get(k)!.name] = g;
      const clipped = clipGlobalNorm(grads, config.gradClip);
      adam.step(clipped.grads);
      tf.dispose([...Object.values(grads), ...Object.values(clipped.grads)]);
      ema.update(weights, step);
      step++;
    };
    const ms = timeLikePeer(once, reps);
    adam.dispose();
    ema.dispose();
    model.textParams.dispose();
    model.unetParams.dispose();
    return ms;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchPeer(opts: PeerOptions): Promise<void> {
  const model = path.isAbsolute(opts.model) ? opts.model : path.join(packageRoot(), opts.model);
  const configArg = path.relative(packageRoot(), path.join(model, 'unet', 'config.json'));
  const command = ['bash', opts.script, configArg, '--threads', opts.threads.join(','), '--reps', String(opts.reps)];
  const tag = opts.threads.map((n) => `t${n}`);

  console.log(
    `dd3d vs PyTorch on ${configArg}: ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (other work on the machine skews both sides)`,
  );
  console.log(`  PyTorch: (cd ${packageRoot()} && ${command.join(' ')})`);
  const ours = `node ${path.relative(packageRoot(), process.argv[1] ?? 'dist/src/bench/main.js')} ${process.argv.slice(2).join(' ')}`.trim();
  console.log(`  dd3d:    (cd ${packageRoot()} && ${ours})  [wasm, one thread; same shapes and input distributions, 2 warm-ups + median of ${opts.reps}]`);

  // PyTorch first, then dd3d, back to back in this one run.
  const peer = runPeer(opts, command);
  console.log(peer.ok ? `  PyTorch: ${peer.note}` : `  PyTorch: not available: ${peer.note}; dd3d's column alone`);

  const trainable = randomUNet(model, true);
  const frozen = randomUNet(model, false);
  const [h, w] = sampleSize(frozen);
  const mine = new Map<CaseName, number>();
  for (const c of CASES) {
    const unet = c.name === 'pretrain' ? trainable : frozen;
    const inputs = peerInputs(unet, c.batch);
    mine.set(c.name, timeLikePeer(peerCase(c.name, unet, inputs), opts.reps));
    tf.dispose([inputs.x, inputs.ehs, inputs.r]);
  }
  trainable.dispose();
  frozen.dispose();
  const full = opts.fullStep ? await fullPretrainStep(Math.min(opts.reps, 3)) : null;

  // The ratio is taken against PyTorch on one thread (dd3d's wasm runs on one), else the first count given.
  const ref = opts.threads.includes(1) ? 't1' : tag[0]!;
  const header = ['hot loop', 'shape', 'pass', 'dd3d ms'];
  if (peer.ok)
    header.push(
      ...tag.map((t) => `PyTorch ${t === 't1' ? '1 thread' : `${t.slice(1)} threads`} ms`),
      `dd3d ÷ PyTorch ${ref === 't1' ? '1 thread' : `${ref.slice(1)} threads`}`,
    );
  const rows = CASES.map((c) => {
    const ms = mine.get(c.name)!;
    const row: Array<string | number> = [c.label, `${c.batch}x${h}x${w}`, c.what, fmt(ms)];
    if (peer.ok) {
      const theirs = (t: string) => peer.cases[`${c.name}/b${c.batch}/${t}`];
      for (const t of tag) row.push(theirs(t) === undefined ? '-' : fmt(theirs(t)!));
      row.push(theirs(ref) === undefined ? '-' : fmt(ms / theirs(ref)!));
    }
    return row;
  });
  if (full !== null) {
    const row: Array<string | number> = [
      'tiny32 pretrain step, whole (dd3d only)',
      `${PRETRAIN_CONFIGS.tiny32!.batch}x${h}x${w}`,
      'text enc + UNet fwd+bwd, clip, AdamW, EMA',
      fmt(full),
    ];
    if (peer.ok) row.push(...tag.map(() => '-'), '-');
    rows.push(row);
  }
  console.log();
  console.log(formatTable(header, rows));
  console.log();
}
