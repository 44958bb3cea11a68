/**
 * Data-parallel gradients, shared by pretrain and train-dist: helper threads (each with its
 * own backend and model replica, src/backend/worker-pool.ts) compute the loss gradients of
 * their rows of a batch at the current weights while the main thread computes its own rows;
 * the main thread takes the row-weighted mean and steps the optimizer. A trainer draws a
 * step's rows and noise from (seed, step) alone and slices them, so the parts add up to
 * exactly the batch one thread would compute.
 *
 * `GradWorker` is the main thread's side, `serveGrads` the worker script's.
 */
import * as tf from '@tensorflow/tfjs';
import { serveRequests, startWorkers, Transfer, type WorkerThread } from '../backend/worker-pool.js';

type WireGrads = Record<string, { shape: number[]; data: Float32Array }>;
interface GradRequest<P> {
  part: P;
  weights: Record<string, Float32Array>;
}
interface GradReply {
  loss: number;
  grads: WireGrads;
}

export interface PartGrads {
  loss: number;
  /** Keyed like the trainer's weights map. */
  grads: Map<string, tf.Tensor>;
}

/** Loss and gradients of one part of a batch, keyed like `weights` (a name → variable map). */
export function partGrads(weights: Map<string, tf.Variable>, loss: () => tf.Scalar): PartGrads {
  const { value, grads } = tf.variableGrads(loss, [...weights.values()]);
  const byName = new Map([...weights].map(([k, v]) => [v.name, k]));
  const out = new Map<string, tf.Tensor>();
  for (const [name, g] of Object.entries(grads)) out.set(byName.get(name)!, g);
  const l = value.dataSync()[0]!;
  value.dispose();
  return { loss: l, grads: out };
}

/** A helper thread computing the gradients of the parts `P` (a trainer's description of its rows) it is sent. */
export class GradWorker<P> {
  private constructor(private readonly thread: WorkerThread<GradRequest<P>, GradReply>) {}

  /** `script` is the trainer's compiled worker (workerScript(…)); `init` whatever it needs to build its replica. */
  static async start<P>(script: string, init: object, label: string): Promise<GradWorker<P>> {
    return (await GradWorker.startMany<P>(1, script, init, label))[0]!;
  }

  /** `count` helpers started at once (none if any fails). */
  static async startMany<P>(count: number, script: string, init: object, label: string): Promise<Array<GradWorker<P>>> {
    return (await startWorkers<GradRequest<P>, GradReply>(count, script, init, label)).map((t) => new GradWorker<P>(t));
  }

  /** Gradients of `part` at the given weights (read now, so the caller may compute meanwhile). */
  async grads(part: P, weights: Map<string, tf.Variable>): Promise<PartGrads> {
    const w: Record<string, Float32Array> = {};
    for (const [k, v] of weights) w[k] = v.dataSync() as Float32Array;
    const m = await this.thread.request({ part, weights: w });
    const grads = new Map<string, tf.Tensor>();
    for (const [k, g] of Object.entries(m.grads)) grads.set(k, tf.tensor(g.data, g.shape, 'float32'));
    return { loss: m.loss, grads };
  }

  async stop(): Promise<void> {
    await this.thread.stop();
  }
}

/**
 * One step's loss and gradients (keyed by variable name, for the optimizer) from parts computed
 * in the helpers and here: parts[0] is the main thread's `local` loss, parts[k] (k ≥ 1) goes to
 * helpers[k − 1]; `shares` are the parts' fractions of the batch (summing to 1). The helpers'
 * requests go out before the local part runs, so all compute at once.
 */
export async function dataParallelGrads<P>(
  weights: Map<string, tf.Variable>,
  local: () => tf.Scalar,
  helpers: Array<GradWorker<P>>,
  parts: P[],
  shares: number[],
): Promise<{ loss: number; grads: tf.NamedTensorMap }> {
  const remote = helpers.map((h, k) => h.grads(parts[k]!, weights));
  const all = [partGrads(weights, local), ...(await Promise.all(remote))];
  const grads: tf.NamedTensorMap = {};
  if (all.length === 1) {
    for (const [k, g] of all[0]!.grads) grads[weights.get(k)!.name] = g;
    return { loss: all[0]!.loss, grads };
  }
  let loss = 0;
  all.forEach((p, i) => (loss += shares[i]! * p.loss));
  for (const k of all[0]!.grads.keys()) {
    grads[weights.get(k)!.name] = tf.tidy(() => all.map((p, i) => tf.mul(p.grads.get(k)!, shares[i]!)).reduce((sum, g) => tf.add(sum, g)));
  }
  tf.dispose(all.flatMap((p) => [...p.grads.values()]));
  return { loss, grads };
}

/**
 * The worker script's side: `setup` builds the replica from the init object and returns its
 * weights and, for a part, the loss closure; each request assigns the sent weights, computes
 * that part's gradients and moves them back.
 */
export function serveGrads<Init, P>(
  setup: (
    init: Init,
  ) =>
    | Promise<{ weights: Map<string, tf.Variable>; loss: (part: P) => () => tf.Scalar }>
    | { weights: Map<string, tf.Variable>; loss: (part: P) => () => tf.Scalar },
): Promise<void> {
  return serveRequests<Init, GradRequest<P>, GradReply>(async (init) => {
    const { weights, loss } = await setup(init);
    return (m) => {
      tf.tidy(() => {
        for (const [k, v] of weights) v.assign(tf.tensor(m.weights[k]!, v.shape, 'float32'));
      });
      const { loss: l, grads } = partGrads(weights, loss(m.part));
      const out: WireGrads = {};
      // copies, so the moved buffers are never a backend's own memory (the cpu backend hands out its arrays)
      for (const [k, g] of grads) out[k] = { shape: g.shape, data: new Float32Array(g.dataSync() as Float32Array) };
      tf.dispose([...grads.values()]);
      return new Transfer(
        { loss: l, grads: out },
        Object.values(out).map((g) => g.data.buffer as ArrayBuffer),
      );
    };
  });
}
