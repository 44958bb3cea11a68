/**
 * `dd3d queue worker`: a BullMQ worker that takes asset jobs and runs each on an asset thread
 * (run-job.ts), until stopped.
 *
 * Faults, and what handles them:
 * - a worker killed outright: BullMQ's job lock (lockDuration = the stall timeout) is no
 *   longer renewed, a surviving worker's stalled check moves the job back to waiting, and
 *   whoever takes it resumes from the last checkpoint in the shared folder. A job may stall
 *   `maxStalls` times before BullMQ fails it.
 * - a job that throws: retried (the queue's attempts and backoff, set by `queue add`), then
 *   `failed` with its one-line error. A malformed payload fails at once, never executed.
 * - this worker losing a lock it held (it was stalled, e.g. a frozen machine): the job is
 *   cancelled here, since another worker owns it now.
 * - Redis restarting: the connection reconnects forever and commands wait (redis.ts); the
 *   asset threads keep computing meanwhile.
 * - `stop` (Ctrl-C): running jobs are cancelled and moved back to waiting at once, so
 *   another worker resumes them from their checkpoints; then the connections close.
 */
import * as os from 'node:os';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { Dd3dError } from '../core/errors.js';
import { ThreadSlots } from './asset-thread.js';
import { DistributionCache } from './dist-store.js';
import { modelFingerprint } from './model-id.js';
import { assetName } from '../generate/asset-job.js';
import { JOB_NAME, jobIdFor, parsePayload, type QueueJobPayload } from './payload.js';
import { connectRedis, isConnectionError, oneLine } from './redis.js';
import { checkpointStep, describeStart, partialDir, runQueueJob, type QueueJobResult, type WorkerModel } from './run-job.js';

export interface QueueWorkerOptions {
  redis: string;
  queue: string;
  concurrency: number;
  modelDir: string;
  /** Seconds without a lock renewal before a job counts as stalled (BullMQ lockDuration), also the stalled-check interval. */
  stallSeconds: number;
  /** Times a job may stall before it fails. */
  maxStalls: number;
  log: (line: string) => void;
}

export interface QueueWorkerHandle {
  /** Releases running jobs back to the queue and closes the connections. */
  stop(): Promise<void>;
}

/** Progress as `queue status` shows it. */
export interface AssetProgress {
  asset: string;
  iter: number;
  iters: number;
}

const SHUTDOWN = 'worker stopping';
const LOCK_LOST = 'lock lost';
/** Progress goes to Redis at most this often: a tiny asset does many iterations a second. */
const PROGRESS_EVERY_MS = 1000;

export async function startQueueWorker(o: QueueWorkerOptions): Promise<QueueWorkerHandle> {
  // Redis first: a wrong URL should not wait for a large model to be hashed
  const connection = await connectRedis(o.redis, 'worker', (event, detail) =>
    o.log(event === 'lost' ? `lost Redis (${detail}); reconnecting` : `reconnected to ${detail}`),
  );
  let model: WorkerModel;
  try {
    model = { dir: o.modelDir, fingerprint: modelFingerprint(o.modelDir) };
  } catch (e) {
    connection.disconnect();
    throw e;
  }
  const dists = new DistributionCache(connection, o.queue);
  const slots = new ThreadSlots(o.concurrency);

  const processor = async (job: Job, token?: string, signal?: AbortSignal): Promise<QueueJobResult> => {
    let p: QueueJobPayload;
    try {
      if (job.name !== JOB_NAME) throw new Dd3dError(`malformed job (job ${job.id}): name "${job.name}", expected "${JOB_NAME}"`);
      p = parsePayload(job.data, job.id);
      if (job.id !== jobIdFor(p.run, p.instance))
        throw new Dd3dError(`malformed job payload (job ${job.id}): the id is not ${jobIdFor(p.run, p.instance)}, that of its run and instance`);
    } catch (e) {
      const message = oneLine((e as Error).message);
      o.log(`${job.id}: rejected: ${message}`);
      throw new UnrecoverableError(message);
    }
    const asset = assetName(p.instance);
    o.log(`${asset} (${job.id}): started, ${describeStart(p)}`);
    let last = 0;
    const onIter = (iter: number, iters: number) => {
      const now = Date.now();
      if (now - last < PROGRESS_EVERY_MS && iter < iters) return;
      last = now;
      const progress: AssetProgress = { asset, iter, iters };
      // progress is advisory: a failed update must not fail the asset
      job.updateProgress(progress).catch(() => undefined);
    };
    try {
      const r = await runQueueJob(p, { model, dists, slots }, signal, onIter);
      const what = {
        done: `done (${r.iterations} iterations, ${Math.round(r.seconds ?? 0)} s, ${r.triangles} triangles)`,
        committed: 'done (renamed into place)',
        existing: `already in ${p.out}; nothing to do`,
      };
      o.log(`${asset}: ${what[r.outcome]}`);
      return r;
    } catch (e) {
      if (signal?.aborted) {
        // WaitingError tells BullMQ the job is not ours to complete or fail
        if (signal.reason === LOCK_LOST) o.log(`${asset}: lost its lock (this worker was stalled); left to the worker that took it`);
        else {
          try {
            await job.moveToWait(token);
            o.log(`${asset}: released to the queue (its checkpoint is at iteration ${checkpointStep(partialDir(p.out, p.instance))})`);
          } catch (err) {
            // e.g. the lock expired meanwhile: the stalled check hands the job on instead
            o.log(`${asset}: could not release it (${oneLine((err as Error).message)}); it returns to the queue when its lock expires`);
          }
        }
        throw new WaitingError();
      }
      const message = oneLine((e as Error).message ?? String(e));
      o.log(`${asset}: failed: ${message}`);
      throw new Error(message);
    }
  };

  const name = `${os.hostname()}:${process.pid}`;
  const worker = new Worker(o.queue, processor, {
    connection,
    concurrency: o.concurrency,
    lockDuration: o.stallSeconds * 1000,
    stalledInterval: o.stallSeconds * 1000,
    maxStalledCount: o.maxStalls,
    autorun: false,
    name,
  });
  let lastError = '';
  worker.on('error', (e: Error) => {
    const message = oneLine(e.message);
    // connection trouble is reported by the connection itself (redis.ts); BullMQ repeats
    // other errors for every command that hits them: say each new one once
    if (isConnectionError(message) || message === lastError) return;
    o.log(`warning: ${message}`);
    lastError = message;
  });
  worker.on('lockRenewalFailed', (ids: string[]) => {
    for (const id of ids) worker.cancelJob(id, LOCK_LOST);
  });
  worker.on('stalled', (id: string) => o.log(`${id}: its worker stopped answering; back in the queue`));
  worker.on('ready', () => (lastError = ''));
  void worker.run().catch((e: Error) => o.log(`warning: ${oneLine(e.message)}`));
  o.log(`worker ${name} on ${o.queue}: ${o.concurrency} asset thread${o.concurrency === 1 ? '' : 's'}, model ${o.modelDir}`);

  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        worker.cancelAllJobs(SHUTDOWN);
        await worker.close();
        await slots.close();
        dists.dispose();
        await connection.quit().catch(() => connection.disconnect());
      })();
      return stopping;
    },
  };
}
