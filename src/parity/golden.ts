/**
 * A golden file from the reference implementations: float32 tensors in PyTorch layouts plus
 * JSON-encoded metadata. Missing entries are one-line errors naming the file and what kind
 * of golden file was expected.
 */
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { parsePythonJson } from '../io/json.js';
import { readSafetensors, type Tensor } from '../io/safetensors.js';

export class Golden {
  readonly tensors: Map<string, Tensor>;
  private readonly metadata: Record<string, string>;

  constructor(
    readonly file: string,
    /** What the file should be, for messages: "unet", "pipeline", … */
    private readonly kind: string,
  ) {
    ({ tensors: this.tensors, metadata: this.metadata } = readSafetensors(file));
  }

  /** A tensor the check needs. */
  need(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Dd3dError(`${this.file}: golden file has no tensor "${name}" (is it a ${this.kind} golden file?)`);
    return t;
  }

  /** A tensor the check uses when present (e.g. gradients in older golden files). */
  maybe(name: string): Tensor | undefined {
    return this.tensors.get(name);
  }

  /** A metadata value, decoded: they are stored JSON-encoded ("\"a red chair\"", "7.5"). */
  meta(key: string): unknown {
    const v = this.metadata[key];
    if (v === undefined) throw new Dd3dError(`${this.file}: golden metadata has no "${key}" (is it a ${this.kind} golden file?)`);
    return parsePythonJson(v);
  }
}

/** NCHW golden data as an NHWC tensor. */
export const nchwToNhwc = (t: Tensor): tf.Tensor4D => tf.tensor(t.data, t.shape, 'float32').transpose([0, 2, 3, 1]) as tf.Tensor4D;

/** Our NHWC tensor's values in the golden NCHW order. */
export const nhwcToNchwData = (t: tf.Tensor): Float32Array => t.transpose([0, 3, 1, 2]).dataSync() as Float32Array;
