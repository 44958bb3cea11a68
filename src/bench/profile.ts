/**
 * `npm run bench -- profile`: where one UNet forward+backward spends its time, per kernel and
 * per model op, on the active backend (the peer section's pretrain case by default: the tiny32
 * UNet at batch 16, gradients to every weight).
 *
 * Instrumentation, all removed afterwards:
 * - every registered kernel's `kernelFunc` is wrapped with a timer: the kernel's own time
 *   (kernels called from inside a patched kernel count towards it);
 * - the engine's `runKernelFunc` is wrapped: its time less the kernels and nested ops inside it
 *   is dispatch (tensor bookkeeping, saving tensors for the backward pass, custom-op glue);
 * - the model op that issued each kernel is read off the JS stack in the forward pass (the
 *   innermost named functions under dist/src/models/); the backward pass is attributed to the
 *   forward op whose tape node is being differentiated, and anything else in the backward pass
 *   (tfjs adding up the gradients of tensors used more than once) to "gradient accumulation".
 * The cost of the instrumentation itself is measured and left out. Numbers only, never asserted.
 */
import * as tf from '@tensorflow/tfjs';
import { fmt, formatTable } from '../core/table.js';

/** What one profiled run found: totals and one record per (phase, site, kernel). */
export interface KernelProfileReport {
  wallMs: number;
  /** The instrumentation's own cost, included in wallMs. */
  instrMs: number;
  uninstrumentedMs: number;
  kernelMs: number;
  dispatchMs: number;
  rows: ProfileRow[];
}

export interface ProfileRow {
  phase: 'forward' | 'backward';
  /** "Block.method › fn › fn": the model code that issued the kernel (for backward: the forward op being differentiated). */
  site: string;
  /** The innermost named model function (groupNorm, conv2d, multiHeadAttention, …) or the block method itself. */
  op: string;
  /** The Block.method the op sits in. */
  block: string;
  kernel: string;
  calls: number;
  kernelMs: number;
  dispatchMs: number;
  /** The shape of the largest first input seen. */
  shape: string;
  largest: number;
}

type Frame = { start: number; childMs: number; instrMs: number; kernelMs: number; site: Site };
type Site = { site: string; op: string; block: string };

const UNKNOWN: Site = { site: '(outside the model)', op: '(outside the model)', block: '(outside the model)' };
const ACCUMULATE: Site = { site: '(tape) gradient accumulation', op: 'gradient accumulation', block: '(tape)' };
/** Stack frames that name a helper rather than a model op. */
const SKIP_NAMES = /^(Object\.)?(gradFunc|forwardFunc|op|value|<anonymous>)$|^Array\.|^Map\.|^new /;

const wallClock = () => performance.now();
/** The process's CPU time (user + system, every thread), ms: on a machine shared with another job, wall time mostly measures the scheduler. */
const cpuClock = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
let now = wallClock;
/** Files whose functions name the sites (the model code by default). */
let siteFiles = /[\\/]src[\\/]models[\\/]/;

export interface ProfileOptions {
  /** 'wall' (default) or 'cpu': which clock every time is read from. */
  clock?: 'wall' | 'cpu';
  /** Files whose named functions are the sites; default src/models/. */
  sites?: RegExp;
}

/** The model code on the current stack, innermost named frames first: Block.method › fn › fn. */
function siteFromStack(): Site {
  const stack = new Error().stack ?? '';
  const names: string[] = [];
  let block = '';
  for (const line of stack.split('\n').slice(1)) {
    const m = /^\s*at (?:async )?(.+?) \((.+?):\d+:\d+\)$/.exec(line);
    if (!m) continue;
    const [, name, file] = m;
    // This file's own frames (the wrapper of a custom op's dispatch) sit inside the model's: skip them.
    if (/[\\/]bench[\\/]profile\.[jt]s$/.test(file!)) continue;
    if (/[\\/]bench[\\/]/.test(file!)) break;
    if (!siteFiles.test(file!) || SKIP_NAMES.test(name!)) continue;
    if (/^[A-Z]\w*\.\w+$/.test(name!)) {
      block = name!;
      break;
    }
    names.push(name!);
  }
  if (!block && names.length === 0) return UNKNOWN;
  const inner = names.slice(0, 3).reverse();
  const op = names[names.length - 1] ?? block;
  return { site: [block || '?', ...inner].join(' › '), op: names.length ? op : `${block} (own ops)`, block: block || '?' };
}

/**
 * Profiles `f` (one forward+backward) once with the instrumentation, after `warmups` plain
 * calls; `uninstrumentedMs` is the median wall time of 3 plain calls.
 */
export function profileKernels(f: () => void, warmups = 2, opts: ProfileOptions = {}): KernelProfileReport {
  now = opts.clock === 'cpu' ? cpuClock : wallClock;
  siteFiles = opts.sites ?? /[\\/]src[\\/]models[\\/]/;
  for (let i = 0; i < warmups; i++) f();
  const plain: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = now();
    f();
    plain.push(now() - t0);
  }
  plain.sort((a, b) => a - b);

  const engine = tf.engine() as unknown as {
    runKernelFunc: (p: Record<string, unknown>) => unknown;
    addTapeNode: (...args: unknown[]) => void;
    state: { activeTape: Array<{ gradient?: (dys: tf.Tensor[]) => Record<string, () => tf.Tensor>; __site?: Site; kernelName: string }> | null };
    backendName: string;
  };
  const records = new Map<string, ProfileRow>();
  const stack: Frame[] = [];
  let backwardSite: Site | null = null;
  let inBackward = false;
  let kernelDepth = 0;
  let kernelMs = 0;
  let dispatchMs = 0;

  const record = (phase: ProfileRow['phase'], site: Site, kernel: string, k: number, d: number, inputs: unknown) => {
    const key = `${phase}|${site.site}|${kernel}`;
    let r = records.get(key);
    if (!r) {
      r = { phase, site: site.site, op: site.op, block: site.block, kernel, calls: 0, kernelMs: 0, dispatchMs: 0, shape: '', largest: -1 };
      records.set(key, r);
    }
    r.calls++;
    r.kernelMs += k;
    r.dispatchMs += d;
    const first = inputs && typeof inputs === 'object' ? (Object.values(inputs as Record<string, { shape?: number[] }>)[0] ?? null) : null;
    const shape = first?.shape;
    if (shape) {
      const size = shape.reduce((a, b) => a * b, 1);
      if (size > r.largest) {
        r.largest = size;
        r.shape = shape.join('x');
      }
    }
  };

  // 1. Kernel implementations: their own time.
  const wrapped: Array<{ config: tf.KernelConfig; original: tf.KernelFunc }> = [];
  for (const config of tf.getKernelsForBackend(engine.backendName)) {
    const original = config.kernelFunc;
    config.kernelFunc = ((args: Parameters<tf.KernelFunc>[0]) => {
      if (kernelDepth > 0) return original(args);
      kernelDepth++;
      const t0 = now();
      try {
        return original(args);
      } finally {
        const ms = now() - t0;
        kernelDepth--;
        const top = stack[stack.length - 1];
        if (top) top.kernelMs += ms;
      }
    }) as tf.KernelFunc;
    wrapped.push({ config, original });
  }

  // 2. Engine dispatch, and the model site of every op.
  const runKernelFunc = engine.runKernelFunc;
  const addTapeNode = engine.addTapeNode;
  let instrMs = 0;
  engine.runKernelFunc = function (params: Record<string, unknown>) {
    const i0 = now();
    const site = inBackward ? (backwardSite ?? ACCUMULATE) : siteFromStack();
    const frame: Frame = { start: now(), childMs: 0, instrMs: 0, kernelMs: 0, site };
    frame.instrMs += frame.start - i0;
    stack.push(frame);
    try {
      return runKernelFunc.call(this, params);
    } finally {
      const end = now();
      stack.pop();
      const d = Math.max(0, end - frame.start - frame.childMs - frame.instrMs - frame.kernelMs);
      const name = typeof params.kernelName === 'string' ? params.kernelName : 'customOp (glue)';
      record(inBackward ? 'backward' : 'forward', site, name, frame.kernelMs, d, params.inputs);
      kernelMs += frame.kernelMs;
      dispatchMs += d;
      const parent = stack[stack.length - 1];
      // The parent's child time is everything this call cost it, instrumentation included.
      const done = now();
      instrMs += frame.start - i0 + (done - end);
      if (parent) parent.childMs += done - i0;
    }
  };
  engine.addTapeNode = function (...args: unknown[]) {
    addTapeNode.apply(this, args);
    const t0 = now();
    const tape = engine.state.activeTape;
    const node = tape?.[tape.length - 1];
    const top = stack[stack.length - 1];
    if (node && node.gradient && !node.__site) {
      const site = top?.site ?? siteFromStack();
      const gradient = node.gradient;
      node.__site = site;
      node.gradient = (dys: tf.Tensor[]) => {
        const outer = backwardSite;
        backwardSite = site;
        try {
          const map = gradient(dys);
          const out: Record<string, () => tf.Tensor> = {};
          for (const [k, thunk] of Object.entries(map)) {
            out[k] = () => {
              const o = backwardSite;
              backwardSite = site;
              try {
                return thunk();
              } finally {
                backwardSite = o;
              }
            };
          }
          return out;
        } finally {
          backwardSite = outer;
        }
      };
    }
    const ms = now() - t0;
    instrMs += ms;
    if (top) top.instrMs += ms;
  };

  let wallMs = 0;
  const stackLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 200;
  try {
    const t0 = now();
    withBackwardSwitch(
      engine,
      () => f(),
      (v) => (inBackward = v),
    );
    wallMs = now() - t0;
  } finally {
    Error.stackTraceLimit = stackLimit;
    restore(engine, 'runKernelFunc', runKernelFunc);
    restore(engine, 'addTapeNode', addTapeNode);
    for (const { config, original } of wrapped) config.kernelFunc = original;
  }
  return { wallMs, instrMs, uninstrumentedMs: plain[1]!, kernelMs, dispatchMs, rows: [...records.values()] };
}

/**
 * Runs f with `set(true)` from the moment the engine starts its backward pass (tfjs runs it in a
 * scope named "backward") until it ends.
 */
function withBackwardSwitch(engine: unknown, f: () => void, set: (v: boolean) => void): void {
  const e = engine as { startScope: (name?: string) => void; endScope: (r?: unknown) => void };
  const [start, end] = [e.startScope, e.endScope];
  const names: string[] = [];
  e.startScope = function (name?: string) {
    names.push(name ?? '');
    if (name === 'backward') set(true);
    start.call(this, name);
  };
  e.endScope = function (r?: unknown) {
    const name = names.pop();
    end.call(this, r);
    if (name === 'backward') set(names.includes('backward'));
  };
  try {
    f();
  } finally {
    restore(e, 'startScope', start);
    restore(e, 'endScope', end);
    set(false);
  }
}

/** Undoes an instance-level override: drops the own property when the original came from the prototype. */
function restore(obj: object, key: string, original: unknown): void {
  const proto = Object.getPrototypeOf(obj) as Record<string, unknown> | null;
  if (proto && proto[key] === original) delete (obj as Record<string, unknown>)[key];
  else (obj as Record<string, unknown>)[key] = original;
}

const pct = (x: number, total: number) => `${((100 * x) / total).toFixed(1)}%`;

function groupBy(rows: ProfileRow[], key: (r: ProfileRow) => string) {
  const out = new Map<string, { calls: number; kernelMs: number; dispatchMs: number; fwd: number; bwd: number; kernels: Map<string, number> }>();
  for (const r of rows) {
    const k = key(r);
    const g = out.get(k) ?? { calls: 0, kernelMs: 0, dispatchMs: 0, fwd: 0, bwd: 0, kernels: new Map() };
    g.calls += r.calls;
    g.kernelMs += r.kernelMs;
    g.dispatchMs += r.dispatchMs;
    if (r.phase === 'forward') g.fwd += r.kernelMs + r.dispatchMs;
    else g.bwd += r.kernelMs + r.dispatchMs;
    g.kernels.set(r.kernel, (g.kernels.get(r.kernel) ?? 0) + r.kernelMs + r.dispatchMs);
    out.set(k, g);
  }
  return [...out].sort((a, b) => b[1].kernelMs + b[1].dispatchMs - (a[1].kernelMs + a[1].dispatchMs));
}

/** Prints the report as tables: totals, by kernel, by model op, and the top (phase, site, kernel) rows. */
export function printKernelProfile(title: string, p: KernelProfileReport, top = 30): void {
  const total = p.kernelMs + p.dispatchMs;
  const outside = Math.max(0, p.wallMs - p.instrMs - total);
  console.log(title);
  console.log(
    formatTable(
      ['uninstrumented ms', 'instrumented ms', 'instrumentation ms', 'kernels ms', 'dispatch ms', 'rest ms (JS, tape, dispose)', 'op calls'],
      [[fmt(p.uninstrumentedMs), fmt(p.wallMs), fmt(p.instrMs), fmt(p.kernelMs), fmt(p.dispatchMs), fmt(outside), p.rows.reduce((a, r) => a + r.calls, 0)]],
    ),
  );
  console.log();
  console.log('By kernel (ms = kernel + dispatch; % of kernel + dispatch)');
  console.log(
    formatTable(
      ['kernel', 'calls', 'kernel ms', 'dispatch ms', 'ms', '%', 'fwd ms', 'bwd ms'],
      groupBy(p.rows, (r) => r.kernel).map(([k, g]) => [
        k,
        g.calls,
        fmt(g.kernelMs),
        fmt(g.dispatchMs),
        fmt(g.kernelMs + g.dispatchMs),
        pct(g.kernelMs + g.dispatchMs, total),
        fmt(g.fwd),
        fmt(g.bwd),
      ]),
    ),
  );
  console.log();
  console.log('By model op (the innermost named model function; backward attributed to the op it differentiates)');
  console.log(
    formatTable(
      ['op', 'calls', 'ms', '%', 'fwd ms', 'bwd ms', 'top kernels'],
      groupBy(p.rows, (r) => r.op).map(([k, g]) => [
        k,
        g.calls,
        fmt(g.kernelMs + g.dispatchMs),
        pct(g.kernelMs + g.dispatchMs, total),
        fmt(g.fwd),
        fmt(g.bwd),
        [...g.kernels]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 4)
          .map(([n, ms]) => `${n} ${fmt(ms)}`)
          .join(', '),
      ]),
    ),
  );
  console.log();
  console.log(`Top ${top} (phase, site, kernel)`);
  const rows = [...p.rows].sort((a, b) => b.kernelMs + b.dispatchMs - (a.kernelMs + a.dispatchMs)).slice(0, top);
  console.log(
    formatTable(
      ['phase', 'site', 'kernel', 'calls', 'ms', '%', 'largest input'],
      rows.map((r) => [r.phase, r.site, r.kernel, r.calls, fmt(r.kernelMs + r.dispatchMs), pct(r.kernelMs + r.dispatchMs, total), r.shape]),
    ),
  );
  console.log();
}
