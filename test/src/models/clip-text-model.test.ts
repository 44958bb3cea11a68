import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { openModelFolder, getComponent } from '../../../src/io/diffusers.js';
import { clipTextParamShapes, poolIndex } from '../../../src/models/clip-text-model.js';
import { clipTextConfig, loadClipTextModel } from '../../../src/models/load.js';
import { textEncoderParity } from '../../../src/parity/text-encoder.js';
import { readSafetensors, writeSafetensors } from '../../../src/io/safetensors.js';

const fixtures = path.join(__dirname, '../..', 'fixtures');

beforeAll(async () => {
  await initBackend('wasm');
});

describe('CLIPTextModel matches transformers', () => {
  for (const model of ['sd1-tiny', 'sd2-tiny']) {
    it(`${model}: last_hidden_state, pooler_output and grad_token_embeddings within tolerance`, () => {
      const r = textEncoderParity(path.join(fixtures, model), path.join(fixtures, model, 'golden', 'text_encoder.safetensors'));
      expect(r.results.map((x) => x.name)).toEqual(['last_hidden_state', 'pooler_output', 'grad_token_embeddings']);
      for (const x of r.results) expect(x.ratio, x.name).toBeLessThanOrEqual(1);
      expect(r.ok).toBe(true);
    });
  }

  it('the parity check fails when a reference output is off by 3 tolerances', () => {
    const golden = readSafetensors(path.join(fixtures, 'sd1-tiny', 'golden', 'text_encoder.safetensors'));
    const pooled = golden.tensors.get('pooler_output')!;
    const data = Float32Array.from(pooled.data);
    data[5] += 3e-4 * Math.max(1, ...Array.from(data, Math.abs));
    golden.tensors.set('pooler_output', { ...pooled, data });
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-golden-')), 'text_encoder.safetensors');
    writeSafetensors(file, golden.tensors, golden.metadata);
    const r = textEncoderParity(path.join(fixtures, 'sd1-tiny'), file);
    expect(r.ok).toBe(false);
    expect(r.results.filter((x) => !x.ok).map((x) => x.name)).toEqual(['pooler_output']);
    expect(r.results.find((x) => x.name === 'pooler_output')!.ratio).toBeGreaterThan(2.5);
  });

  it('knows every checkpoint key and shape of the fixture encoders', () => {
    const c = getComponent(openModelFolder(path.join(fixtures, 'sd2-tiny')), 'text_encoder');
    const model = loadClipTextModel(path.join(fixtures, 'sd2-tiny'));
    const shapes = clipTextParamShapes(clipTextConfig(c));
    expect([...shapes.keys()].sort()).toEqual([...model.params.tensors.keys()].sort());
    for (const [k, s] of shapes) expect(model.params.get(k).shape, k).toEqual(s);
    model.dispose();
  });

  it('pools at the first EOS, or at the largest id for legacy configs with eos_token_id 2', () => {
    expect(poolIndex([49406, 320, 49407, 49407], 49407)).toBe(2);
    expect(poolIndex([49406, 320, 49407, 0, 0], 2)).toBe(2);
    expect(poolIndex([49406, 320], 49407)).toBe(0);
  });

  it('does not leak tensors across forward and backward passes', () => {
    const model = loadClipTextModel(path.join(fixtures, 'sd1-tiny'));
    const ids = [[49406, 320, 1125, 539, 320, 4269, 49407, ...Array(70).fill(49407)]];
    const step = () => {
      const out = model.forward(ids);
      tf.dispose([out.lastHiddenState, out.pooled]);
      const g = tf.tidy(() => tf.grad((e: tf.Tensor) => model.forwardEmbeddings(e as tf.Tensor3D, [6]).lastHiddenState.sum())(model.embedTokens(ids)));
      g.dispose();
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('refuses an activation it does not implement, naming the key', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-te-'));
    const src = path.join(fixtures, 'sd1-tiny', 'text_encoder');
    const config = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, hidden_act: 'relu' }));
    fs.symlinkSync(path.join(src, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    expect(() => loadClipTextModel(dir)).toThrow(/config\.json: key "hidden_act" is "relu" \(expected "quick_gelu" or "gelu"\)/);
    fs.rmSync(dir, { recursive: true });
  });
});
