/**
 * `generate --workers W`: W worker threads, each with its own wasm backend and copy of the
 * model, take the run's asset jobs from one queue (tfjs-wasm computes on one thread per
 * backend, so one asset per thread uses every core). Each job runs `runAssetJob`, exactly as
 * the serial loop does; a worker's error stops the run with that error. The threads and their
 * protocol are src/backend/worker-pool.ts's.
 */
import { runQueue, startWorkers, workerScript } from '../backend/worker-pool.js';
import type { AssetJob, AssetJobResult } from './asset-job.js';
import type { IterStats } from './generate-asset.js';

export interface AssetWorkerInit {
  modelDir: string;
  distPath: string | null;
}

export type AssetWorkerReply =
  | { type: 'ready' }
  | { type: 'iter'; iter: number; iters: number; stats: IterStats }
  | { type: 'done'; result: AssetJobResult }
  | { type: 'error'; message: string };

/** The worker-thread script both generate's pool and the queue's asset threads start. */
export const ASSET_WORKER_SCRIPT = workerScript('generate', 'asset-worker.js');

/** An asset's iteration report among a worker's events, or null for any other event. */
export function iterReport(e: unknown): Extract<AssetWorkerReply, { type: 'iter' }> | null {
  const m = e as AssetWorkerReply;
  return m.type === 'iter' ? m : null;
}

/** Runs every job on `workers` threads; results in job order. */
export async function runAssetPool(
  init: AssetWorkerInit,
  jobs: AssetJob[],
  workers: number,
  onIter: (job: AssetJob, iter: number, iters: number, stats: IterStats) => void,
  onDone: (job: AssetJob, result: AssetJobResult) => void,
): Promise<AssetJobResult[]> {
  const threads = await startWorkers<AssetJob, AssetJobResult>(Math.min(workers, jobs.length), ASSET_WORKER_SCRIPT, init, 'asset worker');
  try {
    const onEvent = (job: AssetJob, e: unknown) => {
      const r = iterReport(e);
      if (r) onIter(job, r.iter, r.iters, r.stats);
    };
    return await runQueue(threads, jobs, onEvent, onDone);
  } finally {
    await Promise.all(threads.map((t) => t.stop()));
  }
}
