/**
 * Training checkpoints, shared by `pretrain` and `train-dist`: a folder with the run's
 * tensors in state.safetensors (weights under "w/", then whatever else the run keeps, e.g.
 * "ema/", and the optimizer's moments under "adam/") and its progress in state.json. The JSON
 * is written last, so a checkpoint whose JSON exists is complete.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readSafetensors, writeSafetensors, type Tensor } from '../io/safetensors.js';
import type { AdamW } from './adamw.js';

/** Every checkpoint's JSON has these; each trainer adds its own settings. */
export interface CheckpointProgress {
  format: string;
  version: number;
  step: number;
  steps: number;
  /** Loss of every step so far, for the loss curve. */
  losses: number[];
  seconds: number;
}

export const hasCheckpoint = (dir: string): boolean => fs.existsSync(path.join(dir, 'state.json'));

/** `groups`: prefix → tensors by key, e.g. {w: weights, ema: shadow}. The optimizer's state goes under "adam/". */
export function saveCheckpoint(dir: string, state: CheckpointProgress, groups: Record<string, Map<string, tf.Tensor>>, adam: AdamW): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, Tensor>();
  const put = (key: string, t: tf.Tensor) => tensors.set(key, { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array });
  for (const [prefix, group] of Object.entries(groups)) for (const [k, v] of group) put(`${prefix}/${k}`, v);
  for (const [k, v] of adam.state()) put(`adam/${k}`, v);
  writeSafetensors(path.join(dir, 'state.safetensors'), tensors);
  writeFileAtomic(path.join(dir, 'state.json'), JSON.stringify({ ...state, adam_steps: adam.stepCount }));
}

/**
 * Restores a checkpoint into existing variables (each group's keys must all be present, with
 * the same shapes) and the optimizer; returns the JSON. `settings` must match the saved ones,
 * so a resume cannot silently continue a different run.
 */
export function loadCheckpoint<S extends CheckpointProgress>(
  dir: string,
  format: string,
  groups: Record<string, Map<string, tf.Variable>>,
  adam: AdamW,
  settings: Partial<Record<keyof S, unknown>> = {},
): S {
  const file = path.join(dir, 'state.json');
  const state = JSON.parse(fs.readFileSync(file, 'utf8')) as S & { adam_steps: number };
  if (state.format !== format) throw new Dd3dError(`${file}: not a ${format}`);
  for (const [key, value] of Object.entries(settings)) {
    if (JSON.stringify(state[key as keyof S]) !== JSON.stringify(value)) {
      // a setting recorded only when it differs from its default reads as undefined
      const show = (v: unknown) => (v === undefined ? 'the default' : JSON.stringify(v));
      throw new Dd3dError(`--resume: the checkpoint in ${dir} was made with ${key} ${show(state[key as keyof S])}, this run asks for ${show(value)}`);
    }
  }
  const { tensors } = readSafetensors(path.join(dir, 'state.safetensors'));
  for (const [prefix, group] of Object.entries(groups)) {
    for (const [k, target] of group) {
      const key = `${prefix}/${k}`;
      const t = tensors.get(key);
      if (!t) throw new Dd3dError(`${dir}/state.safetensors: missing "${key}" (the checkpoint is from another configuration)`);
      if (t.shape.join() !== target.shape.join()) throw new Dd3dError(`${dir}/state.safetensors: "${key}" has shape [${t.shape}], this run needs [${target.shape}]`);
      target.assign(tf.tensor(t.data, t.shape, 'float32'));
    }
  }
  const adamState = new Map<string, tf.Tensor>();
  for (const [k, t] of tensors) if (k.startsWith('adam/')) adamState.set(k.slice(5), tf.tensor(t.data, t.shape, 'float32'));
  adam.loadState(adamState, state.adam_steps);
  tf.dispose([...adamState.values()]);
  return state;
}
