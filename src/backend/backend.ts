/**
 * Chooses and starts the TensorFlow.js backend.
 *
 * `auto` prefers the native TensorFlow bindings (tfjs-node-gpu, then tfjs-node) when they
 * load; they are optional dependencies whose install needs a download these machines
 * cannot make, so usually they are absent and wasm (with our patched kernels) is used.
 *
 * The wasm backend can run XNNPACK on several threads inside this one process (see
 * `parseWasmThreads`): env DD3D_WASM_THREADS or the `wasmThreads` option. Default 1.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { registerFusedKernels } from './fused-kernels.js';
import { patchNativeKernels } from './native-kernels.js';
import { patchWasmKernels } from './wasm-kernels.js';

export const BACKEND_CHOICES = ['auto', 'wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  requested: BackendChoice;
  /** The tfjs backend name in use: wasm, cpu or tensorflow. */
  name: string;
  /** Why this backend was chosen, including why better ones were passed over. */
  reason: string;
  /** Kernels dd3d replaced on this backend. */
  patchedKernels: string[];
  /** wasm only: threads in XNNPACK's pool (1: tfjs's stock single-threaded SIMD build). */
  wasmThreads?: number;
}

const require = createRequire(import.meta.url);

/** Tries to load a native binding package; returns why it failed, or null on success. */
function tryLoad(pkg: string): string | null {
  try {
    require(pkg);
    return null;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(pkg)) return `${pkg} is not installed`;
    return `${pkg} failed to load: ${String(err.message).split('\n')[0]}`;
  }
}

export function parseBackendChoice(value: string | undefined, source: string): BackendChoice {
  const v = (value ?? 'auto').trim() || 'auto';
  if (!(BACKEND_CHOICES as readonly string[]).includes(v)) {
    throw new Dd3dError(`${source}: unknown backend "${v}" (expected one of ${BACKEND_CHOICES.join(', ')})`);
  }
  return v as BackendChoice;
}

/** XNNPACK's pool cannot exceed the 8 pthread workers the threaded build pre-spawns. */
export const MAX_WASM_THREADS = 8;

/**
 * Parses a wasm thread count: a whole number 1..8, or `auto` (one per core, at most 8).
 * Unset or empty means 1.
 *
 * Why 1 is the default (2 cores, measured back to back): 2 threads make one big op 1.8x
 * faster (4096x256 · 256x256 matmul 21 -> 12 ms, 16x32x32x64 * 3x3x64x64 conv 41 -> 23 ms,
 * results bitwise equal), but dd3d's own workloads are many small ops, where the threads'
 * hand-offs cost what they save: test-fixture UNet passes from 15% faster to 50% slower
 * (small batches lose), score distillation 7% slower per iteration, and a tiny32 pretrain
 * step 4240 -> 3990 ms against 2690 ms with the data-parallel grad worker (3870 ms with
 * both, oversubscribed). The threaded build
 * also costs ~150 ms to start and ~80 MB (8 pthread workers). Use it to try a process that
 * has the machine to itself and runs large convolutions or matmuls.
 */
export function parseWasmThreads(value: string | undefined, source: string): number {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '') return 1;
  if (v === 'auto') return Math.max(1, Math.min(MAX_WASM_THREADS, os.availableParallelism()));
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    throw new Dd3dError(`${source}: bad wasm thread count "${value}" (expected 1..${MAX_WASM_THREADS} or auto)`);
  }
  return n;
}

/*
 * Threaded wasm in Node. tfjs-backend-wasm ships a threaded SIMD build (Emscripten pthreads,
 * one node:worker_threads Worker per pthread, memory in a SharedArrayBuffer) but never uses
 * it in Node: its WASM_HAS_MULTITHREAD_SUPPORT flag returns false when IS_NODE
 * (tensorflow/tfjs#3830), and its loader hands Emscripten a Blob URL for the pthread worker
 * script and a Blob for the main script, neither of which node:worker_threads can load.
 * So we start that build ourselves and register it under the name `wasm`, so that every
 * wasm kernel (the stock ones and ours from wasm-kernels.ts) applies unchanged:
 *  - the pthread worker script (exported as a string) is written to a file in the temp dir;
 *  - `mainScriptUrlOrBlob` is the path of the Emscripten JS, which each worker evaluates;
 *  - backend.cc caps the pool at emscripten_num_logical_cores() / 2, which Node answers
 *    with os.cpus().length (1 thread on a 2-core machine), so that import is overridden;
 *  - Emscripten ref()s the Worker of every running pthread, which would keep the process
 *    alive after the CLI is done; XNNPACK's threads only ever wait for work, so unref them.
 */
/** The parts of the Emscripten module object used here. */
interface ThreadedWasmModule {
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: number[]) => unknown;
  PThread: { runningWorkers: Array<{ unref(): void }> };
  tfjs?: Record<string, unknown>;
}
/** The global WebAssembly API (tsconfig's lib has no types for it). */
const webAssembly = (
  globalThis as unknown as {
    WebAssembly: { instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: unknown; module: unknown }> };
  }
).WebAssembly;
const WASM_PRIORITY = 2; // as tfjs-backend-wasm registers it
let stockWasmFactory: (() => tf.KernelBackend | Promise<tf.KernelBackend>) | undefined;
let registeredWasmThreads = 1;
let threadedWasmError: unknown;

function pthreadWorkerScript(outDir: string, version: string): string {
  const { wasmWorkerContents } = require(path.join(outDir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  // The string holds JS source whose string literals contain "\n" escapes that became real
  // newlines; tfjs's own loader escapes them back the same way.
  const text = wasmWorkerContents.replace(/\n/g, '\\n');
  const file = path.join(os.tmpdir(), `dd3d-tfjs-wasm-${version}-pthread-worker.cjs`);
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  }
  return file;
}

async function threadedWasmBackend(threads: number): Promise<tf.KernelBackend> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const mainScript = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const outDir = path.dirname(mainScript);
  const workerScript = pthreadWorkerScript(outDir, wasm.version_wasm);
  const binary = fs.readFileSync(path.join(outDir, 'tfjs-backend-wasm-threaded-simd.wasm'));
  const factory = require(mainScript) as (config: object) => Promise<ThreadedWasmModule>;
  const hadWorkerGlobal = 'Worker' in globalThis;
  const mod = await new Promise<ThreadedWasmModule>((resolve, reject) => {
    factory({
      locateFile: (file: string, prefix: string) =>
        file.endsWith('.worker.js') ? workerScript : file.endsWith('.wasm') ? path.join(outDir, file) : prefix + file,
      mainScriptUrlOrBlob: mainScript,
      instantiateWasm: (imports: { env: Record<string, unknown> }, receive: (instance: unknown, module: unknown) => void) => {
        imports.env.emscripten_num_logical_cores = () => 2 * threads;
        webAssembly.instantiate(binary, imports).then((r) => receive(r.instance, r.module), reject);
        return {};
      },
      onAbort: (what: unknown) => reject(new Error(`threaded wasm aborted: ${String(what)}`)),
    }).then(resolve, reject);
  });
  // Emscripten sets globalThis.Worker for its own use (all 8 workers exist by now); do not
  // leave a browser-looking global behind for other libraries' environment checks.
  if (!hadWorkerGlobal) delete (globalThis as { Worker?: unknown }).Worker;
  mod.tfjs = {
    init: mod.cwrap('init', null, []),
    initWithThreadsCount: mod.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: mod.cwrap('get_threads_count', 'number', []),
    registerTensor: mod.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: mod.cwrap('dispose_data', null, ['number']),
    dispose: mod.cwrap('dispose', null, []),
  };
  wasm.setThreadsCount(threads);
  const backend = new wasm.BackendWasm(mod as unknown as ConstructorParameters<typeof wasm.BackendWasm>[0]); // starts XNNPACK's pool
  wasm.setThreadsCount(-1);
  for (const w of mod.PThread.runningWorkers) w.unref();
  return backend;
}

/** Makes the `wasm` backend name start the build for `threads` (re-creating it if it changed). */
function registerWasm(threads: number): void {
  if (threads === registeredWasmThreads) return;
  stockWasmFactory ??= tf.findBackendFactory('wasm');
  tf.removeBackend('wasm'); // disposes a started instance (and its threads) with its kernels' state
  const threaded = () =>
    threadedWasmBackend(threads).catch((e: unknown) => {
      threadedWasmError = e; // tfjs swallows factory errors (its warning is silenced by PROD)
      throw e;
    });
  tf.registerBackend('wasm', threads > 1 ? threaded : stockWasmFactory, WASM_PRIORITY);
  registeredWasmThreads = threads;
}

let current: BackendInfo | undefined;

const threadsText = (n: number) => (n > 1 ? `${n} threads` : 'single thread');

/** The backend chosen by the last `initBackend`, if any. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

/** The wasm backend; with dd3d's kernels unless `stock`, and the native ones (native-kernels.ts) over them when available. */
async function useWasm(stock: boolean, threads: number): Promise<{ patchedKernels: string[]; wasmThreads: number; native: string }> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  registerWasm(threads);
  const patchedKernels = stock ? [] : patchWasmKernels();
  const native = stock ? undefined : patchNativeKernels();
  if (threads > 1) {
    threadedWasmError = undefined;
    if (!(await tf.setBackend('wasm'))) {
      const why = threadedWasmError instanceof Error ? threadedWasmError.message : String(threadedWasmError);
      throw new Dd3dError(`backend: the threaded wasm backend (${threads} threads) failed to initialize: ${why} (set DD3D_WASM_THREADS=1)`);
    }
  } else if (!(await tf.setBackend('wasm'))) throw new Dd3dError('backend: the wasm backend failed to initialize');
  return { patchedKernels, wasmThreads: wasm.getThreadsCount(), native: native ? `; ${native.reason}` : '' };
}

/**
 * Starts the requested backend. The choice comes from the argument, else env DD3D_BACKEND,
 * else `auto`. A backend that was asked for by name and cannot load is an error.
 *
 * `wasmThreads` (wasm only) comes from the option, else env DD3D_WASM_THREADS on the main
 * thread, else 1. Worker threads ignore the env var: dd3d's workers are data-parallel
 * replicas that already use the other cores.
 */
export async function initBackend(choice?: BackendChoice, opts: { stockKernels?: boolean; wasmThreads?: number } = {}): Promise<BackendInfo> {
  const stock = Boolean(opts.stockKernels);
  const requested = choice ?? parseBackendChoice(process.env.DD3D_BACKEND, 'DD3D_BACKEND');
  const threads =
    opts.wasmThreads !== undefined
      ? parseWasmThreads(String(opts.wasmThreads), 'wasmThreads')
      : isMainThread
        ? parseWasmThreads(process.env.DD3D_WASM_THREADS, 'DD3D_WASM_THREADS')
        : 1;
  // PROD silences tfjs's console adverts and debug checks; they are noise for a CLI.
  tf.env().set('PROD', true);
  let info: BackendInfo | undefined;
  switch (requested) {
    case 'cpu':
      registerFusedKernels();
      await tf.setBackend('cpu');
      info = { requested, name: 'cpu', reason: 'requested (pure JavaScript, slow: for checking results)', patchedKernels: [] };
      break;
    case 'wasm': {
      const { native, ...w } = await useWasm(stock, threads);
      info = { requested, name: 'wasm', reason: `requested (XNNPACK, ${threadsText(w.wasmThreads)})${native}`, ...w };
      break;
    }
    case 'tensorflow':
    case 'tensorflow-gpu': {
      const pkg = requested === 'tensorflow' ? '@tensorflow/tfjs-node' : '@tensorflow/tfjs-node-gpu';
      const failure = tryLoad(pkg);
      if (failure) throw new Dd3dError(`--backend ${requested}: ${failure} (use --backend wasm, or install ${pkg})`);
      await tf.setBackend('tensorflow');
      info = { requested, name: 'tensorflow', reason: `requested; ${pkg} loaded`, patchedKernels: [] };
      break;
    }
    default: {
      const skipped: string[] = [];
      for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
        const failure = tryLoad(pkg);
        if (!failure && (await tf.setBackend('tensorflow'))) {
          info = { requested, name: 'tensorflow', reason: `auto: ${pkg} loaded`, patchedKernels: [] };
          break;
        }
        skipped.push(failure ?? `${pkg} loaded but its backend did not start`);
      }
      if (!info) {
        const { native, ...w } = await useWasm(stock, threads);
        info = {
          requested,
          name: 'wasm',
          reason: `auto: ${skipped.join('; ')}; using wasm (XNNPACK, ${threadsText(w.wasmThreads)}) with ${stock ? 'its stock' : 'patched'} kernels${native}`,
          ...w,
        };
      }
    }
  }
  await tf.ready();
  current = info;
  return info;
}
