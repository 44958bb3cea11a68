import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Dd3dError } from '../../../src/core/errors.js';
import { configOptional, configValue, getComponent, loadWeights, openModelFolder, openWeights } from '../../../src/io/diffusers.js';
import { writeSafetensors } from '../../../src/io/safetensors.js';

const FIX = 'test/fixtures';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-diffusers-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A folder of files: string contents are written as is, objects as JSON. */
function folder(name: string, files: Record<string, string | object>): string {
  const dir = path.join(tmp, name);
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}
const unetConfig = { _class_name: 'UNet2DConditionModel', in_channels: 4 };
const tinyWeights = { w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } };

describe.each(['sd1-tiny', 'sd2-tiny'])('%s', (name) => {
  const dir = path.join(FIX, name);
  const m = openModelFolder(dir);

  it('loads all five components with classes, configs and weight files', () => {
    expect(m.className).toBe('StableDiffusionPipeline');
    expect([...m.components.keys()].sort()).toEqual(['scheduler', 'text_encoder', 'tokenizer', 'unet', 'vae']);
    const cls = Object.fromEntries([...m.components].map(([k, c]) => [k, c.className]));
    expect(cls).toEqual({
      scheduler: 'DDIMScheduler',
      text_encoder: 'CLIPTextModel',
      tokenizer: 'CLIPTokenizer',
      unet: 'UNet2DConditionModel',
      vae: 'AutoencoderKL',
    });
    const weights = Object.fromEntries([...m.components].map(([k, c]) => [k, c.weightsPath && path.basename(c.weightsPath)]));
    expect(weights).toEqual({
      scheduler: undefined,
      text_encoder: 'model.safetensors',
      tokenizer: undefined,
      unet: 'diffusion_pytorch_model.safetensors',
      vae: 'diffusion_pytorch_model.safetensors',
    });
    const tok = getComponent(m, 'tokenizer');
    expect(tok.config).toBeUndefined();
    expect(tok.dir).toBe(path.join(dir, 'tokenizer'));
    expect(getComponent(m, 'scheduler').configPath).toBe(path.join(dir, 'scheduler', 'scheduler_config.json'));
    expect(m.skipped).toEqual([]);
    expect(m.sampling).toEqual({}); // Stable Diffusion folders have none: commands use DEFAULT_SAMPLING
  });

  it('reads typed config values', () => {
    const te = getComponent(m, 'text_encoder');
    expect(configValue(te, 'hidden_size', 'integer')).toBe(name === 'sd1-tiny' ? 32 : 24);
    expect(configValue(te, 'layer_norm_eps', 'number')).toBe(1e-5);
    expect(configValue(te, 'hidden_act', 'string')).toBe(name === 'sd1-tiny' ? 'quick_gelu' : 'gelu');
    const unet = getComponent(m, 'unet');
    expect(configValue(unet, 'block_out_channels', 'number[]').length).toBeGreaterThan(1);
    expect(configValue(unet, 'attention_head_dim', 'number|number[]')).toBeDefined();
    expect(configValue(getComponent(m, 'vae'), 'scaling_factor', 'number')).toBe(0.18215);
    expect(configValue(getComponent(m, 'scheduler'), 'prediction_type', 'string')).toBe(name === 'sd1-tiny' ? 'epsilon' : 'v_prediction');
  });
});

describe('weights', () => {
  const sd1 = openModelFolder(`${FIX}/sd1-tiny`);

  it('loads text encoder tensors with their checkpoint keys unchanged', () => {
    const w = loadWeights(getComponent(sd1, 'text_encoder'));
    expect(w.size).toBe(36);
    // transformers 5 saves CLIPTextModel without the "text_model." prefix older checkpoints have.
    expect(w.get('embeddings.token_embedding.weight')!.shape).toEqual([49408, 32]);
    expect(w.get('embeddings.position_embedding.weight')!.shape).toEqual([77, 32]);
    expect(w.get('final_layer_norm.weight')!.shape).toEqual([32]);
    expect([...w.keys()].some((k) => k.startsWith('text_model.'))).toBe(false);
  });

  it('opens unet weights lazily', () => {
    const f = openWeights(getComponent(sd1, 'unet'));
    try {
      expect(f.names).toHaveLength(304);
      expect(f.info('conv_in.weight')).toEqual({ dtype: 'F32', shape: [32, 4, 3, 3] });
    } finally {
      f.close();
    }
  });

  it('refuses components without weights', () => {
    expect(() => loadWeights(getComponent(sd1, 'tokenizer'))).toThrow(
      /sd1-tiny\/tokenizer: component "tokenizer" has no weights \(expected model\.safetensors or diffusion_pytorch_model\.safetensors\)/,
    );
  });
});

describe('partial folders', () => {
  it('loads pixel-tiny (component subfolders, no model_index.json)', () => {
    const m = openModelFolder(`${FIX}/pixel-tiny`);
    expect(m.className).toBeUndefined();
    expect([...m.components.keys()]).toEqual(['unet']); // golden/ is not a component
    const unet = getComponent(m, 'unet');
    expect(unet.className).toBe('UNet2DConditionModel');
    expect(configValue(unet, 'in_channels', 'integer')).toBe(3);
    expect(loadWeights(unet).get('conv_in.weight')!.shape).toEqual([32, 3, 3, 3]);
  });

  it.each([
    ['pixel-tiny/unet', 'unet', 'UNet2DConditionModel'],
    ['sd1-tiny/text_encoder', 'text_encoder', 'CLIPTextModel'],
    ['sd1-tiny/vae', 'vae', 'AutoencoderKL'],
    ['sd2-tiny/scheduler', 'scheduler', 'DDIMScheduler'],
    ['sd1-tiny/tokenizer', 'tokenizer', 'CLIPTokenizer'],
    ['clip-tokenizer', 'tokenizer', undefined],
  ])('loads %s alone as a single "%s" component', (rel, name, cls) => {
    const m = openModelFolder(path.join(FIX, rel));
    expect([...m.components.keys()]).toEqual([name]);
    expect(getComponent(m, name).className).toBe(cls);
    expect(getComponent(m, name).dir).toBe(path.join(FIX, rel));
  });

  it('names an unknown single component after its folder', () => {
    const dir = folder('my_controlnet', { 'config.json': { _class_name: 'ControlNetModel' } });
    expect([...openModelFolder(dir).components.keys()]).toEqual(['my_controlnet']);
  });

  it('prefers plain weights over the fp16 variant, and accepts fp16 alone', () => {
    const both = folder('both/unet', { 'config.json': unetConfig });
    writeSafetensors(path.join(both, 'diffusion_pytorch_model.fp16.safetensors'), tinyWeights);
    writeSafetensors(path.join(both, 'diffusion_pytorch_model.safetensors'), tinyWeights);
    expect(path.basename(getComponent(openModelFolder(both), 'unet').weightsPath!)).toBe('diffusion_pytorch_model.safetensors');
    const fp16 = folder('fp16/unet', { 'config.json': unetConfig });
    writeSafetensors(path.join(fp16, 'diffusion_pytorch_model.fp16.safetensors'), tinyWeights);
    const unet = getComponent(openModelFolder(fp16), 'unet');
    expect(path.basename(unet.weightsPath!)).toBe('diffusion_pytorch_model.fp16.safetensors');
    expect(loadWeights(unet).get('w')!.data).toEqual(new Float32Array([1, 2]));
  });

  it('skips pipeline components dd3d never uses, present or not', () => {
    const dir = folder('with-extras', {
      'model_index.json': {
        _class_name: 'StableDiffusionPipeline',
        unet: ['diffusers', 'UNet2DConditionModel'],
        safety_checker: ['stable_diffusion', 'StableDiffusionSafetyChecker'],
        feature_extractor: ['transformers', 'CLIPImageProcessor'],
        image_encoder: [null, null],
        requires_safety_checker: true,
      },
      'unet/config.json': unetConfig,
      'feature_extractor/preprocessor_config.json': {},
    });
    const m = openModelFolder(dir);
    expect([...m.components.keys()]).toEqual(['unet']);
    expect(m.skipped).toEqual(['safety_checker', 'feature_extractor']);
  });
});

describe('errors', () => {
  const expectError = (fn: () => unknown, message: RegExp) => {
    let error: unknown;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Dd3dError);
    expect((error as Error).message).not.toContain('\n');
    expect((error as Error).message).toMatch(message);
  };

  it('missing folder', () => {
    expectError(() => openModelFolder(`${FIX}/no-such-model`), /^model folder not found: test\/fixtures\/no-such-model$/);
  });

  it('a file instead of a folder', () => {
    expectError(() => openModelFolder(`${FIX}/sd1-tiny/model_index.json`), /model_index\.json: expected a model folder, got a file/);
  });

  it('a folder that is neither a model nor a component', () => {
    const dir = folder('empty', { 'notes.txt': 'hi', 'sub/readme.md': 'x' });
    expectError(
      () => openModelFolder(dir),
      /empty: not a model folder: expected model_index\.json, a component's config\.json .* or component subfolders such as unet\/ and vae\//,
    );
  });

  it('sampling defaults of the wrong type', () => {
    const withSampling = (name: string, sampling: unknown) =>
      folder(name, { 'model_index.json': { _dd3d_sampling: sampling, unet: ['diffusers', 'UNet2DConditionModel'] }, 'unet/config.json': unetConfig });
    expect(openModelFolder(withSampling('good-sampling', { guidance_scale: 3, num_inference_steps: 12 })).sampling).toEqual({ guidanceScale: 3, steps: 12 });
    expectError(
      () => openModelFolder(withSampling('bad-guidance', { guidance_scale: '3' })),
      /bad-guidance\/model_index\.json: "_dd3d_sampling"\.guidance_scale must be a number ≥ 0, got "3"/,
    );
    expectError(
      () => openModelFolder(withSampling('bad-steps', { num_inference_steps: 2.5 })),
      /"_dd3d_sampling"\.num_inference_steps must be an integer ≥ 1, got 2\.5/,
    );
    expectError(
      () => openModelFolder(withSampling('bad-key', { guidance: 3 })),
      /"_dd3d_sampling": unknown key "guidance" \(expected guidance_scale, num_inference_steps\)/,
    );
    expectError(() => openModelFolder(withSampling('bad-sampling', 3)), /"_dd3d_sampling" must be an object, got 3/);
  });

  it('model_index.json naming a missing component folder', () => {
    const dir = folder('no-vae', {
      'model_index.json': { unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'] },
      'unet/config.json': unetConfig,
    });
    expectError(() => openModelFolder(dir), /no-vae\/model_index\.json lists component "vae" but its folder .*no-vae\/vae is missing/);
  });

  it('a component folder without a config', () => {
    const dir = folder('bare', { 'model_index.json': { unet: ['diffusers', 'UNet2DConditionModel'] }, 'unet/x.txt': '' });
    expectError(() => openModelFolder(dir), /bare\/unet: not a model component: expected config\.json, scheduler_config\.json or a tokenizer's vocab\.json/);
  });

  it('bad JSON', () => {
    const dir = folder('badjson', { 'model_index.json': '{"unet": [', 'unet/config.json': unetConfig });
    expectError(() => openModelFolder(dir), /badjson\/model_index\.json: not valid JSON/);
  });

  it('.bin-only weights', () => {
    const dir = folder('bin-only/unet', { 'config.json': unetConfig, 'diffusion_pytorch_model.bin': 'pickle' });
    expectError(() => openModelFolder(dir), /diffusion_pytorch_model\.bin: only \.safetensors weights are supported; convert with python -c/);
  });

  it('unknown component name', () => {
    expectError(() => getComponent(openModelFolder(`${FIX}/pixel-tiny`), 'vae'), /pixel-tiny: no "vae" component \(found: unet\)/);
  });

  describe('config values', () => {
    const te = getComponent(openModelFolder(`${FIX}/sd1-tiny`), 'text_encoder');
    const unet = getComponent(openModelFolder(`${FIX}/pixel-tiny`), 'unet');

    it('missing key', () => {
      expectError(
        () => configValue(te, 'hidden_sizes', 'number'),
        /^test\/fixtures\/sd1-tiny\/text_encoder\/config\.json: missing key "hidden_sizes" \(expected a number\)$/,
      );
    });

    it('wrong type', () => {
      expectError(
        () => configValue(te, 'hidden_act', 'number'),
        /^test\/fixtures\/sd1-tiny\/text_encoder\/config\.json: key "hidden_act" is "quick_gelu" \(expected a number\)$/,
      );
      expectError(() => configValue(te, 'layer_norm_eps', 'integer'), /key "layer_norm_eps" is 0\.00001 \(expected an integer\)/);
      expectError(() => configValue(unet, 'down_block_types', 'number[]'), /key "down_block_types" is \["DownBlock2D",.* \(expected an array of numbers\)/);
    });

    it('null keys: the fallback when given, an error otherwise; configOptional gives undefined', () => {
      expect(unet.config!.num_attention_heads).toBeNull();
      expect(configValue(unet, 'num_attention_heads', 'integer', 8)).toBe(8);
      expect(configValue(unet, 'missing_key', 'boolean', false)).toBe(false);
      expect(configOptional(unet, 'num_attention_heads', 'integer')).toBeUndefined();
      expect(configOptional(unet, 'use_linear_projection', 'boolean')).toBe(false);
      expectError(() => configValue(unet, 'num_attention_heads', 'integer'), /config\.json: key "num_attention_heads" is null \(expected an integer\)/);
    });

    it('tokenizer has no config', () => {
      const tok = getComponent(openModelFolder(`${FIX}/sd1-tiny`), 'tokenizer');
      expectError(() => configValue(tok, 'x', 'string'), /sd1-tiny\/tokenizer: component "tokenizer" has no config\.json/);
    });
  });
});

describe('configs as Python writes them', () => {
  it('reads bare -Infinity / NaN tokens (diffusers saves lambda_min_clipped = -inf so)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-pyjson-'));
    fs.writeFileSync(
      path.join(dir, 'scheduler_config.json'),
      '{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "note": "-Infinity in a string", "x": NaN}',
    );
    const c = getComponent(openModelFolder(dir), 'scheduler');
    expect(c.config!.lambda_min_clipped).toBe(-Infinity);
    expect(c.config!.note).toBe('-Infinity in a string');
    expect(Number.isNaN(c.config!.x)).toBe(true);
    fs.rmSync(dir, { recursive: true });
  });
});
