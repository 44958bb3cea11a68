/**
 * Issue #12's defects 2–9, one test each (every one failed before its fix): user files are
 * never deleted or overwritten without --force, sizes are bounded before allocation, every
 * failure is one line and exit 1, non-finite values are errors. Commands run in-process
 * (test/helpers/in-process.ts) except where only a real process shows the behaviour (crash
 * handlers, exit status, peak memory), which run the built CLI. Torn checkpoints (defect 1)
 * are in test/src/train/checkpoint.test.ts; the generated cases in test/e2e/broken-inputs.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deflateRawSync, constants as zlib } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitFolder, stageFolder, checkOutput } from '../../src/io/output-guard.js';
import { cliPath, expectOneLineError, runCli } from '../helpers/cli.js';
import { brokenModel, CHAIR, CHAIR_REFS, dd3d, expectOneLine, ROOT, snapshot } from '../helpers/in-process.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-safety-'));
const root = process.getuid?.() === 0;
/** Whether another user can reach the checkout (every folder above it searchable by others), to run the CLI as "nobody". */
const othersReach = (dir: string): boolean => dir === path.dirname(dir) || ((fs.statSync(dir).mode & 0o001) !== 0 && othersReach(path.dirname(dir)));
/** A folder nobody may write in: chmod stops other users, only a read-only file system stops root. */
let readOnly: string;
beforeAll(() => {
  readOnly = path.join(tmp, 'read-only');
  fs.mkdirSync(readOnly);
  fs.chmodSync(readOnly, 0o555);
  if (root) readOnly = '/sys';
});
afterAll(() => {
  fs.chmodSync(path.join(tmp, 'read-only'), 0o755);
  fs.rmSync(tmp, { recursive: true, force: true });
});

// one worker: the in-process runs test the command, not the worker pool (test/src/pipeline/sample-pool.test.ts)
const sampleArgs = (out: string, ...more: string[]) => ['sample', '--prompt', 'a red chair', '--steps', '1', '--workers', '1', '--out', out, ...more];

describe("defect 2: a sample folder never loses the user's files", () => {
  it("an earlier sample folder with the user's files in it is refused without --force and kept", async () => {
    const out = path.join(tmp, 'S');
    expect((await dd3d(sampleArgs(out, '--n', '2'))).status).toBe(0);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    fs.mkdirSync(path.join(out, 'keep'));
    fs.writeFileSync(path.join(out, 'keep', 'a.txt'), 'mine');
    const before = snapshot(out);
    expectOneLine(await dd3d(sampleArgs(out)), /S holds files dd3d did not write .*--force/);
    expect(snapshot(out)).toEqual(before);
    // only dd3d's own files: replaced without the flag; with --force, whatever it holds
    fs.rmSync(path.join(out, 'notes.txt'));
    fs.rmSync(path.join(out, 'keep'), { recursive: true });
    expect((await dd3d(sampleArgs(out, '--n', '3'))).status).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['0000.png', '0001.png', '0002.png', 'manifest.json']);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    expect((await dd3d(sampleArgs(out, '--force'))).status).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['0000.png', 'manifest.json']);
    expect(fs.readdirSync(tmp).filter((f) => f.includes('dd3d-'))).toEqual([]);
  });

  it('a swap killed between its renames leaves the old folder in a backup that the next run puts back', () => {
    const out = path.join(tmp, 'swap');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'old.txt'), 'old');
    // as if killed after "old → backup" and before "new → out", by a process that no longer exists
    const dead = 999_999_999;
    fs.renameSync(out, path.join(tmp, `.swap.dd3d-old-${dead}`));
    fs.mkdirSync(path.join(tmp, `.swap.dd3d-new-${dead}`));
    expect(() => checkOutput({ path: out, flag: '--out', kind: 'folder', force: false })).toThrow(/dd3d did not write/);
    expect(fs.readFileSync(path.join(out, 'old.txt'), 'utf8')).toBe('old');
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('.swap'))).toEqual([]);
    // a complete swap: the new folder in place, no backup left
    const staged = stageFolder(out);
    fs.writeFileSync(path.join(staged, 'new.txt'), 'new');
    commitFolder(staged, out);
    expect(fs.readdirSync(out)).toEqual(['new.txt']);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('.swap'))).toEqual([]);
  });

  it('sample --out . from inside a sample folder is refused before any work', async () => {
    const out = path.join(tmp, 'here');
    expect((await dd3d(sampleArgs(out))).status).toBe(0);
    const cwd = process.cwd();
    process.chdir(out);
    try {
      expectOneLine(await dd3d(sampleArgs('.')), /is the current folder or holds it/);
    } finally {
      process.chdir(cwd);
    }
    // no staged output left behind (output-guard.ts's .dd3d-new / .dd3d-old folders, atomic writes' .tmp)
    expect(fs.readdirSync(tmp).filter((f) => /dd3d-new|dd3d-old|\.tmp$/.test(f))).toEqual([]);
  });
});

describe('defect 3: existing files are not overwritten without --force', () => {
  it('sample --out over an image, train-dist and import-dist --out over unrelated JSON stop before any work', async () => {
    const png = path.join(tmp, 'vacation.png');
    const json = path.join(tmp, 'config.json');
    fs.writeFileSync(png, 'my photo');
    fs.writeFileSync(json, '{"mine": true}');
    const t0 = performance.now();
    expectOneLine(await dd3d(sampleArgs(png)), /vacation\.png already exists; pass --force/);
    expectOneLine(await dd3d(['train-dist', '--images', CHAIR_REFS, '--out', json]), /config\.json already exists; pass --force/);
    expectOneLine(
      await dd3d(['import-dist', path.join(ROOT, 'test/fixtures/dreamdistribution-npz/final-1000.npz'), '--out', json]),
      /config\.json already exists/,
    );
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(fs.readFileSync(png, 'utf8')).toBe('my photo');
    expect(fs.readFileSync(json, 'utf8')).toBe('{"mine": true}');
    // --force replaces; a dd3d distribution is recognised by its format key, not its name
    expect((await dd3d(sampleArgs(png, '--force'))).status).toBe(0);
    expect(fs.readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
    // an earlier dd3d distribution passes the guard (the run stops at the next check instead)
    const dist = path.join(tmp, 'user.json');
    fs.copyFileSync(CHAIR, dist);
    expectOneLine(await dd3d(['train-dist', '--images', path.join(tmp, 'nope'), '--out', dist]), /--images: .*nope is not a folder/);
  });
});

describe('scenes and probe outputs', () => {
  it("a folder of the user's files or an existing PNG stops scenes dataset, scenes sheet and probe train before any work; their own earlier outputs do not", async () => {
    const mine = path.join(tmp, 'mine');
    fs.mkdirSync(mine);
    fs.writeFileSync(path.join(mine, 'notes.txt'), 'keep');
    const png = path.join(tmp, 'holiday.png');
    fs.writeFileSync(png, 'my photo');
    expectOneLine(
      await dd3d(['scenes', 'dataset', '--n', '2', '--res', '8', '--out', mine]),
      /--out: .*mine holds files dd3d did not write \(notes\.txt\); pass --force/,
    );
    // (scenes refs has its own guard: test/src/cli/scenes.test.ts)
    expectOneLine(await dd3d(['scenes', 'sheet', '--per-family', '1', '--res', '8', '--out', png]), /holiday\.png already exists; pass --force/);
    expectOneLine(await dd3d(['probe', 'train', '--data', tmp, '--out', mine]), /holds files dd3d did not write/);
    expect(fs.readdirSync(mine)).toEqual(['notes.txt']);
    expect(fs.readFileSync(png, 'utf8')).toBe('my photo');
    // a dataset folder dd3d wrote resumes without --force, into a parent it creates
    const data = path.join(tmp, 'new-parent', 'data');
    expect((await dd3d(['scenes', 'dataset', '--n', '2', '--res', '8', '--out', data])).status).toBe(0);
    expect((await dd3d(['scenes', 'dataset', '--n', '2', '--res', '8', '--out', data])).status).toBe(0);
    expect((await dd3d(['scenes', 'sheet', '--per-family', '1', '--res', '8', '--families', 'chair', '--out', png, '--force'])).status).toBe(0);
    expect(fs.readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
  });
});

describe("pretrain's model folder", () => {
  it("a folder holding the user's files is refused before any work; an earlier dd3d model folder is not", async () => {
    const out = path.join(tmp, 'my-model');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'model_index.json'), '{"mine": true}');
    expectOneLine(
      await dd3d(['pretrain', '--data', path.join(tmp, 'no-data'), '--out', out, '--config', 'test']),
      /my-model holds files dd3d did not write \(model_index\.json\); pass --force/,
    );
    expect(fs.readFileSync(path.join(out, 'model_index.json'), 'utf8')).toBe('{"mine": true}');
    fs.writeFileSync(path.join(out, 'model_index.json'), '{"_dd3d_config": "test"}');
    expectOneLine(await dd3d(['pretrain', '--data', path.join(tmp, 'no-data'), '--out', out, '--config', 'test']), /no-data/);
  });
});

describe('defect 4: the .npz zip bomb', () => {
  /** A 2 MB .npz whose one entry inflates to 2 GiB of zeros (2048 copies of one fully flushed deflate block run). */
  function zipBomb(file: string, header?: Buffer): void {
    const mib = deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: zlib.Z_FULL_FLUSH });
    const head = header ? deflateRawSync(header, { finishFlush: zlib.Z_FULL_FLUSH }) : Buffer.alloc(0);
    const data = Buffer.concat([head, ...new Array(2048).fill(mib), deflateRawSync(Buffer.alloc(0))]);
    const usize = 2 ** 31 + (header?.length ?? 0);
    const name = Buffer.from('means.npy');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(usize, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(usize, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(0, 42);
    const cdOffset = 30 + name.length + data.length;
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(1, 8);
    end.writeUInt16LE(1, 10);
    end.writeUInt32LE(46 + name.length, 12);
    end.writeUInt32LE(cdOffset, 16);
    fs.writeFileSync(file, Buffer.concat([local, name, data, central, name, end]));
  }

  it('import-dist stops at the size check with peak memory under 200 MB', () => {
    const cases: Array<[string, Buffer | undefined, RegExp]> = [['zeros.npz', undefined, /over the limit of 134217728 bytes per array/]];
    for (const [name, header, pattern] of cases) {
      const file = path.join(tmp, name);
      zipBomb(file, header);
      expect(fs.statSync(file).size).toBeLessThan(3e6);
      // the CLI's own path in a child process, which then reports its peak resident memory
      const script = `import { buildProgram } from ${JSON.stringify(path.join(ROOT, 'dist/src/cli/program.js'))};
import { runProgram } from ${JSON.stringify(path.join(ROOT, 'dist/src/cli/run.js'))};
const status = await runProgram(buildProgram(), ['node', 'dd3d', 'import-dist', ${JSON.stringify(file)}, '--out', ${JSON.stringify(path.join(tmp, 'bomb.json'))}]);
console.log(JSON.stringify({ status, maxRssMb: process.resourceUsage().maxRSS / 1024 }));`;
      const t0 = performance.now();
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
      const { status, maxRssMb } = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
      expect(maxRssMb).toBeLessThan(200);
      expect(performance.now() - t0).toBeLessThan(30_000);
      console.log(`zip bomb ${name}: peak RSS ${maxRssMb.toFixed(0)} MB`);
    }
  });
});

describe('defect 5 and 6: reference folders that used to hang or print stack traces', () => {
  it('a FIFO, a folder, a symlinked folder, a symlink loop named *.png: one line naming the file, no hang', async () => {
    const cases: Array<[string, (p: string) => void, RegExp]> = [
      ['pipe.png', (p) => execFileSync('mkfifo', [p]), /pipe\.png: expected an image, got a named pipe/],
      ['dir.png', (p) => fs.mkdirSync(p), /dir\.png: expected an image, got a folder/],
      ['linked.png', (p) => fs.symlinkSync(tmp, p), /linked\.png: expected an image, got a folder/],
      ['loop.png', (p) => fs.symlinkSync(p, p), /loop\.png: cannot read \(a symbolic link loop/],
    ];
    for (const [name, make, pattern] of cases) {
      const dir = path.join(tmp, `refs-${name}`);
      fs.cpSync(CHAIR_REFS, dir, { recursive: true });
      make(path.join(dir, name));
      const t0 = performance.now();
      expectOneLine(await dd3d(['train-dist', '--images', dir, '--out', path.join(tmp, `${name}.json`)]), pattern);
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(fs.existsSync(path.join(tmp, `${name}.train`))).toBe(false);
    }
  });

  it.skipIf(root && !(othersReach(ROOT) && othersReach(os.tmpdir())))('an unreadable image: one line naming it', async () => {
    const dir = path.join(tmp, 'refs-eacces');
    fs.cpSync(CHAIR_REFS, dir, { recursive: true });
    fs.chmodSync(path.join(dir, 'ref-000.png'), 0);
    const args = (out: string) => ['train-dist', '--images', dir, '--out', path.join(out, 'eacces.json')];
    const want = /ref-000\.png: cannot read \(permission denied/;
    if (!root) return expectOneLine(await dd3d(args(tmp)), want);
    // root reads a file of mode 0 anyway, so the built CLI runs as the unprivileged user "nobody",
    // with a folder it may write in
    const out = path.join(tmp, 'nobody');
    fs.mkdirSync(out);
    fs.chmodSync(out, 0o777);
    fs.chmodSync(tmp, 0o755);
    fs.chmodSync(dir, 0o755);
    const r = spawnSync(process.execPath, [cliPath, ...args(out)], {
      cwd: ROOT,
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
      env: { ...process.env, DD3D_BACKEND: 'wasm' },
    });
    expectOneLineError({ status: r.status, stdout: r.stdout, stderr: r.stderr }, want);
  });
});

describe('defect 6: one error path', () => {
  it('a text-encoder weight of the right byte count but the wrong shape', async () => {
    const model = brokenModel(path.join(tmp, 'm-shape'), {
      weights: {
        text_encoder: (t) =>
          void (t.get('encoder.layers.0.layer_norm1.bias') ?? t.get('text_model.encoder.layers.0.layer_norm1.bias'))!.shape.splice(0, 1, 64, 2),
      },
    });
    expectOneLine(
      await dd3d(['sample', '--model', model, ...sampleArgs(path.join(tmp, 'x.png')).slice(1)]),
      /layer_norm1\.bias" has shape \[64,2\], the config .* implies \[128\]/,
    );
  });

  it('a UNet config without block_out_channels, whose message used to throw', async () => {
    const model = brokenModel(path.join(tmp, 'm-boc'), { config: { unet: { block_out_channels: undefined } } });
    expectOneLine(
      await dd3d(['sample', '--model', model, ...sampleArgs(path.join(tmp, 'x.png')).slice(1)]),
      /"block_out_channels" is missing \(expected 3 values/,
    );
  });

  it('outputs in a read-only folder fail before any work: sample, train-dist, generate', async () => {
    for (const args of [
      sampleArgs(path.join(readOnly, 'x.png')),
      sampleArgs(path.join(readOnly, 'folder')),
      ['train-dist', '--images', CHAIR_REFS, '--out', path.join(readOnly, 'd.json')],
      ['generate', '--prompt', 'a red chair', '--n', '1', '--out', path.join(readOnly, 'assets')],
    ]) {
      const t0 = performance.now();
      expectOneLine(await dd3d(args), /--out: cannot write in /);
      expect(performance.now() - t0).toBeLessThan(5000);
    }
  });

  it('<name>.train existing as a file', async () => {
    fs.writeFileSync(path.join(tmp, 'clash.train'), 'mine');
    expectOneLine(await dd3d(['train-dist', '--images', CHAIR_REFS, '--out', path.join(tmp, 'clash.json')]), /clash\.train exists and is not a folder/);
    expect(fs.readFileSync(path.join(tmp, 'clash.train'), 'utf8')).toBe('mine');
  });

  it("a user's file under one of train-dist's names in <name>.train/", async () => {
    const dir = path.join(tmp, 'mine.train');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'loss.png'), 'my plot');
    expectOneLine(
      await dd3d(['train-dist', '--images', CHAIR_REFS, '--out', path.join(tmp, 'mine.json')]),
      /mine\.train\/loss\.png exists and train-dist would replace it, but .*mine\.json is not a dd3d distribution; pass --force/,
    );
    expect(fs.readFileSync(path.join(dir, 'loss.png'), 'utf8')).toBe('my plot');
    expect(fs.existsSync(path.join(tmp, 'mine.json'))).toBe(false);
  });

  it('the built CLI: an error escaping every await, after the wasm backend started, is one line and exit 1, its stack only with DD3D_DEBUG=1', () => {
    // a stray throw in a callback goes through process 'uncaughtException', where emscripten's
    // listener would rethrow it (exit 7 with a stack); dd3d's handler must run first
    const script = `import { installCrashHandlers } from ${JSON.stringify(path.join(ROOT, 'dist/src/cli/run.js'))};
import { initBackend } from ${JSON.stringify(path.join(ROOT, 'dist/src/backend/backend.js'))};
installCrashHandlers();
await initBackend('wasm');
setTimeout(() => { throw new Error('boom'); }, 0);
setTimeout(() => Promise.reject(new Error('never reached')), 50);`;
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
    const r = run({});
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('dd3d: error: internal error: boom (set DD3D_DEBUG=1 for the stack trace)');
    const d = run({ DD3D_DEBUG: '1' });
    expect(d.status).toBe(1);
    expect(d.stderr).toMatch(/^dd3d: error: internal error: boom\nError: boom\n\s+at /);
    // and the entry point itself routes through it
    expect(fs.readFileSync(path.join(ROOT, 'src/cli.ts'), 'utf8')).toMatch(/installCrashHandlers\(\);/);
    expect(fs.existsSync(cliPath)).toBe(true);
  });

  it('the built CLI: a reader that closes stdout early (`dd3d sample --help | true`) stops it quietly, exit 0', () => {
    // `true` exits without reading; the half second before dd3d starts makes sure the help's write meets a closed pipe (EPIPE)
    const r = spawnSync('bash', ['-c', `(sleep 0.5; exec "${process.execPath}" "${cliPath}" sample --help) | true; echo "status \${PIPESTATUS[0]}" >&2`], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr.trim()).toBe('status 0');
  });

  it('the built CLI: a broken model is one line, exit 1', () => {
    const model = brokenModel(path.join(tmp, 'm-cli'), { config: { unet: { block_out_channels: undefined } } });
    expectOneLineError(runCli(['sample', '--model', model, ...sampleArgs(path.join(tmp, 'y.png')).slice(1)]), /block_out_channels/);
  });
});

describe('defect 7: sizes from configs and flags are bounded', () => {
  it('each states its limit, before the work', async () => {
    const out = path.join(tmp, 'big.png');
    const cases: Array<[string[], RegExp]> = [
      [sampleArgs(out, '--height', '100000000'), /--height.*from 1 to 2048/],
      [sampleArgs(out, '--height', '4000000'), /--height.*from 1 to 2048/],
      [sampleArgs(out, '--n', '4096', '--height', '2048', '--width', '2048'), /over the limit of 268435456/],
      [
        ['sample', '--model', brokenModel(path.join(tmp, 'm-ss'), { config: { unet: { sample_size: 1e9 } } }), ...sampleArgs(out).slice(1)],
        /"sample_size" is 1000000000 \(expected an integer from 1 to 1024\)/,
      ],
      [
        [
          'sample',
          '--model',
          brokenModel(path.join(tmp, 'm-ts'), {
            files: {
              'scheduler/scheduler_config.json': JSON.stringify({
                ...JSON.parse(fs.readFileSync(path.join(ROOT, 'models/dd3d-tiny/scheduler/scheduler_config.json'), 'utf8')),
                num_train_timesteps: 1e9,
              }),
            },
          }),
          ...sampleArgs(out).slice(1),
        ],
        /num_train_timesteps.*from 1 to 100000/,
      ],
      [
        ['sample', '--model', brokenModel(path.join(tmp, 'm-is'), { config: { text_encoder: { intermediate_size: 1e9 } } }), ...sampleArgs(out).slice(1)],
        /"intermediate_size" is 1000000000 \(expected an integer from 1 to 65536\)/,
      ],
      [
        ['sample', '--model', brokenModel(path.join(tmp, 'm-is2'), { config: { text_encoder: { intermediate_size: 256 } } }), ...sampleArgs(out).slice(1)],
        /fc1\.weight" has shape \[512,128\], the config .* implies \[256,128\]/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const t0 = performance.now();
      expectOneLine(await dd3d(args), pattern);
      expect(performance.now() - t0).toBeLessThan(10_000);
    }
  });
});

describe('defect 8: silent garbage is an error naming its source', () => {
  it('NaN in a weight, μ = 3e38, a sampler giving infinity, no sample_size, version 2 without components', async () => {
    const out = path.join(tmp, 'garbage.png');
    const nanModel = brokenModel(path.join(tmp, 'm-nan'), { weights: { unet: (t) => void ((t.get('conv_out.bias')!.data as Float32Array)[1] = NaN) } });
    expectOneLine(
      await dd3d(['sample', '--model', nanModel, ...sampleArgs(out).slice(1)]),
      /tensor "conv_out\.bias" holds NaN at element 1; the weights are corrupt/,
    );

    const huge = JSON.parse(fs.readFileSync(CHAIR, 'utf8'));
    const mu = Buffer.from(huge.mu.base64, 'base64');
    mu.writeFloatLE(3e38, 0);
    huge.mu.base64 = mu.toString('base64');
    fs.writeFileSync(path.join(tmp, 'huge.json'), JSON.stringify(huge));
    expectOneLine(
      await dd3d(['sample', '--dist', path.join(tmp, 'huge.json'), '--steps', '1', '--out', out]),
      /huge\.json: "mu" reaches 3\.00e\+38, far outside the range of the text encoder/,
    );

    const infModel = brokenModel(path.join(tmp, 'm-inf'), { weights: { unet: (t) => (t.get('conv_out.weight')!.data as Float32Array).fill(3e38) } });
    expectOneLine(
      await dd3d(['sample', '--model', infModel, ...sampleArgs(out).slice(1)]),
      /the sampler produced (NaN|-?Infinity) in image 0: the model at .*m-inf gives non-finite values/,
    );
    expect(fs.existsSync(out)).toBe(false);

    const noSize = brokenModel(path.join(tmp, 'm-nosize'), { config: { unet: { sample_size: undefined } } });
    expectOneLine(
      await dd3d(['sample', '--model', noSize, ...sampleArgs(out).slice(1)]),
      /no "sample_size", so the image size the model was trained at is unknown; give --height and --width/,
    );
    expect((await dd3d(['sample', '--model', noSize, ...sampleArgs(out, '--height', '16', '--width', '16').slice(1)])).status).toBe(0);

    const v2 = { ...JSON.parse(fs.readFileSync(CHAIR, 'utf8')), version: 2 };
    fs.writeFileSync(path.join(tmp, 'v2.json'), JSON.stringify(v2));
    expectOneLine(
      await dd3d(['sample', '--dist', path.join(tmp, 'v2.json'), '--out', path.join(tmp, 'v2.png')]),
      /v2\.json: "components" is missing: a version-2 distribution is a mixture/,
    );
  });
});

describe('defect 9: --seed bounds', () => {
  it('2^53 − 1 is accepted, 2^53 refused with the bound stated', async () => {
    expect((await dd3d(sampleArgs(path.join(tmp, 'seed.png'), '--seed', '9007199254740991', '--force'))).status).toBe(0);
    expectOneLine(await dd3d(sampleArgs(path.join(tmp, 'seed.png'), '--seed', '9007199254740992')), /--seed.*from 0 to 9007199254740991 \(2\^53 − 1\)/);
  });
});
