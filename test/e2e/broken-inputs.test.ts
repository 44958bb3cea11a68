/**
 * Fuzz suite (#12 deliverable 6): broken inputs for every file type dd3d reads, generated
 * from the real ones (dd3d-tiny, examples/chair-single.json, the official .npz fixture, the
 * chair references) by truncation, seeded byte flips, key deletions, wrong types and sizes,
 * and special files. Every case runs through the CLI's command tree and error path
 * in-process (test/helpers/in-process.ts: the same code as `node dist/src/cli.js`, without a
 * Node start-up per case) and must end with: exit 1, exactly one line `dd3d: error: …`, no
 * stack trace, within its time bound, with bounded memory, and with the user's files as they
 * were (inputs unchanged, no output or temporary file left).
 *
 * Torn checkpoints (a failure injected between the checkpoint's writes, then --resume) are
 * covered by test/src/train/checkpoint.test.ts; process-level behaviour (exit status, crash handlers
 * ahead of tfjs-wasm's) by test/e2e/safety.test.ts.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/core/random.js';
import { brokenModel, CHAIR, CHAIR_REFS, dd3d, PROGRESS_LINE, ROOT, snapshot, TINY } from '../helpers/in-process.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-fuzz-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const NPZ = path.join(ROOT, 'test/fixtures/dreamdistribution-npz/final-1000.npz');
const rng = mulberry32(12);
const rand = () => rng.next();
let counter = 0;
const fresh = (name: string) => path.join(tmp, `${String(counter++).padStart(3, '0')}-${name}`);

interface Case {
  name: string;
  /** Builds the broken input; returns the CLI arguments. */
  make: () => string[];
  /** Files that must be unchanged afterwards (the inputs are snapshotted too). */
  keep?: string[];
}

let total = 0;
/** Runs the cases of one input type; each checked as the module comment says. */
function fuzz(type: string, cases: Case[]): void {
  it(`${type}: ${cases.length} cases`, async () => {
    const failures: string[] = [];
    for (const c of cases) {
      const args = c.make();
      const watched = [tmp, ...(c.keep ?? [])].filter((p) => fs.existsSync(p));
      const before = watched.map((p) => (fs.statSync(p).isDirectory() ? snapshot(p) : fs.readFileSync(p).toString('base64')));
      const t0 = performance.now();
      const r = await dd3d(args);
      const seconds = (performance.now() - t0) / 1000;
      // progress bars may come before the error when it surfaces after some work (eval-3d's references)
      const lines = r.stderr
        .trimEnd()
        .split('\n')
        .filter((l) => l.trim() !== '' && !PROGRESS_LINE.test(l));
      const after = watched.map((p) => (fs.statSync(p).isDirectory() ? snapshot(p) : fs.readFileSync(p).toString('base64')));
      const problems = [
        r.status !== 1 && `exit ${r.status}`,
        (lines.length !== 1 || !lines[0]!.startsWith('dd3d: error: ')) && `stderr ${JSON.stringify(r.stderr.slice(0, 300))}`,
        /\n\s+at /.test(r.stderr) && 'stack trace',
        seconds > 15 && `${seconds.toFixed(1)} s`,
        process.memoryUsage().rss > 3e9 && `rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`,
        // the whole scratch folder is watched: an input changed, an output or a temporary left, all show here
        JSON.stringify(after) !== JSON.stringify(before) && 'files changed',
      ].filter(Boolean);
      if (problems.length) failures.push(`${c.name}: ${problems.join(', ')}`);
      total++;
    }
    expect(failures).toEqual([]);
  });
}

const sample = (model: string, out = fresh('out.png')) => [
  'sample',
  '--model',
  model,
  '--prompt',
  'a red chair',
  '--steps',
  '1',
  '--workers',
  '1',
  '--out',
  out,
];
const editModel = (name: string, edit: Parameters<typeof brokenModel>[1]) => sample(brokenModel(fresh(name), edit));

describe('fuzz: broken inputs through the CLI', () => {
  // ---- safetensors and config: every size key of both configs set to broken values, weight files cut and corrupted
  const textKeys = ['hidden_size', 'intermediate_size', 'num_attention_heads', 'num_hidden_layers', 'max_position_embeddings', 'vocab_size'];
  const badValues: unknown[] = [-1, 0, 1e9, 'x', 1.5];
  const configCases: Case[] = [];
  for (const key of textKeys) {
    for (const v of badValues)
      configCases.push({ name: `text_encoder ${key}=${JSON.stringify(v)}`, make: () => editModel('te', { config: { text_encoder: { [key]: v } } }) });
    // a plausible value the weights do not have
    configCases.push({
      name: `text_encoder ${key}+1`,
      make: () =>
        editModel('te', {
          config: { text_encoder: { [key]: (JSON.parse(fs.readFileSync(path.join(TINY, 'text_encoder/config.json'), 'utf8'))[key] as number) + 1 } },
        }),
    });
  }
  for (const [key, values] of Object.entries({
    block_out_channels: [undefined, [], [32, 64], [1e9, 64, 128], [33, 64, 128], 'x'],
    sample_size: [1e9, -8, [32], 'x', 0],
    layers_per_block: [0, 1e6, 'x'],
    down_block_types: [[], ['Nope', 'DownBlock2D', 'DownBlock2D'], undefined],
    norm_num_groups: [0, 7, null],
    cross_attention_dim: [0, 64, 1e9],
    in_channels: [0, 4],
  } as Record<string, unknown[]>)) {
    for (const v of values) configCases.push({ name: `unet ${key}=${JSON.stringify(v)}`, make: () => editModel('unet', { config: { unet: { [key]: v } } }) });
  }
  const weightFile = (component: string) =>
    path.join(
      TINY,
      component,
      fs.readdirSync(path.join(TINY, component)).find((f) => f.endsWith('.safetensors'))!,
    );
  const rewrite = (component: string, bytes: (b: Buffer) => Buffer) => () => {
    const bytesIn = fs.readFileSync(weightFile(component));
    return editModel(`w-${component}`, { files: { [`${component}/${path.basename(weightFile(component))}`]: bytes(bytesIn) } });
  };
  for (const component of ['text_encoder', 'unet']) {
    for (const cut of [0, 4, 8, 100, 0.5, 0.99]) {
      configCases.push({
        name: `${component} weights cut at ${cut}`,
        make: rewrite(component, (b) => b.subarray(0, cut < 1 ? Math.floor(b.length * cut) : cut)),
      });
    }
    configCases.push({
      name: `${component} header length 2^60`,
      make: rewrite(component, (b) => Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0x10]), b.subarray(8)])),
    });
    configCases.push({ name: `${component} header not JSON`, make: rewrite(component, (b) => Buffer.from(b).fill(0x7b, 8, 20)) });
    configCases.push({
      name: `${component} NaN everywhere`,
      make: rewrite(component, (b) => {
        const c = Buffer.from(b);
        const n = Number(c.readBigUInt64LE(0));
        c.fill(0xff, 8 + n);
        return c;
      }),
    });
  }
  configCases.push({
    name: 'text_encoder weight reshaped (same bytes)',
    make: () =>
      editModel('shape', {
        weights: { text_encoder: (t) => void t.get([...t.keys()].find((k) => k.endsWith('final_layer_norm.weight'))!)!.shape.splice(0, 1, 2, 64) },
      }),
  });
  configCases.push({
    name: 'unet weight missing',
    make: () => editModel('missing', { weights: { unet: (t) => void t.delete('conv_out.bias') } }),
  });
  configCases.push({ name: 'model_index.json not JSON', make: () => editModel('index', { files: { 'model_index.json': '{"unet": [' } }) });
  configCases.push({ name: 'model folder is a file', make: () => sample(CHAIR) });
  configCases.push({ name: 'model folder missing', make: () => sample(fresh('nope')) });
  fuzz('safetensors and config', configCases);

  // ---- tokenizer files
  const tokenizerCases: Case[] = [
    ['vocab not JSON', { 'tokenizer/vocab.json': '{"a": ' }],
    ['vocab an array', { 'tokenizer/vocab.json': '[1, 2]' }],
    ['vocab empty', { 'tokenizer/vocab.json': '{}' }],
    ['vocab ids not numbers', { 'tokenizer/vocab.json': '{"a": "x", "<|endoftext|>": 1}' }],
    ['vocab empty file', { 'tokenizer/vocab.json': '' }],
    ['tokenizer_config not JSON', { 'tokenizer/tokenizer_config.json': 'nope' }],
    ['tokenizer_config unknown class', { 'tokenizer/tokenizer_config.json': '{"tokenizer_class": "Nope"}' }],
    ['special tokens a number', { 'tokenizer/special_tokens_map.json': '{"eos_token": 5}' }],
  ].map(([name, files]) => ({ name: name as string, make: () => editModel('tok', { files: files as Record<string, string> }) }));
  tokenizerCases.push({ name: 'unknown word in the prompt', make: () => ['sample', '--prompt', 'a zyzzyva', '--out', fresh('o.png')] });
  tokenizerCases.push({
    name: 'vocab.json a FIFO',
    make: () => {
      const m = brokenModel(fresh('fifo'), { files: { 'tokenizer/vocab.json': '' } });
      fs.rmSync(path.join(m, 'tokenizer/vocab.json'));
      execFileSync('mkfifo', [path.join(m, 'tokenizer/vocab.json')]);
      return sample(m);
    },
  });
  fuzz('tokenizer files', tokenizerCases);

  // ---- distribution JSON: every key deleted, every key of the wrong type, values corrupted
  const chair = JSON.parse(fs.readFileSync(CHAIR, 'utf8')) as Record<string, unknown>;
  const distCase = (name: string, content: string | ((j: Record<string, unknown>) => void)): Case => ({
    name,
    make: () => {
      const file = fresh('dist.json');
      if (typeof content === 'string') fs.writeFileSync(file, content);
      else {
        const j = structuredClone(chair);
        content(j);
        fs.writeFileSync(file, JSON.stringify(j));
      }
      return ['sample', '--dist', file, '--steps', '1', '--out', fresh('o.png')];
    },
  });
  const distCases: Case[] = [];
  for (const key of ['format', 'version', 'model', 'prompts', 'ctx_length', 'prefix', 'suffix', 'ctx', 'mu', 'sigma']) {
    distCases.push(distCase(`no ${key}`, (j) => delete j[key]));
    distCases.push(distCase(`${key} wrong type`, (j) => (j[key] = typeof j[key] === 'string' ? 5 : 'x')));
  }
  const arrays = ['mu', 'sigma', 'ctx'];
  for (const key of arrays) {
    distCases.push(
      distCase(`${key} base64 cut`, (j) => {
        const a = j[key] as { base64: string };
        a.base64 = a.base64.slice(0, 100);
      }),
    );
    distCases.push(
      distCase(`${key} shape wrong`, (j) => {
        const a = j[key] as { shape: number[] };
        a.shape = a.shape.map((d) => d + 1);
      }),
    );
    distCases.push(
      distCase(`${key} NaN`, (j) => {
        const a = j[key] as { base64: string };
        const b = Buffer.from(a.base64, 'base64');
        b.writeFloatLE(NaN, 8);
        a.base64 = b.toString('base64');
      }),
    );
    distCases.push(
      distCase(`${key} 3e38`, (j) => {
        const a = j[key] as { base64: string };
        const b = Buffer.from(a.base64, 'base64');
        for (let i = 0; i < b.length; i += 4) b.writeFloatLE(3e38, i);
        a.base64 = b.toString('base64');
      }),
    );
  }
  distCases.push(
    distCase('sigma negative', (j) => {
      const a = j.sigma as { base64: string };
      const b = Buffer.from(a.base64, 'base64');
      b.writeFloatLE(-1, 0);
      a.base64 = b.toString('base64');
    }),
  );
  distCases.push(distCase('version 3', (j) => (j.version = 3)));
  distCases.push(distCase('version 2 without components', (j) => (j.version = 2)));
  distCases.push(distCase('components on version 1', (j) => (j.components = { weights: [1] })));
  distCases.push(distCase('not JSON', '{"format": "dd3d-distribution", '));
  distCases.push(distCase('empty file', ''));
  distCases.push(distCase('a JSON array', '[]'));
  distCases.push(distCase('another format', '{"format": "something-else"}'));
  distCases.push({ name: 'a folder', make: () => ['sample', '--dist', tmp, '--out', fresh('o.png')] });
  distCases.push({
    name: 'a FIFO',
    make: () => {
      const f = fresh('pipe.json');
      execFileSync('mkfifo', [f]);
      return ['sample', '--dist', f, '--out', fresh('o.png')];
    },
  });
  distCases.push({ name: 'missing', make: () => ['sample', '--dist', fresh('none.json'), '--out', fresh('o.png')] });
  distCases.push({ name: 'mix weight 2', make: () => ['sample', '--dist', CHAIR, '--mix', `${CHAIR}=2`, '--out', fresh('o.png')] });
  // the settings eval-2d's prompt-tuning baseline trains with, broken in the file
  for (const [key, value] of [
    ['steps', 0],
    ['lr', -1],
    ['assign', 'median'],
    ['flip', 'yes'],
  ] as const) {
    distCases.push({
      name: `training.settings.${key} ${value} for the prompt-tuning baseline`,
      make: () => {
        const file = fresh('dist.json');
        const j = structuredClone(chair) as { training: { settings: Record<string, unknown> } };
        j.training.settings[key] = value;
        fs.writeFileSync(file, JSON.stringify(j));
        return ['eval-2d', '--dist', file, '--refs', CHAIR_REFS, '--baseline', 'prompt-tuning', '--n', '4'];
      },
    });
  }
  // a distribution's flag with a plain prompt: it would be ignored, so it is refused
  distCases.push({ name: '--std-scale with --prompt', make: () => ['sample', '--prompt', 'a red chair', '--std-scale', '2', '--out', fresh('o.png')] });
  fuzz('distribution JSON', distCases);

  // ---- npz: truncations, seeded byte flips in the zip structures, bombs
  const npz = fs.readFileSync(NPZ);
  const npzCase = (name: string, bytes: () => Buffer): Case => ({
    name,
    make: () => {
      const file = fresh('in.npz');
      fs.writeFileSync(file, bytes());
      return ['import-dist', file, '--out', fresh('o.json')];
    },
  });
  const npzCases: Case[] = [];
  for (const frac of [0, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99]) npzCases.push(npzCase(`cut at ${frac}`, () => npz.subarray(0, Math.floor(npz.length * frac))));
  const cd = npz.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  for (let i = 0; i < 16; i++) {
    // a byte of the central directory or the end record, where sizes and offsets live
    const at = cd + Math.floor(rand() * (npz.length - cd));
    const value = Math.floor(rand() * 256);
    npzCases.push(
      npzCase(`byte ${at} = ${value}`, () => {
        const b = Buffer.from(npz);
        b[at] = b[at] === value ? value ^ 0xff : value;
        return b;
      }),
    );
  }
  npzCases.push(
    npzCase('every local header broken', () => {
      const b = Buffer.from(npz);
      for (let i = b.indexOf('PK\x03\x04'); i >= 0; i = b.indexOf('PK\x03\x04', i + 1)) b[i + 2] = 0;
      return b;
    }),
  );
  npzCases.push(npzCase('random bytes', () => Buffer.from(Array.from({ length: 4096 }, () => Math.floor(rand() * 256)))));
  npzCases.push(npzCase('a .npy, not a .npz', () => Buffer.concat([Buffer.from('\x93NUMPY\x01\x00'), Buffer.from([0x20, 0])]).fill(0x20, 10)));
  npzCases.push({ name: 'a folder', make: () => ['import-dist', tmp, '--out', fresh('o.json')] });
  fuzz('npz', npzCases);

  // ---- image folders: broken and special files among the references
  /** A fresh copy of the chair references with `make` run on `file` inside it. */
  const refsWith = (file: string, make: (p: string) => void): string => {
    const dir = fresh('refs');
    fs.cpSync(CHAIR_REFS, dir, { recursive: true });
    make(path.join(dir, file));
    return dir;
  };
  const imageCase = (name: string, make: (p: string) => void): Case => ({
    name,
    make: () => ['train-dist', '--images', refsWith('zz.png', make), '--steps', '1', '--out', fresh('d.json')],
  });
  const pngHeader = fs.readFileSync(path.join(CHAIR_REFS, 'ref-000.png'));
  const imageCases: Case[] = [
    imageCase('random bytes', (p) => fs.writeFileSync(p, Buffer.from(Array.from({ length: 2048 }, () => Math.floor(rand() * 256))))),
    imageCase('empty', (p) => fs.writeFileSync(p, '')),
    imageCase('truncated PNG', (p) => fs.writeFileSync(p, pngHeader.subarray(0, 100))),
    imageCase('PNG claiming 100000×100000', (p) => {
      const b = Buffer.from(pngHeader);
      b.writeUInt32BE(100000, 16);
      b.writeUInt32BE(100000, 20);
      fs.writeFileSync(p, b);
    }),
    imageCase('text', (p) => fs.writeFileSync(p, 'not an image')),
    imageCase('a FIFO', (p) => execFileSync('mkfifo', [p])),
    imageCase('a folder', (p) => fs.mkdirSync(p)),
    imageCase('a symlinked folder', (p) => fs.symlinkSync(tmp, p)),
    imageCase('a symlink loop', (p) => fs.symlinkSync(p, p)),
    imageCase('a dangling symlink', (p) => fs.symlinkSync(path.join(tmp, 'nothing'), p)),
    imageCase('a device', (p) => fs.symlinkSync('/dev/zero', p)),
    {
      name: 'no images',
      make: () => {
        const d = fresh('empty');
        fs.mkdirSync(d);
        return ['train-dist', '--images', d, '--out', fresh('d.json')];
      },
    },
    { name: 'images is a file', make: () => ['train-dist', '--images', CHAIR, '--out', fresh('d.json')] },
  ];
  fuzz('image folders', imageCases);

  // ---- eval-3d's inputs: a reference set's attributes.json (read before any asset) and GLBs, the probe's config
  const refsCase = (name: string, make: (file: string) => void): Case => ({
    name,
    make: () => ['eval-3d', '--assets', CHAIR_REFS, '--refs', refsWith('attributes.json', make)],
  });
  const editRefs = (edit: (j: Record<string, unknown>) => void) => (file: string) => {
    const j = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    edit(j);
    fs.writeFileSync(file, JSON.stringify(j));
  };
  const fifoIn = (dir: string, file: string) => {
    fs.rmSync(path.join(dir, file));
    execFileSync('mkfifo', [path.join(dir, file)]);
  };
  fuzz('eval-3d inputs', [
    refsCase('attributes.json a FIFO', (f) => fifoIn(path.dirname(f), path.basename(f))),
    refsCase(
      'another format',
      editRefs((j) => (j.format = 'dd3d-samples')),
    ),
    refsCase(
      'constraints.back a string',
      editRefs((j) => ((j.constraints as Record<string, unknown>).back = 'tall back')),
    ),
    refsCase(
      'an image without a file',
      editRefs((j) => delete (j.images as Array<Record<string, unknown>>)[0]!.file),
    ),
    refsCase('a reference GLB a FIFO', (f) => fifoIn(path.dirname(f), 'ref-003.glb')),
    {
      name: "the probe's config.json a FIFO",
      make: () => {
        const dir = fresh('probe');
        fs.cpSync(path.join(ROOT, 'models/dd3d-tiny/probe'), dir, { recursive: true });
        fifoIn(dir, 'config.json');
        return ['eval-3d', '--assets', CHAIR_REFS, '--refs', CHAIR_REFS, '--probe', dir];
      },
    },
  ]);

  // ---- JSON that says whose a folder is: a FIFO in its place used to block the read forever
  const dataset = path.join(tmp, 'dataset');
  beforeAll(async () => {
    const r = await dd3d(['scenes', 'dataset', '--n', '2', '--res', '32', '--seed', '1', '--out', dataset]);
    expect(r.status).toBe(0);
  });
  /** A copy of the tiny dataset (or a new folder) with `file` a FIFO. */
  const withFifo = (file: string, copyOf?: string) => {
    const dir = fresh('with-fifo');
    if (copyOf) fs.cpSync(copyOf, dir, { recursive: true });
    else fs.mkdirSync(dir);
    if (fs.existsSync(path.join(dir, file))) fs.rmSync(path.join(dir, file));
    execFileSync('mkfifo', [path.join(dir, file)]);
    return dir;
  };
  const pretrain = (data: string, out = fresh('run')) => ['pretrain', '--data', data, '--out', out, '--config', 'test', '--steps', '1'];
  fuzz('folder manifests', [
    { name: 'sample into a folder whose manifest.json is a FIFO', make: () => sample(TINY, withFifo('manifest.json')) },
    { name: 'pretrain into a folder whose model_index.json is a FIFO', make: () => pretrain(dataset, withFifo('model_index.json')) },
    { name: 'pretrain from a dataset whose dataset.json is a FIFO', make: () => pretrain(withFifo('dataset.json', dataset)) },
    { name: "pretrain from a dataset whose shard's JSONL is a FIFO", make: () => pretrain(withFifo('shard-00000.jsonl', dataset)) },
    {
      name: 'scenes dataset into a folder whose dataset.json is a FIFO',
      make: () => ['scenes', 'dataset', '--n', '2', '--res', '8', '--out', withFifo('dataset.json')],
    },
    {
      name: 'probe train on a dataset whose dataset.json is a FIFO',
      make: () => ['probe', 'train', '--data', withFifo('dataset.json', dataset), '--out', fresh('probe')],
    },
  ]);

  // ---- output paths: the user's files are never touched
  const userFile = (name: string, content = 'mine') => {
    const f = fresh(name);
    fs.writeFileSync(f, content);
    return f;
  };
  const userFolder = () => {
    const d = fresh('folder');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'notes.txt'), 'mine');
    return d;
  };
  const outCases: Case[] = [
    { name: 'sample over a file', make: () => sample(TINY, userFile('a.png')) },
    { name: 'sample into a folder with notes', make: () => sample(TINY, userFolder()) },
    { name: 'sample into a file as a folder', make: () => sample(TINY, userFile('plain')) },
    { name: 'sample into a missing parent', make: () => sample(TINY, path.join(fresh('no'), 'x.png')) },
    { name: 'sample under a file', make: () => sample(TINY, path.join(userFile('f'), 'x.png')) },
    { name: 'sample into /sys', make: () => sample(TINY, '/sys/x.png') },
    { name: 'sample to a .jpg', make: () => sample(TINY, fresh('x.jpg')) },
    {
      name: 'sample over a FIFO',
      make: () => {
        const f = fresh('p.png');
        execFileSync('mkfifo', [f]);
        return sample(TINY, f);
      },
    },
    {
      name: 'sample over a dangling symlink',
      make: () => {
        const f = fresh('l.png');
        fs.symlinkSync(path.join(tmp, 'nothing'), f);
        return sample(TINY, f);
      },
    },
    { name: 'sample into the folder holding the cwd', make: () => sample(TINY, path.dirname(process.cwd())) },
    { name: 'train-dist over a JSON', make: () => ['train-dist', '--images', CHAIR_REFS, '--out', userFile('c.json', '{}')] },
    {
      name: 'train-dist over a folder',
      make: () => {
        const d = fresh('d.json');
        fs.mkdirSync(d);
        return ['train-dist', '--images', CHAIR_REFS, '--out', d];
      },
    },
    {
      name: 'train-dist with .train a file',
      make: () => {
        const out = fresh('t.json');
        fs.writeFileSync(out.replace(/\.json$/, '.train'), 'mine');
        return ['train-dist', '--images', CHAIR_REFS, '--out', out];
      },
    },
    { name: 'train-dist to .txt', make: () => ['train-dist', '--images', CHAIR_REFS, '--out', fresh('t.txt')] },
    { name: 'import-dist over a JSON', make: () => ['import-dist', NPZ, '--out', userFile('i.json', '[]')] },
    { name: 'generate into a file', make: () => ['generate', '--prompt', 'a red chair', '--n', '1', '--out', userFile('g')] },
    { name: 'generate into a folder with notes', make: () => ['generate', '--prompt', 'a red chair', '--n', '1', '--out', userFolder()] },
    { name: 'generate into /sys', make: () => ['generate', '--prompt', 'a red chair', '--n', '1', '--out', '/sys/g'] },
  ];
  fuzz('output paths', outCases);

  it('covers at least 100 generated cases', () => {
    console.log(`fuzz: ${total} cases`);
    expect(total).toBeGreaterThanOrEqual(100);
  });
});
