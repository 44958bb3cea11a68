import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
export const cliPath = path.join(root, 'dist', 'src', 'cli.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (npm test builds it first) as a user would. */
export function runCli(args: string[], env: Record<string, string> = {}): CliResult {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run "npm run build" (npm test does it)`);
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    cwd: root,
    env: { ...process.env, DD3D_BACKEND: 'wasm', ...env },
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A user error: exit 1 and exactly one line on stderr, no stack trace. */
export function expectOneLineError(r: CliResult, pattern: RegExp): void {
  const lines = r.stderr.trim().split('\n');
  if (r.status !== 1 || lines.length !== 1 || !pattern.test(lines[0]) || !lines[0].startsWith('dd3d: error: ')) {
    throw new Error(`expected exit 1 and one error line matching ${pattern}, got exit ${r.status}:\n${r.stderr}`);
  }
}
