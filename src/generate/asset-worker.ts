/** Worker-thread side of runAssetPool (and of the queue's asset threads): its own backend and model, running asset jobs one at a time. */
import { serveRequests } from '../backend/worker-pool.js';
import { loadDistribution } from '../distribution/distribution-file.js';
import { DiffusionModel } from '../pipeline/diffusion-model.js';
import { runAssetJob, type AssetJob, type AssetJobResult } from './asset-job.js';
import type { AssetWorkerInit, AssetWorkerReply } from './asset-pool.js';

await serveRequests<AssetWorkerInit, AssetJob, AssetJobResult>((init) => {
  const model = DiffusionModel.load(init.modelDir);
  const dist = init.distPath ? loadDistribution(init.distPath) : null;
  return (job, emit) => runAssetJob(model, dist, job, (iter, iters, stats) => emit({ type: 'iter', iter, iters, stats } satisfies AssetWorkerReply));
});
