/**
 * Keeps the weights of a model's blocks outside the wasm heap between uses. tfjs-wasm's heap
 * stops at 4 GB and Stable Diffusion's UNet alone is 3.2 GB in float32, leaving too little
 * for a 64×64 forward pass. Weights of a block are parked on the cpu backend (plain JS
 * memory); the first kernel that reads one moves it back into the heap (tfjs does this on
 * access), and `park` moves the block's weights out again once it has run. Copying 3.2 GB in
 * and out costs about a second per UNet call, against about a minute of arithmetic.
 */
import * as tf from '@tensorflow/tfjs';
import type { Params } from './nn.js';

/** Models whose weights pass this many bytes are offloaded on the wasm backend. */
export const OFFLOAD_BYTES = 1.5 * 2 ** 30;

export class WeightOffload {
  private readonly groups = new Map<string, tf.Tensor[]>();
  private readonly cpu: tf.KernelBackend;

  /** Groups the parameters under each block prefix ("down_blocks.0", "mid_block", …) and parks them all. */
  constructor(params: Params, prefixes: string[]) {
    const cpu = tf.findBackend('cpu');
    if (!cpu) throw new Error('weight offload needs the cpu backend');
    this.cpu = cpu;
    for (const prefix of prefixes) {
      this.groups.set(prefix, [...params.tensors].filter(([k]) => k.startsWith(`${prefix}.`)).map(([, t]) => t));
    }
    for (const prefix of prefixes) this.park(prefix);
  }

  /** Whether a parameter set is big enough to need offloading on the current backend. */
  static wanted(params: Params): boolean {
    let bytes = 0;
    for (const t of params.tensors.values()) bytes += t.size * 4;
    return tf.getBackend() === 'wasm' && bytes > OFFLOAD_BYTES;
  }

  /** Moves a block's weights out of the heap (those already out stay where they are). */
  park(prefix: string): void {
    const engine = tf.engine();
    for (const t of this.groups.get(prefix) ?? []) {
      if (t.isDisposed) continue;
      const info = (engine.state as unknown as { tensorInfo: WeakMap<object, { backend: tf.KernelBackend }> }).tensorInfo.get(t.dataId);
      if (info && info.backend !== this.cpu) engine.moveData(this.cpu, t.dataId);
    }
  }
}
