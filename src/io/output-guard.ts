/**
 * The one guard every command puts in front of what it writes. The promises:
 *
 * - A user's file is never deleted or overwritten without `--force`: an existing file, or a
 *   folder holding anything dd3d did not write, stops the command before any work with one
 *   line. dd3d's own earlier outputs are recognised by their content (a manifest, a format
 *   key), never by their names, and may be replaced without the flag.
 * - Output problems that would otherwise surface after hours of work are found first: a
 *   missing or read-only parent folder, a file where a folder must go, an output that is the
 *   current folder (or holds it).
 * - Replacement is atomic. Files go through writeFileAtomic (temporary name, rename). A folder
 *   is built under a hidden temporary name beside the target, then swapped in with two
 *   renames (old → backup, new → target). A kill between them leaves the old output in the
 *   backup, and the next guarded command on that path renames it back; a kill before them
 *   leaves the old output in place. Temporaries are removed at exit, and a dead process's
 *   are removed by the next run.
 *
 * Conventions: paths in messages are as the user gave them; every error names the flag.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Dd3dError } from '../core/errors.js';
import { tryReadJsonFile } from './regular-file.js';

export interface OutputSpec {
  /** As the user gave it. */
  path: string;
  /** The flag that named it, for messages: "--out". */
  flag: string;
  kind: 'file' | 'folder';
  force: boolean;
  /** True for an earlier output of this command, which it may replace without --force. */
  isOurs?: (p: string) => boolean;
  /** What to call the output in messages (default: "file" / "folder"). */
  what?: string;
  /** Create a missing parent folder (commands whose --out says "created") instead of failing. */
  createParent?: boolean;
}

const NEW = 'dd3d-new';
const OLD = 'dd3d-old';
const hidden = (target: string, tag: string, pid: number) => path.join(path.dirname(target), `.${path.basename(target)}.${tag}-${pid}`);

/** Whether process `pid` still runs (EPERM: it does, as another user's), so its temporaries are not a dead run's. */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temporaries and backups of `target` that dead processes left: [name, tag, pid]. */
function leftovers(target: string): Array<{ file: string; tag: string; pid: number }> {
  const dir = path.dirname(target);
  const base = path.basename(target).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^\\.${base}\\.(${NEW}|${OLD})-(\\d+)$|^\\.${base}\\.(\\d+)\\.\\d+\\.tmp$`);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const m = re.exec(name);
    if (!m) return [];
    const pid = Number(m[2] ?? m[3]);
    return pidAlive(pid) ? [] : [{ file: path.join(dir, name), tag: m[1] ?? 'tmp', pid }];
  });
}

/** Puts back an output a killed swap left in its backup, and removes dead runs' temporaries. */
function recover(target: string): void {
  const found = leftovers(target);
  const backup = found.find((f) => f.tag === OLD);
  if (backup && !fs.existsSync(target)) fs.renameSync(backup.file, target);
  // a backup renamed back is gone; one beside a target is the old output of a finished swap
  for (const f of found) fs.rmSync(f.file, { recursive: true, force: true });
}

const describeKind = (s: fs.Stats) =>
  s.isDirectory()
    ? 'a folder'
    : s.isFIFO()
      ? 'a named pipe'
      : s.isSocket()
        ? 'a socket'
        : s.isCharacterDevice() || s.isBlockDevice()
          ? 'a device'
          : s.isSymbolicLink()
            ? 'a symbolic link'
            : 'a file';

/** Fails unless dd3d can create files in `dir` (tried, not inferred from mode bits: root, read-only mounts). */
export function checkWritableFolder(dir: string, flag: string): void {
  const probe = path.join(dir, `.dd3d-write-test-${process.pid}`);
  try {
    fs.closeSync(fs.openSync(probe, 'wx'));
    fs.rmSync(probe, { force: true });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Dd3dError(`${flag}: cannot write in ${dir} (${err.code ?? err.message})`);
  }
}

/**
 * Checks an output before any work (see the module comment). Returns the absolute path. For a
 * folder output, `stageFolder` and `commitFolder` then do the atomic replacement.
 */
export function checkOutput(spec: OutputSpec): string {
  const { flag, force } = spec;
  const what = spec.what ?? spec.kind;
  const abs = path.resolve(spec.path);
  const cwd = process.cwd();
  if (cwd === abs || cwd.startsWith(abs + path.sep)) {
    throw new Dd3dError(`${flag}: ${spec.path} is the current folder or holds it; run dd3d from outside it or choose another ${what}`);
  }
  const parent = path.dirname(abs);
  if (spec.createParent && !fs.existsSync(parent)) {
    try {
      fs.mkdirSync(parent, { recursive: true });
    } catch (e) {
      throw new Dd3dError(`${flag}: cannot create ${parent} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  const ps = fs.statSync(parent, { throwIfNoEntry: false });
  if (!ps) throw new Dd3dError(`${flag}: folder does not exist: ${parent}`);
  if (!ps.isDirectory()) throw new Dd3dError(`${flag}: ${parent} is not a folder`);
  checkWritableFolder(parent, flag);
  recover(abs);

  const s = fs.lstatSync(abs, { throwIfNoEntry: false });
  if (!s) return abs;
  if (spec.kind === 'file') {
    if (s.isDirectory()) throw new Dd3dError(`${flag}: ${spec.path} is a folder; give a ${what} name`);
    if (spec.isOurs?.(abs) || force) return abs;
    throw new Dd3dError(`${flag}: ${spec.path} already exists; pass --force to replace it`);
  }
  const target = fs.statSync(abs, { throwIfNoEntry: false });
  if (!target?.isDirectory()) throw new Dd3dError(`${flag}: ${spec.path} is ${describeKind(target ?? s)}, not a folder`);
  const entries = fs.readdirSync(abs);
  if (entries.length === 0 || spec.isOurs?.(abs) || force) return abs;
  throw new Dd3dError(
    `${flag}: ${spec.path} holds files dd3d did not write (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); pass --force to replace the folder`,
  );
}

const staged = new Set<string>();
process.on('exit', () => {
  for (const dir of staged) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh hidden folder beside `target` to build the new output in; removed at exit unless committed. */
export function stageFolder(target: string): string {
  const tmp = hidden(path.resolve(target), NEW, process.pid);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  staged.add(tmp);
  return tmp;
}

/** Swaps a complete staged folder in for `target` (see the module comment for what a kill leaves). */
export function commitFolder(tmp: string, target: string): void {
  const abs = path.resolve(target);
  const backup = hidden(abs, OLD, process.pid);
  const had = fs.existsSync(abs);
  if (had) fs.renameSync(abs, backup);
  fs.renameSync(tmp, abs);
  staged.delete(tmp);
  if (had) fs.rmSync(backup, { recursive: true, force: true });
}

/** A JSON file whose top-level `format` is one of `formats`: an earlier output of dd3d's. Never throws. */
export function isJsonWithFormat(file: string, formats: string[]): boolean {
  // an earlier output's manifest is small: a huge file is not one, and is not read whole
  const v = tryReadJsonFile(file, 256 * 1024 * 1024) as { format?: unknown } | null | undefined;
  return typeof v?.format === 'string' && formats.includes(v.format);
}

/** An `isOurs` test: a folder whose `file` is JSON with one of `formats` (a dataset.json, a probe's config.json, …). */
export function folderWithFormat(file: string, formats: string[]): (dir: string) => boolean {
  return (dir) => isJsonWithFormat(path.join(dir, file), formats);
}
