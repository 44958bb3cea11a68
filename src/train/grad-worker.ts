/** Worker-thread side of GradWorker: a model replica computing one part of each batch's gradients. */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend/backend.js';
import { SceneDataset } from '../dataset/scene-dataset.js';
import { DDPMScheduler } from '../schedulers/index.js';
import type { GradWorkerInit } from './grad-worker-client.js';
import { allVariables, batchOptions, buildTinyModel, partGrads, partLoss } from './pretrain.js';
import { PRETRAIN_CONFIGS } from './pretrain-configs.js';
import { SceneBatches } from './scene-batches.js';

const init = workerData as GradWorkerInit;
const port = parentPort!;

try {
  await initBackend('wasm');
  const config = PRETRAIN_CONFIGS[init.config]!;
  const model = buildTinyModel(config, init.seed);
  const weights = allVariables(model);
  const ddpm = DDPMScheduler.fromConfig(config.scheduler);
  const batches = new SceneBatches(SceneDataset.open(init.data), model.tokenizer, batchOptions(config, init.seed));
  port.on('message', (m: { step: number; batch: number; from: number; to: number; weights: Record<string, Float32Array> }) => {
    try {
      tf.tidy(() => {
        for (const [k, v] of weights) v.assign(tf.tensor(m.weights[k]!, v.shape, 'float32'));
      });
      const { loss, grads } = partGrads(model, weights, partLoss(model, ddpm, config, batches, init.seed, m.step, m.batch, m.from, m.to));
      const out: Record<string, { shape: number[]; data: Float32Array }> = {};
      for (const [k, g] of grads) out[k] = { shape: g.shape, data: g.dataSync() as Float32Array };
      tf.dispose([...grads.values()]);
      port.postMessage({ type: 'grads', loss, grads: out }, Object.values(out).map((g) => g.data.buffer as ArrayBuffer));
    } catch (e) {
      port.postMessage({ type: 'error', message: String((e as Error).message ?? e) });
    }
  });
  port.postMessage({ type: 'ready' });
} catch (e) {
  port.postMessage({ type: 'error', message: String((e as Error).message ?? e) });
}
