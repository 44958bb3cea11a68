/**
 * The adder's and the observer's side of the queue: putting a run's asset jobs in
 * (`addRun`) and reading where they are (`queueStatus`). Both take a connected ioredis client
 * (redis.ts) and leave closing it to the caller.
 *
 * `addRun` is idempotent per instance: an instance whose asset folder is finished in `out`
 * is not added; one whose job exists (waiting, active, delayed for a retry, or completed) is
 * left alone; one whose job failed is retried (re-adding a run is how a user retries it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { Dd3dError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { putDistribution } from './dist-store.js';
import { assetName } from '../generate/asset-job.js';
import { JOB_NAME, jobIdFor, type QueueJobPayload } from './payload.js';
import type { AssetProgress } from './worker.js';
import { tryReadJsonFile } from '../io/regular-file.js';

/** Hidden in --out (so `view` and generate's folder check skip it): which run the folder holds. */
export const RUN_MARKER = '.dd3d-queue-run.json';

/**
 * One run per folder: asset-NNN of another run (other seed, settings, distribution or model)
 * would count as done for this one and be silently skipped, so a second run is refused.
 */
export function claimOutFolder(out: string, run: string, flag = '--out'): void {
  const marker = path.join(out, RUN_MARKER);
  if (fs.existsSync(marker)) {
    const other = (tryReadJsonFile(marker) as { run?: unknown } | null | undefined)?.run;
    if (other === run) return;
    const which = typeof other === 'string' ? other : `its ${RUN_MARKER} is not a run marker dd3d can read`;
    throw new Dd3dError(
      `${flag}: ${out} holds the assets of another queue run (${which}); a run with another distribution, seed, model or settings needs its own folder`,
    );
  }
  writeFileAtomic(marker, JSON.stringify({ format: 'dd3d-queue-run', run }) + '\n');
}

export interface AddOptions {
  /** Tries per job before it is failed. */
  attempts: number;
  /** The distribution file's bytes when the run draws from one (stored once, by hash). */
  distribution: Buffer | null;
}

export interface AddSummary {
  run: string;
  added: number;
  /** Already waiting, active or delayed. */
  queued: number;
  /** Completed in the queue, or finished in out. */
  done: number;
  /** Failed before, now retried. */
  retried: number;
}

export async function addRun(redis: Redis, queueName: string, payloads: QueueJobPayload[], o: AddOptions): Promise<AddSummary> {
  const summary: AddSummary = { run: payloads[0]?.run ?? '', added: 0, queued: 0, done: 0, retried: 0 };
  if (o.distribution) await putDistribution(redis, queueName, o.distribution);
  const queue = new Queue(queueName, { connection: redis });
  try {
    const fresh: Array<{ name: string; data: QueueJobPayload; opts: JobsOptions }> = [];
    for (const p of payloads) {
      if (fs.existsSync(path.join(p.out, assetName(p.instance), 'manifest.json'))) {
        summary.done++;
        continue;
      }
      const id = jobIdFor(p.run, p.instance);
      const state = await queue.getJobState(id);
      if (state === 'unknown') {
        // a failing asset is usually a setting or the model, not luck: a few tries, minutes apart at most
        fresh.push({ name: JOB_NAME, data: p, opts: { jobId: id, attempts: o.attempts, backoff: { type: 'exponential', delay: 10_000 } } });
      } else if (state === 'completed') summary.done++;
      else if (state === 'failed') {
        await (await queue.getJob(id))?.retry('failed');
        summary.retried++;
      } else summary.queued++;
    }
    // in batches: one addBulk is one Redis transaction
    for (let i = 0; i < fresh.length; i += 500) await queue.addBulk(fresh.slice(i, i + 500));
    summary.added = fresh.length;
  } finally {
    await queue.close();
  }
  return summary;
}

export interface QueueStatus {
  queue: string;
  counts: { waiting: number; active: number; done: number; failed: number; delayed: number };
  /** Up to 100 active jobs with their progress. */
  active: Array<{ id: string; asset: string | null; iter: number | null; iters: number | null }>;
  /** Up to 100 failed jobs, newest first, with their one-line errors. */
  failed: Array<{ id: string; asset: string | null; error: string; attempts: number }>;
}

const LISTED = 100;

export async function queueStatus(redis: Redis, queueName: string): Promise<QueueStatus> {
  const queue = new Queue(queueName, { connection: redis, skipMetasUpdate: true });
  try {
    const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'completed', 'failed', 'delayed');
    const asset = (data: unknown): string | null => {
      const i = (data as { instance?: unknown } | null)?.instance;
      return typeof i === 'number' && Number.isInteger(i) && i >= 0 ? assetName(i) : null;
    };
    const active = (await queue.getActive(0, LISTED - 1)).map((j) => {
      const p = (typeof j.progress === 'object' && j.progress !== null ? j.progress : {}) as Partial<AssetProgress>;
      return { id: String(j.id), asset: asset(j.data), iter: typeof p.iter === 'number' ? p.iter : null, iters: typeof p.iters === 'number' ? p.iters : null };
    });
    const failed = (await queue.getFailed(0, LISTED - 1)).map((j) => ({
      id: String(j.id),
      asset: asset(j.data),
      error: (j.failedReason ?? '').split('\n')[0]!,
      attempts: j.attemptsMade,
    }));
    return {
      queue: queueName,
      counts: {
        waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
        active: c.active ?? 0,
        done: c.completed ?? 0,
        failed: c.failed ?? 0,
        delayed: c.delayed ?? 0,
      },
      active,
      failed,
    };
  } finally {
    await queue.close();
  }
}
