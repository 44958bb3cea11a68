/**
 * `dd3d queue add | status | worker`: `generate` spread over many machines through a Redis
 * job queue (BullMQ). `add` turns a run into one job per instance, `worker` runs jobs with
 * the same asset job as `generate` (src/queue/), `status` shows where they are.
 *
 * Conventions: BullMQ and ioredis are imported when a queue command runs, not when the CLI
 * starts (they take a noticeable part of a second to load, which every other command would
 * pay); `add` takes generate's own settings flags (the Option objects of the
 * generate command, so names, parsers, defaults and help cannot drift); every Redis problem
 * is one line within a few seconds (src/queue/redis.ts); the worker logs one line per event
 * to stderr and stops cleanly on the first Ctrl-C (SIGINT or SIGTERM), at once on the second.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError, type Option } from 'commander';
import { defaultWorkers } from '../backend/worker-pool.js';
import { Dd3dError } from '../core/errors.js';
import { loadDistribution } from '../distribution/distribution-file.js';
import { copyReferences } from '../generate/asset-job.js';
import { GENERATE_DEFAULTS } from '../generate/config.js';
import { sha256Hex } from '../queue/dist-store.js';
import { modelFingerprint } from '../queue/model-id.js';
import { DEFAULT_QUEUE, JOB_FORMAT, JOB_VERSION, MAX_INSTANCES, runId, type QueueJobPayload } from '../queue/payload.js';
import type { QueueStatus } from '../queue/queue.js';
import { startBackend } from './common.js';
import { applyModelSettings, registerGenerate, settingsFromFlags, type GenerateSettingsFlags } from './generate.js';
import { loadModel, MODEL_FLAG_HELP, resolveModelDir, samplingSettings } from './model-flag.js';
import { intOption } from './options.js';
import { readRegularFile } from '../io/regular-file.js';

interface AddFlags extends GenerateSettingsFlags {
  n: number;
  out: string;
  checkpointEvery: number;
  attempts: number;
  redis: string;
  queue: string;
  json?: boolean;
}

/** generate's flags that are not settings of an asset: `add` has its own (--n, --out, --json) or none (workers are the queue's). */
const NOT_SETTINGS = new Set(['--n', '--out', '--workers', '--resume', '--json']);

/** The Option objects of `dd3d generate` that set an asset's settings, from a private copy of the command. */
function generateSettingOptions(): Option[] {
  const scratch = new Command();
  registerGenerate(scratch);
  const generate = scratch.commands.find((c) => c.name() === 'generate');
  if (!generate) throw new Error('dd3d queue: the generate command is not registered');
  return generate.options.filter((o) => !NOT_SETTINGS.has(o.long ?? ''));
}

const REDIS_HELP = "the queue's Redis server, redis://[user:password@]host[:port][/db] (rediss:// for TLS)";
const QUEUE_HELP = 'queue name: runs on different queues do not share workers';

/** BullMQ builds Redis keys from the name (":" separates their parts). */
function queueName(value: string): string {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(value)) throw new InvalidArgumentError('expected 1–64 letters, digits, ".", "_" or "-".');
  return value;
}

export function registerQueue(program: Command): void {
  const queue = program
    .command('queue')
    .description('scale-out: spread `generate` over many machines through a Redis job queue (add jobs, run workers, watch status)')
    .addHelpText(
      'after',
      `
Every machine runs "dd3d queue worker" and sees --out at the same path (a shared folder).
Assets equal those of "dd3d generate" with the same settings, seed and instance.
See docs/scale-out.md.

Example:
  redis-server --appendonly yes &
  dd3d queue add --dist examples/chair.json --n 100 --out /shared/chairs --redis redis://queue-host:6379
  dd3d queue worker --redis redis://queue-host:6379        # on each machine
  dd3d queue status --redis redis://queue-host:6379`,
    );

  const add = queue
    .command('add')
    .description(
      "enqueue --n asset jobs (instances 0…n−1 of --dist, or of --prompt), with generate's settings; re-adding the same run adds only what is missing and retries what failed",
    );
  add
    .requiredOption('--redis <url>', REDIS_HELP)
    .requiredOption(
      '--out <dir>',
      'the shared output folder: every worker must see it at this same absolute path; workers write asset-NNN/ there as generate does',
    )
    .option('--n <count>', 'number of assets (instances 0…n−1)', intOption(1, MAX_INSTANCES), 3);
  for (const o of generateSettingOptions()) add.addOption(o);
  add
    .option(
      '--checkpoint-every <n>',
      'iterations between checkpoints in --out: what a job killed mid-way loses at most',
      intOption(1),
      GENERATE_DEFAULTS.checkpointEvery,
    )
    .option('--attempts <n>', 'tries per job before it is failed', intOption(1, 100), 3)
    .option('--queue <name>', QUEUE_HELP, queueName, DEFAULT_QUEUE)
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText(
      'after',
      `
Each job carries the instance, the seed and the settings; the distribution's content is
stored once in Redis by its sha-256, so workers never read the adder's files. The job ids
are derived from the run (distribution, model, seed, settings, --out) and the instance.
The model is checked before anything is queued, and each worker must run the same model
(its --model; the built-in one by default, so jobs added from a distribution
learned with another model need that model's --model on the workers).

Examples:
  dd3d queue add --dist examples/chair.json --n 1000 --out /shared/chairs --redis redis://10.0.0.5:6379
  dd3d queue add --prompt "a red chair" --n 10 --iters 300 --out /shared/red --redis redis://localhost`,
    )
    .action(async (opts: AddFlags, cmd: Command) => {
      if (!opts.prompt === !opts.dist) throw new Dd3dError('--prompt/--dist: give exactly one of them');
      const [{ checkRedisUrl, connectRedis, redisCall }, { addRun, claimOutFolder }] = await Promise.all([
        import('../queue/redis.js'),
        import('../queue/queue.js'),
      ]);
      checkRedisUrl(opts.redis);
      const out = path.resolve(opts.out);
      checkQueueOut(out);
      const distBytes = opts.dist ? readDistribution(opts.dist) : null;
      const dist = opts.dist ? loadDistribution(opts.dist) : null;
      const modelDir = resolveModelDir(opts.model, dist ? [dist] : []);
      // Redis first: a wrong URL should not wait for the model to load
      const redis = await connectRedis(opts.redis, 'client');
      try {
        const config = settingsFromFlags(opts);
        config.checkpointEvery = opts.checkpointEvery;
        await startBackend(cmd);
        const model = loadModel(modelDir);
        let sampling: QueueJobPayload['sampling'];
        try {
          applyModelSettings(config, opts, model, modelDir, dist);
          sampling = samplingSettings({}, model);
        } finally {
          model.dispose();
        }
        fs.mkdirSync(out, { recursive: true });
        const references = dist ? copyReferences(dist, out) : [];
        const base = {
          seed: opts.seed,
          out,
          source: distBytes
            ? ({ kind: 'distribution', sha256: sha256Hex(distBytes), label: opts.dist!, stdScale: opts.stdScale, references } as const)
            : ({ kind: 'prompt', prompt: opts.prompt! } as const),
          model: { fingerprint: modelFingerprint(modelDir), label: opts.model ?? path.relative(process.cwd(), modelDir) },
          sampling,
          config,
        };
        const run = runId(base);
        claimOutFolder(out, run);
        const payloads: QueueJobPayload[] = Array.from({ length: opts.n }, (_, instance) => ({
          format: JOB_FORMAT,
          version: JOB_VERSION,
          run,
          instance,
          ...base,
        }));
        const s = await redisCall(opts.redis, () => addRun(redis, opts.queue, payloads, { attempts: opts.attempts, distribution: distBytes }));
        if (opts.json) console.log(JSON.stringify({ queue: opts.queue, out, n: opts.n, ...s }));
        else
          console.error(
            `queue ${opts.queue}: run ${s.run}: ${s.added} added, ${s.queued} already queued, ${s.done} done, ${s.retried} failed ones retried; assets go to ${out}`,
          );
      } finally {
        redis.disconnect();
      }
    });

  queue
    .command('status')
    .description('waiting, active, done and failed jobs; the progress of each active one and the error of each failed one')
    .requiredOption('--redis <url>', REDIS_HELP)
    .option('--queue <name>', QUEUE_HELP, queueName, DEFAULT_QUEUE)
    .option('--json', 'print the status as JSON on stdout')
    .addHelpText('after', '\nExamples:\n  dd3d queue status --redis redis://localhost:6379\n  watch -n 10 dd3d queue status --redis redis://localhost:6379')
    .action(async (opts: { redis: string; queue: string; json?: boolean }) => {
      const [{ connectRedis, redisCall }, { queueStatus }] = await Promise.all([import('../queue/redis.js'), import('../queue/queue.js')]);
      const redis = await connectRedis(opts.redis, 'client');
      try {
        const s = await redisCall(opts.redis, () => queueStatus(redis, opts.queue));
        if (opts.json) console.log(JSON.stringify(s));
        else console.log(formatStatus(s));
      } finally {
        redis.disconnect();
      }
    });

  queue
    .command('worker')
    .description(
      'run asset jobs from the queue until stopped: one asset per thread; Ctrl-C releases running jobs back to the queue (they resume from their checkpoints)',
    )
    .requiredOption('--redis <url>', REDIS_HELP)
    .option('--concurrency <n>', 'assets at once, each on its own thread (default: the cores)', intOption(1, 64), defaultWorkers(64))
    .option('--model <dir>', `${MODEL_FLAG_HELP}; must be the model the jobs were added with (checked by fingerprint)`)
    .option('--queue <name>', QUEUE_HELP, queueName, DEFAULT_QUEUE)
    .option(
      '--stall-seconds <s>',
      'a job whose worker has not renewed its lock for this long is handed to another worker (BullMQ lockDuration and stalled-check interval)',
      intOption(1, 3600),
      30,
    )
    .option('--max-stalls <k>', 'times a job may be handed on this way before it is failed', intOption(1, 100), 5)
    .addHelpText(
      'after',
      `
Logs one line per event on stderr. A worker killed outright loses at most one checkpoint
interval of its job: after --stall-seconds another worker resumes it. A Redis restart
pauses the worker until Redis is back. Redis must be reachable at start (else one error line).

Examples:
  dd3d queue worker --redis redis://10.0.0.5:6379
  dd3d queue worker --redis redis://10.0.0.5:6379 --concurrency 1 --model sd21/`,
    )
    .action(async (opts: { redis: string; concurrency: number; model?: string; queue: string; stallSeconds: number; maxStalls: number }, cmd: Command) => {
      const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} queue worker: ${line}\n`);
      const [{ checkRedisUrl }, { startQueueWorker }] = await Promise.all([import('../queue/redis.js'), import('../queue/worker.js')]);
      checkRedisUrl(opts.redis);
      // the asset threads start the main thread's backend (worker-pool.ts), as generate's do
      await startBackend(cmd);
      const worker = await startQueueWorker({
        redis: opts.redis,
        queue: opts.queue,
        concurrency: opts.concurrency,
        modelDir: resolveModelDir(opts.model),
        stallSeconds: opts.stallSeconds,
        maxStalls: opts.maxStalls,
        log,
      });
      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          if (++signals > 1) process.exit(130);
          log(`${signal}: releasing running jobs to the queue and stopping (again to quit at once)`);
          // a Redis that is down can hold the release back: do not hang on it
          setTimeout(() => {
            log('could not release cleanly within 20 s; quitting (the jobs return to the queue when their locks expire)');
            process.exit(1);
          }, 20_000).unref();
          worker.stop().then(resolve, (e: Error) => {
            log(`warning: ${e.message}`);
            resolve();
          });
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      log('stopped');
    });
}

function readDistribution(file: string): Buffer {
  if (!fs.existsSync(file)) throw new Dd3dError(`${file}: distribution file not found`);
  return readRegularFile(file, 'a distribution file');
}

/** --out: new, or a folder of assets (finished or in progress) and their references; the queue adds to it. */
function checkQueueOut(out: string): void {
  if (!fs.existsSync(out)) {
    if (!fs.existsSync(path.dirname(out))) throw new Dd3dError(`--out: the parent folder of ${out} does not exist`);
    return;
  }
  if (!fs.statSync(out).isDirectory()) throw new Dd3dError(`--out: ${out} is a file; give a folder`);
  const other = fs.readdirSync(out).find((e) => !e.startsWith('.') && !/^asset-\d{3,}$/.test(e) && e !== 'references');
  if (other !== undefined) throw new Dd3dError(`--out: ${out} holds other files (${other}); give a new, empty or earlier queue/generate folder`);
}

function formatStatus(s: QueueStatus): string {
  const c = s.counts;
  const lines = [
    `queue ${s.queue}: ${c.waiting} waiting, ${c.active} active, ${c.done} done, ${c.failed} failed${c.delayed ? `, ${c.delayed} waiting to retry` : ''}`,
  ];
  for (const a of s.active) {
    const progress = a.iter !== null && a.iters ? `${a.iter}/${a.iters} iterations (${Math.floor((100 * a.iter) / a.iters)}%)` : 'starting';
    lines.push(`  active  ${a.asset ?? '?'}  ${progress}  ${a.id}`);
  }
  for (const f of s.failed) lines.push(`  failed  ${f.asset ?? '?'}  ${f.id}  after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}: ${f.error}`);
  return lines.join('\n');
}
