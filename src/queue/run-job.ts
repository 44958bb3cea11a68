/**
 * One queued asset, on a worker: the payload becomes the same `AssetJob` that `dd3d
 * generate` builds, run by `runAssetJob` on an asset thread, with the output made atomic.
 *
 * The asset is built in `<out>/.asset-NNN.partial/` and renamed to `<out>/asset-NNN/` when
 * its manifest is written. Hidden names are skipped by `dd3d view` and by generate's --out
 * check, so nobody lists a half-written asset; the rename is the commit. The partial folder
 * is in the shared `out`, so its checkpoints (written every config.checkpointEvery
 * iterations, crash-safe) let a retry on any worker resume instead of starting over; the
 * resumed run continues exactly as the uninterrupted one (generate-asset.ts), so the asset
 * equals a local run's. Running an instance twice (at-least-once delivery) is harmless: a
 * finished asset-NNN is never rewritten, and a second finisher drops its identical copy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Dd3dError } from '../core/errors.js';
import { assetName, type AssetJob, type AssetJobResult } from '../generate/asset-job.js';
import type { IterStats } from '../generate/generate-asset.js';
import type { ThreadSlots } from './asset-thread.js';
import type { DistributionCache } from './dist-store.js';
import type { QueueJobPayload } from './payload.js';

export interface WorkerModel {
  dir: string;
  fingerprint: string;
}

export interface QueueJobResult {
  asset: string;
  /** 'done': made by this attempt; 'committed': an earlier attempt built it and died before the rename; 'existing': asset-NNN was already there. */
  outcome: 'done' | 'committed' | 'existing';
  /** The checkpoint step this attempt resumed from (0: from the start). */
  resumedFrom: number;
  iterations?: number;
  seconds?: number;
  triangles?: number;
}

export const partialDir = (out: string, instance: number): string => path.join(out, `.${assetName(instance)}.partial`);

/** The step of the checkpoint a run in `dir` would resume from (0 if none), from its state.json. */
export function checkpointStep(dir: string): number {
  try {
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint', 'state.json'), 'utf8')) as { step?: unknown };
    return typeof state.step === 'number' ? state.step : 0;
  } catch {
    return 0;
  }
}

/** What an attempt will do, before it starts: for the worker's log. */
export function describeStart(p: QueueJobPayload): string {
  if (fs.existsSync(path.join(p.out, assetName(p.instance), 'manifest.json'))) return 'already done';
  const partial = partialDir(p.out, p.instance);
  if (fs.existsSync(path.join(partial, 'manifest.json'))) return 'built by an earlier attempt, committing it';
  const step = checkpointStep(partial);
  return step > 0 ? `resuming from iteration ${step}` : 'from the start';
}

export async function runQueueJob(
  p: QueueJobPayload,
  ctx: { model: WorkerModel; dists: DistributionCache; slots: ThreadSlots },
  signal: AbortSignal | undefined,
  onIter: (iter: number, iters: number, stats: IterStats) => void,
): Promise<QueueJobResult> {
  const asset = assetName(p.instance);
  const final = path.join(p.out, asset);
  const partial = partialDir(p.out, p.instance);
  if (fs.existsSync(path.join(final, 'manifest.json'))) return { asset, outcome: 'existing', resumedFrom: 0 };
  if (!fs.existsSync(p.out))
    throw new Dd3dError(`${p.out} does not exist on this worker: --out must be a shared folder, mounted at the same path on every machine`);
  if (p.model.fingerprint !== ctx.model.fingerprint) {
    throw new Dd3dError(
      `the job needs the model ${p.model.label} (${p.model.fingerprint.slice(0, 19)}…); this worker's ${ctx.model.dir} is ${ctx.model.fingerprint.slice(0, 19)}… (start the worker with --model)`,
    );
  }
  const resumedFrom = checkpointStep(partial);
  let result: AssetJobResult | undefined;
  // a finished partial folder (the worker died between the manifest and the rename) only needs the rename
  if (!fs.existsSync(path.join(partial, 'manifest.json'))) {
    const distPath = p.source.kind === 'distribution' ? await ctx.dists.file(p.source.sha256) : null;
    const job: AssetJob = {
      dir: partial,
      instance: p.instance,
      seed: p.seed,
      config: p.config,
      source:
        p.source.kind === 'distribution'
          ? { kind: 'distribution', path: p.source.label, stdScale: p.source.stdScale, references: p.source.references.map((r) => path.join(p.out, r)) }
          : { kind: 'prompt', prompt: p.source.prompt },
      modelDir: ctx.model.dir,
      sampling: p.sampling,
      resume: true,
    };
    const thread = await ctx.slots.acquire({ modelDir: ctx.model.dir, distPath });
    if (signal?.aborted) {
      await ctx.slots.release(thread, false);
      signal.throwIfAborted();
    }
    // cancelling ends the thread at once; the checkpoint on disk is what the next attempt resumes from
    const cancel = () => void thread.stop();
    signal?.addEventListener('abort', cancel, { once: true });
    let healthy = false;
    try {
      result = await thread.run(job, onIter);
      healthy = true;
    } finally {
      signal?.removeEventListener('abort', cancel);
      await ctx.slots.release(thread, healthy && !signal?.aborted);
    }
    // finished before the cancel took effect: commit it rather than throw the work away
  }
  try {
    fs.renameSync(partial, final);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // another attempt of the same instance committed first: same seed, same asset; keep theirs
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && fs.existsSync(path.join(final, 'manifest.json'))) {
      fs.rmSync(partial, { recursive: true, force: true });
      return { asset, outcome: 'existing', resumedFrom };
    }
    throw e;
  }
  if (!result) return { asset, outcome: 'committed', resumedFrom };
  return { asset, outcome: 'done', resumedFrom, iterations: result.iterations, seconds: result.seconds, triangles: result.triangles };
}
