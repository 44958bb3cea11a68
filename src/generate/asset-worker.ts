/** Worker-thread side of AssetPool: its own wasm backend and model, running asset jobs one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend/backend.js';
import { loadDistribution } from '../distribution/distribution-file.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { runAssetJob, type AssetJob } from './asset-job.js';
import type { AssetWorkerInit, AssetWorkerReply } from './asset-pool.js';

const init = workerData as AssetWorkerInit;
const port = parentPort!;
const send = (m: AssetWorkerReply) => port.postMessage(m);

try {
  await initBackend('wasm');
  const model = DiffusionModel.load(init.modelDir);
  const dist = init.distPath ? loadDistribution(init.distPath) : null;
  port.on('message', (job: AssetJob) => {
    runAssetJob(model, dist, job, (iter, iters, stats) => send({ type: 'iter', iter, iters, stats }))
      .then((result) => send({ type: 'done', result }))
      .catch((e: Error) => send({ type: 'error', message: String(e?.message ?? e) }));
  });
  send({ type: 'ready' });
} catch (e) {
  send({ type: 'error', message: String((e as Error).message ?? e) });
}
