/**
 * Training checkpoints, shared by `pretrain`, `train-dist` and `generate`: a folder whose
 * state.safetensors holds the run's tensors (weights under "w/", then whatever else the run
 * keeps, e.g. "ema/", and the optimizer's moments under "adam/") AND its progress, as JSON in
 * the file's metadata ("dd3d_checkpoint_state"). That one file, written to a temporary name
 * and renamed, is the checkpoint's single commit point: a kill at any moment leaves either
 * the previous checkpoint or the new one, never tensors of one step beside progress of
 * another. state.json beside it is a copy of the progress for people and scripts, written
 * after; loading never reads it (except from checkpoints written before the metadata, which
 * have nothing else).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Dd3dError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { pidAlive } from '../io/output-guard.js';
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

/** Metadata key of the progress JSON inside state.safetensors. */
const STATE_KEY = 'dd3d_checkpoint_state';

export const hasCheckpoint = (dir: string): boolean => fs.existsSync(path.join(dir, 'state.safetensors'));

/** Removes temporary files in `dir` that a killed process left (live processes' are kept). */
function removeStaleTemps(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    const m = /^\.state\.(json|safetensors)\.(\d+)\.\d+\.tmp$/.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    // this process's own are stale too: it calls this before it writes
    if (pid !== process.pid && pidAlive(pid)) continue;
    fs.rmSync(path.join(dir, name), { force: true });
  }
}

/** `groups`: prefix → tensors by key, e.g. {w: weights, ema: shadow}. The optimizer's state goes under "adam/". */
export function saveCheckpoint(dir: string, state: CheckpointProgress, groups: Record<string, Map<string, tf.Tensor>>, adam: AdamW): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, Tensor>();
  const put = (key: string, t: tf.Tensor) => tensors.set(key, { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array });
  for (const [prefix, group] of Object.entries(groups)) for (const [k, v] of group) put(`${prefix}/${k}`, v);
  for (const [k, v] of adam.state()) put(`adam/${k}`, v);
  const progress = JSON.stringify({ ...state, adam_steps: adam.stepCount });
  removeStaleTemps(dir);
  writeSafetensors(path.join(dir, 'state.safetensors'), tensors, { [STATE_KEY]: progress });
  writeFileAtomic(path.join(dir, 'state.json'), progress);
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
  const { tensors, metadata } = readSafetensors(path.join(dir, 'state.safetensors'));
  const legacy = !(STATE_KEY in metadata);
  const file = legacy ? path.join(dir, 'state.json') : path.join(dir, 'state.safetensors');
  let state: S & { adam_steps: number };
  try {
    state = JSON.parse(legacy ? fs.readFileSync(file, 'utf8') : metadata[STATE_KEY]!) as S & { adam_steps: number };
  } catch (e) {
    throw new Dd3dError(`${file}: the checkpoint's progress is unreadable (${(e as Error).message.split('\n')[0]}); start the run afresh without --resume`);
  }
  if (state.format !== format) throw new Dd3dError(`${file}: not a ${format}`);
  for (const [key, value] of Object.entries(settings)) {
    if (JSON.stringify(state[key as keyof S]) !== JSON.stringify(value)) {
      // a setting recorded only when it differs from its default reads as undefined
      const show = (v: unknown) => (v === undefined ? 'the default' : JSON.stringify(v));
      throw new Dd3dError(`--resume: the checkpoint in ${dir} was made with ${key} ${show(state[key as keyof S])}, this run asks for ${show(value)}`);
    }
  }
  for (const [prefix, group] of Object.entries(groups)) {
    for (const [k, target] of group) {
      const key = `${prefix}/${k}`;
      const t = tensors.get(key);
      if (!t) throw new Dd3dError(`${dir}/state.safetensors: missing "${key}" (the checkpoint is from another configuration)`);
      if (t.shape.join() !== target.shape.join())
        throw new Dd3dError(`${dir}/state.safetensors: "${key}" has shape [${t.shape}], this run needs [${target.shape}]`);
      target.assign(tf.tensor(t.data, t.shape, 'float32'));
    }
  }
  const adamState = new Map<string, tf.Tensor>();
  for (const [k, t] of tensors) if (k.startsWith('adam/')) adamState.set(k.slice(5), tf.tensor(t.data, t.shape, 'float32'));
  adam.loadState(adamState, state.adam_steps);
  tf.dispose([...adamState.values()]);
  return state;
}
