/**
 * The queue worker's asset threads: the same worker-thread script and protocol as `generate
 * --workers` (src/generate/asset-worker.ts, which runs `runAssetJob`, on
 * src/backend/worker-pool.ts's threads), driven one job at a time. The computation must be
 * off the main thread: tfjs runs an asset's iterations synchronously, and the main thread has
 * to keep renewing BullMQ's job locks, reporting progress and hearing Ctrl-C meanwhile.
 *
 * A thread is bound to one (model, distribution), its init. `ThreadSlots` keeps at most one
 * thread per concurrent job and reuses an idle one with the same binding, so a run's jobs load
 * the model once per thread, not once per asset.
 */
import { WorkerThread } from '../backend/worker-pool.js';
import type { AssetJob, AssetJobResult } from '../generate/asset-job.js';
import { ASSET_WORKER_SCRIPT, iterReport, type AssetWorkerInit } from '../generate/asset-pool.js';
import type { IterStats } from '../generate/generate-asset.js';

export class AssetThread {
  private constructor(
    readonly init: AssetWorkerInit,
    private readonly thread: WorkerThread<AssetJob, AssetJobResult>,
  ) {}

  /** A thread with its backend and model loaded, or the error that stopped it. */
  static async start(init: AssetWorkerInit): Promise<AssetThread> {
    return new AssetThread(init, await WorkerThread.start<AssetJob, AssetJobResult>(ASSET_WORKER_SCRIPT, init, 'asset thread'));
  }

  /** Runs one job; rejects with the job's error, or when the thread dies or is stopped. */
  run(job: AssetJob, onIter: (iter: number, iters: number, stats: IterStats) => void): Promise<AssetJobResult> {
    return this.thread.request(job, {
      onEvent: (e) => {
        const r = iterReport(e);
        if (r) onIter(r.iter, r.iters, r.stats);
      },
    });
  }

  stop(): Promise<void> {
    return this.thread.stop();
  }
}

const sameInit = (a: AssetWorkerInit, b: AssetWorkerInit) => a.modelDir === b.modelDir && a.distPath === b.distPath;

/**
 * At most `size` threads (one per concurrent job): a job takes an idle thread with its
 * binding, else a new one (stopping an idle thread of another binding to stay within size).
 */
export class ThreadSlots {
  private readonly idle: AssetThread[] = [];
  private inUse = 0;

  constructor(private readonly size: number) {}

  async acquire(init: AssetWorkerInit): Promise<AssetThread> {
    this.inUse++;
    try {
      const i = this.idle.findIndex((t) => sameInit(t.init, init));
      if (i >= 0) return this.idle.splice(i, 1)[0]!;
      if (this.idle.length + this.inUse > this.size) await this.idle.shift()!.stop();
      return await AssetThread.start(init);
    } catch (e) {
      this.inUse--;
      throw e;
    }
  }

  /** Back to the idle list; `healthy: false` (a failed or cancelled job) ends the thread instead, as its tensors may have leaked. */
  async release(thread: AssetThread, healthy: boolean): Promise<void> {
    this.inUse--;
    if (healthy) this.idle.push(thread);
    else await thread.stop();
  }

  async close(): Promise<void> {
    await Promise.all(this.idle.splice(0).map((t) => t.stop()));
  }
}
