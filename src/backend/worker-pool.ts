/**
 * Worker threads for the other cores. tfjs-wasm computes on one thread per backend, so a
 * command uses a second core only through a worker thread with a backend of its own; every
 * long command (pretrain, train-dist, generate, sample, eval-2d) starts its threads here.
 *
 * One protocol for all of them (the queue's asset threads speak it too):
 *  - the worker's workerData is the command's init object plus `backend`, the main thread's
 *    tfjs backend, so a worker computes with the same kernels (and the same bits) as the main
 *    thread would;
 *  - the worker posts {type: 'ready'} once its backend and state are loaded, or
 *    {type: 'error', message} (errorReply: plus the class name and stack of anything but a
 *    Dd3dError, so the main thread rethrows it as the CLI would read it in the serial loop);
 *  - each request message gets any number of event messages (any other `type`, e.g. progress),
 *    then {type: 'done', result} or {type: 'error', message}.
 * Worker scripts run compiled code (dist/), whether the caller is the CLI or a test.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { packageRoot } from '../paths.js';
import { initBackend } from './backend.js';

/** A reply that is neither ready, done nor error: progress a request reports on the way. */
export interface WorkerEvent {
  type: string;
  [field: string]: unknown;
}

/** A worker's failure: its message, and for anything but a Dd3dError its class name and stack. */
export type ErrorReply = { type: 'error'; message: string; name?: string; stack?: string };
type Reply<R> = { type: 'ready' } | { type: 'done'; result: R } | ErrorReply | WorkerEvent;

/** What a worker posts for a failure (an Error cannot cross threads whole: its class is lost). */
export function errorReply(e: unknown): ErrorReply {
  if (e instanceof Error && !(e instanceof Dd3dError)) return { type: 'error', message: e.message, name: e.name, stack: e.stack };
  return { type: 'error', message: String((e as Error)?.message ?? e) };
}

/**
 * The main thread's error for a worker's failure, of the class the CLI reads it by (cli/run.ts's
 * failureMessage): a Dd3dError stays one, a wasm RuntimeError ("memory access out of bounds")
 * or a RangeError keeps its name, so a worker's failure reads as the same failure in the serial
 * loop would.
 */
export function errorFromReply(m: ErrorReply): Error {
  if (m.name === undefined) return new Dd3dError(m.message);
  const e = m.name === 'RangeError' ? new RangeError(m.message) : new Error(m.message);
  e.name = m.name;
  if (m.stack) e.stack = m.stack;
  return e;
}

/** Threads a command uses by default: every core, at most `cap` (more threads than work units only cost memory). */
export function defaultWorkers(cap = 8): number {
  return Math.max(1, Math.min(cap, os.availableParallelism()));
}

/**
 * Threads for `jobs` equal, independent jobs (generate's assets) on `cores` cores: the count
 * with the earliest finish, each job taking time T alone on a core and threads beyond the
 * cores sharing them, so w threads finish at ceil(jobs / w) · T · max(1, w / cores). Ties
 * go to fewer threads (less memory, earlier first results); at most 2 × cores. Three assets
 * on two cores therefore run as three threads (1.5 T) rather than two then one (2 T, the last
 * asset alone with a core idle).
 */
export function jobWorkers(jobs: number, cores = os.availableParallelism()): number {
  let best = 1;
  let bestTime = Infinity;
  for (let w = 1; w <= Math.max(1, Math.min(jobs, 2 * cores)); w++) {
    const time = Math.ceil(jobs / w) * Math.max(1, w / cores);
    if (time < bestTime - 1e-9) [best, bestTime] = [w, time];
  }
  return best;
}

/** "on 2 workers": how every long command says on stderr how many threads it computes on. */
export function workersText(n: number): string {
  return `on ${n} worker${n === 1 ? '' : 's'}`;
}

/** A compiled worker script: workerScript('train', 'grad-worker.js'). */
export function workerScript(...parts: string[]): string {
  return path.join(packageRoot(), 'dist', 'src', ...parts);
}

/** The backend a worker starts: the main thread's when it is one a thread can run (wasm or cpu). */
function workerBackend(): 'wasm' | 'cpu' {
  return tf.getBackend() === 'cpu' ? 'cpu' : 'wasm';
}

/** The main thread's handle on one worker: requests one at a time, each answered by one result. */
export class WorkerThread<Req, Res> {
  private busy = false;

  private constructor(
    private readonly worker: Worker,
    private readonly label: string,
  ) {}

  /** Starts `script` and waits until it is ready; `label` names it in errors ("train-dist worker"). */
  static async start<Req, Res>(script: string, init: object, label: string): Promise<WorkerThread<Req, Res>> {
    const worker = new Worker(script, { workerData: { ...init, backend: workerBackend() } });
    const thread = new WorkerThread<Req, Res>(worker, label);
    try {
      await thread.nextReply<void>(() => undefined, 'starting');
    } catch (e) {
      await worker.terminate();
      throw e;
    }
    return thread;
  }

  /** Posts one request; `transfer` moves its buffers instead of copying them. */
  request(req: Req, opts: { transfer?: ArrayBuffer[]; onEvent?: (e: WorkerEvent) => void } = {}): Promise<Res> {
    if (this.busy) throw new Error(`${this.label}: a request is already running`);
    const reply = this.nextReply<Res>(opts.onEvent ?? (() => undefined), 'working');
    this.worker.postMessage(req, opts.transfer ?? []);
    return reply;
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }

  /** The next ready/done (resolves), error or exit (rejects); events go to `onEvent` meanwhile. */
  private nextReply<R>(onEvent: (e: WorkerEvent) => void, doing: string): Promise<R> {
    this.busy = true;
    return new Promise<R>((resolve, reject) => {
      const detach = () => {
        this.busy = false;
        this.worker.off('message', onMessage);
        this.worker.off('error', onError);
        this.worker.off('exit', onExit);
      };
      const onMessage = (m: Reply<R>) => {
        if (m.type === 'ready' || m.type === 'done') {
          detach();
          resolve((m as { result?: R }).result as R);
        } else if (m.type === 'error') {
          detach();
          reject(errorFromReply(m as ErrorReply));
        } else onEvent(m);
      };
      const onError = (e: Error) => {
        detach();
        reject(e);
      };
      const onExit = (code: number) => {
        detach();
        reject(new Error(`${this.label} exited with code ${code} while ${doing}`));
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', onError);
      this.worker.once('exit', onExit);
    });
  }
}

/** Starts `count` threads of one script at once; if any fails, the others stop and its error is thrown. */
export async function startWorkers<Req, Res>(count: number, script: string, init: object, label: string): Promise<Array<WorkerThread<Req, Res>>> {
  const started = await Promise.allSettled(Array.from({ length: count }, () => WorkerThread.start<Req, Res>(script, init, label)));
  const threads = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(threads.map((t) => t.stop()));
    throw failed.reason;
  }
  return threads;
}

/**
 * Runs every job on the threads, each taking the next job when it finishes one (a shared
 * queue: jobs of unequal length still keep every thread busy); results in job order. The
 * first error stops the run.
 */
export async function runQueue<Job, Res>(
  threads: Array<WorkerThread<Job, Res>>,
  jobs: Job[],
  onEvent: (job: Job, e: WorkerEvent) => void,
  onDone: (job: Job, result: Res) => void,
): Promise<Res[]> {
  const results: Res[] = new Array(jobs.length);
  let next = 0;
  const drain = async (thread: WorkerThread<Job, Res>) => {
    while (next < jobs.length) {
      const k = next++;
      const job = jobs[k]!;
      results[k] = await thread.request(job, { onEvent: (e) => onEvent(job, e) });
      onDone(job, results[k]!);
    }
  };
  await Promise.all(threads.map(drain));
  return results;
}

/** A handler's result with buffers to move to the main thread rather than copy. */
export class Transfer<R> {
  constructor(
    readonly result: R,
    readonly buffers: ArrayBuffer[],
  ) {}
}

/**
 * The worker side: starts the backend the main thread asked for, runs `setup` once with the
 * init object, then answers each request with `handle(request, emit)`; `emit` posts events.
 */
export type RequestHandler<Req, Res> = (req: Req, emit: (e: WorkerEvent) => void) => Promise<Res | Transfer<Res>> | Res | Transfer<Res>;

export async function serveRequests<Init, Req, Res>(setup: (init: Init) => Promise<RequestHandler<Req, Res>> | RequestHandler<Req, Res>): Promise<void> {
  const port = parentPort!;
  const fail = (e: unknown) => port.postMessage(errorReply(e));
  try {
    const init = workerData as Init & { backend?: 'wasm' | 'cpu' };
    await initBackend(init.backend ?? 'wasm');
    const handle = await setup(init);
    // one request at a time, in order, even when a handler awaits
    let queue = Promise.resolve();
    port.on('message', (req: Req) => {
      queue = queue.then(async () => {
        try {
          const out = await handle(req, (e) => port.postMessage(e));
          if (out instanceof Transfer) port.postMessage({ type: 'done', result: out.result }, out.buffers);
          else port.postMessage({ type: 'done', result: out });
        } catch (e) {
          fail(e);
        }
      });
    });
    port.postMessage({ type: 'ready' });
  } catch (e) {
    fail(e);
  }
}
