#!/usr/bin/env node
/**
 * Kill points (#12): kills train-dist, pretrain, generate and sample with SIGKILL at random
 * moments, then reruns them (--resume where the command has it) until they finish, and checks
 * that nothing was silently wrong or lost:
 *
 * - train-dist, pretrain, generate: the finished output equals, byte for byte, that of an
 *   uninterrupted reference run (a resume that paired the wrong step's tensors and progress, or
 *   skipped work, would differ); generate's assets finished before a kill are never rewritten;
 * - sample, replacing an earlier sample folder: after every kill the folder is there and whole
 *   (its manifest and every image it lists), the old one or the new one, never neither; no
 *   temporary folder survives the next run.
 *
 * Tiny settings, so one kill point costs seconds (more under load). Usage:
 *   npm run build && node examples/kill-points.mjs [kills per command, default 5] [seed]
 * Prints one line per kill point and a summary; exits 1 if any check failed.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'src', 'cli.js');
const kills = Number(process.argv[2] ?? 5);
let seed = Number(process.argv[3] ?? 1) >>> 0;
const random = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-kill-'));
const env = { ...process.env, DD3D_BACKEND: 'wasm' };

/** Runs dd3d to the end; returns its status, stderr and seconds. */
function run(args) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, env, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, seconds: (performance.now() - t0) / 1000 };
}

/** Starts dd3d and SIGKILLs it after `seconds` (if it is still running); resolves whether it was killed. */
function runAndKill(args, seconds) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: work, env, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), seconds * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal === 'SIGKILL');
    });
  });
}

/** sha256 of every file under `dir` (or of one file), by relative path; records and timings excluded. */
function digest(p, skip = /record\.json$|manifest\.json$|loss\.png$|\.train\b|checkpoint|train\//) {
  const h = {};
  const walk = (f) => {
    const s = fs.statSync(f);
    if (s.isDirectory()) for (const e of fs.readdirSync(f).sort()) walk(path.join(f, e));
    else if (!skip.test(path.relative(p, f))) h[path.relative(p, f) || path.basename(f)] = crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex').slice(0, 16);
  };
  walk(p);
  return JSON.stringify(h);
}

/** A distribution file compared by its numbers (its training record holds timings). */
const distDigest = (file) => {
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  return JSON.stringify([j.mu, j.sigma, j.ctx]);
};

const results = [];
function report(command, point, ok, detail) {
  results.push({ command, ok });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${command.padEnd(10)} kill ${String(point).padStart(2)}: ${detail}`);
}

/**
 * One command's kill points: a reference run, then for each kill point a fresh output killed
 * at a random time in (0.3 s, reference time), rerun until it finishes, and compared.
 */
async function killAndResume(command, argsFor, compare, rerunExtra = ['--resume']) {
  const ref = run(argsFor('ref'));
  if (ref.status !== 0) throw new Error(`${command} reference run failed:\n${ref.stderr}`);
  for (let k = 0; k < kills; k++) {
    const name = `k${k}`;
    const at = 0.3 + random() * ref.seconds;
    const killed = await runAndKill(argsFor(name), at);
    let reruns = 0;
    let last;
    // a second kill on some reruns: resuming a resumed run must be exact too
    if (killed && random() < 0.4) await runAndKill([...argsFor(name), ...rerunExtra], 0.3 + random() * ref.seconds);
    do {
      last = run([...argsFor(name), ...rerunExtra]);
      reruns++;
    } while (last.status !== 0 && reruns < 2);
    if (last.status !== 0) {
      report(command, k, false, `rerun failed: ${last.stderr.trim().split('\n').pop()}`);
      continue;
    }
    const same = compare('ref', name);
    report(command, k, same, `killed at ${at.toFixed(1)} s${killed ? '' : ' (had already finished)'}, rerun ${same ? 'equals' : 'DIFFERS from'} the uninterrupted run`);
  }
}

console.log(`kill points in ${work}: ${kills} per command`);

// train-dist: 60 steps (checkpoint at 50) of the built-in model on the example chairs
await killAndResume(
  'train-dist',
  (name) => ['train-dist', '--images', path.join(root, 'examples/chair-refs'), '--out', path.join(work, `${name}.json`), '--prompts', '2', '--steps', '60', '--batch', '2', '--samples', '1', '--validate-every', '0'],
  (a, b) => distDigest(path.join(work, `${a}.json`)) === distDigest(path.join(work, `${b}.json`)),
);

// pretrain: the `test` config (checkpoints every 2 steps) on a 16-image dataset, one worker
const data = path.join(work, 'data');
if (run(['scenes', 'dataset', '--n', '16', '--res', '32', '--out', data]).status !== 0) throw new Error('scenes dataset failed');
await killAndResume(
  'pretrain',
  (name) => ['pretrain', '--data', data, '--out', path.join(work, `model-${name}`), '--config', 'test', '--steps', '8', '--workers', '1'],
  (a, b) => digest(path.join(work, `model-${a}`)) === digest(path.join(work, `model-${b}`)),
);

// generate: two assets of a few iterations each; an asset finished before a kill must stay as it was
await killAndResume(
  'generate',
  (name) => ['generate', '--prompt', 'a red chair', '--n', '2', '--iters', '6', '--res', '16', '--samples', '8', '--mesh-res', '16', '--preview-every', '0', '--workers', '1', '--out', path.join(work, `gen-${name}`)],
  (a, b) => digest(path.join(work, `gen-${a}`)) === digest(path.join(work, `gen-${b}`)),
);

// sample: replacing an earlier sample folder; after each kill the folder must be whole
{
  const out = path.join(work, 'samples');
  const args = (n) => ['sample', '--prompt', 'a red chair', '--n', String(n), '--steps', '4', '--out', out];
  const first = run(args(4));
  if (first.status !== 0) throw new Error(`sample failed:\n${first.stderr}`);
  /** Images in a whole sample folder (manifest and every image it lists), else 0. */
  const whole = (dir = out) => {
    try {
      const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
      return m.format === 'dd3d-samples' && m.images.every((f) => fs.statSync(path.join(dir, f)).size > 0) ? m.images.length : 0;
    } catch {
      return 0;
    }
  };
  for (let k = 0; k < kills; k++) {
    const n = 4 + ((k + 1) % 3);
    const at = 0.3 + random() * first.seconds;
    const killed = await runAndKill(args(n), at);
    // killed between the swap's two renames, the old folder is in its backup (the next run puts it back)
    const backups = fs.readdirSync(work).filter((f) => f.startsWith('.samples.dd3d-old-')).map((f) => whole(path.join(work, f)));
    const now = whole() || Math.max(0, ...backups);
    const again = run(args(n));
    const stranded = fs.readdirSync(work).filter((f) => f.startsWith('.samples.'));
    const ok = now > 0 && again.status === 0 && whole() === n && stranded.length === 0;
    report('sample', k, ok, `killed at ${at.toFixed(1)} s${killed ? '' : ' (had already finished)'}: folder whole with ${now} images after the kill; rerun ${again.status === 0 ? `wrote ${whole()}` : 'failed'}${stranded.length ? `, stranded ${stranded}` : ''}`);
  }
}

const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length} kill points, ${failed} failed`);
fs.rmSync(work, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
