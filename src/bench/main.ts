/**
 * `npm run bench`: throughput of the pieces that dominate training, printed as tables.
 * Numbers only, never asserts: these machines are noisy, so compare ratios within one run.
 *
 *   npm run bench                 every section
 *   npm run bench -- kernels      one section (kernels, text)
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend/backend.js';
import { measureKernelRates, timeMs } from '../backend/gflops.js';
import { fmt, formatTable } from '../cli/table.js';
import { ClipTextModel, clipTextFlops, clipTextParamShapes, type ClipTextConfig } from '../models/clip-text-model.js';
import { loadClipTextModel } from '../models/load.js';
import { Params } from '../models/nn.js';
import { packageRoot } from '../paths.js';

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
  for (const [key, shape] of clipTextParamShapes(config)) tensors.set(key, tf.randomNormal(shape, 0, 0.02, 'float32', seed++));
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
  const backward = () =>
    tf.tidy(() => tf.grad((e: tf.Tensor) => model.forwardEmbeddings(e as tf.Tensor3D, eos).lastHiddenState.sum())(model.embedTokens(ids)));
  return [row([name, String(batch), 'forward'], flops, forward, reps), row([name, String(batch), 'forward+backward'], 2 * flops, backward, reps)];
}

async function main(): Promise<void> {
  const only = new Set(process.argv.slice(2));
  const want = (s: string) => only.size === 0 || only.has(s);
  const info = await initBackend();
  console.log(`dd3d bench: backend ${info.name} (${info.reason}); node ${process.version}\n`);

  if (want('kernels')) {
    const rates = measureKernelRates({ scale: 2, reps: 5 });
    console.log('Kernels');
    console.log(formatTable(['kernel', 'problem', 'ms', 'GFLOPS'], rates.map((r) => [r.name, r.shape, fmt(r.ms), fmt(r.gflops)])));
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
}

await main();
