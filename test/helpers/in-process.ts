/**
 * The CLI run inside the test process: the same command tree and error path as
 * `node dist/src/cli.js` (src/cli/program.ts, src/cli/run.ts), without a Node start-up and
 * tfjs import per case, so suites can run hundreds of commands. What only a real process
 * shows (crash handlers, exit status) is tested with runCli in test/e2e/safety.test.ts.
 *
 * Also: broken copies of the built-in model, each component symlinked unless a case changes it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { runProgram } from '../../src/cli/run.js';
import { readSafetensors, writeSafetensors, type Tensor } from '../../src/io/safetensors.js';

export const ROOT = path.resolve(__dirname, '..', '..');
export const TINY = path.join(ROOT, 'models', 'dd3d-tiny');
/** The single-Gaussian (version 1) chair distribution: the broken-input cases edit its keys. */
export const CHAIR = path.join(ROOT, 'examples', 'chair-single.json');
export const CHAIR_REFS = path.join(ROOT, 'examples', 'chair-refs');

export interface InProcessResult {
  status: number;
  stderr: string;
}

/**
 * Runs `dd3d <args>` in this process. stderr holds what the error path printed and everything
 * else written to process.stderr meanwhile (progress, warnings, console.error), as a user's
 * terminal would show it.
 */
export async function dd3d(args: string[]): Promise<InProcessResult> {
  process.env.DD3D_BACKEND = 'wasm';
  let stderr = '';
  const io = { err: (t: string) => void (stderr += t) };
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)) as typeof process.stderr.write;
  try {
    const status = await runProgram(buildProgram(io), ['node', 'dd3d', ...args], io);
    return { status, stderr };
  } finally {
    process.stderr.write = write;
  }
}

/** A progress bar's line (progress.ts), which an error after some work may follow. */
export const PROGRESS_LINE = /^[^\n]* \[[█░]+\] \d+\/\d+ \|/;

/** Exit 1 and exactly one line `dd3d: error: …` matching `pattern` besides progress bars, no stack trace. */
export function expectOneLine(r: InProcessResult, pattern: RegExp): void {
  const lines = r.stderr
    .trimEnd()
    .split('\n')
    .filter((l) => l.trim() !== '' && !PROGRESS_LINE.test(l));
  const ok = r.status === 1 && lines.length === 1 && lines[0]!.startsWith('dd3d: error: ') && pattern.test(lines[0]!) && !/\n\s+at /.test(r.stderr);
  expect(ok, `expected exit 1 and one error line matching ${pattern}, got exit ${r.status}:\n${r.stderr}`).toBe(true);
}

export interface ModelEdit {
  /** Component → config keys to set (undefined deletes the key). */
  config?: Record<string, Record<string, unknown>>;
  /** Component → tensors of its weights to rewrite. */
  weights?: Record<string, (tensors: Map<string, Tensor>) => void>;
  /** File (relative to the model) → new content. */
  files?: Record<string, string | Buffer>;
}

/** A copy of the built-in model under `dir` with `edit` applied; untouched components and files are symlinks. */
export function brokenModel(dir: string, edit: ModelEdit): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const name of fs.readdirSync(TINY)) {
    const src = path.join(TINY, name);
    const touched = Boolean(edit.config?.[name] || edit.weights?.[name] || Object.keys(edit.files ?? {}).some((f) => f === name || f.startsWith(`${name}/`)));
    if (!touched || !fs.statSync(src).isDirectory()) {
      // a touched top-level file is replaced below
      if (!touched) fs.symlinkSync(src, path.join(dir, name));
      continue;
    }
    fs.mkdirSync(path.join(dir, name));
    for (const f of fs.readdirSync(src)) fs.symlinkSync(path.join(src, f), path.join(dir, name, f));
    const config = edit.config?.[name];
    if (config) {
      const file = path.join(dir, name, 'config.json');
      const j = JSON.parse(fs.readFileSync(file, 'utf8'));
      for (const [k, v] of Object.entries(config)) {
        if (v === undefined) delete j[k];
        else j[k] = v;
      }
      fs.rmSync(file);
      fs.writeFileSync(file, JSON.stringify(j));
    }
    const weights = edit.weights?.[name];
    if (weights) {
      const file = fs.readdirSync(path.join(dir, name)).find((f) => f.endsWith('.safetensors'))!;
      const full = path.join(dir, name, file);
      const { tensors, metadata } = readSafetensors(full);
      weights(tensors);
      fs.rmSync(full);
      writeSafetensors(full, tensors, metadata);
    }
  }
  for (const [rel, content] of Object.entries(edit.files ?? {})) {
    const file = path.join(dir, rel);
    fs.rmSync(file, { force: true });
    fs.writeFileSync(file, content);
  }
  return dir;
}

/** The first 64 bytes of a file, in base64. */
function head(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(64);
    return b.subarray(0, fs.readSync(fd, b, 0, 64, 0)).toString('base64');
  } finally {
    fs.closeSync(fd);
  }
}

/** Every entry under `dir` with its size, mtime, inode and first bytes (or link target): equal before and after means untouched. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const s = fs.lstatSync(p);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = `${s.size}:${s.mtimeMs}:${s.ino}:${e.isFile() ? head(p) : e.isSymbolicLink() ? fs.readlinkSync(p) : 'special'}`;
    }
  };
  walk(dir);
  return out;
}
