/**
 * `generate --workers W`: W worker threads, each with its own wasm backend and copy of the
 * model, take the run's asset jobs from one queue (tfjs-wasm computes on one thread per
 * backend, so one asset per thread uses every core). Each job runs `runAssetJob`, exactly as
 * the serial loop does; a worker's error stops the run with that error.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Dd3dError } from '../core/errors.js';
import { packageRoot } from '../paths.js';
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

/** Runs every job on `workers` threads; results in job order. */
export async function runAssetPool(
  init: AssetWorkerInit,
  jobs: AssetJob[],
  workers: number,
  onIter: (job: AssetJob, iter: number, iters: number, stats: IterStats) => void,
  onDone: (job: AssetJob, result: AssetJobResult) => void,
): Promise<AssetJobResult[]> {
  const results: AssetJobResult[] = new Array(jobs.length);
  let next = 0;
  const threads: Worker[] = [];
  const runThread = async () => {
    // The worker runs compiled code (dist/), whether the caller is the CLI or a test.
    const worker = new Worker(path.join(packageRoot(), 'dist', 'src', 'generate', 'asset-worker.js'), { workerData: init });
    threads.push(worker);
    let current: AssetJob | null = null;
    await new Promise<void>((resolve, reject) => {
      const take = () => {
        if (next >= jobs.length) return resolve();
        const k = next++;
        current = jobs[k]!;
        const job = current;
        worker.removeAllListeners('message');
        worker.on('message', (m: AssetWorkerReply) => {
          if (m.type === 'iter') onIter(job, m.iter, m.iters, m.stats);
          else if (m.type === 'done') {
            results[k] = m.result;
            onDone(job, m.result);
            take();
          } else if (m.type === 'error') reject(new Dd3dError(m.message));
        });
        worker.postMessage(job);
      };
      worker.once('error', reject);
      worker.once('exit', (code) => code !== 0 && reject(new Error(`asset worker exited with code ${code}${current ? ` during ${current.dir}` : ''}`)));
      worker.once('message', (m: AssetWorkerReply) => (m.type === 'ready' ? take() : m.type === 'error' ? reject(new Dd3dError(m.message)) : undefined));
    });
  };
  try {
    await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, runThread));
  } finally {
    await Promise.all(threads.map((t) => t.terminate()));
  }
  return results;
}
