import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { initBackend, parseBackendChoice } from '../../../src/backend/backend.js';

describe('backend selection', () => {
  const saved = process.env.DD3D_BACKEND;
  afterEach(() => {
    if (saved === undefined) delete process.env.DD3D_BACKEND;
    else process.env.DD3D_BACKEND = saved;
  });

  it('reads DD3D_BACKEND when no choice is passed', async () => {
    process.env.DD3D_BACKEND = 'cpu';
    const info = await initBackend();
    expect(info.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(info.patchedKernels).toEqual([]);
  });

  it('auto tries tfjs-node-gpu, then tfjs-node, then falls back to patched wasm, saying why', async () => {
    delete process.env.DD3D_BACKEND;
    const info = await initBackend();
    expect(info.requested).toBe('auto');
    if (info.name === 'wasm') {
      expect(info.reason).toMatch(/@tensorflow\/tfjs-node-gpu .*; @tensorflow\/tfjs-node .*; using wasm/);
      expect(info.patchedKernels).toContain('Conv2DBackpropFilter');
    } else {
      expect(info.name).toBe('tensorflow');
      expect(info.reason).toMatch(/auto: @tensorflow\/tfjs-node(-gpu)? loaded/);
    }
    expect(tf.getBackend()).toBe(info.name);
  });

  it('rejects an unknown name, naming where it came from', () => {
    expect(() => parseBackendChoice('gpu', '--backend')).toThrow(
      '--backend: unknown backend "gpu" (expected one of auto, wasm, cpu, tensorflow, tensorflow-gpu)',
    );
    expect(parseBackendChoice(undefined, 'DD3D_BACKEND')).toBe('auto');
    expect(parseBackendChoice(' wasm ', 'DD3D_BACKEND')).toBe('wasm');
  });
});
