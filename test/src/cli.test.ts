import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectOneLineError, runCli } from '../helpers/cli.js';

const fixtures = path.join(__dirname, '..', 'fixtures');
const sd1 = path.join(fixtures, 'sd1-tiny');

/** A copy of sd1-tiny's text encoder whose config or weights a test then breaks. */
function brokenTextEncoder(edit: (dir: string) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-cli-'));
  fs.cpSync(path.join(sd1, 'text_encoder'), dir, { recursive: true });
  edit(dir);
  return dir;
}

describe('dd3d CLI', () => {
  it('--help lists the commands and the global --backend option', () => {
    const r = runCli(['--help']);
    expect(r.status).toBe(0);
    for (const word of ['doctor', 'parity', '--backend', 'DD3D_BACKEND']) expect(r.stdout).toContain(word);
  });

  it('doctor --json reports the backend, why, the patched kernels and GFLOPS', () => {
    const r = runCli(['doctor', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.backend).toBe('wasm');
    expect(j.reason).toMatch(/requested/);
    expect(j.patched_kernels).toEqual([
      'BatchMatMul',
      '_FusedMatMul',
      'Conv2DBackpropInput',
      'Conv2DBackpropFilter',
      'UnsortedSegmentSum',
      'Identity',
      'Cast',
      'Conv2D',
      'Slice',
      'SplitV',
    ]);
    expect(j.kernels.map((k: { name: string }) => k.name)).toEqual([
      'matmul',
      'matmul transposeA',
      'matmul transposeB',
      'matmul batched',
      'conv2d forward',
      'conv2d forward+backward',
    ]);
    for (const k of j.kernels) expect(k.gflops).toBeGreaterThan(0);
  });

  it("doctor --stock measures tfjs's own wasm kernels, reporting the missing one as null", () => {
    const j = JSON.parse(runCli(['doctor', '--stock', '--json']).stdout);
    expect(j.patched_kernels).toEqual([]);
    expect(j.reason).toMatch(/stock|requested/);
    const byName = Object.fromEntries(j.kernels.map((k: { name: string; gflops: number | null }) => [k.name, k.gflops]));
    expect(byName['conv2d forward+backward']).toBeNull();
    expect(byName['matmul']).toBeGreaterThan(0);
  });

  it('an unknown backend in DD3D_BACKEND or --backend is a one-line error', () => {
    expectOneLineError(runCli(['doctor'], { DD3D_BACKEND: 'tpu' }), /DD3D_BACKEND: unknown backend "tpu"/);
    const r = runCli(['--backend', 'tpu', 'doctor']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--backend/);
  });

  it('a backend that cannot load is a one-line error naming the package', () => {
    expectOneLineError(runCli(['--backend', 'tensorflow', 'doctor']), /@tensorflow\/tfjs-node is not installed/);
  });

  it('parity --json passes on sd1-tiny with the gradient', () => {
    const r = runCli(['parity', '--model', sd1, '--component', 'text_encoder', '--golden', path.join(sd1, 'golden', 'text_encoder.safetensors'), '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.component).toBe('text_encoder');
    expect(j.ok).toBe(true);
    expect(j.results.map((x: { name: string }) => x.name)).toEqual(['last_hidden_state', 'pooler_output', 'grad_token_embeddings']);
    for (const x of j.results) expect(x.max_abs_err).toBeLessThanOrEqual(x.tolerance);
  });

  it('parity covers unet, vae, pipeline and schedulers too', () => {
    const check = (args: string[], names: string[]) => {
      const r = runCli(['parity', ...args, '--json']);
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.ok).toBe(true);
      expect(j.results.map((x: { name: string }) => x.name)).toEqual(names);
    };
    check(['--model', path.join(fixtures, 'pixel-tiny'), '--component', 'unet'], ['out', 'grad_sample', 'grad_encoder_hidden_states']);
    check(['--model', path.join(fixtures, 'sd2-tiny'), '--component', 'vae'], ['latent_mean', 'latent_logvar', 'grad_image', 'decode_out']);
    check(['--model', sd1, '--component', 'pipeline'], ['image']);
    const r = runCli(['parity', '--component', 'schedulers', '--golden', path.join(fixtures, 'schedulers', 'schedulers.safetensors'), '--json']);
    expect(JSON.parse(r.stdout).results.length).toBe(15);
    expectOneLineError(runCli(['parity', '--component', 'unet']), /--model: required for --component unet/);
  });

  it('parity exits 1 and says FAIL when the model does not match', () => {
    // sd1-tiny with one weight nudged by 0.5
    const dir = brokenTextEncoder(() => {});
    const weights = path.join(dir, 'model.safetensors');
    const buf = fs.readFileSync(weights);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString());
    const [begin] = header['final_layer_norm.bias'].data_offsets;
    buf.writeFloatLE(buf.readFloatLE(8 + n + begin) + 0.5, 8 + n + begin);
    fs.writeFileSync(weights, buf);
    const r = runCli(['parity', '--model', dir, '--component', 'text_encoder', '--golden', path.join(sd1, 'golden', 'text_encoder.safetensors')]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/last_hidden_state.*FAIL/);
    expect(r.stdout.trim().endsWith('FAIL')).toBe(true);
  });

  it('commands use the shipped built-in model without --model', () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-builtin-')), 'x.png');
    const r = runCli(['sample', '--prompt', 'a red chair, front view', '--steps', '2', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.existsSync(out)).toBe(true);
  });

  describe('bad input gives one line naming the file and what was expected', () => {
    const golden = ['--golden', path.join(sd1, 'golden', 'text_encoder.safetensors')];

    it('a missing model folder', () => {
      expectOneLineError(
        runCli(['parity', '--model', '/nonexistent/sd', '--component', 'text_encoder', ...golden]),
        /model folder not found: \/nonexistent\/sd/,
      );
    });

    it('a truncated safetensors file', () => {
      const dir = brokenTextEncoder((d) => {
        const f = path.join(d, 'model.safetensors');
        fs.truncateSync(f, fs.statSync(f).size - 1000);
      });
      expectOneLineError(runCli(['parity', '--model', dir, '--component', 'text_encoder', ...golden]), /model\.safetensors: truncated/);
    });

    it('a corrupt safetensors header', () => {
      const dir = brokenTextEncoder((d) => {
        const f = path.join(d, 'model.safetensors');
        const buf = fs.readFileSync(f);
        buf.write('#', 9);
        fs.writeFileSync(f, buf);
      });
      expectOneLineError(runCli(['parity', '--model', dir, '--component', 'text_encoder', ...golden]), /model\.safetensors: .*JSON/);
    });

    it('a missing config key', () => {
      const dir = brokenTextEncoder((d) => {
        const f = path.join(d, 'config.json');
        const config = JSON.parse(fs.readFileSync(f, 'utf8'));
        delete config.num_hidden_layers;
        fs.writeFileSync(f, JSON.stringify(config));
      });
      expectOneLineError(
        runCli(['parity', '--model', dir, '--component', 'text_encoder', ...golden]),
        /config\.json: missing key "num_hidden_layers" \(expected an integer\)/,
      );
    });

    it('an unknown component and a missing golden file', () => {
      expectOneLineError(runCli(['parity', '--model', sd1, '--component', 'clip']), /--component: unknown component "clip"/);
      expectOneLineError(runCli(['parity', '--model', sd1, '--component', 'text_encoder', '--golden', '/nope.safetensors']), /--golden: file not found/);
    });
  });
});
