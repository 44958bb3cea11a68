/**
 * Checkpoints have one commit point: state.safetensors carries the tensors and the progress
 * together, so a kill between writing it and its state.json copy cannot pair the tensors of
 * one step with the progress of another; stale temporary files of dead processes are removed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { AdamW } from '../../../src/train/adamw.js';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointProgress } from '../../../src/train/checkpoint.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-ckpt-'));
beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const FORMAT = 'test-checkpoint';
const progress = (step: number): CheckpointProgress => ({
  format: FORMAT,
  version: 1,
  step,
  steps: 10,
  losses: Array.from({ length: step }, (_, i) => i),
  seconds: step,
});

describe('checkpoints', () => {
  it('a kill between the commit and the state.json copy resumes the committed step, tensors and progress together', () => {
    const dir = path.join(tmp, 'torn');
    const w = new Map([['a', tf.variable(tf.tensor1d([1, 2, 3]))]]);
    const adam = new AdamW(w, { lr: 0.1 });
    saveCheckpoint(dir, progress(2), { w }, adam);
    const stale = fs.readFileSync(path.join(dir, 'state.json'));
    w.get('a')!.assign(tf.tensor1d([4, 5, 6]));
    saveCheckpoint(dir, progress(4), { w }, adam);
    // as if killed after the tensors' rename and before state.json's: the step-2 copy remains
    fs.writeFileSync(path.join(dir, 'state.json'), stale);
    w.get('a')!.assign(tf.tensor1d([0, 0, 0]));
    const state = loadCheckpoint<CheckpointProgress>(dir, FORMAT, { w }, adam);
    expect(state.step).toBe(4);
    expect(state.losses.length).toBe(4);
    expect(Array.from(w.get('a')!.dataSync())).toEqual([4, 5, 6]);
    // no tensors file: no checkpoint, whatever state.json says
    fs.rmSync(path.join(dir, 'state.safetensors'));
    expect(hasCheckpoint(dir)).toBe(false);
    adam.dispose();
    w.get('a')!.dispose();
  });

  it("removes temporary files a killed run left, keeps a live process's", () => {
    const dir = path.join(tmp, 'temps');
    fs.mkdirSync(dir, { recursive: true });
    const dead = path.join(dir, '.state.json.999999999.1.tmp');
    const live = path.join(dir, `.state.safetensors.${process.ppid}.1.tmp`);
    fs.writeFileSync(dead, 'x');
    fs.writeFileSync(live, 'x');
    const w = new Map([['a', tf.variable(tf.tensor1d([1]))]]);
    const adam = new AdamW(w, { lr: 0.1 });
    saveCheckpoint(dir, progress(1), { w }, adam);
    expect(fs.existsSync(dead)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([path.basename(live)]);
    adam.dispose();
    w.get('a')!.dispose();
  });
});
