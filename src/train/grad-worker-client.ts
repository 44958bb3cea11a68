/**
 * The second core: a worker thread with its own wasm backend and model replica. Each step
 * it receives the current weights, computes the loss gradients of its rows of the batch,
 * and sends them back; the main thread averages and steps the optimizer.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { packageRoot } from '../paths.js';

export interface GradWorkerInit {
  config: string;
  seed: number;
  data: string;
}

type Reply = { type: 'ready' } | { type: 'grads'; loss: number; grads: Record<string, { shape: number[]; data: Float32Array }> } | { type: 'error'; message: string };

export class GradWorker {
  private constructor(private readonly worker: Worker) {}

  static async start(init: GradWorkerInit): Promise<GradWorker> {
    // The worker runs compiled code (dist/), whether the caller is the CLI or a test.
    const worker = new Worker(path.join(packageRoot(), 'dist', 'src', 'train', 'grad-worker.js'), { workerData: init });
    const w = new GradWorker(worker);
    await w.next();
    return w;
  }

  private next(): Promise<Reply & { type: 'ready' | 'grads' }> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: Reply) => {
        this.worker.off('error', onError);
        if (m.type === 'error') reject(new Error(`pretrain worker: ${m.message}`));
        else resolve(m);
      };
      const onError = (e: Error) => {
        this.worker.off('message', onMessage);
        reject(e);
      };
      this.worker.once('message', onMessage);
      this.worker.once('error', onError);
    });
  }

  /** Gradients of rows [from, to) of step `step`'s batch at the given weights. */
  async grads(step: number, batch: number, from: number, to: number, weights: Map<string, tf.Variable>): Promise<{ loss: number; grads: Map<string, tf.Tensor> }> {
    const w: Record<string, Float32Array> = {};
    for (const [k, v] of weights) w[k] = v.dataSync() as Float32Array;
    const reply = this.next();
    this.worker.postMessage({ type: 'step', step, batch, from, to, weights: w });
    const m = (await reply) as Extract<Reply, { type: 'grads' }>;
    const grads = new Map<string, tf.Tensor>();
    for (const [k, g] of Object.entries(m.grads)) grads.set(k, tf.tensor(g.data, g.shape, 'float32'));
    return { loss: m.loss, grads };
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}
