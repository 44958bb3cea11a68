/**
 * `dd3d queue` against a real redis-server on a random loopback port, with tiny settings:
 * 6 asset jobs on 2 worker processes (the built CLI), one worker SIGKILLed mid-job, Redis
 * restarted once, another worker stopped with SIGINT mid-job. The assets must all finish,
 * once each, byte-equal to a local `dd3d generate` with the same seed, and no half-written
 * asset may ever be visible in --out. Also: malformed payloads are rejected (never run), and
 * a bad or unreachable Redis is one error line within seconds.
 *
 * Skipped, with a message, when redis-server is not installed (CI installs it: .ci/run).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/backend/backend.js';
import { saveDistribution, textEncoderHash } from '../../../src/distribution/distribution-file.js';
import { encodeContext, fitGaussian } from '../../../src/distribution/prompt-learner.js';
import { buildTemplate } from '../../../src/distribution/prompt-template.js';
import { DiffusionModel } from '../../../src/pipeline/diffusion-model.js';
import { GENERATE_DEFAULTS } from '../../../src/generate/config.js';
import { JOB_NAME, jobIdFor, parsePayload, type QueueJobPayload } from '../../../src/queue/payload.js';
import { claimOutFolder, queueStatus, RUN_MARKER } from '../../../src/queue/queue.js';
import { exportTinyModel } from '../../../src/train/export.js';
import { allVariables, buildTinyModel } from '../../../src/train/pretrain.js';
import { PRETRAIN_CONFIGS } from '../../../src/train/pretrain-configs.js';
import { listAssets } from '../../../src/view/assets.js';
import { cliPath, expectOneLineError, runCli } from '../../helpers/cli.js';

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
if (!hasRedis) console.warn('test/queue.test.ts: skipped, redis-server is not installed (apt-get install redis-server)');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-queue-'));
const modelDir = path.join(tmp, 'model');
const distFile = path.join(tmp, 'dist.json');
const out = path.join(tmp, 'out');
const local = path.join(tmp, 'local');
/** Tiny but long enough to be killed mid-job: 12 iterations, a checkpoint every 2. */
const ITERS = 12;
const settings = ['--model', modelDir, '--seed', '5', '--iters', String(ITERS), '--res', '16', '--samples', '8', '--mesh-res', '32', '--preview-every', '0'];
const N = 6;

/** A free loopback port (closed again at once; redis-server takes it right after). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A redis-server with an append-only file (fsync always), so a restart keeps the queue. */
class RedisServer {
  child: ChildProcess | null = null;
  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}
  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 200; i++) {
      const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        // not up yet
      } finally {
        probe.disconnect();
      }
      await sleep(50);
    }
    throw new Error(`redis-server did not start on port ${this.port}`);
  }
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

/** `dd3d queue worker` as a child process, with its log lines. */
class WorkerProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  constructor(url: string, name: string, extra: string[] = []) {
    this.child = spawn(
      process.execPath,
      [cliPath, 'queue', 'worker', '--redis', url, '--model', modelDir, '--concurrency', '1', '--stall-seconds', '3', ...extra],
      {
        env: { ...process.env, DD3D_BACKEND: 'wasm' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let partial = '';
    this.child.stderr!.on('data', (d: Buffer) => {
      const text = partial + d.toString();
      const lines = text.split('\n');
      partial = lines.pop()!;
      for (const l of lines) this.lines.push(`${name} ${l}`);
    });
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }
  /** The asset it is working on: the last one it started and has not finished or released. */
  current(): string | null {
    let asset: string | null = null;
    for (const l of this.lines) {
      const started = / (asset-\d+) \(dd3d-[0-9a-f]+-\d+\): started/.exec(l);
      if (started) asset = started[1]!;
      else if (asset && new RegExp(` ${asset}: (done|released|failed|already)`).test(l)) asset = null;
    }
    return asset;
  }
  alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}

const partial = (asset: string) => path.join(out, `.${asset}.partial`);
const checkpointStep = (asset: string): number => {
  try {
    return JSON.parse(fs.readFileSync(path.join(partial(asset), 'checkpoint', 'state.json'), 'utf8')).step;
  } catch {
    return 0;
  }
};

describe.skipIf(!hasRedis)('dd3d queue', () => {
  let redis: RedisServer;
  let client: Redis;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    await initBackend('wasm');
    // a random-weight pixel model built like dd3d-tiny, and a distribution of random prompts for it
    const config = PRETRAIN_CONFIGS.test!;
    const m = buildTinyModel(config, 5);
    exportTinyModel(modelDir, m, allVariables(m), config, {});
    const model = DiffusionModel.load(modelDir);
    const [k, mCtx, d] = [3, 2, model.textEncoder.hiddenSize];
    const ctx = tf.randomNormal([k, mCtx, d], 0, 0.5, 'float32', 9) as tf.Tensor3D;
    const template = buildTemplate(model.tokenizer, 'a', '', mCtx, model.textEncoder.maxLength);
    const g = tf.tidy(() => fitGaussian(encodeContext(model.textEncoder, template, ctx).states) as unknown as tf.TensorContainerObject) as unknown as {
      mu: tf.Tensor2D;
      sigma: tf.Tensor2D;
    };
    const arr = (t: tf.Tensor) => ({ shape: t.shape, data: t.dataSync() as Float32Array });
    saveDistribution(distFile, {
      model: { path: modelDir, text_encoder_hash: textEncoderHash(modelDir) },
      prompts: k,
      ctx_length: mCtx,
      prefix: 'a',
      suffix: '',
      ctx: arr(ctx),
      mu: arr(g.mu),
      sigma: arr(g.sigma),
      components: null,
      training: { steps: 0 },
    });
    tf.dispose([ctx, g.mu, g.sigma]);
    model.dispose();
    const dataDir = path.join(tmp, 'redis');
    fs.mkdirSync(dataDir);
    redis = new RedisServer(await freePort(), dataDir);
    await redis.start();
    client = new Redis(redis.url, { maxRetriesPerRequest: null });
    client.on('error', () => undefined);
  });

  afterAll(async () => {
    for (const w of workers) if (w.alive()) w.child.kill('SIGKILL');
    client?.disconnect();
    await redis?.stop();
  });

  it('queue add enqueues one job per instance; adding the same run again adds nothing', async () => {
    const add = runCli([
      'queue',
      'add',
      '--dist',
      distFile,
      '--n',
      String(N),
      '--out',
      out,
      '--redis',
      redis.url,
      '--checkpoint-every',
      '2',
      '--json',
      ...settings,
    ]);
    expect(add.status, add.stderr).toBe(0);
    const first = JSON.parse(add.stdout);
    expect(first).toMatchObject({ n: N, added: N, queued: 0, done: 0, out });
    expect(first.run).toMatch(/^[0-9a-f]{16}$/);
    const again = JSON.parse(
      runCli(['queue', 'add', '--dist', distFile, '--n', String(N), '--out', out, '--redis', redis.url, '--checkpoint-every', '2', '--json', ...settings])
        .stdout,
    );
    expect(again).toMatchObject({ run: first.run, added: 0, queued: N });
    // a malformed payload, and a well-formed one with a bad setting, for the workers to reject
    const queue = new Queue('dd3d', { connection: client });
    const good = (await queue.getJob(jobIdFor(first.run, 0)))!.data as QueueJobPayload;
    const bad: QueueJobPayload = { ...good, instance: 7, config: { ...good.config, iters: 0 } };
    await queue.add(JOB_NAME, { format: 'dd3d-queue-job', version: 1, run: 'not hex' }, { jobId: 'garbage' });
    await queue.add(JOB_NAME, bad, { jobId: jobIdFor(first.run, 7) });
    await queue.close();
  }, 120_000);

  it('2 workers finish all 6 assets through a SIGKILL, a Redis restart and a Ctrl-C; each equals the local run and none is ever half-visible', async () => {
    workers.push(new WorkerProcess(redis.url, 'A'), new WorkerProcess(redis.url, 'B'));
    const [a, b] = workers as [WorkerProcess, WorkerProcess];
    const seen: string[] = [];
    let killed: { asset: string; step: number } | null = null;
    let interrupted: { asset: string; worker: WorkerProcess } | null = null;
    let restarted = false;
    let sawProgress = false;
    let c: WorkerProcess | null = null;
    let d: WorkerProcess | null = null;
    const deadline = Date.now() + 200_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`timed out; worker logs:\n${workers.flatMap((w) => w.lines).join('\n')}`);
      // what `dd3d view` would list right now: only finished assets, each with its manifest
      for (const name of fs.existsSync(out) ? fs.readdirSync(out) : []) {
        if (name.startsWith('.')) continue;
        if (!/^asset-\d{3}$/.test(name) || !fs.existsSync(path.join(out, name, 'manifest.json'))) seen.push(`${name}: visible before it was complete`);
      }
      const listing = await listAssets(fs.realpathSync(out));
      for (const r of listing.assets) if (r.kind !== 'generated' || r.problem) seen.push(`view lists ${r.path} as ${r.kind} (${r.problem})`);
      const status = await queueStatus(client, 'dd3d').catch(() => null);
      if (status?.active.some((j) => j.iter !== null && j.iter > 0 && j.iters === ITERS)) sawProgress = true;
      // 1. SIGKILL worker A once its job has a checkpoint
      const aAsset = a.current();
      if (!killed && aAsset && checkpointStep(aAsset) > 0) {
        a.child.kill('SIGKILL');
        await a.exited;
        killed = { asset: aAsset, step: checkpointStep(aAsset) };
      }
      // 2. then restart Redis, and start a replacement worker C (two workers again)
      if (killed && !restarted) {
        await redis.stop();
        await redis.start();
        restarted = true;
        c = new WorkerProcess(redis.url, 'C');
        workers.push(c);
      }
      // 3. Ctrl-C worker B in the middle of a later job, once its checkpoint exists (and well before its end)
      const bAsset = b.current();
      const bStep = bAsset ? checkpointStep(bAsset) : 0;
      if (restarted && !interrupted && bAsset && bAsset !== killed?.asset && bStep > 0 && bStep <= ITERS / 2 && b.alive()) {
        b.child.kill('SIGINT');
        interrupted = { asset: bAsset, worker: b };
      }
      // 4. and a replacement for B once it has exited
      if (interrupted && !d && !b.alive()) {
        d = new WorkerProcess(redis.url, 'D');
        workers.push(d);
      }
      if (status && status.counts.done === N && status.counts.active === 0) break;
      if (workers.every((w) => !w.alive())) throw new Error(`every worker stopped; logs:\n${workers.flatMap((w) => w.lines).join('\n')}`);
      await sleep(100);
    }
    const logs = workers.flatMap((w) => w.lines).join('\n');
    expect(seen, logs).toEqual([]);
    expect(killed, logs).not.toBeNull();
    expect(interrupted, logs).not.toBeNull();
    // B let go of its job at once and exited cleanly; someone resumed it from its checkpoint
    expect(await b.exited, logs).toBe(0);
    expect(logs).toMatch(new RegExp(`B .* ${interrupted!.asset}: released to the queue`));
    expect(logs).toMatch(new RegExp(`[CD] .* ${interrupted!.asset} \\(dd3d-[0-9a-f]+-\\d+\\): started, resuming from iteration [1-9]`));
    // the killed job was handed on after its lock expired and resumed, not restarted
    expect(logs).toMatch(new RegExp(`[BCD] .* ${killed!.asset} \\(dd3d-[0-9a-f]+-\\d+\\): started, resuming from iteration [1-9]`));
    expect(sawProgress, "queue status showed an active job's progress").toBe(true);
    for (const w of [c!, d].filter((w): w is WorkerProcess => w !== null && w.alive())) {
      w.child.kill('SIGTERM');
      expect(await w.exited, logs).toBe(0);
    }

    // each asset exactly once, byte-equal to a local generate with the same seed and settings
    const gen = runCli(['generate', '--dist', distFile, '--n', String(N), '--out', local, ...settings]);
    expect(gen.status, gen.stderr).toBe(0);
    const assets = Array.from({ length: N }, (_, i) => `asset-${String(i).padStart(3, '0')}`);
    expect(
      fs
        .readdirSync(out)
        .filter((n) => !n.startsWith('.'))
        .sort(),
    ).toEqual(assets);
    for (const asset of assets) {
      for (const f of ['asset.glb', 'turntable.png', 'preview.png']) {
        expect(fs.readFileSync(path.join(out, asset, f)).equals(fs.readFileSync(path.join(local, asset, f))), `${asset}/${f}`).toBe(true);
      }
      const [q, l] = [out, local].map((d) => JSON.parse(fs.readFileSync(path.join(d, asset, 'manifest.json'), 'utf8')));
      expect(q.instance_noise_hash).toBe(l.instance_noise_hash);
      expect(q.source.path).toBe(l.source.path);
      expect(q.iterations).toBe(ITERS);
      // the same settings but for the queue's checkpoint interval
      expect({ ...q.settings, checkpointEvery: 0 }).toEqual({ ...l.settings, checkpointEvery: 0 });
      expect(fs.existsSync(path.join(out, asset, 'checkpoint'))).toBe(false);
    }
  }, 300_000);

  it('queue status counts the jobs and gives each failed one its one-line error; malformed jobs were never run', async () => {
    const r = runCli(['queue', 'status', '--redis', redis.url, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.counts).toMatchObject({ waiting: 0, active: 0, done: N, failed: 2 });
    const errors = Object.fromEntries(s.failed.map((f: { id: string; error: string }) => [f.id, f.error]));
    expect(errors.garbage).toBe('malformed job payload (job garbage): "instance" is missing');
    expect(Object.values(errors).some((e) => /"config\.iters" must be an integer from 1/.test(e as string))).toBe(true);
    expect(fs.existsSync(path.join(out, 'asset-007'))).toBe(false);
    expect(fs.existsSync(partial('asset-007'))).toBe(false);
    const text = runCli(['queue', 'status', '--redis', redis.url]);
    expect(text.stdout).toMatch(/^queue dd3d: 0 waiting, 0 active, 6 done, 2 failed$/m);
    expect(text.stdout).toMatch(/failed .*garbage .*: malformed job payload/);
    // and adding the finished run again adds nothing
    const again = JSON.parse(
      runCli(['queue', 'add', '--dist', distFile, '--n', String(N), '--out', out, '--redis', redis.url, '--checkpoint-every', '2', '--json', ...settings])
        .stdout,
    );
    expect(again).toMatchObject({ added: 0, queued: 0, done: N });
    // another run cannot share the folder: its instances would be taken for done
    expectOneLineError(
      runCli(['queue', 'add', '--dist', distFile, '--n', String(N), '--out', out, '--redis', redis.url, ...settings, '--seed', '6']),
      /--out: .* holds the assets of another queue run/,
    );
  }, 60_000);

  it('a job that keeps failing ends in failed after its attempts, with its one-line error', async () => {
    // a job for the built-in model, on a worker that has only the test model
    const add = runCli([
      'queue',
      'add',
      '--prompt',
      'a red chair',
      '--n',
      '1',
      '--iters',
      '2',
      '--attempts',
      '2',
      '--out',
      path.join(tmp, 'other'),
      '--redis',
      redis.url,
      '--queue',
      'other',
      '--json',
    ]);
    expect(add.status, add.stderr).toBe(0);
    const w = new WorkerProcess(redis.url, 'E', ['--queue', 'other']);
    workers.push(w);
    const deadline = Date.now() + 60_000;
    let s = await queueStatus(client, 'other');
    while (s.counts.failed === 0 && Date.now() < deadline) {
      await sleep(250);
      s = await queueStatus(client, 'other');
    }
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(s.failed, w.lines.join('\n')).toHaveLength(1);
    expect(s.failed[0]).toMatchObject({ asset: 'asset-000', attempts: 2 });
    expect(s.failed[0]!.error).toMatch(
      /^the job needs the model .*dd3d-mv \(sha256:[0-9a-f]{12}…\); this worker's .*model is sha256:[0-9a-f]{12}… \(start the worker with --model\)$/,
    );
    expect(w.lines.filter((l) => / asset-000: failed: the job needs the model/.test(l))).toHaveLength(2);
  }, 120_000);
});

describe('dd3d queue without a Redis to talk to', () => {
  it('parsePayload rejects malformed payloads with one line naming the key', () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /"payload" must be an object/],
      [{ format: 'x' }, /"format" must be "dd3d-queue-job"/],
      [{ format: 'dd3d-queue-job', version: 2 }, /"version" must be 1/],
      [{ format: 'dd3d-queue-job', version: 1 }, /"run" is missing/],
    ];
    for (const [data, pattern] of cases) expect(() => parsePayload(data)).toThrow(pattern);
    // a whole payload: the mesh level is a rule or a density, the shading chances sum to 1
    const whole = (level: unknown, shading: Partial<typeof GENERATE_DEFAULTS.shading> = {}) => ({
      format: 'dd3d-queue-job',
      version: 1,
      run: '0123456789abcdef',
      instance: 0,
      seed: 0,
      out: path.resolve(tmp, 'out'),
      source: { kind: 'prompt', prompt: 'a red chair' },
      model: { fingerprint: `sha256:${'0'.repeat(64)}`, label: 'dd3d-tiny' },
      sampling: { steps: 8, guidance: 3 },
      config: { ...GENERATE_DEFAULTS, mesh: { ...GENERATE_DEFAULTS.mesh, level }, shading: { ...GENERATE_DEFAULTS.shading, ...shading } },
    });
    for (const level of ['auto', 'half-max', 2.5]) expect(parsePayload(whole(level)).config.mesh.level).toBe(level);
    for (const level of ['lace', 0, -1, null, {}])
      expect(() => parsePayload(whole(level))).toThrow(/"config\.mesh\.level" must be "auto", "half-max" or a number > 0/);
    expect(parsePayload(whole('auto', { albedo: 0, lambertian: 0.5, textureless: 0.5 })).config.shading.textureless).toBe(0.5);
    for (const shading of [{ albedo: 0.5 }, { albedo: -0.25, lambertian: 1 }])
      expect(() => parsePayload(whole('auto', shading))).toThrow(/"config\.shading" must be chances of albedo, lambertian and textureless ≥ 0 that sum to 1/);
  });

  it("a FIFO in place of --out's run marker or of --dist is a one-line error, not a read that blocks forever", () => {
    const out = path.join(tmp, 'fifo-marker');
    fs.mkdirSync(out);
    spawnSync('mkfifo', [path.join(out, RUN_MARKER)]);
    expect(() => claimOutFolder(out, '0123456789abcdef')).toThrow(
      /holds the assets of another queue run \(its \.dd3d-queue-run\.json is not a run marker dd3d can read\)/,
    );
    const dist = path.join(tmp, 'fifo.json');
    spawnSync('mkfifo', [dist]);
    const r = runCli(['queue', 'add', '--dist', dist, '--out', path.join(tmp, 'fifo-out'), '--redis', 'redis://127.0.0.1:1']);
    expectOneLineError(r, /fifo\.json: expected a distribution file, got a named pipe \(FIFO\)/);
  });

  it('a bad Redis URL or an unreachable server is one error line within seconds, and nothing is written', async () => {
    // a port nobody listens on, and a server that accepts connections but never answers
    const closed = await freePort();
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as net.AddressInfo).port;
    const nowhere = path.join(tmp, 'nowhere');
    try {
      const timed = (args: string[]) => {
        const t0 = Date.now();
        const r = runCli(args);
        return { r, seconds: (Date.now() - t0) / 1000 };
      };
      const cases: Array<[string[], RegExp]> = [
        [['queue', 'status', '--redis', `redis://127.0.0.1:${closed}`], /--redis redis:\/\/127\.0\.0\.1:\d+: cannot reach Redis \(connect ECONNREFUSED/],
        [['queue', 'worker', '--redis', `redis://127.0.0.1:${closed}`], /cannot reach Redis/],
        [
          ['queue', 'add', '--dist', 'examples/chair.json', '--out', nowhere, '--redis', `redis://:secret@127.0.0.1:${closed}`],
          /--redis redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: cannot reach Redis/,
        ],
        [['queue', 'status', '--redis', `redis://127.0.0.1:${silentPort}`], /cannot reach Redis \(timed out\)/],
        [['queue', 'status', '--redis', 'localhost:6379'], /--redis localhost:6379: expected redis:\/\//],
        [['queue', 'status', '--redis', 'not a url'], /not a URL/],
      ];
      for (const [args, pattern] of cases) {
        const { r, seconds } = timed(args);
        expectOneLineError(r, pattern);
        expect(r.stderr).not.toContain('secret');
        // the 5 s connect deadline plus a loaded machine's process start
        expect(seconds, args.join(' ')).toBeLessThan(15);
      }
      expect(fs.existsSync(nowhere)).toBe(false);
    } finally {
      silent.close();
    }
  }, 120_000);
});
