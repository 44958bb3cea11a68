/**
 * Chooses and starts the TensorFlow.js backend.
 *
 * `auto` prefers the native TensorFlow bindings (tfjs-node-gpu, then tfjs-node) when they
 * load; they are optional dependencies whose install needs a download these machines
 * cannot make, so usually they are absent and wasm (with our patched kernels) is used.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../errors.js';
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

let current: BackendInfo | undefined;

/** The backend chosen by the last `initBackend`, if any. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

async function useWasm(stock: boolean): Promise<string[]> {
  await import('@tensorflow/tfjs-backend-wasm');
  const patched = stock ? [] : patchWasmKernels();
  if (!(await tf.setBackend('wasm'))) throw new Dd3dError('backend: the wasm backend failed to initialize');
  return patched;
}

/**
 * Starts the requested backend. The choice comes from the argument, else env DD3D_BACKEND,
 * else `auto`. A backend that was asked for by name and cannot load is an error.
 */
export async function initBackend(choice?: BackendChoice, opts: { stockKernels?: boolean } = {}): Promise<BackendInfo> {
  const stock = Boolean(opts.stockKernels);
  const requested = choice ?? parseBackendChoice(process.env.DD3D_BACKEND, 'DD3D_BACKEND');
  // PROD silences tfjs's console adverts and debug checks; they are noise for a CLI.
  tf.env().set('PROD', true);
  let info: BackendInfo | undefined;
  switch (requested) {
    case 'cpu':
      await tf.setBackend('cpu');
      info = { requested, name: 'cpu', reason: 'requested (pure JavaScript, slow: for checking results)', patchedKernels: [] };
      break;
    case 'wasm':
      info = { requested, name: 'wasm', reason: 'requested', patchedKernels: await useWasm(stock) };
      break;
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
      info ??= {
        requested,
        name: 'wasm',
        reason: `auto: ${skipped.join('; ')}; using wasm (XNNPACK, single thread) with ${stock ? 'its stock' : 'patched'} kernels`,
        patchedKernels: await useWasm(stock),
      };
    }
  }
  await tf.ready();
  current = info;
  return info;
}
